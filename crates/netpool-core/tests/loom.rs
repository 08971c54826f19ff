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
