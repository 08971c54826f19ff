//! The cap on connections shared by all keys of a [`KeyedPool`](crate::KeyedPool), and the
//! hand-over policy that decides which key's caller gets room when it is reached.
//!
//! # Implementation details
//!
//! * `used` counts the connections of every key, the ones being opened included. A key's
//!   pool takes a unit (`try_acquire`, a CAS keeping `used <= max`) after reserving its own
//!   slot and before `connect` starts, and gives it back (`release`) when the connection is
//!   closed, so the cap holds at every instant. A unit is owned by the key pool's `Slot`
//!   (or, in between, by a [`Grant`](room::Grant)) so a dropped future gives it back.
//! * Waiters for a unit ("waiters for room") queue in `queue`, first come, first served
//!   across keys. `release` takes the lock and hands the unit straight to the oldest waiter
//!   (`used` unchanged) instead of freeing it, so a newcomer cannot take it; newcomers do
//!   not take free units while anyone is queued (`waiting != 0`). A waiter re-checks under
//!   the same lock before it queues, so a release cannot slip between its check and its
//!   queueing.
//! * Room is made instead of waited for: a caller that finds the cap reached while another
//!   key has idle connections closes the least recently used key's oldest idle connection
//!   (the `evict` hook the keyed pool installs) and takes the unit that frees. Only the
//!   oldest waiter (or a caller when nobody is queued) evicts, so evictions serve waiters
//!   in order. Keys whose own callers wait for room are not evicted from.
//! * The hand-over policy, when a connection of key K goes idle (returned, or put back by
//!   maintenance) while callers wait for room ([`GlobalCap::on_idle`]): if the oldest waiter
//!   is K's, or K has a caller of its own waiting (for room, for a permit or for capacity)
//!   and the oldest waiter has not waited longer than the hand-over bound, the connection
//!   stays with K (K's oldest waiter for room is told to look at K's idle connections);
//!   otherwise one of K's idle connections is closed and its unit goes to the oldest
//!   waiter. So a busy key keeps reusing its connections (no reconnect per get), and no
//!   waiter waits much longer than the bound (`KeyedBuilder::handover_after`, capped at a
//!   quarter of the waiter's own timeout) while other keys return connections.
//! * Lost wake-ups: a connection is pushed idle, then (after a `SeqCst` fence) `waiting` is
//!   read; a waiter increments `waiting` under the lock, then (after a `SeqCst` fence)
//!   looks for idle connections to evict. One of the two sees the other.
//! * Closing: `close` (the keyed pool's) and `close_key` (its `remove`) mark tickets
//!   `CLOSED` and wake them; a caller that was granted a unit re-checks both flags before
//!   it connects, so no connection is opened on a pool that is closing.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use event_listener::Event;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;

pub(crate) mod room;

use crate::clock::Nanos;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, lock};

/// How many evictions a caller tries before it queues, when others take the room it made.
const EVICT_TRIES: usize = 4;

/// Closes one idle connection of some key other than the given one's, the least recently
/// used; `false` if none was idle.
pub(crate) type Evict = Box<dyn Fn(&KeyRoom) -> bool + Send + Sync>;

/// The cap shared by all keys (see the module docs).
pub(crate) struct GlobalCap {
    max: usize,
    used: CachePadded<AtomicUsize>,
    /// Waiters in `queue` (read without the lock by `try_acquire` and returns).
    waiting: CachePadded<AtomicUsize>,
    queue: Mutex<Queue>,
    evict: OnceLock<Evict>,
    /// Set first by the keyed pool's `close`.
    closed: AtomicBool,
    /// The use clock for eviction: advanced by returns (see [`Link::stamp`]).
    seq: CachePadded<AtomicU64>,
    /// The hand-over bound.
    handover_after: Duration,
}

/// A key's pool's link to the shared cap: the cap, and the key's own room state.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) cap: Arc<GlobalCap>,
    pub(crate) room: Arc<KeyRoom>,
}

/// One key's state under the shared cap.
pub(crate) struct KeyRoom {
    /// This key's callers queued for room.
    waiting: AtomicUsize,
    /// The key was removed, or the pool closed: its callers get `Closed`.
    closed: AtomicBool,
    /// Notified when `closed` is set (wakes callers waiting on the backoff).
    closed_event: Event,
    /// When the key's connection was last returned, on the cap's use clock.
    used: AtomicU64,
}

impl KeyRoom {
    /// A new key's state, stamped `used` on the use clock.
    pub(crate) fn new(used: u64) -> Self {
        Self {
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            closed_event: Event::new(),
            used: AtomicU64::new(used),
        }
    }
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
    /// A connection of its own key went idle: look there before waiting on.
    look: AtomicBool,
    /// Woken when granted, closed, told to look, or made the oldest waiter.
    event: Event,
    /// Its key.
    room: Arc<KeyRoom>,
    /// From then on, other keys' returns hand their room to it.
    hand_at: Nanos,
}

