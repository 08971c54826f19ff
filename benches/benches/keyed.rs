//! `keyed`: the cost of a [`KeyedPool`](netpool_core::KeyedPool) lookup over a plain `Pool`.
//!
//! * `keyed_uncontended`: one task, one key (a `"host:port"` string) whose pool of 16 is
//!   pre-filled, so an idle connection is always free: `KeyedPool::get` against
//!   `Pool::get` (S1's `netpool-block_on`), and the blocking APIs.
//! * `keyed_contention`: 64 tokio tasks on 2 workers, each cycling over 100 keys (get,
//!   one `yield_now` while holding, return): one `KeyedPool` against 100 separate
//!   `Pool`s picked by index, each key with 4 pre-filled connections.
//!
//! * `keyed_saturated`: the total cap binding. 4 keys (one loopback echo server each) x 4
//!   tokio tasks on 2 workers, `max_size(4)` per key; each cycle is a get, an 8-byte echo
//!   and the return. `cap-binding` has `max_total(8)` (half the demand), `cap-raised`
//!   `max_total(16)`. Connects per get are printed for both.
//!
//! After criterion's pass, each group's runs alternate round by round in this process and
//! the median ratio to the plain `Pool` run is recorded (see `common::run_group`).
//!
//! Quick run: `cargo bench -p netpool-benches --bench keyed -- --warm-up-time 1
//! --measurement-time 3`.

mod common;

use std::hint::black_box;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{Mem, Meter, Run, run_group};
use criterion::{Criterion, criterion_group, criterion_main};
use netpool_benches::alloc::CountingAlloc;
use netpool_core::{KeyedPool, Pool};
use netpool_testkit::EchoServer;
use netpool_tokio::TcpManager;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const S1_SIZE: usize = 16;
const KEYS: usize = 100;
const PER_KEY: usize = 4;
const TASKS: usize = 64;

/// A keyed pool with the settings of `common::netpool_bare`, per key.
fn keyed(max_size: usize) -> KeyedPool<String, Mem> {
    KeyedPool::builder()
        .max_size(max_size)
        .max_total(max_size * KEYS)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
        .build(|_: &String| Mem)
        .expect("valid config")
}

fn fill_keyed(pool: &KeyedPool<String, Mem>, key: &String, n: usize) {
    let held: Vec<_> = (0..n)
        .map(|_| pool.get_blocking(key).expect("connection"))
        .collect();
    drop(held);
}

fn fill_pool(pool: &Pool<Mem>, n: usize) {
    let held: Vec<_> = (0..n)
        .map(|_| pool.get_blocking().expect("connection"))
        .collect();
    drop(held);
}

fn uncontended(c: &mut Criterion) {
    let key = "127.0.0.1:7000".to_owned();
    let plain = common::netpool_bare(S1_SIZE);
    fill_pool(&plain, S1_SIZE);
    let keyed = keyed(S1_SIZE);
    fill_keyed(&keyed, &key, S1_SIZE);
    let (plain, keyed, key) = (&plain, &keyed, &key);
    let p = || format!("1x{S1_SIZE}");
    let mut runs: Vec<Run<'_>> = vec![
        (
            "pool-block_on",
            p(),
            Box::new(common::block_on_loop!(plain.get().await.expect("idle"))),
        ),
        (
            "keyed-block_on",
            p(),
            Box::new(common::block_on_loop!(keyed.get(key).await.expect("idle"))),
        ),
        (
            "pool-get_blocking",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    drop(black_box(plain.get_blocking().expect("idle")));
                }
                meter.stop(iters, Vec::new())
            }),
        ),
        (
            "keyed-get_blocking",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    drop(black_box(keyed.get_blocking(key).expect("idle")));
                }
                meter.stop(iters, Vec::new())
            }),
        ),
    ];
    run_group(
        c,
        "keyed_uncontended",
        &mut runs,
        &["pool-block_on"],
        100_000,
        10,
    );
}

/// 64 tasks, each doing its share of `iters` cycles over the 100 keys; `$cycle` gets the
/// key index `$k`.
macro_rules! spread {
    ($rt:expr, $iters:expr, $state:expr, |$s:ident, $k:ident| $cycle:expr) => {{
        let iters: u64 = $iters;
        $rt.block_on(async {
            let meter = Meter::start();
            let handles: Vec<_> = (0..TASKS)
                .map(|task| {
                    let n = common::share(iters, TASKS, task);
                    let $s = $state.clone();
                    tokio::spawn(async move {
                        for i in 0..n as usize {
                            let $k = (task * 37 + i * 13) % KEYS;
                            $cycle;
                        }
                        n
                    })
                })
                .collect();
            meter.stop_after(iters, handles).await
        })
    }};
}

