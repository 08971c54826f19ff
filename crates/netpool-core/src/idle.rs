//! The idle queue and the bookkeeping kept with each connection.

use std::time::{Duration, Instant};

use concurrent_queue::ConcurrentQueue;

use crate::QueueStrategy;
use crate::clock::{Epoch, Nanos};
use crate::sync::{Mutex, lock};

/// A connection with its bookkeeping, while idle or checked out.
///
/// The bookkeeping lives in a record of its own, allocated when the connection opens
/// (never per checkout), so that what the hot path moves between the idle queue, the
/// guard and back is the connection and one pointer: 16 bytes beside a word-sized
/// connection, carried in registers. The record's fields are reached through `Deref`.
#[derive(Debug)]
pub(crate) struct Idle<C> {
    pub(crate) conn: C,
    book: Box<Book>,
}

/// A connection's bookkeeping (see [`Idle`]).
#[derive(Debug)]
pub(crate) struct Book {
    /// When it was opened (coarse clock), made unique in the process so that it doubles as
    /// the connection's id (see [`Idle::id`]).
    pub(crate) created: Nanos,
    /// When it was last returned (or opened).
    pub(crate) last_used: Nanos,
    /// When `is_valid` last passed (or it was opened); maintenance uses it to avoid
    /// checking the same idle connection on every pass.
    pub(crate) checked: Nanos,
    /// When it reaches its jittered `max_lifetime`; `Nanos::MAX` for never.
    pub(crate) expires: Nanos,
    /// How many times it was checked out (saturating).
    pub(crate) uses: u32,
    /// The last maintenance or `retain` pass that visited it (see [`IdleQueue::visit`]),
    /// modulo 2^16 (a pass ends early, harmlessly, if a connection out for exactly a
    /// multiple of 65,536 passes comes back during one).
    pub(crate) pass: u16,
    /// Its checkout record's number in the pool's table, given when it opened with
    /// holders tracked; 0 for none (see `crate::holders`). The record goes back to the
    /// table where the connection closes.
    pub(crate) hold: u16,
    /// Set by [`Pooled::set_broken`](crate::Pooled::set_broken) while checked out: close
    /// it instead of taking it back. Never set on an idle connection (a broken one is
    /// closed at its return).
    pub(crate) broken: bool,
}

impl<C> std::ops::Deref for Idle<C> {
    type Target = Book;

    #[inline(always)]
    fn deref(&self) -> &Book {
        &self.book
    }
}

impl<C> std::ops::DerefMut for Idle<C> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Book {
        &mut self.book
    }
}

impl<C> Idle<C> {
    pub(crate) fn new(conn: C, now: Nanos, lifetime: Option<Nanos>) -> Self {
        let expires = match lifetime {
            // Jitter the limit down by up to 5% so that connections opened together do not
            // all expire together.
            Some(l) => now.saturating_add(l - fastrand::u64(0..=l / 20)),
            None => Nanos::MAX,
        };
        let created = crate::clock::unique_stamp(now);
        Self {
            conn,
            book: Box::new(Book {
                created,
                last_used: created,
                checked: created,
                expires,
                uses: 0,
                pass: 0,
                hold: 0,
                broken: false,
            }),
        }
    }

    /// Its id in events and [`Meta`]: unique in the process, increasing with
    /// the opening time (it is the opening instant, bumped by a nanosecond or two if
    /// another connection was opened in the same tick of the coarse clock).
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.created
    }

    /// How long since it was last used or checked, whichever is later.
    pub(crate) fn unchecked_for(&self, now: Nanos) -> Nanos {
        now.saturating_sub(self.last_used.max(self.checked))
    }
}

/// Idle connections, in the order of the [`QueueStrategy`].
#[allow(
    clippy::large_enum_variant,
    reason = "one per pool; boxing the queues would add an indirection to the hot path"
)]
#[derive(Debug)]
pub(crate) enum IdleQueue<T> {
    /// A bounded lock-free queue sized to `max_size` at build time, and an unbounded one
    /// that takes the overflow after [`Pool::resize`](crate::Pool::resize) grew the pool.
    /// The bounded queue never allocates after build.
    Fifo {
        main: Ring<T>,
        spill: ConcurrentQueue<T>,
    },
    /// A stack behind a short lock.
    Lifo(Mutex<Vec<T>>),
}

impl<T> IdleQueue<T> {
    pub(crate) fn new(strategy: QueueStrategy, capacity: usize) -> Self {
        match strategy {
            QueueStrategy::Lifo => Self::Lifo(Mutex::new(Vec::with_capacity(capacity))),
            _ => Self::Fifo {
                main: Ring::new(capacity.max(1)),
                spill: ConcurrentQueue::unbounded(),
            },
        }
    }

    #[inline]
    pub(crate) fn push(&self, item: T) {
        match self {
            Self::Fifo { main, spill } => {
                if let Err(item) = main.push(item) {
                    // The unbounded queue is never closed nor full.
                    let _ = spill.push(item);
                }
            }
            Self::Lifo(stack) => lock(stack).push(item),
        }
    }

    #[inline(always)]
    pub(crate) fn pop(&self) -> Option<T> {
        match self {
            Self::Fifo { main, spill } => match main.pop() {
                Some(item) => Some(item),
                None if !spill.is_empty() => spill.pop().ok(),
                None => None,
            },
            Self::Lifo(stack) => lock(stack).pop(),
        }
    }

