//! What the benches against servers (`postgres`, `redis`, `redis_shared`, `redis_cluster`)
//! and the `pg_driver` example share: the two-worker runtime and criterion's settings, the
//! throughput loop (tasks sharing a count of operations), the criterion group over task
//! counts, and the pieces of the interleaved tables (the rotation, medians, the header).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;

/// One operation through some pool or client (a checkout, a command or statement, the
/// return); the argument numbers the operation within its run, for workloads that vary
/// it (a key, a parameter).
pub(crate) type One = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A [`One`] that calls `op` with a clone of `handle` (a pool, a client, a connection)
/// and the operation's number.
pub(crate) fn one<H, F, Fut>(handle: H, op: F) -> One
where
    H: Clone + Send + Sync + 'static,
    F: Fn(H, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |n| Box::pin(op(handle.clone(), n)))
}

/// The benches' tokio runtime: two workers, timers and I/O on.
pub(crate) fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Criterion with the server benches' settings (1 s warm-up, 3 s of 20 samples), which
/// the command line may override.
pub(crate) fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args()
}

/// Says loudly that `bench` measures nothing, and why.
pub(crate) fn skipped(bench: &str, why: impl Display) {
    eprintln!("\n!!!!! {bench} bench SKIPPED: {why}\n");
}

/// Whether criterion only lists or tests the benches (`--list`, `--test`): then the
/// interleaved comparison does not run either.
pub(crate) fn listing() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--list")
}

/// How a run's operations are dealt to its tasks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Split {
    /// Each task does an equal share, fixed up front.
    Even,
    /// Each task claims the next operation from a shared count until none is left (the
    /// counts each task completed then measure the pool's fairness).
    Claimed,
}

/// Runs `total` operations over `tasks` tasks, dealt as `split` says, and returns the
/// wall time and the operations each task completed. Task `t`'s `k`-th operation is
/// numbered `t + tasks * k`, so the numbers of a run are distinct.
pub(crate) fn run(
    rt: &Runtime,
    tasks: usize,
    total: u64,
    split: Split,
    one: &One,
) -> (Duration, Vec<u64>) {
    rt.block_on(async {
        let left = Arc::new(AtomicU64::new(total));
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks as u64)
            .map(|t| {
                let (one, left) = (one.clone(), left.clone());
                let share = total / tasks as u64 + u64::from(t < total % tasks as u64);
                tokio::spawn(async move {
                    let mut done = 0;
                    while match split {
                        Split::Even => done < share,
                        Split::Claimed => left
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                n.checked_sub(1)
                            })
                            .is_ok(),
                    } {
                        one(t + tasks as u64 * done).await;
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
        (start.elapsed(), counts)
    })
}

/// Runs `total` operations over `tasks` tasks, an equal share each, timing every one:
/// returns the wall time and every operation's latency in microseconds.
pub(crate) fn run_timed(rt: &Runtime, tasks: usize, total: u64, one: &One) -> (Duration, Vec<u32>) {
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks as u64)
            .map(|t| {
                let one = one.clone();
                let share = total / tasks as u64 + u64::from(t < total % tasks as u64);
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(share as usize);
                    for k in 0..share {
                        let began = Instant::now();
                        one(t + tasks as u64 * k).await;
                        lat.push(u32::try_from(began.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    lat
                })
            })
            .collect();
        let mut lat = Vec::with_capacity(total as usize);
        for h in handles {
            lat.extend(h.await.expect("bench task"));
        }
        (start.elapsed(), lat)
    })
}

/// Jain's fairness index over the operations each task completed: (Σx)² / (n·Σx²), 1.0
/// when every task did as many, 1/n when one task did them all.
pub(crate) fn jain(counts: &[u64]) -> f64 {
    let (sum, squares) = counts.iter().fold((0.0, 0.0), |(sum, squares), &x| {
        let x = x as f64;
        (sum + x, squares + x * x)
    });
    if squares == 0.0 {
        0.0
    } else {
        sum * sum / (counts.len() as f64 * squares)
    }
}

/// Whether the environment variable `name` is `1` (the benches' optional columns).
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// The comma-separated numbers of the environment variable `name` (e.g. `1,16,128`), or
/// `default` when it is unset or names none.
pub(crate) fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|list: &Vec<usize>| !list.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// The fewest operations a task completed over the most (1.0 when none did any).
pub(crate) fn min_over_max(counts: &[u64]) -> f64 {
    let min = counts.iter().min().copied().unwrap_or(0);
    let max = counts.iter().max().copied().unwrap_or(0);
    if max == 0 {
        1.0
    } else {
        min as f64 / max as f64
    }
}

/// Benchmarks every one of `ones` in the criterion group `group`, one element per
/// operation, for each task count in `tasks` (in that order); `param` names the task
/// count in the benchmark's id.
pub(crate) fn bench_group<N: AsRef<str>>(
    c: &mut Criterion,
    rt: &Runtime,
    group: &str,
    tasks: &[usize],
    param: impl Fn(usize) -> String,
    ones: &[(N, One)],
    split: Split,
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    for &tasks in tasks {
        for (name, one) in ones {
            let id = BenchmarkId::new(name.as_ref(), param(tasks));
            g.bench_with_input(id, &tasks, |b, &tasks| {
                b.iter_custom(|iters| run(rt, tasks, iters, split, one).0);
            });
        }
    }
    g.finish();
}

