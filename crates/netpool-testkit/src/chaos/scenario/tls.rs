//! The TLS chaos scenario: [`tls_restart`].

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    CLIENTS, Ctx, HOLD, Harness, OutageReport, Record, Settings, StopOnDrop, Window, attempts,
    count_waited_out, join, reacquire, run_loops,
};
use crate::TlsEchoServer;

/// A [`TlsEchoServer`] stops (connections cut, connects refused) for `down_for` while 32
/// clients run requests through a pool of TLS connections (`settings.max_size`), then
/// restarts on the same port; `h` builds a pool of TLS connections that trust the test
/// CA (its `pool` makes them with `netpool_testkit::tls::client_config`).
///
/// Measures what [`outage`](super::outage) measures, so the report holds the same
/// targets: bounded connect attempts, callers that fail fast instead of waiting out their
/// timeout, a recovery within a second of the restart (handshakes included).
///
/// # Errors
///
/// When the server cannot be started or restarted on its port.
pub fn tls_restart<H: Harness>(
    h: &H,
    settings: &Settings,
    down_for: Duration,
) -> io::Result<OutageReport> {
    let server = Arc::new(TlsEchoServer::start()?);
    let pool = h.pool(server.addr().to_string(), settings);
    let ctx = Arc::new(Ctx::new(pool.clone()));

    let controller = {
        let (ctx, server, pool) = (ctx.clone(), server.clone(), pool.clone());
        std::thread::spawn(move || -> io::Result<Window> {
            let _stop = StopOnDrop(&ctx.stop);
            ctx.progress.wait_ok(200, Duration::from_secs(10));
            let s0 = pool.stats();
            let down = Instant::now();
            server.stop();
            // The outage itself: its length is the scenario, not a synchronisation.
            std::thread::sleep(down_for);
            let s1 = pool.stats();
            server.restart()?;
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
        peak_connections: server.counts().peak,
        stats_after,
        reacquired,
        settings: settings.clone(),
    })
}
