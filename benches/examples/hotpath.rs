//! A fixed number of get+return cycles, for `valgrind --tool=callgrind` (repeatable
//! instruction counts) or `perf`: `hotpath <mode> <cycles>`.
//!
//! Modes: `block_on`, `block_on-leak` and `get_blocking-leak` (leak detection on), `keyed` (a `KeyedPool` with one key, under `block_on`), `get_blocking`, `try_get`, `tokio`, `tokio-timeouts`, `tokio-leak`,
//! `tokio-defaults`, `deadpool`, `sketch` (the event-listener + ConcurrentQueue floor under `block_on`), `queue`
//! (the ConcurrentQueue floor), `queue-rmw5` (the
//! floor plus five atomic read-modify-writes), and `s2` (64 tasks
//! on a current-thread runtime sharing a pool of 8, yielding while holding: the waiting
//! path, deterministic under callgrind), `s2-notimeout` (the same with `wait_timeout(None)`:
//! no timer per wait), `s2-mutex` (the same with the naive pool: a tokio
//! `Semaphore` and a `Mutex<Vec<_>>`), and `s2b` / `s2b-r2d2` (S2 blocking: 64 threads
//! sharing a pool of 8, netpool's `get_blocking` or r2d2, for
//! `perf stat -e context-switches`).
//!
//! Run twice with different cycle counts and subtract to remove the set-up:
//! `valgrind --tool=callgrind target/release/examples/hotpath block_on 100000`.

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;

