//! What every bench binary shares: a trivial in-memory manager for netpool and each peer
//! (deadpool's and bb8's through the [`Dead`] and [`Bb8`] adapters over a netpool
//! manager), a meter that times a run and counts its allocations, and the criterion glue
//! that records them. Below: [`echo`] for the TCP and TLS benches, [`live`] for the
//! benches against servers and [`pg`] for the PostgreSQL ones.

// Each bench binary uses a different subset of these helpers.
#![allow(dead_code)]

pub(crate) mod echo;
pub(crate) mod live;
pub(crate) mod pg;

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use netpool_benches::alloc::allocations;
use netpool_benches::extra::Tally;

/// The connection of every in-memory manager: a number the bench can touch.
pub(crate) type Conn = u64;

/// netpool's in-memory manager.
pub(crate) struct Mem;

impl netpool_core::Manager for Mem {
    type Connection = Conn;
    type Error = Infallible;

    async fn connect(&self) -> Result<Conn, Infallible> {
        Ok(0)
    }
    async fn is_valid(&self, _: &mut Conn) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut Conn) -> bool {
        false
    }
}

/// A netpool manager that opens connections with `F` and never checks them (no
/// `is_valid` round trip, `has_broken` always `false`), as the peers' benches write theirs.
pub(crate) struct Unchecked<F>(pub(crate) F);

impl<F, Fut, C, E> netpool_core::Manager for Unchecked<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C, E>> + Send,
    C: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    type Connection = C;
    type Error = E;

    fn connect(&self) -> impl Future<Output = Result<C, E>> + Send {
        (self.0)()
    }
    async fn is_valid(&self, _: &mut C) -> Result<(), E> {
        Ok(())
    }
    fn has_broken(&self, _: &mut C) -> bool {
        false
    }
}

/// deadpool's manager for netpool manager `M`'s connections: `create` connects, and
/// `recycle` keeps every connection, unchecked (as the benches' peers have always run:
/// delegating to `is_valid`, even one that checks nothing, costs deadpool 14
/// instructions a cycle under callgrind).
pub(crate) struct Dead<M>(pub(crate) M);

impl<M: netpool_core::Manager> deadpool::managed::Manager for Dead<M> {
    type Type = M::Connection;
    type Error = M::Error;

    fn create(&self) -> impl Future<Output = Result<M::Connection, M::Error>> + Send {
        self.0.connect()
    }
    async fn recycle(
        &self,
        _: &mut M::Connection,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<M::Error> {
        Ok(())
    }
}

/// bb8's manager for netpool manager `M`'s connections (the two traits are alike).
pub(crate) struct Bb8<M>(pub(crate) M);

impl<M: netpool_core::Manager> bb8::ManageConnection for Bb8<M> {
    type Connection = M::Connection;
    type Error = M::Error;

    fn connect(&self) -> impl Future<Output = Result<M::Connection, M::Error>> + Send {
        self.0.connect()
    }
    fn is_valid(
        &self,
        conn: &mut M::Connection,
    ) -> impl Future<Output = Result<(), M::Error>> + Send {
        self.0.is_valid(conn)
    }
    fn has_broken(&self, conn: &mut M::Connection) -> bool {
        self.0.has_broken(conn)
    }
}

/// r2d2's in-memory manager.
pub(crate) struct R2Mem;

impl r2d2::ManageConnection for R2Mem {
    type Connection = Conn;
    type Error = Infallible;

    fn connect(&self) -> Result<Conn, Infallible> {
        Ok(0)
    }
    fn is_valid(&self, _: &mut Conn) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut Conn) -> bool {
        false
    }
}

/// mobc's in-memory manager.
pub(crate) struct MobcMem;

#[mobc::async_trait]
impl mobc::Manager for MobcMem {
    type Connection = Conn;
    type Error = Infallible;

    async fn connect(&self) -> Result<Conn, Infallible> {
        Ok(0)
    }
    async fn check(&self, conn: Conn) -> Result<Conn, Infallible> {
        Ok(conn)
    }
}

/// netpool with nothing time-based: no idle timeout, no lifetime, no check on checkout.
pub(crate) fn netpool_bare(max_size: usize) -> netpool_core::Pool<Mem> {
    bare_builder(max_size).build(Mem).expect("valid config")
}

