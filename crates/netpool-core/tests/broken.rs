//! Semantic 4: a broken connection, a failed `is_valid`, an expired idle or lifetime
//! connection is closed and its slot freed at once, waking a waiter that can connect.
//!
//! Idle and lifetime tests need real time to pass: they use limits of tens of
//! milliseconds and sleep several times longer (the coarse clock ticks every few ms).

mod common;

use std::task::Poll;
use std::time::Duration;

use common::{BoxFut, Flag, Gate, Gated, gated_pool, gated_sized, maintain, poll_once};
use netpool_core::{Error, Pool, Pooled};

type Get<'a> = BoxFut<'a, Result<Pooled<Gated>, Error<common::GateError>>>;

#[test]
fn broken_on_return_frees_the_slot_and_wakes_a_waiter() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(1).build(manager.clone()).unwrap();
    let mut conn = pool.try_get().unwrap();
    let (flag, waker) = Flag::new();
    let mut waiter: Get<'_> = Box::pin(pool.get());
    assert!(poll_once(waiter.as_mut(), &waker).is_pending());
    conn.broken = true;
    drop(conn);
    assert!(flag.take(), "the waiter is woken");
    assert_eq!(manager.counts.alive(), 0, "the broken connection is closed");
    match poll_once(waiter.as_mut(), &waker) {
        Poll::Ready(Ok(conn)) => assert_eq!(conn.id, 1, "a fresh connection"),
        _ => panic!("the waiter connects"),
    }
    assert_eq!(pool.stats().closed_broken, 1);
}

#[test]
fn discard_closes_at_once() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(1).build(manager.clone()).unwrap();
    let conn = pool.try_get().unwrap();
    Pooled::discard(conn);
    assert_eq!(manager.counts.alive(), 0);
    let stats = pool.stats();
    assert_eq!(
        (stats.connections, stats.in_use, stats.closed_broken),
        (0, 0, 1)
    );
    assert_eq!(pool.try_get().unwrap().id, 1);
}

#[test]
fn failed_is_valid_gives_the_caller_a_fresh_connection() {
    let (manager, pool) = gated_pool(Pool::builder().max_size(2).check_idle_after(None));
    drop(pool.get_blocking().unwrap());
    manager.set_valid(Gate::Err);
    let conn = pool
        .get_blocking()
        .expect("not an error: a fresh connection");
    assert_eq!(conn.id, 1);
    assert_eq!(pool.stats().closed_invalid, 1);
    assert_eq!(manager.counts.alive(), 1);
}

#[test]
fn checks_only_connections_idle_long_enough() {
    let (manager, pool) = gated_sized(1, |b| b.check_idle_after(Some(Duration::from_millis(50))));
    for _ in 0..10 {
        drop(pool.get_blocking().unwrap());
    }
    assert_eq!(
        manager.counts.validations(),
        0,
        "busy connections skip the check"
    );
    std::thread::sleep(Duration::from_millis(150));
    drop(pool.get_blocking().unwrap());
    assert_eq!(manager.counts.validations(), 1);
}

#[test]
fn idle_timeout_closes_on_checkout_and_in_maintenance() {
    let (_manager, pool) = gated_sized(2, |b| b.idle_timeout(Some(Duration::from_millis(30))));
    let (a, b) = (pool.get_blocking().unwrap(), pool.get_blocking().unwrap());
    drop((a, b));
    std::thread::sleep(Duration::from_millis(120));
    // Checkout skips (and closes) the expired connection.
    let c = pool.get_blocking().unwrap();
    assert!(c.id >= 1);
    drop(c);
    maintain(&pool);
    let stats = pool.stats();
    assert!(stats.closed_idle >= 1, "{stats:?}");
    std::thread::sleep(Duration::from_millis(120));
    maintain(&pool);
    let stats = pool.stats();
    assert_eq!(stats.connections, 0, "{stats:?}");
    assert_eq!(stats.closed_idle, 3);
}

