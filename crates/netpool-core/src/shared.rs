//! The non-generic heart of the pool: permits, the connection count, wake-ups, backoff.
//!
//! # Implementation details
//!
//! Everything here is independent of the manager type, so it is compiled once.
//! Split by concern: the deadlines of waits in `deadline`, the connect backoff in
//! `backoff`, the permit in `permit`, a refresh's bookkeeping in `refresh`; this file
//! keeps [`Shared`] (the connection count, the waits and wake-ups) and the methods that
//! tie them together.
//!
//! * `sema` (see [`crate::sema`]) bounds the callers that hold or open a connection, and
//!   queues waiters first come, first served.
//! * `size` counts open connections, including the ones being opened. A slot is reserved
//!   by a CAS that keeps `size <= max_size` *before* `connect` starts, and freed when the
//!   connection is closed, so the cap holds at every instant (semantic 1). Every
//!   reservation is owned by a [`Slot`] guard until the connection exists.
//! * A permit holder that finds the idle queue empty and no free slot (maintenance holds
//!   an idle connection for a moment, or the pool was shrunk) waits on `capacity`, which is
//!   notified when a slot is freed or a connection goes idle while such a waiter exists.
//!   The waiter counts itself in `capacity_waiters` (SeqCst) before re-checking, and the
//!   notifier reads it (SeqCst) after publishing, so one of the two sees the other.
//! * `closed` is set before idle connections are drained; a return re-reads it after
//!   pushing, so no connection is left idle in a closed pool (semantic 7).
//! * Backoff and fail-fast, on evidence only (see [`Backoff`]): a failed connect pushes
//!   `retry_at` out by an exponential, jittered delay; callers that need to connect
//!   meanwhile wait for the outcome of the next attempt and get `Error::Unavailable` only
//!   if it fails (at once after three failures in a row). Connections that fail on their
//!   first use only space out new connects; they never fail another caller.

use std::future::Future;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use event_listener::Event;

mod backoff;
mod deadline;
mod permit;
mod refresh;

use self::backoff::{Backoff, FAIL_FAST_AFTER, SUSPECTS, pause};
pub(crate) use self::backoff::{ProbeGuard, REFRESHING, Refused, STALE, TIMED};
pub(crate) use self::deadline::{Deadline, WaitError, run_until};
pub(crate) use self::permit::{Hold, Permit};
use self::refresh::{Refresh, Turn};

use crate::clock::{self, Epoch, Nanos};
use crate::config::Config;
use crate::error::{Error, LastConnectError};
use crate::events::{self, ConnectFailure, Events, TimedOut};
use crate::holders::TimeoutReport;
use crate::sema::{Keep, Semaphore, TryAcquireError};
use crate::stats::Counters;
use crate::sync::{AtomicBool, AtomicU32, AtomicUsize, Mutex, Ordering, lock};

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) max_size: AtomicUsize,
    pub(crate) size: CachePadded<AtomicUsize>,
    pub(crate) sema: Semaphore,
    /// Held by `resize` while it changes `max_size` and the permits.
    resizing: Mutex<()>,
    closed: AtomicBool,
    /// Trims asked for and not yet done; the caller that raises it from 0 trims for all
    /// (see `Inner::trim_idle`).
    pub(crate) trims: AtomicUsize,
    capacity: Event,
    capacity_waiters: AtomicUsize,
    drained: Event,
    pub(crate) counters: Counters,
    /// Numbers the passes over the idle queue (maintenance, `retain`).
    pub(crate) passes: AtomicU32,
    backoff: Backoff,
    pub(crate) epoch: Epoch,
    /// `idle_timeout` in nanoseconds, `Nanos::MAX` when off.
    pub(crate) idle_timeout: Nanos,
    /// `max_lifetime` in nanoseconds.
    pub(crate) max_lifetime: Option<Nanos>,
    /// When `is_valid` runs at checkout: `None` never, `Some(0)` always, else after this
    /// much idle time.
    pub(crate) check_after: Option<Nanos>,
    /// Whether any checkout decision depends on the time (so the clock must be read):
    /// [`TIMED`] when a setting (or the checkout hook) needs it, plus [`STALE`] while a
    /// refresh is under way (checkout then also closes connections that predate it). One
    /// relaxed load per checkout, a plain load on x86 and ARM, as the `bool` it was.
    pub(crate) timed: AtomicU32,
    /// The event handler and the `tracing` glue.
    pub(crate) events: Events,
    /// The cap shared with the other keys of a [`KeyedPool`](crate::KeyedPool), if any.
    pub(crate) global: Option<crate::keyed::cap::Link>,
    /// Hold-time diagnostics, the pool's name and its metrics (see [`crate::holders`]).
    pub(crate) diag: crate::holders::Diag,
    /// Refresh bookkeeping (see [`crate::refresh`]).
    pub(crate) refresh: Refresh,
    /// The deadlines of checkout checks (see [`crate::watchdog`]).
    pub(crate) alarms: crate::watchdog::Alarms,
}

