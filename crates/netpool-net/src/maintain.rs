//! The maintenance loops every adapter spawns on its runtime: [`maintenance_loop`] for a
//! [`Pool`](netpool_core::Pool), [`keyed_maintenance_loop`] for a
//! [`KeyedPool`](netpool_core::KeyedPool).

use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use netpool_core::{Manager, WeakKeyedPool, WeakPool};

/// One maintenance pass of the pool behind a weak handle, or `None` once the pool is
/// dropped or closed: a closure for [`every_interval`] (a macro, as `Pool` and `KeyedPool`
/// share the methods but no trait).
macro_rules! pass {
    ($weak:ident) => {
        || {
            let strong = $weak.upgrade().filter(|p| !p.is_closed())?;
            Some(async move {
                strong.maintain().await;
                strong.maintenance_interval()
            })
        }
    };
}

/// The maintenance every adapter runs: [`Pool::maintain`](netpool_core::Pool::maintain) every
/// [`Pool::maintenance_interval`](netpool_core::Pool::maintenance_interval), with `sleep` between passes, until the pool is dropped
/// or closed.
///
/// It holds the pool only during a pass; between passes it keeps a [`WeakPool`], so
/// dropping the last `Pool` clone ends it at its next wake-up.
///
/// # Examples
///
/// ```
/// # use std::convert::Infallible;
/// # struct Counter;
/// # impl netpool_core::Manager for Counter {
/// #     type Connection = u64;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<u64, Infallible> { Ok(0) }
/// #     async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut u64) -> bool { false }
/// # }
/// use std::time::Duration;
///
/// let pool = netpool_core::Pool::builder()
///     .min_idle(Some(2))
///     .maintenance_interval(Some(Duration::from_millis(10)))
///     .build(Counter)?;
/// let task = netpool_net::maintenance_loop(pool.downgrade(), async_io::Timer::after);
/// let task = std::thread::spawn(move || futures_lite::future::block_on(task));
/// # let start = std::time::Instant::now();
/// # while pool.stats().idle < 2 && start.elapsed() < Duration::from_secs(10) {
/// #     std::thread::sleep(Duration::from_millis(1));
/// # }
/// assert_eq!(pool.stats().idle, 2); // min_idle filled by maintenance
/// drop(pool);
/// task.join().unwrap(); // and it ends with the pool
/// # Ok::<(), netpool_core::BuildError>(())
/// ```
///
/// # Cancel safety
///
/// Cancel safe: dropping it stops maintenance after closing whatever a pass held.
pub async fn maintenance_loop<M, S, F>(pool: WeakPool<M>, sleep: S)
where
    M: Manager,
    S: FnMut(Duration) -> F,
    F: Future,
{
    every_interval(pass!(pool), sleep).await;
}

/// Runs [`KeyedPool::maintain`](netpool_core::KeyedPool::maintain) every
/// [`KeyedPool::maintenance_interval`](netpool_core::KeyedPool::maintenance_interval),
/// sleeping with `sleep`, until the pool is dropped or closed: the keyed twin of
/// [`maintenance_loop`], to spawn on any executor.
///
/// # Cancel safety
///
/// Cancel safe, as [`maintenance_loop`].
pub async fn keyed_maintenance_loop<K, M, S, F>(pool: WeakKeyedPool<K, M>, sleep: S)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
    S: FnMut(Duration) -> F,
    F: Future,
{
    every_interval(pass!(pool), sleep).await;
}

/// Runs the passes `pass` makes, sleeping with `sleep` for the interval each returns, until
/// `pass` makes none (the pool is gone or closed). A pass holds the pool; between passes
/// nothing does.
pub(crate) async fn every_interval<P, PF, S, F>(mut pass: P, mut sleep: S)
where
    P: FnMut() -> Option<PF>,
    PF: Future<Output = Duration>,
    S: FnMut(Duration) -> F,
    F: Future,
{
    while let Some(pass) = pass() {
        let interval = pass.await;
        sleep(interval).await;
    }
}
