//! A caller's wait for room under the shared cap, and the unit it is granted: the part of
//! the cap that knows a key's pool ([`Shared`]), above it.

use std::sync::Arc;
use std::time::Instant;

use event_listener::Event;

use super::{CLOSED, EVICT_TRIES, GRANTED, GlobalCap, Link, Ticket, WAITING, fence};
use crate::clock;
use crate::shared::{Deadline, Shared, Slot, WaitError};
use crate::sync::{AtomicBool, AtomicUsize, Ordering, lock};

/// One unit of the shared cap, owned until it becomes part of a key's slot; given back
/// (to the oldest waiter) when dropped.
pub(crate) struct Grant<'a> {
    cap: &'a GlobalCap,
}

/// What a wait for room ended with.
pub(crate) enum Room<'a> {
    /// A unit.
    Granted(Grant<'a>),
    /// A connection of the caller's key went idle: look for it (the caller keeps its
    /// place in the queue).
    Look,
}

/// A caller's wait for room, kept across its looks at its own key's idle connections:
/// leaves the queue when dropped, handing on a unit it was granted but did not take.
pub(crate) struct RoomWait<'a> {
    link: &'a Link,
    shared: &'a Shared,
    ticket: Option<Arc<Ticket>>,
    /// Counted in `gets_waited` already.
    counted: bool,
}

impl Link {
    /// Starts a wait for room for a caller of this key (of the pool `shared`).
    pub(crate) fn wait<'a>(&'a self, shared: &'a Shared) -> RoomWait<'a> {
        RoomWait {
            link: self,
            shared,
            ticket: None,
            counted: false,
        }
    }
}

impl<'a> RoomWait<'a> {
    /// A unit: a free one, one freed by closing another key's least recently used idle
    /// connection, or the next one released, in queue order; or `Look` when a connection
    /// of the caller's own key went idle.
    pub(crate) async fn next(&mut self, deadline: &mut Deadline) -> Result<Room<'a>, WaitError> {
        let cap = &*self.link.cap;
        let ticket = match &self.ticket {
            Some(ticket) => ticket.clone(),
            None => {
                for _ in 0..EVICT_TRIES {
                    if cap.try_acquire() {
                        return Ok(Room::Granted(Grant { cap }));
                    }
                    if cap.has_waiters() || !cap.evict(&self.link.room) {
                        break;
                    }
                }
                // The hand-over bound, at most a quarter of the caller's time left.
                let (at, read) = deadline.at_read();
                let now = read.unwrap_or_else(clock::precise_now);
                let handover = clock::nanos(cap.handover_after);
                let bound = at.map_or(handover, |at| handover.min(at.saturating_sub(now) / 4));
                let ticket = Arc::new(Ticket {
                    state: AtomicUsize::new(WAITING),
                    look: AtomicBool::new(false),
                    event: Event::new(),
                    room: self.link.room.clone(),
                    hand_at: now.saturating_add(bound),
                });
                {
                    let mut queue = lock(&cap.queue);
                    if queue.closed || self.link.is_closed() {
                        return Err(WaitError::Closed);
                    }
                    if queue.tickets.is_empty() && cap.cas_acquire() {
                        return Ok(Room::Granted(Grant { cap }));
                    }
                    queue.tickets.push_back(ticket.clone());
                    cap.waiting.fetch_add(1, Ordering::SeqCst);
                    self.link.room.waiting.fetch_add(1, Ordering::SeqCst);
                }
                // Pairs with the fence of a return (see the module docs).
                fence(Ordering::SeqCst);
                self.ticket = Some(ticket);
                // Queued: the caller looks at its own key's idle connections once more (one
                // may have gone idle before it queued), then waits. The oldest waiter makes
                // room from another key's idle connection at once.
                if self.is_front() {
                    let _ = cap.evict(&self.link.room);
                }
                return Ok(Room::Look);
            }
        };
        let at = deadline.at_nanos();
        let mut started: Option<Instant> = None;
        let result = loop {
            let listener = ticket.event.listen();
            match ticket.state.load(Ordering::SeqCst) {
                GRANTED => {
                    self.ticket = None;
                    break Ok(Room::Granted(Grant { cap }));
                }
                CLOSED => {
                    self.ticket = None;
                    break Err(WaitError::Closed);
                }
                _ => {}
            }
            if ticket.look.swap(false, Ordering::SeqCst) {
                break Ok(Room::Look);
            }
            // The oldest waiter, past the hand-over bound, makes room from another key's
            // idle connection; its unit comes back through `release`.
            let overdue = clock::precise_now() >= ticket.hand_at;
            if overdue && self.is_front() && cap.evict(&self.link.room) {
                continue;
            }
            if started.is_none() {
                started = Some(Instant::now());
                if !self.counted {
                    self.counted = true;
                    self.shared.counters.gets_waited.bump();
                }
            }
            // Until the deadline, or the hand-over bound (to make room then): on the pool's
            // alarms, so a wait registers no timer of its own (which would wake async-io's
            // thread on every wait).
            let wake = match at {
                Some(at) if overdue || at <= ticket.hand_at => Some(at),
                _ if overdue => None,
                _ => Some(ticket.hand_at),
            };
            if self
                .shared
                .alarms
                .run_until_lazy(|| wake, listener)
                .await
                .is_none()
                && at.is_some_and(|at| clock::precise_now() >= at)
            {
                break Err(WaitError::Timeout);
            }
        };
        if let Some(started) = started {
            self.shared
                .counters
                .wait_time_ns
                .add(crate::clock::nanos(started.elapsed()));
        }
        result
    }

    fn is_front(&self) -> bool {
        let Some(ticket) = &self.ticket else {
            return false;
        };
        lock(&self.link.cap.queue)
            .tickets
            .front()
            .is_some_and(|t| Arc::ptr_eq(t, ticket))
    }

    /// Whether this caller is queued for room.
    pub(crate) fn is_queued(&self) -> bool {
        self.ticket.is_some()
    }
}

impl Drop for RoomWait<'_> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let cap = &*self.link.cap;
        let granted = {
            let mut queue = lock(&cap.queue);
            let pos = queue.tickets.iter().position(|t| Arc::ptr_eq(t, &ticket));
            if let Some(pos) = pos {
                queue.tickets.remove(pos);
                cap.dequeued(&ticket);
                if pos == 0 {
                    if let Some(next) = queue.tickets.front() {
                        next.event.notify_additional(1);
                    }
                }
                false
            } else {
                ticket.state.load(Ordering::SeqCst) == GRANTED
            }
        };
        if granted {
            // Left after being granted: the unit goes to the next waiter.
            cap.release();
        }
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
