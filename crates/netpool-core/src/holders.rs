//! Hold-time diagnostics: who holds the pool's connections, for how long, and which of
//! them were held past [`Builder::leak_threshold`](crate::Builder::leak_threshold).
//!
//! # Implementation details
//!
//! Every checkout entry point is `#[track_caller]`, and the [`Pooled`](crate::Pooled)
//! guard keeps the caller's `Location` (a pointer to a static, free to pass). With a leak
//! threshold set, each connection also gets a [`Hold`] record when it opens, from
//! the pool's table of records (one slice for `max_size` connections and as many again,
//! allocated with the pool; beyond, 256 at a time; never per checkout), and keeps the
//! record's number in its bookkeeping (a `u16` beside the other small fields, with no
//! drop glue of its own). The record goes back to the table
//! where the connection closes. A checkout stamps the record with the site and the
//! pool's latest tracked open, return or maintenance pass (`Diag::recent`: no clock
//! reading of its own); a return clears it. Both are plain stores, no
//! read-modify-write: only the guard's thread writes `since` and `site` while it holds
//! the connection. The check that a connection is tracked is a test of its number, which
//! the hot path has in hand, so that pools without a threshold pay one predictable branch
//! per checkout and one per return. The few loads and stores behind it are inline: calls
//! there cost more than the work (see `stamp` in `pooled.rs`).
//!
//! Maintenance scans the registry: a record held longer than the threshold is reported
//! once, as [`Event::HeldTooLong`], by storing the checkout's stamp in `reported`. The
//! guard, on return, compares `reported` with its own stamp and reports
//! [`Event::ReturnedAfterLeak`], storing the stamp in `acked` *before* it clears `since`
//! (release); it looks only while the last scan left such a checkout out (`Diag::leaks`),
//! so that a plain return writes `since` and reads nothing. A guard that returned before
//! it could see `reported` (or `leaks`) leaves `acked` behind;
//! the next scan, seeing (acquire) that the checkout is over and not acknowledged,
//! reports the return itself. So each reported checkout gets exactly one of each, without
//! a fence on the hot path. Scans run under the registry's lock; their events are sent
//! after it is released, so a handler may call [`Pool::holders`](crate::Pool::holders).
//!
//! A record released by its closing connection reports an unacknowledged return first
//! (under the table's lock, which scans hold too). A forgotten guard (`mem::forget`) keeps
//! its record, and shows up as the holder. A pool with more than 65,535 connections at
//! once leaves the ones beyond untracked.

use std::fmt;
use std::panic::Location;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_utils::atomic::AtomicCell;

use crate::clock::{self, Nanos};
use crate::config::Config;
use crate::events::{Event, Events};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, lock};

/// A checked-out connection, as listed by [`Pool::holders`](crate::Pool::holders).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The connection's id (as in [`Meta::id`](crate::Meta::id) and the events).
    pub id: u64,
    /// Where it was checked out: the caller of `get` (or `get_blocking`, `try_get`, ...).
    pub site: &'static Location<'static>,
    /// How long it has been checked out (coarse clock: a few ms of resolution).
    pub held_for: Duration,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection {} held {} by {}:{}",
            self.id,
            Secs(self.held_for),
            self.site.file(),
            self.site.line()
        )
    }
}

/// The state of a pool when a get timed out, from [`Pool::last_timeout`](crate::Pool::last_timeout) (and logged at
/// `warn` under the `tracing` feature).
///
/// Its text names the cause: "no connection free in 5 s: 16 of 16 in use, oldest held
/// 41 s by src/jobs.rs:88".
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutReport {
    /// The pool's name ([`Builder::name`](crate::Builder::name)), if it has one.
    pub pool: Option<Arc<str>>,
    /// How long the get waited.
    pub waited: Duration,
    /// Connections checked out (or being opened or checked) at the time.
    pub in_use: usize,
    /// The pool's `max_size` at the time.
    pub max_size: usize,
    /// Other callers waiting at the time.
    pub waiting: usize,
    /// The connection checked out longest, if holders are tracked (with a
    /// [`leak_threshold`](crate::Builder::leak_threshold)).
    pub oldest: Option<Holder>,
}

