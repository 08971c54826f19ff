//! [`stalled_connect`]: a connect that never completes.

use super::*;

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
