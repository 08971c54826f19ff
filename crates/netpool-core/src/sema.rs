//! A fair semaphore with a lock-free fast path: the pool's permits.
//!
//! # Implementation details
//!
//! A permit is the right to hold one connection outside the idle queue: every checked-out
//! connection and every `get` in progress holds one, so at most `max_size` callers use or
//! open connections at once. Idle connections hold none.
//!
//! `state` packs the free permits and three flags: `permits << 3 | HOLD | SLOW | CLOSED`.
//!
//! * `HOLD` is set while a resize trims the idle queue or a caller waits for room (see
//!   [`Semaphore::hold`]): a returning guard's one-CAS release
//!   ([`Semaphore::release_fast`]) fails while it is set, and the guard settles the pool
//!   (trims, wakes, drains) before it releases.
//!
//! * `SLOW` is set while the wait list is non-empty, a shrink (`debt`) is pending, or the
//!   semaphore is paused ([`Semaphore::pause`]). While
//!   it is set, neither acquire nor release may use the fast path: acquirers queue behind
//!   the waiters (no barging, so waiters are served first come, first served) and
//!   releasers take the lock and hand their permit straight to the oldest waiter.
//! * `SLOW` and `CLOSED` are only changed with the `list` lock held, and only by CAS or
//!   RMW, so a fast-path CAS that read an older word fails and retries.
//! * The fast paths (`try_acquire` with `SLOW` clear, `release` with `SLOW` clear) are a
//!   single CAS each: no lock, no allocation, no notify.
//!
//! Waiters live in a slab (`slots`) under the lock, queued by index in `queue`. A waiter
//! keeps its slot index and the slot's state word, which it shares with the slab. A
//! releaser pops the oldest index, stores `GRANTED` in the slot's state, frees the slot,
//! and wakes the waker after unlocking; the woken waiter reads its outcome without the
//! lock and stores `DONE`, and only then may the slot be reused. So a waited acquire takes
//! the lock twice (to queue, and the releaser's hand-off), as tokio's semaphore does;
//! with a third (the woken poll) the lock was contended enough on two workers to cost
//! S2 a sixth of its time. Slots are reused, so after warm-up waiting allocates nothing.
//!
//! Deadlines: a per-waiter async-io `Timer` costs a wake-up of async-io's thread (a
//! syscall and a context switch) for every wait, which halved throughput under contention.
//! Instead each slot records its deadline, and one *watchdog* timer per pool is armed for
//! the earliest one. A waiter arms it only if its deadline is earlier than the armed one,
//! which with one `wait_timeout` and FIFO order happens about once per queue, not per
//! wait. When the watchdog fires, it times out every queued waiter whose deadline passed,
//! wakes them, and re-arms itself for the next deadline. The watchdog's waker holds a
//! `Weak` reference, so the timer never keeps the pool alive.
//!
//! A waiter that goes away (its future is dropped, or its deadline passes) frees its slot
//! under the lock; if the slot had already been granted, it releases the permit again, so
//! the hand-off passes to the next waiter instead of being lost.
//!
//! Orderings: the CASes on `state` are `AcqRel`/`Acquire`, so the state published before a
//! release (a connection pushed to the idle queue) is visible to the acquirer; a grant is
//! published under the lock, which orders it for the waiter that reads it under the lock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use crate::clock::Nanos;
use crate::sync::{AtomicUsize, Mutex, Ordering, lock};
use crate::watchdog::{self, Expire, Watchdog};

const CLOSED: usize = 0b01;
const SLOW: usize = 0b10;
const HOLD: usize = 0b100;
const ONE: usize = 0b1000;

/// Why a permit could not be taken without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryAcquireError {
    /// No free permit, or waiters are queued ahead.
    NoPermits,
    /// The semaphore was closed.
    Closed,
    /// The waiter's deadline passed.
    Timeout,
}

#[derive(Debug)]
pub(crate) struct Semaphore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: CachePadded<AtomicUsize>,
    list: Mutex<List>,
    /// The one timer that enforces the waiters' deadlines.
    watchdog: Watchdog,
}

