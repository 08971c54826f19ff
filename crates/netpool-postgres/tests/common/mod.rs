//! Helpers shared by the tests against real servers.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

pub mod server;

use std::future::Future;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netpool_core::{Manager, Pool, Pooled};

/// The server the live tests use: `NETPOOL_TEST_POSTGRES`, or
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    std::env::var("NETPOOL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether CI=true: then missing servers and tools fail the tests.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether the server answered. Under `CI=true` a missing server fails the test;
/// elsewhere the test is skipped, loudly.
pub fn server_available(what: &str, url: &str, probe: Result<(), String>) -> bool {
    match probe {
        Ok(()) => true,
        Err(e) if ci() => {
            panic!("CI=true and the {what} server at {url} is not reachable: {e}")
        }
        Err(e) => {
            skip(&format!(
                "the {what} server at {url} is not reachable ({e}). Start it, or point the \
                 tests at one with NETPOOL_TEST_POSTGRES=<url>"
            ));
            false
        }
    }
}

/// Says loudly that a test is skipped (straight to stderr: libtest captures eprintln! of
/// passing tests).
pub fn skip(why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPING a test: {why}.\n!!!!! Under CI=true this is a failure."
    );
}

/// A name no other run of these tests uses: `prefix_pid_nanos`.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// Bounds a test: fails it if `f` has not finished within `limit`.
pub async fn bounded<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"))
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