/// The settings of [`netpool_bare`], for variants of it.
pub(crate) fn bare_builder(max_size: usize) -> netpool_core::Builder {
    netpool_core::Pool::builder()
        .max_size(max_size)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
}

/// [`netpool_bare`] with leak detection on (holders tracked, a 60 s threshold).
#[allow(dead_code, reason = "not every bench compares leak detection")]
pub(crate) fn netpool_leak(max_size: usize) -> netpool_core::Pool<Mem> {
    bare_builder(max_size)
        .leak_threshold(Duration::from_secs(60))
        .build(Mem)
        .expect("valid config")
}

/// netpool with idle timeout and max lifetime on (the defaults), check on checkout off.
pub(crate) fn netpool_timeouts(max_size: usize) -> netpool_core::Pool<Mem> {
    netpool_core::Pool::builder()
        .max_size(max_size)
        .idle_timeout(Some(Duration::from_secs(600)))
        .max_lifetime(Some(Duration::from_secs(1800)))
        .test_on_check_out(false)
        .build(Mem)
        .expect("valid config")
}

/// netpool with the default settings (idle timeout, lifetime, check after 1 s idle).
pub(crate) fn netpool_defaults(max_size: usize) -> netpool_core::Pool<Mem> {
    netpool_core::Pool::builder()
        .max_size(max_size)
        .build(Mem)
        .expect("valid config")
}

/// deadpool with its defaults (recycle on every checkout).
pub(crate) fn deadpool(max_size: usize) -> deadpool::managed::Pool<Dead<Mem>> {
    deadpool_of(Mem, max_size)
}

/// deadpool with its defaults, of `manager`'s connections.
pub(crate) fn deadpool_of<M: netpool_core::Manager>(
    manager: M,
    max_size: usize,
) -> deadpool::managed::Pool<Dead<M>> {
    deadpool::managed::Pool::builder(Dead(manager))
        .max_size(max_size)
        .build()
        .expect("valid config")
}

/// bb8 with its defaults (is_valid on every checkout). Needs a tokio runtime.
pub(crate) async fn bb8(max_size: usize) -> bb8::Pool<Bb8<Mem>> {
    bb8_of(Mem, max_size).await
}

/// bb8 with its defaults, of `manager`'s connections. Needs a tokio runtime.
pub(crate) async fn bb8_of<M: netpool_core::Manager>(
    manager: M,
    max_size: usize,
) -> bb8::Pool<Bb8<M>> {
    bb8::Pool::builder()
        .max_size(u32::try_from(max_size).expect("small"))
        .build(Bb8(manager))
        .await
        .expect("valid config")
}

/// r2d2 with its defaults (is_valid on every checkout; min_idle = max_size).
pub(crate) fn r2d2(max_size: usize) -> r2d2::Pool<R2Mem> {
    r2d2::Pool::builder()
        .max_size(u32::try_from(max_size).expect("small"))
        .build(R2Mem)
        .expect("valid config")
}

/// mobc with every connection kept idle (its default keeps only 2). Needs tokio.
pub(crate) fn mobc(max_size: usize) -> mobc::Pool<MobcMem> {
    let max = u64::try_from(max_size).expect("small");
    mobc::Pool::builder()
        .max_open(max)
        .max_idle(max)
        .build(MobcMem)
}

/// The floor a pool is held to: an event-listener + ConcurrentQueue pool with no
/// accounting at all (no permits, no size, no counters, no clock, no checks). A get pops
/// an idle connection or waits for a return; a return pushes and notifies. The guard
/// holds an `Arc` of the pool, as a guard with no lifetime (deadpool's, netpool's) must.
#[derive(Clone)]
pub(crate) struct Sketch(std::sync::Arc<SketchInner>);

pub(crate) struct SketchInner {
    idle: concurrent_queue::ConcurrentQueue<Conn>,
    returned: event_listener::Event,
}

/// A connection checked out of a [`Sketch`].
pub(crate) struct SketchGuard {
    pool: std::sync::Arc<SketchInner>,
    conn: Conn,
}

