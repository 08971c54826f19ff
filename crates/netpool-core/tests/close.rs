//! Semantic 7: after `close()`, no connection is opened, idle ones are dropped, checked-out
//! ones are dropped when they come back, and waiters get `Error::Closed`.

mod common;

use std::task::Poll;

use common::{BoxFut, Flag, Gated, poll_once};
use netpool_core::{Error, Pool, Pooled};

type Get<'a> = BoxFut<'a, Result<Pooled<Gated>, Error<common::GateError>>>;

#[test]
fn close_drops_idle_and_returned_connections() {
    let manager = Gated::new();
    let counts = manager.counts.clone();
    let pool = Pool::builder().max_size(2).build(manager.clone()).unwrap();
    let idle = pool.try_get().unwrap();
    let out = pool.try_get().unwrap();
    drop(idle);

    let (closed_flag, closed_waker) = Flag::new();
    let mut wait_closed = Box::pin(pool.wait_closed());
    assert!(poll_once(wait_closed.as_mut(), &closed_waker).is_pending());

    pool.close();
    assert!(pool.is_closed());
    assert_eq!(counts.alive(), 1, "the idle connection is dropped at once");
    assert!(pool.try_get().unwrap_err().is_closed());
    assert!(
        futures_lite::future::block_on(pool.get())
            .unwrap_err()
            .is_closed()
    );
    assert!(pool.get_blocking().unwrap_err().is_closed());
    let extra = futures_lite::future::block_on(netpool_core::Manager::connect(&manager)).unwrap();
    assert!(
        pool.add(extra).is_err(),
        "no connection joins a closed pool"
    );

    assert!(poll_once(wait_closed.as_mut(), &closed_waker).is_pending());
    drop(out);
    assert_eq!(counts.alive(), 0, "a returned connection is dropped");
    assert!(closed_flag.take());
    assert!(poll_once(wait_closed.as_mut(), &closed_waker).is_ready());
    assert_eq!(pool.stats().connections, 0);
    futures_lite::future::block_on(pool.maintain()); // opens nothing
    assert_eq!(counts.created(), 3, "two from the pool, one made outside");
}

#[test]
fn dropping_the_last_clone_closes_the_pool() {
    let manager = Gated::new();
    let counts = manager.counts.clone();
    let pool = Pool::builder().max_size(2).build(manager).unwrap();
    let weak = pool.downgrade();
    let upgraded = weak.upgrade().expect("alive");
    drop(upgraded);
    let out = pool.try_get().unwrap();
    drop(pool.try_get().unwrap());
    assert_eq!(counts.alive(), 2);
    drop(pool);
    assert!(
        weak.upgrade().is_none(),
        "no handle is left, even with a guard out"
    );
    assert_eq!(counts.alive(), 1, "the idle connection is closed at once");
    assert_eq!(out.id, 0, "the guard still works");
    drop(out);
    assert_eq!(counts.alive(), 0, "the checked-out one is closed on return");
    assert_eq!(counts.created(), counts.dropped());
}

#[test]
fn close_wakes_waiters_with_closed() {
    let pool = Pool::builder().max_size(1).build(Gated::new()).unwrap();
    let out = pool.try_get().unwrap();
    let (flag, waker) = Flag::new();
    let mut waiter: Get<'_> = Box::pin(pool.get());
    assert!(poll_once(waiter.as_mut(), &waker).is_pending());
    pool.close();
    assert!(flag.take(), "the waiter is woken");
    assert!(matches!(
        poll_once(waiter.as_mut(), &waker),
        Poll::Ready(Err(Error::Closed))
    ));
    drop(out);
    assert_eq!(pool.stats().connections, 0);
}

/// Guards hold no reference count of their own: the pool must stay alive for them after
/// its last handle is dropped, and be freed by the last one to come back.
#[test]
fn the_pool_is_freed_after_its_last_handle_and_its_last_guard() {
    let token = std::sync::Arc::new(());
    let pool = Pool::builder()
        .max_size(2)
        .build(common::Holding::new(&token))
        .unwrap();
    let a = pool.get_blocking().unwrap();
    let b = pool.get_blocking().unwrap();
    let weak = pool.downgrade();
    drop(pool);
    assert!(weak.upgrade().is_none(), "the pool is closed");
    assert_eq!(
        std::sync::Arc::strong_count(&token),
        2,
        "guards out: it lives"
    );
    drop(a);
    assert_eq!(
        std::sync::Arc::strong_count(&token),
        2,
        "one guard still out"
    );
    assert_eq!(b.id, 1, "the last guard still reaches its connection");
    Pooled::discard(b);
    assert_eq!(
        std::sync::Arc::strong_count(&token),
        1,
        "the last guard freed it"
    );

    let pool = Pool::builder().build(common::Holding::new(&token)).unwrap();
    drop(pool.get_blocking().unwrap());
    drop(pool);
    assert_eq!(
        std::sync::Arc::strong_count(&token),
        1,
        "no guard out: the last handle frees it"
    );
}

/// The last handle dropped while threads return, detach and discard guards: the pool is
/// freed exactly once, after all of them (bounded: 4 threads × 200 rounds).
#[test]
fn the_last_handle_racing_returns_frees_the_pool_once() {
    let token = std::sync::Arc::new(());
    for _ in 0..200 {
        let pool = Pool::builder()
            .max_size(4)
            .build(common::Holding::new(&token))
            .unwrap();
        let guards: Vec<_> = (0..4).map(|_| pool.get_blocking().unwrap()).collect();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(5));
        let threads: Vec<_> = guards
            .into_iter()
            .enumerate()
            .map(|(i, guard)| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    match i % 3 {
                        0 => drop(guard),
                        1 => Pooled::discard(guard),
                        _ => drop(Pooled::detach(guard)),
                    }
                })
            })
            .collect();
        barrier.wait();
        drop(pool);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            std::sync::Arc::strong_count(&token),
            1,
            "freed once, at the end"
        );
    }
}
