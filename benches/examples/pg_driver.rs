//! A fixed number of PostgreSQL statements through one pool, for
//! `valgrind --tool=callgrind` or `perf stat` (the client's cost per statement, which a
//! shared machine's noise does not change): `pg_driver <pool> <workload> <tasks> <count>`.
//!
//! Pools: `netpool` (netpool-postgres, defaults), `deadpool` (deadpool-postgres,
//! defaults), `bb8` (bb8-postgres, defaults). Workloads: `select1` (`SELECT 1`, simple
//! query protocol), `prepared` (`SELECT $1::int8 + 1` through the statement cache; bb8
//! prepares every time). Every pool has 16 sessions, opened before the count starts, on
//! a current-thread tokio runtime (deterministic under callgrind), or with
//! `PG_DRIVER_THREADS=n` on a runtime of `n` workers (the benches use 2).
//!
//! It prints the size of the pool's `get` future (copied whenever a future awaiting it
//! moves) and the rate.
//!
//! Run twice with different counts and subtract to remove the set-up:
//! `valgrind --tool=callgrind target/release/examples/pg_driver netpool select1 16 2000`.
//! The server is `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

const MAX_SIZE: usize = 16;
const PREPARED: &str = "SELECT $1::int8 + 1";

type One = Arc<dyn Fn(i64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn main() {
    let mut args = std::env::args().skip(1);
    let pool = args.next().unwrap_or_else(|| "netpool".to_owned());
    let workload = args.next().unwrap_or_else(|| "select1".to_owned());
    let tasks: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(16);
    let count: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let url = std::env::var("NETPOOL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    // PG_DRIVER_THREADS=2: the benches' two-worker runtime instead.
    let rt = match std::env::var("PG_DRIVER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .expect("tokio runtime");
    rt.block_on(async {
        let one = make(&pool, &workload, &url).await;
        let start = std::time::Instant::now();
        let left = Arc::new(AtomicU64::new(count));
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (one, left) = (one.clone(), left.clone());
                tokio::spawn(async move {
                    let mut done = 0i64;
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        one(done).await;
                        done += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        let rate = count as f64 / start.elapsed().as_secs_f64();
        println!("{pool} {workload} {tasks} tasks: {rate:.0} statements/s");
    });
}

async fn make(pool: &str, workload: &str, url: &str) -> One {
    let prepared = workload == "prepared";
    match pool {
        "netpool" => {
            let mut config = netpool_postgres::Config::from_url(url).expect("URL");
            config.max_size = Some(MAX_SIZE);
            config.ssl_mode = Some(netpool_postgres::SslMode::Disable);
            let p = config.create_pool().expect("pool");
            let mut held = Vec::new();
            for _ in 0..MAX_SIZE {
                let c = p.get().await.expect("get");
                c.prepare_cached(PREPARED).await.expect("prepare");
                held.push(c);
            }
            drop(held);
            eprintln!(
                "netpool: get() is a future of {} bytes",
                size_of_val(&p.get())
            );
            Arc::new(move |x| {
                let p = p.clone();
                Box::pin(async move {
                    let c = p.get().await.expect("get");
                    if prepared {
                        let s = c.prepare_cached(PREPARED).await.expect("prepare");
                        let row = c.query_one(&s, &[&x]).await.expect("query");
                        assert_eq!(row.get::<_, i64>(0), x + 1);
                    } else {
                        c.simple_query("SELECT 1").await.expect("SELECT 1");
                    }
                })
            })
        }
        "deadpool" => {
            let mut config = deadpool_postgres::Config::new();
            config.url = Some(url.to_owned());
            config.pool = Some(deadpool_postgres::PoolConfig::new(MAX_SIZE));
            let p = config
                .create_pool(Some(deadpool_postgres::Runtime::Tokio1), NoTls)
                .expect("pool");
            let mut held = Vec::new();
            for _ in 0..MAX_SIZE {
                let c = p.get().await.expect("get");
                c.prepare_cached(PREPARED).await.expect("prepare");
                held.push(c);
            }
            drop(held);
            eprintln!(
                "deadpool: get() is a future of {} bytes",
                size_of_val(&p.get())
            );
            Arc::new(move |x| {
                let p = p.clone();
                Box::pin(async move {
                    let c = p.get().await.expect("get");
                    if prepared {
                        let s = c.prepare_cached(PREPARED).await.expect("prepare");
                        let row = c.query_one(&s, &[&x]).await.expect("query");
                        assert_eq!(row.get::<_, i64>(0), x + 1);
                    } else {
                        c.simple_query("SELECT 1").await.expect("SELECT 1");
                    }
                })
            })
        }
        "bb8" => {
            let config: tokio_postgres::Config = url.parse().expect("URL");
            let p = bb8::Pool::builder()
                .max_size(MAX_SIZE as u32)
                .build(bb8_postgres::PostgresConnectionManager::new(config, NoTls))
                .await
                .expect("pool");
            Arc::new(move |x| {
                let p = p.clone();
                Box::pin(async move {
                    let c = p.get().await.expect("get");
                    if prepared {
                        let s = c.prepare(PREPARED).await.expect("prepare");
                        let row = c.query_one(&s, &[&x]).await.expect("query");
                        assert_eq!(row.get::<_, i64>(0), x + 1);
                    } else {
                        c.simple_query("SELECT 1").await.expect("SELECT 1");
                    }
                })
            })
        }
        other => panic!("unknown pool {other}: netpool, deadpool or bb8"),
    }
}
