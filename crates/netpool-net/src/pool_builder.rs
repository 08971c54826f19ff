//! [`PoolBuilder`]: the core builder's knobs, for any manager, with a `build` that also
//! starts maintenance on the adapter's runtime.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use netpool_core::{Builder, Manager, Pool, QueueStrategy};

use crate::builder::pool_knobs;
use crate::{BuildError, Runtime};

/// Builds a pool of any [`Manager`] on runtime `R` and starts its maintenance: what
/// `netpool_core::Pool::builder()` does, plus the task (or thread) that keeps `min_idle`
/// connections warm and reaps idle and old ones.
///
/// Made by each adapter's `builder()`: `netpool_tokio::builder().max_size(16).build(manager)?`.
/// A pool built with the core's `Pool::builder()` has no maintenance until you start it
/// (each adapter's `spawn_maintenance`); this builder is the way not to forget it.
///
/// For [`Hooks`](netpool_core::Hooks), build with the core's
/// `Pool::builder().hooks(..).build(manager)` and start the adapter's
/// `spawn_maintenance(&pool)` yourself.
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
/// let pool = netpool_std::builder()
///     .min_idle(Some(2))
///     .maintenance_interval(Some(Duration::from_millis(10)))
///     .build(Counter)?; // starts the maintenance thread
/// # let start = std::time::Instant::now();
/// # while pool.stats().idle < 2 && start.elapsed() < Duration::from_secs(10) {
/// #     std::thread::sleep(Duration::from_millis(1));
/// # }
/// assert_eq!(pool.stats().idle, 2); // min_idle filled by maintenance
/// # Ok::<(), netpool_net::BuildError>(())
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct PoolBuilder<R: Runtime> {
    core: Builder,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> PoolBuilder<R> {
    /// A builder with the default settings of [`netpool_core::Config`].
    pub fn new() -> Self {
        Self::from_core(Builder::new())
    }

    /// Validates the settings, creates the pool and starts its maintenance. Opens no
    /// connection: `min_idle` is filled by maintenance, in the background.
    ///
    /// # Errors
    ///
    /// [`BuildError::Config`] for an invalid setting, and the runtime's error when
    /// maintenance cannot start ([`BuildError::NoRuntime`], [`BuildError::Spawn`]).
    pub fn build<M: Manager>(self, manager: M) -> Result<Pool<M>, BuildError> {
        R::can_start_maintenance()?;
        let pool = self.core.build(manager)?;
        R::start_maintenance(&pool)?;
        Ok(pool)
    }

    /// Starts from the settings (and event handler) of a core [`Builder`].
    pub fn from_core(core: Builder) -> Self {
        Self {
            core,
            runtime: PhantomData,
        }
    }

    /// Bound on one connect, with the `on_connect` hook (default 10 s).
    pub fn connect_timeout(self, timeout: Option<Duration>) -> Self {
        self.map(|b| b.connect_timeout(timeout))
    }

    pool_knobs!();

    /// The settings so far.
    pub fn config(&self) -> &netpool_core::Config {
        self.core.config()
    }

    fn map(mut self, f: impl FnOnce(Builder) -> Builder) -> Self {
        self.core = f(self.core);
        self
    }
}

impl<R: Runtime> Default for PoolBuilder<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Runtime> fmt::Debug for PoolBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("config", self.core.config())
            .finish()
    }
}
