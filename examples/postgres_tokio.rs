//! PostgreSQL through netpool on tokio, with `tokio-postgres`: many tasks run a small
//! SELECT for a few seconds with each recycling method, then the example prints the rate
//! and the pool's stats.
//!
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-examples --example postgres_tokio -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).
//! With `check_idle_after(None)` the recycling check runs on every checkout, as
//! deadpool-postgres's does, so the three methods cost what they say.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netpool_core::{Pool, Pooled};
use netpool_examples::postgres::{PgManager, RecyclingMethod, postgres_url};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tasks, max_size, seconds) = (arg(1, 64), arg(2, 16) as usize, arg(3, 2));
    let url = postgres_url();
    let mut failed = 0;
    for method in [
        RecyclingMethod::Fast,
        RecyclingMethod::Verified,
        RecyclingMethod::Clean,
    ] {
        let pool = Pool::builder()
            .max_size(max_size)
            .wait_timeout(Some(Duration::from_secs(5)))
            .check_idle_after(None)
            .build(PgManager::from_url(&url)?.recycling_method(method))?;
        // Fail early, with the reason, if the server is not there.
        drop(pool.get().await?);

        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (pool, stop) = (pool.clone(), stop.clone());
                tokio::spawn(async move {
                    let (mut ops, mut errors) = (0u64, 0u64);
                    let mut n = t as i64;
                    while !stop.load(Ordering::Relaxed) {
                        let client = pool.get().await.expect("the pool serves every task");
                        n += 1;
                        match client.query_one("SELECT $1::int8 + 1", &[&n]).await {
                            Ok(row) => {
                                assert_eq!(row.get::<_, i64>(0), n + 1);
                                ops += 1;
                            }
                            Err(e) => {
                                eprintln!("task {t}: {e}");
                                errors += 1;
                                // The session may be gone: close it, do not reuse it.
                                Pooled::discard(client);
                            }
                        }
                    }
                    (ops, errors)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let (mut ops, mut errors) = (0, 0);
        for h in handles {
            let (o, e) = h.await?;
            ops += o;
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "postgres_tokio ({method:?}): {tasks} tasks, pool of {max_size}: {ops} SELECTs in \
             {elapsed:.2} s = {:.0} ops/s, {errors} errors",
            ops as f64 / elapsed
        );
        println!("{:?}", pool.stats());
        failed += errors;
    }
    if failed > 0 {
        return Err(format!("{failed} operations failed").into());
    }
    Ok(())
}
