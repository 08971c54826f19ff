//! [`KeyedBuilder`]: the settings of a [`KeyedPool`].

use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::map::shards;
use super::{GlobalCap, Keyed, KeyedPool};
use crate::Manager;
use crate::config::{Config, QueueStrategy};
use crate::error::BuildError;
use crate::sync::{AtomicBool, AtomicU64};
#[cfg(doc)]
use crate::{error::Error, pool::Pool};

/// The default cap on the connections of all keys together.
const DEFAULT_MAX_TOTAL: usize = 100;

/// Builds a [`KeyedPool`]: the per-key settings of a [`Pool`] (see
/// [`Builder`](crate::Builder)), and the cap on all keys together.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct KeyedBuilder {
    config: Config,
    max_total: usize,
}

impl KeyedBuilder {
    /// A builder with the default settings.
    pub fn new() -> Self {
        Self {
            config: Config::default(),
            max_total: DEFAULT_MAX_TOTAL,
        }
    }

    /// A builder whose per-key settings are `config`.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            max_total: DEFAULT_MAX_TOTAL,
        }
    }

    /// The per-key settings so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Cap on the connections of all keys together, counting the ones being opened
    /// (default 100).
    pub fn max_total(mut self, max_total: usize) -> Self {
        self.max_total = max_total;
        self
    }

    /// Cap on one key's connections, counting the ones being opened (default 10).
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.config.max_size = max_size;
        self
    }

    /// Idle connections kept warm per key by maintenance, for keys that have a pool
    /// (default `None`). A key with `min_idle` connections is never forgotten.
    pub fn min_idle(mut self, min_idle: Option<usize>) -> Self {
        self.config.min_idle = min_idle;
        self
    }

    /// One deadline for a whole `get`, waiting for room included (default 30 s).
    pub fn wait_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.wait_timeout = timeout;
        self
    }

    /// Bound on one `connect` (default 10 s).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Connections idle longer than this are closed, not reused (default 10 min).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Connections are closed once this old, less a jitter of up to 5% (default 30 min).
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.config.max_lifetime = lifetime;
        self
    }

    /// Whether [`Manager::is_valid`] runs before a connection is handed out (default
    /// `true`, limited by [`check_idle_after`](Self::check_idle_after)).
    pub fn test_on_check_out(mut self, test: bool) -> Self {
        self.config.test_on_check_out = test;
        self
    }

    /// With `test_on_check_out`, check only connections idle at least this long
    /// (default 1 s; `None` checks on every checkout).
    pub fn check_idle_after(mut self, after: Option<Duration>) -> Self {
        self.config.check_idle_after = after;
        self
    }

    /// Which idle connection of a key goes out first (default [`QueueStrategy::Fifo`]).
    pub fn queue_strategy(mut self, strategy: QueueStrategy) -> Self {
        self.config.queue_strategy = strategy;
        self
    }

    /// Backoff after failed connects, per key (default 10 ms and 100 ms): while a key
    /// backs off, its gets that would have to connect fail at once with
    /// [`Error::Unavailable`]; other keys are not affected.
    pub fn connect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.backoff_initial = initial;
        self.config.backoff_max = max;
        self
    }

    /// How often to run [`KeyedPool::maintain`] (default derived from the timeouts).
    pub fn maintenance_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.maintenance_interval = interval;
        self
    }

    /// Validates the settings and creates the pool; `connect` makes the manager of a key,
    /// when the key is first used. Opens nothing.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting (a zero `max_total` is
    /// [`BuildError::ZeroMaxSize`]).
    pub fn build<K, M>(
        self,
        connect: impl Fn(&K) -> M + Send + Sync + 'static,
    ) -> Result<KeyedPool<K, M>, BuildError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        M: Manager,
    {
        self.config.validate()?;
        if self.max_total == 0 {
            return Err(BuildError::ZeroMaxSize);
        }
        let global = Arc::new(GlobalCap::new(self.max_total));
        let inner = Arc::new(Keyed {
            shards: shards(),
            connect: Box::new(connect),
            config: self.config,
            global: global.clone(),
            closed: AtomicBool::new(false),
            tick: CachePadded::new(AtomicU64::new(0)),
        });
        let weak = Arc::downgrade(&inner);
        global.set_evict(Box::new(move || {
            weak.upgrade().is_some_and(|keyed| keyed.evict_lru())
        }));
        Ok(KeyedPool { inner })
    }
}

impl Default for KeyedBuilder {
    fn default() -> Self {
        Self::new()
    }
}
