//! The non-generic heart of the pool: permits, the connection count, wake-ups, backoff.
//!
//! # Implementation details
//!
//! Everything here is independent of the manager type, so it is compiled once.
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
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use event_listener::{Event, EventListener};

mod refresh;

use crate::clock::{self, Epoch, Nanos};
use crate::config::Config;
use crate::error::LastConnectError;
use crate::events::{self, Events};
use crate::holders::TimeoutReport;
use crate::sema::{Keep, Semaphore, TryAcquireError};
use crate::stats::Counters;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering, lock};

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
    pub(crate) refresh: refresh::Refresh,
}

/// Why a wait ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitError {
    Timeout,
    Closed,
}

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
            refresh: refresh::Refresh::new(config.refresh_connects),
            epoch: Epoch::new(),
            idle_timeout: config.idle_timeout.map_or(Nanos::MAX, clock::nanos),
            max_lifetime: config.max_lifetime.map(clock::nanos),
            check_after,
            timed: AtomicU32::new(if timed { TIMED } else { 0 }),
            config,
            events,
            global: None,
            diag,
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
                started = Some(read.unwrap_or_else(Instant::now));
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
        let at = deadline.at();
        let started = Instant::now();
        let result = loop {
            let listener = self.capacity.listen();
            if self.is_closed() {
                break Err(WaitError::Closed);
            }
            if ready() {
                break Ok(());
            }
            if !wait_until(listener, at).await {
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

    /// Adds a wait that started at `started`. Waits are timed with the precise `Instant`
    /// (only callers that wait pay for it): the coarse clock's tick of a few ms would
    /// read most short waits as zero.
    fn add_wait_time(&self, started: Instant) {
        let waited = started.elapsed();
        self.counters.wait_time_ns.add(clock::nanos(waited));
        #[cfg(feature = "metrics")]
        self.diag.meter.waited(waited);
    }
}

/// One `get`'s deadline, computed the first time it is needed (the fast path never reads
/// the clock).
#[derive(Debug)]
pub(crate) struct Deadline {
    timeout: Option<Duration>,
    at: Option<Option<Instant>>,
    /// Driven by `get_blocking`: its thread may be the one that drives the runtime the
    /// connect needs, so a connect that times out there is no evidence about the server.
    pub(crate) blocking: bool,
}

impl Deadline {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Self {
            timeout,
            at: None,
            blocking: false,
        }
    }

    /// A deadline for a blocking get.
    pub(crate) fn blocking(timeout: Option<Duration>) -> Self {
        Self {
            blocking: true,
            ..Self::new(timeout)
        }
    }

    /// How long since the deadline was first needed (about when the `get` began to wait or
    /// connect); zero if it never was.
    pub(crate) fn waited(&self) -> Duration {
        match (self.timeout, self.at) {
            (Some(timeout), Some(Some(at))) => {
                timeout.saturating_sub(at.saturating_duration_since(Instant::now()))
            }
            _ => Duration::ZERO,
        }
    }

    /// The instant the `get` gives up, `None` for never.
    pub(crate) fn at(&mut self) -> Option<Instant> {
        self.at_read().0
    }

    /// [`at`](Self::at), and the clock reading it was computed from if it was computed
    /// by this call (so the caller need not read the clock again).
    pub(crate) fn at_read(&mut self) -> (Option<Instant>, Option<Instant>) {
        if let Some(at) = self.at {
            return (at, None);
        }
        let Some(timeout) = self.timeout else {
            self.at = Some(None);
            return (None, None);
        };
        let now = Instant::now();
        let at = now.checked_add(timeout);
        self.at = Some(at);
        (at, Some(now))
    }
}

