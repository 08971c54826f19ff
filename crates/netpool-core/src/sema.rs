//! A fair semaphore with a lock-free fast path: the pool's permits.
//!
//! # Implementation details
//!
//! A permit is the right to hold one connection outside the idle queue: every checked-out
//! connection and every `get` in progress holds one, so at most `max_size` callers use or
//! open connections at once. Idle connections hold none.
//!
//! `state` packs the free permits and two flags: `permits << 2 | SLOW | CLOSED`.
//!
//! * `SLOW` is set while the wait list is non-empty or a shrink (`debt`) is pending. While
//!   it is set, neither acquire nor release may use the fast path: acquirers queue behind
//!   the waiters (no barging, so waiters are served first come, first served) and
//!   releasers take the lock and hand their permit straight to the oldest waiter.
//! * `SLOW` and `CLOSED` are only changed with the `list` lock held, and only by CAS or
//!   RMW, so a fast-path CAS that read an older word fails and retries.
//! * The fast paths (`try_acquire` with `SLOW` clear, `release` with `SLOW` clear) are a
//!   single CAS each: no lock, no allocation, no notify.
//!
//! Waiters live in a slab (`slots`) under the lock, queued by index in `queue`. A waiter
//! keeps its slot index; each poll takes the lock, reads its slot and stores its waker. A
//! releaser pops the oldest index, marks the slot `Granted`, and wakes the waker after
//! unlocking. Slots are reused, so after warm-up waiting allocates nothing.
//!
//! A waiter that goes away (its future is dropped, or its deadline passes) frees its slot
//! under the lock; if the slot had already been granted, it releases the permit again, so
//! the hand-off passes to the next waiter instead of being lost.
//!
//! Orderings: the CASes on `state` are `AcqRel`/`Acquire`, so the state published before a
//! release (a connection pushed to the idle queue) is visible to the acquirer; a grant is
//! published under the lock, which orders it for the waiter that reads it under the lock.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicUsize, Mutex, Ordering, lock};

const CLOSED: usize = 0b01;
const SLOW: usize = 0b10;
const ONE: usize = 0b100;

/// Why a permit could not be taken without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryAcquireError {
    /// No free permit, or waiters are queued ahead.
    NoPermits,
    /// The semaphore was closed.
    Closed,
}

#[derive(Debug)]
pub(crate) struct Semaphore {
    state: CachePadded<AtomicUsize>,
    list: Mutex<List>,
    /// Waiters in `queue`, for stats.
    waiting: AtomicUsize,
}

#[derive(Debug, Default)]
struct List {
    /// Slot indices of the waiters, oldest first.
    queue: VecDeque<usize>,
    slots: Vec<Slot>,
    /// Indices of unused slots.
    free: Vec<usize>,
    /// Permits to destroy as they come back (after a shrink).
    debt: usize,
    /// Permits in all: free and held, `debt` excluded.
    total: usize,
}

#[derive(Debug, Default)]
struct Slot {
    state: SlotState,
    waker: Option<Waker>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    #[default]
    Free,
    Waiting,
    Granted,
    Closed,
}

/// One caller's place in the queue: `poll` it until it resolves; dropping it leaves the
/// queue (passing on a permit granted meanwhile).
#[derive(Debug)]
pub(crate) struct Waiter<'a> {
    sema: &'a Semaphore,
    /// `None` before the first poll and after the wait resolved.
    slot: Option<usize>,
    done: bool,
}

