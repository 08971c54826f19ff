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
///
/// Every setting of a [`Pool`] applies to each key's pool: `max_size` caps one key's
/// connections, `min_idle` keeps that many warm per key that has a pool (a key with
/// `min_idle` connections is never forgotten), and each key backs off on its own.
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

    crate::config::config_knobs!();

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
