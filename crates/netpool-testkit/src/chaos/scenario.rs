//! The chaos scenarios, written once for every adapter: each adapter's
//! `tests/chaos.rs` implements [`Harness`] (how to build its pool, run clients and do one
//! echo round trip) and calls the scenarios.
//!
//! Each scenario starts an [`EchoServer`] behind a [`ChaosProxy`] ([`restart`] stops the
//! server itself, without a proxy), builds a pool through
//! the harness, drives clients through it while a controller thread injects a fault, and
//! returns a report of what it measured. The reports' `assert_*` methods hold the
//! targets, with margins meant for a noisy 2-core machine; the measuring and the
//! asserting are separate so that an example can print the numbers even when a target
//! is missed.
//!
//! Every client loop is bounded in iterations and in time, and the controller stops the
//! clients on every path (even when it panics).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use netpool_core::{Error, Manager, Pool, Pooled, Stats};

use crate::EchoServer;
use crate::chaos::{ChaosProxy, Mode};
use crate::wait::wait_until;

mod tls;
pub use self::tls::tls_restart;

/// A client: a future that the harness runs to completion on its runtime.
pub type Client<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What an adapter supplies to run the scenarios on its runtime.
pub trait Harness: 'static {
    /// The adapter's TCP manager (its TLS manager for [`tls_restart`]).
    type Manager: Manager;

    /// Builds a pool of connections to `addr` with the adapter's `tcp(addr)` builder (so
    /// its maintenance runs), applying `settings` and the defaults for everything else.
    fn pool(&self, addr: String, settings: &Settings) -> Pool<Self::Manager>;

    /// Runs `clients` concurrently (as tasks, or one thread each) until all finish, and
    /// returns their outputs in order.
    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T>;

    /// One request: writes `msg` on `conn` and reads the same bytes back, all within
    /// `timeout` (an `io::ErrorKind::TimedOut` error after it).
    fn echo<'a>(
        conn: &'a mut <Self::Manager as Manager>::Connection,
        msg: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;

    /// The connection's local address: with its creation time, its identity.
    fn local_addr(conn: &<Self::Manager as Manager>::Connection) -> io::Result<SocketAddr>;

    /// One checkout, as the adapter's callers make it: `pool.get()`, or `get_blocking`
    /// for a harness whose clients each have a thread.
    fn get(pool: &Pool<Self::Manager>) -> impl Future<Output = GetResult<Self::Manager>> + Send {
        pool.get()
    }
}

/// What a checkout returns.
pub type GetResult<M> = Result<Pooled<M>, Error<<M as Manager>::Error>>;

/// The pool settings a scenario asks the harness for; everything else stays at the
/// adapter's defaults.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `max_size`.
    pub max_size: usize,
    /// `wait_timeout`.
    pub wait_timeout: Duration,
    /// `connect_timeout` (the pool's, and the TCP per-attempt one).
    pub connect_timeout: Duration,
    /// `check_idle_after`.
    pub check_idle_after: Option<Duration>,
}

impl Settings {
    /// The issue's setting: a pool of 8, a 2 s `wait_timeout`, and the defaults (10 s
    /// `connect_timeout`, 1 s `check_idle_after`).
    pub fn issue() -> Self {
        Self {
            max_size: 8,
            wait_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(10),
            check_idle_after: Some(Duration::from_secs(1)),
        }
    }
}

/// How a `get` or a request ended.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The get and the request succeeded.
    Ok,
    /// `get` returned [`Error::Timeout`].
    Timeout,
    /// `get` returned [`Error::Connect`].
    Connect,
    /// `get` returned [`Error::Connect`] caused by an I/O timeout: the manager's own
    /// connect timeout fired (the TCP managers bound each attempt).
    ConnectTimedOut,
    /// `get` returned [`Error::ConnectTimeout`].
    ConnectTimeout,
    /// `get` returned [`Error::Unavailable`].
    Unavailable,
    /// `get` returned [`Error::Closed`] or an error this suite does not know.
    OtherGetError,
    /// The get succeeded; the request then timed out.
    RequestTimedOut,
    /// The get succeeded; the request then failed (reset, end of stream, ...).
    RequestFailed,
}

impl Outcome {
    fn of_get<E: std::error::Error + 'static>(e: &Error<E>) -> Self {
        match e {
            Error::Timeout => Self::Timeout,
            Error::Connect(e) if caused_by_timeout(e) => Self::ConnectTimedOut,
            Error::Connect(_) => Self::Connect,
            Error::ConnectTimeout => Self::ConnectTimeout,
            Error::Unavailable { .. } => Self::Unavailable,
            _ => Self::OtherGetError,
        }
    }

    fn of_request(e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::TimedOut {
            Self::RequestTimedOut
        } else {
            Self::RequestFailed
        }
    }

    /// Whether `get` itself failed.
    pub fn is_get_error(self) -> bool {
        !matches!(self, Self::Ok | Self::RequestTimedOut | Self::RequestFailed)
    }
}

/// One `get` and the request on it, as a client saw them.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// When the `get` started.
    pub start: Instant,
    /// When the `get` returned.
    pub got: Instant,
    /// When the request ended (`got` when the get failed).
    pub end: Instant,
    /// How it ended.
    pub outcome: Outcome,
    /// The connection's identity (local address, creation time), when the get succeeded.
    pub conn: Option<(SocketAddr, Instant)>,
    /// Order in which gets returned, across all clients.
    pub seq: u64,
    /// Whether this was the connection's first checkout.
    pub fresh: bool,
}

impl Record {
    /// How long the `get` took.
    pub fn get_time(&self) -> Duration {
        self.got - self.start
    }
}

/// What [`outage`] measured.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct OutageReport {
    /// How long the server was down (refusing).
    pub down_for: Duration,
    /// Connects the pool attempted while the server was down (its `connections_created`
    /// plus `connect_errors`).
    pub connect_attempts: u64,
    /// Gets that ended while the server was down.
    pub gets_during: usize,
    /// Those of them that failed, by kind.
    pub get_errors_during: HashMap<Outcome, usize>,
    /// The slowest failed get while the server was down.
    pub slowest_get_error: Duration,
    /// Gets (during the whole run) that waited out their timeout: ended in
    /// [`Error::Timeout`] or took at least `wait_timeout`.
    pub waited_out: usize,
    /// From the server's return to the first successful request.
    pub recovery: Option<Duration>,
    /// The most connections open at once, counted at the proxy.
    pub peak_connections: usize,
    /// The pool's stats after the clients finished.
    pub stats_after: Stats,
    /// How many of `max_size` connections could be checked out (and used) at once
    /// after the run.
    pub reacquired: usize,
    /// The settings used.
    pub settings: Settings,
}

