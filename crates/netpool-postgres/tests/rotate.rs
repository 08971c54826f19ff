//! A password rotated on a running pool: `ALTER USER ... PASSWORD` on a PostgreSQL the
//! test starts itself (SCRAM over TCP), `PgManager::set_password` and `refresh()` move
//! every session to it while 16 tasks query, and no query fails.
//!
//! Without `initdb`/`pg_ctl` the test skips loudly; under `CI=true` it fails.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use netpool_postgres::{Config, Password};

use common::bounded;
use common::server::{Options, start_or_skip};

const OLD: &str = "Old-pg-Secret-5521";
const NEW: &str = "New-pg-Secret-8610";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_moves_every_session_without_a_failure() {
    let Some(server) = start_or_skip(Options {
        tls: false,
        password: Some(OLD.to_owned()),
    }) else {
        return;
    };
    let url = server.url("127.0.0.1", Some(OLD), "");
    let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
    let (queries, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (pool, queries, failures, stop) = (
                pool.clone(),
                queries.clone(),
                failures.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                for _ in 0..100_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let answered = match pool.get().await {
                        Ok(client) => client.query_one("SELECT 1", &[]).await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if answered { &queries } else { &failures };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    bounded(Duration::from_secs(60), async {
        let wait_queries = |n: u64| {
            let queries = queries.clone();
            async move {
                while queries.load(Ordering::SeqCst) < n {
                    tokio::task::yield_now().await;
                }
            }
        };
        wait_queries(200).await;
        let created = pool.stats().connections_created;
        // The password changes on the server; open sessions stay authenticated.
        let client = pool.get().await.unwrap();
        client
            .batch_execute(&format!("ALTER USER postgres PASSWORD '{NEW}'"))
            .await
            .unwrap();
        drop(client);
        pool.manager().set_password(Some(Password::new(NEW)));
        pool.refresh();
        let after = queries.load(Ordering::SeqCst);
        wait_queries(after + 500).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        let stats = pool.stats();
        assert_eq!(failures.load(Ordering::SeqCst), 0, "{stats:?}");
        assert!(stats.closed_refreshed >= 1, "{stats:?}");
        assert!(stats.connections_created > created, "{stats:?}");
        eprintln!(
            "{} queries, 0 failed; {} sessions replaced ({stats:?})",
            queries.load(Ordering::SeqCst),
            stats.closed_refreshed
        );
    })
    .await;
}
