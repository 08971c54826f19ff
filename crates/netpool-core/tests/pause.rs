//! `pause()` / `resume()`: gets wait within their own deadline, and are served first come,
//! first served after `resume`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Flag, gated_pool, gated_sized, poll_once};
use netpool_core::{Error, Pool};

#[test]
fn a_paused_pool_holds_gets_back_and_resume_wakes_them() {
    let (_manager, pool) = gated_pool(Pool::builder().max_size(2));
    drop(pool.try_get().unwrap()); // one idle
    pool.pause();
    assert!(pool.is_paused());
    assert!(
        matches!(pool.try_get(), Err(Error::Timeout)),
        "try_get never waits"
    );
    let (flag, waker) = Flag::new();
    let mut get = Box::pin(pool.get());
    assert!(
        poll_once(get.as_mut(), &waker).is_pending(),
        "an idle connection is not handed out"
    );
    assert_eq!(pool.stats().waiting, 1);
    pool.resume();
    assert!(!pool.is_paused());
    assert!(flag.take(), "resume wakes the waiter");
    assert!(poll_once(get.as_mut(), &waker).is_ready());
}

#[test]
fn a_get_waits_out_its_own_deadline_while_paused() {
    let (_manager, pool) = gated_pool(Pool::builder().max_size(2));
    pool.pause();
    // Generous bound (the deadline is 50 ms): only the error kind matters here.
    let started = Instant::now();
    let result = pool.get_blocking_timeout(Duration::from_millis(50));
    assert!(matches!(result, Err(Error::Timeout)));
    assert!(started.elapsed() >= Duration::from_millis(50));
    pool.resume();
    assert!(pool.get_blocking_timeout(Duration::from_millis(50)).is_ok());
}

#[test]
fn connections_checked_out_before_the_pause_come_back_normally() {
    let (manager, pool) = gated_pool(Pool::builder().max_size(1));
    let held = pool.try_get().unwrap();
    pool.pause();
    drop(held);
    assert_eq!(pool.stats().idle, 1, "returned, not closed");
    pool.resume();
    assert_eq!(pool.try_get().unwrap().id, 0);
    assert_eq!(manager.counts.created(), 1);
}

#[test]
fn close_wakes_paused_waiters_with_closed() {
    let (_manager, pool) = gated_pool(Pool::builder().max_size(1));
    pool.pause();
    let (flag, waker) = Flag::new();
    let mut get = Box::pin(pool.get());
    assert!(poll_once(get.as_mut(), &waker).is_pending());
    pool.close();
    assert!(flag.take());
    assert!(matches!(
        poll_once(get.as_mut(), &waker),
        std::task::Poll::Ready(Err(Error::Closed))
    ));
}

#[test]
fn a_two_second_pause_with_64_waiters_fails_none_and_serves_them_in_order() {
    const WAITERS: usize = 64;
    let rt = common::tokio_rt(4);
    rt.block_on(async {
        // One connection, so each waiter's turn is a strict sequence: the order in which
        // they get it is the order the pool serves them.
        let (_manager, pool) = gated_sized(1, |b| b.wait_timeout(Some(Duration::from_secs(10))));
        pool.pause();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..WAITERS {
            let (handle, order) = (pool.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let conn = handle.get().await;
                order.lock().unwrap().push(i);
                tokio::task::yield_now().await;
                conn.map(drop)
            }));
            // Queue them one after the other (bounded wait for each to register).
            let queued = Instant::now();
            while pool.stats().waiting < i + 1 && queued.elapsed() < Duration::from_secs(5) {
                tokio::task::yield_now().await;
            }
            assert_eq!(pool.stats().waiting, i + 1);
        }
        // The pause under test lasts 2 s (the scenario, not a synchronisation).
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody is served while paused"
        );
        let resumed = Instant::now();
        pool.resume();
        let mut errors = 0;
        for task in tasks {
            if task.await.unwrap().is_err() {
                errors += 1;
            }
        }
        assert_eq!(errors, 0);
        assert_eq!(*order.lock().unwrap(), (0..WAITERS).collect::<Vec<_>>());
        // 64 hand-offs of a ready connection: far below a second on any machine.
        assert!(resumed.elapsed() < Duration::from_secs(5));
        assert_eq!(pool.stats().gets_timed_out, 0);
    });
}

#[test]
fn a_keyed_pool_pauses_every_key_and_keys_first_used_while_paused() {
    let keys = common::Keys::default();
    let pool = keys.pool(netpool_core::KeyedPool::builder().max_size(2));
    drop(pool.try_get(&1).unwrap());
    pool.pause();
    assert!(matches!(pool.try_get(&1), Err(Error::Timeout)));
    assert!(
        matches!(pool.try_get(&2), Err(Error::Timeout)),
        "a new key starts paused"
    );
    pool.resume();
    assert!(pool.try_get(&1).is_ok());
    assert!(pool.try_get(&2).is_ok());
}