impl OutageReport {
    /// Asserts the issue's targets, with margins for a noisy machine.
    ///
    /// # Panics
    ///
    /// When a target is missed; the message has the report.
    pub fn assert_targets(&self) {
        let max = self.settings.max_size;
        // Target ≤ 100 in 3 s; the backoff allows ~40 (one probe per 50-100 ms) plus the
        // gets that were connecting when the server went away.
        let budget = 100 * self.down_for.as_millis().max(1000) as u64 / 3000 + max as u64;
        assert!(
            self.connect_attempts <= budget,
            "{} connect attempts in {:?} (budget {budget}): {self:#?}",
            self.connect_attempts,
            self.down_for
        );
        assert!(
            self.connect_attempts >= 1,
            "the outage was not noticed: {self:#?}"
        );
        assert_eq!(
            self.waited_out, 0,
            "callers waited out their timeout: {self:#?}"
        );
        for outcome in self.get_errors_during.keys() {
            assert!(
                matches!(outcome, Outcome::Connect | Outcome::Unavailable),
                "unexpected get error {outcome:?} during the outage: {self:#?}"
            );
        }
        // A failed get is immediate (a refused connect, or the backoff's answer); 500 ms
        // leaves room for a descheduled client on a busy 2-core machine.
        assert!(
            self.slowest_get_error < Duration::from_millis(500),
            "a failed get took {:?}: {self:#?}",
            self.slowest_get_error
        );
        // Expected ≤ ~0.1 s (the backoff cap); 1 s is the bound that holds under noise.
        let recovery = self.recovery.expect("the pool never recovered");
        assert!(
            recovery < Duration::from_secs(1),
            "recovery took {recovery:?}"
        );
        assert!(
            self.peak_connections <= max,
            "{} connections at once",
            self.peak_connections
        );
        assert_consistent(&self.stats_after, self.reacquired, max);
    }
}

/// What [`blackhole`] measured.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct BlackholeReport {
    /// Outcomes of one get per client while connects stalled.
    pub stalled: HashMap<Outcome, usize>,
    /// The slowest get while connects stalled.
    pub slowest_stalled_get: Duration,
    /// Outcomes of one get and request per client while the server accepted and never
    /// answered.
    pub unanswered: HashMap<Outcome, usize>,
    /// The slowest get-and-request while the server never answered.
    pub slowest_unanswered: Duration,
    /// Connections the proxy accepted while the server never answered.
    pub unanswered_accepts: u64,
    /// Connections the pool opened meanwhile (`connections_created`).
    pub unanswered_created: u64,
    /// The pool's stats after the clients finished, with the server back.
    pub stats_after: Stats,
    /// How many of `max_size` connections could be checked out at once afterwards.
    pub reacquired: usize,
    /// The settings used while connects stalled.
    pub settings: Settings,
}

impl BlackholeReport {
    /// Asserts that every caller got an error in bounded time: a connect timeout (the
    /// pool's `ConnectTimeout`, or `Connect` with the TCP manager's own timeout as its
    /// cause) or `Unavailable` (backing off) for stalled connects, a request timeout on accepted
    /// but unanswered connections, and a consistent pool afterwards.
    ///
    /// # Panics
    ///
    /// When a target is missed; the message has the report.
    pub fn assert_targets(&self) {
        let stalled_kinds_ok = self.stalled.keys().all(|o| {
            matches!(
                o,
                Outcome::ConnectTimeout | Outcome::ConnectTimedOut | Outcome::Unavailable
            )
        });
        assert!(stalled_kinds_ok, "stalled connects: {self:#?}");
        let timed_out = [Outcome::ConnectTimeout, Outcome::ConnectTimedOut]
            .iter()
            .filter_map(|o| self.stalled.get(o))
            .sum::<usize>();
        assert!(timed_out >= 1, "no connect timed out: {self:#?}");
        // No caller hangs: each get ends by its wait_timeout; 1 s more for scheduling.
        let bound = self.settings.wait_timeout + Duration::from_secs(1);
        assert!(
            self.slowest_stalled_get < bound,
            "a stalled get hung: {self:#?}"
        );
        // Each request on a connection times out. New connections that fail on their
        // first use are no evidence that the server is down: they only space out new
        // connects, so the callers left wait their turn and may reach their own
        // `wait_timeout` (they never fail because of another caller's connection).
        let timed_out = self.unanswered.get(&Outcome::RequestTimedOut).copied();
        let waited = self.unanswered.get(&Outcome::Timeout).copied();
        assert!(timed_out.is_some_and(|n| n >= 1), "{self:#?}");
        assert_eq!(
            timed_out.unwrap_or(0) + waited.unwrap_or(0),
            CLIENTS,
            "every unanswered request times out, or its get does: {self:#?}"
        );
        // 32 clients over 8 connections: 4 rounds of a 200 ms request timeout.
        assert!(
            self.slowest_unanswered < Duration::from_secs(3),
            "an unanswered client hung: {self:#?}"
        );
        assert_eq!(
            self.unanswered_accepts, self.unanswered_created,
            "the proxy and the pool disagree on connects: {self:#?}"
        );
        assert_consistent(&self.stats_after, self.reacquired, self.settings.max_size);
    }
}

/// What [`cut_mid_request`] measured.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct CutReport {
    /// Connections the proxy cut.
    pub cut: usize,
    /// Requests that failed (each on a cut connection).
    pub failed_requests: usize,
    /// Failed requests whose connection was handed out again afterwards (must be 0).
    pub reused_after_failure: usize,
    /// Failed gets (the server stayed up: must be 0).
    pub get_errors: usize,
    /// Successful requests after the cut.
    pub ok_after_cut: usize,
    /// Growth of `closed_broken` during the run (discards).
    pub discarded: u64,
    /// The most connections open at once, counted at the proxy.
    pub peak_connections: usize,
    /// The pool's stats after the clients finished.
    pub stats_after: Stats,
    /// How many of `max_size` connections could be checked out at once afterwards.
    pub reacquired: usize,
    /// The settings used.
    pub settings: Settings,
}

