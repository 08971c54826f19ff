//! Observability: the [`Event`]s a pool reports, the [`EventHandler`] that receives them,
//! and, with the `tracing` feature, their log lines under target `netpool`.
//!
//! # Implementation details
//!
//! Events are reported from the rare paths only: opening, failing to open, closing and
//! checking connections, the backoff, timed-out gets, resize and close. The hot path (an
//! idle connection handed out and returned) reports nothing, so it costs nothing whether a
//! handler is set or not. Each report site passes a closure that builds the event, and
//! [`Events::emit`] calls it only when a handler is set or a `tracing` subscriber wants
//! `netpool`'s events (so no clock is read for an event nobody receives).
//!
//! A handler runs synchronously, on the thread that caused the event, sometimes inside
//! `Drop` (a connection closed when its guard is dropped). Every report site is placed
//! where the pool's bookkeeping is already consistent (slots freed or owned by a guard), so
//! a handler that panics unwinds into the caller like a panicking [`Manager`](crate::Manager)
//! method and leaves the pool intact; while the thread is already unwinding, a handler's
//! panic is caught and dropped, since a second panic would abort the process.

use std::error::Error as StdError;
use std::fmt;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use crate::clock::unique_stamp;
use crate::clock::{self, Nanos};
use crate::error::LastConnectError;
use crate::idle::Idle;

/// Something the pool did or learned, given to the [`EventHandler`] set with
/// [`Builder::event_handler`](crate::Builder::event_handler) and, with the `tracing`
/// feature, logged under target `netpool`.
///
/// Connections are named by an id (a `u64` unique in the process, assigned when the
/// connection is opened, also in [`Meta::id`](crate::Meta::id)). Errors are lent by
/// reference: format them, or `downcast_ref` them to the manager's error type.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A new connection is ready for use: `connect` (and the
    /// [`on_connect`](crate::Hooks::on_connect) hook, if any) succeeded, or
    /// [`Pool::add`](crate::Pool::add) put one in (with `took` zero).
    ConnectionOpened {
        /// The new connection's id.
        id: u64,
        /// How long connecting (and the `on_connect` hook) took.
        took: Duration,
    },
    /// A connect failed, timed out, or its connection was rejected by the `on_connect`
    /// hook. Reported for every attempt, the ones maintenance makes in the background too.
    ConnectFailed {
        /// What went wrong.
        failure: ConnectFailure,
        /// The manager's (or the hook's) error; a [`TimedOut`] for a timeout.
        error: &'a (dyn StdError + 'static),
        /// How long the attempt took.
        took: Duration,
    },
    /// A connection was closed (or left the pool with [`Pooled::detach`](crate::Pooled::detach)).
    ConnectionClosed {
        /// The connection's id.
        id: u64,
        /// Why it was closed.
        reason: CloseReason,
        /// How long it was open.
        age: Duration,
        /// How many times it was checked out.
        uses: u64,
    },
    /// A check of an idle connection failed: `is_valid` (on checkout or in maintenance)
    /// or the [`on_checkout`](crate::Hooks::on_checkout) hook. The connection is closed
    /// (a [`ConnectionClosed`](Event::ConnectionClosed) follows).
    CheckFailed {
        /// The connection's id.
        id: u64,
        /// Which check failed.
        check: Check,
        /// Its error; a [`TimedOut`] if the deadline came first.
        error: &'a (dyn StdError + 'static),
    },
    /// A connect failed and the pool backs off: until `retry_in` has passed, gets that
    /// would have to connect fail at once with [`Error::Unavailable`](crate::Error::Unavailable).
    /// Reported on every failure that (re)arms the backoff; `failures` counts them.
    BackoffEntered {
        /// Connect failures in a row (connections that broke on their first use count).
        failures: u32,
        /// How long until the next connect may be tried.
        retry_in: Duration,
        /// The most recent failure.
        last_error: &'a LastConnectError,
    },
    /// A connection opened after failures came back healthy: the backoff is over.
    BackoffLeft {
        /// How many connect failures in a row there had been.
        failures: u32,
    },
    /// A `get` timed out: [`Error::Timeout`](crate::Error::Timeout).
    GetTimedOut {
        /// How long it waited.
        waited: Duration,
    },
    /// A connection has been checked out longer than the
    /// [`leak_threshold`](crate::Builder::leak_threshold): reported once per checkout, by
    /// maintenance (logged at `warn` under the `tracing` feature).
    HeldTooLong {
        /// The connection's id.
        id: u64,
        /// How long it has been checked out so far.
        held_for: Duration,
        /// Where it was checked out: the caller of `get` (or `get_blocking`, `try_get`, ...).
        site: &'static Location<'static>,
    },
    /// A connection reported by [`HeldTooLong`](Event::HeldTooLong) came back (or was
    /// detached or discarded).
    ReturnedAfterLeak {
        /// How long it was checked out (to within a maintenance interval when maintenance
        /// noticed the return).
        held_for: Duration,
    },
    /// [`Pool::resize`](crate::Pool::resize) changed `max_size`.
    Resized {
        /// The old `max_size`.
        from: usize,
        /// The new `max_size`.
        to: usize,
    },
    /// The pool was closed (by [`Pool::close`](crate::Pool::close), or when its last
    /// handle was dropped).
    Closed,
    /// [`Pool::refresh`](crate::Pool::refresh) ran (or a reported server fault refreshed
    /// the pool): the connections open now will be replaced.
    Refreshed {
        /// Connections open when it started, all to be replaced.
        stale: usize,
    },
    /// [`Pool::pause`](crate::Pool::pause): gets wait from now on.
    Paused,
    /// [`Pool::resume`](crate::Pool::resume): the waiting gets are served.
    Resumed,
}

