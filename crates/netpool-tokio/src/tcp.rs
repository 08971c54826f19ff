//! The tokio managers, the [`Pool`] alias and [`tcp`].

use netpool_net::{IntoAddress, TcpBuilder};

use crate::Tokio;

/// A [`Manager`](netpool_core::Manager) of [`tokio::net::TcpStream`]s: see
/// [`netpool_net::TcpManager`] for its behaviour.
///
/// Names resolve through `tokio::net::lookup_host`; the whole connect is bounded by the
/// pool's `connect_timeout`, each attempt by
/// [`TcpOptions::connect_timeout`](crate::TcpOptions::connect_timeout). Its futures need a
/// tokio runtime with I/O enabled.
pub type TcpManager = netpool_net::TcpManager<Tokio>;

/// A [`Manager`](netpool_core::Manager) of Unix-domain [`tokio::net::UnixStream`]s: see
/// [`netpool_net::UnixManager`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("netpool-tokio-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("echo.sock");
/// # let _ = std::fs::remove_file(&path);
/// # let _listener = tokio::net::UnixListener::bind(&path)?;
/// use netpool_tokio::UnixManager;
///
/// let pool = netpool_core::Pool::builder().max_size(2).build(UnixManager::new(&path))?;
/// netpool_tokio::spawn_maintenance(&pool)?;
/// let _conn = pool.get().await?;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(())
/// # }
/// ```
#[cfg(unix)]
pub type UnixManager = netpool_net::UnixManager<Tokio>;

/// A pool of tokio TCP connections: `netpool_core::Pool<TcpManager>`.
pub type Pool = netpool_core::Pool<TcpManager>;

/// Starts building a [`Pool`] of connections to `addr`: `"host:port"` (a name is
/// resolved on every connect), a [`SocketAddr`](std::net::SocketAddr) or a `(host, port)`
/// pair (see [`IntoAddress`]), maintained by a tokio task.
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
pub fn tcp(addr: impl IntoAddress) -> TcpBuilder<Tokio> {
    TcpBuilder::new(addr)
}

/// Starts building a pool of any [`Manager`](netpool_core::Manager) (your own, say) whose
/// `build(manager)` also starts maintenance, like [`tcp`]'s: `min_idle` is filled and
/// idle and old connections are reaped in the background without another call.
///
/// The core's `Pool::builder()` starts nothing; with it, call
/// [`spawn_maintenance`](crate::spawn_maintenance) yourself.
pub fn builder() -> netpool_net::PoolBuilder<Tokio> {
    netpool_net::PoolBuilder::new()
}
