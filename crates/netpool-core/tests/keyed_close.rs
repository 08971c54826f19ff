//! Keyed pools: cancellation, panics, `close` and `remove`, per key.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

use common::{BoxFut, Flag, Gate, Keys, poll_once};
use netpool_core::{Error, KeyedPool, Pooled};

type Get<'a> = BoxFut<'a, Result<Pooled<common::Gated>, Error<common::GateError>>>;

#[test]
fn a_cancelled_waiter_for_room_passes_its_turn_on() {
    let keys = Keys::default();
    // A bound of zero: every return while someone waits for room hands it over at once.
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(2)
            .max_total(2)
            .handover_after(std::time::Duration::ZERO),
    );
    let mut held = vec![
        pool.get_blocking(&0).unwrap(),
        pool.get_blocking(&0).unwrap(),
    ];
    let (_flag, waker) = Flag::new();
    let mut first: Get<'_> = Box::pin(pool.get(&1));
    let mut second: Get<'_> = Box::pin(pool.get(&2));
    assert!(poll_once(first.as_mut(), &waker).is_pending());
    assert!(poll_once(second.as_mut(), &waker).is_pending());
    // Room goes to `first`, which is dropped before it runs: the room passes on.
    drop(held.pop());
    drop(first);
    let Poll::Ready(conn) = poll_once(second.as_mut(), &waker) else {
        panic!("the room was lost");
    };
    let conn = conn.unwrap();
    assert_eq!(pool.stats().connections, 2);
    assert_eq!(pool.stats().waiting_for_room, 0);
    drop((conn, held));
    assert_eq!(keys.alive(), 2);
}

#[test]
fn a_panicking_connect_frees_its_room() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(2).max_total(2));
    keys.manager(1).set_connect(Gate::Panic);
    for _ in 0..5 {
        let panicked = catch_unwind(AssertUnwindSafe(|| pool.get_blocking(&1)));
        assert!(panicked.is_err());
    }
    assert_eq!(pool.stats().connections, 0, "no unit leaked");
    let a = pool.get_blocking(&2).unwrap();
    let b = pool.get_blocking(&3).unwrap();
    assert_eq!(pool.stats().connections, 2);
    drop((a, b));
}

#[test]
fn close_wakes_waiters_for_room_and_fails_every_key() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(1).max_total(1));
    let held = pool.get_blocking(&0).unwrap();
    let (flag, waker) = Flag::new();
    let mut waiter: Get<'_> = Box::pin(pool.get(&1));
    assert!(poll_once(waiter.as_mut(), &waker).is_pending());
    pool.close();
    assert!(flag.take(), "woken by close");
    match poll_once(waiter.as_mut(), &waker) {
        Poll::Ready(Err(e)) => assert!(e.is_closed(), "{e:?}"),
        other => panic!("{:?}", other.map(|r| r.map(|_| ()))),
    }
    assert!(pool.is_closed());
    assert!(pool.get_blocking(&0).unwrap_err().is_closed());
    assert!(
        pool.get_blocking(&7).unwrap_err().is_closed(),
        "no new key after close"
    );
    drop(held);
    assert_eq!(
        keys.alive(),
        0,
        "a connection returned after close is dropped"
    );
    assert_eq!(pool.stats().connections, 0);
    futures_lite::future::block_on(pool.wait_closed());
}

#[test]
fn remove_closes_a_key_and_leaves_the_others() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(2).max_total(4));
    drop(pool.get_blocking(&1).unwrap());
    let out = pool.get_blocking(&1).unwrap();
    drop(pool.get_blocking(&2).unwrap());
    drop(pool.get_blocking(&1).unwrap());
    assert_eq!(pool.stats().connections, 3);
    assert!(pool.remove(&1));
    assert!(!pool.remove(&1));
    assert_eq!(pool.stats().keys, 1);
    assert_eq!(
        keys.manager(1).counts.alive(),
        1,
        "the checked-out one is still out"
    );
    drop(out);
    assert_eq!(keys.manager(1).counts.alive(), 0);
    assert_eq!(pool.stats().connections, 1, "key 2's idle connection");
    // A later get starts the key afresh.
    drop(pool.get_blocking(&1).unwrap());
    assert_eq!(pool.stats().keys, 2);
}

#[test]
fn retain_visits_every_keys_idle_connections() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(2).max_total(8));
    for key in 0..4 {
        drop(pool.get_blocking(&key).unwrap());
    }
    let mut seen = Vec::new();
    let closed = pool.retain(|key, _conn, meta| {
        seen.push(*key);
        assert_eq!(meta.use_count, 1);
        key % 2 == 0
    });
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2, 3]);
    assert_eq!(closed, 2);
    assert_eq!(pool.stats().connections, 2);
    assert_eq!(keys.alive(), 2);
}

#[test]
fn dropping_the_last_handle_closes_every_key() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder());
    let out = pool.get_blocking(&1).unwrap();
    drop(pool.get_blocking(&2).unwrap());
    let weak = pool.downgrade();
    drop(pool);
    assert!(weak.upgrade().is_none());
    assert_eq!(keys.alive(), 1, "idle ones dropped at once");
    drop(out);
    assert_eq!(keys.alive(), 0);
}

#[test]
fn keyed_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder());
    send_sync(&pool);
    send_sync(&pool.downgrade());
    send_sync(&pool.stats());
    let get = pool.get(&1);
    send(&get);
    drop(get);
    send(&pool.maintain());
    send(&pool.wait_closed());
}