/// How a connect failed, in [`Event::ConnectFailed`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The manager's `connect` returned an error.
    Error,
    /// `connect`, or the `on_connect` hook, did not finish before `connect_timeout` or the
    /// caller's deadline.
    TimedOut,
    /// The [`on_connect`](crate::Hooks::on_connect) hook rejected the new connection,
    /// which was closed.
    Rejected,
}

/// Which check failed, in [`Event::CheckFailed`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// [`Manager::is_valid`](crate::Manager::is_valid).
    IsValid,
    /// The [`on_checkout`](crate::Hooks::on_checkout) hook.
    OnCheckout,
}

/// Why a connection was closed, in [`Event::ConnectionClosed`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// `has_broken` said so when it came back, or its user discarded it
    /// ([`Pooled::discard`](crate::Pooled::discard), [`Pooled::set_broken`](crate::Pooled::set_broken)).
    Broken,
    /// `is_valid` failed (or timed out in maintenance).
    Invalid,
    /// The [`on_checkout`](crate::Hooks::on_checkout) hook rejected it.
    Rejected,
    /// It sat idle longer than `idle_timeout`.
    Idle,
    /// It reached its `max_lifetime`.
    Lifetime,
    /// [`Pool::retain`](crate::Pool::retain)'s predicate returned `false`.
    Retained,
    /// The pool was shrunk by [`Pool::resize`](crate::Pool::resize).
    Shrunk,
    /// The pool was closed.
    PoolClosed,
    /// A check or hook was cut short (the caller's deadline passed, its future was dropped,
    /// or something panicked): its state is unknown, so it was closed.
    Aborted,
    /// Not closed: taken out of the pool by [`Pooled::detach`](crate::Pooled::detach).
    Detached,
    /// A [`KeyedPool`](crate::KeyedPool)'s total cap was reached: closed to give its room
    /// to a caller of another key (returned while that caller waited, or the least
    /// recently used key's idle connection evicted for it). Counted in
    /// [`Stats::closed_handoff`](crate::Stats::closed_handoff).
    Handoff,
    /// It was opened before a [`Pool::refresh`](crate::Pool::refresh) (or a server fault
    /// reported with [`Pooled::report`](crate::Pooled::report)). Counted in
    /// [`Stats::closed_refreshed`](crate::Stats::closed_refreshed).
    Refreshed,
}

impl From<crate::types::CloseReason> for CloseReason {
    fn from(reason: crate::types::CloseReason) -> Self {
        use crate::types::CloseReason as R;
        match reason {
            R::Uncounted => Self::Aborted,
            R::Broken => Self::Broken,
            R::Invalid => Self::Invalid,
            R::Idle => Self::Idle,
            R::Lifetime => Self::Lifetime,
            R::Rejected => Self::Rejected,
            R::Retained => Self::Retained,
            R::Shrunk => Self::Shrunk,
            R::Closed => Self::PoolClosed,
            R::Handoff => Self::Handoff,
            R::Refreshed => Self::Refreshed,
        }
    }
}

/// The error of an operation cut short by a deadline, lent in [`Event::ConnectFailed`] and
/// [`Event::CheckFailed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} timed out")]
pub struct TimedOut {
    what: &'static str,
}

impl TimedOut {
    pub(crate) const CONNECT: Self = Self { what: "connect" };
    pub(crate) const ON_CONNECT: Self = Self {
        what: "the on_connect hook",
    };
    pub(crate) const IS_VALID: Self = Self { what: "is_valid" };
    pub(crate) const ON_CHECKOUT: Self = Self {
        what: "the on_checkout hook",
    };

