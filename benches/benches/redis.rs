//! The same Redis workload through netpool-redis, deadpool-redis and bb8-redis: `tasks`
//! concurrent tokio tasks (1, 16, 128) each check a connection out of a pool of 16, send
//! `GET` for a 16-byte value, and return the connection. Every pool holds the `redis`
//! crate's `MultiplexedConnection` with the crate's default settings, pre-opened, on a
//! two-worker tokio runtime. Throughput is in GETs per second.
//!
//! Each pool runs with its defaults, which differ in what a checkout costs:
//!
//! * `netpool`: `is_valid` (PING) only for connections idle at least 1 s, so never here;
//! * `netpool_ping`: `check_idle_after(None)`, a PING on every checkout;
//! * `deadpool_redis`: `recycle` sends UNWATCH + PING (pipelined) on every checkout;
//! * `bb8_redis`: `test_on_check_out` is on: a PING on every checkout;
//! * `bb8_redis_notest`: `test_on_check_out(false)`.
//!
//! After criterion's groups the bench runs every pool again, interleaved round by round,
//! and prints a table of median rates: on a shared machine that comparison is the fairer
//! one. A second table times every GET of 128 tasks on a pool of 16 (the tail under
//! contention): throughput, median, p99 and p99.9 latency per pool, with two more peers
//! that check nothing on checkout, as netpool does here: `deadpool_noping` (deadpool over
//! the same manager, `recycle` a no-op) and `mutex_pool` (a tokio `Semaphore` and a
//! `Mutex<Vec<_>>`: the naive pool), and `netpool_notimeout` (`wait_timeout(None)`, as
//! deadpool's default: a wait arms no timer).
//!
//! The server is `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`); without one the
//! bench prints why and measures nothing.
//!
//! ```text
//! cargo bench -p netpool-benches --bench redis
//! cargo bench -p netpool-benches --bench redis -- --warm-up-time 1 --measurement-time 2
//! ```

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::live::{self, One, REDIS_KEY as KEY, Split, one, redis_get};
use criterion::Criterion;
use netpool_clients::redis::redis_url;

const MAX_SIZE: usize = 16;
const TASKS: [usize; 3] = [1, 16, 128];

fn main() {
    let url = redis_url();
    if let Err(e) = probe(&url) {
        live::skipped(
            "redis",
            format!("no Redis server at {url} ({e}). Start one, or set NETPOOL_TEST_REDIS."),
        );
        return;
    }
    let mut c = live::criterion();
    bench_get(&mut c, &url);
    c.final_summary();
}

/// A blocking `PING` with short timeouts.
fn probe(url: &str) -> Result<(), String> {
    let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| e.to_string())?;
    let addr = match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => return Err(format!("not a TCP address: {other:?}")),
    };
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).map_err(|e| e.to_string())?;
    (&buf == b"+PONG\r\n")
        .then_some(())
        .ok_or_else(|| "PING was not answered PONG".to_owned())
}

