//! Helpers shared by the tests against real servers.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netpool_core::{Manager, Pool, Pooled};

/// A boxed, sendable future.
pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Whether the server answered. Under `CI=true` a missing server fails the test;
/// elsewhere the test is skipped, loudly.
pub fn server_available(what: &str, url: &str, probe: Result<(), String>) -> bool {
    match probe {
        Ok(()) => true,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and the {what} server at {url} is not reachable: {e}")
        }
        Err(e) => {
            let var = match what {
                "Redis" => "NETPOOL_TEST_REDIS",
                _ => "NETPOOL_TEST_POSTGRES",
            };
            // Straight to stderr: libtest captures eprintln! of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPING a test: the {what} server at {url} is not reachable ({e}).\n\
                 !!!!! Start it, or point the tests at one with {var}=<url>; \
                 under CI=true this is a failure."
            );
            false
        }
    }
}

/// A name no other run of these tests uses: `prefix_pid_nanos_count`.
pub fn unique(prefix: &str) -> String {
    // The count too: tests run in parallel threads, which can read the same time.
    static NAMES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NAMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}_{}_{nanos}_{n}", std::process::id())
}

/// Spawns on tokio; the returned future yields the task's output.
pub fn tokio_spawn<T: Send + 'static>(f: BoxFut<T>) -> BoxFut<T> {
    let handle = tokio::spawn(f);
    Box::pin(async move { handle.await.expect("a test task panicked") })
}

/// Spawns on smol's global executor; the returned future yields the task's output.
pub fn smol_spawn<T: Send + 'static>(f: BoxFut<T>) -> BoxFut<T> {
    Box::pin(smol::spawn(f))
}

/// Bounds a test: fails it if `f` has not finished within `limit`.
pub async fn bounded<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    futures_lite::future::or(async { Some(f.await) }, async {
        smol::Timer::after(limit).await;
        None
    })
    .await
    .unwrap_or_else(|| panic!("the test did not finish within {limit:?}"))
}

/// Checks out `n` connections at once, so that `pool` opens (at least) `n`, and returns
/// them; dropping them leaves them idle in the pool.
pub async fn warm<M: Manager>(pool: &Pool<M>, n: usize) -> Vec<Pooled<M>> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(pool.get().await.expect("warm-up get"));
    }
    held
}

/// The `redis-server` of this test binary's own, while a test holds it (see [`own_redis`]).
static OWN_REDIS: std::sync::Mutex<std::sync::Weak<netpool_testkit::RedisServer>> =
    std::sync::Mutex::new(std::sync::Weak::new());

/// The `redis-server` of this test binary's own (a free loopback port, its own directory),
/// for the tests that kill clients or change settings: never the Redis on 6379. `None`
/// (the test skips, loudly; under `CI=true` it fails) if `redis-server` is not installed.
///
/// Started by the first test that asks, shared by the tests that run meanwhile (each holds
/// the `Arc`), and stopped when the last of them drops it: when the tests end, pass, fail
/// or panic, no server is left behind.
pub fn own_redis() -> Option<std::sync::Arc<netpool_testkit::RedisServer>> {
    if !netpool_testkit::RedisServer::installed() {
        server_available(
            "Redis",
            "(a redis-server of the tests' own)",
            Err("redis-server is not installed".to_owned()),
        );
        return None;
    }
    let mut slot = OWN_REDIS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = slot.upgrade() {
        return Some(server);
    }
    let server =
        std::sync::Arc::new(netpool_testkit::RedisServer::start().expect("redis-server starts"));
    *slot = std::sync::Arc::downgrade(&server);
    Some(server)
}

/// The URL of the server [`own_redis`] started; call it while holding that server.
pub fn own_redis_url() -> String {
    OWN_REDIS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .upgrade()
        .expect("a test holds its redis-server")
        .url()
}
