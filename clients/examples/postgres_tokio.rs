//! PostgreSQL through `netpool-postgres` on tokio: many tasks run a small
//! SELECT for a few seconds with each recycling method, then the example prints the rate
//! and the pool's stats.
//!
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-clients --example postgres_tokio -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).
//! `Config::builder` recycles on every checkout, as deadpool-postgres does, so the three
//! methods cost what they say.

use std::time::Duration;

use netpool_clients::postgres::{Config, RecyclingMethod, postgres_url};
use netpool_clients::workload::{self, Cli, Runtime};
use netpool_core::Pooled;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::from_env();
    let url = postgres_url();
    let mut failed = 0;
    for method in [
        RecyclingMethod::Fast,
        RecyclingMethod::Verified,
        RecyclingMethod::Clean,
    ] {
        let mut config = Config::from_url(&url)?;
        config.max_size = Some(cli.max_size);
        config.recycling_method = method.clone();
        let pool = config
            .builder()
            .wait_timeout(Some(Duration::from_secs(5)))
            .build(config.manager()?)?;
        // Fail early, with the reason, if the server is not there.
        drop(pool.get().await?);

        let wait = tokio::time::sleep(cli.duration());
        let tally = workload::run(
            Runtime::Tokio,
            &pool,
            &cli,
            wait,
            |client, t, n| async move {
                let n = (t + n) as i64;
                match client.query_one("SELECT $1::int8 + 1", &[&n]).await {
                    Ok(row) => {
                        assert_eq!(row.get::<_, i64>(0), n + 1);
                        Some(1)
                    }
                    Err(e) => {
                        eprintln!("task {t}: {e}");
                        // The session may be gone: close it, do not reuse it.
                        Pooled::discard(client);
                        None
                    }
                }
            },
        )
        .await;
        let what = format!("postgres_tokio ({method:?})");
        tally.report(&what, "SELECTs", &cli, &pool.stats());
        failed += tally.errors;
    }
    workload::all_succeeded(failed)
}
