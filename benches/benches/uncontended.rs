//! S1, `uncontended`: one task, a pool of 16 pre-filled connections, so an idle one is
//! always free. The time of one get + return, for netpool on every executor and API, for
//! the peers, and for three floors: `floor-sketch` (an event-listener + ConcurrentQueue pool
//! with no accounting, under `block_on`), a bare queue pop+push, a `Mutex<Vec>` pop+push.
//!
//! After criterion's pass, the same runs alternate round by round in this process and
//! each one's median ratio to deadpool and to the queue floor is recorded (see
//! `common::run_group`).
//!
//! Quick run: `cargo bench -p netpool-benches --bench uncontended -- --warm-up-time 1
//! --measurement-time 2`.

mod common;

use std::hint::black_box;
use std::sync::Mutex;

use common::{Meter, Run, run_group};
use concurrent_queue::ConcurrentQueue;
use criterion::{Criterion, criterion_group, criterion_main};
use netpool_benches::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MAX_SIZE: usize = 16;
const PARAM: &str = "1x16";
/// Cycles per run, and rounds, of the interleaved comparison.
const INTERLEAVED_CYCLES: u64 = 100_000;
const INTERLEAVED_ROUNDS: usize = 10;

/// Opens all `MAX_SIZE` connections of a netpool pool, then returns them.
fn fill_netpool(pool: &netpool_core::Pool<common::Mem>) {
    let held: Vec<_> = (0..MAX_SIZE)
        .map(|_| pool.get_blocking().expect("connection"))
        .collect();
    drop(held);
}

/// `get().await` + drop of a pool with a `get` returning `Result`, `iters` times, on `rt`.
macro_rules! async_loop {
    ($rt:expr, $pool:expr) => {
        move |iters| {
            $rt.block_on(async {
                let meter = Meter::start();
                for _ in 0..iters {
                    drop(black_box($pool.get().await.expect("idle connection")));
                }
                meter.stop(iters, Vec::new())
            })
        }
    };
}

fn s1(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ex = async_executor::Executor::new();

    let bare = common::netpool_bare(MAX_SIZE);
    let timeouts = common::netpool_timeouts(MAX_SIZE);
    let defaults = common::netpool_defaults(MAX_SIZE);
    let leak = common::netpool_leak(MAX_SIZE);
    for pool in [&bare, &timeouts, &defaults, &leak] {
        fill_netpool(pool);
    }
    let deadpool = common::deadpool(MAX_SIZE);
    let bb8 = rt.block_on(common::bb8(MAX_SIZE));
    let mobc = rt.block_on(async { common::mobc(MAX_SIZE) });
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..MAX_SIZE {
            held.push(deadpool.get().await.expect("connection"));
        }
        drop(held);
        let mut held = Vec::new();
        for _ in 0..MAX_SIZE {
            held.push(bb8.get().await.expect("connection"));
        }
        drop(held);
        let mut held = Vec::new();
        for _ in 0..MAX_SIZE {
            held.push(mobc.get().await.expect("connection"));
        }
    });
    // r2d2 opens min_idle = max_size connections at build.
    let r2d2 = common::r2d2(MAX_SIZE);
    let queue = ConcurrentQueue::bounded(MAX_SIZE);
    for i in 0..MAX_SIZE as u64 {
        queue.push(i).expect("room");
    }
    let stack = Mutex::new((0..MAX_SIZE as u64).collect::<Vec<_>>());
    let sketch = common::Sketch::new(MAX_SIZE);
    let sketch = &sketch;

    let (rt, ex, bare, timeouts, defaults, leak) = (&rt, &ex, &bare, &timeouts, &defaults, &leak);
    let (deadpool, bb8, mobc, r2d2, queue, stack) = (&deadpool, &bb8, &mobc, &r2d2, &queue, &stack);
    let p = || PARAM.to_owned();
    let mut runs: Vec<Run<'_>> = vec![
        // netpool, nothing time-based, on each executor and API.
        ("netpool-tokio", p(), Box::new(async_loop!(rt, bare))),
        (
            "netpool-smol",
            p(),
            Box::new(move |iters| {
                let pool = bare.clone();
                let task = ex.spawn(async move {
                    let meter = Meter::start();
                    for _ in 0..iters {
                        drop(black_box(pool.get().await.expect("idle connection")));
                    }
                    meter.stop(iters, Vec::new())
                });
                futures_lite::future::block_on(ex.run(task))
            }),
        ),
        (
            "netpool-block_on",
            p(),
            Box::new(common::block_on_loop!(
                bare.get().await.expect("idle connection")
            )),
        ),
        (
            "netpool-get_blocking",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    drop(black_box(bare.get_blocking().expect("idle connection")));
                }
                meter.stop(iters, Vec::new())
            }),
        ),
        (
            "netpool-try_get",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    drop(black_box(bare.try_get().expect("idle connection")));
                }
                meter.stop(iters, Vec::new())
            }),
        ),
        // Leak detection on (holders tracked): against the same runs without.
        ("netpool-tokio-leak", p(), Box::new(async_loop!(rt, leak))),
        (
            "netpool-block_on-leak",
            p(),
            Box::new(common::block_on_loop!(
                leak.get().await.expect("idle connection")
            )),
        ),
        (
            "netpool-get_blocking-leak",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    drop(black_box(leak.get_blocking().expect("idle connection")));
                }
                meter.stop(iters, Vec::new())
            }),
        ),
        // Idle timeout + max lifetime on; and every default.
        (
            "netpool-tokio-timeouts",
            p(),
            Box::new(async_loop!(rt, timeouts)),
        ),
        (
            "netpool-tokio-defaults",
            p(),
            Box::new(async_loop!(rt, defaults)),
        ),
        // The peers, each with its defaults.
        ("deadpool", p(), Box::new(async_loop!(rt, deadpool))),
        ("bb8", p(), Box::new(async_loop!(rt, bb8))),
        (
            "r2d2",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    drop(black_box(r2d2.get().expect("idle connection")));
                }
                meter.stop(iters, Vec::new())
            }),
        ),
        ("mobc", p(), Box::new(async_loop!(rt, mobc))),
        // Floors: what a pool cannot beat.
        (
            "floor-sketch",
            p(),
            Box::new(common::block_on_loop!(sketch.get().await)),
        ),
        (
            "floor-concurrent_queue",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    let conn = queue.pop().expect("item");
                    queue.push(black_box(conn)).expect("room");
                }
                meter.stop(iters, Vec::new())
            }),
        ),
        (
            "floor-mutex_vec",
            p(),
            Box::new(move |iters| {
                let meter = Meter::start();
                for _ in 0..iters {
                    let conn = stack.lock().expect("lock").pop().expect("item");
                    stack.lock().expect("lock").push(black_box(conn));
                }
                meter.stop(iters, Vec::new())
            }),
        ),
    ];
    run_group(
        c,
        "s1_uncontended",
        &mut runs,
        &[
            "deadpool",
            "floor-sketch",
            "floor-concurrent_queue",
            "netpool-tokio",
            "netpool-block_on",
            "netpool-get_blocking",
        ],
        INTERLEAVED_CYCLES,
        INTERLEAVED_ROUNDS,
    );
}

criterion_group!(benches, s1);
criterion_main!(benches);
