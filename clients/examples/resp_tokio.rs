//! A hand-written RESP client through netpool on tokio: many tasks do SET then GET on
//! their own key for a few seconds, then the example prints the rate and the pool's stats.
//!
//! It runs the workload twice, to show the two ways a custom protocol sits on netpool:
//!
//! 1. `resp::TokioManager`: a manager whose connection *is* the protocol client (it
//!    checks connections with `PING` and knows when the client broke);
//! 2. `netpool_tokio::tcp(addr)`: the adapter's plain TCP pool, with the client borrowing
//!    the pooled `TcpStream` for each exchange (the adapter checks idle streams with a
//!    non-blocking peek).
//!
//! It exits with an error if any operation failed, so CI can run it as a check.
//!
//! ```text
//! cargo run --release -p netpool-clients --example resp_tokio -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

use std::time::Duration;

use netpool_clients::redis::redis_url;
use netpool_clients::resp::{Client, TokioManager, addr_from_url};
use netpool_clients::workload::{self, Cli, Runtime, set_get, settle};
use netpool_core::Pool;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// What the report calls an operation.
const COMMANDS: &str = "commands (SET+GET)";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::from_env();
    let addr = addr_from_url(&redis_url());
    let prefix = format!("netpool:example:resp_tokio:{}", std::process::id());
    let rt = Runtime::Tokio;

    // 1. The protocol client as the pooled connection.
    let pool = Pool::builder()
        .max_size(cli.max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(TokioManager::new(addr.clone()))?;
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
        "resp_tokio (resp::TokioManager)",
        COMMANDS,
        &cli,
        &pool.stats(),
    );
    let mut failed = tally.errors;

    // 2. The adapter's TCP pool; the client borrows the pooled stream.
    let pool = netpool_tokio::tcp(addr.clone())
        .max_size(cli.max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build()?;
    let key = prefix.clone();
    let wait = rt.sleep(cli.duration());
    let tally = workload::run(rt, &pool, &cli, wait, move |mut conn, t, n| {
        let key = format!("{key}:{t}");
        async move {
            let result = set_get(&mut Client::new((&mut *conn).compat()), &key, n).await;
            settle(conn, result)
        }
    })
    .await;
    tally.report(
        "resp_tokio (netpool_tokio::tcp)",
        COMMANDS,
        &cli,
        &pool.stats(),
    );
    failed += tally.errors;

    let mut conn = pool.get().await?;
    let mut client = Client::new((&mut *conn).compat());
    for t in 0..cli.tasks {
        client
            .command(&[b"DEL", format!("{prefix}:{t}").as_bytes()])
            .await?;
    }
    workload::all_succeeded(failed)
}
