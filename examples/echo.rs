//! The README's first command: a built-in echo server on a loopback port, many tokio tasks
//! sharing one netpool-tokio pool for a few seconds, then requests/s, latency percentiles
//! and the pool's stats.
//!
//! ```text
//! cargo run --release --example echo -- [--clients 64] [--pool 16] [--duration 5] [--size 64] [--addr HOST:PORT] [--log]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use netpool_core::Pooled;
use netpool_examples::echo::{Args, Demo, Latencies, or_exit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::from_env("echo").unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    netpool_examples::logging::init(args.log);
    let demo = Arc::new(or_exit(Demo::start(args, "tokio")));
    let pool = or_exit(
        netpool_tokio::tcp(demo.addr.clone())
            .max_size(demo.args.pool)
            .wait_timeout(Some(Duration::from_secs(5)))
            .build(),
    );
    let progress = Demo::progress(&demo, {
        let pool = pool.clone();
        move || pool.stats()
    });
    let clients: Vec<_> = (0..demo.args.clients)
        .map(|_| {
            let (demo, pool) = (demo.clone(), pool.clone());
            tokio::spawn(async move {
                let msg = demo.message();
                let mut reply = vec![0; msg.len()];
                let mut latencies = Latencies::default();
                while demo.running() {
                    let start = Instant::now();
                    let result = async {
                        let mut conn = pool.get().await?;
                        conn.write_all(&msg).await?;
                        if let Err(e) = conn.read_exact(&mut reply).await {
                            Pooled::discard(conn); // out of sync: close it
                            return Err(e.into());
                        }
                        Ok::<(), BoxError>(())
                    };
                    if !demo.record(&mut latencies, start, result.await) {
                        tokio::time::sleep(Duration::from_millis(10)).await; // the server is down, say
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(clients.len());
    for client in clients {
        latencies.push(client.await?);
    }
    let _ = progress.join();
    demo.report(latencies, &pool.stats());
    Ok(())
}
