//! The same PostgreSQL workloads through netpool-postgres, deadpool-postgres and
//! bb8-postgres: `tasks` concurrent tokio tasks (16, 128) each check a session out of a
//! pool of 16, run one statement, and return the session. Every pool holds
//! tokio-postgres sessions over plain TCP, pre-opened, on a two-worker tokio runtime.
//! Throughput is in statements per second.
//!
//! Workloads:
//!
//! * `postgres_select1`: `SELECT 1` (the simple query protocol: one round trip);
//! * `postgres_prepared`: `SELECT $1::int8 + 1` as a prepared statement, with an int8
//!   parameter: `prepare_cached` for netpool-postgres and deadpool-postgres (a cache hit,
//!   then one round trip); bb8-postgres has no statement cache, so it `prepare`s on every
//!   use (two round trips), as its users write it.
//!
//! Each pool runs with its defaults:
//!
//! * `netpool`: `RecyclingMethod::Fast` on every checkout (`is_closed`, and a `ROLLBACK`
//!   only if a transaction was left open: never here);
//! * `deadpool`: `RecyclingMethod::Fast` on every checkout (`is_closed`);
//! * `bb8`: `test_on_check_out` is on: an empty query (a round trip) on every checkout;
//! * `bb8_notest`: `test_on_check_out(false)`.
//!
//! After criterion's groups the bench runs every pool again, interleaved round by round,
//! and prints a table of median rates with fairness: each task claims statements from a
//! shared total, and fairness is the fewest a task completed over the most.
//!
//! The server is `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`);
//! without one the bench prints why and measures nothing.
//!
//! ```text
//! cargo bench -p netpool-benches --bench postgres
//! cargo bench -p netpool-benches --bench postgres -- --warm-up-time 1 --measurement-time 3
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tokio_postgres::NoTls;

const MAX_SIZE: usize = 16;
const TASKS: [usize; 2] = [16, 128];
const PREPARED: &str = "SELECT $1::int8 + 1";

