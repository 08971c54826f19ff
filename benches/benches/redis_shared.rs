//! Shared connections against one shared connection: `tasks` tokio tasks (16, 128) send
//! `GET` for a 16-byte value, either through one `redis` crate `MultiplexedConnection`
//! cloned into every task (the fastest way to share one connection), or through a
//! netpool `SharedPool` of multiplexed connections (a lend per GET: checkout, GET,
//! return). On a two-worker tokio runtime; throughput in GETs per second.
//!
//! * `multiplexed`: one `MultiplexedConnection`, cloned;
//! * `shared_N`: `SharedPool`, N connections (1, 2, 4 and 8 by default; set
//!   `NETPOOL_SHARED_CONNS`, e.g. `4` or `2,4`), `128 / N` lends each (at least 16),
//!   opened before measuring, with `TCP_NODELAY` on (`SharedRedisManager::tcp_nodelay`);
//! * `shared_nagle_N` (with `NETPOOL_SHARED_NAGLE=1`): the same with `TCP_NODELAY` off
//!   (Nagle's algorithm on), `SharedRedisManager`'s default;
//! * `rr_N`: N `MultiplexedConnection`s taken round robin by an atomic counter, no pool:
//!   what N connections cost the server and the client, without the pool's bookkeeping.
//!   Only with `NETPOOL_SHARED_RR=1`. The `redis` crate leaves `TCP_NODELAY` off by
//!   default (Nagle's algorithm batches its pipelined writes), netpool's connections turn
//!   it on, so these are not quite the ceiling for `shared_N`:
//! * `rrn_N` (with `NETPOOL_SHARED_RR_NODELAY=1` too): the same with `TCP_NODELAY` on, as
//!   the pool's connections have it: the like-for-like ceiling for `shared_N`;
//! * `rrm_N` (with `NETPOOL_SHARED_RR_MANAGER=1` too): N connections opened by the pool's
//!   `SharedRedisManager`, taken round robin with no pool.
//!
//! After criterion's groups it runs each one again, interleaved round by round, for a
//! fixed time per round, and prints the median rate, its ratio to `multiplexed`, and
//! the fairness of the round (Jain's index over the GETs each task completed: 1.0 when
//! every task got the same share).
//!
//! The tasks are 16 and 128 (set `NETPOOL_SHARED_TASKS`, e.g. `1,16`). The server is
//! `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`).
//!
//! ```text
//! cargo bench -p netpool-benches --bench redis_shared -- --warm-up-time 1 --measurement-time 3
//! ```

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::live::{self, One, Split, one, redis_get};
use netpool_clients::redis::redis_url;
use netpool_core::{Manager, SharedPool};
use netpool_redis::shared::SharedRedisManager;

mod cpu;

const TASKS: [usize; 2] = [16, 128];
const KEY: &str = "netpool:bench:redis_shared:get";

fn main() {
    let url = redis_url();
    let rt = live::runtime();
    let conn = match rt.block_on(live::redis_set(&url, KEY)) {
        Ok(conn) => conn,
        Err(e) => {
            live::skipped(
                "redis_shared",
                format!("no Redis server at {url} ({e}). Start one, or set NETPOOL_TEST_REDIS."),
            );
            return;
        }
    };
    let shared = |n: usize, nodelay: bool| {
        let manager = SharedRedisManager::new(url.as_str())
            .expect("Redis URL")
            .tcp_nodelay(nodelay);
        let pool = SharedPool::builder()
            .max_size(n)
            .min_idle(Some(n))
            .max_concurrent_per_connection(128usize.div_ceil(n).max(16))
            .build(manager)
            .expect("netpool config");
        rt.block_on(pool.maintain());
        assert_eq!(pool.stats().pool.connections, n);
        pool
    };
    let counts = live::env_list("NETPOOL_SHARED_CONNS", &[1, 2, 4, 8]);
    let rr = live::env_flag("NETPOOL_SHARED_RR");
    let nagle = live::env_flag("NETPOOL_SHARED_NAGLE");
    let admin = conn.clone();
    let mut pools: Vec<(String, One)> = vec![("multiplexed".to_owned(), multiplexed_one(conn))];
    for &n in &counts {
        pools.push((format!("shared_{n}"), shared_one(shared(n, true))));
        if nagle {
            pools.push((format!("shared_nagle_{n}"), shared_one(shared(n, false))));
        }
        if rr {
            let client = redis::Client::open(url.as_str()).expect("Redis URL");
            let conns = rt.block_on(multiplexed(&client, n));
            pools.push((format!("rr_{n}"), round_robin_one(conns)));
        }
        if rr && live::env_flag("NETPOOL_SHARED_RR_NODELAY") {
            // The same, with TCP_NODELAY on (as netpool's connections have it; the `redis`
            // crate leaves it off by default, so Nagle's algorithm batches its writes).
            use redis::IntoConnectionInfo;
            let info = url
                .as_str()
                .into_connection_info()
                .expect("Redis URL")
                .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
            let client = redis::Client::open(info).expect("Redis URL");
            let conns = rt.block_on(multiplexed(&client, n));
            pools.push((format!("rrn_{n}"), round_robin_one(conns)));
        }
        if rr && live::env_flag("NETPOOL_SHARED_RR_MANAGER") {
            let conns = rt.block_on(async {
                let manager = SharedRedisManager::new(url.as_str())
                    .expect("Redis URL")
                    .tcp_nodelay(true);
                let mut conns = Vec::with_capacity(n);
                for _ in 0..n {
                    conns.push(manager.connect().await.expect("a shared connection"));
                }
                conns
            });
            pools.push((format!("rrm_{n}"), round_robin_one(conns)));
        }
    }
    let mut c = live::criterion();
    let param = |tasks: usize| tasks.to_string();
    let task_counts = live::env_list("NETPOOL_SHARED_TASKS", &TASKS);
    live::bench_group(
        &mut c,
        &rt,
        "redis_shared_get",
        &task_counts,
        param,
        &pools,
        Split::Even,
    );
    c.final_summary();
    if !live::listing() {
        interleaved(&rt, &task_counts, &pools, &admin);
    }
}

