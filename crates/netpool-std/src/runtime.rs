//! [`Threads`]: the [`Runtime`] of blocking sockets and plain threads.

use std::future::{Future, ready};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

use netpool_core::{Manager, Pool};

use netpool_net::{BuildError, Runtime};

/// The [`Runtime`] of netpool-std: blocking sockets, maintenance on a thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Threads;

impl Runtime for Threads {
    type TcpStream = TcpStream;
    #[cfg(unix)]
    type UnixStream = UnixStream;

    const BLOCKING: bool = true;

    fn resolve(name: String) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        ready(name.to_socket_addrs().map(Iterator::collect))
    }

    fn connect_tcp(
        addr: SocketAddr,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<TcpStream>> + Send {
        ready(match limit {
            Some(limit) => TcpStream::connect_timeout(&addr, limit),
            None => TcpStream::connect(addr),
        })
    }

    #[cfg(unix)]
    fn connect_unix(
        path: PathBuf,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<UnixStream>> + Send {
        ready(connect_unix(&path, limit))
    }

    fn start_maintenance<M: Manager>(pool: &Pool<M>) -> Result<(), BuildError> {
        crate::spawn_maintenance(pool).map(drop)
    }
}

/// A blocking Unix connect with a timeout, which `UnixStream` lacks.
#[cfg(unix)]
fn connect_unix(path: &std::path::Path, limit: Option<Duration>) -> io::Result<UnixStream> {
    use socket2::{Domain, SockAddr, Socket, Type};

    let Some(limit) = limit else {
        return UnixStream::connect(path);
    };
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.connect_timeout(&SockAddr::unix(path)?, limit)?;
    Ok(UnixStream::from(socket))
}
