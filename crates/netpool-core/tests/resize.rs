//! `resize` under concurrency: a bounded stress run of gets, holds, cancellations,
//! resizes and `retain`, then the pool must be whole.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netpool_core::{Manager, Pool};

/// A manager of in-memory connections; `Mem(true)` yields once in `connect` (an await
/// point to cancel at), `Mem(false)` connects at once (so `try_get` can open).
struct Mem(bool);

impl Manager for Mem {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        if self.0 {
            tokio::task::yield_now().await;
        }
        Ok(fastrand::u64(..))
    }
    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

/// 64 tasks get, hold and drop connections, some cancelled half way, while another task
/// resizes between 1 and 16 and retains at random. Bounded: 400 gets a task and 10 s in
/// all, whichever comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_and_retain_under_load_leave_the_pool_whole() {
    let pool = Pool::builder()
        .max_size(8)
        .wait_timeout(Some(Duration::from_secs(5)))
        .test_on_check_out(false)
        .build(Mem(true))
        .unwrap();
    let stop_at = Instant::now() + Duration::from_secs(10);
    let done = Arc::new(AtomicBool::new(false));

    let resizer = {
        let pool = pool.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut resizes = 0u32;
            while !done.load(Ordering::Relaxed) && Instant::now() < stop_at {
                pool.resize(fastrand::usize(1..=16));
                resizes += 1;
                if fastrand::u8(..4) == 0 {
                    pool.retain(|_, _| fastrand::bool());
                }
                tokio::time::sleep(Duration::from_micros(fastrand::u64(50..500))).await;
            }
            resizes
        })
    };

    let workers: Vec<_> = (0..64)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut served = 0u32;
                for _ in 0..400 {
                    if Instant::now() >= stop_at {
                        break;
                    }
                    let get = pool.get();
                    let conn = if fastrand::u8(..5) == 0 {
                        // Cancelled at a random point: dropped after a short time.
                        let limit = Duration::from_micros(fastrand::u64(10..300));
                        match tokio::time::timeout(limit, get).await {
                            Ok(conn) => conn,
                            Err(_) => continue,
                        }
                    } else {
                        get.await
                    };
                    let conn = conn.expect("a get under resize is served within 5 s");
                    served += 1;
                    if fastrand::bool() {
                        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..200))).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                    drop(conn);
                }
                served
            })
        })
        .collect();

    let mut served = 0;
    for w in workers {
        served += w.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let resizes = resizer.await.unwrap();
    assert!(served > 0 && resizes > 0, "the run did something");

    // At rest: nothing in use, nobody waiting, nothing above the cap.
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.waiting), (0, 0), "{stats:?}");
    assert_eq!(stats.connections, stats.idle, "{stats:?}");
    assert!(stats.connections <= stats.max_size, "{stats:?}");

    // The full max_size can be checked out, within a generous 2 s (only the slow,
    // loaded CI machine could make this take more than a few milliseconds).
    let max_size = stats.max_size;
    let mut held = Vec::new();
    for _ in 0..max_size {
        held.push(
            pool.get_timeout(Duration::from_secs(2))
                .await
                .expect("every permit can be checked out"),
        );
    }
    assert!(pool.try_get().is_err(), "no more than max_size");

    // No waiter stays pending while a permit is free: a waiter queued behind the full
    // pool is served by the next return.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get_timeout(Duration::from_secs(2)).await.map(drop) })
    };
    while pool.stats().waiting == 0 {
        tokio::task::yield_now().await;
    }
    held.pop();
    waiter
        .await
        .unwrap()
        .expect("the waiter got the returned connection");
    drop(held);
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.waiting), (0, 0), "{stats:?}");
}

/// Growing and shrinking from many threads at once: afterwards `max_size` is exactly
/// what can be checked out.
#[test]
fn concurrent_resizes_leave_max_size_true() {
    let pool = Pool::builder()
        .max_size(4)
        .wait_timeout(None)
        .test_on_check_out(false)
        .build(Mem(false))
        .unwrap();
    for round in 0..200 {
        std::thread::scope(|s| {
            for t in 0..4 {
                let pool = &pool;
                s.spawn(move || pool.resize(1 + (round + t) % 8));
            }
        });
        let max_size = pool.stats().max_size;
        let held: Vec<_> = std::iter::from_fn(|| pool.try_get().ok())
            .take(32)
            .collect();
        assert_eq!(held.len(), max_size, "round {round}");
    }
}