impl fmt::Display for TimeoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(pool) = &self.pool {
            write!(f, "pool {pool}: ")?;
        }
        write!(
            f,
            "no connection free in {}: {} of {} in use",
            Secs(self.waited),
            self.in_use,
            self.max_size
        )?;
        if self.waiting > 0 {
            write!(f, ", {} waiting", self.waiting)?;
        }
        match &self.oldest {
            Some(h) => write!(
                f,
                ", oldest held {} by {}:{}",
                Secs(h.held_for),
                h.site.file(),
                h.site.line()
            ),
            None => Ok(()),
        }
    }
}

/// The diagnostics a pool keeps: its name, the holders' registry, the last timeout.
pub(crate) struct Diag {
    /// `leak_threshold` in nanoseconds.
    threshold: Option<Nanos>,
    pub(crate) name: Option<Arc<str>>,
    /// The checkout records, when holders are tracked.
    table: Option<Box<Table>>,
    /// The latest coarse clock reading of a tracked open or return, or of maintenance:
    /// what a checkout is dated with (see [`Hold::checked_out`]). Never 0.
    pub(crate) recent: AtomicU64,
    /// Whether the last scan left a checkout reported as held too long still out: only
    /// then does a return look at its record's `reported` (see [`Diag::untrack`]).
    /// Written by scans only.
    leaks: AtomicBool,
    pub(crate) last_timeout: Mutex<Option<TimeoutReport>>,
    /// The metrics' labels and the counters already exported.
    #[cfg(feature = "metrics")]
    pub(crate) meter: crate::metrics::Meter,
}

/// Records per chunk of the table's overflow.
const CHUNK: usize = 256;
/// Chunks in the overflow: every `u16` number has a place.
const CHUNKS: usize = (u16::MAX as usize + 1) / CHUNK;

/// A chunk of the table's overflow.
type Chunk = Box<[Hold; CHUNK]>;

/// The checkout records, numbered from 1 (0 is "none"): one slice for the pool's
/// `max_size` connections (and as many again, for connections closing while their
/// replacements open), so that the lookup of a checkout is an index; the numbers beyond
/// (after a `resize` up) in chunks allocated on demand. A record's address never changes
/// and a lookup takes no lock.
struct Table {
    first: Box<[Hold]>,
    /// Fixed sizes, so that a lookup by a `u16` needs no bounds check; allocated on the
    /// first number beyond `first`.
    rest: OnceLock<Box<[OnceLock<Chunk>; CHUNKS]>>,
    /// Allocation of numbers; also serialises scans with releases.
    numbers: Mutex<Numbers>,
}

/// The table's numbers in use and free.
#[derive(Default)]
struct Numbers {
    /// Numbers below this were handed out at some time.
    next: usize,
    free: Vec<u16>,
}

impl Table {
    fn new(max_size: usize) -> Self {
        let len = max_size
            .saturating_mul(2)
            .saturating_add(1)
            .min(usize::from(u16::MAX) + 1);
        Self {
            first: (0..len).map(|_| Hold::free()).collect(),
            rest: OnceLock::new(),
            numbers: Mutex::new(Numbers {
                next: 1,
                free: Vec::new(),
            }),
        }
    }

    #[inline]
    fn get(&self, number: u16) -> Option<&Hold> {
        match self.first.get(usize::from(number)) {
            Some(hold) => Some(hold),
            None => self.beyond(number),
        }
    }

    #[cold]
    fn beyond(&self, number: u16) -> Option<&Hold> {
        let n = usize::from(number);
        // In range by construction: a `u16` over `CHUNK` is below `CHUNKS`.
        let chunk = self.rest.get()?[n / CHUNK].get()?;
        Some(&chunk[n % CHUNK])
    }