impl Sketch {
    /// A sketch pool of `size` connections, all idle.
    pub(crate) fn new(size: usize) -> Self {
        let idle = concurrent_queue::ConcurrentQueue::bounded(size);
        for i in 0..size as Conn {
            idle.push(i).expect("room");
        }
        Self(std::sync::Arc::new(SketchInner {
            idle,
            returned: event_listener::Event::new(),
        }))
    }

    /// An idle connection, waiting for a return if none is.
    pub(crate) async fn get(&self) -> SketchGuard {
        loop {
            if let Ok(conn) = self.0.idle.pop() {
                return SketchGuard {
                    pool: self.0.clone(),
                    conn,
                };
            }
            let listener = self.0.returned.listen();
            if let Ok(conn) = self.0.idle.pop() {
                return SketchGuard {
                    pool: self.0.clone(),
                    conn,
                };
            }
            listener.await;
        }
    }
}

impl Drop for SketchGuard {
    fn drop(&mut self) {
        self.pool.idle.push(self.conn).expect("room");
        self.pool.returned.notify(1);
    }
}

/// Times a run and counts the heap allocations made during it.
pub(crate) struct Meter {
    allocations: u64,
    started: Instant,
}

/// What one measured run produced.
pub(crate) struct Sample {
    pub(crate) elapsed: Duration,
    pub(crate) cycles: u64,
    pub(crate) allocations: u64,
    pub(crate) per_worker: Vec<u64>,
}

impl Meter {
    pub(crate) fn start() -> Self {
        Self {
            allocations: allocations(),
            started: Instant::now(),
        }
    }

    /// Ends a run of `cycles` cycles once every task finished; each returns its share.
    pub(crate) async fn stop_after(
        self,
        cycles: u64,
        tasks: Vec<tokio::task::JoinHandle<u64>>,
    ) -> Sample {
        let mut per_worker = Vec::with_capacity(tasks.len());
        for task in tasks {
            per_worker.push(task.await.expect("task"));
        }
        self.stop(cycles, per_worker)
    }

    /// Ends a run of `cycles` cycles; `per_worker` holds each worker's share.
    pub(crate) fn stop(self, cycles: u64, per_worker: Vec<u64>) -> Sample {
        let elapsed = self.started.elapsed();
        Sample {
            elapsed,
            cycles,
            allocations: allocations() - self.allocations,
            per_worker,
        }
    }
}

/// Benchmarks `run` as `group/name/param`: `run(iters)` performs `iters` cycles and
/// reports them in a [`Sample`]. Prints and records allocations per cycle and fairness.
pub(crate) fn bench(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    param: &str,
    mut run: impl FnMut(u64) -> Sample,
) {
    let mut tally = Tally::new();
    group.bench_function(BenchmarkId::new(name, param), |b| {
        b.iter_custom(|iters| {
            let sample = run(iters);
            tally.observe(sample.cycles, sample.allocations, &sample.per_worker);
            sample.elapsed
        });
    });
    let group_name = GROUP_NAME.with(|g| g.borrow().clone());
    tally.record(&format!("{group_name}/{name}/{param}"));
}

thread_local! {
    /// The name of the group being benchmarked, for [`bench`]'s record (criterion does not
    /// expose it from a `BenchmarkGroup`).
    pub(crate) static GROUP_NAME: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Opens a criterion group named `name`, one element per iteration.
pub(crate) fn group<'c>(
    c: &'c mut criterion::Criterion,
    name: &str,
) -> BenchmarkGroup<'c, WallTime> {
    GROUP_NAME.with(|g| *g.borrow_mut() = name.to_owned());
    let mut group = c.benchmark_group(name);
    group.throughput(criterion::Throughput::Elements(1));
    group
}

/// Splits `iters` cycles over `workers` workers: worker `i` gets its share.
pub(crate) fn share(iters: u64, workers: usize, i: usize) -> u64 {
    let workers = workers as u64;
    let i = i as u64;
    iters / workers + u64::from(i < iters % workers)
}

/// Cycles claimed at once from a shared counter: large enough that the counter is not
/// what the workers contend on, small enough for a fine fairness measure.
pub(crate) const CLAIM: u64 = 8;

