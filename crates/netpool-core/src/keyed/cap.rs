//! The cap on connections shared by all keys of a [`KeyedPool`](crate::KeyedPool).
//!
//! # Implementation details
//!
//! * `used` counts the connections of every key, the ones being opened included. A key's
//!   pool takes a unit (`try_acquire`, a CAS keeping `used <= max`) after reserving its own
//!   slot and before `connect` starts, and gives it back (`release`) when the connection is
//!   closed, so the cap holds at every instant. A unit is owned by the key pool's `Slot`
//!   (or, in between, by a [`Grant`]) so a dropped future gives it back.
//! * Waiters for a unit queue in `queue`, first come, first served across keys. `release`
//!   takes the lock and hands the unit straight to the oldest waiter (`used` unchanged)
//!   instead of freeing it, so a newcomer cannot take it; newcomers do not take free units
//!   while anyone is queued (`waiting != 0`). A waiter re-checks under the same lock before
//!   it queues, so a release cannot slip between its check and its queueing.
//! * Room is made instead of waited for: a caller that finds the cap reached while another
//!   key has idle connections closes the least recently used key's oldest idle connection
//!   (the `evict` hook the keyed pool installs) and takes the unit that frees. Only the
//!   oldest waiter (or a caller when nobody is queued) evicts, so evictions serve waiters
//!   in order. While anyone is queued, a connection returned to any key is closed rather
//!   than kept idle, handing its unit to the oldest waiter: traffic on other keys cannot
//!   starve it.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use crossbeam_utils::CachePadded;
use event_listener::Event;

use crate::shared::{Deadline, Shared, Slot, WaitError, run_until};
use crate::sync::{AtomicUsize, Mutex, Ordering, lock};

/// How many evictions a caller tries before it queues, when others take the room it made.
const EVICT_TRIES: usize = 4;

/// Closes one idle connection of some key, the least recently used; `false` if none was
/// idle.
pub(crate) type Evict = Box<dyn Fn() -> bool + Send + Sync>;

/// The cap shared by all keys (see the module docs).
pub(crate) struct GlobalCap {
    max: usize,
    used: CachePadded<AtomicUsize>,
    /// Waiters in `queue` (read without the lock by `try_acquire` and returns).
    waiting: CachePadded<AtomicUsize>,
    queue: Mutex<Queue>,
    evict: OnceLock<Evict>,
}

#[derive(Default)]
struct Queue {
    tickets: VecDeque<Arc<Ticket>>,
    closed: bool,
}

const WAITING: usize = 0;
const GRANTED: usize = 1;
const CLOSED: usize = 2;

/// One queued waiter.
struct Ticket {
    /// `WAITING`, `GRANTED` (it owns a unit) or `CLOSED`; written under the queue lock.
    state: AtomicUsize,
    /// Woken when granted, closed, or made the oldest waiter.
    event: Event,
}

/// One unit of the shared cap, owned until it becomes part of a key's slot; given back
/// (to the oldest waiter) when dropped.
pub(crate) struct Grant<'a> {
    cap: &'a GlobalCap,
}

