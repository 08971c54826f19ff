//! [`Smol`]: the [`Runtime`] of smol's (async-io) streams and tasks.

use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

use netpool_core::{Manager, Pool};
use netpool_net::{BuildError, Runtime, timeout};
use smol::net::TcpStream;
#[cfg(unix)]
use smol::net::unix::UnixStream;

/// The [`Runtime`] of netpool-smol: smol's streams, maintenance as a smol task.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

impl Runtime for Smol {
    type TcpStream = TcpStream;
    #[cfg(unix)]
    type UnixStream = UnixStream;

    async fn resolve(name: String) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve(name).await
    }

    async fn connect_tcp(addr: SocketAddr, limit: Option<Duration>) -> io::Result<TcpStream> {
        timeout(limit, TcpStream::connect(addr)).await
    }

    #[cfg(unix)]
    async fn connect_unix(path: PathBuf, limit: Option<Duration>) -> io::Result<UnixStream> {
        timeout(limit, UnixStream::connect(path)).await
    }

    fn start_maintenance<M: Manager>(pool: &Pool<M>) -> Result<(), BuildError> {
        crate::spawn_maintenance(pool).detach();
        Ok(())
    }
}
