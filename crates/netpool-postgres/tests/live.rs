//! netpool-postgres against the live PostgreSQL server (`NETPOOL_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`): many tasks, terminated backends, idle
//! sessions the server closes, the setup hooks.
//!
//! Under `CI=true` a missing server fails every test; elsewhere they skip, saying so on
//! stderr.
//!
//! Each test uses its own table (dropped afterwards, even when the test fails) and its
//! own `application_name`, so that it terminates only its own sessions.
//! `pg_terminate_backend(pid, 5000)` waits (up to 5 s) until the session is gone, so no
//! test sleeps to let a termination land.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use netpool_core::{Pool, Pooled};
use netpool_postgres::tokio_postgres::{self, Client};
use netpool_postgres::{Config, PgManager, PgSetup, RecyclingMethod};
use tokio::sync::Notify;

use common::{
    Table, admin_session, bounded, on_own_runtime, postgres_url, server_available, unique, warm,
};

/// A whole test's time limit.
const LIMIT: Duration = Duration::from_secs(90);

fn available() -> bool {
    let probe = on_own_runtime(|| async {
        let admin = admin_session().await?;
        let answer = admin.simple_query("SELECT 1").await;
        answer.map(drop).map_err(|e| e.to_string())
    });
    server_available("PostgreSQL", &postgres_url(), probe)
}

/// Runs `test` if the server is there, within [`LIMIT`].
async fn live(test: impl Future<Output = ()>) {
    if available() {
        bounded(LIMIT, test).await;
    }
}

/// The live server's settings, with `application_name = app`.
fn config(app: &str, method: RecyclingMethod) -> Config {
    let mut config = Config::from_url(&postgres_url()).expect("a valid URL");
    config.application_name = Some(app.to_owned());
    config.recycling_method = method;
    config
}

/// A pool whose sessions carry `application_name = app`.
fn pool(app: &str, method: RecyclingMethod, max_size: usize) -> Pool<PgManager> {
    let config = config(app, method);
    config
        .builder()
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .build(config.manager().expect("a valid config"))
        .expect("a valid config")
}

/// An admin session outside every pool.
async fn admin() -> Client {
    admin_session().await.expect("an admin session")
}

/// A table `<prefix>_<unique>` (`id int8 PRIMARY KEY, task int4 NOT NULL`).
async fn table(prefix: &str) -> Table {
    let columns = "id int8 PRIMARY KEY, task int4 NOT NULL";
    Table::create(&admin().await, prefix, columns).await
}

/// How many sessions named `app` the server has.
async fn sessions(admin: &Client, app: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Terminates the sessions named `app`, waiting until each is gone; answers how many.
async fn terminate(admin: &Client, app: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) \
             FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .expect("pg_terminate_backend")
        .get(0)
}