impl Shared {
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

/// Runs `fut` until `at`; `None` if the deadline came first.
pub(crate) async fn run_until<F: Future>(at: Option<Instant>, fut: F) -> Option<F::Output> {
    match at {
        None => Some(fut.await),
        Some(at) => {
            futures_lite::future::or(async { Some(fut.await) }, async {
                sleep_until(at).await;
                None
            })
            .await
        }
    }
}

/// Resolves at `at`, on async-io's timer thread.
#[cfg(not(loom))]
async fn sleep_until(at: Instant) {
    async_io::Timer::at(at).await;
}

/// Loom models use no deadlines: a deadline never passes.
#[cfg(loom)]
async fn sleep_until(_at: Instant) {
    futures_lite::future::pending::<()>().await;
}

/// Waits until the coarse instant `until` (if any), a notification on `listener` (if
/// any) or the caller's deadline, whichever comes first: `Err(Timeout)` if it was the
/// deadline. The backoff's waits (for a probe's outcome, for a turn to connect).
async fn pause(
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

/// Waits for `listener` until `at`; `false` if the deadline came first.
async fn wait_until(listener: EventListener, at: Option<Instant>) -> bool {
    run_until(at, listener).await.is_some()
}

/// A permit held by a `get` in progress; released on drop unless handed to a guard.
///
/// Holds the semaphore by a raw pointer, not a `&'a Semaphore`: the release may be a
/// guard's last use of the pool, which another thread (or the `Keep` the release hands
/// back) may free right after, and a reference in a permit passed by value (to
/// `mem::drop`, or to `release_fast`) would then be an argument pointing to freed memory
/// while that call still runs.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    sema: NonNull<Semaphore>,
    _sema: PhantomData<&'a Semaphore>,
}

// SAFETY: a permit stands for a `&'a Semaphore` (which is `Send` and `Sync`) and the right
// to release it once; the pointer is only used as that reference would be.
#[allow(unsafe_code, reason = "the raw pointer stands for a shared reference")]
unsafe impl Send for Permit<'_> {}
// SAFETY: as for `Send`; `&Permit` allows nothing but `Debug`.
#[allow(unsafe_code, reason = "the raw pointer stands for a shared reference")]
unsafe impl Sync for Permit<'_> {}

impl<'a> Permit<'a> {
    pub(crate) fn new(sema: &'a Semaphore) -> Self {
        Self {
            sema: NonNull::from(sema),
            _sema: PhantomData,
        }
    }

    /// Keeps the permit held: the caller's guard now owns it.
    pub(crate) fn forget(self) {
        std::mem::forget(self);
    }

    /// Gives the permit back with one CAS if no flag is set, else hands it back to the
    /// caller, which settles the pool and then drops it (see
    /// [`Semaphore::release_fast`]).
    #[inline]
    #[allow(unsafe_code, reason = "a release that may free the pool")]
    pub(crate) fn release_fast(self) -> Result<(), Self> {
        let sema = self.sema.as_ptr().cast_const();
        // SAFETY: the pointer came from a `&'a Semaphore` and this permit is held, so
        // the semaphore is alive; the permit is given back at most once (forgotten if it
        // was).
        if unsafe { Semaphore::release_fast(sema) } {
            std::mem::forget(self);
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl Drop for Permit<'_> {
    #[allow(unsafe_code, reason = "a release that may free the pool")]
    fn drop(&mut self) {
        // SAFETY: as in `release_fast`; this is the permit's one release. After it, the
        // pool is not used but through `keep`.
        let keep = unsafe { Semaphore::release(self.sema.as_ptr().cast_const()) };
        // The last use of the pool by a guard: dropping `keep` may free it.
        drop(keep);
    }
}

struct CapacityWaiter<'a> {
    shared: &'a Shared,
    _hold: Hold<'a>,
}

/// A [`Semaphore::hold`], ended when dropped (also when the holder unwinds).
pub(crate) struct Hold<'a>(&'a Semaphore);

impl<'a> Hold<'a> {
    pub(crate) fn new(sema: &'a Semaphore) -> Self {
        sema.hold();
        Self(sema)
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.0.unhold();
    }
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

/// After this many connect attempts failed in a row, a caller that would have to connect
/// while the pool backs off fails at once with `Unavailable`; after fewer, it waits for
/// the outcome of the next attempt (within its deadline).
const FAIL_FAST_AFTER: u32 = 3;

/// A bit of [`Shared::timed`]: a setting needs the clock at checkout.
pub(crate) const TIMED: u32 = 1;
/// A bit of [`Shared::timed`]: a refresh is under way; checkout closes stale connections.
pub(crate) const STALE: u32 = 2;

/// The bit of [`Backoff::suspects`] that says a refresh is under way: returning
/// connections already load that word (to forget suspicion), so they learn of a refresh
/// without another load. The other bits count suspects.
pub(crate) const REFRESHING: u32 = 1 << 31;
/// The bits of [`Backoff::suspects`] that count suspects.
const SUSPECTS: u32 = !REFRESHING;

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
///   connect per delay, callers wait their turn) until a connection comes back healthy.
/// * A connection that fails on its first use (`has_broken`, discarded, `is_valid`) is
///   evidence about that connection only: it never fails a caller. Two or more in a row
///   (with no healthy return in between) *space out* new connects by the same exponential
///   delay, and callers wait for their turn within their deadline.
#[derive(Debug)]
struct Backoff {
    /// Connect attempts failed in a row.
    failures: AtomicU32,
    /// Finished connect attempts (success or failure), to tell a waiter that the attempt
    /// it waited for is over.
    attempts: AtomicU64,
    /// Notified when an attempt finishes or a probe is abandoned.
    outcome: Event,
    retry_at: AtomicU64,
    probing: AtomicBool,
    last: Mutex<Option<LastConnectError>>,
    /// New connections that failed on their first use since one was proven.
    suspects: AtomicU32,
    /// While suspects >= 2: the earliest start of the next connect.
    next_connect_at: AtomicU64,
    initial: Nanos,
    max: Nanos,
}

/// The one probe after a backoff; lets the next one go when dropped.
pub(crate) struct ProbeGuard<'a> {
    backoff: &'a Backoff,
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
    fn new(initial: Duration, max: Duration) -> Self {
        Self {
            failures: AtomicU32::new(0),
            attempts: AtomicU64::new(0),
            outcome: Event::new(),
            retry_at: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            last: Mutex::new(None),
            suspects: AtomicU32::new(0),
            next_connect_at: AtomicU64::new(0),
            initial: clock::nanos(initial),
            max: clock::nanos(max),
        }
    }

