//! A hand-written RESP client through netpool on smol: many tasks do SET then GET on
//! their own key for a few seconds, then the example prints the rate and the pool's stats.
//!
//! As `resp_tokio`, it runs the workload twice:
//!
//! 1. `resp::SmolManager`: the pooled connection is the protocol client;
//! 2. `netpool_smol::tcp(addr)`: the adapter's plain TCP pool, with the client borrowing
//!    the pooled `TcpStream` (which implements the futures-io traits) for each exchange.
//!
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-clients --example resp_smol -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

use std::time::Duration;

use netpool_clients::redis::redis_url;
use netpool_clients::resp::{Client, SmolManager, addr_from_url};
use netpool_clients::workload::{self, Cli, Runtime, set_get, settle};
use netpool_core::Pool;

/// What the report calls an operation.
const COMMANDS: &str = "commands (SET+GET)";

/// The tasks run on smol's global executor, which uses `SMOL_THREADS` threads (default 1).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async_main())
}

async fn async_main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::from_env();
    let addr = addr_from_url(&redis_url());
    let prefix = format!("netpool:example:resp_smol:{}", std::process::id());
    let rt = Runtime::Smol;

    // 1. The protocol client as the pooled connection.
    let pool = Pool::builder()
        .max_size(cli.max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(SmolManager::new(addr.clone()))?;
    pool.get().await?.ping().await?; // fail early if the server is not there
    let key = prefix.clone();
    let wait = rt.sleep(cli.duration());
    let tally = workload::run(rt, &pool, &cli, wait, move |mut conn, t, n| {
        let key = format!("{key}:{t}");
        async move {
            let result = set_get(&mut conn, &key, n).await;
            settle(conn, result)
        }
    })
    .await;
    tally.report(
        "resp_smol (resp::SmolManager)",
        COMMANDS,
        &cli,
        &pool.stats(),
    );
    let mut failed = tally.errors;

    // 2. The adapter's TCP pool; the client borrows the pooled stream.
    let pool = netpool_smol::tcp(addr.clone())
        .max_size(cli.max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build()?;
    let key = prefix.clone();
    let wait = rt.sleep(cli.duration());
    let tally = workload::run(rt, &pool, &cli, wait, move |mut conn, t, n| {
        let key = format!("{key}:{t}");
        async move {
            let result = set_get(&mut Client::new(&mut *conn), &key, n).await;
            settle(conn, result)
        }
    })
    .await;
    tally.report(
        "resp_smol (netpool_smol::tcp)",
        COMMANDS,
        &cli,
        &pool.stats(),
    );
    failed += tally.errors;

    let mut conn = pool.get().await?;
    let mut client = Client::new(&mut *conn);
    for t in 0..cli.tasks {
        client
            .command(&[b"DEL", format!("{prefix}:{t}").as_bytes()])
            .await?;
    }
    workload::all_succeeded(failed)
}
