//! [`reset`]: a server that accepts and resets every connection.

use super::*;

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
        // The rate's share of the window rounded up (a connect the backoff allowed in
        // the window's last fraction of a slot counts), plus one per slot.
        let budget = (100 * self.resetting_for.as_millis() as u64).div_ceil(3000)
            + self.settings.max_size as u64;
        assert!(
            self.accepts <= budget,
            "{} connections opened (and reset) in {:?}, budget {budget}: {self:#?}",
            self.accepts,
            self.resetting_for
        );
    }
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

/// What the [`reset`] controller saw around the fault.
struct FaultWindow {
    accepts: u64,
    before: Stats,
    after: Stats,
    from: Instant,
    until: Instant,
    recovered: Option<Instant>,
}
