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
//! * `SLOW` and `CLOSED` are only changed with the `list` lock held, and only by CAS, so a
//!   fast-path CAS that read an older word fails and retries.
//! * The fast paths (`try_acquire` with `SLOW` clear, `release` with `SLOW` clear) are a
//!   single CAS each: no lock, no allocation, no notify.
//!
//! Waiters are `Node`s in a `VecDeque` under the lock. A releaser pops the oldest node,
//! marks it `GRANTED` under the lock, and notifies the node's own `Event` after unlocking.
//! A waiter registers its listener before checking its node, so no wake-up is lost. A
//! waiter that goes away (its future is dropped, or its deadline passes) removes its node
//! under the lock; if the node had already been granted, it releases the permit again, so
//! the hand-off passes to the next waiter instead of being lost.
//!
//! Orderings: the CASes on `state` are `AcqRel`/`Acquire`, so the state published before a
//! release (a connection pushed to the idle queue) is visible to the acquirer. Node states
//! are written under the lock and read with `Acquire` after the listener fired.

use std::collections::VecDeque;

use crossbeam_utils::CachePadded;
use event_listener::{Event, EventListener};

use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, lock};

const CLOSED: usize = 0b01;
const SLOW: usize = 0b10;
const ONE: usize = 0b100;

const WAITING: usize = 0;
const GRANTED: usize = 1;
const CANCELLED: usize = 2;

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
    /// Waiters in `list`, for stats.
    waiting: AtomicUsize,
}

#[derive(Debug, Default)]
struct List {
    waiters: VecDeque<Arc<Node>>,
    /// Permits to destroy as they come back (after a shrink).
    debt: usize,
    /// Permits in all: free, held, and `debt` excluded.
    total: usize,
}

/// One queued waiter.
#[derive(Debug)]
pub(crate) struct Node {
    state: AtomicUsize,
    event: Event,
}

/// What [`Semaphore::enqueue`] did.
pub(crate) enum Enqueued {
    /// A permit was free after all: it is the caller's.
    Acquired,
    /// The caller is queued; wait on the node.
    Queued(Arc<Node>),
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

    /// Takes a permit, or queues the caller at the back of the wait list.
    pub(crate) fn enqueue(&self) -> Result<Enqueued, TryAcquireError> {
        let mut list = lock(&self.list);
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            let next = if cur & SLOW == 0 && cur >= ONE {
                cur - ONE
            } else {
                cur | SLOW
            };
            match self
                .state
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next < cur => return Ok(Enqueued::Acquired),
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        let node = Arc::new(Node {
            state: AtomicUsize::new(WAITING),
            event: Event::new(),
        });
        list.waiters.push_back(node.clone());
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Ok(Enqueued::Queued(node))
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
        if let Some(node) = woken {
            node.event.notify(1);
        }
    }

    /// Removes a waiter that stops waiting. If it had been granted a permit meanwhile, the
    /// permit passes on to the next waiter.
    pub(crate) fn cancel(&self, node: &Arc<Node>) {
        let mut list = lock(&self.list);
        let woken = match node.state.load(Ordering::Acquire) {
            WAITING => {
                if let Some(pos) = list.waiters.iter().position(|n| Arc::ptr_eq(n, node)) {
                    list.waiters.remove(pos);
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                }
                node.state.store(CANCELLED, Ordering::Release);
                self.update_slow(&list);
                None
            }
            GRANTED => {
                node.state.store(CANCELLED, Ordering::Release);
                self.release_locked(&mut list)
            }
            _ => None,
        };
        drop(list);
        if let Some(node) = woken {
            node.event.notify(1);
        }
    }

    /// Closes the semaphore: acquires fail from now on and every waiter is woken.
    pub(crate) fn close(&self) {
        let mut list = lock(&self.list);
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let woken: Vec<_> = list.waiters.drain(..).collect();
        self.waiting.store(0, Ordering::Relaxed);
        self.update_slow(&list);
        drop(list);
        for node in woken {
            node.event.notify(usize::MAX);
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
        for node in woken {
            node.event.notify(1);
        }
    }

    /// Callers in the wait list right now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// One permit comes back with the lock held: pays a shrink debt, or goes to the oldest
    /// waiter (returned, to be notified after unlocking), or becomes free.
    fn release_locked(&self, list: &mut List) -> Option<Arc<Node>> {
        let woken = if list.debt > 0 {
            list.debt -= 1;
            None
        } else if let Some(node) = list.waiters.pop_front() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            node.state.store(GRANTED, Ordering::Release);
            Some(node)
        } else {
            self.state.fetch_add(ONE, Ordering::AcqRel);
            None
        };
        self.update_slow(list);
        woken
    }

    /// Sets or clears `SLOW` to match the list. Lock held.
    fn update_slow(&self, list: &List) {
        if list.waiters.is_empty() && list.debt == 0 {
            self.state.fetch_and(!SLOW, Ordering::AcqRel);
        } else {
            self.state.fetch_or(SLOW, Ordering::AcqRel);
        }
    }
}

impl Node {
    /// Registers interest in this node's grant. Check [`Node::outcome`] after.
    pub(crate) fn listen(&self) -> EventListener {
        self.event.listen()
    }

    /// `Some(true)` once granted, `Some(false)` if the semaphore closed, `None` while
    /// waiting.
    pub(crate) fn outcome(&self, sema: &Semaphore) -> Option<bool> {
        match self.state.load(Ordering::Acquire) {
            GRANTED => Some(true),
            WAITING if sema.is_closed() => Some(false),
            _ => None,
        }
    }
}