impl GlobalCap {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            used: CachePadded::new(AtomicUsize::new(0)),
            waiting: CachePadded::new(AtomicUsize::new(0)),
            queue: Mutex::new(Queue::default()),
            evict: OnceLock::new(),
        }
    }

    /// Installs the eviction hook (once, at build).
    pub(crate) fn set_evict(&self, evict: Evict) {
        let _ = self.evict.set(evict);
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Connections of all keys, counting the ones being opened.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Callers queued for room under the shared cap.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether anyone is queued: a returned connection then closes to hand its unit on.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) != 0
    }

    /// Takes a unit if one is free and nobody is queued.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        if self.has_waiters() {
            return false;
        }
        self.cas_acquire()
    }

    fn cas_acquire(&self) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        while cur < self.max {
            match self
                .used
                .compare_exchange_weak(cur, cur + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// A connection was closed: its unit goes to the oldest waiter, else is freed.
    pub(crate) fn release(&self) {
        let mut queue = lock(&self.queue);
        if let Some(ticket) = queue.tickets.pop_front() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            ticket.state.store(GRANTED, Ordering::SeqCst);
            ticket.event.notify_additional(1);
            // The next waiter is now the oldest: it may evict.
            if let Some(next) = queue.tickets.front() {
                next.event.notify_additional(1);
            }
            return;
        }
        self.used.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every waiter with `Closed`; from now on `make_room` fails.
    pub(crate) fn close(&self) {
        let mut queue = lock(&self.queue);
        queue.closed = true;
        for ticket in queue.tickets.drain(..) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            ticket.state.store(CLOSED, Ordering::SeqCst);
            ticket.event.notify(usize::MAX);
        }
    }

    fn evict(&self) -> bool {
        self.evict.get().is_some_and(|evict| evict())
    }

    /// Gets a unit: a free one, one freed by closing another key's least recently used
    /// idle connection, or the next one released, in queue order.
    pub(crate) async fn make_room(&self, deadline: &mut Deadline) -> Result<Grant<'_>, WaitError> {
        for _ in 0..EVICT_TRIES {
            if self.try_acquire() {
                return Ok(Grant { cap: self });
            }
            if self.has_waiters() || !self.evict() {
                break;
            }
        }
        let ticket = Arc::new(Ticket {
            state: AtomicUsize::new(WAITING),
            event: Event::new(),
        });
        {
            let mut queue = lock(&self.queue);
            if queue.closed {
                return Err(WaitError::Closed);
            }
            if queue.tickets.is_empty() && self.cas_acquire() {
                return Ok(Grant { cap: self });
            }
            queue.tickets.push_back(ticket.clone());
            self.waiting.fetch_add(1, Ordering::SeqCst);
        }
        let mut queued = Queued {
            cap: self,
            ticket,
            done: false,
        };
        let at = deadline.at();
        loop {
            let listener = queued.ticket.event.listen();
            match queued.ticket.state.load(Ordering::SeqCst) {
                GRANTED => {
                    queued.done = true;
                    return Ok(Grant { cap: self });
                }
                CLOSED => {
                    queued.done = true;
                    return Err(WaitError::Closed);
                }
                _ => {}
            }
            // The oldest waiter makes room; its unit comes back through `release`.
            if queued.is_front() && self.evict() {
                continue;
            }
            if run_until(at, listener).await.is_none() {
                return Err(WaitError::Timeout);
            }
        }
    }
}

impl std::fmt::Debug for GlobalCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalCap")
            .field("max", &self.max)
            .field("used", &self.used())
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

impl Grant<'_> {
    /// Turns the unit into a slot of `shared` (a key's pool), if that pool has room; else
    /// the unit is handed on.
    pub(crate) fn into_slot(self, shared: &Shared) -> Option<Slot<'_>> {
        let slot = shared.reserve_local()?;
        std::mem::forget(self);
        Some(slot)
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        self.cap.release();
    }
}

/// A queued waiter: leaves the queue when dropped, handing on a unit it was granted but
/// did not take.
struct Queued<'a> {
    cap: &'a GlobalCap,
    ticket: Arc<Ticket>,
    /// The outcome was taken (the unit now belongs to a `Grant`).
    done: bool,
}

impl Queued<'_> {
    fn is_front(&self) -> bool {
        lock(&self.cap.queue)
            .tickets
            .front()
            .is_some_and(|t| Arc::ptr_eq(t, &self.ticket))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let granted = {
            let mut queue = lock(&self.cap.queue);
            let pos = queue
                .tickets
                .iter()
                .position(|t| Arc::ptr_eq(t, &self.ticket));
            if let Some(pos) = pos {
                queue.tickets.remove(pos);
                self.cap.waiting.fetch_sub(1, Ordering::SeqCst);
                if pos == 0 {
                    if let Some(next) = queue.tickets.front() {
                        next.event.notify_additional(1);
                    }
                }
                false
            } else {
                self.ticket.state.load(Ordering::SeqCst) == GRANTED
            }
        };
        if granted {
            // Cancelled after being granted: the unit goes to the next waiter.
            self.cap.release();
        }
    }
}
