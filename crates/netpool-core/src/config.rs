//! [`Config`]: the pool's settings and their validation, and the macros that write the
//! builders' setters (the builders are in `crate::builder` and `crate::keyed`).

use std::time::Duration;

use crate::BuildError;
pub(crate) use crate::types::QueueStrategy;

/// The closure-hook setters of a builder type with a `hooks` field and a `hooks(..)`
/// method (`Builder`, `KeyedBuilder`): `on_connect` and `on_checkout` start a [`FnHooks`](crate::FnHooks)
/// on a builder without hooks, and set the other closure on one with closure hooks. The
/// attributes given are `on_connect`'s docs.
macro_rules! fn_hook_setters {
    ($builder:ident, $(#[$connect_doc:meta])*) => {
        impl $builder {
            $(#[$connect_doc])*
            pub fn on_connect<M, F>(self, f: F) -> $builder<$crate::hooks::FnHooks<M>>
            where
                M: $crate::Manager,
                F: for<'a> Fn(&'a mut M::Connection) -> $crate::hooks::BoxHookFuture<'a, M::Error>
                    + Send
                    + Sync
                    + 'static,
            {
                self.hooks($crate::hooks::FnHooks::new().on_connect(f))
            }

            /// Runs `f` on every checkout of an idle connection (see
            /// [`Hooks::on_checkout`](crate::Hooks::on_checkout)):
            /// `|conn, meta| Box::pin(async move { ... })`.
            pub fn on_checkout<M, F>(self, f: F) -> $builder<$crate::hooks::FnHooks<M>>
            where
                M: $crate::Manager,
                F: for<'a> Fn(&'a mut M::Connection, $crate::Meta)
                        -> $crate::hooks::BoxHookFuture<'a, M::Error>
                    + Send
                    + Sync
                    + 'static,
            {
                self.hooks($crate::hooks::FnHooks::new().on_checkout(f))
            }
        }

        impl<M: $crate::Manager> $builder<$crate::hooks::FnHooks<M>> {
            /// Sets the closure run on every new connection (replacing an earlier one).
            pub fn on_connect<F>(mut self, f: F) -> Self
            where
                F: for<'a> Fn(&'a mut M::Connection) -> $crate::hooks::BoxHookFuture<'a, M::Error>
                    + Send
                    + Sync
                    + 'static,
            {
                self.hooks = self.hooks.on_connect(f);
                self
            }

            /// Sets the closure run on every checkout (replacing an earlier one).
            pub fn on_checkout<F>(mut self, f: F) -> Self
            where
                F: for<'a> Fn(&'a mut M::Connection, $crate::Meta)
                        -> $crate::hooks::BoxHookFuture<'a, M::Error>
                    + Send
                    + Sync
                    + 'static,
            {
                self.hooks = self.hooks.on_checkout(f);
                self
            }
        }
    };
}
pub(crate) use fn_hook_setters;