impl Shared {
    pub(crate) fn new(config: Config, mut events: Events) -> Self {
        let diag = crate::holders::Diag::new(&config);
        events.name.clone_from(&diag.name);
        let check_after = if config.test_on_check_out {
            Some(config.check_idle_after.map_or(0, clock::nanos))
        } else {
            None
        };
        let timed = config.idle_timeout.is_some()
            || config.max_lifetime.is_some()
            || check_after.is_some_and(|after| after > 0);
        Self {
            max_size: AtomicUsize::new(config.max_size),
            size: CachePadded::new(AtomicUsize::new(0)),
            sema: Semaphore::new(config.max_size),
            resizing: Mutex::new(()),
            closed: AtomicBool::new(false),
            trims: AtomicUsize::new(0),
            capacity: Event::new(),
            capacity_waiters: AtomicUsize::new(0),
            drained: Event::new(),
            counters: Counters::default(),
            passes: AtomicU32::new(0),
            backoff: Backoff::new(config.backoff_initial, config.backoff_max),
            refresh: Refresh::new(config.refresh_connects),
            epoch: Epoch::new(),
            idle_timeout: config.idle_timeout.map_or(Nanos::MAX, clock::nanos),
            max_lifetime: config.max_lifetime.map(clock::nanos),
            check_after,
            timed: AtomicU32::new(if timed { TIMED } else { 0 }),
            config,
            events,
            global: None,
            diag,
            alarms: crate::watchdog::Alarms::new(),
        }
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Marks the pool closed and wakes every waiter. The caller drains the idle queue,
    /// then drops what this returns (the pool's keep-alive, if no permit is held: see
    /// [`Semaphore::keep_alive`]).
    #[must_use = "drop the Keep after the last use of the pool"]
    pub(crate) fn close(&self) -> Option<Keep> {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.events.emit(|| events::Event::Closed);
        }
        let keep = self.sema.close();
        self.capacity.notify(usize::MAX);
        // Callers waiting in the backoff (for a probe's outcome or their turn) re-check.
        self.backoff.outcome.notify(usize::MAX);
        self.notify_if_drained();
        keep
    }

