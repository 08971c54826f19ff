//! Wait deadlines: one watchdog timer per pool enforces every waiter's own deadline, in
//! whatever order the deadlines arrive.
//!
//! Time-based by nature: deadlines are tens of milliseconds and the bounds are seconds, so
//! a loaded machine does not make the tests flaky.

mod common;

use std::time::{Duration, Instant};

use common::Gated;
use netpool_core::Pool;

/// Spins (bounded) until `n` callers wait.
fn until_waiting(pool: &Pool<Gated>, n: usize) {
    let started = Instant::now();
    while pool.stats().waiting != n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            pool.stats()
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_short_deadline_behind_a_long_one_still_fires() {
    let pool = Pool::builder().max_size(1).build(Gated::new()).unwrap();
    let held = pool.get_blocking().unwrap();
    std::thread::scope(|s| {
        let long = s.spawn(|| pool.get_blocking_timeout(Duration::from_secs(30)));
        until_waiting(&pool, 1);
        let started = Instant::now();
        let short = pool.get_blocking_timeout(Duration::from_millis(50));
        assert!(short.unwrap_err().is_timeout());
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(45), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(pool.stats().waiting, 1, "the long waiter still waits");
        drop(held);
        assert!(long.join().unwrap().is_ok(), "and is served");
    });
    let stats = pool.stats();
    assert_eq!(stats.gets_timed_out, 1);
    assert_eq!(stats.waiting, 0);
}

#[test]
fn every_queued_waiter_times_out() {
    let pool = Pool::builder()
        .max_size(1)
        .wait_timeout(Some(Duration::from_millis(40)))
        .build(Gated::new())
        .unwrap();
    let held = pool.get_blocking().unwrap();
    let started = Instant::now();
    std::thread::scope(|s| {
        let waiters: Vec<_> = (0..8).map(|_| s.spawn(|| pool.get_blocking())).collect();
        for w in waiters {
            assert!(w.join().unwrap().unwrap_err().is_timeout());
        }
    });
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(pool.stats().gets_timed_out, 8);
    assert_eq!(pool.stats().waiting, 0);
    drop(held);
    // The timed-out waiters left nothing behind: the connection is free.
    assert!(pool.try_get().is_ok());
}

#[test]
fn the_watchdog_does_not_keep_the_pool_alive() {
    let manager = Gated::new();
    let counts = manager.counts.clone();
    let pool = Pool::builder().max_size(1).build(manager).unwrap();
    let held = pool.get_blocking().unwrap();
    // Arms the watchdog for 30 s, then leaves.
    assert!(
        futures_lite::future::block_on(futures_lite::future::poll_once(
            pool.get_timeout(Duration::from_secs(30))
        ))
        .is_none()
    );
    drop(held);
    drop(pool);
    assert_eq!(counts.alive(), 0, "the pool and its connection are gone");
}
