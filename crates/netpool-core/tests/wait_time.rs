//! `Stats::wait_time` counts every wait, however short: a `get` that waited adds to it
//! (the coarse clock of the hot path would read most short waits as zero).

mod common;

use std::time::{Duration, Instant};

#[test]
fn every_short_wait_adds_to_wait_time() {
    let (_manager, pool) =
        common::gated_sized(1, |b| b.wait_timeout(Some(Duration::from_secs(10))));
    let mut total = Duration::ZERO;
    for round in 1..=16 {
        let held = pool.get_blocking().unwrap();
        let waiter = {
            let pool = pool.clone();
            std::thread::spawn(move || drop(pool.get_blocking().unwrap()))
        };
        let started = Instant::now();
        while pool.stats().waiting == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no waiter queued"
            );
            std::thread::yield_now();
        }
        drop(held); // the waiter's wait ends now: microseconds, far below a clock tick
        waiter.join().unwrap();
        let stats = pool.stats();
        assert_eq!(stats.gets_waited, round);
        assert!(
            stats.wait_time > total,
            "round {round}: wait_time stayed at {total:?}"
        );
        total = stats.wait_time;
    }
}