    /// Reserves room for one more connection, if `size < max_size` (and, in a keyed pool,
    /// the cap shared by all keys is not reached).
    #[inline]
    pub(crate) fn reserve(&self) -> Option<Slot<'_>> {
        let slot = self.reserve_local()?;
        if let Some(global) = &self.global {
            if !global.try_acquire() {
                slot.unreserve();
                return None;
            }
        }
        Some(slot)
    }

    /// Reserves room in this pool only, if `size < max_size`.
    #[inline]
    pub(crate) fn reserve_local(&self) -> Option<Slot<'_>> {
        let max = self.max_size.load(Ordering::Relaxed);
        let mut cur = self.size.load(Ordering::Relaxed);
        while cur < max {
            match self
                .size
                .compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return Some(Slot { shared: self }),
                Err(actual) => cur = actual,
            }
        }
        None
    }

    /// A connection was closed: free its slot and wake whoever waits for room.
    pub(crate) fn slot_freed(&self) {
        self.size.fetch_sub(1, Ordering::SeqCst);
        if let Some(global) = &self.global {
            global.release();
        }
        self.notify_capacity();
        self.notify_if_drained();
    }

    /// Wakes `wait_closed` once the pool is closed and every connection is gone.
    fn notify_if_drained(&self) {
        if self.is_closed() && self.size.load(Ordering::SeqCst) == 0 {
            self.drained.notify(usize::MAX);
        }
    }

    /// A connection went idle or a slot was freed.
    #[inline]
    pub(crate) fn notify_capacity(&self) {
        if self.capacity_waiters.load(Ordering::SeqCst) != 0 {
            self.capacity.notify_additional(1);
        }
    }

    /// Whether no slot is free.
    pub(crate) fn over_or_at_capacity(&self) -> bool {
        self.size.load(Ordering::SeqCst) >= self.max_size.load(Ordering::SeqCst)
    }

    /// Whether the pool is over its cap (after a shrink). `SeqCst`, to pair with
    /// [`Shared::set_max_size`] (see `Inner::push_idle`); a plain load on x86.
    #[inline]
    pub(crate) fn over_capacity(&self) -> bool {
        self.size.load(Ordering::SeqCst) > self.max_size.load(Ordering::SeqCst)
    }

    /// Changes the cap and the permits together, under one lock, so that concurrent
    /// resizes cannot leave `max_size` and the number of permits disagreeing.
    /// Returns the old cap.
    ///
    /// Returns a [`Hold`] too, taken after the new cap was stored: until the caller
    /// drops it (after trimming the idle queue), returning guards settle the pool before
    /// they release, so that a return racing the resize either sees the new cap or
    /// pushed before the hold, and then the trim sees its connection.
    pub(crate) fn set_max_size(&self, max_size: usize) -> (usize, Hold<'_>) {
        let _one_at_a_time = lock(&self.resizing);
        let from = self.max_size.swap(max_size, Ordering::SeqCst);
        self.sema.resize(max_size);
        (from, Hold::new(&self.sema))
    }

    /// Waits for a permit: the caller is queued behind earlier waiters.
    pub(crate) async fn wait_permit(
        &self,
        deadline: &mut Deadline,
    ) -> Result<Permit<'_>, WaitError> {
        // One clock read for the deadline and the start of the wait, when the deadline is
        // computed here (a `get` that found no permit).
        let (at, read) = deadline.at_read();
        let mut waiter = self.sema.waiter(at);
        let mut started = None;
        let wait = std::future::poll_fn(|cx| {
            let poll = waiter.poll(cx);
            if poll.is_pending() && started.is_none() {
                started = Some(read.unwrap_or_else(clock::precise_now));
                self.counters.gets_waited.bump();
            }
            poll
        });
        // The semaphore's watchdog enforces the deadline (see `crate::sema`).
        let result = match wait.await {
            Ok(()) => Ok(Permit::new(&self.sema)),
            Err(TryAcquireError::Timeout) => Err(WaitError::Timeout),
            Err(_) => Err(WaitError::Closed),
        };
        if let Some(started) = started {
            self.add_wait_time(started);
        }
        result
    }

    /// Waits until a connection goes idle or a slot is freed, whichever `ready` checks.
    pub(crate) async fn wait_capacity(
        &self,
        ready: impl Fn() -> bool,
        deadline: &mut Deadline,
    ) -> Result<(), WaitError> {
        self.capacity_waiters.fetch_add(1, Ordering::SeqCst);
        // Returns settle (and so wake this waiter) while it waits; a return that released
        // before the hold pushed before it, and `ready` below sees its connection.
        let _registered = CapacityWaiter {
            shared: self,
            _hold: Hold::new(&self.sema),
        };
        let at = deadline.at_nanos();
        let started = clock::precise_now();
        let result = loop {
            let listener = self.capacity.listen();
            if self.is_closed() {
                break Err(WaitError::Closed);
            }
            if ready() {
                break Ok(());
            }
            // On the pool's alarms: no timer of its own per wait.
            if self.alarms.run_until_lazy(|| at, listener).await.is_none() {
                break Err(WaitError::Timeout);
            }
        };
        self.add_wait_time(started);
        result
    }

    /// Waits until the pool is closed and every connection is gone.
    pub(crate) async fn wait_drained(&self) {
        loop {
            let listener = self.drained.listen();
            if self.is_closed() && self.size.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    }

    /// Lets a caller that holds a reserved slot open a connection, under the connect
    /// backoff's rules (see [`Backoff`]): `Ok(Some(probe))` when it connects as the one
    /// probe after failures. `wait`: whether it may wait for the outcome of a probe in
    /// flight or for its turn (not for maintenance).
    pub(crate) async fn admit(
        &self,
        deadline: &mut Deadline,
        wait: bool,
    ) -> Result<Option<ProbeGuard<'_>>, Refused> {
        let backoff = &self.backoff;
        if !self.config.fail_fast {
            return Ok(None);
        }
        // The attempts counter when this caller started waiting for an outcome.
        let mut waited_on: Option<u64> = None;
        loop {
            // Re-checked after every wait: `close` wakes the waits below.
            if self.is_closed() {
                return Err(Refused::Closed);
            }
            let failures = backoff.failures.load(Ordering::Acquire);
            if failures == 0 {
                backoff.throttle(deadline, wait, &self.closed).await?;
                return Ok(None);
            }
            // An attempt this caller waited for finished, and the server is still down.
            if waited_on.is_some_and(|seen| backoff.attempts.load(Ordering::Acquire) != seen) {
                return Err(backoff.unavailable(failures));
            }
            let now = clock::now();
            let retry_at = backoff.retry_at.load(Ordering::Acquire);
            if now >= retry_at
                && backoff
                    .probing
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Ok(Some(ProbeGuard { backoff }));
            }
            if failures >= FAIL_FAST_AFTER || !wait {
                return Err(backoff.unavailable(failures));
            }
            // Wait for the probe in flight, or for the next probe's time.
            let listener = backoff.outcome.listen();
            let seen = *waited_on.get_or_insert_with(|| backoff.attempts.load(Ordering::Acquire));
            if self.is_closed()
                || backoff.failures.load(Ordering::Acquire) == 0
                || backoff.attempts.load(Ordering::Acquire) != seen
                || (clock::now() >= retry_at && !backoff.probing.load(Ordering::Acquire))
            {
                continue;
            }
            // Until the next probe's time, or (a probe is in flight) until its outcome.
            let until = (clock::now() < retry_at).then_some(retry_at);
            pause(deadline, until, Some(listener)).await?;
        }
    }

    /// A connect attempt failed: evidence that the server may be down.
    /// A new connection's `on_connect` hook failed (`None`: it ran past the connect's
    /// bound): counted and reported as a failed connect. The caller's error.
    pub(crate) fn on_connect_failed<E: std::error::Error + 'static>(
        &self,
        failure: Option<E>,
        started: Instant,
    ) -> Error<E> {
        match failure {
            None => {
                let timed_out = &TimedOut::ON_CONNECT;
                (self.events).connect_failed(ConnectFailure::TimedOut, timed_out, started);
                self.connect_failed(LastConnectError::from_error(timed_out));
                Error::ConnectTimeout
            }
            Some(e) => {
                (self.events).connect_failed(ConnectFailure::Rejected, &e, started);
                self.connect_failed(LastConnectError::from_error(&e));
                Error::Connect(e)
            }
        }
    }

    pub(crate) fn connect_failed(&self, err: LastConnectError) {
        Counters::bump(&self.counters.connect_errors);
        let (failures, retry_in) = self.backoff.failed(err.clone());
        self.events.backoff(failures, retry_in, &err);
    }

    /// A connect gave up at its caller's own deadline (or was driven by a thread that may
    /// block its own runtime): counted, but no evidence about the server.
    pub(crate) fn connect_abandoned(&self) {
        Counters::bump(&self.counters.connect_errors);
    }

    pub(crate) fn connect_succeeded(&self) {
        Counters::bump(&self.counters.connections_created);
        self.backoff.succeeded(&self.events);
    }

    /// A connection failed on its first use (broken, discarded or invalid before it was
    /// ever returned healthy). That is evidence about the connection, not that the server
    /// is down: it never fails another caller, but two or more in a row space out new
    /// connects (a server that accepts and then resets every connection is not hammered).
    pub(crate) fn failed_on_first_use(&self) {
        self.backoff.suspect();
    }

    /// Whether recent connects failed, or new connections keep failing on first use.
    pub(crate) fn backing_off(&self) -> bool {
        self.backoff.failures.load(Ordering::Relaxed) != 0
            || self.backoff.suspects.load(Ordering::Relaxed) & SUSPECTS >= 2
    }

    /// A connection came back healthy. Returns whether a [`refresh`](crate::Pool::refresh)
    /// is under way (read from the same word, so a return pays nothing for it: see
    /// [`REFRESHING`]).
    #[inline]
    pub(crate) fn connection_proven(&self) -> bool {
        self.backoff.proven()
    }

    /// Raises or clears the [`REFRESHING`] flag that returns read in
    /// [`connection_proven`](Self::connection_proven).
    pub(crate) fn set_refreshing(&self, on: bool) {
        if on {
            self.timed.fetch_or(STALE, Ordering::SeqCst);
            self.backoff.suspects.fetch_or(REFRESHING, Ordering::SeqCst);
        } else {
            self.backoff
                .suspects
                .fetch_and(!REFRESHING, Ordering::SeqCst);
            self.timed.fetch_and(!STALE, Ordering::SeqCst);
        }
    }

    /// Whether the [`REFRESHING`] flag is up.
    pub(crate) fn refreshing(&self) -> bool {
        self.backoff.suspects.load(Ordering::SeqCst) & REFRESHING != 0
    }

    /// Callers queued for a permit or for room.
    pub(crate) fn waiting(&self) -> usize {
        self.sema.waiting() + self.capacity_waiters.load(Ordering::Relaxed)
    }

    /// Adds a wait that started at `started` ([`clock::precise_now`]). Waits are timed
    /// with the precise clock (only callers that wait pay for it): the coarse clock's
    /// tick of a few ms would read most short waits as zero.
    fn add_wait_time(&self, started: Nanos) {
        let waited = clock::precise_now().saturating_sub(started);
        self.counters.wait_time_ns.add(waited);
        #[cfg(feature = "metrics")]
        self.diag.meter.waited(Duration::from_nanos(waited));
    }
}

