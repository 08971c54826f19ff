//! [`TcpBuilder`]: the `tcp(addr)` builder of every adapter, generic over its [`Runtime`].

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use netpool_core::{BoxHookFuture, Builder, FnHooks, Manager, Meta, Pool, QueueStrategy};

use crate::{Address, BuildError, IntoAddress, Resolver, Runtime, TcpManager, TcpOptions};

/// Builds a TCP pool on runtime `R`: the core [`Builder`]'s knobs, the [`TcpOptions`],
/// and a [`build`](Self::build) that also starts maintenance.
///
/// Made by each adapter's `tcp(addr)`; see there for an example.
#[must_use = "a builder does nothing until build() is called"]
pub struct TcpBuilder<R: Runtime> {
    addr: String,
    options: TcpOptions,
    resolver: Option<Resolver>,
    resolve_interval: Option<Duration>,
    drain_window: Duration,
    core: Builder,
    hooks: FnHooks<TcpManager<R>>,
    runtime: PhantomData<fn() -> R>,
}

/// The pool settings' setters, for a builder that applies them through its own
/// `map(self, impl FnOnce(Inner) -> Inner) -> Self` to the builder it wraps: written once
/// for [`TcpBuilder`] (over the core's `Builder`) and the TLS builder (over `TcpBuilder`).
macro_rules! pool_knobs {
    () => {
        /// Hard cap on open connections, counting the ones being opened (default 10).
        pub fn max_size(self, max_size: usize) -> Self {
            self.map(|b| b.max_size(max_size))
        }

        /// Idle connections that maintenance keeps open (default `None`).
        pub fn min_idle(self, min_idle: Option<usize>) -> Self {
            self.map(|b| b.min_idle(min_idle))
        }

        /// One deadline for a whole `get` (default 30 s).
        pub fn wait_timeout(self, timeout: Option<Duration>) -> Self {
            self.map(|b| b.wait_timeout(timeout))
        }

        /// Connections idle longer than this are closed by maintenance (default 10 min).
        pub fn idle_timeout(self, timeout: Option<Duration>) -> Self {
            self.map(|b| b.idle_timeout(timeout))
        }

        /// Connections are closed once this old, less a jitter of up to 5% (default 30 min).
        pub fn max_lifetime(self, lifetime: Option<Duration>) -> Self {
            self.map(|b| b.max_lifetime(lifetime))
        }

        /// Whether the liveness check runs before a connection is handed out (default `true`).
        pub fn test_on_check_out(self, test: bool) -> Self {
            self.map(|b| b.test_on_check_out(test))
        }

        /// Check only connections idle at least this long (default 1 s; `None`: every
        /// checkout).
        pub fn check_idle_after(self, after: Option<Duration>) -> Self {
            self.map(|b| b.check_idle_after(after))
        }

        /// Which idle connection goes out first (default [`QueueStrategy::Fifo`](netpool_core::QueueStrategy::Fifo)).
        pub fn queue_strategy(self, strategy: QueueStrategy) -> Self {
            self.map(|b| b.queue_strategy(strategy))
        }

        /// Backoff after failed connects: first delay and cap (default 10 ms and 100 ms).
        pub fn connect_backoff(self, initial: Duration, max: Duration) -> Self {
            self.map(|b| b.connect_backoff(initial, max))
        }

        /// Whether callers fail fast while connects keep failing (default `true`); see
        /// [`netpool_core::Builder::fail_fast`].
        pub fn fail_fast(self, on: bool) -> Self {
            self.map(|b| b.fail_fast(on))
        }

        /// Sets the handler of the pool's events (see
        /// [`netpool_core::Builder::event_handler`]): called synchronously, on the thread that
        /// caused the event; nothing is reported per checkout.
        pub fn event_handler(self, handler: impl netpool_core::EventHandler) -> Self {
            self.map(|b| b.event_handler(handler))
        }

        /// How often maintenance runs (default derived from the timeouts).
        pub fn maintenance_interval(self, interval: Option<Duration>) -> Self {
            self.map(|b| b.maintenance_interval(interval))
        }
    };
}
#[cfg_attr(not(feature = "tls"), allow(unused_imports))]
pub(crate) use pool_knobs;

/// A closure run on every new connection of type `C` (the builders' `on_connect`):
/// `|conn| Box::pin(async move { ... })`, failing with `E`. Every such closure is one.
pub trait ConnectHook<C, E>:
    for<'a> Fn(&'a mut C) -> BoxHookFuture<'a, E> + Send + Sync + 'static
{
}

impl<C, E, F> ConnectHook<C, E> for F where
    F: for<'a> Fn(&'a mut C) -> BoxHookFuture<'a, E> + Send + Sync + 'static
{
}