impl CutReport {
    /// Asserts that the cut hit requests in flight, that each failed connection was
    /// discarded and never handed out again, and that the pool is consistent.
    ///
    /// # Panics
    ///
    /// When a target is missed; the message has the report.
    pub fn assert_targets(&self) {
        assert!(
            self.failed_requests >= 1,
            "the cut hit no request: {self:#?}"
        );
        // Each cut connection fails at most once: its caller discards it.
        assert!(
            self.failed_requests <= self.cut,
            "more failures than cut connections: {self:#?}"
        );
        assert_eq!(
            self.reused_after_failure, 0,
            "a failed connection came back: {self:#?}"
        );
        assert_eq!(
            self.get_errors, 0,
            "gets failed with the server up: {self:#?}"
        );
        assert!(
            self.ok_after_cut >= 1,
            "no success after the cut: {self:#?}"
        );
        assert!(
            self.discarded >= self.failed_requests as u64,
            "not discarded: {self:#?}"
        );
        assert!(self.peak_connections <= self.settings.max_size, "{self:#?}");
        assert_consistent(&self.stats_after, self.reacquired, self.settings.max_size);
    }
}

/// What [`idle_outage`] measured.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct IdleOutageReport {
    /// Connections idle in the pool when the server went down.
    pub idle_before: usize,
    /// How long they had been idle (with the server up) when it went down.
    pub idle_for: Duration,
    /// How long the server was down.
    pub down_for: Duration,
    /// Checkouts whose first request failed: dead connections handed out (must be 0).
    pub dead_handed_out: usize,
    /// Failed gets after the server came back (must be 0).
    pub get_errors: usize,
    /// Requests that succeeded after the server came back.
    pub ok: usize,
    /// Connections closed by a failed `is_valid`, at checkout or in maintenance.
    pub closed_invalid: u64,
    /// The pool's stats after the clients finished.
    pub stats_after: Stats,
    /// How many of `max_size` connections could be checked out at once afterwards.
    pub reacquired: usize,
    /// The settings used.
    pub settings: Settings,
}

impl IdleOutageReport {
    /// Asserts that no dead connection was handed out and the pool is consistent.
    ///
    /// # Panics
    ///
    /// When a target is missed; the message has the report.
    pub fn assert_targets(&self) {
        assert_eq!(self.idle_before, self.settings.max_size, "{self:#?}");
        assert_eq!(
            self.dead_handed_out, 0,
            "dead connections handed out: {self:#?}"
        );
        assert_eq!(self.get_errors, 0, "{self:#?}");
        assert_eq!(self.ok, CLIENTS * IDLE_ROUNDS, "{self:#?}");
        assert!(self.closed_invalid >= self.idle_before as u64, "{self:#?}");
        assert_consistent(&self.stats_after, self.reacquired, self.settings.max_size);
    }
}

/// What [`restart`] measured.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct RestartReport {
    /// Whether the clients completed 500 round trips before the server stopped.
    pub warmed_up: bool,
    /// How long the server was down.
    pub down_for: Duration,
    /// Connect attempts that failed while the server was down (the pool's
    /// `connect_errors`).
    pub connect_attempts: u64,
    /// Gets that failed with `Connect` or `Unavailable` while the server was down.
    pub failed_gets: usize,
    /// Gets (during the whole run) that failed any other way (must be 0).
    pub other_get_errors: usize,
    /// Whether the clients completed 500 more round trips after the restart.
    pub recovered: bool,
    /// From the restart until those 500 round trips.
    pub recovery: Duration,
    /// The pool's stats after the clients finished.
    pub stats_after: Stats,
    /// Connections open at the server after the clients finished.
    pub live_after: usize,
    /// The settings used.
    pub settings: Settings,
}

impl RestartReport {
    /// Asserts what a pool that rode out the restart must show, once its clients
    /// stopped: clients saw the outage; the backoff kept connect attempts to at most 40
    /// in the downtime (32 clients without backoff make thousands); recovery took under
    /// 5 s; every failed get was `Connect` or `Unavailable`; no slot leaked; never more
    /// than `max_size` connections.
    ///
    /// # Panics
    ///
    /// When one of these does not hold; the message has the report.
    pub fn assert_targets(&self) {
        assert!(self.warmed_up, "clients made no progress: {self:#?}");
        assert!(self.recovered, "no recovery: {self:#?}");
        assert!(
            self.failed_gets > 0,
            "the clients saw the outage: {self:#?}"
        );
        assert!(self.connect_attempts <= 40, "{self:#?}");
        assert!(self.recovery < Duration::from_secs(5), "{self:#?}");
        assert_eq!(
            self.other_get_errors, 0,
            "only Connect or Unavailable: {self:#?}"
        );
        let stats = &self.stats_after;
        assert_eq!(
            (stats.in_use, stats.waiting),
            (0, 0),
            "no leaked slot: {stats:?}"
        );
        assert_eq!(stats.connections, stats.idle, "{stats:?}");
        assert!(stats.connections <= stats.max_size, "{stats:?}");
        assert!(self.live_after <= self.settings.max_size, "{self:#?}");
    }
}

/// What [`reset`] measured.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ResetReport {
    /// How long the proxy reset every connection it accepted.
    pub resetting_for: Duration,
    /// Connections the proxy accepted (and reset) meanwhile.
    pub accepts: u64,
    /// Connects the pool counted as successful meanwhile (`connections_created`).
    pub created: u64,
    /// Connects the pool counted as failed meanwhile (`connect_errors`; setting socket
    /// options on a stream already reset fails the connect, which starts the backoff).
    pub connect_errors: u64,
    /// Requests that failed meanwhile.
    pub failed_requests: usize,
    /// Gets that waited out their timeout (must be 0).
    pub waited_out: usize,
    /// The slowest failed get or request.
    pub slowest_failure: Duration,
    /// From the end of the resets to the first successful request.
    pub recovery: Option<Duration>,
    /// The pool's stats after the clients finished.
    pub stats_after: Stats,
    /// How many of `max_size` connections could be checked out at once afterwards.
    pub reacquired: usize,
    /// The settings used.
    pub settings: Settings,
}

