//! [`idle_outage`] and [`idle_bounce`]: the server goes away while the connections idle.

use super::*;

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