    /// Makes room for record `number`.
    fn grow(&self, number: u16) {
        let n = usize::from(number);
        if n >= self.first.len() {
            let rest = self
                .rest
                .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
            rest[n / CHUNK].get_or_init(|| Box::new(std::array::from_fn(|_| Hold::free())));
        }
    }

    /// The records handed out so far (free ones included), under the lock.
    fn each(&self, numbers: &Numbers, mut f: impl FnMut(&Hold)) {
        for n in 1..numbers.next {
            if let Some(hold) = u16::try_from(n).ok().and_then(|n| self.get(n)) {
                f(hold);
            }
        }
    }
}

/// One connection's checkout record (see the module docs). A cache line each: threads
/// checking out neighbouring connections do not write to the same line.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Hold {
    /// The connection's id; 0 while the record is free.
    id: AtomicU64,
    /// The coarse time of the current checkout (never 0); 0 while not checked out.
    since: AtomicU64,
    site: AtomicCell<&'static Location<'static>>,
    /// The checkout maintenance reported as held too long (its `since`). Maintenance only.
    reported: AtomicU64,
    /// The reported checkout whose return was reported.
    acked: AtomicU64,
}

impl Diag {
    pub(crate) fn new(config: &Config) -> Self {
        let name: Option<Arc<str>> = config.name.as_deref().map(Arc::from);
        Self {
            threshold: config.leak_threshold.map(clock::nanos),
            #[cfg(feature = "metrics")]
            meter: crate::metrics::Meter::new(
                name.as_deref(),
                config.server_address.as_deref(),
                config.min_idle,
            ),
            name,
            table: config
                .leak_threshold
                .map(|_| Box::new(Table::new(config.max_size))),
            recent: AtomicU64::new(clock::now().max(1)),
            leaks: AtomicBool::new(false),
            last_timeout: Mutex::new(None),
        }
    }

    /// Whether checkouts stamp a [`Hold`] record (a leak threshold is set).
    #[inline(always)]
    pub(crate) fn track(&self) -> bool {
        self.table.is_some()
    }

    /// A new connection `id`'s record number, if holders are tracked: 0 if they are not,
    /// or if the table is full.
    #[inline]
    pub(crate) fn enroll(&self, id: u64) -> u16 {
        if !self.track() {
            return 0;
        }
        // The id is the connection's opening time: it dates a first checkout (see
        // `recent`).
        self.recent.store(id.max(1), Ordering::Relaxed);
        self.register(id)
    }

    /// A record for connection `id`: its number, or 0 if the table is full.
    #[cold]
    #[inline(never)]
    fn register(&self, id: u64) -> u16 {
        let Some(table) = &self.table else { return 0 };
        let mut numbers = lock(&table.numbers);
        let number = match numbers.free.pop() {
            Some(n) => n,
            None => {
                let Ok(n) = u16::try_from(numbers.next) else {
                    return 0;
                };
                table.grow(n);
                numbers.next += 1;
                n
            }
        };
        // A free record is clear (new, or cleared by `release`): only its owner is new.
        if let Some(hold) = table.get(number) {
            hold.id.store(id, Ordering::Relaxed);
        }
        number
    }

    /// Record `number` (0 for none).
    #[inline(always)]
    pub(crate) fn record(&self, number: u16) -> Option<&Hold> {
        if number == 0 {
            return None;
        }
        self.held(number)
    }

    /// Record `number`, which the caller found not 0 (a tracked connection's).
    #[inline(always)]
    pub(crate) fn held(&self, number: u16) -> Option<&Hold> {
        self.table.as_deref()?.get(number)
    }