/// A closure run on every checkout of an idle connection of type `C` (the builders'
/// `on_checkout`): `|conn, meta| Box::pin(async move { ... })`, failing with `E`. Every
/// such closure is one.
pub trait CheckoutHook<C, E>:
    for<'a> Fn(&'a mut C, Meta) -> BoxHookFuture<'a, E> + Send + Sync + 'static
{
}

impl<C, E, F> CheckoutHook<C, E> for F where
    F: for<'a> Fn(&'a mut C, Meta) -> BoxHookFuture<'a, E> + Send + Sync + 'static
{
}

/// The closure hooks' setters, `on_connect` and `on_checkout`, for a builder with a
/// `hooks: FnHooks<_>` field over connections of type `$conn` and errors of type `$err`:
/// written once for [`TcpBuilder`] and the TLS builder.
macro_rules! hook_setters {
    ($conn:ty, $err:ty) => {
        /// Runs `f` on every new connection before its first use (a TLS connection: after
        /// its handshake; see [`netpool_core::Hooks::on_connect`]):
        /// `|stream| Box::pin(async move { ... })`.
        pub fn on_connect(mut self, f: impl $crate::ConnectHook<$conn, $err>) -> Self {
            self.hooks = self.hooks.on_connect(f);
            self
        }

        /// Runs `f` on every checkout of an idle connection (see
        /// [`netpool_core::Hooks::on_checkout`]): `|stream, meta| Box::pin(async move { ... })`.
        pub fn on_checkout(mut self, f: impl $crate::CheckoutHook<$conn, $err>) -> Self {
            self.hooks = self.hooks.on_checkout(f);
            self
        }
    };
}
#[cfg_attr(not(feature = "tls"), allow(unused_imports))]
pub(crate) use hook_setters;

impl<R: Runtime> TcpBuilder<R> {
    /// A builder for a pool of connections to `addr` (`"host:port"`, a socket address or
    /// a `(host, port)` pair: see [`IntoAddress`]), with the default settings of
    /// [`netpool_core::Config`] and [`TcpOptions`].
    pub fn new(addr: impl IntoAddress) -> Self {
        Self {
            addr: addr.into_address(),
            options: TcpOptions::default(),
            resolver: None,
            resolve_interval: None,
            drain_window: crate::dns::DRAIN_WINDOW,
            core: Builder::new(),
            hooks: FnHooks::new(),
            runtime: PhantomData,
        }
    }

    /// Replaces the pool settings with those of a core [`Builder`].
    pub fn pool_builder(mut self, core: Builder) -> Self {
        self.core = core;
        self
    }

    /// Replaces the socket options. The per-attempt connect timeout in them is overridden
    /// by a later [`connect_timeout`](Self::connect_timeout).
    pub fn tcp_options(mut self, options: TcpOptions) -> Self {
        self.options = options;
        self
    }

