//! Runtime-agnosticism, shown: one test body runs under tokio, smol, the futures crate's
//! executor and a bare `block_on`, and the blocking API runs from plain threads.

mod common;

use std::time::Duration;

use common::{Gate, Gated};
use netpool_core::Pool;

const TASKS: usize = 16;
const ROUNDS: usize = 100;

fn pool() -> Pool<Gated> {
    let manager = Gated::new();
    manager.set_connect(Gate::Slow);
    Pool::builder()
        .max_size(3)
        .wait_timeout(Some(Duration::from_secs(10)))
        .build(manager)
        .unwrap()
}

/// Many getters contend for 3 connections; then a timed wait times out.
async fn body(
    pool: Pool<Gated>,
    spawn: impl Fn(futures_lite::future::Boxed<()>) -> futures_lite::future::Boxed<()>,
) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let pool = pool.clone();
            spawn(Box::pin(async move {
                for _ in 0..ROUNDS {
                    let conn = pool.get().await.expect("served");
                    futures_lite::future::yield_now().await;
                    drop(conn);
                }
            }))
        })
        .collect();
    for t in tasks {
        t.await;
    }
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.get().await.expect("a free slot"));
    }
    let err = pool
        .get_timeout(Duration::from_millis(20))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "the timer works on this executor");
    drop(held);
    let stats = pool.stats();
    assert_eq!(stats.gets, (TASKS * ROUNDS + 4) as u64);
    assert_eq!(stats.gets_timed_out, 1);
    assert_eq!(stats.in_use, 0);
    assert!(stats.connections <= 3);
}

#[test]
fn under_tokio() {
    let rt = common::tokio_rt(2);
    rt.block_on(body(pool(), |f| {
        let handle = tokio::spawn(f);
        Box::pin(async move { handle.await.unwrap() })
    }));
}

#[test]
fn under_smol() {
    smol::block_on(body(pool(), |f| Box::pin(smol::spawn(f))));
}

#[test]
fn under_futures_executor() {
    let executor = futures::executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .unwrap();
    futures::executor::block_on(body(pool(), |f| {
        let (tx, rx) = futures::channel::oneshot::channel();
        executor.spawn_ok(async move {
            f.await;
            let _ = tx.send(());
        });
        Box::pin(async move { rx.await.unwrap() })
    }));
}

#[test]
fn under_bare_block_on() {
    // No executor at all: the tasks are joined in one future.
    futures_lite::future::block_on(body(pool(), |f| f));
}

#[test]
fn blocking_from_threads() {
    let pool = pool();
    std::thread::scope(|s| {
        for _ in 0..TASKS {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    drop(pool.get_blocking().expect("served"));
                }
            });
        }
    });
    let held: Vec<_> = (0..3).map(|_| pool.get_blocking().unwrap()).collect();
    assert!(
        pool.get_blocking_timeout(Duration::from_millis(20))
            .unwrap_err()
            .is_timeout()
    );
    drop(held);
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn async_and_blocking_share_one_pool() {
    let pool = pool();
    let rt = common::tokio_rt(2);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    drop(pool.get_blocking().expect("served"));
                }
            });
        }
        rt.block_on(common::each_task(4, |_| {
            let pool = pool.clone();
            async move {
                for _ in 0..ROUNDS {
                    drop(pool.get().await.expect("served"));
                }
            }
        }));
    });
    assert!(pool.stats().connections <= 3);
}