impl ResetReport {
    /// Asserts that resets fail requests quickly (no caller hangs), and that the pool
    /// recovers and is consistent.
    ///
    /// # Panics
    ///
    /// When a target is missed; the message has the report.
    pub fn assert_targets(&self) {
        // The resets were felt: by requests on reset connections, or (when the reset
        // comes before the connect finished setting its socket options) by connects.
        assert!(
            self.accepts >= 1 && (self.failed_requests >= 1 || self.connect_errors >= 1),
            "{self:#?}"
        );
        assert_eq!(self.waited_out, 0, "{self:#?}");
        // A reset is seen at once; 1 s is the margin for a descheduled client.
        assert!(self.slowest_failure < Duration::from_secs(1), "{self:#?}");
        let recovery = self.recovery.expect("the pool never recovered");
        assert!(
            recovery < Duration::from_secs(1),
            "recovery took {recovery:?}"
        );
        assert_consistent(&self.stats_after, self.reacquired, self.settings.max_size);
    }

    /// Asserts the outage target for this kind of outage too: connects bounded as the
    /// backoff bounds them when connects are refused (100 per 3 s, plus one per slot for
    /// the gets connecting when it started).
    ///
    /// Not met today: the pool backs off only when `connect` fails, and here it succeeds
    /// (the kernel completes the handshake); the connection dies at its first use and the
    /// caller discards it. See the adapters' ignored `reset_storm_is_bounded` tests.
    ///
    /// # Panics
    ///
    /// When more connections were opened than that.
    pub fn assert_backoff(&self) {
        let budget =
            100 * self.resetting_for.as_millis() as u64 / 3000 + self.settings.max_size as u64;
        assert!(
            self.accepts <= budget,
            "{} connections opened (and reset) in {:?}, budget {budget}: {self:#?}",
            self.accepts,
            self.resetting_for
        );
    }
}

/// Clients in every scenario.
pub const CLIENTS: usize = 32;
/// Requests per client after an idle outage.
const IDLE_ROUNDS: usize = 4;
/// The payload of one request.
const MSG: &[u8] = b"netpool chaos ping";
/// Bound on one request while the server is up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a client holds its connection after a request (a transaction's think time),
/// so that 32 clients contend for 8 connections without burning the CPU.
const HOLD: Duration = Duration::from_millis(1);
/// Pause after a failure before the next try, so failing clients do not spin.
const RETRY_PAUSE: Duration = Duration::from_millis(2);
/// Hard bound on a client loop, whatever the controller does.
const CLIENT_LIMIT: Duration = Duration::from_secs(20);
/// Hard bound on a client loop's iterations.
const CLIENT_MAX_ITERATIONS: usize = 200_000;

/// The server stops (connections cut, connects refused) for `down_for` while 32 clients
/// run requests through a pool of `settings.max_size`, then comes back.
///
/// Measures the issue's row: connect attempts during the outage, callers that waited
/// out their timeout, the recovery time, and checks the pool afterwards.
///
/// # Errors
///
/// When the servers cannot be started or the proxy's port cannot be bound again.
pub fn outage<H: Harness>(
    h: &H,
    settings: &Settings,
    down_for: Duration,
) -> io::Result<OutageReport> {
    let server = EchoServer::start()?;
    let proxy = Arc::new(ChaosProxy::start(server.addr())?);
    let pool = h.pool(proxy.addr().to_string(), settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));

    let controller = {
        let (ctx, proxy, pool) = (ctx.clone(), proxy.clone(), pool.clone());
        std::thread::spawn(move || -> io::Result<Window> {
            let _stop = StopOnDrop(&ctx.stop);
            // Warm up: every connection in use, the pool contended.
            ctx.progress.wait_ok(200, Duration::from_secs(10));
            let s0 = pool.stats();
            let down = Instant::now();
            proxy.set_mode(Mode::Refuse)?;
            proxy.cut_all();
            // The outage itself: its length is the scenario, not a synchronisation.
            std::thread::sleep(down_for);
            let s1 = pool.stats();
            proxy.set_mode(Mode::Pass)?;
            let up = Instant::now();
            ctx.progress.mark(up);
            let recovered = ctx.progress.wait_first_after_mark(Duration::from_secs(5));
            let ok = ctx.progress.ok();
            ctx.progress.wait_ok(ok + 100, Duration::from_secs(5));
            Ok(Window {
                down,
                up,
                attempts: attempts(&s1) - attempts(&s0),
                recovered,
            })
        })
    };
    let records = run_loops(h, &ctx, CLIENTS, HOLD);
    let window = join(controller)?;

    let during: Vec<&Record> = records
        .iter()
        .filter(|r| r.got >= window.down && r.got <= window.up)
        .collect();
    let mut get_errors_during = HashMap::new();
    let mut slowest_get_error = Duration::ZERO;
    for r in during.iter().filter(|r| r.outcome.is_get_error()) {
        *get_errors_during.entry(r.outcome).or_insert(0) += 1;
        slowest_get_error = slowest_get_error.max(r.get_time());
    }
    let waited_out = count_waited_out(&records, settings.wait_timeout);
    let stats_after = pool.stats();
    let reacquired = reacquire(h, &pool, settings.max_size);
    Ok(OutageReport {
        down_for: window.up - window.down,
        connect_attempts: window.attempts,
        gets_during: during.len(),
        get_errors_during,
        slowest_get_error,
        waited_out,
        recovery: window.recovered.map(|t| t - window.up),
        peak_connections: proxy.peak(),
        stats_after,
        reacquired,
        settings: settings.clone(),
    })
}

