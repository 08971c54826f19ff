//! [`Smol`], the [`Runtime`] of smol's (async-io) streams, and the maintenance it starts
//! as a smol task: [`spawn_maintenance`], and [`spawn_keyed_maintenance`] for a
//! [`KeyedPool`].

use std::hash::Hash;
use std::io;
use std::net::SocketAddr;

use crate::Smol;
use netpool_core::{KeyedPool, Manager, Pool};
use netpool_net::{BuildError, Runtime, keyed_maintenance_loop, maintenance_loop};

impl Runtime for Smol {
    type TcpStream = smol::net::TcpStream;
    #[cfg(unix)]
    type UnixStream = smol::net::unix::UnixStream;

    async fn resolve(name: String) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve(name).await
    }

    netpool_net::async_connect!();

    fn start_maintenance<M: Manager>(pool: &Pool<M>) -> Result<(), BuildError> {
        crate::spawn_maintenance(pool).detach();
        Ok(())
    }

    /// A detached task on smol's global executor.
    fn spawn(
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), BuildError> {
        smol::spawn(task).detach();
        Ok(())
    }
}

/// Spawns a task on smol's global executor that runs [`Pool::maintain`] every
/// [`Pool::maintenance_interval`]: idle and lifetime reaping, background checks,
/// `min_idle` refill.
///
/// The task holds a weak handle between passes and ends after the pool is dropped or
/// closed (within one interval). Dropping the returned [`Task`](smol::Task) cancels it:
/// `detach()` it to let it run. [`tcp`](crate::tcp) spawns and detaches it for you. To run
/// maintenance on an executor of your own, spawn
/// [`netpool_net::maintenance_loop`]`(pool.downgrade(), smol::Timer::after)` there.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::EchoServer::start()?;
/// use std::time::Duration;
/// use netpool_smol::TcpManager;
///
/// let pool = netpool_core::Pool::builder()
///     .min_idle(Some(2))
///     .build(TcpManager::new(server.addr().to_string()))?;
/// let task = netpool_smol::spawn_maintenance(&pool);
/// assert!(server.wait_until(Duration::from_secs(10), |c| c.live == 2)); // min_idle filled
/// drop(pool);
/// smol::block_on(task); // the task ends with the pool
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn_maintenance<M: Manager>(pool: &Pool<M>) -> smol::Task<()> {
    smol::spawn(maintenance_loop(pool.downgrade(), smol::Timer::after))
}

/// Spawns a task on smol's global executor that runs [`KeyedPool::maintain`] every
/// [`KeyedPool::maintenance_interval`]: each key's reaping, checks and `min_idle`, and the
/// forgetting of unused keys.
///
/// The task holds a weak handle between passes and ends after the pool is dropped or
/// closed (within one interval). Dropping the returned [`Task`](smol::Task) cancels it:
/// `detach()` it to let it run.
///
/// # Examples
///
/// ```
/// # let server = netpool_testkit::EchoServer::start()?;
/// use std::time::Duration;
/// use netpool_smol::TcpManager;
///
/// let pool = netpool_core::KeyedPool::builder()
///     .min_idle(Some(1))
///     .build(|addr: &String| TcpManager::new(addr.clone()))?;
/// smol::block_on(async { pool.get(&server.addr().to_string()).await.map(drop) })?;
/// let task = netpool_smol::spawn_keyed_maintenance(&pool);
/// assert!(server.wait_until(Duration::from_secs(10), |c| c.live == 1)); // min_idle kept
/// drop(pool);
/// smol::block_on(task); // the task ends with the pool
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn spawn_keyed_maintenance<K, M>(pool: &KeyedPool<K, M>) -> smol::Task<()>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
{
    smol::spawn(keyed_maintenance_loop(pool.downgrade(), smol::Timer::after))
}

#[cfg(feature = "tls")]
netpool_net::async_tls_runtime!(Smol, smol::net::TcpStream, futures_rustls);
