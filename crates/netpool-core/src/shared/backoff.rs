//! The connect backoff and fail-fast rule ([`Backoff`]): evidence that the server is down,
//! the probe, the spacing of new connects, and the `suspects` word's flags.

use std::time::{Duration, Instant};

use event_listener::{Event, EventListener};

use super::deadline::{Deadline, run_until};
use crate::clock::{self, Nanos};
use crate::error::LastConnectError;
use crate::events::Events;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering, lock};

/// Why a caller that needs a new connection may not open one.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Connect attempts failed (evidence that the server is down).
    Unavailable {
        failures: u32,
        last: LastConnectError,
    },
    /// The caller's deadline passed while it waited for its turn to connect.
    Timeout,
    /// Not this caller's turn to connect, and it may not wait (maintenance): no get ran,
    /// so nothing is counted.
    NotYet,
    /// The pool was closed (before or while the caller waited for its turn).
    Closed,
}

/// Waits until the coarse instant `until` (if any), a notification on `listener` (if
/// any) or the caller's deadline, whichever comes first: `Err(Timeout)` if it was the
/// deadline. The backoff's waits (for a probe's outcome, for a turn to connect).
pub(super) async fn pause(
    deadline: &mut Deadline,
    until: Option<Nanos>,
    listener: Option<EventListener>,
) -> Result<(), Refused> {
    let until = until.map(|t| clock::instant_after(t.saturating_sub(clock::now())));
    let at = match (deadline.at(), until) {
        (Some(d), Some(u)) => Some(d.min(u)),
        (d, u) => d.or(u),
    };
    let woken = match listener {
        Some(listener) => run_until(at, listener).await.is_some(),
        None => run_until(at, std::future::pending::<()>()).await.is_some(),
    };
    if !woken && deadline.at().is_some_and(|d| Instant::now() >= d) {
        return Err(Refused::Timeout);
    }
    Ok(())
}

/// After this many connect attempts failed in a row, a caller that would have to connect
/// while the pool backs off fails at once with `Unavailable`; after fewer, it waits for
/// the outcome of the next attempt (within its deadline).
pub(super) const FAIL_FAST_AFTER: u32 = 3;

/// A bit of [`Shared::timed`](super::Shared::timed): a setting needs the clock at checkout.
pub(crate) const TIMED: u32 = 1;
/// A bit of [`Shared::timed`](super::Shared::timed): a refresh is under way; checkout closes stale connections.
pub(crate) const STALE: u32 = 2;

/// The bit of [`Backoff::suspects`] that says a refresh is under way: returning
/// connections already load that word (to forget suspicion), so they learn of a refresh
/// without another load. The other bits count suspects.
pub(crate) const REFRESHING: u32 = 1 << 31;
/// The bits of [`Backoff::suspects`] that count suspects.
pub(super) const SUSPECTS: u32 = !REFRESHING;

/// The connect backoff and fail-fast rule.
///
/// * Evidence that the server is down is a connect attempt that failed (the manager's
///   error, or `connect_timeout` firing). After one, `retry_at` is pushed out by an
///   exponential, jittered delay; from then on one caller at a time (the *probe*) may
///   connect once `retry_at` passed. A caller that needs to connect meanwhile waits for
///   the outcome of the next attempt (its own, as the next probe, or another caller's):
///   if that attempt fails it gets `Unavailable`, if it succeeds it connects. After
///   [`FAIL_FAST_AFTER`] failures in a row, such callers fail at once instead of waiting.
/// * A connect that succeeds after failures ends them, but the pool stays half-open (one
///   connect per delay, callers wait their turn) until a connection comes back healthy;
///   until then a new failure's delay continues the ended streak's exponential instead of
///   starting over (a server that accepts and resets, or fails every other connect).
/// * A connection that fails on its first use (`has_broken`, discarded, `is_valid`) is
///   evidence about that connection only: it never fails a caller. Two or more in a row
///   (with no healthy return in between) *space out* new connects by the same exponential
///   delay, and callers wait for their turn within their deadline.
#[derive(Debug)]
pub(super) struct Backoff {
    /// Connect attempts failed in a row.
    pub(super) failures: AtomicU32,
    /// Finished connect attempts (success or failure), to tell a waiter that the attempt
    /// it waited for is over.
    pub(super) attempts: AtomicU64,
    /// Notified when an attempt finishes or a probe is abandoned.
    pub(super) outcome: Event,
    pub(super) retry_at: AtomicU64,
    pub(super) probing: AtomicBool,
    pub(super) last: Mutex<Option<LastConnectError>>,
    /// New connections that failed on their first use since one was proven.
    pub(super) suspects: AtomicU32,
    /// Connect failures ended by a success since a connection was last proven: the next
    /// failure's delay continues from them instead of starting over, so a server that
    /// alternates accepted-then-reset and failed connects is not retried at the initial
    /// delay after every "success". Cleared when a connection comes back healthy.
    pub(super) carried: AtomicU32,
    /// While suspects >= 2: the earliest start of the next connect.
    pub(super) next_connect_at: AtomicU64,
    pub(super) initial: Nanos,
    pub(super) max: Nanos,
}

