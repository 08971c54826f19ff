//! Maintenance on a named thread: [`spawn_maintenance`], and [`spawn_keyed_maintenance`]
//! for a [`KeyedPool`].

use std::future::{Future, ready};
use std::hash::Hash;
use std::thread::JoinHandle;
use std::time::Duration;

use netpool_core::{KeyedPool, Manager, Pool, WeakKeyedPool};

use crate::net::{BuildError, maintenance_loop};

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
    std::thread::Builder::new()
        .name("netpool-maintenance".into())
        .spawn(move || {
            let sleep = |interval| {
                std::thread::sleep(interval);
                ready(())
            };
            futures_lite::future::block_on(maintenance_loop(weak, sleep));
        })
        .map_err(BuildError::Spawn)
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
    std::thread::Builder::new()
        .name("netpool-keyed-maintenance".into())
        .spawn(move || {
            let sleep = |interval| {
                std::thread::sleep(interval);
                ready(())
            };
            futures_lite::future::block_on(keyed_maintenance_loop(weak, sleep));
        })
        .map_err(BuildError::Spawn)
}

/// Runs [`KeyedPool::maintain`] every [`KeyedPool::maintenance_interval`], sleeping with
/// `sleep`, until the pool is dropped or closed: the keyed twin of
/// [`maintenance_loop`](crate::net::maintenance_loop), to spawn on any executor.
pub async fn keyed_maintenance_loop<K, M, S, F>(pool: WeakKeyedPool<K, M>, mut sleep: S)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
    S: FnMut(Duration) -> F,
    F: Future,
{
    loop {
        let Some(strong) = pool.upgrade() else { return };
        if strong.is_closed() {
            return;
        }
        strong.maintain().await;
        let interval = strong.maintenance_interval();
        drop(strong);
        sleep(interval).await;
    }
}
