//! Semantic 1: never more than `max_size` connections exist, counting the ones being opened.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Gate, Gated};
use netpool_core::Pool;

const TASKS: usize = 64;
const ROUNDS: usize = if cfg!(debug_assertions) { 200 } else { 2000 };

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storm_never_exceeds_max_size() {
    let manager = Gated::new();
    manager.set_connect(Gate::Slow); // widen the window between reserving and connecting
    let counts = manager.counts.clone();
    let pool = Pool::builder()
        .max_size(4)
        .wait_timeout(Some(Duration::from_secs(30)))
        .build(manager.clone())
        .unwrap();
    let held = Arc::new(AtomicUsize::new(0));
    let max_held = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (pool, held, max_held) = (pool.clone(), held.clone(), max_held.clone());
            tokio::spawn(async move {
                for i in 0..ROUNDS {
                    let mut conn = pool.get().await.expect("the storm is served");
                    let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                    max_held.fetch_max(now, Ordering::SeqCst);
                    assert!(pool.stats().connections <= 4);
                    tokio::task::yield_now().await;
                    // Some connections break, so slots are freed and reopened under load.
                    // (Only used ones: fresh ones breaking in a row would, rightly, start
                    // the connect backoff.)
                    let used = netpool_core::Pooled::meta(&conn).use_count > 1;
                    conn.broken = used && (t + i) % 17 == 0;
                    held.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(counts.max_alive() <= 4, "max alive {}", counts.max_alive());
    assert!(max_held.load(Ordering::SeqCst) <= 4);
    let stats = pool.stats();
    assert!(stats.connections <= 4);
    assert!(stats.closed_broken > 0, "the storm reopened connections");
    assert_eq!(stats.in_use, 0);
    assert_eq!(stats.waiting, 0);
    assert_eq!(counts.created() - counts.dropped(), stats.connections);
}

#[test]
fn blocking_threads_never_exceed_max_size() {
    let manager = Gated::new();
    let counts = manager.counts.clone();
    let pool = Pool::builder().max_size(3).build(manager).unwrap();
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    let conn = pool.get_blocking().expect("served");
                    assert!(pool.stats().connections <= 3);
                    drop(conn);
                }
            });
        }
    });
    assert!(counts.max_alive() <= 3);
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn add_respects_max_size() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(1).build(manager.clone()).unwrap();
    let conn = pool.try_get().unwrap();
    // The pool is full: an extra connection is given back.
    let extra = futures_lite::future::block_on(netpool_core::Manager::connect(&manager)).unwrap();
    let extra = pool.add(extra).expect_err("full");
    drop(conn);
    drop(extra);
    assert_eq!(pool.stats().connections, 1);
}