#[derive(Debug, Default)]
struct List {
    /// Slot indices of the waiters, oldest first.
    queue: VecDeque<usize>,
    slots: Vec<Slot>,
    /// Indices of slots whose wait ended, oldest first: reusable once their waiter stored
    /// `DONE` (see [`WAITING`]).
    free: VecDeque<usize>,
    /// Permits to destroy as they come back (after a shrink).
    debt: usize,
    /// Permits in all: free and held, `debt` excluded.
    total: usize,
    /// What keeps the pool alive while permits are held after it closed (see
    /// [`Semaphore::keep_alive`]); handed to whoever sees the last permit come back.
    keep: Option<Keep>,
    /// Holds taken with [`Semaphore::hold`]: `HOLD` is set while there are any.
    holds: usize,
    /// Set by [`Semaphore::pause`]: `SLOW` stays set (so every acquirer queues) and
    /// released permits stay free instead of going to waiters, until `resume`.
    paused: bool,
}

/// A strong reference to the pool that owns the semaphore, type-erased (its `Arc`, boxed:
/// loom's `Arc` cannot be coerced to `Arc<dyn ..>`).
pub(crate) struct Keep(
    #[allow(dead_code, reason = "held for its drop")] pub(crate) Box<dyn Send + Sync>,
);

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keep")
    }
}

/// A slot's state word, shared by the slab and the slot's waiter: one allocation per slot,
/// made while the slab grows (warm-up), padded to a cache line of its own.
///
/// Padded for two reasons. The releaser (granting) and the waiter (reading its outcome,
/// storing `DONE`) write it from different threads, and unpadded, neighbouring slots'
/// words shared cache lines. And unpadded, each was a 24-byte allocation, in glibc's
/// smallest size class, which client libraries use per request (the `redis` crate's
/// command buffers): taking a hundred of those during warm-up left that class's
/// thread cache empty, and the `redis` crate's buffers settled into a pattern where every
/// later GET took `malloc`'s slow path (about 600 more instructions per GET, `callgrind`
/// over the benches' `redis_driver`, 128 tasks on 16 connections), for the whole run.
type SlotState = Arc<CachePadded<AtomicUsize>>;

/// A waiter's place. Its `state` is shared with the waiter (see [`Waiter`]): the waiter
/// reads the outcome without the lock; the rest is read and written under the lock.
#[derive(Debug)]
struct Slot {
    state: SlotState,
    waker: Option<Waker>,
    /// On the precise clock ([`crate::clock::precise_now`]).
    #[cfg_attr(loom, allow(dead_code, reason = "loom models use no deadlines"))]
    deadline: Option<Nanos>,
}

/// A slot's states. `WAITING` becomes one of the three outcomes under the lock, which
/// frees the slot at once (queues it in `List::free`); the waiter reads the outcome
/// without the lock and stores `DONE`, after which the slot may be reused. So a waiter
/// never sees its slot reused, and takes the lock only to queue up, to change its waker,
/// or to leave the queue.
const WAITING: usize = 0;
const GRANTED: usize = 1;
const CLOSED_OUT: usize = 2;
#[cfg_attr(loom, allow(dead_code, reason = "loom models use no deadlines"))]
const TIMED_OUT: usize = 3;
const DONE: usize = 4;

/// One caller's place in the queue: `poll` it until it resolves; dropping it leaves the
/// queue (passing on a permit granted meanwhile).
#[derive(Debug)]
pub(crate) struct Waiter<'a> {
    sema: &'a Arc<Inner>,
    deadline: Option<Nanos>,
    /// The slot's index and shared state: `None` before the first poll and after the
    /// wait resolved.
    slot: Option<(usize, SlotState)>,
    done: bool,
}