fn url() -> String {
    std::env::var("NETPOOL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn main() {
    let url = url();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(probe(&url)) {
        eprintln!(
            "\n!!!!! postgres bench SKIPPED: no PostgreSQL server at {url} ({e}). Start one, \
             or set NETPOOL_TEST_POSTGRES.\n"
        );
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    bench(&mut c, &rt, &url);
    c.final_summary();
}

/// `SELECT 1` on a fresh session, within 3 s.
async fn probe(url: &str) -> Result<(), String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    let connect = tokio::time::timeout(Duration::from_secs(3), config.connect(NoTls));
    let (client, conn) = connect
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    client
        .simple_query("SELECT 1")
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// One checkout + statement + return through some pool; `n` is the parameter.
type One = Arc<dyn Fn(i64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs `total` statements over `tasks` tasks, each claiming the next one from a shared
/// count; returns the wall time and the fairness (fewest completed / most).
fn run(rt: &tokio::runtime::Runtime, tasks: usize, total: u64, one: &One) -> (Duration, f64) {
    rt.block_on(async {
        let left = Arc::new(AtomicU64::new(total));
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (one, left) = (one.clone(), left.clone());
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        one(done as i64).await;
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let mut counts = Vec::with_capacity(tasks);
        for h in handles {
            counts.push(h.await.expect("bench task"));
        }
        let elapsed = start.elapsed();
        let (min, max) = (
            counts.iter().min().copied().unwrap_or(0),
            counts.iter().max().copied().unwrap_or(0),
        );
        (
            elapsed,
            if max == 0 {
                1.0
            } else {
                min as f64 / max as f64
            },
        )
    })
}

/// bb8's pool of tokio-postgres sessions.
type Bb8Pool = bb8::Pool<bb8_postgres::PostgresConnectionManager<NoTls>>;

struct Pools {
    netpool: netpool_postgres::Pool,
    deadpool: deadpool_postgres::Pool,
    bb8: Bb8Pool,
    bb8_notest: Bb8Pool,
}

fn pools(rt: &tokio::runtime::Runtime, url: &str) -> Pools {
    rt.block_on(async {
        let netpool = {
            let mut config = netpool_postgres::Config::from_url(url).expect("URL");
            config.max_size = Some(MAX_SIZE);
            config.ssl_mode = Some(netpool_postgres::SslMode::Disable);
            config.create_pool().expect("netpool-postgres pool")
        };
        let deadpool = {
            let mut config = deadpool_postgres::Config::new();
            config.url = Some(url.to_owned());
            config.pool = Some(deadpool_postgres::PoolConfig::new(MAX_SIZE));
            config
                .create_pool(Some(deadpool_postgres::Runtime::Tokio1), NoTls)
                .expect("deadpool-postgres pool")
        };
        let bb8 = |test| async move {
            let config: tokio_postgres::Config = url.parse().expect("URL");
            bb8::Pool::builder()
                .max_size(MAX_SIZE as u32)
                .test_on_check_out(test)
                .build(bb8_postgres::PostgresConnectionManager::new(config, NoTls))
                .await
                .expect("bb8 pool")
        };
        let pools = Pools {
            netpool,
            deadpool,
            bb8: bb8(true).await,
            bb8_notest: bb8(false).await,
        };
        // Open every pool's sessions before measuring (and prepare on each).
        let mut held_n = Vec::new();
        let mut held_d = Vec::new();
        for _ in 0..MAX_SIZE {
            let c = pools.netpool.get().await.expect("netpool get");
            c.prepare_cached(PREPARED).await.expect("prepare");
            held_n.push(c);
            let c = pools.deadpool.get().await.expect("deadpool get");
            c.prepare_cached(PREPARED).await.expect("prepare");
            held_d.push(c);
        }
        for pool in [&pools.bb8, &pools.bb8_notest] {
            let mut held = Vec::new();
            for _ in 0..MAX_SIZE {
                held.push(pool.get().await.expect("bb8 get"));
            }
        }
        drop((held_n, held_d));
        pools
    })
}

fn select1(pools: &Pools) -> Vec<(&'static str, One)> {
    let (n, d) = (pools.netpool.clone(), pools.deadpool.clone());
    let (b, bn) = (pools.bb8.clone(), pools.bb8_notest.clone());
    let bb8_one = |pool: Bb8Pool| -> One {
        Arc::new(move |_| {
            let pool = pool.clone();
            Box::pin(async move {
                let c = pool.get().await.expect("bb8 get");
                c.simple_query("SELECT 1").await.expect("SELECT 1");
            })
        })
    };
    vec![
        (
            "netpool",
            Arc::new(move |_| {
                let pool = n.clone();
                Box::pin(async move {
                    let c = pool.get().await.expect("netpool get");
                    c.simple_query("SELECT 1").await.expect("SELECT 1");
                })
            }),
        ),
        (
            "deadpool",
            Arc::new(move |_| {
                let pool = d.clone();
                Box::pin(async move {
                    let c = pool.get().await.expect("deadpool get");
                    c.simple_query("SELECT 1").await.expect("SELECT 1");
                })
            }),
        ),
        ("bb8", bb8_one(b)),
        ("bb8_notest", bb8_one(bn)),
    ]
}

fn prepared(pools: &Pools) -> Vec<(&'static str, One)> {
    let (n, d) = (pools.netpool.clone(), pools.deadpool.clone());
    let (b, bn) = (pools.bb8.clone(), pools.bb8_notest.clone());
    let bb8_one = |pool: Bb8Pool| -> One {
        Arc::new(move |x: i64| {
            let pool = pool.clone();
            Box::pin(async move {
                let c = pool.get().await.expect("bb8 get");
                let s = c.prepare(PREPARED).await.expect("prepare");
                let row = c.query_one(&s, &[&x]).await.expect("query");
                assert_eq!(row.get::<_, i64>(0), x + 1);
            })
        })
    };
    vec![
        (
            "netpool",
            Arc::new(move |x: i64| {
                let pool = n.clone();
                Box::pin(async move {
                    let c = pool.get().await.expect("netpool get");
                    let s = c.prepare_cached(PREPARED).await.expect("prepare");
                    let row = c.query_one(&s, &[&x]).await.expect("query");
                    assert_eq!(row.get::<_, i64>(0), x + 1);
                })
            }),
        ),
        (
            "deadpool",
            Arc::new(move |x: i64| {
                let pool = d.clone();
                Box::pin(async move {
                    let c = pool.get().await.expect("deadpool get");
                    let s = c.prepare_cached(PREPARED).await.expect("prepare");
                    let row = c.query_one(&s, &[&x]).await.expect("query");
                    assert_eq!(row.get::<_, i64>(0), x + 1);
                })
            }),
        ),
        ("bb8", bb8_one(b)),
        ("bb8_notest", bb8_one(bn)),
    ]
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, url: &str) {
    let pools = pools(rt, url);
    let workloads = [
        ("postgres_select1", select1(&pools)),
        ("postgres_prepared", prepared(&pools)),
    ];
    for (group, ones) in &workloads {
        let mut g = c.benchmark_group(*group);
        g.throughput(Throughput::Elements(1));
        for tasks in TASKS {
            let param = format!("{tasks}x{MAX_SIZE}");
            for (name, one) in ones {
                g.bench_with_input(BenchmarkId::new(*name, &param), &tasks, |b, &tasks| {
                    b.iter_custom(|iters| run(rt, tasks, iters, one).0);
                });
            }
        }
        g.finish();
    }
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        for (group, ones) in &workloads {
            interleaved(rt, group, ones);
        }
    }
}

/// Every pool in turn, round by round (the order rotating), so that a noisy neighbour
/// on a shared machine hits them all alike; prints median rates, the ratio to the best
/// peer, and the lowest fairness seen.
fn interleaved(rt: &tokio::runtime::Runtime, group: &str, pools: &[(&str, One)]) {
    const ROUNDS: usize = 7;
    const TOTAL: u64 = 4000;
    println!(
        "\n{group}, interleaved: median statements/s of {ROUNDS} rounds of {TOTAL}; fairness = min over rounds"
    );
    print!("| tasks x max_size |");
    pools.iter().for_each(|(name, _)| print!(" {name} |"));
    print!(" netpool / best peer |");
    pools
        .iter()
        .for_each(|(name, _)| print!(" fairness {name} |"));
    print!("\n|---|");
    (0..pools.len() * 2 + 1).for_each(|_| print!("---:|"));
    println!();
    for tasks in TASKS {
        let mut rates = vec![Vec::with_capacity(ROUNDS); pools.len()];
        let mut fairness = vec![1.0f64; pools.len()];
        for round in 0..ROUNDS {
            for k in 0..pools.len() {
                let i = (k + round) % pools.len();
                let (elapsed, fair) = run(rt, tasks, TOTAL, &pools[i].1);
                rates[i].push(TOTAL as f64 / elapsed.as_secs_f64());
                fairness[i] = fairness[i].min(fair);
            }
        }
        let medians: Vec<f64> = rates
            .into_iter()
            .map(|mut r| {
                r.sort_by(f64::total_cmp);
                r[r.len() / 2]
            })
            .collect();
        print!("| {tasks}x{MAX_SIZE} |");
        medians.iter().for_each(|m| print!(" {:.1}k |", m / 1000.0));
        let best_peer = medians[1..].iter().copied().fold(0.0, f64::max);
        print!(" {:.2}x |", medians[0] / best_peer);
        fairness.iter().for_each(|f| print!(" {f:.2} |"));
        println!();
    }
}