/// Calls `measure(i)` for each of `n` contestants, `rounds` times, each round starting
/// one further along, so that a noisy neighbour on a shared machine hits them all alike.
pub(crate) fn rotate(rounds: usize, n: usize, mut measure: impl FnMut(usize)) {
    for round in 0..rounds {
        for k in 0..n {
            measure((k + round) % n);
        }
    }
}

/// The median of each contestant's samples.
pub(crate) fn medians(samples: Vec<Vec<f64>>) -> Vec<f64> {
    samples
        .into_iter()
        .map(|mut s| super::median(&mut s))
        .collect()
}

/// The median over rounds of `rates[0]`'s ratio to the best peer's rate in the same
/// round, the best peer being the one of `rates[1..]` with the highest of `medians`:
/// paired ratios, so that load that slowed a whole round cancels out. `rates[i][r]` is
/// contestant `i`'s rate in round `r`, `medians[i]` the median of `rates[i]`.
pub(crate) fn paired_to_best(rates: &[Vec<f64>], medians: &[f64]) -> f64 {
    let best = (1..rates.len())
        .max_by(|&a, &b| medians[a].total_cmp(&medians[b]))
        .unwrap_or(0);
    let mut ratios: Vec<f64> = rates[0]
        .iter()
        .zip(&rates[best])
        .map(|(ours, theirs)| ours / theirs)
        .collect();
    super::median(&mut ratios)
}

/// Prints a markdown table's header: the column `first`, then `columns`, right-aligned.
pub(crate) fn header<C: Display>(first: &str, columns: impl IntoIterator<Item = C>) {
    let mut rule = String::from("|---|");
    print!("| {first} |");
    for column in columns {
        print!(" {column} |");
        rule.push_str("---:|");
    }
    println!("\n{rule}");
}

/// One `GET` of `key` on any Redis connection; the value is 16 bytes.
pub(crate) async fn redis_get(conn: &mut impl redis::aio::ConnectionLike, key: &str) {
    let value: Vec<u8> = redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .expect("GET answered");
    assert_eq!(value.len(), 16);
}

/// Sets `key` to the 16-byte value [`redis_get`] reads, on a new multiplexed connection
/// to `url`, and returns the connection.
pub(crate) async fn redis_set(
    url: &str,
    key: &str,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let () = redis::cmd("SET")
        .arg(key)
        .arg(&[b'x'; 16][..])
        .query_async(&mut conn)
        .await?;
    Ok(conn)
}

/// The key the Redis benches GET (set by [`redis_set`]).
pub(crate) const REDIS_KEY: &str = "netpool:bench:redis:get";

/// netpool-redis as its users build it (`Config::from_url(..)` and its builder), with
/// `max_size` connections of the `redis` crate's default settings, on `rt` (maintenance
/// runs there); `configure` sets the rest.
pub(crate) fn redis_netpool(
    rt: &Runtime,
    url: &str,
    max_size: usize,
    configure: fn(netpool_core::Builder) -> netpool_core::Builder,
) -> netpool_core::Pool<netpool_redis::RedisManager> {
    let _runtime = rt.enter();
    netpool_redis::Config::from_url(url)
        .expect("Redis URL")
        .builder()
        .expect("Redis config")
        .max_size(max_size)
        .connection_config(redis::AsyncConnectionConfig::new())
        .pool_builder(configure)
        .build()
        .expect("netpool config")
}

/// The manager the pools without a client crate of their own (`deadpool_noping`,
/// `mutex_pool`) hold: the same connections as netpool-redis's, with the `redis` crate's
/// default settings (`RedisManager::new` alone turns its timeouts off, and a peer built
/// on it would run without the response timer every other pool pays per command).
pub(crate) fn redis_manager(url: &str) -> netpool_redis::RedisManager {
    netpool_redis::RedisManager::new(url)
        .expect("Redis URL")
        .connection_config(redis::AsyncConnectionConfig::new())
}

/// One GET of [`REDIS_KEY`] through netpool-redis.
pub(crate) fn redis_netpool_one(pool: &netpool_core::Pool<netpool_redis::RedisManager>) -> One {
    one(pool.clone(), |pool, _| async move {
        redis_get(&mut *pool.get().await.expect("netpool get"), REDIS_KEY).await;
    })
}

/// One GET of [`REDIS_KEY`] through deadpool over [`redis_manager`] (`recycle` a no-op).
pub(crate) fn redis_deadpool_noping_one(url: &str, max_size: usize) -> One {
    one(
        super::deadpool_of(redis_manager(url), max_size),
        |pool, _| async move {
            redis_get(&mut *pool.get().await.expect("deadpool get"), REDIS_KEY).await;
        },
    )
}

/// One GET of [`REDIS_KEY`] through the naive pool ([`MutexPool`](super::MutexPool)) of
/// [`redis_manager`]'s connections, opened on `rt`.
pub(crate) fn redis_mutex_one(rt: &Runtime, url: &str, max_size: usize) -> One {
    let pool = rt.block_on(super::MutexPool::open(redis_manager(url), max_size));
    one(pool, |pool, _| async move {
        redis_get(&mut *pool.get().await, REDIS_KEY).await;
    })
}

/// The `f` quantile (0 to 1) of `sorted` latencies, 0 for none.
pub(crate) fn quantile(sorted: &[u32], f: f64) -> u32 {
    sorted
        .get((sorted.len().saturating_sub(1) as f64 * f) as usize)
        .copied()
        .unwrap_or(0)
}
