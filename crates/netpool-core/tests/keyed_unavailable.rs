//! Keyed pools: a dead server fails fast (`Unavailable`) for its own key only; other
//! keys are not slowed and the backoff is per key.

mod common;

use std::time::{Duration, Instant};

use common::{Gate, Keys};
use netpool_core::KeyedPool;

#[test]
fn a_dead_key_fails_fast_alone() {
    let keys = Keys::default();
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(4)
            .max_total(8)
            .wait_timeout(Some(Duration::from_secs(30)))
            .connect_backoff(Duration::from_millis(20), Duration::from_secs(10)),
    );
    keys.manager(1).set_connect(Gate::Err);

    // Three failed connects (each caller waits for its turn and gets its own error) are
    // the evidence that the server is down...
    for _ in 0..3 {
        let err = pool.get_blocking(&1).unwrap_err();
        assert!(
            err.is_connect(),
            "the caller that tried gets its own error: {err:?}"
        );
    }
    // ...then callers fail fast (the next probe is 40-80 ms away).
    let started = Instant::now();
    for _ in 0..100 {
        let err = pool.get_blocking(&1).unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "failing fast, not after the timeout"
    );
    assert_eq!(
        keys.manager(1).counts.connects(),
        3,
        "no hammering while backing off"
    );

    // Other keys: not backing off, not slowed, no error.
    let started = Instant::now();
    for key in 2..6 {
        for _ in 0..50 {
            drop(pool.get_blocking(&key).expect("other keys work"));
        }
        assert_eq!(pool.stats_for(&key).unwrap().connect_errors, 0);
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(pool.stats_for(&1).unwrap().connect_errors >= 3);

    // The dead key is remembered (its backoff with it) while it backs off.
    futures_lite::future::block_on(pool.maintain());
    assert!(
        pool.stats_for(&1).is_some(),
        "a backing-off key is not forgotten"
    );
    let err = pool.get_blocking(&1).unwrap_err();
    assert!(err.is_unavailable() || err.is_connect(), "{err:?}");
}

#[test]
fn a_key_recovers_after_its_backoff() {
    let keys = Keys::default();
    let pool = keys.pool(
        KeyedPool::builder().connect_backoff(Duration::from_millis(5), Duration::from_millis(20)),
    );
    keys.manager(1).set_connect(Gate::Err);
    assert!(pool.get_blocking(&1).unwrap_err().is_connect());
    keys.manager(1).set_connect(Gate::Ok);
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn = loop {
        match pool.get_blocking(&1) {
            Ok(conn) => break conn,
            Err(e) => assert!(e.is_unavailable(), "{e:?}"),
        }
        assert!(Instant::now() < deadline, "recovered in time");
        std::thread::sleep(Duration::from_millis(2));
    };
    drop(conn);
}

/// `fail_fast(false)` applies per key too: every caller makes its own attempt.
#[test]
fn fail_fast_off_per_key() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().fail_fast(false));
    keys.manager(1).set_connect(Gate::Err);
    for _ in 0..5 {
        assert!(pool.get_blocking(&1).unwrap_err().is_connect());
    }
    assert_eq!(keys.manager(1).counts.connects(), 5);
}
