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
//! cargo run --release -p netpool-examples --example resp_smol -- [tasks] [max_size] [seconds]
//! ```
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use netpool_core::{Pool, Pooled};
use netpool_examples::redis::redis_url;
use netpool_examples::resp::{Client, RespError, SmolManager, addr_from_url};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// One unit of work: SET the key to `n`, GET it back.
async fn set_get<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    key: &str,
    n: u64,
) -> Result<(), RespError> {
    let value = n.to_string();
    client.set(key.as_bytes(), value.as_bytes()).await?;
    let got = client.get(key.as_bytes()).await?;
    assert_eq!(
        got.as_deref(),
        Some(value.as_bytes()),
        "read back what was written"
    );
    Ok(())
}

/// Runs `tasks` tasks for `seconds`, each calling `op(task, n)` in a loop; returns
/// (operations, errors).
async fn run<F, Fut>(tasks: u64, seconds: u64, op: F) -> (u64, u64)
where
    F: Fn(u64, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let op = Arc::new(op);
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (stop, op) = (stop.clone(), op.clone());
            smol::spawn(async move {
                let (mut ops, mut errors, mut n) = (0u64, 0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if op(t, n).await {
                        ops += 2;
                    } else {
                        errors += 1;
                    }
                }
                (ops, errors)
            })
        })
        .collect();
    smol::Timer::after(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ops, mut errors) = (0, 0);
    for h in handles {
        let (o, e) = h.await;
        ops += o;
        errors += e;
    }
    (ops, errors)
}

/// The tasks run on smol's global executor, which uses `SMOL_THREADS` threads (default 1).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async_main())
}

async fn async_main() -> Result<(), Box<dyn std::error::Error>> {
    let (tasks, max_size, seconds) = (arg(1, 64), arg(2, 16) as usize, arg(3, 2));
    let addr = addr_from_url(&redis_url());
    let prefix = format!("netpool:example:resp_smol:{}", std::process::id());

    // 1. The protocol client as the pooled connection.
    let pool = Pool::builder()
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(SmolManager::new(addr.clone()))?;
    pool.get().await?.ping().await?; // fail early if the server is not there
    let started = Instant::now();
    let (p, key) = (pool.clone(), prefix.clone());
    let (ops, errors) = run(tasks, seconds, move |t, n| {
        let (pool, key) = (p.clone(), format!("{key}:{t}"));
        async move {
            let mut conn = pool.get().await.expect("the pool serves every task");
            match set_get(&mut conn, &key, n).await {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("{e}");
                    if e.is_fatal() {
                        Pooled::discard(conn);
                    }
                    false
                }
            }
        }
    })
    .await;
    report(
        "resp_smol (resp::SmolManager)",
        tasks,
        max_size,
        started,
        ops,
        errors,
    );
    let mut failed = errors;
    println!("{:#?}", pool.stats());

    // 2. The adapter's TCP pool; the client borrows the pooled stream.
    let pool = netpool_smol::tcp(addr.clone())
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build()?;
    let started = Instant::now();
    let (p, key) = (pool.clone(), prefix.clone());
    let (ops, errors) = run(tasks, seconds, move |t, n| {
        let (pool, key) = (p.clone(), format!("{key}:{t}"));
        async move {
            let mut conn = pool.get().await.expect("the pool serves every task");
            let mut client = Client::new(&mut *conn);
            match set_get(&mut client, &key, n).await {
                Ok(()) => true,
                Err(e) => {
                    eprintln!("{e}");
                    if e.is_fatal() {
                        // The stream is out of sync or gone: the adapter cannot know.
                        drop(client);
                        Pooled::discard(conn);
                    }
                    false
                }
            }
        }
    })
    .await;
    report(
        "resp_smol (netpool_smol::tcp)",
        tasks,
        max_size,
        started,
        ops,
        errors,
    );
    failed += errors;
    println!("{:#?}", pool.stats());

    let mut conn = pool.get().await?;
    let mut client = Client::new(&mut *conn);
    for t in 0..tasks {
        client
            .command(&[b"DEL", format!("{prefix}:{t}").as_bytes()])
            .await?;
    }
    if failed > 0 {
        return Err(format!("{failed} operations failed").into());
    }
    Ok(())
}

fn report(what: &str, tasks: u64, max_size: usize, started: Instant, ops: u64, errors: u64) {
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{what}: {tasks} tasks, pool of {max_size}: {ops} commands (SET+GET) in {elapsed:.2} s \
         = {:.0} ops/s, {errors} errors",
        ops as f64 / elapsed
    );
}
