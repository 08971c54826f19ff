//! [`TcpManager`] over blocking `std::net::TcpStream`s, the [`Pool`] alias and [`tcp`].

use std::future::{Future, ready};
use std::net::{TcpStream, ToSocketAddrs};

use netpool_core::Manager;
use socket2::SockRef;

use crate::maintain::Threads;
use crate::net::{NetError, TcpBuilder, TcpOptions, TcpTarget, check_alive};

/// A pool of blocking TCP connections: `netpool_core::Pool<TcpManager>`.
pub type Pool = netpool_core::Pool<TcpManager>;

/// Starts building a [`Pool`] of connections to `addr` (`"host:port"`), with a
/// maintenance thread.
///
/// `build()` checks the settings and the address's form, opens nothing, and starts a
/// thread named `netpool-maintenance` that runs [`Pool::maintain`](netpool_core::Pool::maintain)
/// until the pool is dropped or closed.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::EchoServer::start()?;
/// # let addr = server.addr().to_string();
/// use std::io::{Read, Write};
///
/// let pool = netpool_std::tcp(addr).max_size(4).build()?;
/// let mut conn = pool.get_blocking()?;
/// conn.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// conn.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
///
/// assert!(netpool_std::tcp("localhost").build().is_err()); // no port
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tcp(addr: impl Into<String>) -> TcpBuilder<Threads> {
    TcpBuilder::new(addr)
}

/// A [`Manager`] of blocking [`std::net::TcpStream`]s.
///
/// Its futures do their work on the first poll (they block), so use it through
/// [`Pool::get_blocking`](netpool_core::Pool::get_blocking) from threads. The address is
/// resolved on every connect and each resolved address is tried in turn, each attempt
/// bounded by [`TcpOptions::connect_timeout`] (the pool's `connect_timeout` cannot
/// interrupt a blocking connect; `tcp(..).connect_timeout(..)` sets both). New streams
/// get `TCP_NODELAY` and keepalive.
///
/// `is_valid` peeks without blocking: end of stream, a reset or pending bytes fail it.
/// `has_broken` is always `false` (no syscall on return): after an I/O error, return the
/// connection with [`Pooled::discard`](netpool_core::Pooled::discard).
#[derive(Debug, Clone)]
pub struct TcpManager {
    target: TcpTarget,
}

impl TcpManager {
    /// A manager for `addr` (`"host:port"`), with the default [`TcpOptions`]. A malformed
    /// address fails every connect with [`NetError::Address`].
    pub fn new(addr: impl Into<String>) -> Self {
        Self {
            target: TcpTarget::new(addr),
        }
    }

    /// Replaces the socket options.
    pub fn with_options(mut self, options: TcpOptions) -> Self {
        self.target = self.target.with_options(options);
        self
    }

    /// The address string and the options.
    pub fn target(&self) -> &TcpTarget {
        &self.target
    }

    pub(crate) fn from_target(target: TcpTarget) -> Self {
        Self { target }
    }
}

impl Manager for TcpManager {
    type Connection = TcpStream;
    type Error = NetError;

    fn connect(&self) -> impl Future<Output = Result<TcpStream, NetError>> + Send {
        self.target.connect(
            |name| ready(name.to_socket_addrs()),
            |addr, timeout| {
                ready(match timeout {
                    Some(t) => TcpStream::connect_timeout(&addr, t),
                    None => TcpStream::connect(addr),
                })
            },
        )
    }

    fn is_valid(&self, conn: &mut TcpStream) -> impl Future<Output = Result<(), NetError>> + Send {
        ready(peek_blocking(SockRef::from(&*conn)))
    }

    fn has_broken(&self, _conn: &mut TcpStream) -> bool {
        false
    }
}

/// [`check_alive`] on a blocking socket: non-blocking for the one peek.
pub(crate) fn peek_blocking(socket: SockRef<'_>) -> Result<(), NetError> {
    socket.set_nonblocking(true).map_err(NetError::Io)?;
    let alive = check_alive(SockRef::from(&*socket));
    socket.set_nonblocking(false).map_err(NetError::Io)?;
    alive
}
