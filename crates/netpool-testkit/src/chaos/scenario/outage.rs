//! [`outage`]: the server refuses connects for a while, then comes back.

use super::*;

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
    /// Asserts the targets, with margins for a noisy machine.
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

/// The server stops (connections cut, connects refused) for `down_for` while 32 clients
/// run requests through a pool of `settings.max_size`, then comes back.
///
/// Measures the row: connect attempts during the outage, callers that waited
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
    let addr = proxy.addr().to_string();
    let fault = Fault {
        stop: {
            let proxy = proxy.clone();
            move || {
                proxy.set_mode(Mode::Refuse)?;
                proxy.cut_all();
                Ok(())
            }
        },
        restart: {
            let proxy = proxy.clone();
            move || proxy.set_mode(Mode::Pass)
        },
        peak: move || proxy.peak(),
    };
    run_outage(h, addr, settings, down_for, fault)
}

/// How an outage scenario stops and restarts its server, and reads the peak of
/// connections it saw.
pub(super) struct Fault<S, R, P> {
    /// Stops the server: connections cut, connects refused.
    pub(super) stop: S,
    /// Brings it back.
    pub(super) restart: R,
    /// The most connections open at once.
    pub(super) peak: P,
}

/// The outage scenario against the server at `addr` that `fault` stops and restarts:
/// 32 clients through a pool from `h`, the server down for `down_for`, and what
/// [`OutageReport`] holds measured.
pub(super) fn run_outage<H, S, R, P>(
    h: &H,
    addr: String,
    settings: &Settings,
    down_for: Duration,
    fault: Fault<S, R, P>,
) -> io::Result<OutageReport>
where
    H: Harness,
    S: FnOnce() -> io::Result<()> + Send + 'static,
    R: FnOnce() -> io::Result<()> + Send + 'static,
    P: FnOnce() -> usize,
{
    let pool = h.pool(addr, settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));
    let Fault {
        stop,
        restart,
        peak,
    } = fault;

    let controller = {
        let (ctx, pool) = (ctx.clone(), pool.clone());
        std::thread::spawn(move || -> io::Result<Window> {
            let _stop = StopOnDrop(&ctx.stop);
            // Warm up: every connection in use, the pool contended.
            ctx.progress.wait_ok(200, Duration::from_secs(10));
            let s0 = pool.stats();
            let down = Instant::now();
            stop()?;
            // The outage itself: its length is the scenario, not a synchronisation.
            std::thread::sleep(down_for);
            let s1 = pool.stats();
            restart()?;
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
        peak_connections: peak(),
        stats_after,
        reacquired,
        settings: settings.clone(),
    })
}