    /// Bound on one connect, and on each attempt to one resolved address (default 10 s).
    ///
    /// The manager enforces it itself, so a connect that takes too long fails with
    /// `Error::Connect` naming the address and the phase (`TCP connect to
    /// 10.0.0.1:6379: timed out after 2s`). The pool's own `connect_timeout`, whose
    /// `Error::ConnectTimeout` carries no detail, is set a little longer (a tenth more,
    /// at least 100 ms), as a backstop.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options = self.options.connect_timeout(timeout);
        self.map(|b| b.connect_timeout(timeout))
    }

    /// Sets `TCP_USER_TIMEOUT` on new connections (Linux, Android and Fuchsia; a no-op
    /// elsewhere): data unacknowledged this long fails the read or write with
    /// `ETIMEDOUT`, so a request to a peer that vanished (a black-holed route) fails in
    /// bounded time instead of after the kernel's retransmissions (about 15 minutes).
    /// Default `None`. See [`TcpOptions::user_timeout`].
    pub fn user_timeout(self, timeout: Option<Duration>) -> Self {
        self.with(|b| b.options = b.options.clone().user_timeout(timeout))
    }

    /// Resolves host names with `resolver` instead of the runtime's (the system's):
    /// on every connect and in the re-resolution. See [`Resolver`].
    pub fn resolver(self, resolver: Resolver) -> Self {
        self.with(|b| b.resolver = Some(resolver))
    }

    /// Resolves the host name again every `interval` (default `None`: only at each
    /// connect), on a task that [`build`](Self::build) starts, and drains the connections
    /// to an address that left the answer: once it has stayed out for the
    /// [drain window](Self::drain_window), the idle connections to it are closed and the
    /// checked-out ones are closed when they come back. No caller fails: new connections
    /// go to the addresses of the answer (every connect resolves). So after a name moves,
    /// every connection is on the new address within `interval` plus the drain window
    /// (a connection checked out then: when it comes back).
    ///
    /// A failed or empty resolution changes nothing (a DNS outage drains nothing); an
    /// address back in the answer before its window ended keeps its connections (DNS
    /// servers that rotate a subset of the addresses). An IP literal is its own answer,
    /// so with an interval set, [`TcpManager::set_addr`] drains the old address the
    /// same way. Costs a return one atomic load, and, while an address is being
    /// retired, a `getpeername`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = netpool_testkit::EchoServer::start()?;
    /// # let addr = server.addr();
    /// use std::time::Duration;
    /// use netpool_net::Resolver;
    ///
    /// let pool = netpool_std::tcp("db.internal:5432")
    ///     # .resolver(Resolver::new(move |_, _| Ok(vec![addr])))
    ///     .resolve_interval(Some(Duration::from_secs(5)))
    ///     .drain_window(Duration::from_secs(30))
    ///     .build()?;
    /// # drop(pool.get_blocking()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve_interval(self, interval: Option<Duration>) -> Self {
        self.with(|b| b.resolve_interval = interval)
    }

    /// How long an address must stay out of the name's answer before the connections to
    /// it are closed (default 10 s); see [`resolve_interval`](Self::resolve_interval).
    pub fn drain_window(self, window: Duration) -> Self {
        self.with(|b| b.drain_window = window)
    }

    pool_knobs!();

    hook_setters!(R::TcpStream, <TcpManager<R> as Manager>::Error);

    /// Checks the settings and the address's form, creates the pool and starts its
    /// maintenance. Opens no connection: a closed port is an error at `get`, not here.
    ///
    /// # Errors
    ///
    /// [`BuildError::Address`] for an address that is not `"host:port"`,
    /// [`BuildError::Config`] for an invalid setting, and the runtime's error when
    /// maintenance cannot start ([`BuildError::NoRuntime`], [`BuildError::Spawn`]).
    pub fn build(self) -> Result<Pool<TcpManager<R>>, BuildError> {
        let hooks = self.hooks.clone();
        let (manager, core) = self.into_manager()?;
        R::can_start_maintenance()?;
        let pool = build_with(core, hooks, manager)?;
        R::start_maintenance(&pool)?;
        if pool.manager().resolve_interval().is_some() {
            R::spawn(TcpManager::resolve_loop(pool.downgrade()))?;
        }
        Ok(pool)
    }

    /// The manager and the pool settings that [`build`](Self::build) uses (also for the
    /// TLS builder, which wraps the TCP manager).
    pub(crate) fn into_manager(self) -> Result<(TcpManager<R>, Builder), BuildError> {
        let address = Address::parse(&self.addr).map_err(|source| BuildError::Address {
            addr: self.addr.clone(),
            source,
        })?;
        // A blocking connect cannot be interrupted by the pool's timers, so no attempt may
        // outlast the caller's whole deadline.
        let mut options = self.options;
        if let Some(wait) = self.core.config().wait_timeout {
            let attempt = options.attempt_timeout().map_or(wait, |t| t.min(wait));
            options = options.connect_timeout(Some(attempt));
        }
        // The manager bounds each connect itself, so that its error names the address and
        // the phase; the pool's bound, when shorter, becomes the manager's, and the pool's
        // is set a little longer, as a backstop.
        let mut core = self.core;
        if let Some(pool_limit) = core.config().connect_timeout {
            let attempt = options
                .attempt_timeout()
                .map_or(pool_limit, |t| t.min(pool_limit));
            options = options.connect_timeout(Some(attempt));
            core = core.connect_timeout(Some(backstop(attempt)));
        }
        let mut manager = TcpManager::from_address(address)
            .with_options(options)
            .with_resolve_interval(self.resolve_interval)
            .with_drain_window(self.drain_window);
        if let Some(resolver) = self.resolver {
            manager = manager.with_resolver(resolver);
        }
        Ok((manager, core))
    }

    fn map(mut self, f: impl FnOnce(Builder) -> Builder) -> Self {
        self.core = f(self.core);
        self
    }

    fn with(mut self, set: impl FnOnce(&mut Self)) -> Self {
        set(&mut self);
        self
    }
}

/// Builds the pool, with the closure hooks if any are set.
pub(crate) fn build_with<M: Manager>(
    core: Builder,
    hooks: FnHooks<M>,
    manager: M,
) -> Result<Pool<M>, netpool_core::BuildError> {
    if hooks.is_empty() {
        core.build(manager)
    } else {
        core.hooks(hooks).build(manager)
    }
}

impl<R: Runtime> fmt::Debug for TcpBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpBuilder")
            .field("addr", &self.addr)
            .field("options", &self.options)
            .field("resolver", &self.resolver)
            .field("resolve_interval", &self.resolve_interval)
            .field("drain_window", &self.drain_window)
            .field("config", self.core.config())
            .field("hooks", &self.hooks)
            .finish()
    }
}

/// The pool's connect timeout over a manager that enforces `limit` itself: a little
/// longer, so that the manager's error (address and phase) wins the race.
fn backstop(limit: Duration) -> Duration {
    limit + (limit / 10).max(Duration::from_millis(100))
}