#[test]
fn maintenance_never_reaps_below_min_idle_and_refills() {
    let (_manager, pool) = gated_sized(4, |b| {
        b.min_idle(Some(2))
            .idle_timeout(Some(Duration::from_millis(30)))
    });
    assert_eq!(pool.stats().connections, 0, "build() opens nothing");
    maintain(&pool);
    assert_eq!(pool.stats().idle, 2, "maintain fills min_idle");
    let conns: Vec<_> = (0..4).map(|_| pool.get_blocking().unwrap()).collect();
    drop(conns);
    assert_eq!(pool.stats().idle, 4);
    std::thread::sleep(Duration::from_millis(120));
    maintain(&pool);
    let stats = pool.stats();
    assert_eq!(
        stats.idle, 2,
        "reaped down to min_idle, not below: {stats:?}"
    );
    assert_eq!(stats.closed_idle, 2);
}

#[test]
fn max_lifetime_closes_on_return_and_in_maintenance() {
    let (_manager, pool) = gated_sized(2, |b| b.max_lifetime(Some(Duration::from_millis(40))));
    let a = pool.get_blocking().unwrap();
    drop(pool.get_blocking().unwrap());
    std::thread::sleep(Duration::from_millis(120));
    drop(a); // expired: closed on return
    assert_eq!(pool.stats().closed_lifetime, 1);
    maintain(&pool);
    let stats = pool.stats();
    assert_eq!(stats.closed_lifetime, 2, "{stats:?}");
    assert_eq!(stats.connections, 0);
}

#[test]
fn a_background_check_does_not_exempt_checkout() {
    let (manager, pool) = gated_sized(1, |b| b.check_idle_after(Some(Duration::from_millis(30))));
    drop(pool.get_blocking().unwrap());
    std::thread::sleep(Duration::from_millis(100));
    maintain(&pool); // checks it in the background: fine
    assert_eq!(manager.counts.validations(), 1);
    // The server goes away between the background check and the checkout.
    manager.set_valid(Gate::Err);
    let conn = pool
        .get_blocking()
        .expect("a fresh connection, not the dead one");
    assert_eq!(conn.id, 1);
    assert_eq!(pool.stats().closed_invalid, 1);
}

#[test]
fn a_connection_marked_broken_is_closed_when_dropped() {
    let (manager, pool) = gated_pool(Pool::builder().max_size(1));
    let mut conn = pool.get_blocking().unwrap();
    Pooled::set_broken(&mut conn, true);
    drop(conn); // as if the future doing an exchange were dropped half way
    assert_eq!(manager.counts.alive(), 0);
    assert_eq!(pool.stats().closed_broken, 1);
    let mut conn = pool.get_blocking().unwrap();
    Pooled::set_broken(&mut conn, true);
    Pooled::set_broken(&mut conn, false); // the exchange completed
    drop(conn);
    assert_eq!(pool.stats().idle, 1);
}

#[test]
fn min_idle_connections_survive_a_quiet_spell_and_are_handed_out() {
    // After a quiet spell longer than idle_timeout, maintenance keeps min_idle
    // connections; the next gets must use them, not expire them and connect afresh.
    let (manager, pool) = gated_sized(4, |b| {
        b.min_idle(Some(2))
            .idle_timeout(Some(Duration::from_millis(30)))
    });
    maintain(&pool);
    assert_eq!(pool.stats().idle, 2, "maintain fills min_idle");
    std::thread::sleep(Duration::from_millis(120)); // well past idle_timeout
    maintain(&pool);
    assert_eq!(pool.stats().idle, 2, "kept for min_idle");
    let a = pool.get_blocking().unwrap();
    let b = pool.get_blocking().unwrap();
    let stats = pool.stats();
    assert_eq!(stats.connections_created, 2, "no cold connect: {stats:?}");
    assert_eq!(stats.closed_idle, 0, "{stats:?}");
    assert!(a.id < 2 && b.id < 2, "the warm ones: {} {}", a.id, b.id);
    drop((a, b));
    // Above min_idle, expired idle connections are still closed at checkout.
    let extra: Vec<_> = (0..4).map(|_| pool.get_blocking().unwrap()).collect();
    drop(extra);
    std::thread::sleep(Duration::from_millis(120));
    let _c = pool.get_blocking().unwrap();
    let stats = pool.stats();
    assert!(stats.closed_idle >= 2, "{stats:?}");
    assert!(manager.counts.alive() <= 2, "{stats:?}");
}
