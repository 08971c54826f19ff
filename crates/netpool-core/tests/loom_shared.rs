//! Loom models of `SharedPool`'s lending counts through the public API: never more lends
//! of a connection than its limit, no lost wake-up when a lend comes back, and a
//! cancelled waiting checkout that loses nothing.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p netpool-core --release --test loom_shared --features loom
//! ```
//!
//! The models use no timeouts (loom cannot see async-io's timer thread) and no sockets.

#![cfg(loom)]

#[path = "common/loom.rs"]
mod common_loom;

use std::convert::Infallible;

use common_loom::{cancel, get_and_return, join_all, release_racing, spawn_each};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use netpool_core::{Manager, SharedPool};

/// A multiplexed handle that counts the callers using it at once.
#[derive(Clone)]
struct Handle(Arc<AtomicUsize>);

struct Mux;

impl Manager for Mux {
    type Connection = Handle;
    type Error = Infallible;

    async fn connect(&self) -> Result<Handle, Infallible> {
        Ok(Handle(Arc::new(AtomicUsize::new(0))))
    }
    async fn is_valid(&self, _: &mut Handle) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut Handle) -> bool {
        false
    }
}

fn pool(max_size: usize, per: usize) -> SharedPool<Mux> {
    SharedPool::builder()
        .max_size(max_size)
        .max_concurrent_per_connection(per)
        .wait_timeout(None)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_on_check_out(false)
        .build(Mux)
        .unwrap()
}

/// Two callers and a held lend, one connection of two lends: at most two use it at
/// once, both are served, and every lend comes back.
#[test]
fn never_more_than_the_limit() {
    loom::model(|| {
        let pool = pool(1, 2);
        let held = pool.try_get().unwrap();
        held.0.fetch_add(1, Ordering::SeqCst);
        let threads = spawn_each(&pool, 2, |pool: SharedPool<Mux>| {
            let conn = loom::future::block_on(pool.get()).unwrap();
            let now = conn.0.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(now <= 2, "{now} callers on a connection of 2 lends");
            conn.0.fetch_sub(1, Ordering::SeqCst);
            drop(conn);
        });
        held.0.fetch_sub(1, Ordering::SeqCst);
        drop(held);
        join_all(threads);
        let stats = pool.stats();
        assert_eq!((stats.in_flight, stats.pool.connections), (0, 1));
    });
}

/// A lend returned while a caller registers as a waiter is never lost.
#[test]
fn a_returned_lend_wakes_the_waiter() {
    loom::model(|| {
        let pool = pool(1, 1);
        release_racing(
            &pool,
            |p| p.try_get().unwrap(),
            |other| get_and_return(other.get()),
        );
        assert_eq!(pool.stats().in_flight, 0);
        assert!(pool.try_get().is_ok());
    });
}

/// A waiting checkout dropped while the lend is handed to it passes the lend on.
#[test]
fn a_cancelled_waiter_loses_nothing() {
    loom::model(|| {
        let pool = pool(1, 1);
        release_racing(&pool, |p| p.try_get().unwrap(), |other| cancel(other.get()));
        let stats = pool.stats();
        assert_eq!((stats.in_flight, stats.pool.waiting), (0, 0));
        assert!(pool.try_get().is_ok(), "the lend is free again");
    });
}

/// Two callers race for the free lends of two connections (one lend each), taken by the
/// lock-free scan and CAS: each connection has at most one user at once, and both callers
/// are served.
#[test]
fn racing_lends_of_two_connections_respect_the_limit() {
    loom::model(|| {
        let pool = pool(2, 1);
        // Open both connections, then give the lends back.
        let (a, b) = (pool.try_get().unwrap(), pool.try_get().unwrap());
        drop((a, b));
        join_all(spawn_each(&pool, 2, |pool: SharedPool<Mux>| {
            let conn = loom::future::block_on(pool.get()).unwrap();
            let now = conn.0.fetch_add(1, Ordering::SeqCst) + 1;
            assert_eq!(now, 1, "two callers on a connection of one lend");
            conn.0.fetch_sub(1, Ordering::SeqCst);
        }));
        let stats = pool.stats();
        assert_eq!((stats.in_flight, stats.pool.connections), (0, 2));
    });
}

/// A lend taken while another caller retires the connection (`Lent::discard`): the taker
/// ends with a lend (of the old connection, given back, or of a replacement), nothing
/// leaks, and the pool serves again.
#[test]
fn a_lend_racing_a_retire_loses_nothing() {
    loom::model(|| {
        let pool = pool(1, 2);
        let held = pool.try_get().unwrap();
        let other = pool.clone();
        let taker = thread::spawn(move || get_and_return(other.get()));
        netpool_core::Lent::discard(held);
        taker.join().unwrap();
        let stats = pool.stats();
        assert_eq!(stats.in_flight, 0);
        assert!(stats.pool.connections <= 1);
        assert!(pool.try_get().is_ok(), "the pool serves again");
    });
}
