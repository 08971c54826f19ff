//! The echo demo on plain threads: a built-in echo server, one thread per client sharing
//! one netpool-std pool through `get_blocking`, then requests/s, latency percentiles and
//! the pool's stats.
//!
//! ```text
//! cargo run --release --example echo_std -- [--clients 64] [--pool 16] [--duration 5] [--size 64] [--addr HOST:PORT]
//! cargo run --release --example echo_std -- --tls   # over TLS: netpool_std::tls(addr, config)
//! ```

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use netpool_core::{Manager, Pool};
use netpool_examples::echo::{Args, BoxError, Demo, or_exit, settle};

fn main() -> Result<(), BoxError> {
    let args = Args::from_env("echo_std").unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    netpool_examples::logging::init(args.log);
    let demo = Arc::new(or_exit(Demo::start(args, "std threads")));
    let (wait, connect) = (Some(Duration::from_secs(5)), Some(Duration::from_secs(2)));
    match demo.tls_config() {
        Some(config) => {
            let pool = netpool_std::tls(demo.addr.clone(), config)
                .max_size(demo.args.pool)
                .wait_timeout(wait)
                .connect_timeout(connect);
            run(demo, or_exit(pool.build()))
        }
        None => {
            let pool = netpool_std::tcp(demo.addr.clone())
                .max_size(demo.args.pool)
                .wait_timeout(wait)
                .connect_timeout(connect);
            run(demo, or_exit(pool.build()))
        }
    }
}

/// The client threads, over plain TCP or TLS streams alike.
fn run<M>(demo: Arc<Demo>, pool: Pool<M>) -> Result<(), BoxError>
where
    M: Manager,
    M::Connection: Read + Write,
{
    let progress = Demo::watch(&demo, &pool);
    let clients: Vec<_> = (0..demo.args.clients)
        .map(|_| {
            let (demo, pool) = (demo.clone(), pool.clone());
            std::thread::spawn(move || {
                demo.client_blocking(|msg, reply| {
                    let mut conn = pool.get_blocking()?;
                    let result = exchange(&mut *conn, msg, reply);
                    settle(conn, result)
                })
            })
        })
        .collect();
    let latencies: Vec<_> = clients
        .into_iter()
        .map(|c| c.join().unwrap_or_default())
        .collect();
    let _ = progress.join();
    demo.report(latencies, &pool.stats());
    Ok(())
}

/// Sends `msg` and reads its echo into `reply`.
fn exchange(conn: &mut (impl Read + Write), msg: &[u8], reply: &mut [u8]) -> std::io::Result<()> {
    conn.write_all(msg)?;
    conn.flush()?; // the stream contract (TLS may buffer)
    conn.read_exact(reply)
}
