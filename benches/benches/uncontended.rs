//! S1, `uncontended`: one task, a pool of 16 pre-filled connections, so an idle one is
//! always free. The time of one get + return, for netpool on every executor and API, for
//! the peers, and for two floors (a bare queue pop+push, a `Mutex<Vec>` pop+push).
//!
//! Quick run: `cargo bench -p netpool-benches --bench uncontended -- --warm-up-time 1
//! --measurement-time 2`.

mod common;

use std::hint::black_box;
use std::sync::Mutex;

use common::{Meter, bench, group};
use concurrent_queue::ConcurrentQueue;
use criterion::{Criterion, criterion_group, criterion_main};
use netpool_benches::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const MAX_SIZE: usize = 16;
const PARAM: &str = "1x16";

/// Opens all `MAX_SIZE` connections of a netpool pool, then returns them.
fn fill_netpool(pool: &netpool_core::Pool<common::Mem>) {
    let held: Vec<_> = (0..MAX_SIZE)
        .map(|_| pool.get_blocking().expect("connection"))
        .collect();
    drop(held);
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One netpool pool timed with `get().await` on a tokio current-thread runtime.
fn netpool_on_tokio(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    pool: &netpool_core::Pool<common::Mem>,
) {
    fill_netpool(pool);
    bench(c, name, PARAM, |iters| {
        rt.block_on(async {
            let meter = Meter::start();
            for _ in 0..iters {
                drop(black_box(pool.get().await.expect("idle connection")));
            }
            meter.stop(iters, Vec::new())
        })
    });
}

fn s1(c: &mut Criterion) {
    let rt = tokio_rt();
    let mut g = group(c, "s1_uncontended");

    // netpool, nothing time-based, on each executor and API.
    let pool = common::netpool_bare(MAX_SIZE);
    netpool_on_tokio(&mut g, &rt, "netpool-tokio", &pool);
    let ex = async_executor::Executor::new();
    bench(&mut g, "netpool-smol", PARAM, |iters| {
        let pool = pool.clone();
        let task = ex.spawn(async move {
            let meter = Meter::start();
            for _ in 0..iters {
                drop(black_box(pool.get().await.expect("idle connection")));
            }
            meter.stop(iters, Vec::new())
        });
        futures_lite::future::block_on(ex.run(task))
    });
    bench(&mut g, "netpool-block_on", PARAM, |iters| {
        futures_lite::future::block_on(async {
            let meter = Meter::start();
            for _ in 0..iters {
                drop(black_box(pool.get().await.expect("idle connection")));
            }
            meter.stop(iters, Vec::new())
        })
    });
    bench(&mut g, "netpool-get_blocking", PARAM, |iters| {
        let meter = Meter::start();
        for _ in 0..iters {
            drop(black_box(pool.get_blocking().expect("idle connection")));
        }
        meter.stop(iters, Vec::new())
    });
    bench(&mut g, "netpool-try_get", PARAM, |iters| {
        let meter = Meter::start();
        for _ in 0..iters {
            drop(black_box(pool.try_get().expect("idle connection")));
        }
        meter.stop(iters, Vec::new())
    });
    drop(pool);

    // netpool with idle timeout + max lifetime on, and with every default.
    let pool = common::netpool_timeouts(MAX_SIZE);
    netpool_on_tokio(&mut g, &rt, "netpool-tokio-timeouts", &pool);
    drop(pool);
    let pool = common::netpool_defaults(MAX_SIZE);
    netpool_on_tokio(&mut g, &rt, "netpool-tokio-defaults", &pool);
    drop(pool);

    // The peers, each with its defaults.
    let pool = common::deadpool(MAX_SIZE);
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..MAX_SIZE {
            held.push(pool.get().await.expect("connection"));
        }
    });
    bench(&mut g, "deadpool", PARAM, |iters| {
        rt.block_on(async {
            let meter = Meter::start();
            for _ in 0..iters {
                drop(black_box(pool.get().await.expect("idle connection")));
            }
            meter.stop(iters, Vec::new())
        })
    });
    drop(pool);

    let pool = rt.block_on(common::bb8(MAX_SIZE));
    rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..MAX_SIZE {
            held.push(pool.get().await.expect("connection"));
        }
    });
    bench(&mut g, "bb8", PARAM, |iters| {
        rt.block_on(async {
            let meter = Meter::start();
            for _ in 0..iters {
                drop(black_box(pool.get().await.expect("idle connection")));
            }
            meter.stop(iters, Vec::new())
        })
    });
    drop(pool);

    let pool = common::r2d2(MAX_SIZE);
    drop(
        (0..MAX_SIZE)
            .map(|_| pool.get().expect("connection"))
            .collect::<Vec<_>>(),
    );
    bench(&mut g, "r2d2", PARAM, |iters| {
        let meter = Meter::start();
        for _ in 0..iters {
            drop(black_box(pool.get().expect("idle connection")));
        }
        meter.stop(iters, Vec::new())
    });
    drop(pool);

    let pool = rt.block_on(async {
        let pool = common::mobc(MAX_SIZE);
        let mut held = Vec::new();
        for _ in 0..MAX_SIZE {
            held.push(pool.get().await.expect("connection"));
        }
        drop(held);
        pool
    });
    bench(&mut g, "mobc", PARAM, |iters| {
        rt.block_on(async {
            let meter = Meter::start();
            for _ in 0..iters {
                drop(black_box(pool.get().await.expect("idle connection")));
            }
            meter.stop(iters, Vec::new())
        })
    });
    drop(pool);

    // Floors: what a pool cannot beat.
    let queue = ConcurrentQueue::bounded(MAX_SIZE);
    for i in 0..MAX_SIZE as u64 {
        queue.push(i).expect("room");
    }
    bench(&mut g, "floor-concurrent_queue", PARAM, |iters| {
        let meter = Meter::start();
        for _ in 0..iters {
            let conn = queue.pop().expect("item");
            queue.push(black_box(conn)).expect("room");
        }
        meter.stop(iters, Vec::new())
    });
    let stack = Mutex::new((0..MAX_SIZE as u64).collect::<Vec<_>>());
    bench(&mut g, "floor-mutex_vec", PARAM, |iters| {
        let meter = Meter::start();
        for _ in 0..iters {
            let conn = stack.lock().expect("lock").pop().expect("item");
            stack.lock().expect("lock").push(black_box(conn));
        }
        meter.stop(iters, Vec::new())
    });
    g.finish();
}

criterion_group!(benches, s1);
criterion_main!(benches);