    /// What timed out: `"connect"`, `"is_valid"`, `"the on_connect hook"` or
    /// `"the on_checkout hook"`.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

/// Receives a pool's [`Event`]s: set one with
/// [`Builder::event_handler`](crate::Builder::event_handler).
///
/// Implemented for every `Fn(&Event<'_>) + Send + Sync + 'static` closure.
///
/// # Called synchronously
///
/// `handle` runs on the thread that caused the event, while that thread is inside a pool
/// call (a `get`, the drop of a [`Pooled`](crate::Pooled), a maintenance pass), sometimes
/// in a destructor. Keep it short and non-blocking: bump a counter, record a histogram
/// sample, send to a channel. It must not call back into the same pool in a way that
/// waits (a `get_blocking` could deadlock).
///
/// A handler that panics leaves the pool consistent; the panic reaches the caller that
/// caused the event (as a panic in a [`Manager`](crate::Manager) method does), except
/// while that thread is already unwinding, when it is caught and dropped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use netpool_core::{Event, Pool};
/// # use std::convert::Infallible;
/// # struct Counter;
/// # impl netpool_core::Manager for Counter {
/// #     type Connection = u64;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<u64, Infallible> { Ok(0) }
/// #     async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut u64) -> bool { false }
/// # }
///
/// let opened = Arc::new(AtomicU64::new(0));
/// let seen = opened.clone();
/// let pool = Pool::builder()
///     .event_handler(move |event: &Event<'_>| {
///         if let Event::ConnectionOpened { .. } = event {
///             seen.fetch_add(1, Ordering::Relaxed);
///         }
///     })
///     .build(Counter)?;
/// drop(pool.get_blocking()?);
/// assert_eq!(opened.load(Ordering::Relaxed), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait EventHandler: Send + Sync + 'static {
    /// Receives one event. Called synchronously: see the trait's docs.
    fn handle(&self, event: &Event<'_>);

    /// Receives one event with the name of the pool that reported it
    /// ([`Builder::name`](crate::Builder::name)), for a handler shared by several pools.
    /// The pool calls this method; by default it calls [`handle`](Self::handle).
    fn handle_in(&self, pool: Option<&str>, event: &Event<'_>) {
        let _ = pool;
        self.handle(event);
    }
}

impl<F> EventHandler for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn handle(&self, event: &Event<'_>) {
        self(event);
    }
}

/// The pool's event sink: an optional handler, and the `tracing` glue.
#[derive(Clone, Default)]
pub(crate) struct Events {
    handler: Option<Arc<dyn EventHandler>>,
    /// The pool's name, given to the handler and logged.
    pub(crate) name: Option<Arc<str>>,
}

impl Events {
    pub(crate) fn new(handler: Option<Arc<dyn EventHandler>>) -> Self {
        Self {
            handler,
            name: None,
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.handler.is_some()
    }

    /// Reports the event `make` builds, if anyone receives it. Never inlined: the report
    /// sites sit next to hot code (a guard's drop), which stays as lean as without events.
    #[inline(never)]
    pub(crate) fn emit<'a>(&self, make: impl FnOnce() -> Event<'a>) {
        if self.handler.is_some() || tracing_wanted() {
            self.dispatch(&make());
        }
    }

    #[cold]
    fn dispatch(&self, event: &Event<'_>) {
        let name = self.name.as_deref();
        #[cfg(feature = "tracing")]
        log(name, event);
        if let Some(handler) = &self.handler {
            if std::thread::panicking() {
                // A second panic while unwinding would abort the process.
                let _ = catch_unwind(AssertUnwindSafe(|| handler.handle_in(name, event)));
            } else {
                handler.handle_in(name, event);
            }
        }
    }

