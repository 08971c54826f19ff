//! Redis through netpool on tokio, with the `redis` crate's multiplexed connection: many
//! tasks do SET then GET on their own key for a few seconds, then the example prints the
//! rate and the pool's stats.
//!
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-examples --example redis_tokio -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netpool_core::{Pool, Pooled};
use netpool_examples::redis::{RedisManager, redis_url};
use redis::AsyncCommands;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tasks, max_size, seconds) = (arg(1, 64), arg(2, 16) as usize, arg(3, 2));
    let url = redis_url();
    let pool = Pool::builder()
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(RedisManager::new(url.as_str())?)?;
    // Fail early, with the reason, if the server is not there.
    drop(pool.get().await?);

    let prefix = format!("netpool:example:redis_tokio:{}", std::process::id());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (pool, stop, key) = (pool.clone(), stop.clone(), format!("{prefix}:{t}"));
            tokio::spawn(async move {
                let (mut ops, mut errors) = (0u64, 0u64);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut conn = pool.get().await.expect("the pool serves every task");
                    n += 1;
                    let result: redis::RedisResult<u64> = async {
                        let () = conn.set(&key, n).await?;
                        conn.get(&key).await
                    }
                    .await;
                    match result {
                        Ok(got) => {
                            assert_eq!(got, n, "read back what this task wrote");
                            ops += 2;
                        }
                        Err(e) => {
                            eprintln!("task {t}: {e}");
                            errors += 1;
                            // The connection may be unusable: close it, do not reuse it.
                            Pooled::discard(conn);
                        }
                    }
                }
                let mut conn = pool.get().await.expect("the pool serves every task");
                let _: redis::RedisResult<()> = conn.del(&key).await;
                (ops, errors)
            })
        })
        .collect();
    for s in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("[{:>2}s] {:?}", s + 1, pool.stats());
    }
    stop.store(true, Ordering::Relaxed);
    let (mut ops, mut errors) = (0, 0);
    for h in handles {
        let (o, e) = h.await?;
        ops += o;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "redis_tokio: {tasks} tasks, pool of {max_size}, {url}: {ops} commands (SET+GET) in \
         {elapsed:.2} s = {:.0} ops/s, {errors} errors",
        ops as f64 / elapsed
    );
    println!("{:#?}", pool.stats());
    if errors > 0 {
        return Err(format!("{errors} operations failed").into());
    }
    Ok(())
}
