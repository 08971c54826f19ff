//! The blocking managers, the [`Pool`] alias and [`tcp`].

use crate::Threads;
use netpool_net::{IntoAddress, TcpBuilder};

/// A [`Manager`](netpool_core::Manager) of blocking [`std::net::TcpStream`]s: see
/// [`net::TcpManager`](netpool_net::TcpManager) for its behaviour.
///
/// Its futures do their work in their first poll (they block), so use it through
/// [`Pool::get_blocking`](netpool_core::Pool::get_blocking), from threads. The pool's
/// `connect_timeout` cannot interrupt a blocking connect: each attempt is bounded by
/// [`TcpOptions::connect_timeout`](crate::TcpOptions::connect_timeout), which
/// `tcp(..).connect_timeout(..)` sets too. The liveness peek switches the stream to
/// non-blocking for one `recv` and back.
pub type TcpManager = netpool_net::TcpManager<Threads>;

/// A [`Manager`](netpool_core::Manager) of blocking Unix-domain
/// [`UnixStream`](std::os::unix::net::UnixStream)s: see
/// [`net::UnixManager`](netpool_net::UnixManager).
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("netpool-std-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("echo.sock");
/// # let _ = std::fs::remove_file(&path);
/// # let _listener = std::os::unix::net::UnixListener::bind(&path)?;
/// use netpool_std::UnixManager;
///
/// let pool = netpool_core::Pool::builder().max_size(2).build(UnixManager::new(&path))?;
/// let _conn = pool.get_blocking()?;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(unix)]
pub type UnixManager = netpool_net::UnixManager<Threads>;

/// A pool of blocking TCP connections: `netpool_core::Pool<TcpManager>`.
pub type Pool = netpool_core::Pool<TcpManager>;

/// Starts building a [`Pool`] of connections to `addr`: `"host:port"` (a name is
/// resolved on every connect), a [`SocketAddr`](std::net::SocketAddr) or a `(host, port)`
/// pair (see [`IntoAddress`]), with a maintenance thread.
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
pub fn tcp(addr: impl IntoAddress) -> TcpBuilder<Threads> {
    TcpBuilder::new(addr)
}

/// Starts building a pool of any [`Manager`](netpool_core::Manager) (your own, say) whose
/// `build(manager)` also starts maintenance, like [`tcp`]'s: `min_idle` is filled and
/// idle and old connections are reaped in the background without another call.
///
/// The core's `Pool::builder()` starts nothing; with it, call
/// [`spawn_maintenance`](crate::spawn_maintenance) yourself.
pub fn builder() -> netpool_net::PoolBuilder<Threads> {
    netpool_net::PoolBuilder::new()
}