impl Semaphore {
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            state: CachePadded::new(AtomicUsize::new(permits * ONE)),
            list: Mutex::new(List {
                total: permits,
                ..List::default()
            }),
            waiting: AtomicUsize::new(0),
        }
    }

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

    /// A place in the queue, taken at its first poll.
    pub(crate) fn waiter(&self) -> Waiter<'_> {
        Waiter {
            sema: self,
            slot: None,
            done: false,
        }
    }

    /// Gives a permit back: to the oldest waiter if there is one.
    #[inline]
    pub(crate) fn release(&self) {
        let mut cur = self.state.load(Ordering::Acquire);
        while cur & SLOW == 0 {
            match self.state.compare_exchange_weak(
                cur,
                cur + ONE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
        let mut list = lock(&self.list);
        let woken = self.release_locked(&mut list);
        drop(list);
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// Closes the semaphore: acquires fail from now on and every waiter is woken.
    pub(crate) fn close(&self) {
        let mut list = lock(&self.list);
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let mut woken = Vec::with_capacity(list.queue.len());
        while let Some(idx) = list.queue.pop_front() {
            let slot = &mut list.slots[idx];
            slot.state = SlotState::Closed;
            woken.extend(slot.waker.take());
        }
        self.waiting.store(0, Ordering::Relaxed);
        self.update_slow(&list);
        drop(list);
        for waker in woken {
            waker.wake();
        }
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
                match self.state.compare_exchange(
                    cur,
                    cur - take * ONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
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

    /// Callers in the wait list right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// One permit comes back with the lock held: pays a shrink debt, or goes to the oldest
    /// waiter (whose waker is returned, to be woken after unlocking), or becomes free.
    fn release_locked(&self, list: &mut List) -> Option<Waker> {
        let woken = if list.debt > 0 {
            list.debt -= 1;
            None
        } else if let Some(idx) = list.queue.pop_front() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            let slot = &mut list.slots[idx];
            slot.state = SlotState::Granted;
            slot.waker.take()
        } else {
            self.state.fetch_add(ONE, Ordering::AcqRel);
            None
        };
        self.update_slow(list);
        woken
    }

    /// Sets or clears `SLOW` to match the list. Lock held.
    fn update_slow(&self, list: &List) {
        if list.queue.is_empty() && list.debt == 0 {
            self.state.fetch_and(!SLOW, Ordering::AcqRel);
        } else {
            self.state.fetch_or(SLOW, Ordering::AcqRel);
        }
    }
}

impl List {
    fn alloc(&mut self, waker: &Waker) -> usize {
        let slot = Slot {
            state: SlotState::Waiting,
            waker: Some(waker.clone()),
        };
        match self.free.pop() {
            Some(idx) => {
                self.slots[idx] = slot;
                idx
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    fn free(&mut self, idx: usize) {
        self.slots[idx] = Slot::default();
        self.free.push(idx);
    }
}

impl Waiter<'_> {
    /// `Ready(Ok)` once this caller holds a permit, `Ready(Err)` if the semaphore closed.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TryAcquireError>> {
        if self.done {
            return Poll::Ready(Err(TryAcquireError::Closed));
        }
        let sema = self.sema;
        let mut list = lock(&sema.list);
        let Some(idx) = self.slot else {
            // First poll: take a permit if one is free after all, else queue up.
            let mut cur = sema.state.load(Ordering::Acquire);
            loop {
                if cur & CLOSED != 0 {
                    self.done = true;
                    return Poll::Ready(Err(TryAcquireError::Closed));
                }
                let next = if cur & SLOW == 0 && cur >= ONE {
                    cur - ONE
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
            let idx = list.alloc(cx.waker());
            list.queue.push_back(idx);
            sema.waiting.fetch_add(1, Ordering::Relaxed);
            self.slot = Some(idx);
            return Poll::Pending;
        };
        let slot = &mut list.slots[idx];
        let result = match slot.state {
            SlotState::Granted => Ok(()),
            SlotState::Closed | SlotState::Free => Err(TryAcquireError::Closed),
            SlotState::Waiting => {
                match &mut slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    other => *other = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        };
        list.free(idx);
        self.slot = None;
        self.done = true;
        Poll::Ready(result)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let Some(idx) = self.slot.take() else { return };
        let sema = self.sema;
        let mut list = lock(&sema.list);
        let woken = match list.slots[idx].state {
            SlotState::Waiting => {
                if let Some(pos) = list.queue.iter().position(|&i| i == idx) {
                    list.queue.remove(pos);
                    sema.waiting.fetch_sub(1, Ordering::Relaxed);
                }
                sema.update_slow(&list);
                None
            }
            // Granted but never used: pass the permit on.
            SlotState::Granted => sema.release_locked(&mut list),
            SlotState::Closed | SlotState::Free => None,
        };
        list.free(idx);
        drop(list);
        if let Some(waker) = woken {
            waker.wake();
        }
    }
}
