//! The README's first command: a built-in echo server on a loopback port, many tokio tasks
//! sharing one netpool-tokio pool for a few seconds, then requests/s, latency percentiles
//! and the pool's stats.
//!
//! ```text
//! cargo run --release --example echo -- [--clients 64] [--pool 16] [--duration 5] [--size 64] [--addr HOST:PORT] [--log]
//! cargo run --release --example echo -- --tls   # over TLS: netpool_tokio::tls(addr, config)
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use netpool_core::{Manager, Pool, Pooled};
use netpool_examples::echo::{Args, Demo, Latencies, or_exit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::from_env("echo").unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    netpool_examples::logging::init(args.log);
    let demo = Arc::new(or_exit(Demo::start(args, "tokio")));
    let wait = Some(Duration::from_secs(5));
    match demo.tls_config() {
        // The one line that makes it TLS: the same knobs, a rustls ClientConfig.
        Some(config) => {
            let pool = netpool_tokio::tls(demo.addr.clone(), config)
                .max_size(demo.args.pool)
                .wait_timeout(wait);
            run(demo, or_exit(pool.build())).await
        }
        None => {
            let pool = netpool_tokio::tcp(demo.addr.clone())
                .max_size(demo.args.pool)
                .wait_timeout(wait);
            run(demo, or_exit(pool.build())).await
        }
    }
}

/// The clients, over plain TCP or TLS streams alike.
async fn run<M>(demo: Arc<Demo>, pool: Pool<M>) -> Result<(), BoxError>
where
    M: Manager,
    M::Connection: AsyncRead + AsyncWrite + Unpin,
{
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
                        conn.flush().await?; // the stream contract (TLS may buffer)
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