/// What to do with a connection of a key that just went idle while others wait for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnIdle {
    /// Keep it for the key's own callers.
    Keep,
    /// Close one of the key's idle connections: its unit goes to the oldest waiter.
    HandOver,
}

impl GlobalCap {
    pub(crate) fn new(max: usize, handover_after: Duration) -> Self {
        Self {
            max,
            used: CachePadded::new(AtomicUsize::new(0)),
            waiting: CachePadded::new(AtomicUsize::new(0)),
            queue: Mutex::new(Queue::default()),
            evict: OnceLock::new(),
            closed: AtomicBool::new(false),
            seq: CachePadded::new(AtomicU64::new(0)),
            handover_after,
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

    /// Whether anyone is queued.
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) != 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Advances the use clock: the new value.
    pub(crate) fn tick(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
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
            self.dequeued(&ticket);
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

    /// Wakes every waiter with `Closed`; from now on waits for room fail.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let mut queue = lock(&self.queue);
        queue.closed = true;
        for ticket in queue.tickets.drain(..) {
            self.dequeued(&ticket);
            ticket.state.store(CLOSED, Ordering::SeqCst);
            ticket.event.notify(usize::MAX);
        }
    }

    /// Wakes the waiters of one key (removed, or its pool closed) with `Closed`, and the
    /// key's callers waiting elsewhere (on the backoff) through its `closed_event`.
    pub(crate) fn close_key(&self, room: &KeyRoom) {
        room.closed.store(true, Ordering::SeqCst);
        room.closed_event.notify(usize::MAX);
        let mut queue = lock(&self.queue);
        let front = queue.tickets.front().cloned();
        queue.tickets.retain(|ticket| {
            if std::ptr::eq(&*ticket.room, room) {
                self.dequeued(ticket);
                ticket.state.store(CLOSED, Ordering::SeqCst);
                ticket.event.notify(usize::MAX);
                false
            } else {
                true
            }
        });
        let new_front = queue.tickets.front();
        if let Some(next) = new_front {
            if front.is_none_or(|f| !Arc::ptr_eq(&f, next)) {
                next.event.notify_additional(1);
            }
        }
    }

    /// A ticket left the queue (lock held).
    fn dequeued(&self, ticket: &Ticket) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        ticket.room.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    fn evict(&self, except: &KeyRoom) -> bool {
        self.evict.get().is_some_and(|evict| evict(except))
    }

    /// The hand-over decision for a connection of `room`'s key that just went idle while
    /// callers wait for room (see the module docs): `returned` by its user (the key is
    /// busy), or put back by maintenance.
    pub(crate) fn on_idle(&self, room: &KeyRoom, returned: bool) -> OnIdle {
        let queue = lock(&self.queue);
        let Some(front) = queue.tickets.front() else {
            return OnIdle::Keep;
        };
        let own = queue.tickets.iter().find(|t| std::ptr::eq(&*t.room, room));
        let overdue = crate::clock::precise_now() >= front.hand_at;
        if let Some(own) = own {
            // The key's own oldest waiter for room: the front, or the front can wait.
            if std::ptr::eq(&**own, &**front) || !overdue || !returned {
                own.look.store(true, Ordering::SeqCst);
                own.event.notify_additional(1);
                return OnIdle::Keep;
            }
            return OnIdle::HandOver;
        }
        if returned && !overdue {
            // A busy key keeps its connection while the oldest waiter can wait.
            return OnIdle::Keep;
        }
        OnIdle::HandOver
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

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("cap", &self.cap)
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Takes a unit if one is free and nobody is queued.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        self.cap.try_acquire()
    }

    /// A connection of this key was closed.
    #[inline]
    pub(crate) fn release(&self) {
        self.cap.release();
    }

    /// Whether the key was removed or the keyed pool closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.cap.is_closed() || self.room.closed.load(Ordering::SeqCst)
    }

    /// This key's callers queued for room.
    pub(crate) fn waiting(&self) -> usize {
        self.room.waiting.load(Ordering::Relaxed)
    }

    /// When the key was last used (returned a connection), on the use clock.
    pub(crate) fn last_used(&self) -> u64 {
        self.room.used.load(Ordering::Relaxed)
    }

    /// Whether callers of this key wait for room (its idle connections are theirs).
    pub(crate) fn has_room_waiters(&self) -> bool {
        self.room.waiting.load(Ordering::SeqCst) != 0
    }

    /// Stamps the key as used now: the use clock advances only when another key was
    /// stamped since this one, so a key used over and over writes nothing shared.
    #[inline]
    pub(crate) fn stamp(&self) {
        let now = self.cap.seq.load(Ordering::Relaxed);
        if self.room.used.load(Ordering::Relaxed) != now {
            self.room.used.store(self.cap.tick(), Ordering::Relaxed);
        }
    }

    /// Resolves once the key is removed or the pool closed.
    pub(crate) async fn closed(&self) {
        loop {
            let listener = self.room.closed_event.listen();
            if self.is_closed() {
                return;
            }
            listener.await;
        }
    }
}
