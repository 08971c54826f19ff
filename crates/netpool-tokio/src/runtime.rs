//! [`Tokio`]: the [`Runtime`] of tokio's streams and tasks.

use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

use netpool_core::{Manager, Pool};
use netpool_net::{BuildError, Runtime, timeout};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

/// The [`Runtime`] of netpool-tokio: tokio's streams, maintenance as a tokio task.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type TcpStream = TcpStream;
    #[cfg(unix)]
    type UnixStream = UnixStream;

    async fn resolve(name: String) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(name).await?.collect())
    }

    async fn connect_tcp(addr: SocketAddr, limit: Option<Duration>) -> io::Result<TcpStream> {
        timeout(limit, TcpStream::connect(addr)).await
    }

    #[cfg(unix)]
    async fn connect_unix(path: PathBuf, limit: Option<Duration>) -> io::Result<UnixStream> {
        timeout(limit, UnixStream::connect(path)).await
    }

    fn start_maintenance<M: Manager>(pool: &Pool<M>) -> Result<(), BuildError> {
        crate::spawn_maintenance(pool).map(drop)
    }

    fn can_start_maintenance() -> Result<(), BuildError> {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => Ok(()),
            Err(_) => Err(BuildError::NoRuntime { runtime: "tokio" }),
        }
    }
}
