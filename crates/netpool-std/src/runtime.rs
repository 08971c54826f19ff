//! [`Threads`], the [`Runtime`] of blocking sockets, and the maintenance it starts on a
//! named thread: [`spawn_maintenance`], and [`spawn_keyed_maintenance`] for a
//! [`KeyedPool`].

use std::future::{Future, Ready, ready};
use std::hash::Hash;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Threads;
use netpool_core::{KeyedPool, Manager, Pool};
use netpool_net::{BuildError, Runtime, keyed_maintenance_loop, maintenance_loop};

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

/// Starts a thread named `netpool-maintenance` that runs
/// [`Pool::maintain`] every [`Pool::maintenance_interval`]: idle and lifetime reaping,
/// background checks, `min_idle` refill.
///
/// The thread holds a weak handle between passes and ends after the pool is dropped or
/// closed (within one interval). [`tcp`](crate::tcp) calls it for you; call it for pools
/// of your own managers.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::EchoServer::start()?;
/// use std::time::Duration;
/// use netpool_std::TcpManager;
///
/// let pool = netpool_core::Pool::builder()
///     .min_idle(Some(2))
///     .build(TcpManager::new(server.addr().to_string()))?;
/// let thread = netpool_std::spawn_maintenance(&pool)?;
/// assert!(server.wait_until(Duration::from_secs(10), |c| c.live == 2)); // min_idle filled
/// drop(pool);
/// thread.join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`BuildError::Spawn`] when the thread cannot be started.
pub fn spawn_maintenance<M: Manager>(pool: &Pool<M>) -> Result<JoinHandle<()>, BuildError> {
    let weak = pool.downgrade();
    spawn_thread("netpool-maintenance", move || maintenance_loop(weak, sleep))
}

/// Starts a thread named `netpool-keyed-maintenance` that runs [`KeyedPool::maintain`]
/// every [`KeyedPool::maintenance_interval`]: each key's reaping, checks and `min_idle`,
/// and the forgetting of unused keys.
///
/// The thread holds a weak handle between passes and ends after the pool is dropped or
/// closed (within one interval).
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::EchoServer::start()?;
/// use std::time::Duration;
/// use netpool_std::TcpManager;
///
/// let pool = netpool_core::KeyedPool::builder()
///     .min_idle(Some(1))
///     .build(|addr: &String| TcpManager::new(addr.clone()))?;
/// drop(pool.get_blocking(&server.addr().to_string())?); // the key exists now
/// let thread = netpool_std::spawn_keyed_maintenance(&pool)?;
/// assert!(server.wait_until(Duration::from_secs(10), |c| c.live == 1)); // min_idle kept
/// drop(pool);
/// thread.join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`BuildError::Spawn`] when the thread cannot be started.
pub fn spawn_keyed_maintenance<K, M>(pool: &KeyedPool<K, M>) -> Result<JoinHandle<()>, BuildError>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
{
    let weak = pool.downgrade();
    spawn_thread("netpool-keyed-maintenance", move || {
        keyed_maintenance_loop(weak, sleep)
    })
}

/// Runs the loop `make` returns on a new thread named `name`, to its end.
fn spawn_thread<F: Future<Output = ()>>(
    name: &str,
    make: impl FnOnce() -> F + Send + 'static,
) -> Result<JoinHandle<()>, BuildError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || futures_lite::future::block_on(make()))
        .map_err(BuildError::Spawn)
}

/// The maintenance thread's sleep between passes.
fn sleep(interval: Duration) -> Ready<()> {
    std::thread::sleep(interval);
    ready(())
}
