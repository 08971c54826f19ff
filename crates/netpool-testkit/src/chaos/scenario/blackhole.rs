//! [`blackhole`]: connects and requests into a black hole.

use super::*;

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

/// A server that cannot be reached: first connects stall (the proxy's accept queue is
/// full), then connects succeed but requests are never answered. 32 clients make one
/// get (and request) each in both phases, on a pool with a 300 ms `connect_timeout` while
/// connects stall (2 s once they are accepted).
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
    // Connects succeed here (the proxy accepts): what is measured is the request
    // timeout, so the connect timeout is as long as the wait. With the 300 ms of phase 1,
    // a loopback connect delayed by a loaded machine (the proxy's accept thread not
    // scheduled in time) once timed out and failed the scenario.
    proxy.set_mode(Mode::Blackhole)?;
    let unanswered_settings = Settings {
        wait_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
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
