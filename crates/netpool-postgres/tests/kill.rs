//! A PostgreSQL the test started itself is killed mid-load (`pg_ctl stop -m immediate`:
//! every backend ends at once, as in a crash) and started again on the same port. The
//! kill costs at most one failed query per connection (at most 2 x `max_size` in all);
//! while the server is down, gets fail (the pool backs off); once it is back,
//! every request succeeds again, on new sessions.
//!
//! Without `initdb`/`pg_ctl` the test skips loudly; under `CI=true` it fails.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpool_postgres::Config;
use tokio::sync::Notify;

use common::bounded;
use common::server::{Options, start_or_skip};

const TASKS: usize = 32;
const MAX_SIZE: usize = 8;
const ROUNDS: u64 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_costs_one_error_per_connection_then_recovers() {
    let Some(mut server) = start_or_skip(Options::default()) else {
        return;
    };
    let mut config = Config::from_url(&server.url("127.0.0.1", None, "sslmode=disable")).unwrap();
    config.max_size = Some(MAX_SIZE);
    let pool = config
        .builder()
        .wait_timeout(Some(Duration::from_secs(10)))
        .build(config.manager().unwrap())
        .unwrap();
    bounded(Duration::from_secs(120), async {
        let done = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(Notify::new());
        let back = Arc::new(Notify::new());
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, done, progress) = (pool.clone(), done.clone(), progress.clone());
                let back = back.clone();
                tokio::spawn(async move {
                    let (mut query_errors, mut get_errors, mut last_error) = (0u64, 0u64, None);
                    for round in 0..ROUNDS {
                        let client = match pool.get().await {
                            Ok(c) => c,
                            Err(e) => {
                                if round > ROUNDS - 20 {
                                    eprintln!("task {t} round {round}: get: {e}");
                                }
                                // Down, or just back while the pool's probe confirms it:
                                // get fails fast. Like an application's retry, wait before
                                // the next attempt: until the test announces the server is
                                // back, at most 200 ms (a task that never awaited would
                                // spin and starve the probe's connect).
                                get_errors += 1;
                                last_error = Some(round);
                                let _ = tokio::time::timeout(
                                    Duration::from_millis(200),
                                    back.notified(),
                                )
                                .await;
                                continue;
                            }
                        };
                        // `?`-style: on an error the guard just drops.
                        match client
                            .query_one("SELECT $1::int8 + 1", &[&(t as i64)])
                            .await
                        {
                            Ok(row) => assert_eq!(row.get::<_, i64>(0), t as i64 + 1),
                            Err(e) => {
                                if round > ROUNDS - 20 || query_errors < 2 {
                                    eprintln!("task {t} round {round}: query: {e}");
                                }
                                query_errors += 1;
                                last_error = Some(round);
                            }
                        }
                        drop(client);
                        done.fetch_add(1, Ordering::SeqCst);
                        progress.notify_waiters();
                    }
                    (query_errors, get_errors, last_error)
                })
            })
            .collect();

        let total = TASKS as u64 * ROUNDS;
        while done.load(Ordering::SeqCst) < total / 4 {
            let _ = tokio::time::timeout(Duration::from_millis(100), progress.notified()).await;
        }
        let killed_at = Instant::now();
        // The server moves to the thread and back, so it is stopped on every path.
        let server = tokio::task::spawn_blocking(move || {
            server.kill().expect("kill");
            server.restart().expect("restart");
            server
        })
        .await
        .expect("kill and restart");
        back.notify_waiters();
        eprintln!("server down for {:?}", killed_at.elapsed());
        let (mut query_errors, mut get_errors) = (0, 0);
        for t in tasks {
            let (q, g, last) = t.await.expect("no task panics");
            query_errors += q;
            get_errors += g;
            if let Some(last) = last {
                assert!(
                    last < ROUNDS - 20,
                    "errors until round {last}: requests succeed again after"
                );
            }
        }
        let stats = pool.stats();
        eprintln!("failed queries {query_errors}, failed gets {get_errors}\n{stats:?}");
        assert!(
            query_errors <= 2 * MAX_SIZE as u64,
            "{query_errors} failed queries for {MAX_SIZE} connections: {stats:?}"
        );
        assert!(
            stats.connections_created > MAX_SIZE as u64,
            "new sessions after the restart: {stats:?}"
        );
        let client = pool.get().await.expect("the pool works after the restart");
        client
            .query_one("SELECT 1", &[])
            .await
            .expect("a query after the restart");
        drop(client);
        drop(server);
    })
    .await;
}
