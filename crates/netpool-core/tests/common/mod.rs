//! Shared helpers for netpool-core's integration tests: a gated, drop-counting manager and
//! wake-recording wakers.

#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(unreachable_pub, reason = "a test helper module, not a public API")]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use netpool_core::Manager;

pub mod mux;
pub mod net;
pub mod recorder;

/// What `connect` or `is_valid` does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Succeeds at once.
    Ok,
    /// Fails at once.
    Err,
    /// Succeeds after yielding a few times (an await point).
    Slow,
    /// Never completes.
    Never,
    /// Panics.
    Panic,
    /// Blocks the thread for 100 ms, then fails (a blocking connect with its own timeout).
    BlockThenErr,
}

pub const GATES: [Gate; 5] = [Gate::Ok, Gate::Err, Gate::Slow, Gate::Never, Gate::Panic];

/// The test manager's error.
#[derive(Debug, thiserror::Error)]
#[error("gated failure #{0}")]
pub struct GateError(pub usize);

/// Counts of connections, shared by the manager and its connections.
#[derive(Debug, Default)]
pub struct Counts {
    pub connects: AtomicUsize,
    pub created: AtomicUsize,
    pub dropped: AtomicUsize,
    pub alive: AtomicUsize,
    pub max_alive: AtomicUsize,
    pub validations: AtomicUsize,
}

impl Counts {
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
    pub fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
    pub fn max_alive(&self) -> usize {
        self.max_alive.load(Ordering::SeqCst)
    }
    pub fn validations(&self) -> usize {
        self.validations.load(Ordering::SeqCst)
    }
}

/// A connection that counts itself.
#[derive(Debug)]
pub struct Conn {
    pub id: usize,
    pub broken: bool,
    counts: Arc<Counts>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counts.alive.fetch_sub(1, Ordering::SeqCst);
        self.counts.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A manager whose `connect` and `is_valid` follow gates the test sets.
#[derive(Debug, Clone)]
pub struct Gated {
    pub counts: Arc<Counts>,
    connect: Arc<Mutex<Gate>>,
    valid: Arc<Mutex<Gate>>,
    broken: Arc<AtomicBool>,
    panic_on_broken: Arc<AtomicBool>,
}

impl Default for Gated {
    fn default() -> Self {
        Self::new()
    }
}

impl Gated {
    pub fn new() -> Self {
        Self {
            counts: Arc::default(),
            connect: Arc::new(Mutex::new(Gate::Ok)),
            valid: Arc::new(Mutex::new(Gate::Ok)),
            broken: Arc::default(),
            panic_on_broken: Arc::default(),
        }
    }

    pub fn set_connect(&self, gate: Gate) {
        *self.connect.lock().unwrap() = gate;
    }

    pub fn set_valid(&self, gate: Gate) {
        *self.valid.lock().unwrap() = gate;
    }

    /// Every returned connection reports broken from now on.
    pub fn set_broken(&self, broken: bool) {
        self.broken.store(broken, Ordering::SeqCst);
    }

    pub fn set_panic_on_broken(&self, panic: bool) {
        self.panic_on_broken.store(panic, Ordering::SeqCst);
    }
}

async fn pass(gate: Gate, n: usize) -> Result<(), GateError> {
    match gate {
        Gate::Ok => Ok(()),
        Gate::Err => Err(GateError(n)),
        Gate::Slow => {
            for _ in 0..3 {
                futures_lite::future::yield_now().await;
            }
            Ok(())
        }
        Gate::Never => futures_lite::future::pending().await,
        Gate::Panic => panic!("gated panic #{n}"),
        Gate::BlockThenErr => {
            std::thread::sleep(std::time::Duration::from_millis(100));
            Err(GateError(n))
        }
    }
}

impl Manager for Gated {
    type Connection = Conn;
    type Error = GateError;

    async fn connect(&self) -> Result<Conn, GateError> {
        let n = self.counts.connects.fetch_add(1, Ordering::SeqCst);
        let gate = *self.connect.lock().unwrap();
        pass(gate, n).await?;
        let alive = self.counts.alive.fetch_add(1, Ordering::SeqCst) + 1;
        self.counts.max_alive.fetch_max(alive, Ordering::SeqCst);
        let id = self.counts.created.fetch_add(1, Ordering::SeqCst);
        Ok(Conn {
            id,
            broken: false,
            counts: self.counts.clone(),
        })
    }

