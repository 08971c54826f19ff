//! The rest of the public API: builder validation, `add`, `resize`, `retain`, `try_get`,
//! `detach`, `meta`, queue strategies and stats.

mod common;

use std::time::Duration;

use common::{Gate, Gated};
use netpool_core::{BuildError, Manager, Pool, Pooled, QueueStrategy};

#[test]
fn every_invalid_setting_is_named() {
    let cases: Vec<(netpool_core::Builder, &str)> = vec![
        (Pool::builder().max_size(0), "max_size"),
        (Pool::builder().max_size(2).min_idle(Some(3)), "min_idle"),
        (
            Pool::builder().wait_timeout(Some(Duration::ZERO)),
            "wait_timeout",
        ),
        (
            Pool::builder().connect_timeout(Some(Duration::ZERO)),
            "connect_timeout",
        ),
        (
            Pool::builder().idle_timeout(Some(Duration::ZERO)),
            "idle_timeout",
        ),
        (
            Pool::builder().max_lifetime(Some(Duration::ZERO)),
            "max_lifetime",
        ),
        (
            Pool::builder().maintenance_interval(Some(Duration::ZERO)),
            "maintenance_interval",
        ),
        (
            Pool::builder().connect_backoff(Duration::ZERO, Duration::from_secs(1)),
            "connect_backoff",
        ),
        (
            Pool::builder().connect_backoff(Duration::from_secs(2), Duration::from_secs(1)),
            "connect_backoff",
        ),
    ];
    for (builder, setting) in cases {
        let err = builder.build(Gated::new()).expect_err(setting);
        assert_eq!(err.setting(), setting, "{err}");
        assert!(
            err.to_string().contains(setting),
            "the message names it: {err}"
        );
    }
    assert_eq!(
        Pool::builder().max_size(0).build(Gated::new()).unwrap_err(),
        BuildError::ZeroMaxSize
    );
    // Valid edge cases.
    Pool::builder()
        .max_size(1)
        .min_idle(Some(1))
        .wait_timeout(None)
        .check_idle_after(Some(Duration::ZERO))
        .build(Gated::new())
        .unwrap();
}

#[test]
fn build_is_lazy() {
    let manager = Gated::new();
    manager.set_connect(Gate::Err);
    let pool = Pool::builder()
        .min_idle(Some(3))
        .build(manager.clone())
        .unwrap();
    assert_eq!(manager.counts.connects(), 0);
    assert_eq!(pool.stats().connections, 0);
}

#[test]
fn add_puts_an_outside_connection_in() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(1).build(manager.clone()).unwrap();
    let conn = futures_lite::future::block_on(manager.connect()).unwrap();
    pool.add(conn).unwrap();
    assert_eq!(pool.stats().idle, 1);
    assert_eq!(pool.try_get().unwrap().id, 0);
    assert_eq!(manager.counts.connects(), 1, "no new connect");
}

#[test]
fn resize_grows_and_shrinks() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(2).build(manager.clone()).unwrap();
    let a = pool.try_get().unwrap();
    let b = pool.try_get().unwrap();
    assert!(pool.try_get().is_err());
    pool.resize(4);
    assert_eq!(pool.stats().max_size, 4);
    let c = pool.try_get().expect("grown");
    let d = pool.try_get().expect("grown");
    assert!(pool.try_get().is_err());
    pool.resize(1);
    drop((a, b, c));
    let stats = pool.stats();
    assert_eq!(
        stats.connections, 1,
        "returned connections above the cap are closed: {stats:?}"
    );
    assert!(pool.try_get().is_err(), "d still holds the only slot");
    drop(d);
    assert_eq!(pool.stats().connections, 1);
    let e = pool.try_get().expect("the one slot");
    assert!(pool.try_get().is_err());
    drop(e);
    pool.resize(0);
    assert_eq!(
        pool.stats().max_size,
        1,
        "0 is ignored, as the builder refuses it"
    );
    assert!(matches!(
        pool.try_resize(0),
        Err(netpool_core::BuildError::ZeroMaxSize)
    ));
    assert_eq!(pool.stats().max_size, 1);
    // Growing beyond the build-time size uses the overflow queue.
    pool.resize(8);
    let all: Vec<_> = (0..8).map(|_| pool.try_get().unwrap()).collect();
    drop(all);
    assert_eq!(pool.stats().idle, 8);
    assert_eq!(manager.counts.alive(), 8);
}

#[test]
fn retain_closes_what_fails_the_test() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(4).build(manager.clone()).unwrap();
    let conns: Vec<_> = (0..4).map(|_| pool.try_get().unwrap()).collect();
    drop(conns);
    let closed = pool.retain(|conn, meta| {
        assert_eq!(meta.use_count, 1);
        assert!(meta.age() < Duration::from_secs(60));
        conn.id % 2 == 0
    });
    assert_eq!(closed, 2);
    assert_eq!(pool.stats().idle, 2);
    assert_eq!(manager.counts.alive(), 2);
}

#[test]
fn detach_frees_the_slot() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(1).build(manager.clone()).unwrap();
    let conn = pool.try_get().unwrap();
    let raw = Pooled::detach(conn);
    assert_eq!(pool.stats().connections, 0);
    let again = pool.try_get().expect("the slot is free");
    assert_eq!(again.id, 1);
    drop(raw);
}

#[test]
fn meta_counts_uses() {
    let pool = Pool::builder().max_size(1).build(Gated::new()).unwrap();
    for i in 1..=3 {
        let conn = pool.try_get().unwrap();
        let meta = Pooled::meta(&conn);
        assert_eq!(meta.use_count, i);
        assert!(meta.last_used >= meta.created_at);
    }
}

#[test]
fn fifo_and_lifo_order() {
    for (strategy, first) in [(QueueStrategy::Fifo, 0), (QueueStrategy::Lifo, 2)] {
        let pool = Pool::builder()
            .max_size(3)
            .queue_strategy(strategy)
            .build(Gated::new())
            .unwrap();
        let conns: Vec<_> = (0..3).map(|_| pool.try_get().unwrap()).collect();
        drop(conns); // returned in order 0, 1, 2
        assert_eq!(pool.try_get().unwrap().id, first, "{strategy:?}");
    }
}

#[test]
fn try_get_never_waits_for_async_connect() {
    let manager = Gated::new();
    manager.set_connect(Gate::Slow);
    let pool = Pool::builder().max_size(1).build(manager.clone()).unwrap();
    assert!(pool.try_get().unwrap_err().is_timeout());
    assert_eq!(
        pool.stats().connections,
        0,
        "the pending connect was dropped"
    );
}

#[test]
fn stats_add_up() {
    let manager = Gated::new();
    let pool = Pool::builder().max_size(3).build(manager.clone()).unwrap();
    let a = pool.try_get().unwrap();
    let b = pool.try_get().unwrap();
    drop(b);
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.idle, stats.in_use), (2, 1, 1));
    assert_eq!(stats.gets, 2);
    assert_eq!(stats.connections_created, 2);
    drop(a);
    assert!(format!("{pool:?}").contains("Pool"));
}
