//! Helpers shared by the tests against real servers.

#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

pub mod server;

use std::future::Future;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netpool_core::{Manager, Pool, Pooled};
use netpool_postgres::tokio_postgres::{Client, Config, NoTls};

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

/// An admin session to the live server, outside every pool (plain TCP), within 3 s.
pub async fn admin_session() -> Result<Client, String> {
    let config: Config = postgres_url().parse().map_err(|e| format!("{e}"))?;
    let connect = tokio::time::timeout(Duration::from_secs(3), config.connect(NoTls));
    let (client, conn) = connect
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(client)
}

/// Runs `f` on a thread and a runtime of its own: for synchronous code that may run
/// inside (or after) a test's runtime, such as a probe or a `Drop`.
pub fn on_own_runtime<T, F>(f: impl FnOnce() -> F + Send + 'static) -> Result<T, String>
where
    F: Future<Output = Result<T, String>>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(f())
    })
    .join()
    .unwrap_or_else(|_| Err("the thread panicked".to_owned()))
}

/// A table of the live server, dropped when this is, even if the test fails.
pub struct Table {
    /// The table's name: a unique one.
    pub name: String,
}

impl Table {
    /// Creates table `<prefix>_<unique>` with `columns` (`id int`, say) through `admin`.
    pub async fn create(admin: &Client, prefix: &str, columns: &str) -> Self {
        let name = unique(prefix);
        admin
            .batch_execute(&format!("CREATE TABLE {name} ({columns})"))
            .await
            .expect("CREATE TABLE");
        Self { name }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let sql = format!("DROP TABLE IF EXISTS {}", self.name);
        let dropped = on_own_runtime(|| async move {
            let admin = admin_session().await?;
            admin.batch_execute(&sql).await.map_err(|e| e.to_string())
        });
        if dropped.is_err() {
            eprintln!("!!!!! could not drop table {}", self.name);
        }
    }
}
