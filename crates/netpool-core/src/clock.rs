//! A coarse monotonic clock for idle and lifetime bookkeeping.
//!
//! `Instant::now()` costs ~23 ns on the machines we measured, more than a whole get+drop.
//! Idle and lifetime limits need millisecond precision at best, so the pool stamps
//! connections with `CLOCK_MONOTONIC_COARSE` (a few ns through the vDSO, resolution of a
//! scheduler tick) on Linux, and with `Instant` elsewhere. Waits and their deadlines use the
//! precise monotonic clock, also in nanoseconds ([`precise_now`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Nanoseconds on the coarse clock.
pub(crate) type Nanos = u64;

/// Maps a clock's nanoseconds to `Instant`s: one pair of readings, taken together. The
/// coarse clock's ([`Epoch::new`]) dates [`Meta`](crate::Meta); the precise clock's
/// ([`precise_instant`]) sets timers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Epoch {
    instant: Instant,
    nanos: Nanos,
}

impl Epoch {
    /// On the coarse clock ([`now`]).
    pub(crate) fn new() -> Self {
        Self {
            instant: Instant::now(),
            nanos: now(),
        }
    }

    /// On the precise clock ([`precise_now`]), read first, so that an instant mapped from
    /// a later reading is never before it (a timer set for it does not fire early).
    fn precise() -> Self {
        let nanos = precise_now();
        Self {
            instant: Instant::now(),
            nanos,
        }
    }

    /// The `Instant` of the reading `nanos` (a year ahead if past `Instant`'s range).
    pub(crate) fn to_instant(self, nanos: Nanos) -> Instant {
        if nanos >= self.nanos {
            self.instant
                .checked_add(Duration::from_nanos(nanos - self.nanos))
                .unwrap_or_else(|| self.instant + Duration::from_secs(86_400 * 365))
        } else {
            self.instant
                .checked_sub(Duration::from_nanos(self.nanos - nanos))
                .unwrap_or(self.instant)
        }
    }
}

/// The coarse clock, in nanoseconds since an arbitrary start.
#[inline]
pub(crate) fn now() -> Nanos {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        read(rustix::time::ClockId::MonotonicCoarse)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        since_start()
    }
}

/// The precise monotonic clock (`CLOCK_MONOTONIC` on Linux, as `Instant` there), in
/// nanoseconds since an arbitrary start: what waits and their deadlines are timed with.
/// A plain number, so that a waited get compares and subtracts integers: `Instant`'s
/// arithmetic (and the conversions to compare deadlines) cost it about 300 instructions.
#[inline]
pub(crate) fn precise_now() -> Nanos {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        read(rustix::time::ClockId::Monotonic)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        since_start()
    }
}

/// Clock `id` in nanoseconds.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn read(id: rustix::time::ClockId) -> Nanos {
    let ts = rustix::time::clock_gettime(id);
    // The monotonic clocks count from boot: both fields are non-negative.
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Nanoseconds since the first call, on `Instant` (where the coarse clock is not at hand).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn since_start() -> Nanos {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The `Instant` of the precise clock's reading `n`, for the timers that take one (see
/// [`Epoch::precise`]).
pub(crate) fn precise_instant(n: Nanos) -> Instant {
    use std::sync::OnceLock;
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(Epoch::precise).to_instant(n)
}

/// `d` in nanoseconds, saturating.
pub(crate) fn nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The precise instant `n` coarse nanoseconds from now (far in the future on overflow).
pub(crate) fn instant_after(n: Nanos) -> Instant {
    precise_instant(precise_now().saturating_add(n))
}

/// `now`, or the smallest later instant no connection of this process was stamped with:
/// a connection's opening time that doubles as its id.
pub(crate) fn unique_stamp(now: Nanos) -> Nanos {
    // Not a synchronising atomic (only uniqueness matters), so not behind `crate::sync`.
    static LAST: AtomicU64 = AtomicU64::new(0);
    let mut last = LAST.load(Ordering::Relaxed);
    // Bounded: each failed exchange means another connection took a stamp.
    for _ in 0..1_000_000 {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => last = actual,
        }
    }
    // Unreachable in practice; still unique, since `LAST` only ever grows.
    LAST.fetch_add(1, Ordering::Relaxed).saturating_add(1)
}
