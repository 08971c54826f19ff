//! `Stats::wait_time` counts every wait, however short: a `get` that waited adds to it
//! (the coarse clock of the hot path would read most short waits as zero).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use netpool_core::{Manager, Pool};

struct Unit;

impl Manager for Unit {
    type Connection = ();
    type Error = Infallible;

    async fn connect(&self) -> Result<(), Infallible> {
        Ok(())
    }
    async fn is_valid(&self, _: &mut ()) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut ()) -> bool {
        false
    }
}

#[test]
fn every_short_wait_adds_to_wait_time() {
    let pool = Pool::builder()
        .max_size(1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .build(Unit)
        .unwrap();
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