/// The sorted ids in `table`.
async fn ids(table: &Table) -> Vec<i64> {
    admin()
        .await
        .query(&format!("SELECT id FROM {} ORDER BY id", table.name), &[])
        .await
        .expect("SELECT ids")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

const TASKS: usize = 32;
const ROWS: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_by_many_tasks_are_all_there() {
    live(async {
        let table = table("netpool_rows").await;
        let pool = pool(&unique("netpool_rows"), RecyclingMethod::Verified, 8);
        let insert = format!("INSERT INTO {} (id, task) VALUES ($1, $2)", table.name);
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, insert) = (pool.clone(), insert.clone());
                tokio::spawn(async move {
                    for r in 0..ROWS {
                        let client = pool.get().await.expect("get");
                        let id = (t * ROWS + r) as i64;
                        let n = client
                            .execute(&insert, &[&id, &(t as i32)])
                            .await
                            .expect("INSERT");
                        assert_eq!(n, 1);
                        let row = client
                            .query_one("SELECT $1::int8 * 2", &[&id])
                            .await
                            .expect("SELECT");
                        assert_eq!(row.get::<_, i64>(0), id * 2);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("no task panics");
        }
        let expected: Vec<i64> = (0..(TASKS * ROWS) as i64).collect();
        assert!(ids(&table).await == expected, "every row is there, once");
        let stats = pool.stats();
        assert!(stats.connections_created <= 8, "{stats:?}");
        assert_eq!(stats.gets, (TASKS * ROWS) as u64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_are_replaced() {
    live(async {
        let table = table("netpool_kill").await;
        let app = unique("netpool_kill");
        // Fast: only is_closed() on checkout, so callers do meet terminated sessions and
        // must discard them; the test checks that each one fails at most one caller.
        let pool = pool(&app, RecyclingMethod::Fast, 8);
        let insert = format!("INSERT INTO {} (id, task) VALUES ($1, $2)", table.name);
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let progress = Arc::new(Notify::new());
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, insert) = (pool.clone(), insert.clone());
                let (done, progress) = (done.clone(), progress.clone());
                tokio::spawn(async move {
                    let mut errors = 0u64;
                    for r in 0..ROWS {
                        let id = (t * ROWS + r) as i64;
                        let mut attempts = 0;
                        loop {
                            attempts += 1;
                            let client = pool.get().await.expect("get");
                            match client.execute(&insert, &[&id, &(t as i32)]).await {
                                Ok(_) => break,
                                // The INSERT committed but its reply was lost to the kill.
                                Err(e)
                                    if e.code()
                                        == Some(
                                            &tokio_postgres::error::SqlState::UNIQUE_VIOLATION,
                                        ) =>
                                {
                                    break;
                                }
                                Err(e) => {
                                    eprintln!("INSERT {id}: {e}");
                                    errors += 1;
                                    Pooled::discard(client);
                                    assert!(attempts < 10, "an INSERT failed {attempts} times");
                                }
                            }
                        }
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        progress.notify_one();
                    }
                    errors
                })
            })
            .collect();

        let total = (TASKS * ROWS) as u64;
        let admin = admin().await;
        let mut terminated = 0i64;
        for round in 1..=3u64 {
            while done.load(std::sync::atomic::Ordering::Relaxed) < total * round / 4 {
                progress.notified().await;
            }
            terminated += terminate(&admin, &app).await;
        }
        let mut errors = 0;
        for h in handles {
            errors += h.await.expect("no task panics");
        }
        let stats = pool.stats();
        eprintln!("terminated {terminated}, caller errors {errors}\n{stats:?}");
        let expected: Vec<i64> = (0..total as i64).collect();
        assert!(ids(&table).await == expected, "every row is there, once");
        assert!(terminated > 0, "the test terminated sessions");
        // Each terminated session fails at most one caller: whoever meets it discards it.
        assert!(
            errors <= terminated as u64,
            "{errors} errors for {terminated} sessions"
        );
        assert!(stats.closed_broken + stats.closed_invalid >= 1, "{stats:?}");
        assert!(
            stats.connections_created > 8,
            "the pool opened replacements: {stats:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_recycling_hides_terminated_idle_sessions() {
    live(async {
        let app = unique("netpool_verified");
        // Verified on every checkout (Config::builder), so no idle time is needed.
        let pool = pool(&app, RecyclingMethod::Verified, 4);
        drop(warm(&pool, 4).await);
        let terminated = terminate(&admin().await, &app).await;
        assert_eq!(terminated, 4);
        for i in 0..20i32 {
            let client = pool.get().await.expect("get");
            let row = client
                .query_one("SELECT $1::int4", &[&i])
                .await
                .expect("no caller sees a dead session");
            assert_eq!(row.get::<_, i32>(0), i);
        }
        let stats = pool.stats();
        assert_eq!(stats.closed_invalid + stats.closed_broken, 4, "{stats:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_recycling_resets_the_session() {
    live(async {
        // One connection, recycled on every checkout.
        let app = unique("netpool_clean");
        let make = |method| pool(&app, method, 1);
        for (method, survives) in [
            (RecyclingMethod::Verified, true),
            (RecyclingMethod::Clean, false),
        ] {
            let pool = make(method.clone());
            let client = pool.get().await.expect("get");
            client
                .batch_execute(
                    "CREATE TEMP TABLE netpool_leak (x int); SET application_name = 'leaked'",
                )
                .await
                .expect("session state");
            drop(client);
            let client = pool.get().await.expect("get");
            let app: String = client
                .query_one("SELECT current_setting('application_name')", &[])
                .await
                .expect("SHOW")
                .get(0);
            let temp: bool = client
                .query_one(
                    "SELECT to_regclass('pg_temp.netpool_leak') IS NOT NULL",
                    &[],
                )
                .await
                .expect("to_regclass")
                .get(0);
            assert_eq!(
                pool.stats().connections_created,
                1,
                "{method:?}: the same session"
            );
            assert_eq!(
                app == "leaked",
                survives,
                "{method:?}: application_name is {app}"
            );
            assert_eq!(temp, survives, "{method:?}: the temp table exists: {temp}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_idle_session_timeout_is_invisible_to_callers() {
    live(async {
        let app = unique("netpool_idle");
        // The server closes these sessions after 1 s idle (PostgreSQL 14+); set per session,
        // so no server setting changes.
        let mut config = config(&app, RecyclingMethod::Verified);
        config.options = Some("-c idle_session_timeout=1000".to_owned());
        let pool = config
            .builder()
            .max_size(4)
            .build(config.manager().expect("a valid config"))
            .expect("a valid config");
        drop(warm(&pool, 4).await);
        // Wait until the server has closed all four (after 1 s idle); poll
        // pg_stat_activity every 100 ms rather than guess, up to 15 s.
        let admin = admin().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if sessions(&admin, &app).await == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "sessions still open");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let handles: Vec<_> = (0..8i32)
            .map(|t| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for i in 0..10i32 {
                        let client = pool.get().await.expect("get");
                        let row = client
                            .query_one("SELECT $1::int4 * 100 + $2::int4", &[&t, &i])
                            .await
                            .expect("no caller sees a closed session");
                        assert_eq!(row.get::<_, i32>(0), t * 100 + i);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("no task panics");
        }
        let stats = pool.stats();
        assert!(stats.closed_invalid + stats.closed_broken >= 4, "{stats:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Setup hooks (PgSetup): application_name and a prepared statement on every new session,
// RESET ALL on checkout; a rejecting hook and one that hangs.

fn hooked(setup: PgSetup) -> Pool<PgManager> {
    Pool::builder()
        .max_size(1)
        .connect_timeout(Some(Duration::from_secs(5)))
        .wait_timeout(Some(Duration::from_secs(10)))
        .connect_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .hooks(setup)
        .build(PgManager::from_url(&postgres_url()).expect("a valid URL"))
        .expect("a valid config")
}

async fn setting(client: &Client, name: &str) -> String {
    client
        .query_one("SELECT current_setting($1)", &[&name])
        .await
        .expect("current_setting")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_hooks_name_prepare_and_reset_sessions() {
    live(async {
        let app = unique("netpool_hooks");
        let pool = hooked(
            PgSetup::new(app.clone())
                .prepare("netpool_add_one", "SELECT $1::int4 + 1")
                .reset_on_checkout(true),
        );
        let client = pool.get().await.expect("get");
        assert_eq!(setting(&client, "application_name").await, app);
        let rows = client
            .simple_query("EXECUTE netpool_add_one(41)")
            .await
            .expect("the statement was prepared by on_connect");
        let value = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        assert_eq!(value.as_deref(), Some("42"));
        // A user leaves session state behind...
        client
            .batch_execute("SET statement_timeout = '1234ms'; SET application_name = 'leaked'")
            .await
            .expect("SET");
        drop(client);
        // ...which on_checkout resets on the same session; the prepared statement stays.
        let client = pool.get().await.expect("get");
        assert_eq!(pool.stats().connections_created, 1, "the same session");
        assert_ne!(setting(&client, "statement_timeout").await, "1234ms");
        assert_eq!(setting(&client, "application_name").await, app);
        client
            .batch_execute("EXECUTE netpool_add_one(1)")
            .await
            .expect("still prepared");
        // The server sees the session under its name.
        let admin = admin().await;
        assert_eq!(sessions(&admin, &app).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_does_not_prepare_rejects_the_session() {
    live(async {
        let app = unique("netpool_reject");
        let pool = hooked(PgSetup::new(app.clone()).prepare("bad", "SELECT FROM no_such_table"));
        let err = pool.get().await.expect_err("rejected by on_connect");
        let db = err.connect_error().and_then(|e| e.as_db_error());
        assert_eq!(
            db.map(|e| e.code().code()),
            Some("42P01"),
            "undefined_table: {err:?}"
        );
        let stats = pool.stats();
        assert_eq!(
            (stats.connections, stats.connect_errors),
            (0, 1),
            "{stats:?}"
        );
        // The rejected session was closed: the server lets it go.
        let admin = admin().await;
        let mut left = -1;
        for _ in 0..50 {
            left = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .expect("pg_stat_activity")
                .get::<_, i64>(0);
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 0, "the rejected session is closed");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_hangs_is_cut_by_the_deadline() {
    live(async {
        // pg_sleep stands for a setup statement that hangs (a lock, say).
        let pool = Pool::builder()
            .max_size(1)
            .connect_timeout(Some(Duration::from_millis(300)))
            .hooks(Sleeper)
            .build(PgManager::from_url(&postgres_url()).expect("a valid URL"))
            .expect("a valid config");
        let started = std::time::Instant::now();
        let err = pool.get().await.expect_err("cut by connect_timeout");
        assert!(err.is_connect_timeout(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let stats = pool.stats();
        assert_eq!((stats.connections, stats.in_use), (0, 0), "{stats:?}");
    })
    .await;
}

/// Hooks whose setup never finishes (within the test).
struct Sleeper;

impl netpool_core::Hooks for Sleeper {
    type Manager = PgManager;

    async fn on_connect(
        &self,
        client: &mut netpool_postgres::Client,
    ) -> Result<(), netpool_postgres::Error> {
        Ok(client.batch_execute("SELECT pg_sleep(30)").await?)
    }
}