/// The setters of the per-pool settings, shared by [`Builder`](crate::Builder) and
/// [`KeyedBuilder`](crate::KeyedBuilder) (whose settings apply per key): each sets one
/// field of the builder's `config`.
macro_rules! config_knobs {
    () => {
        /// Hard cap on open connections, counting the ones being opened (default 10).
        pub fn max_size(mut self, max_size: usize) -> Self {
            self.config.max_size = max_size;
            self
        }

        /// Idle connections that maintenance keeps open (default `None`).
        pub fn min_idle(mut self, min_idle: Option<usize>) -> Self {
            self.config.min_idle = min_idle;
            self
        }

        /// One deadline for a whole `get`: waiting for a slot, connecting and `is_valid`
        /// (default 30 s; `None` waits forever).
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

        /// Connections are closed once this old; each connection's limit is jittered down by
        /// up to 5% so that connections opened together do not expire together
        /// (default 30 min).
        pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
            self.config.max_lifetime = lifetime;
            self
        }

        /// Whether [`Manager::is_valid`](crate::Manager::is_valid) runs before a connection is handed out (default
        /// `true`, limited by [`check_idle_after`](Self::check_idle_after)).
        pub fn test_on_check_out(mut self, test: bool) -> Self {
            self.config.test_on_check_out = test;
            self
        }

        /// With `test_on_check_out`, check only connections idle at least this long
        /// (default 1 s; `None` checks on every checkout). Busy connections skip the check.
        pub fn check_idle_after(mut self, after: Option<Duration>) -> Self {
            self.config.check_idle_after = after;
            self
        }

        /// Which idle connection goes out first (default [`QueueStrategy::Fifo`]).
        pub fn queue_strategy(mut self, strategy: QueueStrategy) -> Self {
            self.config.queue_strategy = strategy;
            self
        }

        /// Backoff after failed connects: the first delay and the cap of the exponential,
        /// jittered delay (default 10 ms and 100 ms). One probe at a time tries again when
        /// the delay is over; see [`fail_fast`](Self::fail_fast) for what callers get
        /// meanwhile.
        pub fn connect_backoff(mut self, initial: Duration, max: Duration) -> Self {
            self.config.backoff_initial = initial;
            self.config.backoff_max = max;
            self
        }

        /// Whether callers fail fast with [`Error::Unavailable`](crate::Error::Unavailable)
        /// while the server is down (default `true`).
        ///
        /// On, a caller that needs a new connection after a connect failed waits for the
        /// outcome of the next attempt (within its deadline) and gets `Unavailable` if that
        /// attempt fails too; after three failures in a row such callers fail at once, and one
        /// probe at a time, spaced by [`connect_backoff`](Self::connect_backoff), tests the
        /// server. Broken or invalid connections never make another caller fail; they only
        /// space out new connects.
        ///
        /// Off, every caller that needs a connection makes its own connect attempt and gets
        /// its own [`Error::Connect`](crate::Error::Connect) or
        /// [`Error::ConnectTimeout`](crate::Error::ConnectTimeout), as with deadpool or bb8;
        /// nothing backs off.
        pub fn fail_fast(mut self, on: bool) -> Self {
            self.config.fail_fast = on;
            self
        }

        /// How often the adapters run [`Pool::maintain`](crate::Pool::maintain) (default
        /// derived from the timeouts; see [`Config::maintenance_interval`](crate::Config::maintenance_interval)).
        pub fn maintenance_interval(mut self, interval: Option<Duration>) -> Self {
            self.config.maintenance_interval = interval;
            self
        }

        /// Reports connections checked out longer than `threshold` (default off), and
        /// tracks who holds each connection: [`Pool::holders`](crate::Pool::holders) lists
        /// them, and [`Pool::last_timeout`](crate::Pool::last_timeout) names the oldest.
        ///
        /// Maintenance reports a checkout held longer, once, as
        /// [`Event::HeldTooLong`](crate::Event::HeldTooLong) (logged at `warn` under the
        /// `tracing` feature) naming the file and line of its `get`, within `threshold`
        /// plus one maintenance interval; its return is reported as
        /// [`Event::ReturnedAfterLeak`](crate::Event::ReturnedAfterLeak). Costs a few plain
        /// stores per checkout and return (no clock reading of its own, no
        /// read-modify-write); off, nothing.
        pub fn leak_threshold(mut self, threshold: Duration) -> Self {
            self.config.leak_threshold = Some(threshold);
            self
        }

        /// Names the pool in its log lines, its [`TimeoutReport`](crate::TimeoutReport)s,
        /// [`EventHandler::handle_in`](crate::EventHandler::handle_in) and its metrics'
        /// `db.client.connection.pool.name` label (default: no name; metrics say
        /// `"default"`).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.config.name = Some(name.into());
            self
        }

        /// How many connects may run at once while a [`refresh`](crate::Pool::refresh)
        /// replaces the pool's connections (default 4; 0 counts as 1). Other callers that
        /// need a connection meanwhile wait for a turn within their own deadline. Outside
        /// a refresh, connects are not limited beyond `max_size`.
        pub fn refresh_connects(mut self, connects: usize) -> Self {
            self.config.refresh_connects = connects;
            self
        }

        /// The server the pool connects to, "host:port", for the `server.address` label
        /// of its metrics (default: none, no label).
        pub fn server_address(mut self, address: impl Into<String>) -> Self {
            self.config.server_address = Some(address.into());
            self
        }
    };
}
pub(crate) use config_knobs;

