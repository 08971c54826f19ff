//! Loom models of acquire, release and wake-up through the public API.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p netpool-core --release --test loom --features loom
//! ```
//!
//! The models use no timeouts (loom cannot see async-io's timer thread) and no sockets.

#![cfg(loom)]

#[path = "common/loom.rs"]
mod common_loom;

use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use common_loom::{cancel, get_and_return, join_all, release_racing, spawn_each};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread::{self, JoinHandle};
use netpool_core::{Manager, Pool, Pooled};

/// A manager of in-memory connections; given a flag, it sets it when dropped (the pool's
/// memory goes with it).
#[derive(Default)]
struct Mem(Option<Arc<AtomicBool>>);

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
        .build(Mem::default())
        .unwrap()
}

impl Drop for Mem {
    fn drop(&mut self) {
        if let Some(freed) = &self.0 {
            freed.store(true, Ordering::SeqCst);
        }
    }
}

/// At rest: nothing checked out or queued, one connection open, and a checkout served.
fn at_rest_with_one_connection(pool: &Pool<Mem>) {
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.waiting, stats.connections), (0, 0, 1));
    assert!(pool.try_get().is_ok());
}

/// A release racing with a waiter's registration is never lost.
#[test]
fn release_wakes_the_waiter() {
    loom::model(|| {
        let pool = pool(1);
        release_racing(
            &pool,
            |p| p.try_get().unwrap(),
            |other| get_and_return(other.get()),
        );
        at_rest_with_one_connection(&pool);
    });
}

/// Two getters and one slot: both are served, the cap holds.
#[test]
fn two_getters_one_slot() {
    loom::model(|| {
        let pool = pool(1);
        join_all(spawn_each(&pool, 2, |pool: Pool<Mem>| {
            let conn = loom::future::block_on(pool.get()).unwrap();
            assert!(pool.stats().connections <= 1);
            drop(conn);
        }));
        assert_eq!(pool.stats().connections, 1);
        assert!(pool.try_get().is_ok());
    });
}

