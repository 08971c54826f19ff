//! [`Stats`]: a snapshot of the pool's gauges and cumulative counters.

use std::time::Duration;

use crate::sync::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a pool's state, from [`Pool::stats`](crate::Pool::stats).
///
/// The gauges are read one after the other, not atomically together, so under load they
/// may disagree by a connection or two.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// The current cap on connections.
    pub max_size: usize,
    /// Open connections, counting the ones being opened.
    pub connections: usize,
    /// Connections idle in the pool.
    pub idle: usize,
    /// Connections checked out, being opened or being checked.
    pub in_use: usize,
    /// Callers waiting for a connection (in a [`KeyedPool`](crate::KeyedPool), the key's
    /// callers waiting for room under the total cap too).
    pub waiting: usize,
    /// Of `waiting`: callers of a [`KeyedPool`](crate::KeyedPool)'s key queued for room
    /// under the total cap (0 for a plain pool).
    pub waiting_for_room: usize,
    /// `get`s started (all kinds).
    pub gets: u64,
    /// `get`s that had to wait.
    pub gets_waited: u64,
    /// `get`s that ended in [`Error::Timeout`](crate::Error::Timeout).
    pub gets_timed_out: u64,
    /// Total time spent waiting by the `get`s that waited, timed with `Instant` (so a
    /// wait of microseconds counts).
    pub wait_time: Duration,
    /// Connections opened.
    pub connections_created: u64,
    /// Connections closed because `has_broken` said so, or discarded by the user.
    pub closed_broken: u64,
    /// Connections closed because `is_valid` failed.
    pub closed_invalid: u64,
    /// Connections closed because they were idle longer than `idle_timeout`.
    pub closed_idle: u64,
    /// Connections closed because they reached `max_lifetime`.
    pub closed_lifetime: u64,
    /// Connect attempts that failed or timed out.
    pub connect_errors: u64,
    /// Connections of a [`KeyedPool`](crate::KeyedPool) closed to give their room under
    /// the total cap to another key's caller (returned while it waited, or the least
    /// recently used key's idle connection evicted for it): see
    /// [`CloseReason::Handoff`](crate::CloseReason::Handoff).
    pub closed_handoff: u64,
    /// `get`s that failed fast with [`Error::Unavailable`](crate::Error::Unavailable)
    /// (the server is down).
    pub gets_unavailable: u64,
    /// Connections closed because the [`on_checkout`](crate::Hooks::on_checkout) hook
    /// rejected them.
    pub closed_rejected: u64,
    /// Connections closed by [`Pool::retain`](crate::Pool::retain).
    pub closed_retained: u64,
    /// Connections closed because [`Pool::resize`](crate::Pool::resize) shrank the pool.
    pub closed_shrunk: u64,
    /// Connections closed because the pool was closed.
    pub closed_pool_closed: u64,
    /// Connections closed because a check or hook on them was cut short (a deadline, a
    /// dropped future, a panic).
    pub closed_aborted: u64,
    /// Connections taken out of the pool with [`Pooled::detach`](crate::Pooled::detach).
    pub detached: u64,
    /// Connections closed because they predated a [`Pool::refresh`](crate::Pool::refresh)
    /// (or a server fault reported with [`Pooled::report`](crate::Pooled::report)).
    pub closed_refreshed: u64,
    /// Refreshes: [`Pool::refresh`](crate::Pool::refresh) calls and reported server faults.
    pub refreshes: u64,
}

