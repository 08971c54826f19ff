//! The echo demo on smol: a built-in echo server, many tasks on a smol executor sharing
//! one netpool-smol pool, then requests/s, latency percentiles and the pool's stats.
//!
//! ```text
//! cargo run --release --example echo_smol -- [--clients 64] [--pool 16] [--duration 5] [--size 64] [--addr HOST:PORT]
//! cargo run --release --example echo_smol -- --tls   # over TLS: netpool_smol::tls(addr, config)
//! ```

use std::sync::Arc;
use std::time::Duration;

use netpool_core::{Manager, Pool};
use netpool_examples::echo::{Args, BoxError, Demo, PAUSE, SmolEcho, or_exit};
use smol::io::{AsyncRead, AsyncWrite};

fn main() -> Result<(), BoxError> {
    let args = Args::from_env("echo_smol").unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    netpool_examples::logging::init(args.log);
    let demo = Arc::new(or_exit(Demo::start(args, "smol")));
    let wait = Some(Duration::from_secs(5));
    match demo.tls_config() {
        Some(config) => {
            let pool = netpool_smol::tls(demo.addr.clone(), config)
                .max_size(demo.args.pool)
                .wait_timeout(wait);
            run(demo, or_exit(pool.build()))
        }
        None => {
            let pool = netpool_smol::tcp(demo.addr.clone())
                .max_size(demo.args.pool)
                .wait_timeout(wait);
            run(demo, or_exit(pool.build()))
        }
    }
}

/// The client tasks, over plain TCP or TLS streams alike.
fn run<M>(demo: Arc<Demo>, pool: Pool<M>) -> Result<(), BoxError>
where
    M: Manager,
    M::Connection: AsyncRead + AsyncWrite + Unpin,
{
    let progress = Demo::watch(&demo, &pool);
    let ex = Arc::new(smol::Executor::new());
    let clients: Vec<_> = (0..demo.args.clients)
        .map(|_| {
            let (demo, pool) = (demo.clone(), pool.clone());
            ex.spawn(async move {
                let pause = || smol::Timer::after(PAUSE);
                demo.client(SmolEcho(pool), pause).await
            })
        })
        .collect();
    // One executor thread per core: this one, and helpers until the clients are done.
    let (done, finished) = smol::channel::bounded::<()>(1);
    let helpers = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    let threads: Vec<_> = (0..helpers)
        .map(|_| {
            let (ex, finished) = (ex.clone(), finished.clone());
            std::thread::spawn(move || smol::block_on(ex.run(finished.recv())))
        })
        .collect();
    let latencies = smol::block_on(ex.run(async {
        let mut latencies = Vec::with_capacity(clients.len());
        for client in clients {
            latencies.push(client.await);
        }
        latencies
    }));
    drop(done);
    for t in threads {
        let _ = t.join();
    }
    let _ = progress.join();
    demo.report(latencies, &pool.stats());
    Ok(())
}
