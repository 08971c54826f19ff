//! `contention`: more callers than connections, or as many callers as cores.
//!
//! * S2 (`s2_contended`): 64 tokio tasks on 2 workers share a pool of 8; each cycle is a
//!   get, one `yield_now` while holding the connection, and a return. Fairness is the
//!   min/max of the cycles each task completed out of a shared total.
//! * S2 blocking (`s2_blocking`): 64 threads share a pool of 8, `thread::yield_now` while
//!   holding: netpool's `get_blocking` against r2d2.
//! * S3 (`s3_two_cores`): 2 tasks (or threads) on 2 cores share a pool of 2: the pool never
//!   waits, but every get and return touches state the other core just wrote.
//!
//! After criterion's pass, each group's runs alternate round by round in this process and
//! each one's median ratio to the reference (deadpool, or r2d2) and the floor is recorded
//! (see `common::run_group`).
//!
//! Quick run: `cargo bench -p netpool-benches --bench contention -- --warm-up-time 1
//! --measurement-time 2`.

mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::AtomicU64;

use common::{Meter, Run, Sample, claim, run_group, share};
use concurrent_queue::ConcurrentQueue;
use criterion::{Criterion, criterion_group, criterion_main};
use netpool_benches::alloc::CountingAlloc;
use tokio::runtime::Runtime;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn multi_thread(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `threads` threads that together complete `iters` cycles (claimed from a shared
/// counter when `shared`, else split evenly); timed from the moment all have started.
fn threads(iters: u64, threads: usize, shared: bool, cycle: impl Fn() + Sync) -> Sample {
    let counter = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (counter, barrier, cycle) = (&counter, &barrier, &cycle);
                s.spawn(move || {
                    barrier.wait();
                    if !shared {
                        for _ in 0..share(iters, threads, i) {
                            cycle();
                        }
                        return share(iters, threads, i);
                    }
                    let mut done = 0;
                    loop {
                        let n = claim(counter, iters);
                        if n == 0 {
                            break done;
                        }
                        for _ in 0..n {
                            cycle();
                        }
                        done += n;
                    }
                })
            })
            .collect();
        barrier.wait();
        let meter = Meter::start();
        let per_thread = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        meter.stop(iters, per_thread)
    })
}

/// Opens every connection of a netpool pool, then returns them all.
fn fill_netpool(pool: &netpool_core::Pool<common::Mem>, max_size: usize) {
    let held: Vec<_> = (0..max_size)
        .map(|_| pool.get_blocking().expect("connection"))
        .collect();
    drop(held);
}

fn fill_deadpool(
    rt: &Runtime,
    pool: &deadpool::managed::Pool<common::Dead<common::Mem>>,
    max_size: usize,
) {
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..max_size {
            held.push(pool.get().await.expect("connection"));
        }
    });
}

fn fill_bb8(rt: &Runtime, pool: &bb8::Pool<common::Bb8<common::Mem>>, max_size: usize) {
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..max_size {
            held.push(pool.get().await.expect("connection"));
        }
    });
}

fn fill_mobc(rt: &Runtime, pool: &mobc::Pool<common::MobcMem>, max_size: usize) {
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..max_size {
            held.push(pool.get().await.expect("connection"));
        }
    });
}

const S2_TASKS: usize = 64;
const S2_SIZE: usize = 8;

fn s2(c: &mut Criterion) {
    let rt = multi_thread(2);
    let param = || format!("{S2_TASKS}x{S2_SIZE}");
    let bare = common::netpool_bare(S2_SIZE);
    fill_netpool(&bare, S2_SIZE);
    let defaults = common::netpool_defaults(S2_SIZE);
    fill_netpool(&defaults, S2_SIZE);
    let deadpool = common::deadpool(S2_SIZE);
    fill_deadpool(&rt, &deadpool, S2_SIZE);
    let bb8 = rt.block_on(common::bb8(S2_SIZE));
    fill_bb8(&rt, &bb8, S2_SIZE);
    let mobc = rt.block_on(async { common::mobc(S2_SIZE) });
    fill_mobc(&rt, &mobc, S2_SIZE);

    let rt = &rt;
    let (bare, defaults, deadpool, bb8, mobc) = (&bare, &defaults, &deadpool, &bb8, &mobc);
    macro_rules! s2_run {
        ($pool:expr) => {
            Box::new(move |iters| {
                common::tasks!(rt, iters, S2_TASKS, $pool, |p| {
                    let conn = p.get().await.expect("connection");
                    tokio::task::yield_now().await;
                    drop(black_box(conn));
                })
            })
        };
    }
    let mut runs: Vec<Run<'_>> = vec![
        ("netpool-tokio", param(), s2_run!(bare)),
        ("netpool-tokio-defaults", param(), s2_run!(defaults)),
        ("deadpool", param(), s2_run!(deadpool)),
        ("bb8", param(), s2_run!(bb8)),
        ("mobc", param(), s2_run!(mobc)),
        // Floor: the same tasks yielding once per cycle, without a pool.
        (
            "floor-yield",
            param(),
            Box::new(move |iters| {
                common::tasks!(rt, iters, S2_TASKS, (), |_unit| {
                    tokio::task::yield_now().await;
                })
            }),
        ),
    ];
    run_group(
        c,
        "s2_contended",
        &mut runs,
        &["deadpool", "floor-yield"],
        64_000,
        10,
    );
}

