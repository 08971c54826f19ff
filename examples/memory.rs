//! Drives a netpool-core pool with an in-memory manager (`netpool_examples::memory::Mem`)
//! from many tasks, then prints the pool's stats. No network, no setup:
//!
//! ```text
//! cargo run --release --example memory -- [tasks] [max_size] [seconds]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpool_core::Pool;
use netpool_examples::memory::Mem;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks = arg(1, 64);
    let max_size = arg(2, 8) as usize;
    let seconds = arg(3, 2);
    let pool = Pool::builder()
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(Mem::default())?; // a connection is a counter; it never breaks
    let ex = Arc::new(async_executor::Executor::new());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (pool, stop, done) = (pool.clone(), stop.clone(), done.clone());
            ex.spawn(async move {
                let mut mine = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut conn = pool.get().await.expect("the pool serves every task");
                    *conn += 1;
                    futures_lite::future::yield_now().await;
                    drop(conn);
                    mine += 1;
                }
                done.fetch_add(mine, Ordering::Relaxed);
                mine
            })
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ex = ex.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                futures_lite::future::block_on(ex.run(async {
                    while !stop.load(Ordering::Relaxed) {
                        futures_lite::future::yield_now().await;
                    }
                }))
            })
        })
        .collect();
    for s in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        println!("[{:>2}s] {:?}", s + 1, pool.stats());
    }
    stop.store(true, Ordering::Relaxed);
    let per_task: Vec<u64> = futures_lite::future::block_on(async {
        let mut per_task = Vec::with_capacity(handles.len());
        for h in handles {
            per_task.push(h.await);
        }
        per_task
    });
    for t in threads {
        let _ = t.join();
    }
    let total: u64 = per_task.iter().sum();
    let elapsed = started.elapsed().as_secs_f64();
    let (min, max) = (
        per_task.iter().copied().min().unwrap_or(0),
        per_task.iter().copied().max().unwrap_or(0),
    );
    println!(
        "{tasks} tasks, pool of {max_size}: {total} get+drop in {elapsed:.2} s = {:.0}/s, \
         fairness min/max = {:.2}",
        total as f64 / elapsed,
        min as f64 / max.max(1) as f64
    );
    println!("{:#?}", pool.stats());
    Ok(())
}
