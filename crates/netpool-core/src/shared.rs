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
//! * Backoff: after a failed connect, `retry_at` is pushed out by an exponential, jittered
//!   delay. Until then a caller that would have to connect gets `Error::Unavailable` at
//!   once; after it, one caller at a time (`probing`) tries. A successful connect lets
//!   connects go ahead, but the streak is only forgotten once a connection comes back
//!   healthy: a connection that breaks on its first use (a proxy that accepts and resets)
//!   continues the streak, so the delay keeps growing.

use std::future::Future;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use event_listener::{Event, EventListener};

use crate::clock::{self, Epoch, Nanos};
use crate::config::Config;
use crate::error::LastConnectError;
use crate::sema::{Semaphore, TryAcquireError};
use crate::stats::Counters;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering, lock};

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) max_size: AtomicUsize,
    pub(crate) size: CachePadded<AtomicUsize>,
    pub(crate) sema: Semaphore,
    closed: AtomicBool,
    capacity: Event,
    capacity_waiters: AtomicUsize,
    drained: Event,
    pub(crate) counters: Counters,
    backoff: Backoff,
    pub(crate) epoch: Epoch,
    /// `idle_timeout` in nanoseconds, `Nanos::MAX` when off.
    pub(crate) idle_timeout: Nanos,
    /// `max_lifetime` in nanoseconds.
    pub(crate) max_lifetime: Option<Nanos>,
    /// When `is_valid` runs at checkout: `None` never, `Some(0)` always, else after this
    /// much idle time.
    pub(crate) check_after: Option<Nanos>,
    /// Whether any checkout decision depends on the time (so the clock must be read).
    pub(crate) timed: bool,
    /// The cap shared with the other keys of a [`KeyedPool`](crate::KeyedPool), if any.
    pub(crate) global: Option<std::sync::Arc<crate::keyed::GlobalCap>>,
}

/// Why a wait ended without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitError {
    Timeout,
    Closed,
}

/// What a caller that needs a new connection may do.
pub(crate) enum Gate<'a> {
    /// Connect (no recent failure).
    Go,
    /// Connect as the one probe after a backoff.
    Probe(ProbeGuard<'a>),
    /// Do not connect: backing off.
    Unavailable {
        failures: u32,
        last: LastConnectError,
    },
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
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
            closed: AtomicBool::new(false),
            capacity: Event::new(),
            capacity_waiters: AtomicUsize::new(0),
            drained: Event::new(),
            counters: Counters::default(),
            backoff: Backoff::new(config.backoff_initial, config.backoff_max),
            epoch: Epoch::new(),
            idle_timeout: config.idle_timeout.map_or(Nanos::MAX, clock::nanos),
            max_lifetime: config.max_lifetime.map(clock::nanos),
            check_after,
            timed,
            config,
            global: None,
        }
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Marks the pool closed and wakes every waiter. The caller drains the idle queue.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.sema.close();
        self.capacity.notify(usize::MAX);
        self.notify_if_drained();
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

    /// Whether the pool is over its cap (after a shrink).
    #[inline]
    pub(crate) fn over_capacity(&self) -> bool {
        self.size.load(Ordering::Relaxed) > self.max_size.load(Ordering::Relaxed)
    }

    /// Waits for a permit: the caller is queued behind earlier waiters.
    pub(crate) async fn wait_permit(
        &self,
        deadline: &mut Deadline,
    ) -> Result<Permit<'_>, WaitError> {
        let mut waiter = self.sema.waiter(deadline.at());
        let mut started = None;
        let wait = std::future::poll_fn(|cx| {
            let poll = waiter.poll(cx);
            if poll.is_pending() && started.is_none() {
                started = Some(clock::now());
                Counters::bump(&self.counters.gets_waited);
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
        let _registered = CapacityWaiter { shared: self };
        let at = deadline.at();
        let started = clock::now();
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

    pub(crate) fn gate(&self) -> Gate<'_> {
        self.backoff.gate()
    }

    pub(crate) fn connect_failed(&self, err: LastConnectError) {
        Counters::bump(&self.counters.connect_errors);
        self.backoff.failed(err);
    }

    pub(crate) fn connect_succeeded(&self) {
        Counters::bump(&self.counters.connections_created);
        self.backoff.succeeded();
    }

    /// A connection failed on its first use (broken, discarded or invalid before it was
    /// ever returned healthy): for the backoff, the connect did not really succeed.
    ///
    /// One such failure can be the application's doing (it discarded a connection after a
    /// protocol error); two in a row, with no connection proven in between, count.
    pub(crate) fn failed_on_first_use(&self) {
        if self
            .backoff
            .first_use_failures
            .fetch_add(1, Ordering::AcqRel)
            >= 1
        {
            self.backoff.failed(LastConnectError::first_use());
        }
    }

    /// Whether recent connects failed (the backoff is on or half-open).
    pub(crate) fn backing_off(&self) -> bool {
        self.backoff.failures.load(Ordering::Relaxed) != 0
            || self.backoff.streak.load(Ordering::Relaxed) != 0
    }

    /// A connection came back healthy.
    #[inline]
    pub(crate) fn connection_proven(&self) {
        self.backoff.proven();
    }

    /// Callers queued for a permit or for room.
    pub(crate) fn waiting(&self) -> usize {
        self.sema.waiting() + self.capacity_waiters.load(Ordering::Relaxed)
    }

    /// Adds a wait that started at `started` (coarse clock: a few ns instead of ~25 for a
    /// precise read, and unbiased over many waits, so the total stays accurate).
    fn add_wait_time(&self, started: Nanos) {
        let waited = clock::now().saturating_sub(started);
        self.counters
            .wait_time_ns
            .fetch_add(waited, Ordering::Relaxed);
    }
}

/// One `get`'s deadline, computed the first time it is needed (the fast path never reads
/// the clock).
#[derive(Debug)]
pub(crate) struct Deadline {
    timeout: Option<Duration>,
    at: Option<Option<Instant>>,
}

impl Deadline {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Self { timeout, at: None }
    }

    /// The instant the `get` gives up, `None` for never.
    pub(crate) fn at(&mut self) -> Option<Instant> {
        *self
            .at
            .get_or_insert_with(|| self.timeout.and_then(|t| Instant::now().checked_add(t)))
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

/// Waits for `listener` until `at`; `false` if the deadline came first.
async fn wait_until(listener: EventListener, at: Option<Instant>) -> bool {
    run_until(at, listener).await.is_some()
}

/// A permit held by a `get` in progress; released on drop unless handed to a guard.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    sema: &'a Semaphore,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(sema: &'a Semaphore) -> Self {
        Self { sema }
    }

    /// Keeps the permit held: the caller's guard now owns it.
    pub(crate) fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.sema.release();
    }
}