/// A server that cannot be reached: first connects stall (the proxy's accept queue is
/// full), then connects succeed but requests are never answered. 32 clients make one
/// get (and request) each in both phases, on a pool with a 300 ms `connect_timeout`.
///
/// # Errors
///
/// When the servers cannot be started or the proxy's modes cannot be set.
pub fn blackhole<H: Harness>(h: &H) -> io::Result<BlackholeReport> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    let settings = Settings {
        max_size: 8,
        wait_timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_millis(300),
        check_idle_after: Some(Duration::from_secs(1)),
    };

    // Phase 1: connects stall.
    proxy.set_mode(Mode::Stall)?;
    let pool = h.pool(proxy.addr().to_string(), &settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));
    let stalled_records = run_once(h, &ctx, REQUEST_TIMEOUT);
    let mut stalled = HashMap::new();
    let mut slowest_stalled_get = Duration::ZERO;
    for r in &stalled_records {
        *stalled.entry(r.outcome).or_insert(0) += 1;
        slowest_stalled_get = slowest_stalled_get.max(r.get_time());
    }
    drop(ctx);
    pool.close();
    drop(pool);

    // Phase 2: accepted, never answered. A fresh pool: the first one is backing off.
    proxy.set_mode(Mode::Blackhole)?;
    let unanswered_settings = Settings {
        wait_timeout: Duration::from_secs(2),
        ..settings.clone()
    };
    let pool = h.pool(proxy.addr().to_string(), &unanswered_settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));
    let accepted_before = proxy.accepted();
    let records = run_once(h, &ctx, Duration::from_millis(200));
    let unanswered_accepts = proxy.accepted() - accepted_before;
    let mut unanswered = HashMap::new();
    let mut slowest_unanswered = Duration::ZERO;
    for r in &records {
        *unanswered.entry(r.outcome).or_insert(0) += 1;
        slowest_unanswered = slowest_unanswered.max(r.end - r.start);
    }
    let unanswered_created = pool.stats().connections_created;

    proxy.set_mode(Mode::Pass)?;
    proxy.cut_all();
    let stats_after = pool.stats();
    let reacquired = reacquire(h, &pool, settings.max_size);
    Ok(BlackholeReport {
        stalled,
        slowest_stalled_get,
        unanswered,
        slowest_unanswered,
        unanswered_accepts,
        unanswered_created,
        stats_after,
        reacquired,
        settings,
    })
}

/// Every established connection is cut while requests are in flight (the proxy delays
/// replies by 5 ms so that they are), with 32 clients on a pool of 8.
///
/// # Errors
///
/// When the servers cannot be started.
pub fn cut_mid_request<H: Harness>(h: &H) -> io::Result<CutReport> {
    let server = EchoServer::start()?;
    let proxy = Arc::new(ChaosProxy::start(server.addr())?);
    proxy.set_reply_delay(Duration::from_millis(5));
    let settings = Settings::issue();
    let pool = h.pool(proxy.addr().to_string(), &settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));

    let controller = {
        let (ctx, proxy) = (ctx.clone(), proxy.clone());
        std::thread::spawn(move || -> io::Result<(usize, Instant)> {
            let _stop = StopOnDrop(&ctx.stop);
            ctx.progress.wait_ok(100, Duration::from_secs(10));
            let at = Instant::now();
            let cut = proxy.cut_all();
            let ok = ctx.progress.ok();
            ctx.progress.wait_ok(ok + 100, Duration::from_secs(5));
            Ok((cut, at))
        })
    };
    let broken_before = pool.stats().closed_broken;
    let records = run_loops(h, &ctx, CLIENTS, Duration::ZERO);
    let (cut, at) = join(controller)?;

    let failed: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::RequestFailed | Outcome::RequestTimedOut))
        .collect();
    let reused_after_failure = failed
        .iter()
        .filter(|f| {
            records
                .iter()
                .any(|r| r.conn.is_some() && r.conn == f.conn && r.seq > f.seq)
        })
        .count();
    let stats_after = pool.stats();
    let reacquired = reacquire(h, &pool, settings.max_size);
    Ok(CutReport {
        cut,
        failed_requests: failed.len(),
        reused_after_failure,
        get_errors: records.iter().filter(|r| r.outcome.is_get_error()).count(),
        ok_after_cut: records
            .iter()
            .filter(|r| r.outcome == Outcome::Ok && r.start > at)
            .count(),
        discarded: stats_after.closed_broken - broken_before,
        peak_connections: proxy.peak(),
        stats_after,
        reacquired,
        settings,
    })
}

/// The server goes down while the pool's connections sit idle, and comes back after
/// `down_for` (which should exceed `settings.check_idle_after`); then 32 clients make
/// four requests each. Counts the dead connections handed out.
///
/// # Errors
///
/// When the servers cannot be started or the proxy's port cannot be bound again.
pub fn idle_outage<H: Harness>(
    h: &H,
    settings: &Settings,
    down_for: Duration,
) -> io::Result<IdleOutageReport> {
    idle_bounce(h, settings, Duration::ZERO, down_for)
}

/// Like [`idle_outage`], but the connections first sit idle for `idle_for` with the
/// server up (maintenance checks them in the background meanwhile), and the outage may
/// be short: a quick restart of a server whose connections have long been idle.
///
/// # Errors
///
/// When the servers cannot be started or the proxy's port cannot be bound again.
pub fn idle_bounce<H: Harness>(
    h: &H,
    settings: &Settings,
    idle_for: Duration,
    down_for: Duration,
) -> io::Result<IdleOutageReport> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    let pool = h.pool(proxy.addr().to_string(), settings);
    reacquire(h, &pool, settings.max_size);
    let idle_before = pool.stats().idle;
    // The connections idle with the server up: the scenario's timing, not a
    // synchronisation.
    std::thread::sleep(idle_for);

    proxy.set_mode(Mode::Refuse)?;
    proxy.cut_all();
    let down = Instant::now();
    // The outage while the connections idle: its length is the scenario.
    std::thread::sleep(down_for);
    proxy.set_mode(Mode::Pass)?;
    let down_for = down.elapsed();

    let ctx = Arc::new(Ctx::new(pool.clone()));
    let clients = (0..CLIENTS)
        .map(|_| {
            let ctx = ctx.clone();
            Box::pin(async move {
                let mut records = Vec::new();
                for _ in 0..IDLE_ROUNDS {
                    records.push(one_request::<H>(&ctx, REQUEST_TIMEOUT).await);
                }
                records
            }) as Client<Vec<Record>>
        })
        .collect();
    let records: Vec<Record> = h.run(clients).into_iter().flatten().collect();
    let stats_after = pool.stats();
    let reacquired = reacquire(h, &pool, settings.max_size);
    Ok(IdleOutageReport {
        idle_before,
        idle_for,
        down_for,
        dead_handed_out: records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::RequestFailed | Outcome::RequestTimedOut))
            .count(),
        get_errors: records.iter().filter(|r| r.outcome.is_get_error()).count(),
        ok: records.iter().filter(|r| r.outcome == Outcome::Ok).count(),
        closed_invalid: stats_after.closed_invalid,
        stats_after,
        reacquired,
        settings: settings.clone(),
    })
}

