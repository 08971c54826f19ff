//! [`KeyedBuilder`]: the settings of a [`KeyedPool`].

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::map::shards;
use super::{GlobalCap, Keyed, KeyedPool};
use crate::Manager;
use crate::config::{Config, QueueStrategy};
use crate::error::BuildError;
use crate::events::{EventHandler, Events};
use crate::hooks::{DynHooks, Hooks, NoHooks};
use crate::stats::Stats;
use crate::sync::AtomicBool;
#[cfg(doc)]
use crate::{error::Error, pool::Pool};

/// The default cap on the connections of all keys together.
const DEFAULT_MAX_TOTAL: usize = 100;

/// The default hand-over bound (see [`KeyedBuilder::handover_after`]).
const DEFAULT_HANDOVER_AFTER: Duration = Duration::from_millis(10);

/// Builds a [`KeyedPool`]: the per-key settings of a [`Pool`] (see
/// [`Builder`](crate::Builder)), and the cap on all keys together.
///
/// Every setting of a [`Pool`] applies to each key's pool: `max_size` caps one key's
/// connections, `min_idle` keeps that many warm per key that has a pool (a key with
/// `min_idle` connections is never forgotten), and each key backs off on its own. The
/// [`event_handler`](Self::event_handler) and the [`hooks`](Self::hooks) are shared by
/// every key's pool: the hooks run on the connections of every key (to authenticate or
/// select a database on each node, say), and the handler receives the events of all keys.
///
/// `H` is the type of the [`Hooks`] set with [`hooks`](Self::hooks): [`NoHooks`] until
/// then.
#[must_use = "a builder does nothing until build() is called"]
pub struct KeyedBuilder<H = NoHooks> {
    config: Config,
    max_total: usize,
    handover_after: Duration,
    events: Events,
    hooks: H,
}

impl KeyedBuilder {
    /// A builder with the default settings.
    pub fn new() -> Self {
        Self::from_config(Config::default())
    }

    /// A builder whose per-key settings are `config`.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            max_total: DEFAULT_MAX_TOTAL,
            handover_after: DEFAULT_HANDOVER_AFTER,
            events: Events::default(),
            hooks: NoHooks,
        }
    }

    /// Validates the settings and creates the pool; `connect` makes the manager of a key,
    /// when the key is first used. Opens nothing.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting (a zero `max_total` is
    /// [`BuildError::ZeroMaxTotal`]).
    pub fn build<K, M>(
        self,
        connect: impl Fn(&K) -> M + Send + Sync + 'static,
    ) -> Result<KeyedPool<K, M>, BuildError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        M: Manager,
    {
        let (parts, NoHooks) = self.split()?;
        Ok(parts.build(connect, Box::new(DynHooks::none)))
    }
}

crate::config::fn_hook_setters!(
    KeyedBuilder,
    /// Runs `f` on every new connection of any key, as
    /// [`Builder::on_connect`](crate::Builder::on_connect): `|conn| Box::pin(async move {
    /// ... })`. Shorthand for [`hooks`](Self::hooks)`(FnHooks::new().on_connect(f))`.
);

impl<H: Hooks> KeyedBuilder<H> {
    /// Validates the settings and creates the pool, with the [`Hooks`] set by
    /// [`hooks`](Self::hooks) running on every key's connections; `connect` makes the
    /// manager of a key, when the key is first used. Opens nothing.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting (a zero `max_total` is
    /// [`BuildError::ZeroMaxTotal`]).
    pub fn build<K>(
        self,
        connect: impl Fn(&K) -> H::Manager + Send + Sync + 'static,
    ) -> Result<KeyedPool<K, H::Manager>, BuildError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let (parts, hooks) = self.split()?;
        let hooks = Arc::new(hooks);
        Ok(parts.build(
            connect,
            Box::new(move || DynHooks::new(SharedHooks(hooks.clone()))),
        ))
    }
}

impl<H> KeyedBuilder<H> {
    /// The per-key settings so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Cap on the connections of all keys together, counting the ones being opened
    /// (default 100; at least 1).
    ///
    /// When it binds, a key that needs a connection closes the least recently used key's
    /// idle connection, or waits for room, and busy keys hand room over by the policy of
    /// [`handover_after`](Self::handover_after). Size it for the sum of what the keys
    /// need at once: while it binds, every hand-over is a close and a new connect (a
    /// handshake) for the key that gets the room.
    pub fn max_total(mut self, max_total: usize) -> Self {
        self.max_total = max_total;
        self
    }

