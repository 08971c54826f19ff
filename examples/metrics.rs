//! Serves a pool's metrics as Prometheus text over HTTP: the `metrics` feature of
//! netpool-core records through the `metrics` facade, and `metrics-exporter-prometheus`
//! renders them.
//!
//! ```text
//! cargo run --release --example metrics -- [127.0.0.1:9000]
//! curl -s http://127.0.0.1:9000/metrics
//! ```
//!
//! A demo pool runs a short workload first (and keeps running maintenance), so every
//! instrument has a value; then the endpoint serves until the process is stopped.

use std::time::Duration;

use netpool_examples::prometheus;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".to_owned());
    // The recorder first: pools register their histograms when they are built.
    let handle = prometheus::install()?;
    let listener = TcpListener::bind(&addr).await?;
    println!("serving http://{}/metrics", listener.local_addr()?);
    let pool = prometheus::demo(Duration::from_millis(500)).await?;
    // Maintenance samples the gauges and counters (netpool-tokio's pools run it for you).
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(pool.maintenance_interval()).await;
            pool.maintain().await;
        }
    });
    // Serves until the process is stopped (Ctrl-C).
    prometheus::serve(listener, handle).await;
    Ok(())
}