/// The cumulative counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Bumped on every get: a cell per thread, so that the hot path makes no atomic
    /// read-modify-write for it and threads on different cores do not share a line.
    pub(crate) gets: Striped,
    pub(crate) gets_waited: Striped,
    pub(crate) gets_timed_out: AtomicU64,
    pub(crate) wait_time_ns: Striped,
    pub(crate) connections_created: AtomicU64,
    pub(crate) closed_broken: AtomicU64,
    pub(crate) closed_invalid: AtomicU64,
    pub(crate) closed_idle: AtomicU64,
    pub(crate) closed_lifetime: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) closed_handoff: AtomicU64,
    pub(crate) gets_unavailable: AtomicU64,
    pub(crate) closed_rejected: AtomicU64,
    pub(crate) closed_retained: AtomicU64,
    pub(crate) closed_shrunk: AtomicU64,
    pub(crate) closed_pool_closed: AtomicU64,
    pub(crate) closed_aborted: AtomicU64,
    pub(crate) detached: AtomicU64,
    pub(crate) closed_refreshed: AtomicU64,
    pub(crate) refreshes: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn fill(&self, stats: &mut Stats) {
        stats.gets = self.gets.sum();
        stats.gets_waited = self.gets_waited.sum();
        stats.gets_timed_out = self.gets_timed_out.load(Relaxed);
        stats.wait_time = Duration::from_nanos(self.wait_time_ns.sum());
        stats.connections_created = self.connections_created.load(Relaxed);
        stats.closed_broken = self.closed_broken.load(Relaxed);
        stats.closed_invalid = self.closed_invalid.load(Relaxed);
        stats.closed_idle = self.closed_idle.load(Relaxed);
        stats.closed_lifetime = self.closed_lifetime.load(Relaxed);
        stats.connect_errors = self.connect_errors.load(Relaxed);
        stats.closed_handoff = self.closed_handoff.load(Relaxed);
        stats.gets_unavailable = self.gets_unavailable.load(Relaxed);
        stats.closed_rejected = self.closed_rejected.load(Relaxed);
        stats.closed_retained = self.closed_retained.load(Relaxed);
        stats.closed_shrunk = self.closed_shrunk.load(Relaxed);
        stats.closed_pool_closed = self.closed_pool_closed.load(Relaxed);
        stats.closed_aborted = self.closed_aborted.load(Relaxed);
        stats.detached = self.detached.load(Relaxed);
        stats.closed_refreshed = self.closed_refreshed.load(Relaxed);
        stats.refreshes = self.refreshes.load(Relaxed);
    }
}

/// Threads that get a counter cell of their own in every pool; later ones share one.
const OWNED: usize = 16;

/// A counter that a thread bumps without an atomic read-modify-write.
///
/// Each thread takes a small id on first use (ids of exited threads are reused) and owns
/// cell `id` of every counter: only the owner writes it, so a plain load and store count
/// exactly, at the cost of two moves instead of a locked add (about a quarter of a
/// `get`'s time when uncontended). Threads beyond [`OWNED`] add to a shared cell.
#[derive(Debug, Default)]
pub(crate) struct Striped {
    owned: [Line; OWNED],
    shared: AtomicU64,
}

/// A cell on a cache line of its own, so that owners on different cores do not share it.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Line(AtomicU64);

impl Striped {
    #[inline(always)]
    pub(crate) fn bump(&self) {
        self.add(1);
    }

    /// Adds `n`.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64) {
        match owner() {
            Some(i) => {
                let cell = &self.owned[i].0;
                // This thread is the cell's only writer (see `owner`).
                cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
            }
            None => {
                self.shared.fetch_add(n, Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.owned
            .iter()
            .map(|c| c.0.load(Relaxed))
            .fold(self.shared.load(Relaxed), u64::wrapping_add)
    }
}

/// This thread's cell, if it owns one.
///
/// Ids are handed out under a lock and given back by the thread-local's destructor under
/// the same lock, so a thread that reuses an id sees every write of its previous owner.
/// Under loom every model thread runs on one OS thread and would share an id: loom builds
/// use the shared cell.
#[cfg(not(loom))]
#[inline(always)]
fn owner() -> Option<usize> {
    thread_local! {
        static ID: Owner = Owner::take();
    }
    ID.try_with(|id| id.0).ok().flatten()
}

#[cfg(loom)]
#[inline]
fn owner() -> Option<usize> {
    None
}

/// A thread's id while it lives.
#[cfg(not(loom))]
struct Owner(Option<usize>);

/// Ids not in use, and the next never used.
#[cfg(not(loom))]
static IDS: std::sync::Mutex<(Vec<usize>, usize)> = std::sync::Mutex::new((Vec::new(), 0));

#[cfg(not(loom))]
impl Owner {
    fn take() -> Self {
        let mut ids = IDS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (free, next) = &mut *ids;
        if let Some(id) = free.pop() {
            return Self(Some(id));
        }
        if *next < OWNED {
            *next += 1;
            return Self(Some(*next - 1));
        }
        Self(None)
    }
}

#[cfg(not(loom))]
impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            let mut ids = IDS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            ids.0.push(id);
        }
    }
}
