//! [`outage`]: stop and restart an [`EchoServer`] under load, measuring the pool's response.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpool_core::Stats;

use crate::{EchoServer, eventually};

/// Outcome counters that the clients of an [`outage`] bump, and their stop signal.
#[derive(Debug)]
pub struct Tally {
    /// Round trips that succeeded.
    pub ok: AtomicU64,
    /// Gets that failed with `Error::Connect`.
    pub connect: AtomicU64,
    /// Gets that failed with `Error::Unavailable`.
    pub unavailable: AtomicU64,
    /// Round trips that failed on a checked-out connection (the client discards it).
    pub io: AtomicU64,
    /// Gets that failed any other way.
    pub other: AtomicU64,
    stop: AtomicBool,
    deadline: Instant,
}

/// What an [`outage`] measured.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub struct OutageReport {
    /// Connect attempts that failed while the server was down (from the pool's stats).
    pub connect_attempts: u64,
    /// Gets that failed with `Connect` or `Unavailable` while the server was down.
    pub failed_gets: u64,
    /// Time from the restart until the clients completed 500 more round trips.
    pub recovery: Duration,
}

impl OutageReport {
    /// Asserts what a pool that rode out the outage must show, once its clients stopped:
    /// clients saw the outage; backoff kept connect attempts to at most 40 in the
    /// downtime (32 clients without backoff make thousands); recovery took under 5 s;
    /// every failed get was `Connect` or `Unavailable`; no slot leaked.
    ///
    /// # Panics
    ///
    /// When one of these does not hold.
    pub fn check(&self, tally: &Tally, stats: &Stats) {
        eprintln!("{self:?}");
        assert!(self.failed_gets > 0, "the clients saw the outage");
        assert!(self.connect_attempts <= 40, "{self:?}");
        assert!(self.recovery < Duration::from_secs(5), "{self:?}");
        assert_eq!(
            tally.other.load(Ordering::Relaxed),
            0,
            "only Connect or Unavailable"
        );
        assert_eq!(
            (stats.in_use, stats.waiting),
            (0, 0),
            "no leaked slot: {stats:?}"
        );
        assert_eq!(stats.connections, stats.idle, "{stats:?}");
        assert!(stats.connections <= stats.max_size, "{stats:?}");
    }
}

impl Tally {
    /// Zero counts; clients stop by themselves after `limit` at the latest.
    pub fn new(limit: Duration) -> Self {
        Self {
            ok: AtomicU64::new(0),
            connect: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            io: AtomicU64::new(0),
            other: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            deadline: Instant::now() + limit,
        }
    }

    /// Bumps one counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether clients should keep going.
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }

    /// Tells the clients to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Successful round trips so far.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }
}

/// Waits for 500 round trips, stops `server` for `downtime`, restarts it and waits for 500
/// more; then tells the clients to stop. Blocks the calling thread (run the clients
/// elsewhere). `connect_errors` reads the pool's `stats().connect_errors`.
///
/// # Panics
///
/// If the clients do not make progress within 10 s before the outage or after it, or the
/// server cannot be restarted on its port.
pub fn outage(
    server: &EchoServer,
    tally: &Tally,
    downtime: Duration,
    connect_errors: impl Fn() -> u64,
) -> OutageReport {
    let limit = Duration::from_secs(10);
    assert!(
        eventually(limit, || tally.ok() >= 500),
        "clients made no progress"
    );
    server.stop();
    let failed =
        || tally.connect.load(Ordering::Relaxed) + tally.unavailable.load(Ordering::Relaxed);
    let (errors_before, failed_before) = (connect_errors(), failed());
    std::thread::sleep(downtime); // the outage itself, not a synchronisation
    let connect_attempts = connect_errors() - errors_before;
    let failed_gets = failed() - failed_before;
    server.restart().expect("restart on the same port");
    let restarted = Instant::now();
    let ok_then = tally.ok();
    let recovered = eventually(limit, || tally.ok() >= ok_then + 500);
    let recovery = restarted.elapsed();
    tally.stop();
    assert!(recovered, "no recovery within {limit:?}");
    OutageReport {
        connect_attempts,
        failed_gets,
        recovery,
    }
}