fn contention(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let keys: Arc<Vec<String>> = Arc::new(
        (0..KEYS)
            .map(|i| format!("127.0.0.1:{}", 7000 + i))
            .collect(),
    );
    let pools: Arc<Vec<Pool<Mem>>> = Arc::new(
        (0..KEYS)
            .map(|_| {
                let pool = common::netpool_bare(PER_KEY);
                fill_pool(&pool, PER_KEY);
                pool
            })
            .collect(),
    );
    let keyed = keyed(PER_KEY);
    for key in keys.iter() {
        fill_keyed(&keyed, key, PER_KEY);
    }
    let both = Arc::new((keyed, keys));
    let (pools, both) = (&pools, &both);
    let rt = &rt;
    let p = || format!("{TASKS}x{KEYS}keys");
    let mut runs: Vec<Run<'_>> = vec![
        (
            "100-pools",
            p(),
            Box::new(|iters| {
                spread!(rt, iters, pools, |pools, k| {
                    let conn = pools[k].get().await.expect("connection");
                    tokio::task::yield_now().await;
                    drop(black_box(conn));
                })
            }),
        ),
        (
            "keyed",
            p(),
            Box::new(|iters| {
                spread!(rt, iters, both, |both, k| {
                    let conn = both.0.get(&both.1[k]).await.expect("connection");
                    tokio::task::yield_now().await;
                    drop(black_box(conn));
                })
            }),
        ),
    ];
    run_group(c, "keyed_contention", &mut runs, &["100-pools"], 64_000, 10);
}

const SAT_KEYS: usize = 4;
const SAT_TASKS_PER_KEY: usize = 4;

/// A keyed pool of TCP connections to the echo servers, `max_size(4)` per key.
fn saturated_pool(addrs: &[String], max_total: usize) -> KeyedPool<usize, TcpManager> {
    let addrs = addrs.to_vec();
    KeyedPool::builder()
        .max_size(SAT_TASKS_PER_KEY)
        .max_total(max_total)
        .wait_timeout(Some(std::time::Duration::from_secs(30)))
        .build(move |key: &usize| TcpManager::new(addrs[*key].clone()))
        .expect("valid config")
}

/// Gets and connects made by the runs of one pool, for the connects-per-get figure.
#[derive(Default)]
struct Tallies {
    gets: AtomicU64,
    connects: AtomicU64,
}

fn saturated(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let servers: Vec<EchoServer> = (0..SAT_KEYS)
        .map(|_| EchoServer::start().expect("echo server"))
        .collect();
    let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
    let demand = SAT_KEYS * SAT_TASKS_PER_KEY;
    let binding = Arc::new((saturated_pool(&addrs, demand / 2), Tallies::default()));
    let raised = Arc::new((saturated_pool(&addrs, demand), Tallies::default()));
    let rt = &rt;
    let run = |pool: Arc<(KeyedPool<usize, TcpManager>, Tallies)>| {
        move |iters: u64| {
            let tasks = SAT_KEYS * SAT_TASKS_PER_KEY;
            rt.block_on(async {
                let before = pool.0.stats().total.connections_created;
                let meter = Meter::start();
                let handles: Vec<_> = (0..tasks)
                    .map(|task| {
                        let n = common::share(iters, tasks, task);
                        let pool = pool.clone();
                        tokio::spawn(async move {
                            let key = task % SAT_KEYS;
                            let mut buf = [0u8; 8];
                            for _ in 0..n {
                                let mut conn = pool.0.get(&key).await.expect("connection");
                                conn.write_all(b"ping1234").await.expect("write");
                                conn.read_exact(&mut buf).await.expect("read");
                                drop(black_box(conn));
                            }
                            n
                        })
                    })
                    .collect();
                let sample = meter.stop_after(iters, handles).await;
                let after = pool.0.stats().total.connections_created;
                pool.1.gets.fetch_add(iters, Ordering::Relaxed);
                pool.1.connects.fetch_add(after - before, Ordering::Relaxed);
                sample
            })
        }
    };
    let p = || format!("{SAT_KEYS}keysx{SAT_TASKS_PER_KEY}tasks");
    let mut runs: Vec<Run<'_>> = vec![
        ("cap-raised", p(), Box::new(run(raised.clone()))),
        ("cap-binding", p(), Box::new(run(binding.clone()))),
    ];
    run_group(c, "keyed_saturated", &mut runs, &["cap-raised"], 20_000, 6);
    for (name, pool) in [("cap-raised", &raised), ("cap-binding", &binding)] {
        let gets = pool.1.gets.load(Ordering::Relaxed);
        let connects = pool.1.connects.load(Ordering::Relaxed);
        println!(
            "keyed_saturated/{name}: {connects} connects for {gets} gets = {:.4} connects per get",
            connects as f64 / gets.max(1) as f64
        );
    }
    drop(servers);
}

criterion_group!(benches, uncontended, contention, saturated);
criterion_main!(benches);
