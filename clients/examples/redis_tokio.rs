//! Redis through netpool on tokio, with the `redis` crate's multiplexed connection: many
//! tasks do SET then GET on their own key for a few seconds, then the example prints the
//! rate and the pool's stats.
//!
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-clients --example redis_tokio -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

use std::time::Duration;

use netpool_clients::redis::{RedisManager, redis_url};
use netpool_clients::workload::{self, Cli, Runtime};
use netpool_core::{Pool, Pooled};
use redis::AsyncCommands;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::from_env();
    let url = redis_url();
    let pool = Pool::builder()
        .max_size(cli.max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(RedisManager::new(url.as_str())?)?;
    // Fail early, with the reason, if the server is not there.
    drop(pool.get().await?);

    let prefix = format!("netpool:example:redis_tokio:{}", std::process::id());
    // Print the pool's stats every second while the tasks run.
    let wait = {
        let pool = pool.clone();
        async move {
            for s in 0..cli.seconds {
                tokio::time::sleep(Duration::from_secs(1)).await;
                println!("[{:>2}s] {:?}", s + 1, pool.stats());
            }
        }
    };
    let key = prefix.clone();
    let tally = workload::run(Runtime::Tokio, &pool, &cli, wait, move |mut conn, t, n| {
        let key = format!("{key}:{t}");
        async move {
            let result: redis::RedisResult<u64> = async {
                let () = conn.set(&key, n).await?;
                conn.get(&key).await
            }
            .await;
            match result {
                Ok(got) => {
                    assert_eq!(got, n, "read back what this task wrote");
                    Some(2)
                }
                Err(e) => {
                    eprintln!("task {t}: {e}");
                    // The connection may be unusable: close it, do not reuse it.
                    Pooled::discard(conn);
                    None
                }
            }
        }
    })
    .await;
    tally.report(
        &format!("redis_tokio ({url})"),
        "commands (SET+GET)",
        &cli,
        &pool.stats(),
    );
    let mut conn = pool.get().await?;
    for t in 0..cli.tasks {
        let _: redis::RedisResult<()> = conn.del(format!("{prefix}:{t}")).await;
    }
    workload::all_succeeded(tally.errors)
}