/// The server itself stops (its listener closed: connects refused) for `down_for` and
/// restarts on its port, while 32 clients make requests through a pool of
/// `settings.max_size` with no think time.
///
/// The controller waits for 500 round trips, stops the server, and after the restart
/// waits for 500 more; then the clients stop.
///
/// # Errors
///
/// When the server cannot be started or restarted on its port.
pub fn restart<H: Harness>(
    h: &H,
    settings: &Settings,
    down_for: Duration,
) -> io::Result<RestartReport> {
    const ROUND_TRIPS: u64 = 500;
    const LIMIT: Duration = Duration::from_secs(10);
    let server = Arc::new(EchoServer::start()?);
    let pool = h.pool(server.addr().to_string(), settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));

    let controller = {
        let (ctx, server) = (ctx.clone(), server.clone());
        std::thread::spawn(move || -> io::Result<RestartWindow> {
            let _stop = StopOnDrop(&ctx.stop);
            let warmed_up = ctx.progress.wait_ok(ROUND_TRIPS, LIMIT);
            server.stop();
            let down = Instant::now();
            let before = ctx.pool.stats().connect_errors;
            // The outage itself: its length is the scenario, not a synchronisation.
            std::thread::sleep(down_for);
            let connect_attempts = ctx.pool.stats().connect_errors - before;
            let up = Instant::now();
            server.restart()?;
            let restarted = Instant::now();
            let ok = ctx.progress.ok();
            let recovered = ctx.progress.wait_ok(ok + ROUND_TRIPS, LIMIT);
            Ok(RestartWindow {
                warmed_up,
                down,
                up,
                connect_attempts,
                recovered,
                recovery: restarted.elapsed(),
            })
        })
    };
    let records = run_loops(h, &ctx, CLIENTS, Duration::ZERO);
    let window = join(controller)?;
    let refused = |o: Outcome| {
        matches!(
            o,
            Outcome::Connect | Outcome::ConnectTimedOut | Outcome::Unavailable
        )
    };
    Ok(RestartReport {
        warmed_up: window.warmed_up,
        down_for: window.up - window.down,
        connect_attempts: window.connect_attempts,
        failed_gets: records
            .iter()
            .filter(|r| refused(r.outcome) && r.got >= window.down && r.got <= window.up)
            .count(),
        other_get_errors: records
            .iter()
            .filter(|r| r.outcome.is_get_error() && !refused(r.outcome))
            .count(),
        recovered: window.recovered,
        recovery: window.recovery,
        stats_after: pool.stats(),
        live_after: server.live(),
        settings: settings.clone(),
    })
}

/// For 500 ms the server accepts every connection and resets it at once (an overloaded
/// server or a proxy without backends), with 32 clients on a pool of 8; then it works
/// again.
///
/// The pool's connects succeed (the handshake is the kernel's), so its connect backoff
/// does not apply: the report counts how many connections it opened meanwhile.
///
/// # Errors
///
/// When the servers cannot be started or the proxy's modes cannot be set.
pub fn reset<H: Harness>(h: &H) -> io::Result<ResetReport> {
    let server = EchoServer::start()?;
    let proxy = Arc::new(ChaosProxy::start(server.addr())?);
    let settings = Settings::issue();
    let resetting_for = Duration::from_millis(500);
    let pool = h.pool(proxy.addr().to_string(), &settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));

    let controller = {
        let (ctx, proxy) = (ctx.clone(), proxy.clone());
        std::thread::spawn(move || -> io::Result<FaultWindow> {
            let _stop = StopOnDrop(&ctx.stop);
            ctx.progress.wait_ok(100, Duration::from_secs(10));
            let accepted = proxy.accepted();
            let before = ctx.pool.stats();
            let from = Instant::now();
            proxy.set_mode(Mode::Reset)?;
            proxy.cut_all();
            // The fault's length is the scenario, not a synchronisation.
            std::thread::sleep(resetting_for);
            proxy.set_mode(Mode::Pass)?;
            let until = Instant::now();
            let accepts = proxy.accepted() - accepted;
            let after = ctx.pool.stats();
            ctx.progress.mark(until);
            let recovered = ctx.progress.wait_first_after_mark(Duration::from_secs(5));
            let ok = ctx.progress.ok();
            ctx.progress.wait_ok(ok + 100, Duration::from_secs(5));
            Ok(FaultWindow {
                accepts,
                before,
                after,
                from,
                until,
                recovered,
            })
        })
    };
    let records = run_loops(h, &ctx, CLIENTS, HOLD);
    let FaultWindow {
        accepts,
        before: s0,
        after: s1,
        from,
        until,
        recovered,
    } = join(controller)?;
    let failures: Vec<&Record> = records
        .iter()
        .filter(|r| r.outcome != Outcome::Ok)
        .collect();
    let stats_after = pool.stats();
    let reacquired = reacquire(h, &pool, settings.max_size);
    Ok(ResetReport {
        resetting_for: until - from,
        accepts,
        created: s1.connections_created - s0.connections_created,
        connect_errors: s1.connect_errors - s0.connect_errors,
        failed_requests: failures
            .iter()
            .filter(|r| !r.outcome.is_get_error())
            .count(),
        waited_out: count_waited_out(&records, settings.wait_timeout),
        slowest_failure: failures
            .iter()
            .map(|r| r.end - r.start)
            .max()
            .unwrap_or_default(),
        recovery: recovered.map(|t| t - until),
        stats_after,
        reacquired,
        settings,
    })
}