    /// The checkout of a tracked connection, record `number` (not 0), is over: clears the
    /// record, and reports the return of one that was held too long. Behind the number's
    /// test (in `Inner::put_back` on the return path, so that the guard's drop keeps no
    /// test of its own; in `release` when a checked-out connection closes instead); the
    /// rare work ([`end`](Self::end)) is out of line.
    ///
    /// Unless the last scan left a reported checkout out (`leaks`), or the `metrics`
    /// feature wants the use time, a return only clears `since`: one store, no read of the
    /// record. A return that misses a report this way is one the guard did not see in
    /// time, which the next scan reports (see the module docs).
    #[inline(always)]
    pub(crate) fn untrack(&self, number: u16, events: &Events) {
        if let Some(hold) = self.held(number) {
            if cfg!(feature = "metrics") || self.leaks.load(Ordering::Relaxed) {
                self.end(hold, events);
            } else {
                hold.since.store(0, Ordering::Release);
            }
        }
    }

    /// [`untrack`](Self::untrack)'s work on the record in hand.
    #[cold]
    #[inline(never)]
    fn end(&self, hold: &Hold, events: &Events) {
        let (since, leaked) = hold.returned();
        if leaked || cfg!(feature = "metrics") {
            self.held_for(since, leaked, events);
        }
    }

    /// A tracked checkout that began at `since` is over: records its use time, reports
    /// the return of a leaked one.
    #[inline(never)]
    fn held_for(&self, since: Nanos, leaked: bool, events: &Events) {
        let held_for = Duration::from_nanos(clock::now().saturating_sub(since));
        #[cfg(feature = "metrics")]
        self.meter.used(held_for);
        if leaked {
            events.emit(|| Event::ReturnedAfterLeak { held_for });
        }
    }

    /// Connection `number`'s holder closes: its record goes back to the table. A
    /// checkout still stamped on it ends with it (a guard that closes or detaches its
    /// connection: see [`untrack`](Self::untrack)); a return the guard did not see
    /// reported is reported (as a scan would).
    pub(crate) fn release(&self, number: u16, events: &Events) {
        let (Some(table), Some(hold)) = (&self.table, self.record(number)) else {
            return;
        };
        if hold.since.load(Ordering::Relaxed) != 0 {
            self.end(hold, events);
        }
        let returned = {
            let mut numbers = lock(&table.numbers);
            let returned = hold.unacked();
            hold.id.store(0, Ordering::Relaxed);
            hold.since.store(0, Ordering::Relaxed);
            hold.reported.store(0, Ordering::Relaxed);
            hold.acked.store(0, Ordering::Relaxed);
            numbers.free.push(number);
            returned
        };
        if let Some(reported) = returned {
            let held_for = Duration::from_nanos(clock::now().saturating_sub(reported));
            events.emit(|| Event::ReturnedAfterLeak { held_for });
        }
    }

    /// The checked-out connections, longest held first.
    pub(crate) fn holders(&self) -> Vec<Holder> {
        let Some(table) = &self.table else {
            return Vec::new();
        };
        let now = clock::now();
        let mut list = Vec::new();
        table.each(&lock(&table.numbers), |h| list.extend(h.holder(now)));
        list.sort_by_key(|h| std::cmp::Reverse(h.held_for));
        list
    }

    pub(crate) fn oldest(&self) -> Option<Holder> {
        let table = self.table.as_ref()?;
        let now = clock::now();
        let mut oldest: Option<Holder> = None;
        table.each(&lock(&table.numbers), |h| {
            if let Some(h) = h.holder(now) {
                if oldest.is_none_or(|o| h.held_for > o.held_for) {
                    oldest = Some(h);
                }
            }
        });
        oldest
    }