fn s2_blocking(c: &mut Criterion) {
    let param = || format!("{S2_TASKS}x{S2_SIZE}");
    let netpool = common::netpool_bare(S2_SIZE);
    fill_netpool(&netpool, S2_SIZE);
    let r2d2 = common::r2d2(S2_SIZE);
    let (netpool, r2d2) = (&netpool, &r2d2);
    let mut runs: Vec<Run<'_>> = vec![
        (
            "netpool-get_blocking",
            param(),
            Box::new(move |iters| {
                threads(iters, S2_TASKS, true, || {
                    let conn = netpool.get_blocking().expect("connection");
                    std::thread::yield_now();
                    drop(black_box(conn));
                })
            }),
        ),
        (
            "r2d2",
            param(),
            Box::new(move |iters| {
                threads(iters, S2_TASKS, true, || {
                    let conn = r2d2.get().expect("connection");
                    std::thread::yield_now();
                    drop(black_box(conn));
                })
            }),
        ),
    ];
    // 64,000 cycles a round (1,000 per thread): with 8,000 the start and end of a round
    // (64 threads released by a barrier, the last ones finishing alone) were a large
    // enough share to pull both pools' ratio toward 1 (0.90 against 0.86 at 64,000, the
    // same build).
    run_group(c, "s2_blocking", &mut runs, &["r2d2"], 64_000, 10);
}

const S3_TASKS: usize = 2;
const S3_SIZE: usize = 2;

/// Runs `tasks` tokio tasks that complete `iters` cycles between them, split evenly.
macro_rules! split_tasks {
    ($rt:expr, $iters:expr, $tasks:expr, $pool:expr, |$p:ident| $cycle:expr) => {{
        let iters: u64 = $iters;
        $rt.block_on(async {
            let meter = Meter::start();
            let handles: Vec<_> = (0..$tasks)
                .map(|i| {
                    let $p = $pool.clone();
                    tokio::spawn(async move {
                        let n = share(iters, $tasks, i);
                        for _ in 0..n {
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

fn s3(c: &mut Criterion) {
    let rt = multi_thread(2);
    let param = || format!("{S3_TASKS}x{S3_SIZE}");
    let netpool = common::netpool_bare(S3_SIZE);
    fill_netpool(&netpool, S3_SIZE);
    let deadpool = common::deadpool(S3_SIZE);
    fill_deadpool(&rt, &deadpool, S3_SIZE);
    let bb8 = rt.block_on(common::bb8(S3_SIZE));
    fill_bb8(&rt, &bb8, S3_SIZE);
    let r2d2 = common::r2d2(S3_SIZE);
    let queue = ConcurrentQueue::bounded(S3_SIZE);
    for i in 0..S3_SIZE as u64 {
        queue.push(i).expect("room");
    }

    let rt = &rt;
    let (netpool, deadpool, bb8, r2d2, queue) = (&netpool, &deadpool, &bb8, &r2d2, &queue);
    macro_rules! s3_run {
        ($pool:expr) => {
            Box::new(move |iters| {
                split_tasks!(rt, iters, S3_TASKS, $pool, |p| {
                    drop(black_box(p.get().await.expect("connection")));
                })
            })
        };
    }
    let mut runs: Vec<Run<'_>> = vec![
        ("netpool-tokio", param(), s3_run!(netpool)),
        (
            "netpool-get_blocking",
            param(),
            Box::new(move |iters| {
                threads(iters, S3_TASKS, false, || {
                    drop(black_box(netpool.get_blocking().expect("connection")));
                })
            }),
        ),
        ("deadpool", param(), s3_run!(deadpool)),
        ("bb8", param(), s3_run!(bb8)),
        (
            "r2d2",
            param(),
            Box::new(move |iters| {
                threads(iters, S3_TASKS, false, || {
                    drop(black_box(r2d2.get().expect("connection")));
                })
            }),
        ),
        (
            "floor-concurrent_queue",
            param(),
            Box::new(move |iters| {
                threads(iters, S3_TASKS, false, || {
                    // With as many items as threads, a pop can only fail for a moment.
                    let item = loop {
                        if let Ok(item) = queue.pop() {
                            break item;
                        }
                        std::hint::spin_loop();
                    };
                    queue.push(black_box(item)).expect("room");
                })
            }),
        ),
    ];
    run_group(
        c,
        "s3_two_cores",
        &mut runs,
        &["deadpool", "floor-concurrent_queue"],
        200_000,
        10,
    );
}

criterion_group!(benches, s2, s2_blocking, s3);
criterion_main!(benches);
