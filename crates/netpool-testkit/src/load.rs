//! [`Load`]: clients that repeat a request while something changes under them, counting
//! what succeeded and what failed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::chaos::scenario::Client;

/// Clients repeating a request (a checkout and a round trip, say) until stopped, and the
/// counts of their outcomes: for tests that change a running pool (a moved name, a
/// rotated password) and count the requests that failed meanwhile.
///
/// Runtime-neutral: [`clients`](Self::clients) returns futures to spawn on any runtime,
/// and [`progress`](Self::progress) waits by yielding. Each client stops after 100,000
/// requests at most.
///
/// # Examples
///
/// ```
/// use netpool_testkit::Load;
///
/// let load = Load::new();
/// let clients = load.clients(4, &(), |()| async { true });
/// let stop = load.clone();
/// std::thread::spawn(move || {
///     futures_lite::future::block_on(stop.progress(100));
///     stop.stop();
/// });
/// for client in clients {
///     futures_lite::future::block_on(client);
/// }
/// assert!(load.ok() >= 100);
/// assert_eq!(load.failed(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Load {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// The most requests one client makes.
const MAX_REQUESTS: u32 = 100_000;

impl Load {
    /// No clients yet, nothing counted.
    pub fn new() -> Self {
        Self::default()
    }

    /// `n` clients, each running `request` on a clone of `with` (the pool, say; `true`:
    /// it succeeded) over and over until [`stop`](Self::stop), counting the outcomes.
    pub fn clients<S, F, Fut>(&self, n: usize, with: &S, request: F) -> Vec<Client<()>>
    where
        S: Clone + Send + 'static,
        F: Fn(S) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        (0..n)
            .map(|_| {
                let (load, with, request) = (self.clone(), with.clone(), request.clone());
                Box::pin(async move {
                    for _ in 0..MAX_REQUESTS {
                        if load.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let counter = if request(with.clone()).await {
                            &load.ok
                        } else {
                            &load.failed
                        };
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                }) as Client<()>
            })
            .collect()
    }

    /// Waits, yielding, until `more` requests more than now have succeeded.
    pub async fn progress(&self, more: u64) {
        let target = self.ok() + more;
        while self.ok() < target {
            futures_lite::future::yield_now().await;
        }
    }

    /// Tells the clients to stop after their current request.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Requests that succeeded so far.
    pub fn ok(&self) -> u64 {
        self.ok.load(Ordering::SeqCst)
    }

    /// Requests that failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }

    /// Makes `change` (a swapped address or password) under this load and refreshes
    /// `pool`: once 200 requests succeeded, runs `change`, calls
    /// [`Pool::refresh`](netpool_core::Pool::refresh), waits for 500 more successes,
    /// stops the clients and awaits `clients` (their join), then
    /// [`assert_refreshed`](Self::assert_refreshed).
    ///
    /// # Panics
    ///
    /// When the refresh lost a request or replaced nothing.
    pub async fn refresh_under<M: netpool_core::Manager>(
        &self,
        pool: &netpool_core::Pool<M>,
        change: impl Future<Output = ()>,
        clients: impl Future,
    ) {
        self.progress(200).await;
        let created = pool.stats().connections_created;
        change.await;
        pool.refresh();
        self.progress(500).await;
        self.stop();
        clients.await;
        self.assert_refreshed(&pool.stats(), created);
    }

    /// Asserts that a pool refreshed under this load lost no request, closed connections
    /// as stale and opened new ones (more than `created` before the change), and prints
    /// the counts.
    ///
    /// # Panics
    ///
    /// When one of these does not hold.
    pub fn assert_refreshed(&self, stats: &netpool_core::Stats, created: u64) {
        assert_eq!(self.failed(), 0, "{stats:?}");
        assert!(stats.closed_refreshed >= 1, "{stats:?}");
        assert!(stats.connections_created > created, "{stats:?}");
        eprintln!(
            "{} requests, 0 failed; {} connections replaced ({stats:?})",
            self.ok(),
            stats.closed_refreshed
        );
    }
}
