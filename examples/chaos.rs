//! Measures netpool's row of the failure-behaviour table in the README: 32 tokio tasks, a
//! pool of 8 TCP connections (`netpool_tokio::tcp`, default settings and a 2 s
//! `wait_timeout`), an echo server behind a fault-injecting proxy.
//!
//! * outage: the server is stopped (connections cut, connects refused) for 3 s, then
//!   comes back: connect attempts during the outage, callers that waited out their 2 s
//!   timeout, time from the restart to the first successful request;
//! * idle outage: the 8 connections sit idle, the server goes down for 3 s and comes
//!   back, then the 32 tasks make 4 requests each: dead connections handed out;
//! * quick restart: the same, but the connections first idle 3 s with the server up and
//!   the server is down for only 0.2 s (not in the issue's table; see the README).
//!
//! ```text
//! cargo run --release -p netpool-examples --example chaos [-- RUNS]
//! ```
//!
//! Prints each run, then the README's row (ranges over the runs). The pool's event handler
//! prints when it starts backing off (with the connect error that caused it) and when it
//! recovers; `RUST_LOG=netpool=debug` prints every event.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use netpool_core::Event;
use netpool_testkit::chaos::scenario::{self, Client, Harness, Settings};
use netpool_tokio::TcpManager;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// How long the server is down, as in the issue's measurements of the other pools.
const DOWN: Duration = Duration::from_secs(3);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 3,
    };
    netpool_examples::logging::init(false);
    let h = Tokio::new()?;
    let settings = Settings::issue();
    let (mut attempts, mut waited, mut recovery, mut dead) = (vec![], vec![], vec![], vec![]);
    let mut bounced = vec![];
    for run in 1..=runs.max(1) {
        let outage = scenario::outage(&h, &settings, DOWN)?;
        let idle = scenario::idle_outage(&h, &settings, DOWN)?;
        let bounce = scenario::idle_bounce(&h, &settings, DOWN, Duration::from_millis(200))?;
        let recovered = outage.recovery.ok_or("the pool never recovered")?;
        println!(
            "run {run}: {} connect attempts in {:.2?}, {} callers waited out {:?}, \
             slowest failed get {:.2?}, recovery {:.1?}, {} dead connections handed out \
             after an idle outage ({} closed by is_valid), {} after a 0.2 s restart of \
             connections idle 3 s",
            outage.connect_attempts,
            outage.down_for,
            outage.waited_out,
            settings.wait_timeout,
            outage.slowest_get_error,
            recovered,
            idle.dead_handed_out,
            idle.closed_invalid,
            bounce.dead_handed_out,
        );
        bounced.push(bounce.dead_handed_out as f64);
        attempts.push(outage.connect_attempts as f64);
        waited.push(outage.waited_out as f64);
        recovery.push(recovered.as_secs_f64());
        dead.push(idle.dead_handed_out as f64);
    }
    println!();
    println!(
        "| netpool | {} (one probe at a time, 10 ms doubling to 100 ms, jittered) | {} \
         (`Error::Unavailable` at once, the last connect error as its source) | {} s | {} \
         (a non-blocking peek of connections idle ≥ 1 s) |",
        range(&attempts, 0),
        range(&waited, 0),
        range(&recovery, 3),
        range(&dead, 0),
    );
    println!(
        "dead connections handed out after a 0.2 s restart of connections idle 3 s: {}",
        range(&bounced, 0)
    );
    Ok(())
}

/// The pool's event handler: prints when the backoff starts (its first failure, with the
/// cause) and when it ends.
fn print_backoff(event: &Event<'_>) {
    match event {
        Event::BackoffEntered {
            failures: 1,
            retry_in,
            last_error,
        } => println!("  pool: backing off (retry in {retry_in:.1?}): {last_error}"),
        Event::BackoffLeft { failures } => {
            println!("  pool: backoff over after {failures} failed connects in a row");
        }
        _ => {}
    }
}

/// `min-max` (or one value) with `digits` decimals.
fn range(values: &[f64], digits: usize) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if (max - min).abs() < f64::EPSILON {
        format!("{min:.digits$}")
    } else {
        format!("{min:.digits$}-{max:.digits$}")
    }
}

/// The scenarios on a 2-worker tokio runtime (as in the adapter's chaos tests).
struct Tokio {
    rt: Runtime,
}

impl Tokio {
    fn new() -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .build()?;
        Ok(Self { rt })
    }
}

impl Harness for Tokio {
    type Manager = TcpManager;

    fn pool(&self, addr: String, s: &Settings) -> netpool_tokio::Pool {
        let _runtime = self.rt.enter(); // maintenance is spawned on it
        let built = netpool_tokio::tcp(addr)
            .max_size(s.max_size)
            .wait_timeout(Some(s.wait_timeout))
            .connect_timeout(Some(s.connect_timeout))
            .check_idle_after(s.check_idle_after)
            .event_handler(print_backoff)
            .build();
        match built {
            Ok(pool) => pool,
            // The settings are the scenario's own constants.
            Err(e) => panic!("invalid settings: {e}"),
        }
    }

    fn run<T: Send + 'static>(&self, clients: Vec<Client<T>>) -> Vec<T> {
        self.rt.block_on(async {
            let tasks: Vec<_> = clients.into_iter().map(tokio::spawn).collect();
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                match task.await {
                    Ok(value) => out.push(value),
                    Err(e) => panic!("a client failed: {e}"),
                }
            }
            out
        })
    }

    fn echo<'a>(
        conn: &'a mut TcpStream,
        msg: &'a [u8],
        timeout: Duration,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        let exchange = async move {
            conn.write_all(msg).await?;
            let mut reply = vec![0; msg.len()];
            conn.read_exact(&mut reply).await?;
            if reply != msg {
                return Err(io::Error::other("the echo differs"));
            }
            Ok(())
        };
        netpool_std::net::timeout(Some(timeout), exchange)
    }

    fn local_addr(conn: &TcpStream) -> io::Result<SocketAddr> {
        conn.local_addr()
    }
}
