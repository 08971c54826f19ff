//! [`cut_mid_request`]: connections cut while requests are in flight.

use super::*;

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