    /// Takes the next connection for a pass over the idle queue that has kept `kept`
    /// connections so far: FIFO the front; LIFO the one `kept` places above the bottom
    /// (the pass walks the stack from the oldest up, and the connections above it are
    /// the ones it has not visited).
    pub(crate) fn visit(&self, kept: usize) -> Option<T> {
        match self {
            Self::Fifo { .. } => self.pop(),
            Self::Lifo(stack) => {
                let mut stack = lock(stack);
                (kept < stack.len()).then(|| stack.remove(kept))
            }
        }
    }

    /// Puts back a connection that a pass visited and keeps, as its `kept`-th: FIFO at the
    /// back (behind the ones not visited yet); LIFO where it was, so the pass leaves the
    /// stack's order as it found it.
    pub(crate) fn put_visited(&self, item: T, kept: usize) {
        match self {
            Self::Fifo { .. } => self.push(item),
            Self::Lifo(stack) => {
                let mut stack = lock(stack);
                let at = kept.min(stack.len());
                stack.insert(at, item);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Fifo { main, spill } => main.len() + spill.len(),
            Self::Lifo(stack) => lock(stack).len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Fifo { main, spill } => main.is_empty() && spill.is_empty(),
            Self::Lifo(stack) => lock(stack).is_empty(),
        }
    }
}

/// The idle queue's bounded ring: crossbeam's `ArrayQueue`, whose pop and push take half
/// the instructions of `ConcurrentQueue`'s bounded queue (the same algorithm, there behind
/// an enum of queue kinds and a close bit): 83 instructions per pop+push against 173, and
/// 12 ns against 23-26 on an AMD EPYC. Under loom, which does not model crossbeam's
/// atomics, `ConcurrentQueue` (which loom does model) stands in, with the same semantics:
/// a linearizable bounded FIFO whose push fails when full and pop when empty.
#[derive(Debug)]
pub(crate) struct Ring<T> {
    #[cfg(not(loom))]
    queue: crossbeam_queue::ArrayQueue<T>,
    #[cfg(loom)]
    queue: ConcurrentQueue<T>,
}

impl<T> Ring<T> {
    fn new(capacity: usize) -> Self {
        Self {
            #[cfg(not(loom))]
            queue: crossbeam_queue::ArrayQueue::new(capacity),
            #[cfg(loom)]
            queue: ConcurrentQueue::bounded(capacity),
        }
    }

    /// Pushes `item` at the back; gives it back when the ring is full.
    #[inline(always)]
    fn push(&self, item: T) -> Result<(), T> {
        #[cfg(not(loom))]
        {
            self.queue.push(item)
        }
        #[cfg(loom)]
        {
            self.queue
                .push(item)
                .map_err(concurrent_queue::PushError::into_inner)
        }
    }

    /// Pops the front item, if any.
    #[inline(always)]
    fn pop(&self) -> Option<T> {
        #[cfg(not(loom))]
        {
            self.queue.pop()
        }
        #[cfg(loom)]
        {
            self.queue.pop().ok()
        }
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

impl Meta {
    pub(crate) fn from_idle<C>(item: &Idle<C>, epoch: Epoch) -> Self {
        // `created` may be a nanosecond or two past the clock (it doubles as the id).
        let last_used = item.last_used.max(item.created);
        Self::from_raw(
            item.id(),
            item.created,
            last_used,
            u64::from(item.uses),
            epoch,
        )
    }

    pub(crate) fn from_raw(
        id: u64,
        created: Nanos,
        last_used: Nanos,
        uses: u64,
        epoch: Epoch,
    ) -> Self {
        Self {
            created_at: epoch.to_instant(created),
            last_used: epoch.to_instant(last_used),
            use_count: uses,
            id,
        }
    }

    /// How long ago the connection was opened.
    pub fn age(&self) -> Duration {
        self.created_at.elapsed()
    }

    /// How long ago the connection was last returned (or opened).
    pub fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }
}

/// A snapshot of a connection's bookkeeping, from [`Pooled::meta`](crate::Pooled::meta) or in
/// [`Pool::retain`](crate::Pool::retain).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// When the connection was opened (or added).
    pub created_at: Instant,
    /// When the connection was last returned to the pool (or opened).
    pub last_used: Instant,
    /// How many times it was checked out, this time included.
    pub use_count: u64,
    /// Its id, unique in the process: the `id` in its [`Event`](crate::Event)s.
    pub id: u64,
}

#[cfg(test)]
mod tests {
    use super::Idle;

    #[test]
    fn lifetime_is_jittered_down_by_at_most_five_percent() {
        let lifetime = 1_000_000_000;
        let expires: Vec<_> = (0..256)
            .map(|_| Idle::new((), 0, Some(lifetime)).expires)
            .collect();
        assert!(
            expires
                .iter()
                .all(|&e| (950_000_000..=lifetime).contains(&e))
        );
        let (min, max) = (expires.iter().min().unwrap(), expires.iter().max().unwrap());
        assert!(
            max - min > 10_000_000,
            "connections opened together expire apart"
        );
        assert_eq!(Idle::new((), 7, None).expires, u64::MAX);
    }
}