struct CapacityWaiter<'a> {
    shared: &'a Shared,
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

#[derive(Debug)]
struct Backoff {
    failures: AtomicU32,
    /// Failures before the last successful connect, until a connection proves itself.
    streak: AtomicU32,
    /// New connections that failed on their first use since one was proven.
    first_use_failures: AtomicU32,
    retry_at: AtomicU64,
    probing: AtomicBool,
    last: Mutex<Option<LastConnectError>>,
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
    }
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Self {
            failures: AtomicU32::new(0),
            streak: AtomicU32::new(0),
            first_use_failures: AtomicU32::new(0),
            retry_at: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            last: Mutex::new(None),
            initial: clock::nanos(initial),
            max: clock::nanos(max),
        }
    }

    fn gate(&self) -> Gate<'_> {
        let failures = self.failures.load(Ordering::Acquire);
        // Half-open (a connect succeeded after failures, but no connection has proven
        // itself yet): still one probe at a time, at most one per initial delay.
        let failures = failures.max(self.streak.load(Ordering::Acquire));
        if failures == 0 {
            return Gate::Go;
        }
        if clock::now() >= self.retry_at.load(Ordering::Acquire)
            && self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Gate::Probe(ProbeGuard { backoff: self });
        }
        let last = lock(&self.last)
            .clone()
            .unwrap_or_else(LastConnectError::connect_timeout);
        Gate::Unavailable { failures, last }
    }

    fn failed(&self, err: LastConnectError) {
        *lock(&self.last) = Some(err);
        // A failure right after a connect that "succeeded" continues the old streak.
        let streak = self.streak.swap(0, Ordering::AcqRel);
        let failures = self
            .failures
            .fetch_add(1 + streak, Ordering::AcqRel)
            .saturating_add(1 + streak);
        let exp = failures.saturating_sub(1).min(20);
        let delay = self.initial.saturating_mul(1 << exp).min(self.max);
        // "Equal jitter": half fixed, half random, so probes from many pools spread out.
        let jittered = delay / 2 + fastrand::u64(0..=delay / 2);
        self.retry_at
            .store(clock::now().saturating_add(jittered), Ordering::Release);
    }

    /// A connect succeeded. After failures, the pool is half-open: the failure streak is
    /// remembered and connects stay one at a time, at most one per initial delay, until
    /// a connection proves itself ([`Backoff::proven`]); so a server that accepts and then
    /// drops every connection still meets a growing backoff.
    fn succeeded(&self) {
        let failures = self.failures.swap(0, Ordering::AcqRel);
        if failures != 0 || self.streak.load(Ordering::Acquire) != 0 {
            self.streak.fetch_max(failures, Ordering::AcqRel);
            self.retry_at
                .store(clock::now().saturating_add(self.initial), Ordering::Release);
        }
    }

    /// A connection came back healthy: the server works, forget the streak.
    #[inline]
    fn proven(&self) {
        if self.streak.load(Ordering::Relaxed) != 0 {
            self.streak.store(0, Ordering::Release);
        }
        if self.first_use_failures.load(Ordering::Relaxed) != 0 {
            self.first_use_failures.store(0, Ordering::Release);
        }
    }
}
