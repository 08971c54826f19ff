//! `keyed`: the cost of a [`KeyedPool`](netpool_core::KeyedPool) lookup over a plain `Pool`.
//!
//! * `keyed_uncontended`: one task, one key (a `"host:port"` string) whose pool of 16 is
//!   pre-filled, so an idle connection is always free: `KeyedPool::get` against
//!   `Pool::get` (S1's `netpool-block_on`), and the blocking APIs.
//! * `keyed_contention`: 64 tokio tasks on 2 workers, each cycling over 100 keys (get,
//!   one `yield_now` while holding, return): one `KeyedPool` against 100 separate
//!   `Pool`s picked by index, each key with 4 pre-filled connections.
//!
//! After criterion's pass, each group's runs alternate round by round in this process and
//! the median ratio to the plain `Pool` run is recorded (see `common::run_group`).
//!
//! Quick run: `cargo bench -p netpool-benches --bench keyed -- --warm-up-time 1
//! --measurement-time 3`.

mod common;

use std::hint::black_box;
use std::sync::Arc;

use common::{Mem, Meter, Run, run_group};
use criterion::{Criterion, criterion_group, criterion_main};
use netpool_benches::alloc::CountingAlloc;
use netpool_core::{KeyedPool, Pool};

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

criterion_group!(benches, uncontended, contention);
criterion_main!(benches);
