//! The smol managers, the [`Pool`] alias and [`tcp`].

use netpool_net::{IntoAddress, TcpBuilder};

use crate::Smol;

/// A [`Manager`](netpool_core::Manager) of smol's [`TcpStream`](smol::net::TcpStream)s
/// (async-io based, so they work under any executor): see
/// [`netpool_net::TcpManager`] for its behaviour.
///
/// Names resolve through `smol::net::resolve`; the whole connect is bounded by the pool's
/// `connect_timeout`, each attempt by
/// [`TcpOptions::connect_timeout`](crate::TcpOptions::connect_timeout).
pub type TcpManager = netpool_net::TcpManager<Smol>;

/// A [`Manager`](netpool_core::Manager) of smol's Unix-domain
/// [`UnixStream`](smol::net::unix::UnixStream)s: see [`netpool_net::UnixManager`].
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("netpool-smol-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let path = dir.join("echo.sock");
/// # let _ = std::fs::remove_file(&path);
/// # let _listener = std::os::unix::net::UnixListener::bind(&path)?;
/// use netpool_smol::UnixManager;
///
/// let pool = netpool_core::Pool::builder().max_size(2).build(UnixManager::new(&path))?;
/// netpool_smol::spawn_maintenance(&pool).detach();
/// let _conn = smol::block_on(pool.get())?;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(unix)]
pub type UnixManager = netpool_net::UnixManager<Smol>;

/// A pool of smol TCP connections: `netpool_core::Pool<TcpManager>`.
pub type Pool = netpool_core::Pool<TcpManager>;

/// Starts building a [`Pool`] of connections to `addr`: `"host:port"` (a name is
/// resolved on every connect), a [`SocketAddr`](std::net::SocketAddr) or a `(host, port)`
/// pair (see [`IntoAddress`]), maintained by a task on smol's global executor.
///
/// `build()` checks the settings and the address's form, opens nothing, and spawns
/// [`spawn_maintenance`](crate::spawn_maintenance). It works from any thread, inside an
/// executor or not.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::EchoServer::start()?;
/// # let addr = server.addr().to_string();
/// use smol::io::{AsyncReadExt, AsyncWriteExt};
///
/// smol::block_on(async {
///     let pool = netpool_smol::tcp(addr).max_size(16).build()?;
///     let mut conn = pool.get().await?;
///     conn.write_all(b"ping").await?;
///     let mut reply = [0; 4];
///     conn.read_exact(&mut reply).await?;
///     assert_eq!(&reply, b"ping");
///
///     assert!(netpool_smol::tcp("localhost").build().is_err()); // no port
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tcp(addr: impl IntoAddress) -> TcpBuilder<Smol> {
    TcpBuilder::new(addr)
}

/// Starts building a pool of any [`Manager`](netpool_core::Manager) (your own, say) whose
/// `build(manager)` also starts maintenance, like [`tcp`]'s: `min_idle` is filled and
/// idle and old connections are reaped in the background without another call.
///
/// The core's `Pool::builder()` starts nothing; with it, call
/// [`spawn_maintenance`](crate::spawn_maintenance) yourself.
pub fn builder() -> netpool_net::PoolBuilder<Smol> {
    netpool_net::PoolBuilder::new()
}