    /// The hand-over bound of the total cap (default 10 ms).
    ///
    /// While callers wait for room, a connection returned to key K stays with K (no
    /// reconnect) when K has callers of its own waiting, as long as the oldest caller
    /// waiting for room has waited less than this bound (and less than a quarter of its
    /// own timeout); past it, the connection is closed and its room goes to that caller.
    /// A connection returned to a key with no caller waiting is handed over at once. So
    /// no key starves: the oldest caller waiting for room is served about this bound
    /// after it queued (plus the time until some key returns a connection). Shorter
    /// bounds are fairer but reconnect more often while the cap binds.
    pub fn handover_after(mut self, bound: Duration) -> Self {
        self.handover_after = bound;
        self
    }

    /// Sets the [`EventHandler`] that receives the [`Event`](crate::Event)s of every
    /// key's pool, as [`Builder::event_handler`](crate::Builder::event_handler). Events do
    /// not name their key.
    pub fn event_handler(mut self, handler: impl EventHandler) -> Self {
        self.events = Events::new(Some(Arc::new(handler)));
        self
    }

    /// Sets the [`Hooks`] that run on the connections of every key (one value shared by
    /// all keys' pools), as [`Builder::hooks`](crate::Builder::hooks): `on_connect` on
    /// every new connection of any key (authenticate, select a database), `on_checkout`
    /// if it asks to. Fixes the manager type to `H2::Manager` for
    /// [`build`](KeyedBuilder::build). A hook that needs the key can read it from the
    /// connection, or from the manager the `build` closure made for the key.
    pub fn hooks<H2: Hooks>(self, hooks: H2) -> KeyedBuilder<H2> {
        KeyedBuilder {
            config: self.config,
            max_total: self.max_total,
            handover_after: self.handover_after,
            events: self.events,
            hooks,
        }
    }

    crate::config::config_knobs!();

    /// The validated settings and the hooks.
    fn split(self) -> Result<(Parts, H), BuildError> {
        let parts = Parts {
            config: self.config,
            max_total: self.max_total,
            handover_after: self.handover_after,
            events: self.events,
        };
        parts.validate()?;
        Ok((parts, self.hooks))
    }
}

/// The settings, without the hooks.
struct Parts {
    config: Config,
    max_total: usize,
    handover_after: Duration,
    events: Events,
}

impl Parts {
    fn validate(&self) -> Result<(), BuildError> {
        self.config.validate()?;
        if self.max_total == 0 {
            return Err(BuildError::ZeroMaxTotal);
        }
        Ok(())
    }

    fn build<K, M>(
        self,
        connect: impl Fn(&K) -> M + Send + Sync + 'static,
        hooks: Box<dyn Fn() -> DynHooks<M> + Send + Sync>,
    ) -> KeyedPool<K, M>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        M: Manager,
    {
        let global = Arc::new(GlobalCap::new(self.max_total, self.handover_after));
        let inner = Arc::new(Keyed {
            shards: shards(),
            connect: Box::new(connect),
            hooks,
            events: self.events,
            config: self.config,
            global: global.clone(),
            closed: CachePadded::new(AtomicBool::new(false)),
            retired: crate::sync::Mutex::new(Vec::new()),
            gone: crate::sync::Mutex::new(Stats::default()),
            paused: crate::sync::AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        global.set_evict(Box::new(move |except| {
            weak.upgrade().is_some_and(|keyed| keyed.evict_lru(except))
        }));
        KeyedPool { inner }
    }
}

/// One [`Hooks`] value shared by every key's pool.
struct SharedHooks<H>(Arc<H>);

impl<H: Hooks> Hooks for SharedHooks<H> {
    type Manager = H::Manager;

    fn on_connect(
        &self,
        conn: &mut <Self::Manager as Manager>::Connection,
    ) -> impl Future<Output = Result<(), <Self::Manager as Manager>::Error>> + Send {
        self.0.on_connect(conn)
    }

    fn runs_on_checkout(&self) -> bool {
        self.0.runs_on_checkout()
    }

    fn on_checkout(
        &self,
        conn: &mut <Self::Manager as Manager>::Connection,
        meta: crate::Meta,
    ) -> impl Future<Output = Result<(), <Self::Manager as Manager>::Error>> + Send {
        self.0.on_checkout(conn, meta)
    }
}

impl Default for KeyedBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: Clone> Clone for KeyedBuilder<H> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            max_total: self.max_total,
            handover_after: self.handover_after,
            events: self.events.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl<H> fmt::Debug for KeyedBuilder<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBuilder")
            .field("config", &self.config)
            .field("max_total", &self.max_total)
            .field("handover_after", &self.handover_after)
            .field("event_handler", &self.events.is_set())
            .field("hooks", &std::any::type_name::<H>())
            .finish()
    }
}
