//! [`restart`]: the server process itself stops and starts again on its port.

use super::*;

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

/// What the [`restart`] controller saw.
struct RestartWindow {
    warmed_up: bool,
    down: Instant,
    up: Instant,
    connect_attempts: u64,
    recovered: bool,
    recovery: Duration,
}