fn multiplexed_one(conn: redis::aio::MultiplexedConnection) -> One {
    one(conn, |mut conn, _| async move {
        redis_get(&mut conn, KEY).await
    })
}

fn round_robin_one<C>(conns: Vec<C>) -> One
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |_| {
        let i = next.fetch_add(1, Ordering::Relaxed) % conns.len();
        let mut conn = conns[i].clone();
        Box::pin(async move { redis_get(&mut conn, KEY).await })
    })
}

fn shared_one(pool: SharedPool<SharedRedisManager>) -> One {
    // An `Arc` of the pool, cloned per GET as `multiplexed` clones its connection: one
    // reference count (a pool clone also counts its handles, for closing on the last).
    one(Arc::new(pool), |pool, _| async move {
        redis_get(&mut *pool.get().await.expect("netpool get"), KEY).await;
    })
}

/// CPU seconds the Redis server used so far (`INFO cpu`: `used_cpu_sys` + `used_cpu_user`).
fn server_cpu(rt: &tokio::runtime::Runtime, admin: &redis::aio::MultiplexedConnection) -> f64 {
    let mut admin = admin.clone();
    let info: String = rt
        .block_on(redis::cmd("INFO").arg("cpu").query_async(&mut admin))
        .unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| *k == "used_cpu_sys" || *k == "used_cpu_user")
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum()
}

/// `tasks` tasks send GETs until `window` has passed; returns the rate, Jain's fairness
/// index over the GETs each task completed, and the GETs.
fn timed(
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    window: Duration,
    one: &One,
) -> (f64, f64, f64) {
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (one, stop) = (one.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        one(n).await;
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        tokio::time::sleep(window).await;
        stop.store(true, Ordering::Relaxed);
        let mut counts = Vec::with_capacity(tasks);
        for h in handles {
            counts.push(h.await.expect("bench task"));
        }
        let elapsed = start.elapsed().as_secs_f64();
        let sum = counts.iter().sum::<u64>() as f64;
        (sum / elapsed, live::jain(&counts), sum)
    })
}

/// Every scheme in turn, round by round (the order rotating), so that a noisy neighbour
/// hits them all alike; prints medians.
fn interleaved(
    rt: &tokio::runtime::Runtime,
    task_counts: &[usize],
    pools: &[(String, One)],
    admin: &redis::aio::MultiplexedConnection,
) {
    const ROUNDS: usize = 7;
    const WINDOW: Duration = Duration::from_millis(400);
    println!(
        "\nredis_shared_get, interleaved: median GETs/s of {ROUNDS} rounds of {WINDOW:?} \
         (x: ratio to multiplexed; fairness: lowest Jain index of the rounds; cpu: CPU \
         microseconds per GET over all rounds, this client process / the Redis server)"
    );
    live::header("tasks", pools.iter().map(|(name, _)| name));
    for &tasks in task_counts {
        let mut rates = vec![Vec::with_capacity(ROUNDS); pools.len()];
        let mut fair = vec![f64::MAX; pools.len()];
        // (GETs, client CPU seconds, server CPU seconds) per scheme, over all rounds.
        let mut cpu = vec![(0.0, 0.0, 0.0); pools.len()];
        live::rotate(ROUNDS, pools.len(), |i| {
            let (own, server) = (cpu::cpu_of("self"), server_cpu(rt, admin));
            let (rate, fairness, gets) = timed(rt, tasks, WINDOW, &pools[i].1);
            cpu[i].0 += gets;
            cpu[i].1 += cpu::cpu_of("self") - own;
            cpu[i].2 += server_cpu(rt, admin) - server;
            rates[i].push(rate);
            fair[i] = fair[i].min(fairness);
        });
        let medians = live::medians(rates);
        print!("| {tasks} |");
        for (i, m) in medians.iter().enumerate() {
            let (gets, own, server) = cpu[i];
            print!(
                " {:.1}k ({:.2}x, fairness {:.3}, cpu {:.2}/{:.2}) |",
                m / 1000.0,
                m / medians[0],
                fair[i],
                own * 1e6 / gets,
                server * 1e6 / gets
            );
        }
        println!();
    }
}

/// `n` multiplexed connections of `client`, with no pool.
async fn multiplexed(client: &redis::Client, n: usize) -> Vec<redis::aio::MultiplexedConnection> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(
            client
                .get_multiplexed_async_connection()
                .await
                .expect("a multiplexed connection"),
        );
    }
    conns
}