    /// A connect attempt that started at `started` failed.
    pub(crate) fn connect_failed(
        &self,
        failure: ConnectFailure,
        error: &(dyn StdError + 'static),
        started: Instant,
    ) {
        self.emit(|| Event::ConnectFailed {
            failure,
            error,
            took: started.elapsed(),
        });
    }

    /// A connection is being closed for `reason`.
    #[inline(never)]
    pub(crate) fn closed<C>(&self, item: &Idle<C>, reason: CloseReason) {
        self.emit(|| Event::ConnectionClosed {
            id: item.id(),
            reason,
            age: Duration::from_nanos(clock::now().saturating_sub(item.created)),
            uses: u64::from(item.uses),
        });
    }

    /// A check of connection `id` failed with `error`.
    pub(crate) fn check_failed(&self, id: u64, check: Check, error: &(dyn StdError + 'static)) {
        self.emit(|| Event::CheckFailed { id, check, error });
    }

    /// A connection proved the server works after `failures` failed connects.
    #[cold]
    #[inline(never)]
    pub(crate) fn backoff_left(&self, failures: u32) {
        self.emit(|| Event::BackoffLeft { failures });
    }

    /// The backoff was (re)armed.
    pub(crate) fn backoff(&self, failures: u32, retry_in: Nanos, last_error: &LastConnectError) {
        self.emit(|| Event::BackoffEntered {
            failures,
            retry_in: Duration::from_nanos(retry_in),
            last_error,
        });
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("handler", &self.handler.is_some())
            .finish()
    }
}

/// Whether a `tracing` subscriber wants `netpool`'s events (the least verbose one we log
/// is at `warn`): a relaxed load of the callsite's cached interest when none does.
#[inline]
fn tracing_wanted() -> bool {
    #[cfg(feature = "tracing")]
    {
        tracing::enabled!(target: "netpool", tracing::Level::WARN)
    }
    #[cfg(not(feature = "tracing"))]
    {
        false
    }
}

/// An error with its sources, joined by `": "`.
#[cfg_attr(
    not(feature = "tracing"),
    allow(dead_code, reason = "used by the tracing glue")
)]
struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        // Bounded: a cyclic source chain would be a bug in the error type.
        for _ in 0..32 {
            let Some(s) = source else { break };
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// Logs `event` under target `netpool`: failures at `warn` (connects, entering the backoff)
/// or `debug` (checks, timed-out gets, the backoff re-armed), routine opens and closes at
/// `debug`, recovery at `info`.
#[cfg(feature = "tracing")]
fn log(name: Option<&str>, event: &Event<'_>) {
    const T: &str = "netpool";
    let pool = name.unwrap_or("default");
    match *event {
        Event::ConnectionOpened { id, took } => {
            tracing::debug!(target: T, pool, id, ?took, "connection opened");
        }
        Event::ConnectFailed {
            failure,
            error,
            took,
        } => {
            tracing::warn!(target: T, pool, ?failure, error = %Chain(error), ?took, "connect failed");
        }
        Event::ConnectionClosed {
            id,
            reason,
            age,
            uses,
        } => {
            tracing::debug!(target: T, pool, id, ?reason, ?age, uses, "connection closed");
        }
        Event::CheckFailed { id, check, error } => {
            tracing::debug!(target: T, pool, id, ?check, error = %Chain(error), "check failed");
        }
        Event::BackoffEntered {
            failures,
            retry_in,
            last_error,
        } if failures <= 1 => {
            tracing::warn!(target: T, pool, failures, ?retry_in, last_error = %last_error, "backing off");
        }
        // Each further failure re-arms it: a line per probe, not a warning per probe.
        Event::BackoffEntered {
            failures,
            retry_in,
            last_error,
        } => {
            tracing::debug!(target: T, pool, failures, ?retry_in, last_error = %last_error, "backing off");
        }
        Event::BackoffLeft { failures } => {
            tracing::info!(target: T, pool, failures, "backoff over: a new connection works");
        }
        // Logged with the pool's state by `Shared::timed_out`.
        Event::GetTimedOut { .. } => {}
        Event::HeldTooLong { id, held_for, site } => {
            tracing::warn!(
                target: T,
                pool,
                id,
                ?held_for,
                site = %site,
                "connection held longer than the leak threshold by {}:{}",
                site.file(),
                site.line()
            );
        }
        Event::ReturnedAfterLeak { held_for } => {
            tracing::info!(target: T, pool, ?held_for, "connection held too long came back");
        }
        Event::Resized { from, to } => {
            tracing::debug!(target: T, pool, from, to, "pool resized");
        }
        Event::Closed => tracing::debug!(target: T, pool, "pool closed"),
        Event::Refreshed { stale } => {
            tracing::info!(target: T, pool, stale, "pool refreshed: replacing its connections");
        }
        Event::Paused => tracing::info!(target: T, pool, "pool paused"),
        Event::Resumed => tracing::info!(target: T, pool, "pool resumed"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Chain, unique_stamp};

    #[test]
    fn stamps_are_unique_across_threads_and_follow_the_clock() {
        let stamps: Vec<u64> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| unique_stamp(5)).collect::<Vec<_>>()))
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let mut sorted = stamps.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), stamps.len(), "no two connections share an id");
        // Other tests of this binary stamp real connections meanwhile (with the real clock,
        // far above these): "later" is later than them all, by 5 ms, so that a stamp taken
        // by a parallel test between this line and the next is below it.
        let later = sorted[sorted.len() - 1].max(crate::clock::now()) + 5_000_000;
        assert_eq!(
            unique_stamp(later),
            later,
            "a later clock reading is taken as is"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_joins_sources() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(Chain(&e).to_string(), "outer: inner");
    }
}
