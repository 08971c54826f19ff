//! The [`Builder`] of a [`Pool`]: above the pool, which it builds, and the settings it
//! fills in.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, QueueStrategy, config_knobs, fn_hook_setters};
use crate::events::{EventHandler, Events};
use crate::hooks::{DynHooks, Hooks, NoHooks};
use crate::pool::NoManager;
use crate::{BuildError, Manager, Pool};

impl Pool<NoManager> {
    /// A [`Builder`] with the default settings; [`Builder::build`] picks the manager type,
    /// so `Pool::builder()` needs no type arguments.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

/// Builds a [`Pool`]: set the knobs, then call [`build`](Builder::build) with a manager.
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
/// use netpool_core::{Pool, QueueStrategy};
///
/// let pool = Pool::builder()
///     .max_size(16)
///     .min_idle(Some(4))
///     .wait_timeout(Some(Duration::from_secs(5)))
///     .idle_timeout(Some(Duration::from_secs(30)))
///     .queue_strategy(QueueStrategy::Lifo)
///     .build(Counter)?;
/// assert_eq!(pool.stats().max_size, 16);
/// # Ok::<(), netpool_core::BuildError>(())
/// ```
///
/// `H` is the type of the [`Hooks`] set with [`hooks`](Builder::hooks): [`NoHooks`] until
/// then, so `Builder` alone names the builder that `Pool::builder()` returns.
#[derive(Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct Builder<H = NoHooks> {
    config: Config,
    events: Events,
    hooks: H,
}

impl Builder {
    /// A builder with the default settings of [`Config`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder that starts from the given settings.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            events: Events::default(),
            hooks: NoHooks,
        }
    }

    /// Validates the settings and creates the pool. Opens nothing: `min_idle` is filled by
    /// [`Pool::maintain`](crate::Pool::maintain).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting.
    pub fn build<M: Manager>(self, manager: M) -> Result<Pool<M>, BuildError> {
        self.config.validate()?;
        Ok(Pool::from_parts(
            self.config,
            manager,
            self.events,
            DynHooks::none(),
            None,
        ))
    }
}

impl<H: Hooks> Builder<H> {
    /// Validates the settings and creates the pool, with the [`Hooks`] set by
    /// [`hooks`](Builder::hooks). Opens nothing: `min_idle` is filled by
    /// [`Pool::maintain`](crate::Pool::maintain).
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting.
    pub fn build(self, manager: H::Manager) -> Result<Pool<H::Manager>, BuildError> {
        self.config.validate()?;
        Ok(Pool::from_parts(
            self.config,
            manager,
            self.events,
            DynHooks::new(self.hooks),
            None,
        ))
    }
}

// The closure hooks (see `fn_hook_setters!`).
fn_hook_setters!(
    Builder,
    /// Runs `f` on every new connection before its first use (see [`Hooks::on_connect`]):
    /// `|conn| Box::pin(async move { ... })`. On a builder without hooks it starts a
    /// [`FnHooks`](crate::FnHooks); on one with closure hooks it sets that closure.
    ///
    /// The manager type `M` comes from the closure's argument type or from `build(manager)`;
    /// name the argument's type (`|conn: &mut Session|`) when the closure's body needs it.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # #[derive(Debug)] struct Session { db: u8 }
    /// # struct Server;
    /// # impl netpool_core::Manager for Server {
    /// #     type Connection = Session;
    /// #     type Error = Infallible;
    /// #     async fn connect(&self) -> Result<Session, Infallible> { Ok(Session { db: 0 }) }
    /// #     async fn is_valid(&self, _: &mut Session) -> Result<(), Infallible> { Ok(()) }
    /// #     fn has_broken(&self, _: &mut Session) -> bool { false }
    /// # }
    /// let pool = netpool_core::Pool::builder()
    ///     .on_connect(|conn: &mut Session| Box::pin(async move {
    ///         conn.db = 3;
    ///         Ok(())
    ///     }))
    ///     .build(Server)?;
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(pool.get().await?.db, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), netpool_core::BuildError>(())
    /// ```
);

impl<H> Builder<H> {
    /// Sets the [`EventHandler`] that receives the pool's [`Event`](crate::Event)s: a
    /// closure `Fn(&Event<'_>)` or a type that implements the trait. It is called
    /// synchronously, on the thread that caused the event (see [`EventHandler`]); the hot
    /// path (an idle connection handed out and returned) reports nothing.
    ///
    /// With the `tracing` feature, the same events are also logged under target
    /// `netpool`, with or without a handler.
    pub fn event_handler(mut self, handler: impl EventHandler) -> Self {
        self.events = Events::new(Some(Arc::new(handler)));
        self
    }

    /// Sets the [`Hooks`]: setup code run on every new connection, and optionally on every
    /// checkout. Fixes the manager type to `H2::Manager` for [`build`](Builder::build).
    pub fn hooks<H2: Hooks>(self, hooks: H2) -> Builder<H2> {
        Builder {
            config: self.config,
            events: self.events,
            hooks,
        }
    }

    /// The settings so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    config_knobs!();
}

impl Default for Builder {
    fn default() -> Self {
        Self::from_config(Config::default())
    }
}

impl<H> fmt::Debug for Builder<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("event_handler", &self.events.is_set())
            .field("hooks", &std::any::type_name::<H>())
            .finish()
    }
}