impl Semaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: CachePadded::new(AtomicUsize::new(permits * ONE)),
                list: Mutex::new(List {
                    total: permits,
                    ..List::default()
                }),
                watchdog: Watchdog::new(),
            }),
        }
    }

    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<(), TryAcquireError> {
        self.inner.try_acquire()
    }

    /// A place in the queue, taken at its first poll; it times out at `deadline`.
    pub(crate) fn waiter(&self, deadline: Option<Nanos>) -> Waiter<'_> {
        Waiter {
            sema: &self.inner,
            deadline,
            slot: None,
            done: false,
        }
    }

    /// Gives a permit back. Returns the pool's [`Keep`] if this was the last permit held
    /// after the pool closed: the caller drops it after its last use of the pool.
    ///
    /// Takes a raw pointer, not `&self`: once the permit is back, another thread may
    /// close the pool and free it (the semaphore with it) while this call has not
    /// returned yet, and a reference argument would then point to freed memory while the
    /// call that received it still runs (the `Arc::drop` problem, rust-lang/rust#55005).
    /// Past the release only the atomic `state` (like `Arc`'s count) or the `list` lock
    /// being unlocked is borrowed.
    ///
    /// # Safety
    ///
    /// `this` points to a live semaphore, and the caller holds a permit of it, which this
    /// call gives back. The caller must not use the semaphore (or the pool) afterwards but
    /// through the returned [`Keep`].
    #[inline]
    #[must_use = "drop the Keep after the last use of the pool"]
    #[allow(
        unsafe_code,
        reason = "a release that may free the semaphore: see above"
    )]
    pub(crate) unsafe fn release(this: *const Self) -> Option<Keep> {
        // SAFETY: the caller holds a permit, so the semaphore is alive; the `&Arc`
        // borrowed for `as_ptr` ends before the release.
        let inner = unsafe { Arc::as_ptr(&(*this).inner) };
        // SAFETY: `inner` is alive while the caller's permit is held (as above).
        unsafe { Inner::release(inner) }
    }

    /// Closes the semaphore. Returns the pool's [`Keep`] if no permit was held: the
    /// caller drops it after its last use of the pool.
    #[must_use = "drop the Keep after the last use of the pool"]
    pub(crate) fn close(&self) -> Option<Keep> {
        self.inner.close()
    }

    /// Gives a permit back if no flag is set (not even `HOLD`): one CAS. `false` when the
    /// caller must use [`release`](Self::release) instead, after it settled the pool.
    ///
    /// # Safety
    ///
    /// As [`release`](Self::release): after it returned `true`, the semaphore (and the
    /// pool) may already be freed.
    #[inline]
    #[allow(unsafe_code, reason = "a release that may free the semaphore")]
    pub(crate) unsafe fn release_fast(this: *const Self) -> bool {
        // SAFETY: as in `release`.
        let inner = unsafe { Arc::as_ptr(&(*this).inner) };
        // SAFETY: as in `release`.
        unsafe { Inner::try_release(inner, SLOW | CLOSED | HOLD) }
    }

    /// Sends returns through the slow path (see [`release_fast`](Self::release_fast))
    /// until the matching [`unhold`](Self::unhold): while a resize trims the idle queue,
    /// or a caller waits for room. Orders every fast return before it (the return's push
    /// happens before what the holder does next), and every later one after it.
    pub(crate) fn hold(&self) {
        let mut list = lock(&self.inner.list);
        list.holds += 1;
        self.inner.state.fetch_or(HOLD, Ordering::AcqRel);
    }

    /// Ends a [`hold`](Self::hold).
    pub(crate) fn unhold(&self) {
        let mut list = lock(&self.inner.list);
        list.holds -= 1;
        if list.holds == 0 {
            self.inner.state.fetch_and(!HOLD, Ordering::AcqRel);
        }
    }

    /// Stores a strong reference to the pool, released once the pool is closed and no
    /// permit is held: the guards of checked-out connections hold permits but no
    /// reference count of their own, and this keeps the pool alive for them.
    pub(crate) fn keep_alive(&self, keep: Keep) {
        lock(&self.inner.list).keep = Some(keep);
    }

    /// An RMW on the state word that changes nothing: orders the caller's earlier writes
    /// against a concurrent `resize`, as a release does (see `Inner::settle` in the pool).
    pub(crate) fn sync(&self) {
        self.inner.state.fetch_add(0, Ordering::AcqRel);
    }

    pub(crate) fn resize(&self, total: usize) {
        self.inner.resize(total);
    }

    /// Stops handing out permits: from now on every acquirer queues (within its own
    /// deadline) and released permits are kept free, until [`resume`](Self::resume).
    /// Permits already held are not affected. Costs the fast paths nothing: it only keeps
    /// `SLOW` set, which they check already.
    pub(crate) fn pause(&self) {
        let mut list = lock(&self.inner.list);
        list.paused = true;
        self.inner.update_slow(&list);
    }

    /// Ends a [`pause`](Self::pause): the free permits go to the queued waiters, oldest
    /// first; the rest of the queue is served as permits come back, as always.
    pub(crate) fn resume(&self) {
        let mut list = lock(&self.inner.list);
        if !list.paused {
            return;
        }
        list.paused = false;
        let mut woken = Vec::new();
        while !list.queue.is_empty() && list.debt == 0 {
            // A free permit, taken under the lock (`SLOW` is set: no fast path takes it).
            let cur = self.inner.state.load(Ordering::Acquire);
            if cur < ONE {
                break;
            }
            if self
                .inner
                .state
                .compare_exchange(cur, cur - ONE, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            if let Some(idx) = list.queue.pop_front() {
                woken.extend(list.end(idx, GRANTED));
            }
        }
        self.inner.update_slow(&list);
        drop(list);
        for waker in woken {
            waker.wake();
        }
    }

    /// Whether [`pause`](Self::pause) is in effect.
    pub(crate) fn is_paused(&self) -> bool {
        lock(&self.inner.list).paused
    }

    /// Callers queued, for stats: read under the lock.
    pub(crate) fn waiting(&self) -> usize {
        lock(&self.inner.list).queue.len()
    }
}