/// One get, through a pool whose `connect_timeout` is 200 ms (and a 2 s
/// `wait_timeout`), to a server whose connects stall; how it failed and how long it took.
///
/// The issue asks that a blackholed server turn into [`Error::ConnectTimeout`]; the TCP
/// managers' own per-attempt timeout (which `tcp(..).connect_timeout(..)` sets to the
/// same value) fires first and the pool reports [`Error::Connect`] with an I/O timeout
/// inside ([`Outcome::ConnectTimedOut`]).
///
/// # Errors
///
/// When the servers cannot be started or the proxy cannot stall.
pub fn stalled_connect<H: Harness>(h: &H) -> io::Result<(Outcome, Duration)> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Stall)?;
    let settings = Settings {
        max_size: 1,
        wait_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(200),
        check_idle_after: Some(Duration::from_secs(1)),
    };
    let pool = h.pool(proxy.addr().to_string(), &settings);
    let ctx = Arc::new(Ctx::new(pool));
    let client = {
        let ctx = ctx.clone();
        Box::pin(async move { one_request::<H>(&ctx, REQUEST_TIMEOUT).await }) as Client<Record>
    };
    let record = h
        .run(vec![client])
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::other("no client"))?;
    Ok((record.outcome, record.get_time()))
}

/// After a scenario: nothing checked out or waiting, never more than `max_size`
/// connections, and all of them could be checked out again.
fn assert_consistent(stats: &Stats, reacquired: usize, max_size: usize) {
    assert_eq!(stats.in_use, 0, "leaked slots: {stats:#?}");
    assert_eq!(stats.waiting, 0, "waiters left: {stats:#?}");
    assert!(stats.connections <= max_size, "over max_size: {stats:#?}");
    assert_eq!(
        reacquired, max_size,
        "could not check out every slot again: {stats:#?}"
    );
}

/// State shared by a scenario's clients and its controller.
struct Ctx<M: Manager> {
    pool: Pool<M>,
    stop: AtomicBool,
    seq: AtomicU64,
    progress: Progress,
    started: Instant,
}

impl<M: Manager> Ctx<M> {
    fn new(pool: Pool<M>) -> Self {
        Self {
            pool,
            stop: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            progress: Progress::default(),
            started: Instant::now(),
        }
    }

    /// Whether a client loop should end.
    fn done(&self, iterations: usize) -> bool {
        self.stop.load(Ordering::SeqCst)
            || iterations >= CLIENT_MAX_ITERATIONS
            || self.started.elapsed() >= CLIENT_LIMIT
    }
}

/// The times and counts a controller measured around a fault.
struct Window {
    down: Instant,
    up: Instant,
    attempts: u64,
    recovered: Option<Instant>,
}

/// What the [`reset`] controller saw around the fault.
struct FaultWindow {
    accepts: u64,
    before: Stats,
    after: Stats,
    from: Instant,
    until: Instant,
    recovered: Option<Instant>,
}

/// What the [`restart`] controller saw.
struct RestartWindow {
    warmed_up: bool,
    down: Instant,
    up: Instant,
    connect_attempts: u64,
    recovered: bool,
    recovery: Duration,
}

/// Sets the flag when dropped: the clients stop even if the controller fails.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Successful requests, counted for the controller to wait on.
#[derive(Default)]
struct Progress {
    state: Mutex<ProgressState>,
    changed: Condvar,
}

#[derive(Default)]
struct ProgressState {
    ok: u64,
    mark: Option<Instant>,
    first_after_mark: Option<Instant>,
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn succeeded(&self, at: Instant) {
        let mut state = self.lock();
        state.ok += 1;
        if state.first_after_mark.is_none() && state.mark.is_some_and(|m| at >= m) {
            state.first_after_mark = Some(at);
        }
        drop(state);
        self.changed.notify_all();
    }

    fn ok(&self) -> u64 {
        self.lock().ok
    }

    fn mark(&self, at: Instant) {
        let mut state = self.lock();
        state.mark = Some(at);
        state.first_after_mark = None;
    }

    /// Waits until `n` requests succeeded in all; `false` after `timeout`.
    fn wait_ok(&self, n: u64, timeout: Duration) -> bool {
        self.wait(timeout, |s| s.ok >= n).is_some()
    }

    /// Waits for the first success after the mark; `None` after `timeout`.
    fn wait_first_after_mark(&self, timeout: Duration) -> Option<Instant> {
        self.wait(timeout, |s| s.first_after_mark.is_some())
            .and_then(|s| s.first_after_mark)
    }

    fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&ProgressState) -> bool,
    ) -> Option<MutexGuard<'_, ProgressState>> {
        wait_until(self.lock(), &self.changed, timeout, done)
    }
}

/// `n` clients loop get → request → hold → return until stopped; their records.
fn run_loops<H: Harness>(
    h: &H,
    ctx: &Arc<Ctx<H::Manager>>,
    n: usize,
    hold: Duration,
) -> Vec<Record> {
    let clients = (0..n)
        .map(|_| {
            let ctx = ctx.clone();
            Box::pin(async move {
                let mut records = Vec::new();
                while !ctx.done(records.len()) {
                    let record = one_request_holding::<H>(&ctx, REQUEST_TIMEOUT, hold).await;
                    let failed = record.outcome != Outcome::Ok;
                    records.push(record);
                    if failed {
                        async_io::Timer::after(RETRY_PAUSE).await;
                    }
                }
                records
            }) as Client<Vec<Record>>
        })
        .collect();
    h.run(clients).into_iter().flatten().collect()
}

/// Each of the 32 clients makes one get and one request (with `timeout`).
fn run_once<H: Harness>(h: &H, ctx: &Arc<Ctx<H::Manager>>, timeout: Duration) -> Vec<Record> {
    let clients = (0..CLIENTS)
        .map(|_| {
            let ctx = ctx.clone();
            Box::pin(async move { one_request::<H>(&ctx, timeout).await }) as Client<Record>
        })
        .collect();
    h.run(clients)
}

async fn one_request<H: Harness>(ctx: &Ctx<H::Manager>, timeout: Duration) -> Record {
    one_request_holding::<H>(ctx, timeout, Duration::ZERO).await
}