impl Shared {
    /// Checks `conn` until the deadline `at()` gives (asked for only if the check does
    /// not answer at once; `None` if the deadline came first): the manager's
    /// [`is_valid_now`](crate::Manager::is_valid_now) answer (unless it was `asked`
    /// already), else its `is_valid`, bounded by the checks' alarms. The one check of
    /// pools and shared pools, on checkout and in maintenance.
    pub(crate) async fn check<M: crate::Manager>(
        &self,
        manager: &M,
        conn: &mut M::Connection,
        at: impl FnOnce() -> Option<Nanos>,
        asked: bool,
    ) -> Option<Result<(), M::Error>> {
        if !asked && let Some(result) = manager.is_valid_now(conn) {
            return Some(result);
        }
        let check = manager.is_valid(conn);
        self.alarms.run_until_lazy(at, check).await
    }

    /// Runs a manager's `connect` within the caller's `deadline` and `connect_timeout`,
    /// and reports a failure to the events and to the backoff: a connect that hit
    /// `connect_timeout` (not only the caller's own deadline) or failed is evidence about
    /// the server (see [`Backoff`]). On success, returns the connection with the bound it
    /// ran under and when it started; the caller reports the success.
    pub(crate) async fn connect_bounded<C, E: std::error::Error + 'static>(
        &self,
        deadline: &mut Deadline,
        connect: impl Future<Output = Result<C, E>>,
    ) -> Result<(C, Option<Instant>, Instant), crate::error::Error<E>> {
        use crate::error::Error;
        use crate::events::{ConnectFailure, TimedOut};
        let connect_at = self
            .config
            .connect_timeout
            .and_then(|t| Instant::now().checked_add(t));
        // Which bound fires first, and whether that is evidence about the server.
        let (at, evidence) = match (deadline.at(), connect_at) {
            (Some(caller), Some(connect)) if connect <= caller => (Some(connect), true),
            (Some(caller), _) => (Some(caller), false),
            (None, connect) => (connect, connect.is_some()),
        };
        let evidence = evidence && !deadline.blocking;
        let started = Instant::now();
        let timed_out = |error: &(dyn std::error::Error + 'static)| {
            self.events
                .connect_failed(ConnectFailure::TimedOut, error, started);
            if evidence {
                self.connect_failed(LastConnectError::connect_timeout());
            } else {
                self.connect_abandoned();
            }
            Err(Error::ConnectTimeout)
        };
        match run_until(at, connect).await {
            None => timed_out(&TimedOut::CONNECT),
            // A connect that gave up at the deadline (a manager with its own timeout, or a
            // blocking connect) timed out, whatever error it returned.
            Some(Err(e)) if at.is_some_and(|at| Instant::now() >= at) => timed_out(&e),
            Some(Err(e)) => {
                self.events
                    .connect_failed(ConnectFailure::Error, &e, started);
                self.connect_failed(LastConnectError::from_error(&e));
                Err(Error::Connect(e))
            }
            Some(Ok(conn)) => Ok((conn, at, started)),
        }
    }
}