/// S2 on `$rt`: 64 tasks share `$pool` for `$cycles` cycles in all, each a get
/// (`$get`, with the task's clone of the pool as `$p`), a yield while holding, a return.
macro_rules! s2_tasks {
    ($rt:expr, $pool:expr, $cycles:expr, |$p:ident| $get:expr) => {{
        let per_task = $cycles / 64;
        $rt.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let $p = $pool.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            let conn = $get;
                            tokio::task::yield_now().await;
                            drop(black_box(conn));
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
        });
    }};
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "block_on".to_owned());
    let cycles: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    // `HOTPATH_WORKERS=2`: the S2 modes on a multi-thread runtime with that many workers
    // (as the `contention` bench runs them) instead of the current thread.
    let workers: usize = std::env::var("HOTPATH_WORKERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let rt = if workers > 0 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let fill = |pool: &netpool_core::Pool<common::Mem>, n: usize| {
        let held: Vec<_> = (0..n)
            .map(|_| pool.get_blocking().expect("connection"))
            .collect();
        drop(held);
    };
    match mode.as_str() {
        "block_on" => {
            let pool = common::netpool_bare(16);
            fill(&pool, 16);
            futures_lite::future::block_on(async {
                for _ in 0..cycles {
                    drop(black_box(pool.get().await.expect("idle")));
                }
            });
        }
        "keyed" => {
            let pool = netpool_core::KeyedPool::builder()
                .max_size(16)
                .idle_timeout(None)
                .max_lifetime(None)
                .test_on_check_out(false)
                .build(|_: &String| common::Mem)
                .expect("valid config");
            let key = "127.0.0.1:7000".to_owned();
            let held: Vec<_> = (0..16)
                .map(|_| pool.get_blocking(&key).expect("connection"))
                .collect();
            drop(held);
            futures_lite::future::block_on(async {
                for _ in 0..cycles {
                    drop(black_box(pool.get(&key).await.expect("idle")));
                }
            });
        }
        "block_on-leak" => {
            let pool = common::netpool_leak(16);
            fill(&pool, 16);
            futures_lite::future::block_on(async {
                for _ in 0..cycles {
                    drop(black_box(pool.get().await.expect("idle")));
                }
            });
        }
        "get_blocking-leak" => {
            let pool = common::netpool_leak(16);
            fill(&pool, 16);
            for _ in 0..cycles {
                drop(black_box(pool.get_blocking().expect("idle")));
            }
        }
        "get_blocking" => {
            let pool = common::netpool_bare(16);
            fill(&pool, 16);
            for _ in 0..cycles {
                drop(black_box(pool.get_blocking().expect("idle")));
            }
        }
        "try_get" => {
            let pool = common::netpool_bare(16);
            fill(&pool, 16);
            for _ in 0..cycles {
                drop(black_box(pool.try_get().expect("idle")));
            }
        }
        "tokio" | "tokio-timeouts" | "tokio-defaults" | "tokio-leak" => {
            let pool = match mode.as_str() {
                "tokio" => common::netpool_bare(16),
                "tokio-timeouts" => common::netpool_timeouts(16),
                "tokio-leak" => common::netpool_leak(16),
                _ => common::netpool_defaults(16),
            };
            fill(&pool, 16);
            rt.block_on(async {
                for _ in 0..cycles {
                    drop(black_box(pool.get().await.expect("idle")));
                }
            });
        }
        "deadpool" => {
            let pool = common::deadpool(16);
            rt.block_on(async {
                for _ in 0..cycles {
                    drop(black_box(pool.get().await.expect("idle")));
                }
            });
        }
        "queue" => {
            let queue = concurrent_queue::ConcurrentQueue::bounded(16);
            for i in 0..16u64 {
                queue.push(i).expect("room");
            }
            for _ in 0..cycles {
                let item = queue.pop().expect("item");
                queue.push(black_box(item)).expect("room");
            }
        }
        "sketch" => {
            let pool = common::Sketch::new(16);
            futures_lite::future::block_on(async {
                for _ in 0..cycles {
                    drop(black_box(pool.get().await));
                }
            });
        }
        "queue-rmw5" => {
            // The floor plus five uncontended atomic read-modify-writes per cycle, as many
            // as netpool's hot path makes beyond the queue's own two.
            let queue = concurrent_queue::ConcurrentQueue::bounded(16);
            for i in 0..16u64 {
                queue.push(i).expect("room");
            }
            let counters: Vec<_> = (0..5)
                .map(|_| crossbeam_utils::CachePadded::new(std::sync::atomic::AtomicU64::new(0)))
                .collect();
            for _ in 0..cycles {
                let item = queue.pop().expect("item");
                for c in &counters {
                    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                queue.push(black_box(item)).expect("room");
            }
        }
        "s2-mutex" => {
            let pool = rt.block_on(common::MutexPool::open(common::Mem, 8));
            s2_tasks!(rt, pool, cycles, |pool| pool.get().await);
        }
        "s2" | "s2-notimeout" => {
            let mut builder = common::bare_builder(8);
            if mode == "s2-notimeout" {
                builder = builder.wait_timeout(None);
            }
            let pool = builder.build(common::Mem).expect("valid config");
            fill(&pool, 8);
            s2_tasks!(rt, pool, cycles, |pool| pool
                .get()
                .await
                .expect("connection"));
        }
        // S2 blocking: 64 threads on a pool of 8, yielding while they hold a connection;
        // for counting context switches (`perf stat -e context-switches`) per cycle.
        "s2b" => {
            let pool = common::netpool_bare(8);
            fill(&pool, 8);
            s2_threads(cycles, || {
                let conn = pool.get_blocking().expect("connection");
                std::thread::yield_now();
                drop(black_box(conn));
            });
        }
        "s2b-r2d2" => {
            let pool = common::r2d2(8);
            s2_threads(cycles, || {
                let conn = pool.get().expect("connection");
                std::thread::yield_now();
                drop(black_box(conn));
            });
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}

/// Runs `cycles` calls of `cycle` over 64 threads, an equal share each.
fn s2_threads(cycles: u64, cycle: impl Fn() + Sync) {
    let per_thread = cycles / 64;
    std::thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| {
                for _ in 0..per_thread {
                    cycle();
                }
            });
        }
    });
}
