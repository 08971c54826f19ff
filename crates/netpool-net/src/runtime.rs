//! [`Runtime`]: what an adapter crate supplies, and nothing more.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

use crate::{AsSockRef, BuildError};
use netpool_core::{Manager, Pool};

/// What an adapter crate plugs into the generic [`TcpManager`](crate::TcpManager),
/// [`UnixManager`](crate::UnixManager) and [`TcpBuilder`](crate::TcpBuilder):
/// its streams, how it resolves, connects and spawns maintenance.
///
/// Implemented by `netpool_std::Threads`, `netpool_tokio::Tokio` and `netpool_smol::Smol`;
/// users only name these in type aliases.
pub trait Runtime: 'static {
    /// The runtime's TCP stream: the pool's connection type.
    type TcpStream: AsSockRef + Send + 'static;
    /// The runtime's Unix-domain stream.
    #[cfg(unix)]
    type UnixStream: AsSockRef + Send + 'static;

    /// Whether the streams are in blocking mode (the liveness peek then switches them to
    /// non-blocking for its one `recv`).
    const BLOCKING: bool = false;

    /// Resolves `"host:port"` (the host is a name, not an IP literal).
    fn resolve(name: String) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// Connects to one address, giving up after `limit`.
    fn connect_tcp(
        addr: SocketAddr,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<Self::TcpStream>> + Send;

    /// Connects to the Unix socket at `path`, giving up after `limit`.
    #[cfg(unix)]
    fn connect_unix(
        path: PathBuf,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<Self::UnixStream>> + Send;

    /// Starts [`maintenance_loop`](crate::maintenance_loop) for `pool` on the runtime.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoRuntime`] or [`BuildError::Spawn`] when it cannot start.
    fn start_maintenance<M: Manager>(pool: &Pool<M>) -> Result<(), BuildError>;

    /// Starts `task` in the background on the runtime: the builders' re-resolution
    /// ([`TcpBuilder::resolve_interval`](crate::TcpBuilder::resolve_interval)). By
    /// default, on a thread of its own (named `netpool-resolve`) with
    /// `futures_lite::future::block_on`; the async adapters spawn a task.
    ///
    /// # Errors
    ///
    /// [`BuildError::Spawn`] when it cannot start.
    fn spawn(task: impl Future<Output = ()> + Send + 'static) -> Result<(), BuildError> {
        std::thread::Builder::new()
            .name("netpool-resolve".into())
            .spawn(move || futures_lite::future::block_on(task))
            .map(drop)
            .map_err(BuildError::Spawn)
    }

    /// Whether [`start_maintenance`](Runtime::start_maintenance) can work here (inside a
    /// tokio runtime, say), checked by the builders before they create the pool, so a
    /// build that cannot start maintenance creates (and closes) no pool.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoRuntime`] when maintenance could not start. By default, `Ok`.
    fn can_start_maintenance() -> Result<(), BuildError> {
        Ok(())
    }
}