struct CapacityWaiter<'a> {
    shared: &'a Shared,
    _hold: Hold<'a>,
}

impl Drop for CapacityWaiter<'_> {
    fn drop(&mut self) {
        self.shared.capacity_waiters.fetch_sub(1, Ordering::SeqCst);
        // A wake-up this waiter consumed without using passes on.
        self.shared.notify_capacity();
    }
}

/// A reserved slot for a connection being opened; freed on drop unless the connection
/// was made.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    shared: &'a Shared,
}

impl<'a> Slot<'a> {
    /// The slot of an existing connection, to be freed when dropped.
    pub(crate) fn adopt(shared: &'a Shared) -> Self {
        Self { shared }
    }

    /// The connection exists: the slot now belongs to it.
    pub(crate) fn fill(self) {
        std::mem::forget(self);
    }

    /// Gives back a slot reserved in this pool only (no global unit was taken for it).
    pub(crate) fn unreserve(self) {
        let shared = self.shared;
        std::mem::forget(self);
        shared.size.fetch_sub(1, Ordering::SeqCst);
        shared.notify_capacity();
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.shared.slot_freed();
    }
}

impl Shared {
    /// A get timed out after `waited`: remembers the pool's state for
    /// [`Pool::last_timeout`](crate::Pool::last_timeout), reports [`Event::GetTimedOut`](crate::Event::GetTimedOut) and logs the state.
    #[cold]
    #[inline(never)]
    pub(crate) fn timed_out(&self, waited: Duration) {
        let report = self.timeout_report(waited);
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "netpool",
            pool = self.diag.name.as_deref().unwrap_or("default"),
            waited = ?waited,
            "get timed out: {report}"
        );
        drop(report);
        self.events.emit(|| events::Event::GetTimedOut { waited });
    }

    fn timeout_report(&self, waited: Duration) -> TimeoutReport {
        let connections = self.size.load(Ordering::Relaxed);
        let report = TimeoutReport {
            pool: self.diag.name.clone(),
            waited,
            in_use: connections,
            max_size: self.max_size.load(Ordering::Relaxed),
            waiting: self.waiting().saturating_sub(1),
            oldest: self.diag.oldest(),
        };
        *lock(&self.diag.last_timeout) = Some(report.clone());
        report
    }
}

