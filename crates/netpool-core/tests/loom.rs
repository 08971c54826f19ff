//! Loom models of acquire, release and wake-up through the public API.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p netpool-core --release --test loom --features loom
//! ```
//!
//! The models use no timeouts (loom cannot see async-io's timer thread) and no sockets.

#![cfg(loom)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use loom::thread;
use netpool_core::{Manager, Pool};

struct Mem;

impl Manager for Mem {
    type Connection = u32;
    type Error = Infallible;

    async fn connect(&self) -> Result<u32, Infallible> {
        Ok(0)
    }
    async fn is_valid(&self, _: &mut u32) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u32) -> bool {
        false
    }
}

fn pool(max_size: usize) -> Pool<Mem> {
    Pool::builder()
        .max_size(max_size)
        .wait_timeout(None)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
        .build(Mem)
        .unwrap()
}

/// A release racing with a waiter's registration is never lost.
#[test]
fn release_wakes_the_waiter() {
    loom::model(|| {
        let pool = pool(1);
        let held = pool.try_get().unwrap();
        let other = pool.clone();
        let waiter = thread::spawn(move || {
            let conn = loom::future::block_on(other.get()).unwrap();
            drop(conn);
        });
        drop(held);
        waiter.join().unwrap();
        let stats = pool.stats();
        assert_eq!((stats.in_use, stats.waiting, stats.connections), (0, 0, 1));
        assert!(pool.try_get().is_ok());
    });
}

/// Two getters and one slot: both are served, the cap holds.
#[test]
fn two_getters_one_slot() {
    loom::model(|| {
        let pool = pool(1);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || {
                    let conn = loom::future::block_on(pool.get()).unwrap();
                    assert!(pool.stats().connections <= 1);
                    drop(conn);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(pool.stats().connections, 1);
        assert!(pool.try_get().is_ok());
    });
}

/// A waiter that is dropped while the permit is handed to it passes the permit on.
#[test]
fn cancelled_waiter_loses_nothing() {
    loom::model(|| {
        let pool = pool(1);
        let held = pool.try_get().unwrap();
        let other = pool.clone();
        let waiter = thread::spawn(move || {
            let mut fut = pin!(other.get());
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(conn) = fut.as_mut().poll(&mut cx) {
                drop(conn.unwrap());
            }
            // Dropped here, granted or not.
        });
        drop(held);
        waiter.join().unwrap();
        let stats = pool.stats();
        assert_eq!((stats.in_use, stats.waiting), (0, 0));
        assert!(pool.try_get().is_ok(), "the permit is free again");
    });
}

/// Closing while a caller waits: the waiter is woken with `Closed`, nothing is leaked.
#[test]
fn close_wakes_a_waiter() {
    loom::model(|| {
        let pool = pool(1);
        let held = pool.try_get().unwrap();
        let other = pool.clone();
        let waiter = thread::spawn(move || loom::future::block_on(other.get()).map(drop));
        pool.close();
        drop(held);
        let result = waiter.join().unwrap();
        assert!(result.unwrap_err().is_closed());
        let stats = pool.stats();
        assert_eq!((stats.connections, stats.waiting), (0, 0));
    });
}

/// A shrink racing a fast-path release must not strand a later waiter: the permit given
/// back by the last holder goes to it.
#[test]
fn shrink_racing_a_release_then_a_waiter() {
    loom::model(|| {
        let pool = pool(2);
        let a = pool.try_get().unwrap();
        let b = pool.try_get().unwrap();
        let releaser = thread::spawn(move || drop(a));
        pool.resize(1);
        releaser.join().unwrap();
        let mut waiter = pin!(pool.get());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            waiter.as_mut().poll(&mut cx).is_pending(),
            "b holds the only permit"
        );
        drop(b);
        match waiter.as_mut().poll(&mut cx) {
            Poll::Ready(conn) => drop(conn.unwrap()),
            Poll::Pending => panic!("the waiter was stranded with a permit free"),
        }
    });
}

/// Checks out as many connections as the pool allows right now.
fn checkouts(pool: &Pool<Mem>) -> usize {
    let mut held = Vec::new();
    while let Ok(conn) = pool.try_get() {
        held.push(conn);
        assert!(held.len() <= 8, "more checkouts than any size in the model");
    }
    held.len()
}

/// Two concurrent resizes: afterwards `max_size` is what can be checked out.
#[test]
fn concurrent_resizes_agree() {
    loom::model(|| {
        let pool = pool(2);
        let other = pool.clone();
        let t = thread::spawn(move || other.resize(1));
        pool.resize(3);
        t.join().unwrap();
        let max_size = pool.stats().max_size;
        assert!(max_size == 1 || max_size == 3);
        assert_eq!(
            checkouts(&pool),
            max_size,
            "stats().max_size == possible checkouts"
        );
    });
}

/// A shrink racing two returns: at rest, no connection is left above the cap.
#[test]
fn shrink_racing_two_returns() {
    loom::model(|| {
        let pool = pool(3);
        let a = pool.try_get().unwrap();
        let b = pool.try_get().unwrap();
        let c = pool.try_get().unwrap();
        let ta = thread::spawn(move || drop(a));
        let tb = thread::spawn(move || drop(b));
        pool.resize(1);
        ta.join().unwrap();
        tb.join().unwrap();
        let stats = pool.stats();
        assert_eq!(stats.max_size, 1);
        assert_eq!(
            (stats.connections, stats.idle, stats.in_use),
            (1, 0, 1),
            "only the held connection is left"
        );
        drop(c);
        let stats = pool.stats();
        assert!(stats.connections <= 1 && stats.idle <= 1);
        assert_eq!(checkouts(&pool), 1);
    });
}

/// A return racing a caller that waits for room (it holds a permit, nothing is idle and
/// the pool is at its cap because `retain` has the other connection out): the return's
/// one-CAS release must not skip the wake-up. A lost wake-up leaves the getter parked
/// for good, which loom reports as a deadlock.
#[test]
fn return_racing_a_waiter_for_room() {
    loom::model(|| {
        let pool = pool(2);
        let mut a = Some(pool.try_get().unwrap());
        drop(pool.try_get().unwrap()); // a second connection, idle
        let other = pool.clone();
        pool.retain(|_, _| {
            let getter = {
                let pool = other.clone();
                thread::spawn(move || loom::future::block_on(pool.get()).is_ok())
            };
            let a = a.take();
            let returner = thread::spawn(move || drop(a));
            returner.join().unwrap();
            assert!(
                getter.join().unwrap(),
                "the getter got the returned connection"
            );
            true
        });
    });
}
