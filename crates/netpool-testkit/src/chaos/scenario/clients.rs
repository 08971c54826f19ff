//! What the scenarios share: the clients' loops and the state they share with the
//! controller, and the checks after a scenario.

use super::*;

/// After a scenario: nothing checked out or waiting, never more than `max_size`
/// connections, and all of them could be checked out again.
pub(super) fn assert_consistent(stats: &Stats, reacquired: usize, max_size: usize) {
    assert_eq!(stats.in_use, 0, "leaked slots: {stats:#?}");
    assert_eq!(stats.waiting, 0, "waiters left: {stats:#?}");
    assert!(stats.connections <= max_size, "over max_size: {stats:#?}");
    assert_eq!(
        reacquired, max_size,
        "could not check out every slot again: {stats:#?}"
    );
}

/// State shared by a scenario's clients and its controller.
pub(super) struct Ctx<M: Manager> {
    pub(super) pool: Pool<M>,
    pub(super) stop: AtomicBool,
    pub(super) seq: AtomicU64,
    pub(super) progress: Progress,
    pub(super) started: Instant,
}

impl<M: Manager> Ctx<M> {
    pub(super) fn new(pool: Pool<M>) -> Self {
        Self {
            pool,
            stop: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            progress: Progress::default(),
            started: Instant::now(),
        }
    }

    /// Whether a client loop should end.
    pub(super) fn done(&self, iterations: usize) -> bool {
        self.stop.load(Ordering::SeqCst)
            || iterations >= CLIENT_MAX_ITERATIONS
            || self.started.elapsed() >= CLIENT_LIMIT
    }
}

/// The times and counts a controller measured around a fault.
pub(super) struct Window {
    pub(super) down: Instant,
    pub(super) up: Instant,
    pub(super) attempts: u64,
    pub(super) recovered: Option<Instant>,
}

/// Sets the flag when dropped: the clients stop even if the controller fails.
pub(super) struct StopOnDrop<'a>(pub(super) &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Successful requests, counted for the controller to wait on.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) state: Mutex<ProgressState>,
    pub(super) changed: Condvar,
}

#[derive(Default)]
pub(super) struct ProgressState {
    pub(super) ok: u64,
    pub(super) mark: Option<Instant>,
    pub(super) first_after_mark: Option<Instant>,
}

impl Progress {
    pub(super) fn lock(&self) -> MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn succeeded(&self, at: Instant) {
        let mut state = self.lock();
        state.ok += 1;
        if state.first_after_mark.is_none() && state.mark.is_some_and(|m| at >= m) {
            state.first_after_mark = Some(at);
        }
        drop(state);
        self.changed.notify_all();
    }

    pub(super) fn ok(&self) -> u64 {
        self.lock().ok
    }

    pub(super) fn mark(&self, at: Instant) {
        let mut state = self.lock();
        state.mark = Some(at);
        state.first_after_mark = None;
    }

    /// Waits until `n` requests succeeded in all; `false` after `timeout`.
    pub(super) fn wait_ok(&self, n: u64, timeout: Duration) -> bool {
        self.wait(timeout, |s| s.ok >= n).is_some()
    }

    /// Waits for the first success after the mark; `None` after `timeout`.
    pub(super) fn wait_first_after_mark(&self, timeout: Duration) -> Option<Instant> {
        self.wait(timeout, |s| s.first_after_mark.is_some())
            .and_then(|s| s.first_after_mark)
    }

    pub(super) fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&ProgressState) -> bool,
    ) -> Option<MutexGuard<'_, ProgressState>> {
        wait_until(self.lock(), &self.changed, timeout, done)
    }
}

/// `n` clients loop get → request → hold → return until stopped; their records.
pub(super) fn run_loops<H: Harness>(
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
pub(super) fn run_once<H: Harness>(
    h: &H,
    ctx: &Arc<Ctx<H::Manager>>,
    timeout: Duration,
) -> Vec<Record> {
    let clients = (0..CLIENTS)
        .map(|_| {
            let ctx = ctx.clone();
            Box::pin(async move { one_request::<H>(&ctx, timeout).await }) as Client<Record>
        })
        .collect();
    h.run(clients)
}

pub(super) async fn one_request<H: Harness>(ctx: &Ctx<H::Manager>, timeout: Duration) -> Record {
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
pub(super) fn reacquire<H: Harness>(h: &H, pool: &Pool<H::Manager>, max_size: usize) -> usize {
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
pub(super) fn count_waited_out(records: &[Record], limit: Duration) -> usize {
    records
        .iter()
        .filter(|r| r.outcome == Outcome::Timeout || r.get_time() >= limit)
        .count()
}

/// Whether `e` or one of its sources is an `io::Error` of kind `TimedOut`.
pub(super) fn caused_by_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
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

pub(super) fn attempts(stats: &Stats) -> u64 {
    stats.connections_created + stats.connect_errors
}

pub(super) fn join<T>(thread: std::thread::JoinHandle<io::Result<T>>) -> io::Result<T> {
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
