//! [`TcpManager`] over `tokio::net::TcpStream`, the [`Pool`] alias and [`tcp`].

use std::future::{Future, ready};

use netpool_core::Manager;
use netpool_std::net::{NetError, TcpBuilder, TcpOptions, TcpTarget, check_alive, timeout};
use socket2::SockRef;
use tokio::net::TcpStream;

use crate::maintain::Tokio;

/// A pool of tokio TCP connections: `netpool_core::Pool<TcpManager>`.
pub type Pool = netpool_core::Pool<TcpManager>;

/// Starts building a [`Pool`] of connections to `addr` (`"host:port"`), maintained by a
/// tokio task.
///
/// `build()` checks the settings and the address's form, opens nothing, and spawns
/// [`spawn_maintenance`](crate::spawn_maintenance) on the current runtime; call it inside
/// a tokio runtime.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = netpool_testkit::EchoServer::start()?;
/// # let addr = server.addr().to_string();
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let pool = netpool_tokio::tcp(addr).max_size(16).build()?;
/// let mut conn = pool.get().await?;
/// conn.write_all(b"ping").await?;
/// let mut reply = [0; 4];
/// conn.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"ping");
///
/// assert!(netpool_tokio::tcp("localhost").build().is_err()); // no port
/// # Ok(())
/// # }
/// ```
pub fn tcp(addr: impl Into<String>) -> TcpBuilder<Tokio> {
    TcpBuilder::new(addr)
}

/// A [`Manager`] of [`tokio::net::TcpStream`]s.
///
/// The address is resolved on every connect (`tokio::net::lookup_host`, so a name that
/// moves is followed) and each resolved address is tried in turn, each attempt bounded by
/// [`TcpOptions::connect_timeout`], the whole connect by the pool's `connect_timeout`.
/// New streams get `TCP_NODELAY` and keepalive.
///
/// `is_valid` peeks without blocking: end of stream, a reset or pending bytes fail it.
/// `has_broken` is always `false` (no syscall on return): after an I/O error, return the
/// connection with [`Pooled::discard`](netpool_core::Pooled::discard).
///
/// Its futures need a tokio runtime with I/O enabled.
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
            |name| async move { tokio::net::lookup_host(name).await },
            |addr, limit| timeout(limit, TcpStream::connect(addr)),
        )
    }

    fn is_valid(&self, conn: &mut TcpStream) -> impl Future<Output = Result<(), NetError>> + Send {
        ready(check_alive(SockRef::from(&*conn)))
    }

    fn has_broken(&self, _conn: &mut TcpStream) -> bool {
        false
    }
}