/// One get and one request; a connection whose request failed is discarded.
async fn one_request_holding<H: Harness>(
    ctx: &Ctx<H::Manager>,
    timeout: Duration,
    hold: Duration,
) -> Record {
    let start = Instant::now();
    let got = H::get(&ctx.pool).await;
    let seq = ctx.seq.fetch_add(1, Ordering::SeqCst);
    let got_at = Instant::now();
    let mut conn = match got {
        Ok(conn) => conn,
        Err(e) => {
            return Record {
                start,
                got: got_at,
                end: got_at,
                outcome: Outcome::of_get(&e),
                conn: None,
                seq,
                fresh: false,
            };
        }
    };
    let meta = Pooled::meta(&conn);
    let identity = H::local_addr(&conn).ok().map(|a| (a, meta.created_at));
    let result = H::echo(&mut conn, MSG, timeout).await;
    let end = Instant::now();
    let outcome = match &result {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::of_request(e),
    };
    if result.is_ok() {
        ctx.progress.succeeded(end);
        if !hold.is_zero() {
            async_io::Timer::after(hold).await;
        }
        drop(conn);
    } else {
        // Its state is unknown after a failed request: close it, never reuse it.
        Pooled::discard(conn);
    }
    Record {
        start,
        got: got_at,
        end,
        outcome,
        conn: identity,
        seq,
        fresh: meta.use_count == 1,
    }
}

/// Checks out `max_size` connections at once (each used for one request), then returns
/// them; how many it got.
fn reacquire<H: Harness>(h: &H, pool: &Pool<H::Manager>, max_size: usize) -> usize {
    let pool = pool.clone();
    let client = Box::pin(async move {
        let mut held = Vec::new();
        let started = std::time::Instant::now();
        for _ in 0..max_size {
            let mut conn = loop {
                match H::get(&pool).await {
                    Ok(conn) => break Some(conn),
                    // Still backing off from the fault (half-open: one new connection per
                    // short delay until one comes back healthy); bounded.
                    Err(e) if e.is_unavailable() && started.elapsed() < Duration::from_secs(3) => {
                        async_io::Timer::after(Duration::from_millis(10)).await;
                    }
                    Err(_) => break None,
                }
            };
            let Some(mut conn) = conn.take() else {
                break;
            };
            if H::echo(&mut conn, MSG, REQUEST_TIMEOUT).await.is_err() {
                Pooled::discard(conn);
                break;
            }
            held.push(conn);
        }
        held.len()
    }) as Client<usize>;
    h.run(vec![client]).into_iter().sum()
}

/// Gets that waited out their timeout: ended in `Timeout` or took at least `limit`.
fn count_waited_out(records: &[Record], limit: Duration) -> usize {
    records
        .iter()
        .filter(|r| r.outcome == Outcome::Timeout || r.get_time() >= limit)
        .count()
}

/// Whether `e` or one of its sources is an `io::Error` of kind `TimedOut`.
fn caused_by_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = e.source();
    }
    false
}

fn attempts(stats: &Stats) -> u64 {
    stats.connections_created + stats.connect_errors
}

fn join<T>(thread: std::thread::JoinHandle<io::Result<T>>) -> io::Result<T> {
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Defines the chaos suite's `#[test]` functions for one harness: `chaos_tests!(expr)`
/// in an adapter's `tests/chaos.rs`, where `expr` builds the [`Harness`] (evaluated once
/// per test).
///
/// Each test runs one scenario, prints its report and asserts its targets; the adapter
/// file adds only the tests that are its own.
#[macro_export]
macro_rules! chaos_tests {
    ($harness:expr) => {
        #[test]
        fn outage_refused() -> ::std::io::Result<()> {
            use $crate::chaos::scenario::{self, Settings};
            let down_for = ::std::time::Duration::from_millis(1500);
            let report = scenario::outage(&$harness, &Settings::issue(), down_for)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }

        #[test]
        fn blackhole_connect_timeout_and_unanswered() -> ::std::io::Result<()> {
            let report = $crate::chaos::scenario::blackhole(&$harness)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }

        #[test]
        fn cut_mid_request_discarded() -> ::std::io::Result<()> {
            let report = $crate::chaos::scenario::cut_mid_request(&$harness)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }

        #[test]
        fn idle_outage_hands_out_no_dead_connection() -> ::std::io::Result<()> {
            use ::std::time::Duration;
            use $crate::chaos::scenario::{self, Settings};
            let mut settings = Settings::issue();
            settings.check_idle_after = Some(Duration::from_millis(300));
            let down_for = Duration::from_millis(600);
            let report = scenario::idle_outage(&$harness, &settings, down_for)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }

        #[test]
        fn reset_on_accept() -> ::std::io::Result<()> {
            let report = $crate::chaos::scenario::reset(&$harness)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }

        /// `tcp(..).connect_timeout(d)` makes the TCP manager enforce `d` itself (the
        /// pool's own bound is a little longer, a backstop), so a stalled connect is
        /// reported as `Error::Connect` with an I/O timeout inside, whose message names
        /// the address and the phase (`TCP connect to ...: timed out after ...`).
        #[test]
        fn stalled_connect_is_connect_timeout() -> ::std::io::Result<()> {
            use $crate::chaos::scenario::{self, Outcome};
            let (outcome, took) = scenario::stalled_connect(&$harness)?;
            assert!(took < ::std::time::Duration::from_secs(1), "took {took:?}");
            assert_eq!(outcome, Outcome::ConnectTimedOut);
            Ok(())
        }

        /// Connections idle for 3 × `check_idle_after`, then a 50 ms server restart:
        /// checkout peeks them although maintenance checked them moments before the
        /// restart (this suite found that it did not; fixed in netpool-core 7ad9548).
        #[test]
        fn idle_bounce_hands_out_no_dead_connection() -> ::std::io::Result<()> {
            use ::std::time::Duration;
            use $crate::chaos::scenario::{self, Settings};
            let mut settings = Settings::issue();
            settings.check_idle_after = Some(Duration::from_millis(300));
            let idle = Duration::from_millis(900);
            let bounce = Duration::from_millis(50);
            let report = scenario::idle_bounce(&$harness, &settings, idle, bounce)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }

        /// Finding (core): connects to a server that accepts and resets are not backed
        /// off (each connect succeeds; the connection dies at its first use and is
        /// discarded).
        #[test]
        fn reset_storm_is_bounded() -> ::std::io::Result<()> {
            let report = $crate::chaos::scenario::reset(&$harness)?;
            eprintln!("{report:#?}");
            report.assert_backoff();
            Ok(())
        }
    };
}