/// Claims up to [`CLAIM`] cycles from `counter` out of `iters`; 0 when all are claimed.
pub(crate) fn claim(counter: &std::sync::atomic::AtomicU64, iters: u64) -> u64 {
    let first = counter.fetch_add(CLAIM, std::sync::atomic::Ordering::Relaxed);
    iters.saturating_sub(first).min(CLAIM)
}

/// One measured way of doing cycles: name, `workers x max_size`, and the run.
pub(crate) type Run<'a> = (&'static str, String, Box<dyn FnMut(u64) -> Sample + 'a>);

/// The interleaved comparisons' number of rounds: `NETPOOL_BENCH_ROUNDS`, else
/// `default`. More rounds narrow the medians of the paired ratios on a noisy machine.
pub(crate) fn rounds(default: usize) -> usize {
    std::env::var("NETPOOL_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(default)
}

/// Benchmarks every run in the group `name` with criterion, then runs them again
/// alternated round by round (`rounds` rounds of `cycles` cycles each) in this process, so
/// that load from other processes hits every run alike, and records each run's median
/// ratio to each of `baselines` (matched on the same parameter when there is one).
/// `NETPOOL_BENCH_ROUNDS=N` sets the number of rounds (more rounds, narrower medians);
/// `NETPOOL_BENCH_NO_INTERLEAVE` skips them.
pub(crate) fn run_group(
    c: &mut criterion::Criterion,
    name: &str,
    runs: &mut [Run<'_>],
    baselines: &[&'static str],
    cycles: u64,
    rounds: usize,
) {
    let mut g = group(c, name);
    for (function, param, run) in runs.iter_mut() {
        bench(&mut g, function, param, run);
    }
    g.finish();
    if std::env::var_os("NETPOOL_BENCH_NO_INTERLEAVE").is_some() {
        return;
    }
    let rounds = self::rounds(rounds);
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    for _ in 0..rounds {
        for (i, (_, _, run)) in runs.iter_mut().enumerate() {
            let sample = run(cycles);
            times[i].push(sample.elapsed.as_nanos() as f64 / sample.cycles.max(1) as f64);
        }
    }
    let base_index = |base: &str, param: &str| {
        runs.iter()
            .position(|(f, p, _)| *f == base && p == param)
            .or_else(|| runs.iter().position(|(f, _, _)| *f == base))
    };
    for (i, (function, param, _)) in runs.iter().enumerate() {
        let mut vs = Vec::new();
        for base in baselines {
            if let Some(b) = base_index(base, param) {
                let mut ratios: Vec<f64> = times[i]
                    .iter()
                    .zip(&times[b])
                    .map(|(t, bt)| t / bt)
                    .collect();
                vs.push((*base, median(&mut ratios)));
            }
        }
        let ns = median(&mut times[i].clone());
        netpool_benches::extra::record_interleaved(
            &format!("{name}/{function}/{param}"),
            ns,
            &vs,
            rounds,
        );
    }
}

/// The median of `values` (the upper one for an even count).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A run that drives `$cycle` (one get and its drop, an expression that may `.await`)
/// `iters` times on this thread under `futures_lite::future::block_on`, and meters it.
#[allow(unused_macros, reason = "not every bench runs under block_on")]
macro_rules! block_on_loop {
    ($cycle:expr) => {
        move |iters| {
            futures_lite::future::block_on(async {
                let meter = $crate::common::Meter::start();
                for _ in 0..iters {
                    drop(std::hint::black_box($cycle));
                }
                meter.stop(iters, Vec::new())
            })
        }
    };
}
#[allow(unused_imports, reason = "not every bench runs under block_on")]
pub(crate) use block_on_loop;

/// Checks `$n` connections out of each pool at once and returns them, so every pool
/// starts the measurements with `$n` open connections.
#[allow(unused_macros, reason = "not every bench warms pools this way")]
macro_rules! warm_pools {
    ($rt:expr, $n:expr; $($pool:expr),+ $(,)?) => {
        $rt.block_on(async {
            $(
                let mut held = Vec::new();
                for _ in 0..$n {
                    held.push($pool.get().await.expect("connection"));
                }
                drop(held);
            )+
        })
    };
}
#[allow(unused_imports, reason = "not every bench warms pools this way")]
pub(crate) use warm_pools;

/// Runs `tasks` tokio tasks that together complete `iters` cycles, claimed from a shared
/// counter; `$cycle` is one cycle with the task's pool clone bound to `$p`.
#[allow(unused_macros, reason = "not every bench runs tokio tasks")]
macro_rules! tasks {
    ($rt:expr, $iters:expr, $tasks:expr, $pool:expr, |$p:ident| $cycle:expr) => {{
        let iters: u64 = $iters;
        let counter = ::std::sync::Arc::new(::std::sync::atomic::AtomicU64::new(0));
        $rt.block_on(async {
            let meter = $crate::common::Meter::start();
            let handles: Vec<_> = (0..$tasks)
                .map(|_| {
                    let $p = $pool.clone();
                    let counter = counter.clone();
                    tokio::spawn(async move {
                        let mut done = 0;
                        loop {
                            let n = $crate::common::claim(&counter, iters);
                            if n == 0 {
                                break done;
                            }
                            for _ in 0..n {
                                $cycle;
                            }
                            done += n;
                        }
                    })
                })
                .collect();
            meter.stop_after(iters, handles).await
        })
    }};
}
#[allow(unused_imports, reason = "not every bench runs tokio tasks")]
pub(crate) use tasks;

/// Adds to `$runs` one run per pool and per task count in `$tasks`, named `$name` with
/// the parameter `<tasks>x<$size>`: `$run` (an expression of the task count bound to `$t`,
/// the pool to `$p` and the iterations to `$i`) drives the pool.
#[allow(
    unused_macros,
    reason = "not every bench compares pools per task count"
)]
macro_rules! pool_runs {
    ($runs:ident, $size:expr, $tasks:expr, |$t:ident, $p:ident, $i:ident| $run:expr;
     $($name:expr => $pool:expr),+ $(,)?) => {
        for $t in $tasks {
            let param = format!("{}x{}", $t, $size);
            $(
                let $p = $pool;
                $runs.push(($name, param.clone(), Box::new(move |$i| $run)));
            )+
        }
    };
}
#[allow(
    unused_imports,
    reason = "not every bench compares pools per task count"
)]
pub(crate) use pool_runs;