impl Shared {
    /// A connection with a record is closed (or detached): counts it out, and brings the
    /// refresh flag down when it was the last stale one.
    pub(crate) fn record_gone(&self, created: Nanos) {
        let refresh = &self.refresh;
        // Saturating: only connections that got a record come here, but a miscount
        // must not wrap.
        let _counted = refresh
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if refresh.is_stale(created) {
            let left = refresh
                .stale
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if left == Ok(1) {
                self.set_refreshing(false);
            }
        }
    }

    /// Ends a refresh whose stale connections are all gone (maintenance saw every
    /// connection idle and none stale), whatever the count says.
    pub(crate) fn refresh_over(&self) {
        self.refresh.stale.store(0, Ordering::SeqCst);
        self.set_refreshing(false);
    }

    /// Starts a refresh: every connection with a record now is stale. Returns how many.
    pub(crate) fn start_refresh(&self) -> usize {
        let refresh = &self.refresh;
        let cutoff = crate::clock::unique_stamp(clock::now());
        refresh.cutoff.fetch_max(cutoff, Ordering::SeqCst);
        let stale = refresh.open.load(Ordering::SeqCst);
        refresh.stale.store(stale, Ordering::SeqCst);
        refresh.replacing.store(stale, Ordering::SeqCst);
        Counters::bump(&self.counters.refreshes);
        if stale > 0 {
            self.set_refreshing(true);
        } else {
            self.set_refreshing(false);
        }
        stale
    }

    /// While a refresh is under way, waits for one of the `refresh_connects` turns to
    /// connect (within the caller's deadline; `wait` false: not at all). `None` outside a
    /// refresh.
    pub(crate) async fn connect_turn(
        &self,
        deadline: &mut Deadline,
        wait: bool,
    ) -> Result<Option<Turn<'_>>, Refused> {
        let refresh = &self.refresh;
        loop {
            if refresh.replacing.load(Ordering::Acquire) == 0 && !self.refreshing() {
                return Ok(None);
            }
            if self.is_closed() {
                return Err(Refused::Closed);
            }
            let cur = refresh.connecting.load(Ordering::Acquire);
            if cur < refresh.limit {
                if refresh
                    .connecting
                    .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(Some(Turn(refresh)));
                }
                continue;
            }
            if !wait {
                return Err(Refused::NotYet);
            }
            let listener = refresh.turn.listen();
            if refresh.connecting.load(Ordering::Acquire) < refresh.limit
                || (refresh.replacing.load(Ordering::Acquire) == 0 && !self.refreshing())
            {
                continue;
            }
            if crate::shared::run_until(deadline.at(), listener)
                .await
                .is_none()
            {
                return Err(Refused::Timeout);
            }
        }
    }
}
