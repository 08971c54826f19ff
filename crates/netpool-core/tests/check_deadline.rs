//! A checkout's check (`is_valid`, here; the `on_checkout` hook shares the code) is cut
//! by the caller's deadline. The checks' deadlines share one timer per pool, armed for
//! the earliest of them: a shorter deadline that arrives while a longer one is armed
//! must re-arm it, and once a deadline fires the next one must be armed.
//!
//! Time bounds: each `get` here that must time out has a deadline of 100-300 ms, and the
//! tests fail only if it takes 5 s or more (the other deadline in flight is 60 s), so a
//! slow or loaded machine does not fail them.

mod common;

use std::time::{Duration, Instant};

use common::{Gate, Gated, gated_sized, tokio_rt};
use netpool_core::Pool;

/// Far beyond any deadline under test, far below the other deadline in flight.
const BOUND: Duration = Duration::from_secs(5);

/// A pool of `n` open connections, each checked on every checkout.
fn checked_pool(n: usize) -> (Gated, Pool<Gated>) {
    let (m, pool) = gated_sized(n, |b| b.check_idle_after(None));
    let held: Vec<_> = (0..n)
        .map(|_| pool.get_blocking().expect("connect"))
        .collect();
    drop(held);
    assert_eq!(m.counts.validations(), 0, "new connections are not checked");
    (m, pool)
}

/// Waits (yielding, bounded) until `n` checks have started.
async fn checks_started(m: &Gated, n: usize) {
    let started = Instant::now();
    while m.counts.validations() < n {
        assert!(started.elapsed() < BOUND, "{n} checks never started");
        tokio::task::yield_now().await;
    }
}

#[test]
fn a_hanging_check_is_cut_by_the_callers_deadline() {
    let rt = tokio_rt(2);
    let (m, pool) = checked_pool(1);
    m.set_valid(Gate::Never);
    rt.block_on(async {
        let started = Instant::now();
        let err = pool
            .get_timeout(Duration::from_millis(100))
            .await
            .expect_err("the check never answers");
        assert!(err.is_timeout(), "{err:?}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(90), "cut early: {took:?}");
        assert!(took < BOUND, "cut late: {took:?}");
    });
    // Its protocol state unknown, the connection was closed.
    assert_eq!(m.counts.alive(), 0);
    assert_eq!(pool.stats().connections, 0);
}

#[test]
fn a_shorter_deadline_is_kept_while_a_longer_one_is_armed() {
    let rt = tokio_rt(2);
    let (m, pool) = checked_pool(2);
    m.set_valid(Gate::Never);
    rt.block_on(async {
        let long = tokio::spawn({
            let pool = pool.clone();
            async move { pool.get_timeout(Duration::from_secs(60)).await.map(drop) }
        });
        // The long check is registered (and the timer armed for it) first.
        checks_started(&m, 1).await;
        let started = Instant::now();
        let err = tokio::time::timeout(BOUND, pool.get_timeout(Duration::from_millis(100)))
            .await
            .expect("cut within the bound")
            .expect_err("the check never answers");
        assert!(err.is_timeout(), "{err:?}");
        assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
        // Cancelled: its registration goes with it, and its connection is closed.
        long.abort();
        assert!(long.await.expect_err("aborted").is_cancelled());
    });
    assert_eq!(m.counts.alive(), 0);
}

#[test]
fn after_a_deadline_fires_the_next_one_is_armed() {
    let rt = tokio_rt(2);
    let (m, pool) = checked_pool(3);
    m.set_valid(Gate::Never);
    rt.block_on(async {
        let started = Instant::now();
        let gets = [100, 200, 300].map(|ms| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let err = pool
                    .get_timeout(Duration::from_millis(ms))
                    .await
                    .expect_err("the check never answers");
                (ms, err.is_timeout(), started.elapsed())
            })
        });
        for get in gets {
            let (ms, timed_out, took) = tokio::time::timeout(BOUND, get)
                .await
                .expect("cut within the bound")
                .expect("no panic");
            assert!(timed_out, "{ms} ms");
            assert!(
                took >= Duration::from_millis(ms - 10),
                "{ms} ms cut at {took:?}"
            );
            assert!(took < BOUND, "{ms} ms cut at {took:?}");
        }
    });
    assert_eq!(m.counts.alive(), 0);
}

#[test]
fn checks_that_answer_later_hand_out_their_connections() {
    let rt = tokio_rt(2);
    let (m, pool) = checked_pool(4);
    // Each check yields before it answers: each registers its deadline, then leaves.
    m.set_valid(Gate::Slow);
    let gets = 400;
    rt.block_on(common::each_task(16, |_| {
        let pool = pool.clone();
        async move {
            for _ in 0..gets / 16 {
                let conn = pool
                    .get_timeout(Duration::from_secs(30))
                    .await
                    .expect("checked");
                drop(conn);
            }
        }
    }));
    assert_eq!(m.counts.validations(), gets);
    assert_eq!(m.counts.connects(), 4, "no check failed or timed out");
    drop(pool);
    assert_eq!(m.counts.alive(), 0, "the pool's drop closed them all");
}