/// The naive pool: a tokio `Semaphore` for the count, a `Mutex<Vec<_>>` for the idle
/// connections, every connection opened up front: a peer for the tail table of the
/// `redis` bench and the `s2-mutex` mode of the `hotpath` example.
pub(crate) struct MutexPool<C> {
    sema: std::sync::Arc<tokio::sync::Semaphore>,
    idle: std::sync::Arc<std::sync::Mutex<Vec<C>>>,
}

impl<C> Clone for MutexPool<C> {
    fn clone(&self) -> Self {
        Self {
            sema: self.sema.clone(),
            idle: self.idle.clone(),
        }
    }
}

/// A connection out of a [`MutexPool`]; back to it on drop.
pub(crate) struct MutexGuard<C> {
    idle: std::sync::Arc<std::sync::Mutex<Vec<C>>>,
    conn: Option<C>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl<C: Send + 'static> MutexPool<C> {
    pub(crate) async fn open<M: netpool_core::Manager<Connection = C>>(
        manager: M,
        size: usize,
    ) -> Self {
        let mut conns = Vec::with_capacity(size);
        for _ in 0..size {
            conns.push(manager.connect().await.expect("connect"));
        }
        Self {
            sema: std::sync::Arc::new(tokio::sync::Semaphore::new(size)),
            idle: std::sync::Arc::new(std::sync::Mutex::new(conns)),
        }
    }

    pub(crate) async fn get(&self) -> MutexGuard<C> {
        let permit = self
            .sema
            .clone()
            .acquire_owned()
            .await
            .expect("open semaphore");
        let conn = self.idle.lock().expect("lock").pop();
        MutexGuard {
            idle: self.idle.clone(),
            conn,
            _permit: permit,
        }
    }
}

impl<C> std::ops::Deref for MutexGuard<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.conn.as_ref().expect("a connection per permit")
    }
}

impl<C> std::ops::DerefMut for MutexGuard<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().expect("a connection per permit")
    }
}

impl<C> Drop for MutexGuard<C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.idle.lock().expect("lock").push(conn);
        }
    }
}