/// The one probe after a backoff; lets the next one go when dropped.
pub(crate) struct ProbeGuard<'a> {
    pub(super) backoff: &'a Backoff,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        self.backoff.probing.store(false, Ordering::Release);
        // An abandoned probe (its caller's deadline, or a dropped future) lets a waiter
        // take its place.
        self.backoff.outcome.notify(usize::MAX);
    }
}

impl Backoff {
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            failures: AtomicU32::new(0),
            attempts: AtomicU64::new(0),
            outcome: Event::new(),
            retry_at: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            last: Mutex::new(None),
            suspects: AtomicU32::new(0),
            carried: AtomicU32::new(0),
            next_connect_at: AtomicU64::new(0),
            initial: clock::nanos(initial),
            max: clock::nanos(max),
        }
    }

    /// The exponential delay after `n` events in a row (n >= 1), capped, with "equal
    /// jitter": half fixed, half random, so probes from many pools spread out.
    pub(super) fn delay(&self, n: u32) -> Nanos {
        let exp = n.saturating_sub(1).min(20);
        let delay = self.initial.saturating_mul(1 << exp).min(self.max);
        delay / 2 + fastrand::u64(0..=delay / 2)
    }

    pub(super) fn unavailable(&self, failures: u32) -> Refused {
        let last = lock(&self.last)
            .clone()
            .unwrap_or_else(LastConnectError::connect_timeout);
        Refused::Unavailable { failures, last }
    }

    /// Arms the backoff after a failure: returns the failures in a row and the delay.
    pub(super) fn failed(&self, err: LastConnectError) -> (u32, Nanos) {
        *lock(&self.last) = Some(err);
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let delay = self.delay(failures.saturating_add(self.carried.load(Ordering::Acquire)));
        self.retry_at
            .store(clock::now().saturating_add(delay), Ordering::Release);
        self.attempts.fetch_add(1, Ordering::AcqRel);
        self.outcome.notify(usize::MAX);
        (failures, delay)
    }

    /// A connect succeeded: the server is reachable, callers connect again (and the end
    /// of the backoff is reported).
    pub(super) fn succeeded(&self, events: &Events) {
        let failures = self.failures.swap(0, Ordering::AcqRel);
        if failures != 0 {
            // The streak's length stays (for the next failure's delay) until proven.
            let _always = self
                .carried
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                    Some(c.saturating_add(failures))
                });
            // Half-open until a connection proves itself: connects go one per delay, as
            // after first-use failures (callers wait their turn, none fails), so a server
            // that accepts and then resets does not get a burst after every "success".
            let _always = self
                .suspects
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                    Some(s & REFRESHING | (s & SUSPECTS).max(2))
                });
            let at = clock::now().saturating_add(self.initial);
            self.next_connect_at.fetch_max(at, Ordering::AcqRel);
            self.attempts.fetch_add(1, Ordering::AcqRel);
            self.outcome.notify(usize::MAX);
            events.backoff_left(failures);
        }
    }

    /// A new connection failed on its first use.
    pub(super) fn suspect(&self) {
        let suspects = (self.suspects.fetch_add(1, Ordering::AcqRel) & SUSPECTS).saturating_add(1);
        if suspects >= 2 {
            let at = clock::now().saturating_add(self.delay(suspects - 1));
            self.next_connect_at.fetch_max(at, Ordering::AcqRel);
        }
    }

    /// While new connections keep failing on first use: waits for this caller's turn to
    /// connect, one connect per delay. Never fails a caller but by its own deadline, or
    /// with `Closed` once `closed` is set (`close` wakes the wait).
    pub(super) async fn throttle(
        &self,
        deadline: &mut Deadline,
        wait: bool,
        closed: &AtomicBool,
    ) -> Result<(), Refused> {
        loop {
            if closed.load(Ordering::SeqCst) {
                return Err(Refused::Closed);
            }
            let suspects = self.suspects.load(Ordering::Acquire) & SUSPECTS;
            if suspects < 2 {
                return Ok(());
            }
            let now = clock::now();
            let at = self.next_connect_at.load(Ordering::Acquire);
            if now >= at {
                let next = now.saturating_add(self.delay(suspects - 1));
                if self
                    .next_connect_at
                    .compare_exchange(at, next, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if !wait {
                return Err(Refused::NotYet);
            }
            // Its turn, its deadline if that comes first, or `close` (which notifies
            // `outcome`; so does a finished attempt: then it only re-checks).
            let listener = self.outcome.listen();
            if closed.load(Ordering::SeqCst) {
                return Err(Refused::Closed);
            }
            pause(deadline, Some(at), Some(listener)).await?;
        }
    }

    /// A connection came back healthy: the server works, forget the suspicion.
    /// Returns whether the [`REFRESHING`] flag is up.
    #[inline]
    pub(super) fn proven(&self) -> bool {
        let word = self.suspects.load(Ordering::Relaxed);
        if word != 0 {
            return self.proven_slow(word);
        }
        false
    }

    #[cold]
    #[inline(never)]
    pub(super) fn proven_slow(&self, word: u32) -> bool {
        if word & SUSPECTS != 0 {
            self.suspects.fetch_and(REFRESHING, Ordering::Release);
            self.carried.store(0, Ordering::Release);
        }
        word & REFRESHING != 0
    }
}
