//! Races at the edges of the pool's life: a get waiting in the connect backoff when the
//! pool (or its key) is closed, maintenance in the half-open state, a forgotten guard.
//!
//! The backoff here is 10-20 s long: a get that is not stopped by `close` would wait that
//! long (then connect), so the bounds below (5 s) tell a wake-up from the backoff's end
//! with a wide margin on a loaded machine.

mod common;

use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use common::recorder::{Rec, Recorder};
use common::{BoxFut, Flag, Gate, Gated, Holding, Keys, gated_sized, maintain, poll_once};
use netpool_core::{Error, KeyedPool, Pool, Pooled};

const BACKOFF: Duration = Duration::from_secs(20);
/// Far below the backoff's shortest delay (half of `BACKOFF`).
const PROMPTLY: Duration = Duration::from_secs(5);

/// A pool whose first connect failed: the next get that must connect waits in the
/// backoff (one failure is not enough to fail fast) for 10-20 s.
fn backing_off() -> (Gated, Pool<Gated>) {
    let (manager, pool) = gated_sized(2, |b| {
        b.wait_timeout(Some(Duration::from_secs(60)))
            .connect_backoff(BACKOFF, BACKOFF)
    });
    manager.set_connect(Gate::Err);
    assert!(pool.get_blocking().unwrap_err().is_connect());
    manager.set_connect(Gate::Ok);
    (manager, pool)
}

fn assert_closed<T: std::fmt::Debug>(result: Result<T, Error<common::GateError>>) {
    match result {
        Err(e) => assert!(e.is_closed(), "expected Closed, got {e:?}"),
        Ok(conn) => panic!("a get on a closed pool succeeded: {conn:?}"),
    }
}

#[test]
fn close_wakes_a_get_waiting_in_the_backoff() {
    let (manager, pool) = backing_off();
    let (flag, waker) = Flag::new();
    let mut get: BoxFut<'_, _> = Box::pin(pool.get());
    assert!(
        poll_once(get.as_mut(), &waker).is_pending(),
        "waits for the next probe's time"
    );
    pool.close();
    assert!(flag.take(), "close wakes the get");
    match poll_once(get.as_mut(), &waker) {
        Poll::Ready(result) => assert_closed(result),
        Poll::Pending => panic!("still waiting after close"),
    }
    assert_eq!(
        manager.counts.connects(),
        1,
        "no connect on the closed pool"
    );
    assert_eq!(pool.stats().connections, 0);
}

#[test]
fn close_stops_a_get_blocked_in_the_backoff_on_another_thread() {
    let (manager, pool) = backing_off();
    let mut get: BoxFut<'_, _> = Box::pin(pool.get());
    assert!(poll_once(get.as_mut(), Waker::noop()).is_pending());
    let started = Instant::now();
    std::thread::scope(|s| {
        // Whether the thread parks before `close` or polls after it, it must end now.
        let waiter = s.spawn(move || futures_lite::future::block_on(get).map(drop));
        pool.close();
        assert_closed(waiter.join().unwrap());
    });
    assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
    assert_eq!(
        manager.counts.connects(),
        1,
        "no connect on the closed pool"
    );
    assert_eq!(pool.stats().connections, 0);
}

#[test]
fn get_blocking_in_the_backoff_is_stopped_by_close() {
    let (manager, pool) = backing_off();
    let started = Instant::now();
    std::thread::scope(|s| {
        let getter = s.spawn(|| pool.get_blocking().map(drop));
        // No signal tells that the getter reached the backoff: it may be anywhere
        // before it (then it sees the pool closed) or in it (then close wakes it).
        std::thread::yield_now();
        pool.close();
        assert_closed(getter.join().unwrap());
    });
    assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
    assert_eq!(
        manager.counts.connects(),
        1,
        "no connect on the closed pool"
    );
}

#[test]
fn removing_a_key_stops_its_get_waiting_in_the_backoff() {
    let keys = Keys::default();
    let pool: KeyedPool<u32, Gated> = keys.pool(
        KeyedPool::builder()
            .max_size(2)
            .wait_timeout(Some(Duration::from_secs(60)))
            .connect_backoff(BACKOFF, BACKOFF),
    );
    keys.manager(7).set_connect(Gate::Err);
    assert!(pool.get_blocking(&7).unwrap_err().is_connect());
    keys.manager(7).set_connect(Gate::Ok);
    let (flag, waker) = Flag::new();
    let mut get: BoxFut<'_, _> = Box::pin(pool.get(&7));
    assert!(poll_once(get.as_mut(), &waker).is_pending());
    assert!(pool.remove(&7));
    assert!(flag.take(), "remove wakes the get");
    match poll_once(get.as_mut(), &waker) {
        Poll::Ready(result) => assert_closed(result),
        Poll::Pending => panic!("still waiting after remove"),
    }
    assert_eq!(
        keys.manager(7).counts.connects(),
        1,
        "no connect after remove"
    );
    assert_eq!(keys.alive(), 0);
}

#[test]
fn maintenance_in_the_half_open_state_counts_no_timed_out_get() {
    let recorder = Recorder::default();
    let (manager, pool) = gated_sized(4, |b| {
        b.min_idle(Some(1))
            .connect_backoff(BACKOFF, BACKOFF)
            .event_handler(recorder.handler())
    });
    // Two new connections in a row fail on their first use: new connects are spaced out
    // (10 s or more apart) until a connection comes back healthy.
    for _ in 0..2 {
        Pooled::discard(pool.get_blocking().unwrap());
    }
    assert_eq!(manager.counts.connects(), 2);
    recorder.take();
    // Not its turn to connect: maintenance skips the refill, and no get ran.
    std::thread::scope(|s| s.spawn(|| maintain(&pool)).join().unwrap());
    let stats = pool.stats();
    assert_eq!(stats.gets_timed_out, 0, "no get timed out");
    assert_eq!(stats.gets, 2);
    assert_eq!(manager.counts.connects(), 2, "not its turn");
    let events = recorder.take();
    assert!(
        !events.iter().any(|e| matches!(e, Rec::GetTimedOut { .. })),
        "{events:?}"
    );
}

#[test]
fn a_forgotten_guard_keeps_the_pool_alive() {
    // The pool's memory is freed with its manager, which holds a count of `token`.
    let token = Arc::new(());
    let freed = || Arc::strong_count(&token) == 1;
    let pool = Pool::builder().build(Holding::new(&token)).unwrap();
    let returned = pool.get_blocking().unwrap();
    std::mem::forget(pool.get_blocking().unwrap());
    drop(pool);
    drop(returned);
    assert!(
        !freed(),
        "its permit is never returned, so the pool is never freed (as documented)"
    );

    let token = Arc::new(());
    let freed = || Arc::strong_count(&token) == 1;
    let pool = Pool::builder().build(Holding::new(&token)).unwrap();
    let conn = pool.get_blocking().unwrap();
    drop(pool);
    assert!(!freed(), "a guard out keeps it");
    drop(conn);
    assert!(freed(), "the last guard frees it");
}
