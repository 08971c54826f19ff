//! Semantic 3: waiters are served first come, first served; a returned connection goes to
//! the oldest waiter, never to a newcomer.

mod common;

use std::task::Poll;

use common::{BoxFut, Flag, Gated, poll_once};
use netpool_core::{Error, Pool, Pooled};

type Get<'a> = BoxFut<'a, Result<Pooled<Gated>, Error<common::GateError>>>;

#[test]
fn waiters_are_woken_in_arrival_order() {
    let pool = Pool::builder().max_size(1).build(Gated::new()).unwrap();
    let mut held = Some(pool.try_get().unwrap());
    let mut waiters: Vec<(Get<'_>, _, _)> = (0..5)
        .map(|_| {
            let (flag, waker) = Flag::new();
            let mut fut: Get<'_> = Box::pin(pool.get());
            assert!(poll_once(fut.as_mut(), &waker).is_pending());
            (fut, flag, waker)
        })
        .collect();
    assert_eq!(pool.stats().waiting, 5);
    for i in 0..5 {
        // A newcomer cannot barge past the queue.
        assert!(pool.try_get().unwrap_err().is_timeout());
        drop(held.take());
        for (j, (fut, flag, waker)) in waiters.iter_mut().enumerate().skip(i) {
            if j == i {
                assert!(flag.take(), "waiter {i} is woken");
                match poll_once(fut.as_mut(), waker) {
                    Poll::Ready(Ok(conn)) => held = Some(conn),
                    other => panic!("waiter {i} got {:?}", other.map(|r| r.map(drop))),
                }
            } else {
                assert!(!flag.take(), "waiter {j} is not woken before waiter {i}");
                assert!(poll_once(fut.as_mut(), waker).is_pending());
            }
        }
    }
    drop(held);
    assert_eq!(pool.stats().waiting, 0);
    assert_eq!(
        pool.stats().connections_created,
        1,
        "one connection served all"
    );
}

#[test]
fn cancelled_waiter_passes_its_turn_on() {
    let pool = Pool::builder().max_size(1).build(Gated::new()).unwrap();
    let held = pool.try_get().unwrap();
    let (f1, w1) = Flag::new();
    let (f2, w2) = Flag::new();
    let mut first: Get<'_> = Box::pin(pool.get());
    let mut second: Get<'_> = Box::pin(pool.get());
    assert!(poll_once(first.as_mut(), &w1).is_pending());
    assert!(poll_once(second.as_mut(), &w2).is_pending());
    drop(held);
    assert!(f1.take());
    assert!(!f2.take());
    // The first waiter was granted the connection but goes away without polling.
    drop(first);
    assert!(f2.take(), "the hand-off passes to the next waiter");
    match poll_once(second.as_mut(), &w2) {
        Poll::Ready(Ok(_conn)) => {}
        _ => panic!("second waiter is served"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_waiter_starves_under_load() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const TASKS: usize = 32;
    let pool = Pool::builder().max_size(4).build(Gated::new()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Vec<_> = (0..TASKS).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let tasks: Vec<_> = counts
        .iter()
        .map(|count| {
            let (pool, stop, count) = (pool.clone(), stop.clone(), count.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let conn = pool.get().await.unwrap();
                    tokio::task::yield_now().await;
                    drop(conn);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Bounded run: 300 ms of load (time only bounds the run, nothing waits on it).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let done: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let (min, max) = (*done.iter().min().unwrap(), *done.iter().max().unwrap());
    assert!(min > 0, "every task was served: {done:?}");
    // FIFO hand-off keeps the shares close; a generous bound for a noisy 2-core machine.
    assert!(min as f64 / max as f64 > 0.5, "shares {done:?}");
}
