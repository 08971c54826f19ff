//! The README's first command: a built-in echo server on a loopback port, many tokio tasks
//! sharing one netpool-tokio pool for a few seconds, then requests/s, latency percentiles
//! and the pool's stats.
//!
//! ```text
//! cargo run --release --example echo -- [--clients 64] [--pool 16] [--duration 5] [--size 64] [--addr HOST:PORT] [--log]
//! cargo run --release --example echo -- --tls   # over TLS: netpool_tokio::tls(addr, config)
//! ```

use std::sync::Arc;
use std::time::Duration;

use netpool_core::{Manager, Pool};
use netpool_examples::echo::{Args, BoxError, Demo, PAUSE, TokioEcho, or_exit};
use tokio::io::{AsyncRead, AsyncWrite};

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
    let progress = Demo::watch(&demo, &pool);
    let clients: Vec<_> = (0..demo.args.clients)
        .map(|_| {
            let (demo, pool) = (demo.clone(), pool.clone());
            tokio::spawn(async move {
                let pause = || tokio::time::sleep(PAUSE);
                demo.client(TokioEcho(pool), pause).await
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
