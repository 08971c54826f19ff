//! [`RedisBuilder`]: a [`Config`]'s pool, with hooks, an event handler and the core
//! builder's other settings; `build()` starts maintenance.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use netpool_core::{BoxHookFuture, Builder, FnHooks, Meta, QueueStrategy};
use netpool_tokio::rustls::ClientConfig;

use crate::{Config, ConfigError, CreatePoolError, Error, Pool, RedisConnection, RedisManager};

/// Builds a [`Pool`] from a [`Config`]: made by [`Config::builder`].
///
/// ```no_run
/// use netpool_redis::Config;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Config::from_url("redis://127.0.0.1:6379/1")?
///     .builder()?
///     .max_size(32)
///     .on_connect(|conn| Box::pin(async move {
///         let () = redis::cmd("CLIENT").arg("NO-EVICT").arg("ON").query_async(conn).await?;
///         Ok(())
///     }))
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct RedisBuilder {
    config: Config,
    core: Builder,
    hooks: FnHooks<RedisManager>,
    connection: Option<redis::AsyncConnectionConfig>,
}

impl RedisBuilder {
    pub(crate) fn new(config: &Config) -> Result<Self, ConfigError> {
        // Checked here so that errors show before build; the rustls configuration may
        // still come from `tls_config`.
        match RedisManager::from_config(config) {
            Ok(_) | Err(ConfigError::NoTlsConfig) => {}
            Err(e) => return Err(e),
        }
        let p = &config.pool;
        let mut core = Builder::new();
        if let Some(n) = p.max_size {
            core = core.max_size(n);
        }
        core = core.min_idle(p.min_idle);
        if p.wait_timeout.is_some() {
            core = core.wait_timeout(p.wait_timeout);
        }
        if p.connect_timeout.is_some() {
            core = core.connect_timeout(p.connect_timeout);
        }
        if p.idle_timeout.is_some() {
            core = core.idle_timeout(p.idle_timeout);
        }
        if p.max_lifetime.is_some() {
            core = core.max_lifetime(p.max_lifetime);
        }
        Ok(Self {
            config: config.clone(),
            core,
            hooks: FnHooks::new(),
            connection: None,
        })
    }

    /// Sets the rustls client configuration for `rediss://` (the roots that are trusted).
    pub fn tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.config.tls_config = Some(config);
        self
    }

    /// Sets `TCP_NODELAY` on the connections' sockets, plain TCP and TLS alike (default
    /// on; see [`Config::tcp_nodelay`]).
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.config.tcp_nodelay = Some(nodelay);
        self
    }

    /// Sets the `redis` crate's per-connection settings (response timeout, ...); see
    /// [`RedisManager::connection_config`].
    pub fn connection_config(mut self, config: redis::AsyncConnectionConfig) -> Self {
        self.connection = Some(config);
        self
    }

    /// Applies `f` to the core [`Builder`]: any setting it has.
    pub fn pool_builder(mut self, f: impl FnOnce(Builder) -> Builder) -> Self {
        self.core = f(self.core);
        self
    }

    /// Hard cap on open connections (default 10).
    pub fn max_size(self, max_size: usize) -> Self {
        self.pool_builder(|b| b.max_size(max_size))
    }

    /// Idle connections that maintenance keeps open (default `None`).
    pub fn min_idle(self, min_idle: Option<usize>) -> Self {
        self.pool_builder(|b| b.min_idle(min_idle))
    }

    /// One deadline for a whole `get` (default 30 s).
    pub fn wait_timeout(self, timeout: Option<Duration>) -> Self {
        self.pool_builder(|b| b.wait_timeout(timeout))
    }

    /// Bound on one connect, setup included (default 10 s).
    pub fn connect_timeout(self, timeout: Option<Duration>) -> Self {
        self.pool_builder(|b| b.connect_timeout(timeout))
    }

    /// Whether `PING` runs before a connection idle a while is handed out (default on).
    pub fn test_on_check_out(self, test: bool) -> Self {
        self.pool_builder(|b| b.test_on_check_out(test))
    }

    /// Which idle connection goes out first.
    pub fn queue_strategy(self, strategy: QueueStrategy) -> Self {
        self.pool_builder(|b| b.queue_strategy(strategy))
    }

    /// Sets the handler of the pool's events (see
    /// [`netpool_core::Builder::event_handler`]).
    pub fn event_handler(self, handler: impl netpool_core::EventHandler) -> Self {
        self.pool_builder(|b| b.event_handler(handler))
    }

    /// Runs `f` on every new connection after `AUTH`, `SELECT` and `CLIENT SETNAME` and
    /// before its first use (see [`netpool_core::Hooks::on_connect`]):
    /// `|conn| Box::pin(async move { ... })`. An error rejects the connection.
    ///
    /// Commands it sends are tracked like any other: a `SELECT` here makes the connection
    /// be closed when it first comes back (set [`Config::db`] instead).
    pub fn on_connect<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a mut RedisConnection) -> BoxHookFuture<'a, Error> + Send + Sync + 'static,
    {
        self.hooks = self.hooks.on_connect(f);
        self
    }

    /// Runs `f` on every checkout of an idle connection (see
    /// [`netpool_core::Hooks::on_checkout`]): `|conn, meta| Box::pin(async move { ... })`.
    /// An error closes the connection and the `get` goes on with another.
    pub fn on_checkout<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a mut RedisConnection, Meta) -> BoxHookFuture<'a, Error>
            + Send
            + Sync
            + 'static,
    {
        self.hooks = self.hooks.on_checkout(f);
        self
    }

    /// Creates the pool (it opens no connection yet) and starts its maintenance: on tokio
    /// inside a tokio runtime, else on smol (feature `smol`).
    ///
    /// # Errors
    ///
    /// A [`CreatePoolError`]: TLS without a `tls_config`, an invalid pool setting, or no
    /// runtime for maintenance.
    pub fn build(self) -> Result<Pool, CreatePoolError> {
        let mut manager = RedisManager::from_config(&self.config)?;
        if let Some(c) = self.connection {
            manager = manager.connection_config(c);
        }
        let pool = if self.hooks.is_empty() {
            self.core.build(manager)
        } else {
            self.core.hooks(self.hooks).build(manager)
        }
        .map_err(netpool_tokio::BuildError::from)?;
        start_maintenance(&pool)?;
        Ok(pool)
    }
}

#[cfg(feature = "smol")]
fn start_maintenance(pool: &Pool) -> Result<(), netpool_tokio::BuildError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        netpool_tokio::spawn_maintenance(pool)?;
    } else {
        netpool_smol::spawn_maintenance(pool).detach();
    }
    Ok(())
}

#[cfg(not(feature = "smol"))]
fn start_maintenance(pool: &Pool) -> Result<(), netpool_tokio::BuildError> {
    netpool_tokio::spawn_maintenance(pool).map(drop)
}

impl fmt::Debug for RedisBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBuilder")
            .field("config", &self.config)
            .field("pool", self.core.config())
            .field("hooks", &self.hooks)
            .finish()
    }
}