/// A waiter that is dropped while the permit is handed to it passes the permit on.
#[test]
fn cancelled_waiter_loses_nothing() {
    loom::model(|| {
        let pool = pool(1);
        release_racing(&pool, |p| p.try_get().unwrap(), |other| cancel(other.get()));
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

/// A waiter granted by a return takes the returned connection in place (`Pool::rest`'s
/// pop), racing a close: it gets the connection or `Closed`, and the connection is closed
/// either way once everything is back, none leaked.
#[test]
fn granted_waiter_takes_the_return_racing_a_close() {
    loom::model(|| {
        let pool = pool(1);
        let held = pool.try_get().unwrap();
        let other = pool.clone();
        let waiter = thread::spawn(move || loom::future::block_on(other.get()).map(drop));
        let closer = {
            let pool = pool.clone();
            thread::spawn(move || pool.close())
        };
        drop(held);
        closer.join().unwrap();
        if let Err(e) = waiter.join().unwrap() {
            assert!(e.is_closed());
        }
        let stats = pool.stats();
        assert_eq!((stats.connections, stats.in_use, stats.waiting), (0, 0, 0));
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

/// A pool of 2 at its cap with nothing idle: one connection out (`a`), the other held by
/// a `retain` pass, during which `during` runs with a handle of the pool, `a`, and a
/// thread whose get waits for room (its result: served).
fn in_a_pass_at_the_cap(
    during: impl FnOnce(&Pool<Mem>, Pooled<Mem>, JoinHandle<bool>),
) -> Pool<Mem> {
    let pool = pool(2);
    let mut a = Some(pool.try_get().unwrap());
    drop(pool.try_get().unwrap()); // a second connection, idle
    let other = pool.clone();
    let mut during = Some(during);
    pool.retain(|_, _| {
        // `retain` holds the idle connection: the pool is at its cap, nothing idle.
        let getter = {
            let pool = other.clone();
            thread::spawn(move || loom::future::block_on(pool.get()).is_ok())
        };
        let during = during.take().expect("one idle connection");
        during(&other, a.take().expect("one connection out"), getter);
        true
    });
    pool
}

/// Two idle connections, X and Z, and a `retain` pass that keeps both; visiting X, it
/// takes Z and calls `start` with a handle of the pool. Z's guard and what `start`
/// returned.
fn wrapped_pass<T>(pool: &Pool<Mem>, start: impl FnOnce(Pool<Mem>) -> T) -> (Pooled<Mem>, T) {
    let (x, z) = (pool.try_get().unwrap(), pool.try_get().unwrap());
    drop((x, z));
    let mut start = Some(start);
    let mut started = None;
    pool.retain(|_, _| {
        if let Some(start) = start.take() {
            let held = pool.try_get().unwrap();
            started = Some((held, start(pool.clone())));
        }
        true
    });
    started.expect("the pass visited X")
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
        in_a_pass_at_the_cap(|_, a, getter| {
            let returner = thread::spawn(move || drop(a));
            returner.join().unwrap();
            assert!(
                getter.join().unwrap(),
                "the getter got the returned connection"
            );
        });
    });
}

/// Two idle connections, X and Z: a `retain` pass keeps X; a get takes Z; the pass pops X
/// again (it wrapped around) while a second get finds the pool at its cap and waits for
/// room. The pass's put-back of X must wake that get, which would otherwise stay parked
/// beside an idle connection (a deadlock for loom).
#[test]
fn wrapped_pass_wakes_a_waiter_for_room() {
    loom::model(|| {
        let pool = pool(2);
        // Visiting X: take Z, and start a get that finds nothing idle.
        let (held, getter) = wrapped_pass(&pool, |other| {
            thread::spawn(move || loom::future::block_on(other.get()).map(drop).is_ok())
        });
        assert!(getter.join().unwrap(), "the getter got X");
        drop(held);
        let stats = pool.stats();
        assert_eq!((stats.connections, stats.idle, stats.waiting), (2, 2, 0));
    });
}

/// As above, with a shrink instead of a get: a `resize(1)` whose trim runs while the pass
/// holds X must not leave the pool above its new cap once everything is back.
#[test]
fn wrapped_pass_respects_a_shrink() {
    loom::model(|| {
        let pool = pool(2);
        let (held, resizer) = wrapped_pass(&pool, |other| thread::spawn(move || other.resize(1)));
        resizer.join().unwrap();
        drop(held);
        let stats = pool.stats();
        assert_eq!(stats.max_size, 1);
        assert_eq!(
            (stats.connections, stats.idle),
            (1, 1),
            "one connection left, idle, at the new cap"
        );
    });
}

/// A return whose one-CAS release fails on `SLOW` (a caller queued for a permit, which
/// then goes away) while another caller starts waiting for room: the return must wake it
/// or the waiter must see the returned connection (else it is parked for good, which loom
/// reports as a deadlock).
#[test]
fn slow_return_wakes_a_waiter_for_room() {
    loom::model(|| {
        let pool = in_a_pass_at_the_cap(|other, a, getter| {
            // Queues (for a permit or for room) and goes away: sets and clears `SLOW`
            // around the return's release.
            let queued = {
                let pool = other.clone();
                thread::spawn(move || cancel(pool.get()))
            };
            drop(a);
            queued.join().unwrap();
            assert!(getter.join().unwrap(), "the getter got the returned one");
        });
        let stats = pool.stats();
        assert_eq!((stats.connections, stats.waiting, stats.in_use), (2, 0, 0));
    });
}

/// Concurrent trims (a shrink's and a return's) close exactly the connections above the
/// new cap, not one more.
#[test]
fn concurrent_trims_close_no_connection_too_many() {
    loom::model(|| {
        let pool = pool(3);
        let a = pool.try_get().unwrap();
        let b = pool.try_get().unwrap();
        drop(pool.try_get().unwrap()); // a third connection, idle
        drop(b); // idle too
        let returner = thread::spawn(move || drop(a));
        pool.resize(1);
        returner.join().unwrap();
        let stats = pool.stats();
        assert_eq!(
            (stats.max_size, stats.connections, stats.idle),
            (1, 1, 1),
            "two closed, one left"
        );
    });
}

/// The last `Pool` handle dropped (closing the pool) while a guard returns its connection:
/// whichever goes last frees the pool, exactly once (loom checks that every `Arc` is freed,
/// and frees it only once).
#[test]
fn last_handle_drop_races_a_guard_release() {
    loom::model(|| {
        let freed = Arc::new(AtomicBool::new(false));
        let pool = Pool::builder()
            .max_size(2)
            .wait_timeout(None)
            .idle_timeout(None)
            .max_lifetime(None)
            .build(Mem(Some(freed.clone())))
            .unwrap();
        let conn = pool.try_get().unwrap();
        let returner = thread::spawn(move || drop(conn));
        drop(pool);
        returner.join().unwrap();
        assert!(freed.load(Ordering::SeqCst), "freed");
    });
}

/// A maintenance scan reporting a checkout as held too long races the guard's return:
/// however they interleave, the checkout is reported at most once, and a reported one's
/// return exactly once (by the guard if it saw the report, else by the next scan).
#[test]
fn leak_report_racing_the_return_is_reported_once_each() {
    use loom::sync::atomic::AtomicUsize;
    use netpool_core::Event;
    loom::model(|| {
        let held = Arc::new(AtomicUsize::new(0));
        let returned = Arc::new(AtomicUsize::new(0));
        let (h, r) = (held.clone(), returned.clone());
        let pool = Pool::builder()
            .max_size(1)
            .wait_timeout(None)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .maintenance_interval(None)
            // Every checkout is past this threshold once the coarse clock has ticked.
            .leak_threshold(std::time::Duration::from_nanos(1))
            .event_handler(move |event: &Event<'_>| match event {
                Event::HeldTooLong { .. } => {
                    h.fetch_add(1, Ordering::SeqCst);
                }
                Event::ReturnedAfterLeak { .. } => {
                    r.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            })
            .build(Mem::default())
            .unwrap();
        let conn = loom::future::block_on(pool.get()).unwrap();
        // The checkout is dated by the connection's opening; let the coarse clock (a tick
        // of a few ms) pass it. Not a synchronisation: the threads start after it.
        std::thread::sleep(std::time::Duration::from_millis(12));
        let scanner = pool.clone();
        let scan = thread::spawn(move || loom::future::block_on(scanner.maintain()));
        drop(conn);
        scan.join().unwrap();
        // The scan after both: reports a return the guard did not see reported.
        loom::future::block_on(pool.maintain());
        // A return before the scan looked is no leak: nothing is reported.
        let held = held.load(Ordering::SeqCst);
        assert!(held <= 1, "{held} reports of one checkout");
        assert_eq!(
            returned.load(Ordering::SeqCst),
            held,
            "one return per report"
        );
    });
}

/// Waits that end while other callers queue up: a woken waiter reads its outcome without
/// the semaphore's lock, and its slot is reused only after it did, so a new waiter never
/// takes the place (or the grant) of one that has not looked yet. Two callers, one
/// connection, two checkouts each: every checkout is served, nothing is left queued.
#[test]
fn ended_waits_slots_are_reused_only_after_their_waiter_looked() {
    loom::model(|| {
        let pool = pool(1);
        join_all(spawn_each(&pool, 2, |pool: Pool<Mem>| {
            for _ in 0..2 {
                drop(loom::future::block_on(pool.get()).unwrap());
            }
        }));
        at_rest_with_one_connection(&pool);
    });
}