    async fn is_valid(&self, _conn: &mut Conn) -> Result<(), GateError> {
        let n = self.counts.validations.fetch_add(1, Ordering::SeqCst);
        let gate = *self.valid.lock().unwrap();
        pass(gate, n).await
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        if self.panic_on_broken.load(Ordering::SeqCst) {
            panic!("has_broken panics");
        }
        conn.broken || self.broken.load(Ordering::SeqCst)
    }
}

/// A [`Gated`] manager that holds a token: while the pool's insides (and so its manager)
/// live, the token's strong count includes this one.
#[derive(Debug)]
pub struct Holding(pub Gated, pub Arc<()>);

impl Holding {
    pub fn new(token: &Arc<()>) -> Self {
        Self(Gated::new(), token.clone())
    }
}

impl Manager for Holding {
    type Connection = Conn;
    type Error = GateError;

    async fn connect(&self) -> Result<Conn, GateError> {
        self.0.connect().await
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), GateError> {
        self.0.is_valid(conn).await
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        self.0.has_broken(conn)
    }
}

/// A waker that records whether it was woken.
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    pub fn new() -> (Arc<Self>, Waker) {
        let flag = Arc::new(Self::default());
        let waker = Waker::from(flag.clone());
        (flag, waker)
    }

    /// Whether the waker fired since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `fut` once with `waker`.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// A pool of a fresh [`Gated`] manager, built from `builder`.
pub fn gated_pool(builder: netpool_core::Builder) -> (Gated, netpool_core::Pool<Gated>) {
    let manager = Gated::new();
    let pool = builder.build(manager.clone()).expect("a valid test config");
    (manager, pool)
}

/// A pool of a fresh [`Gated`] manager: `max_size` connections, and what `more` sets.
pub fn gated_sized(
    max_size: usize,
    more: impl FnOnce(netpool_core::Builder) -> netpool_core::Builder,
) -> (Gated, netpool_core::Pool<Gated>) {
    gated_pool(more(netpool_core::Pool::builder().max_size(max_size)))
}

/// Runs one maintenance pass to completion on this thread.
pub fn maintain<M: Manager>(pool: &netpool_core::Pool<M>) {
    futures_lite::future::block_on(pool.maintain());
}

/// A boxed future, for polling by hand.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One [`Gated`] manager per key of a keyed pool, made on first use and kept so a test
/// can set one key's gates.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    managers: Arc<Mutex<std::collections::HashMap<u32, Gated>>>,
}

impl Keys {
    /// The manager of `key` (made now if the pool has not asked for it yet).
    pub fn manager(&self, key: u32) -> Gated {
        self.managers
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .clone()
    }

    /// Connections of all keys alive now.
    pub fn alive(&self) -> usize {
        let managers = self.managers.lock().unwrap();
        managers.values().map(|m| m.counts.alive()).sum()
    }

    /// A keyed pool of these managers, built from `builder`.
    pub fn pool(&self, builder: netpool_core::KeyedBuilder) -> netpool_core::KeyedPool<u32, Gated> {
        let keys = self.clone();
        builder
            .build(move |key: &u32| keys.manager(*key))
            .expect("a valid test config")
    }
}

/// A multi-threaded tokio runtime with `workers` worker threads and its drivers enabled.
pub fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Spawns `task(i)` for each `i` in `0..n` on the current tokio runtime (its timers
/// enabled) and awaits them all, each for at most 60 s (a task's panic or a task still
/// running then fails the caller); their outputs in spawn order.
pub async fn each_task<T, F>(n: usize, mut task: impl FnMut(usize) -> F) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut outputs = Vec::with_capacity(n);
    for handle in handles {
        let output = tokio::time::timeout(std::time::Duration::from_secs(60), handle).await;
        outputs.push(output.expect("bounded").expect("a test task panicked"));
    }
    outputs
}

/// A barrier for two or more threads whose wait gives up (panics) after a bound, so that a
/// test whose other side failed (panicked, or is stuck) fails with that side's message
/// instead of hanging at `std::sync::Barrier::wait` forever.
#[allow(dead_code)]
pub struct Rendezvous {
    parties: usize,
    state: Mutex<(u64, usize)>,
    cond: std::sync::Condvar,
}

#[allow(dead_code)]
impl Rendezvous {
    /// A rendezvous of `parties` threads.
    pub fn new(parties: usize) -> Self {
        Self {
            parties,
            state: Mutex::new((0, 0)),
            cond: std::sync::Condvar::new(),
        }
    }

    /// Waits for the other parties; panics if they do not all arrive within `bound`.
    pub fn wait(&self, bound: std::time::Duration) {
        let deadline = std::time::Instant::now() + bound;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let generation = state.0;
        state.1 += 1;
        if state.1 == self.parties {
            *state = (generation + 1, 0);
            self.cond.notify_all();
            return;
        }
        while state.0 == generation {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "the other side did not arrive within {bound:?} (it failed or is stuck)"
            );
            state = self
                .cond
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