impl Inner {
    /// Takes a permit if one is free and nobody waits. One CAS; no lock.
    #[inline]
    pub(crate) fn try_acquire(&self) -> Result<(), TryAcquireError> {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if cur & SLOW != 0 || cur < ONE {
                return Err(TryAcquireError::NoPermits);
            }
            match self.state.compare_exchange_weak(
                cur,
                cur - ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives a permit back: to the oldest waiter if there is one. After `close`, every
    /// release takes the lock, so that exactly one sees the last permit come back.
    ///
    /// # Safety
    ///
    /// As [`Semaphore::release`], for `this`.
    #[inline]
    #[allow(unsafe_code, reason = "a release that may free the semaphore")]
    unsafe fn release(this: *const Self) -> Option<Keep> {
        // SAFETY: forwarded from the caller.
        if unsafe { Self::try_release(this, SLOW | CLOSED) } {
            None
        } else {
            // SAFETY: forwarded from the caller; nothing was released.
            unsafe { Self::release_slow(this) }
        }
    }

    /// Frees a permit with one CAS unless a flag in `unless` is set; `false` then.
    ///
    /// # Safety
    ///
    /// As [`Semaphore::release`], for `this`.
    #[inline]
    #[allow(unsafe_code, reason = "a release that may free the semaphore")]
    unsafe fn try_release(this: *const Self, unless: usize) -> bool {
        // SAFETY: the caller's permit keeps `this` alive until the CAS below succeeds.
        // Only the atomic is borrowed across that CAS (as `Arc::drop` borrows its count):
        // an `UnsafeCell`, whose memory may be freed while it is borrowed. After the CAS
        // succeeds nothing is read.
        let state: &AtomicUsize = unsafe { &(*this).state };
        let mut cur = state.load(Ordering::Acquire);
        while cur & unless == 0 {
            match state.compare_exchange_weak(cur, cur + ONE, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// # Safety
    ///
    /// As [`Semaphore::release`], for `this`.
    #[cold]
    #[inline(never)]
    #[allow(unsafe_code, reason = "a release that may free the semaphore")]
    unsafe fn release_slow(this: *const Self) -> Option<Keep> {
        // SAFETY: the caller's permit keeps `this` alive while the lock is held: the
        // permit comes back under it. `inner` is not used after the unlock, when another
        // thread may close the pool and free it (unless this call took the `Keep`).
        let inner = unsafe { &*this };
        let mut list = lock(&inner.list);
        let woken = inner.release_locked(&mut list);
        let keep = inner.last_out(&mut list);
        drop(list);
        if let Some(waker) = woken {
            waker.wake();
        }
        keep
    }

    /// The pool's [`Keep`], if it is closed and no permit is held any more. Lock held.
    fn last_out(&self, list: &mut List) -> Option<Keep> {
        let cur = self.state.load(Ordering::Acquire);
        // Held permits: all of them (`total`, and `debt` still to destroy) but the free
        // ones. After close the free count only changes under the lock.
        let held = (list.total + list.debt).saturating_sub(cur / ONE);
        if cur & CLOSED != 0 && held == 0 {
            list.keep.take()
        } else {
            None
        }
    }

    /// Closes the semaphore: acquires fail from now on and every waiter is woken.
    pub(crate) fn close(&self) -> Option<Keep> {
        let mut list = lock(&self.list);
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut woken = Vec::with_capacity(list.queue.len());
        while let Some(idx) = list.queue.pop_front() {
            woken.extend(list.end(idx, CLOSED_OUT));
        }
        self.update_slow(&list);
        let keep = self.last_out(&mut list);
        drop(list);
        for waker in woken {
            waker.wake();
        }
        keep
    }

    /// Changes the number of permits. Shrinking takes free permits first and destroys the
    /// rest as they are released.
    pub(crate) fn resize(&self, total: usize) {
        let mut list = lock(&self.list);
        let mut woken = Vec::new();
        if total > list.total {
            for _ in 0..total - list.total {
                woken.extend(self.release_locked(&mut list));
            }
        } else {
            let mut shrink = list.total - total;
            let mut cur = self.state.load(Ordering::Acquire);
            loop {
                let take = shrink.min(cur / ONE);
                // A shrink that free permits cannot pay at once leaves a debt, and `SLOW`
                // must be set in the same CAS: a fast-path release that slipped in between
                // the take and a later `fetch_or(SLOW)` would add a free permit that the
                // debt never sees and, once the debt is paid with waiters queued, nobody
                // hands out (a stranded waiter).
                let next = if take < shrink {
                    (cur - take * ONE) | SLOW
                } else {
                    cur - take * ONE
                };
                match self
                    .state
                    .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        shrink -= take;
                        break;
                    }
                    Err(actual) => cur = actual,
                }
            }
            list.debt += shrink;
            self.update_slow(&list);
        }
        list.total = total;
        drop(list);
        for waker in woken {
            waker.wake();
        }
    }

    /// One permit comes back with the lock held: pays a shrink debt, or goes to the oldest
    /// waiter (whose waker is returned, to be woken after unlocking), or becomes free.
    fn release_locked(&self, list: &mut List) -> Option<Waker> {
        let woken = if list.debt > 0 {
            list.debt -= 1;
            None
        } else if let Some(idx) = (!list.paused).then(|| list.queue.pop_front()).flatten() {
            list.end(idx, GRANTED)
        } else {
            self.state.fetch_add(ONE, Ordering::AcqRel);
            None
        };
        self.update_slow(list);
        woken
    }

    /// Sets or clears `SLOW` to match the list. Lock held. `SLOW` changes only under the
    /// lock, so a flag that already matches needs no read-modify-write (under contention
    /// the queue stays non-empty across most releases).
    fn update_slow(&self, list: &List) {
        let slow = self.state.load(Ordering::Acquire) & SLOW != 0;
        if list.queue.is_empty() && list.debt == 0 && !list.paused {
            if slow {
                self.state.fetch_and(!SLOW, Ordering::AcqRel);
            }
        } else if !slow {
            self.state.fetch_or(SLOW, Ordering::AcqRel);
        }
    }
}

impl Expire for Inner {
    fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    /// The watchdog fired: time out every waiter whose deadline passed.
    fn expire(&self, now: Nanos) -> Option<Nanos> {
        let mut list = lock(&self.list);
        let mut expired = Vec::new();
        let mut next: Option<Nanos> = None;
        let List { queue, slots, .. } = &mut *list;
        queue.retain(|&idx| match slots[idx].deadline {
            Some(d) if d <= now => {
                expired.push(idx);
                false
            }
            Some(d) => {
                next = Some(next.map_or(d, |n| n.min(d)));
                true
            }
            None => true,
        });
        // Ended as every wait ends (`List::end`), now that they are out of the queue.
        let woken: Vec<Waker> = expired
            .into_iter()
            .filter_map(|idx| list.end(idx, TIMED_OUT))
            .collect();
        self.update_slow(&list);
        drop(list);
        for waker in woken {
            waker.wake();
        }
        next
    }
}

impl List {
    /// A slot for a new waiter, and its shared state. Reuses the oldest ended slot whose
    /// waiter is done with it (looking at two at most), else adds one: the slots number
    /// at most the waiters queued plus those not yet back for their outcome, so after
    /// warm-up waiting allocates nothing.
    fn alloc(&mut self, waker: Waker, deadline: Option<Nanos>) -> (usize, SlotState) {
        let waker = Some(waker);
        for _ in 0..self.free.len().min(2) {
            let Some(idx) = self.free.pop_front() else {
                break;
            };
            let slot = &mut self.slots[idx];
            // Acquire: the waiter's last read of the state happened before.
            if slot.state.load(Ordering::Acquire) == DONE {
                slot.state.store(WAITING, Ordering::Relaxed);
                slot.waker = waker;
                slot.deadline = deadline;
                return (idx, slot.state.clone());
            }
            // Its waiter has not looked yet: try it again later.
            self.free.push_back(idx);
        }
        let state = Arc::new(CachePadded::new(AtomicUsize::new(WAITING)));
        self.slots.push(Slot {
            state: state.clone(),
            waker,
            deadline,
        });
        (self.slots.len() - 1, state)
    }

    /// Ends the wait in slot `idx` (no longer queued) with `outcome`, and frees the slot;
    /// returns its waker, to be woken (or dropped) after unlocking.
    #[must_use = "wake or drop the waker after releasing the lock"]
    fn end(&mut self, idx: usize, outcome: usize) -> Option<Waker> {
        let slot = &mut self.slots[idx];
        // Release: what the releaser did before (a connection pushed idle) is visible to
        // the waiter that reads the outcome.
        slot.state.store(outcome, Ordering::Release);
        let waker = slot.waker.take();
        self.free.push_back(idx);
        waker
    }
}

impl Waiter<'_> {
    /// `Ready(Ok)` once this caller holds a permit, `Ready(Err)` if the semaphore closed.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TryAcquireError>> {
        if self.done {
            return Poll::Ready(Err(TryAcquireError::Closed));
        }
        let sema = self.sema;
        if let Some((idx, state)) = &self.slot {
            // Queued: the outcome is read without the lock.
            let mut outcome = state.load(Ordering::Acquire);
            if outcome == WAITING {
                // Still queued (or just granted): the waker may have changed.
                let mut list = lock(&sema.list);
                outcome = state.load(Ordering::Acquire);
                if outcome == WAITING {
                    let slot = &mut list.slots[*idx];
                    let stale = match &mut slot.waker {
                        Some(w) if w.will_wake(cx.waker()) => None,
                        other => other.replace(cx.waker().clone()),
                    };
                    drop(list);
                    // Dropped after unlocking: the last reference to a task may drop a
                    // future that holds a waiter of this same semaphore.
                    drop(stale);
                    return Poll::Pending;
                }
            }
            // The wait ended, and the slot was freed with it: let it be reused.
            state.store(DONE, Ordering::Release);
            self.slot = None;
            self.done = true;
            return Poll::Ready(match outcome {
                GRANTED => Ok(()),
                TIMED_OUT => Err(TryAcquireError::Timeout),
                _ => Err(TryAcquireError::Closed),
            });
        }
        // First poll: take a permit if one is free after all, else queue up. The waker is
        // cloned before the lock: an atomic increment less inside it.
        let waker = cx.waker().clone();
        let mut list = lock(&sema.list);
        let mut cur = sema.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                self.done = true;
                return Poll::Ready(Err(TryAcquireError::Closed));
            }
            let next = if cur & SLOW == 0 && cur >= ONE {
                cur - ONE
            } else if cur & SLOW != 0 {
                // Waiters queued: SLOW only changes under the lock we hold.
                break;
            } else {
                cur | SLOW
            };
            match sema
                .state
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next < cur => {
                    self.done = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        let (idx, state) = list.alloc(waker, self.deadline);
        list.queue.push_back(idx);
        self.slot = Some((idx, state));
        drop(list);
        if let Some(deadline) = self.deadline {
            // Queued first (see `watchdog::arm`).
            watchdog::arm(sema, deadline);
        }
        Poll::Pending
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let Some((idx, state)) = self.slot.take() else {
            return;
        };
        if matches!(state.load(Ordering::Acquire), CLOSED_OUT | TIMED_OUT) {
            // Ended, and the slot freed, with nothing to pass on.
            state.store(DONE, Ordering::Release);
            return;
        }
        let sema = self.sema;
        let mut list = lock(&sema.list);
        let (woken, stale) = match state.load(Ordering::Acquire) {
            WAITING => {
                if let Some(pos) = list.queue.iter().position(|&i| i == idx) {
                    list.queue.remove(pos);
                }
                sema.update_slow(&list);
                // Ends its own wait: the slot is free at once.
                (None, list.end(idx, DONE))
            }
            // Granted but never used: pass the permit on.
            GRANTED => {
                state.store(DONE, Ordering::Release);
                (sema.release_locked(&mut list), None)
            }
            _ => {
                state.store(DONE, Ordering::Release);
                (None, None)
            }
        };
        // The waiter's caller holds the pool, so the pool outlives this drop.
        let keep = sema.last_out(&mut list);
        drop(list);
        drop(stale);
        if let Some(waker) = woken {
            waker.wake();
        }
        drop(keep);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::task::{Context, Poll, Waker};

    use super::{Semaphore, lock};

    /// Hands the caller's permit back (to the oldest waiter, if any).
    fn release(sema: &Semaphore) {
        // SAFETY: the test holds a permit of `sema`, which outlives the call.
        #[allow(unsafe_code, reason = "the release's contract, kept by the test")]
        drop(unsafe { Semaphore::release(sema) });
    }

    /// Waits that end one after another (each granted, then read by its waiter) reuse
    /// their slots: the slab stays at its first size, so waiting allocates nothing after
    /// warm-up. A waiter that never reads its grant (a forgotten future) keeps its slot
    /// out of reuse without making the slab grow with every later wait.
    #[test]
    fn ended_waits_reuse_their_slots() {
        let sema = Semaphore::new(2);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(sema.try_acquire().is_ok());
        assert!(sema.try_acquire().is_ok());
        // One waiter granted and forgotten: its permit and its slot stay out.
        let mut forgotten = sema.waiter(None);
        assert!(forgotten.poll(&mut cx).is_pending());
        release(&sema);
        std::mem::forget(forgotten);
        for _ in 0..1000 {
            let mut waiter = sema.waiter(None);
            assert!(waiter.poll(&mut cx).is_pending());
            release(&sema);
            assert_eq!(waiter.poll(&mut cx), Poll::Ready(Ok(())));
        }
        let slots = lock(&sema.inner.list).slots.len();
        assert!(slots <= 3, "{slots} slots for one waiter at a time");
    }
}
