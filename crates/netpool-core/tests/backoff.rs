//! Semantic 5: connect failures go to the caller that asked; repeated failures back off
//! (exponential, jittered, one probe at a time) and a success resets the backoff.
//!
//! Backoff is about time: delays here are tens of milliseconds and the assertions leave
//! wide margins for a noisy machine.

mod common;

use std::time::{Duration, Instant};

use common::{Gate, Gated};
use netpool_core::{Error, Pool};

fn pool(manager: &Gated, initial_ms: u64, max_ms: u64) -> Pool<Gated> {
    Pool::builder()
        .max_size(4)
        .wait_timeout(Some(Duration::from_secs(2)))
        .connect_backoff(
            Duration::from_millis(initial_ms),
            Duration::from_millis(max_ms),
        )
        .build(manager.clone())
        .unwrap()
}

#[test]
fn the_caller_gets_its_own_connect_error() {
    let manager = Gated::new();
    manager.set_connect(Gate::Err);
    let pool = pool(&manager, 50, 100);
    let err = pool.get_blocking().unwrap_err();
    match &err {
        Error::Connect(e) => assert_eq!(e.0, 0, "its own error"),
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(err.is_connect());
    assert_eq!(pool.stats().connect_errors, 1);
    assert_eq!(pool.stats().connections, 0);
}

#[test]
fn after_three_failed_connects_callers_fail_fast_with_the_cause() {
    let manager = Gated::new();
    manager.set_connect(Gate::Err);
    // Delays of 50-100, 100-200 and 200-400 ms: a caller that waited for the next probe
    // would wait at least 200 ms, so "no waiting" can be told apart on a loaded machine.
    let pool = pool(&manager, 100, 400);
    // The first three callers each make an attempt (the second and third wait for their
    // turn as the probe) and get their own errors.
    for n in 0..3 {
        match pool.get_blocking().unwrap_err() {
            Error::Connect(e) => assert_eq!(e.0, n, "its own error"),
            other => panic!("expected Connect, got {other:?}"),
        }
    }
    // Three failed connects are evidence: the next caller is told at once.
    let started = Instant::now();
    let err = pool.get_blocking().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "no waiting: {:?}",
        started.elapsed()
    );
    match &err {
        Error::Unavailable { failures, last } => {
            assert_eq!(*failures, 3);
            assert!(last.message().contains("gated failure #2"), "{last}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(err.is_unavailable());
    assert_eq!(manager.counts.connects(), 3, "no connect while backing off");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn one_probe_after_the_delay_and_a_success_resets() {
    let manager = Gated::new();
    manager.set_connect(Gate::Err);
    let pool = pool(&manager, 20, 40);
    assert!(pool.get_blocking().unwrap_err().is_connect());
    std::thread::sleep(Duration::from_millis(100));
    // The delay passed: this caller probes, and gets its own error.
    assert!(pool.get_blocking().unwrap_err().is_connect());
    assert_eq!(manager.counts.connects(), 2);
    manager.set_connect(Gate::Ok);
    std::thread::sleep(Duration::from_millis(100));
    let conn = pool.get_blocking().expect("the probe succeeds");
    // Half-open until the probe's connection comes back healthy: one connect per delay
    // (a caller that does not wait is not served), but nobody is told `Unavailable`.
    assert!(pool.try_get().unwrap_err().is_timeout());
    drop(conn);
    // Proven: more connections open at once, without waiting for a delay.
    let more: Vec<_> = (0..4)
        .map(|_| {
            pool.try_get()
                .expect("no backoff once a connection is proven")
        })
        .collect();
    drop(more);
    assert_eq!(pool.stats().connections, 4);
}

#[test]
fn attempts_are_bounded_while_the_server_is_down() {
    let manager = Gated::new();
    manager.set_connect(Gate::Err);
    let pool = pool(&manager, 10, 50);
    let started = Instant::now();
    let mut gets = 0;
    // A tight loop of gets for 500 ms (bounded in time and count).
    while started.elapsed() < Duration::from_millis(500) && gets < 1_000_000 {
        let _ = pool.get_blocking();
        gets += 1;
    }
    let attempts = manager.counts.connects();
    // Delays cap at 50 ms with "equal jitter" (25..50 ms): at most ~20 probes in 500 ms,
    // plus the first failure. Without backoff it would be one attempt per get.
    assert!(attempts <= 30, "{attempts} attempts for {gets} gets");
    assert!(gets > attempts * 10, "{gets} gets");
}

#[test]
fn connect_timeout_and_the_callers_deadline() {
    let manager = Gated::new();
    manager.set_connect(Gate::Never);
    let pool = Pool::builder()
        .max_size(1)
        .connect_timeout(Some(Duration::from_millis(30)))
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(manager.clone())
        .unwrap();
    let started = Instant::now();
    assert!(pool.get_blocking().unwrap_err().is_connect_timeout());
    assert!(started.elapsed() < Duration::from_secs(2));
    // The caller's own deadline bounds connecting too (semantic 0: one deadline).
    let pool = Pool::builder()
        .max_size(1)
        .connect_timeout(Some(Duration::from_secs(10)))
        .build(manager)
        .unwrap();
    let started = Instant::now();
    let err = pool
        .get_blocking_timeout(Duration::from_millis(30))
        .unwrap_err();
    assert!(err.is_connect_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(pool.stats().connections, 0);
}

#[test]
fn one_deadline_covers_waiting_and_checking() {
    let manager = Gated::new();
    let pool = Pool::builder()
        .max_size(1)
        .check_idle_after(None)
        .build(manager.clone())
        .unwrap();
    drop(pool.get_blocking().unwrap());
    manager.set_valid(Gate::Never);
    let started = Instant::now();
    let err = pool
        .get_blocking_timeout(Duration::from_millis(40))
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let stats = pool.stats();
    assert_eq!(stats.connections, 0, "a half-checked connection is closed");
    assert_eq!(stats.gets_timed_out, 1);
}

#[test]
fn a_connect_that_fails_at_the_deadline_is_a_connect_timeout() {
    let manager = Gated::new();
    manager.set_connect(Gate::BlockThenErr);
    let pool = Pool::builder()
        .max_size(1)
        .connect_timeout(Some(Duration::from_millis(30)))
        .build(manager)
        .unwrap();
    let err = pool.get_blocking().unwrap_err();
    assert!(err.is_connect_timeout(), "{err:?}");
}

#[test]
fn connections_that_die_on_first_use_back_off_too() {
    // A proxy in front of a dead server: every connect succeeds, every connection fails
    // on its first request and is discarded.
    let manager = Gated::new();
    let pool = pool(&manager, 10, 50);
    let started = Instant::now();
    let mut gets = 0;
    while started.elapsed() < Duration::from_millis(500) && gets < 1_000_000 {
        if let Ok(conn) = pool.get_blocking() {
            netpool_core::Pooled::discard(conn);
        }
        gets += 1;
    }
    let attempts = manager.counts.connects();
    // Delays grow to 50 ms (25..50 with jitter): ~20 probes in 500 ms, plus the two
    // first-use failures that start the streak. Without it: one connect per get.
    assert!(attempts <= 40, "{attempts} connects for {gets} gets");
    // One healthy return proves the server and ends the backoff.
    std::thread::sleep(Duration::from_millis(100));
    drop(pool.get_blocking().expect("the server is fine again"));
    let more: Vec<_> = (0..3)
        .map(|_| pool.try_get().expect("no backoff"))
        .collect();
    drop(more);
}

#[test]
fn one_discard_does_not_start_a_backoff() {
    let manager = Gated::new();
    let pool = pool(&manager, 1000, 1000);
    netpool_core::Pooled::discard(pool.get_blocking().unwrap());
    let conn = pool.try_get().expect("connects at once");
    drop(conn);
}
