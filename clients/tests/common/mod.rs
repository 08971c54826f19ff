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

/// A name no other run of these tests uses: `prefix_pid_nanos`.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
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
