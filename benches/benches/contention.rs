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
//! Quick run: `cargo bench -p netpool-benches --bench contention -- --warm-up-time 1
//! --measurement-time 2`.

mod common;

use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Barrier};

use common::{Meter, Sample, bench, claim, group, share};
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

/// Runs `tasks` tokio tasks that together complete `iters` cycles, claimed from a shared
/// counter; `$cycle` is one cycle with the task's pool clone bound to `$p`.
macro_rules! tasks {
    ($rt:expr, $iters:expr, $tasks:expr, $pool:expr, |$p:ident| $cycle:expr) => {{
        let iters: u64 = $iters;
        let counter = Arc::new(AtomicU64::new(0));
        $rt.block_on(async {
            let meter = Meter::start();
            let handles: Vec<_> = (0..$tasks)
                .map(|_| {
                    let $p = $pool.clone();
                    let counter = counter.clone();
                    tokio::spawn(async move {
                        let mut done = 0;
                        loop {
                            let n = claim(&counter, iters);
                            if n == 0 {
                                break done;
                            }
                            for _ in 0..n {
                                $cycle;
                            }
                            done += n;
                        }
                    })
                })
                .collect();
            let mut per_task = Vec::with_capacity($tasks);
            for handle in handles {
                per_task.push(handle.await.expect("task"));
            }
            meter.stop(iters, per_task)
        })
    }};
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

fn fill_deadpool(rt: &Runtime, pool: &deadpool::managed::Pool<common::DeadMem>, max_size: usize) {
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..max_size {
            held.push(pool.get().await.expect("connection"));
        }
    });
}

fn fill_bb8(rt: &Runtime, pool: &bb8::Pool<common::Bb8Mem>, max_size: usize) {
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
    let param = format!("{S2_TASKS}x{S2_SIZE}");
    let mut g = group(c, "s2_contended");

    let pool = common::netpool_bare(S2_SIZE);
    fill_netpool(&pool, S2_SIZE);
    bench(&mut g, "netpool-tokio", &param, |iters| {
        tasks!(rt, iters, S2_TASKS, pool, |p| {
            let conn = p.get().await.expect("connection");
            tokio::task::yield_now().await;
            drop(black_box(conn));
        })
    });
    drop(pool);

    let pool = common::netpool_defaults(S2_SIZE);
    fill_netpool(&pool, S2_SIZE);
    bench(&mut g, "netpool-tokio-defaults", &param, |iters| {
        tasks!(rt, iters, S2_TASKS, pool, |p| {
            let conn = p.get().await.expect("connection");
            tokio::task::yield_now().await;
            drop(black_box(conn));
        })
    });
    drop(pool);

    let pool = common::deadpool(S2_SIZE);
    fill_deadpool(&rt, &pool, S2_SIZE);
    bench(&mut g, "deadpool", &param, |iters| {
        tasks!(rt, iters, S2_TASKS, pool, |p| {
            let conn = p.get().await.expect("connection");
            tokio::task::yield_now().await;
            drop(black_box(conn));
        })
    });
    drop(pool);

    let pool = rt.block_on(common::bb8(S2_SIZE));
    fill_bb8(&rt, &pool, S2_SIZE);
    bench(&mut g, "bb8", &param, |iters| {
        tasks!(rt, iters, S2_TASKS, pool, |p| {
            let conn = p.get().await.expect("connection");
            tokio::task::yield_now().await;
            drop(black_box(conn));
        })
    });
    drop(pool);

    let pool = rt.block_on(async { common::mobc(S2_SIZE) });
    fill_mobc(&rt, &pool, S2_SIZE);
    bench(&mut g, "mobc", &param, |iters| {
        tasks!(rt, iters, S2_TASKS, pool, |p| {
            let conn = p.get().await.expect("connection");
            tokio::task::yield_now().await;
            drop(black_box(conn));
        })
    });
    drop(pool);

    // Floor: the same tasks yielding once per cycle, without a pool.
    bench(&mut g, "floor-yield", &param, |iters| {
        tasks!(rt, iters, S2_TASKS, (), |_unit| {
            tokio::task::yield_now().await;
        })
    });
    g.finish();
}

fn s2_blocking(c: &mut Criterion) {
    let param = format!("{S2_TASKS}x{S2_SIZE}");
    let mut g = group(c, "s2_blocking");
    let pool = common::netpool_bare(S2_SIZE);
    fill_netpool(&pool, S2_SIZE);
    bench(&mut g, "netpool-get_blocking", &param, |iters| {
        threads(iters, S2_TASKS, true, || {
            let conn = pool.get_blocking().expect("connection");
            std::thread::yield_now();
            drop(black_box(conn));
        })
    });
    drop(pool);

    let pool = common::r2d2(S2_SIZE);
    bench(&mut g, "r2d2", &param, |iters| {
        threads(iters, S2_TASKS, true, || {
            let conn = pool.get().expect("connection");
            std::thread::yield_now();
            drop(black_box(conn));
        })
    });
    drop(pool);
    g.finish();
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
            let mut per_task = Vec::with_capacity($tasks);
            for handle in handles {
                per_task.push(handle.await.expect("task"));
            }
            meter.stop(iters, per_task)
        })
    }};
}

fn s3(c: &mut Criterion) {
    let rt = multi_thread(2);
    let param = format!("{S3_TASKS}x{S3_SIZE}");
    let mut g = group(c, "s3_two_cores");

    let pool = common::netpool_bare(S3_SIZE);
    fill_netpool(&pool, S3_SIZE);
    bench(&mut g, "netpool-tokio", &param, |iters| {
        split_tasks!(rt, iters, S3_TASKS, pool, |p| {
            drop(black_box(p.get().await.expect("connection")));
        })
    });
    bench(&mut g, "netpool-get_blocking", &param, |iters| {
        threads(iters, S3_TASKS, false, || {
            drop(black_box(pool.get_blocking().expect("connection")));
        })
    });
    drop(pool);

    let pool = common::deadpool(S3_SIZE);
    fill_deadpool(&rt, &pool, S3_SIZE);
    bench(&mut g, "deadpool", &param, |iters| {
        split_tasks!(rt, iters, S3_TASKS, pool, |p| {
            drop(black_box(p.get().await.expect("connection")));
        })
    });
    drop(pool);

    let pool = rt.block_on(common::bb8(S3_SIZE));
    fill_bb8(&rt, &pool, S3_SIZE);
    bench(&mut g, "bb8", &param, |iters| {
        split_tasks!(rt, iters, S3_TASKS, pool, |p| {
            drop(black_box(p.get().await.expect("connection")));
        })
    });
    drop(pool);

    let pool = common::r2d2(S3_SIZE);
    bench(&mut g, "r2d2", &param, |iters| {
        threads(iters, S3_TASKS, false, || {
            drop(black_box(pool.get().expect("connection")));
        })
    });
    drop(pool);

    let queue = ConcurrentQueue::bounded(S3_SIZE);
    for i in 0..S3_SIZE as u64 {
        queue.push(i).expect("room");
    }
    bench(&mut g, "floor-concurrent_queue", &param, |iters| {
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
    });
    g.finish();
}

criterion_group!(benches, s2, s2_blocking, s3);
criterion_main!(benches);