/// The settings of a [`Pool`](crate::Pool), as validated by [`Builder::build`](crate::Builder::build).
///
/// Read them back with [`Pool::config`](crate::Pool::config).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Hard cap on open connections, counting the ones being opened (default 10).
    pub max_size: usize,
    /// Idle connections kept warm by maintenance (default `None`).
    pub min_idle: Option<usize>,
    /// How long a `get` may take in all: waiting, connecting and checking (default 30 s).
    pub wait_timeout: Option<Duration>,
    /// How long one connect may take (default 10 s).
    pub connect_timeout: Option<Duration>,
    /// Idle connections older than this are closed, not reused (default 10 min).
    pub idle_timeout: Option<Duration>,
    /// Connections are closed once this old, less a jitter of up to 5% (default 30 min).
    pub max_lifetime: Option<Duration>,
    /// Whether `is_valid` runs before a connection is handed out (default `true`).
    pub test_on_check_out: bool,
    /// `is_valid` runs only for connections idle at least this long (default 1 s; `None`:
    /// every checkout).
    pub check_idle_after: Option<Duration>,
    /// Which idle connection goes out first (default [`QueueStrategy::Fifo`]).
    pub queue_strategy: QueueStrategy,
    /// First delay after a failed connect (default 10 ms).
    pub backoff_initial: Duration,
    /// Cap of the exponential, jittered connect backoff (default 100 ms).
    pub backoff_max: Duration,
    /// Whether callers fail fast with [`Error::Unavailable`](crate::Error::Unavailable)
    /// while connects keep failing (default `true`). Off: every caller that needs a
    /// connection makes its own connect attempt and gets its own error, as with deadpool,
    /// and nothing backs off.
    pub fail_fast: bool,
    /// How often the adapters run [`Pool::maintain`](crate::Pool::maintain) (default:
    /// derived from the timeouts, between 10 ms and 1 s).
    pub maintenance_interval: Option<Duration>,
    /// Checkouts held longer than this are reported, and holders are tracked (default
    /// `None`: off). See [`Builder::leak_threshold`](crate::Builder::leak_threshold).
    pub leak_threshold: Option<Duration>,
    /// The pool's name in logs, reports and metrics (default `None`).
    pub name: Option<String>,
    /// The server's "host:port", for the metrics' `server.address` label (default `None`).
    pub server_address: Option<String>,
    /// Connects that may run at once while a [`refresh`](crate::Pool::refresh) is under
    /// way (default 4; 0 counts as 1).
    pub refresh_connects: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: None,
            wait_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            test_on_check_out: true,
            check_idle_after: Some(Duration::from_secs(1)),
            queue_strategy: QueueStrategy::Fifo,
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
            fail_fast: true,
            maintenance_interval: None,
            leak_threshold: None,
            name: None,
            server_address: None,
            refresh_connects: 4,
        }
    }
}

impl Config {
    /// Checks the settings, naming the first invalid one.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for a zero `max_size`, a `min_idle` above `max_size`, a zero
    /// duration, or a backoff whose initial delay exceeds its cap.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.max_size == 0 {
            return Err(BuildError::ZeroMaxSize);
        }
        if let Some(min_idle) = self.min_idle {
            if min_idle > self.max_size {
                return Err(BuildError::MinIdleAboveMaxSize {
                    min_idle,
                    max_size: self.max_size,
                });
            }
        }
        let durations = [
            ("wait_timeout", self.wait_timeout),
            ("connect_timeout", self.connect_timeout),
            ("idle_timeout", self.idle_timeout),
            ("max_lifetime", self.max_lifetime),
            ("maintenance_interval", self.maintenance_interval),
            ("leak_threshold", self.leak_threshold),
            ("connect_backoff", Some(self.backoff_initial)),
            ("connect_backoff", Some(self.backoff_max)),
        ];
        for (setting, d) in durations {
            if d == Some(Duration::ZERO) {
                return Err(BuildError::ZeroDuration { setting });
            }
        }
        if self.backoff_initial > self.backoff_max {
            return Err(BuildError::BackoffInverted {
                initial: self.backoff_initial,
                max: self.backoff_max,
            });
        }
        Ok(())
    }

    /// How often maintenance should run: the configured `maintenance_interval`, or a
    /// quarter of the shortest of `idle_timeout`, `max_lifetime` and `check_idle_after`,
    /// clamped to 10 ms ..= 1 s.
    pub fn maintenance_interval(&self) -> Duration {
        if let Some(d) = self.maintenance_interval {
            return d;
        }
        [self.idle_timeout, self.max_lifetime, self.check_idle_after]
            .into_iter()
            .flatten()
            .map(|d| d / 4)
            .min()
            .unwrap_or(Duration::from_secs(1))
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}