/// The tail under contention: 128 tasks, pool of 16, every GET timed; rounds interleaved,
/// the latencies of all rounds pooled per pool.
fn tail(rt: &tokio::runtime::Runtime, pools: &[(&str, One)]) {
    const ROUNDS: usize = 7;
    const GETS: u64 = 6000;
    const TASKS: usize = 128;
    println!(
        "\nredis_get tail, {TASKS}x{MAX_SIZE}, interleaved: {ROUNDS} rounds of {GETS} GETs; \
         GETs/s is the median round, latencies over all rounds (µs)"
    );
    println!("| pool | GETs/s | p50 | p90 | p99 | p99.9 | max |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rates = vec![Vec::with_capacity(ROUNDS); pools.len()];
    let mut lat: Vec<Vec<u32>> = vec![Vec::new(); pools.len()];
    live::rotate(ROUNDS, pools.len(), |i| {
        let (elapsed, l) = live::run_timed(rt, TASKS, GETS, &pools[i].1);
        rates[i].push(GETS as f64 / elapsed.as_secs_f64());
        lat[i].extend(l);
    });
    for ((name, _), (rate, mut l)) in pools.iter().zip(live::medians(rates).into_iter().zip(lat)) {
        l.sort_unstable();
        let q = |f| live::quantile(&l, f);
        println!(
            "| {name} | {:.1}k | {} | {} | {} | {} | {} |",
            rate / 1000.0,
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            l.last().copied().unwrap_or(0)
        );
    }
}

/// After criterion: every pool in turn, round by round (the order rotating), so that a
/// noisy neighbour on a shared machine hits them all alike; prints the median rate and the
/// lowest fairness of the rounds: Jain's index over the GETs each task claimed and
/// completed out of the round's shared total (1.0 when every task did as many).
fn interleaved(rt: &tokio::runtime::Runtime, pools: &[(&str, One)]) {
    const ROUNDS: usize = 7;
    const GETS: u64 = 6000;
    println!(
        "\nredis_get, interleaved: median GETs/s of {ROUNDS} rounds of {GETS} GETs; \
         fairness = lowest Jain index over rounds"
    );
    let names = pools.iter().map(|(name, _)| name.to_string());
    let fairness_names = pools.iter().map(|(name, _)| format!("fairness {name}"));
    live::header("tasks x max_size", names.chain(fairness_names));
    for tasks in TASKS {
        let mut rates = vec![Vec::with_capacity(ROUNDS); pools.len()];
        let mut fairness = vec![1.0f64; pools.len()];
        live::rotate(ROUNDS, pools.len(), |i| {
            let (elapsed, counts) = live::run(rt, tasks, GETS, Split::Claimed, &pools[i].1);
            rates[i].push(GETS as f64 / elapsed.as_secs_f64());
            fairness[i] = fairness[i].min(live::jain(&counts));
        });
        print!("| {tasks}x{MAX_SIZE} |");
        for m in live::medians(rates) {
            print!(" {:.1}k |", m / 1000.0);
        }
        fairness.iter().for_each(|f| print!(" {f:.3} |"));
        println!();
    }
}

fn bench_get(c: &mut Criterion, url: &str) {
    let rt = live::runtime();

    // The value every GET reads.
    rt.block_on(live::redis_set(url, KEY)).expect("SET");

    // netpool-redis as its users build it: `Config::from_url(..)` and its builder.
    let netpool = |configure| live::redis_netpool(&rt, url, MAX_SIZE, configure);
    let netpool_default = netpool(|b| b.check_idle_after(Some(Duration::from_secs(1))));
    let netpool_ping = netpool(|b| b.check_idle_after(None));
    // For the tail table: first come, first served among the waiting tasks as always,
    // but the most recently returned connection first.
    let netpool_lifo = netpool(|b| b.queue_strategy(netpool_core::QueueStrategy::Lifo));
    // For the tail table: no wait timeout (deadpool's default), so no timer per wait.
    let netpool_notimeout = netpool(|b| b.wait_timeout(None));
    let deadpool = {
        let mut cfg = deadpool_redis::Config::from_url(url);
        cfg.pool = Some(deadpool_redis::PoolConfig::new(MAX_SIZE));
        cfg.create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .expect("deadpool-redis pool")
    };
    let bb8 = |test| {
        rt.block_on(async {
            let manager = bb8_redis::RedisConnectionManager::new(url).expect("Redis URL");
            bb8_redis::bb8::Pool::builder()
                .max_size(MAX_SIZE as u32)
                .test_on_check_out(test)
                .build(manager)
                .await
                .expect("bb8 pool")
        })
    };
    let bb8_default = bb8(true);
    let bb8_notest = bb8(false);

    // Open every pool's connections before measuring.
    rt.block_on(async {
        let mut held = Vec::new();
        for pool in [
            &netpool_default,
            &netpool_ping,
            &netpool_lifo,
            &netpool_notimeout,
        ] {
            for _ in 0..MAX_SIZE {
                held.push(pool.get().await.expect("netpool get"));
            }
        }
        let mut held_dp = Vec::new();
        for _ in 0..MAX_SIZE {
            held_dp.push(deadpool.get().await.expect("deadpool get"));
        }
        for pool in [&bb8_default, &bb8_notest] {
            let mut held = Vec::new();
            for _ in 0..MAX_SIZE {
                held.push(pool.get().await.expect("bb8 get"));
            }
        }
    });

    let netpool_one = live::redis_netpool_one;
    let bb8_one = |pool: &bb8_redis::bb8::Pool<bb8_redis::RedisConnectionManager>| {
        one(pool.clone(), |pool, _| async move {
            redis_get(&mut *pool.get().await.expect("bb8 get"), KEY).await;
        })
    };
    let deadpool_one = one(deadpool, |pool, _| async move {
        redis_get(&mut pool.get().await.expect("deadpool get"), KEY).await;
    });
    let pools: Vec<(&str, One)> = vec![
        ("netpool", netpool_one(&netpool_default)),
        ("netpool_ping", netpool_one(&netpool_ping)),
        ("deadpool_redis", deadpool_one),
        ("bb8_redis", bb8_one(&bb8_default)),
        ("bb8_redis_notest", bb8_one(&bb8_notest)),
    ];
    let param = |tasks| format!("{tasks}x{MAX_SIZE}");
    live::bench_group(c, &rt, "redis_get", &TASKS, param, &pools, Split::Even);
    if !live::listing() {
        interleaved(&rt, &pools);
        let mut tail_pools: Vec<(&str, One)> = vec![
            ("netpool", netpool_one(&netpool_default)),
            (
                "deadpool_noping",
                live::redis_deadpool_noping_one(url, MAX_SIZE),
            ),
            ("mutex_pool", live::redis_mutex_one(&rt, url, MAX_SIZE)),
        ];
        tail_pools.insert(1, ("netpool_lifo", netpool_one(&netpool_lifo)));
        tail_pools.insert(2, ("netpool_notimeout", netpool_one(&netpool_notimeout)));
        tail_pools.extend(pools.into_iter().filter(|(n, _)| *n != "netpool"));
        tail(&rt, &tail_pools);
    }
}
