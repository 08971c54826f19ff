//! [`Stats`]: a snapshot of the pool's gauges and cumulative counters.

use std::time::Duration;

use std::cell::Cell;

use crossbeam_utils::CachePadded;

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
    /// Callers waiting for a connection.
    pub waiting: usize,
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
}

/// The cumulative counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Bumped on every get: striped so that threads on different cores do not fight over
    /// one cache line on the hot path.
    pub(crate) gets: Striped,
    pub(crate) gets_waited: AtomicU64,
    pub(crate) gets_timed_out: AtomicU64,
    pub(crate) wait_time_ns: AtomicU64,
    pub(crate) connections_created: AtomicU64,
    pub(crate) closed_broken: AtomicU64,
    pub(crate) closed_invalid: AtomicU64,
    pub(crate) closed_idle: AtomicU64,
    pub(crate) closed_lifetime: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn fill(&self, stats: &mut Stats) {
        stats.gets = self.gets.sum();
        stats.gets_waited = self.gets_waited.load(Relaxed);
        stats.gets_timed_out = self.gets_timed_out.load(Relaxed);
        stats.wait_time = Duration::from_nanos(self.wait_time_ns.load(Relaxed));
        stats.connections_created = self.connections_created.load(Relaxed);
        stats.closed_broken = self.closed_broken.load(Relaxed);
        stats.closed_invalid = self.closed_invalid.load(Relaxed);
        stats.closed_idle = self.closed_idle.load(Relaxed);
        stats.closed_lifetime = self.closed_lifetime.load(Relaxed);
        stats.connect_errors = self.connect_errors.load(Relaxed);
    }
}

const STRIPES: usize = 8;

/// A counter split over cache lines; each thread adds to the line of its stripe.
#[derive(Debug, Default)]
pub(crate) struct Striped {
    cells: [CachePadded<AtomicU64>; STRIPES],
}

impl Striped {
    #[inline]
    pub(crate) fn bump(&self) {
        self.cells[stripe()].fetch_add(1, Relaxed);
    }

    pub(crate) fn sum(&self) -> u64 {
        self.cells.iter().map(|c| c.load(Relaxed)).sum()
    }
}

/// This thread's stripe: threads take stripes round-robin, on first use.
#[inline]
fn stripe() -> usize {
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                static NEXT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                i = NEXT.fetch_add(1, Relaxed) % STRIPES;
                s.set(i);
            }
            i
        })
        .unwrap_or(0)
}