    /// The exponential delay after `n` events in a row (n >= 1), capped, with "equal
    /// jitter": half fixed, half random, so probes from many pools spread out.
    fn delay(&self, n: u32) -> Nanos {
        let exp = n.saturating_sub(1).min(20);
        let delay = self.initial.saturating_mul(1 << exp).min(self.max);
        delay / 2 + fastrand::u64(0..=delay / 2)
    }

    fn unavailable(&self, failures: u32) -> Refused {
        let last = lock(&self.last)
            .clone()
            .unwrap_or_else(LastConnectError::connect_timeout);
        Refused::Unavailable { failures, last }
    }

    /// Arms the backoff after a failure: returns the failures in a row and the delay.
    fn failed(&self, err: LastConnectError) -> (u32, Nanos) {
        *lock(&self.last) = Some(err);
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let delay = self.delay(failures);
        self.retry_at
            .store(clock::now().saturating_add(delay), Ordering::Release);
        self.attempts.fetch_add(1, Ordering::AcqRel);
        self.outcome.notify(usize::MAX);
        (failures, delay)
    }

    /// A connect succeeded: the server is reachable, callers connect again (and the end
    /// of the backoff is reported).
    fn succeeded(&self, events: &Events) {
        let failures = self.failures.swap(0, Ordering::AcqRel);
        if failures != 0 {
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
    fn suspect(&self) {
        let suspects = (self.suspects.fetch_add(1, Ordering::AcqRel) & SUSPECTS).saturating_add(1);
        if suspects >= 2 {
            let at = clock::now().saturating_add(self.delay(suspects - 1));
            self.next_connect_at.fetch_max(at, Ordering::AcqRel);
        }
    }

    /// While new connections keep failing on first use: waits for this caller's turn to
    /// connect, one connect per delay. Never fails a caller but by its own deadline, or
    /// with `Closed` once `closed` is set (`close` wakes the wait).
    async fn throttle(
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
    fn proven(&self) -> bool {
        let word = self.suspects.load(Ordering::Relaxed);
        if word != 0 {
            return self.proven_slow(word);
        }
        false
    }

    #[cold]
    #[inline(never)]
    fn proven_slow(&self, word: u32) -> bool {
        if word & SUSPECTS != 0 {
            self.suspects.fetch_and(REFRESHING, Ordering::Release);
        }
        word & REFRESHING != 0
    }
}

impl Shared {
    /// A get timed out after `waited`: remembers the pool's state for
    /// [`Pool::last_timeout`], reports [`Event::GetTimedOut`] and logs the state.
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
