//! Maintenance as a smol task: [`spawn_maintenance`].

use netpool_core::{Manager, Pool};
use netpool_std::net::maintenance_loop;

/// Spawns a task on smol's global executor that runs [`Pool::maintain`] every
/// [`Pool::maintenance_interval`]: idle and lifetime reaping, background checks,
/// `min_idle` refill.
///
/// The task holds a weak handle between passes and ends after the pool is dropped or
/// closed (within one interval). Dropping the returned [`Task`](smol::Task) cancels it:
/// `detach()` it to let it run. [`tcp`](crate::tcp) spawns and detaches it for you. To run
/// maintenance on an executor of your own, spawn
/// [`netpool_std::net::maintenance_loop`]`(pool.downgrade(), smol::Timer::after)` there.
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