    /// Maintenance's scan: reports checkouts held past the threshold and returns of
    /// reported ones that their guards did not report; drops records of closed
    /// connections.
    pub(crate) fn scan(&self, events: &Events) {
        let (Some(threshold), Some(table)) = (self.threshold, &self.table) else {
            return;
        };
        let now = clock::now();
        self.recent.fetch_max(now, Ordering::Relaxed);
        let mut found = Vec::new();
        let mut out = false;
        let numbers = lock(&table.numbers);
        table.each(&numbers, |h| {
            if let Some(reported) = h.unacked() {
                h.acked.store(reported, Ordering::Relaxed);
                found.push(Found::Returned(now.saturating_sub(reported)));
            }
            let since = h.since.load(Ordering::Acquire);
            if since != 0
                && now.saturating_sub(since) >= threshold
                && h.reported.load(Ordering::Relaxed) != since
            {
                h.reported.store(since, Ordering::Relaxed);
                found.push(Found::Held(Holder {
                    id: h.id.load(Ordering::Relaxed),
                    site: h.site.load(),
                    held_for: Duration::from_nanos(now.saturating_sub(since)),
                }));
            }
            out |= since != 0 && h.reported.load(Ordering::Relaxed) == since;
        });
        // A return that reads `leaks` before this store misses at worst a report made by
        // this scan; the next scan reports that return.
        self.leaks.store(out, Ordering::Relaxed);
        drop(numbers);
        for f in found {
            match f {
                Found::Held(h) => events.emit(|| Event::HeldTooLong {
                    id: h.id,
                    held_for: h.held_for,
                    site: h.site,
                }),
                Found::Returned(held) => events.emit(|| Event::ReturnedAfterLeak {
                    held_for: Duration::from_nanos(held),
                }),
            }
        }
    }
}

/// What a scan found.
enum Found {
    Held(Holder),
    Returned(Nanos),
}

impl Hold {
    /// Stamps a checkout from `site`, which began at `since` (not 0).
    #[inline]
    pub(crate) fn checked_out(&self, site: &'static Location<'static>, since: Nanos) {
        self.site.store(site);
        self.since.store(since, Ordering::Release);
    }

    /// Clears the checkout: returns when it began, and whether maintenance had reported it
    /// as held too long.
    #[inline]
    pub(crate) fn returned(&self) -> (Nanos, bool) {
        let since = self.since.load(Ordering::Relaxed);
        let leaked = since != 0 && self.reported.load(Ordering::Relaxed) == since;
        if leaked {
            self.acked.store(since, Ordering::Relaxed);
        }
        self.since.store(0, Ordering::Release);
        (since, leaked)
    }

    /// A free record.
    fn free() -> Self {
        Self {
            id: AtomicU64::new(0),
            since: AtomicU64::new(0),
            site: AtomicCell::new(Location::caller()),
            reported: AtomicU64::new(0),
            acked: AtomicU64::new(0),
        }
    }

    fn holder(&self, now: Nanos) -> Option<Holder> {
        let since = self.since.load(Ordering::Acquire);
        (since != 0).then(|| Holder {
            id: self.id.load(Ordering::Relaxed),
            site: self.site.load(),
            held_for: Duration::from_nanos(now.saturating_sub(since)),
        })
    }

    /// A reported checkout that is over and whose return was not reported.
    fn unacked(&self) -> Option<Nanos> {
        let reported = self.reported.load(Ordering::Relaxed);
        if reported == 0 || self.since.load(Ordering::Acquire) == reported {
            return None;
        }
        (self.acked.load(Ordering::Relaxed) != reported).then_some(reported)
    }
}

impl fmt::Debug for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diag")
            .field("name", &self.name)
            .field("track", &self.track())
            .finish_non_exhaustive()
    }
}

/// A duration in seconds, as people read them: "41 s", "0.25 s", "5 ms".
pub(crate) struct Secs(pub(crate) Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d >= Duration::from_secs(10) {
            write!(f, "{} s", d.as_secs())
        } else if d >= Duration::from_secs(1) {
            write!(f, "{:.1} s", d.as_secs_f64())
        } else {
            write!(f, "{} ms", d.as_millis())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Secs;
    use std::time::Duration;

    #[test]
    fn seconds_read_as_people_write_them() {
        assert_eq!(Secs(Duration::from_secs(41)).to_string(), "41 s");
        assert_eq!(Secs(Duration::from_millis(2500)).to_string(), "2.5 s");
        assert_eq!(Secs(Duration::from_millis(5)).to_string(), "5 ms");
    }
}
