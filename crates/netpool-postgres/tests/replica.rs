//! A PostgreSQL primary and a streaming standby of the test's own (`initdb`,
//! `pg_basebackup -R`, run as the `postgres` user): SQLSTATE 25006 is a server fault, and
//! a failover (`pg_ctl promote` on the standby, the old primary stopped) under 64 writers
//! moves every write to the new primary within a second.
//!
//! Without `initdb`/`pg_ctl`/`pg_basebackup` the tests skip loudly; under `CI=true` they
//! fail.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netpool_core::{Fault, KeyedPool, Lease, Pooled, ReplicaSet};
use netpool_postgres::{Config, PgManager};

use common::bounded;
use common::server::{Options, PgServer, start_or_skip};

const TASKS: usize = 64;

fn url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable")
}

/// A primary and a standby, or `None` (skipped loudly; a failure under CI).
fn servers() -> Option<(PgServer, PgServer)> {
    let primary = start_or_skip(Options::default())?;
    match PgServer::standby_of(&primary) {
        Ok(standby) => Some((primary, standby)),
        Err(e) if common::ci() => panic!("CI=true and the standby did not start: {e}"),
        Err(e) => {
            common::skip(&format!("a test standby did not start: {e}"));
            None
        }
    }
}

fn keyed() -> KeyedPool<String, PgManager> {
    KeyedPool::builder()
        .max_size(16)
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_timeout(Some(Duration::from_secs(2)))
        .build(|addr: &String| {
            let port = addr.rsplit_once(':').map_or("5432", |(_, p)| p);
            let config = Config::from_url(&url(port.parse().unwrap_or(5432))).unwrap();
            config.manager().unwrap()
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlstate_25006_is_a_server_fault() {
    let Some((primary, standby)) = servers() else {
        return;
    };
    bounded(Duration::from_secs(60), async {
        let config = Config::from_url(&url(primary.port())).unwrap();
        let pool = config.builder().build(config.manager().unwrap()).unwrap();
        let conn = pool.get().await.unwrap();
        conn.batch_execute("CREATE TABLE IF NOT EXISTS faults (id int)")
            .await
            .unwrap();
        // A query's own error is not the server's.
        let mut conn = conn;
        let err = conn.batch_execute("SELECT 1/0").await.unwrap_err();
        assert_eq!(Pooled::report(&mut conn, &err), Fault::None);
        drop(conn);

        let config = Config::from_url(&url(standby.port())).unwrap();
        let on_standby = config.builder().build(config.manager().unwrap()).unwrap();
        let mut conn = on_standby.get().await.unwrap();
        drop(on_standby.get().await.unwrap());
        let err = conn
            .batch_execute("CREATE TABLE written (id int)")
            .await
            .unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("25006"));
        assert_eq!(Pooled::report(&mut conn, &err), Fault::Server);
        drop(conn);
        let stats = on_standby.stats();
        assert_eq!((stats.refreshes, stats.connections), (1, 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promote_under_64_writers_moves_every_write_to_the_new_primary_within_a_second() {
    let Some((mut old, new)) = servers() else {
        return;
    };
    let (old_key, new_key) = (
        format!("127.0.0.1:{}", old.port()),
        format!("127.0.0.1:{}", new.port()),
    );
    bounded(Duration::from_secs(120), async {
        let set = ReplicaSet::discover(keyed(), [old_key.clone(), new_key.clone()])
            .await
            .unwrap();
        assert_eq!(set.primary_key(), old_key);
        {
            let w = set.primary().await.unwrap();
            w.batch_execute("CREATE TABLE writes (task int, n bigint)")
                .await
                .unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writes: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        // (server, connection id) of every write that failed on a connection.
        let failed: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let get_errors: Arc<Mutex<usize>> = Arc::default();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (set, stop) = (set.clone(), stop.clone());
            let (writes, failed, get_errors) = (writes.clone(), failed.clone(), get_errors.clone());
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                for n in 0..1_000_000i64 {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(60) {
                        break;
                    }
                    let Ok(mut lease) = set.primary().await else {
                        *get_errors.lock().unwrap() += 1;
                        // An application's retry would wait a little.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let task = i32::try_from(t).unwrap_or(0);
                    let result = lease
                        .execute("INSERT INTO writes VALUES ($1, $2)", &[&task, &n])
                        .await;
                    match result {
                        Ok(_) => writes
                            .lock()
                            .unwrap()
                            .push((Instant::now(), Lease::key(&lease).clone())),
                        Err(e) => {
                            let id = Pooled::meta(Lease::pooled(&mut lease)).id;
                            failed
                                .lock()
                                .unwrap()
                                .push((Lease::key(&lease).clone(), id));
                            Lease::report(&mut lease, &e);
                        }
                    }
                }
            }));
        }
        let warm = Instant::now();
        while writes.lock().unwrap().len() < 500 && warm.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The failover: promote the standby, stop the old primary.
        new.promote().expect("the standby is promoted");
        old.kill().expect("the old primary stops");
        let failed_over = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
        let writes = writes.lock().unwrap();
        let failed = failed.lock().unwrap();
        let get_errors = *get_errors.lock().unwrap();
        let after = |key: &str| {
            writes
                .iter()
                .filter(|(at, k)| *at > failed_over + Duration::from_secs(1) && k == key)
                .count()
        };
        let first_new = writes
            .iter()
            .filter(|(at, k)| *at > failed_over && *k == new_key)
            .map(|(at, _)| at.duration_since(failed_over))
            .min();
        let distinct: HashSet<&(String, u64)> = failed.iter().collect();
        eprintln!(
            "promote: {} writes, {} failed on {} connections, {get_errors} gets failed, \
             first write on the new primary {first_new:?} after the stop, {} in the last 2 s",
            writes.len(),
            failed.len(),
            distinct.len(),
            after(&new_key)
        );
        assert_eq!(distinct.len(), failed.len(), "a connection failed twice");
        // A get that fails runs the role check and moves to the new primary: at most a
        // get per task fails (none, in practice).
        assert!(get_errors <= TASKS, "{get_errors} gets failed");
        assert!(failed.iter().all(|(k, _)| *k == old_key));
        assert_eq!(after(&old_key), 0);
        assert!(after(&new_key) > 0);
        assert!(
            first_new.is_some_and(|d| d < Duration::from_secs(1)),
            "writes on the new primary within 1 s: {first_new:?}"
        );
        assert_eq!(set.primary_key(), new_key);
    })
    .await;
}
