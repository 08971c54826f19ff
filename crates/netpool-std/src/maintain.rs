//! Maintenance on a named thread: [`spawn_maintenance`].

use std::future::ready;
use std::thread::JoinHandle;

use netpool_core::{Manager, Pool};

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
