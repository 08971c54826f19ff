//! Passes over the idle queue (maintenance, `retain`) visit every connection that was
//! idle when they started, once, under LIFO as under FIFO (r2d2's
//! `test_idle_timeout_partial_use`).

mod common;

use std::time::Duration;

use common::{Gated, maintain};
use netpool_core::{Pool, QueueStrategy};

/// Warms `n` connections, returned in the order they were opened (ids 0..n).
fn warm(pool: &Pool<Gated>, n: usize) {
    let held: Vec<_> = (0..n).map(|_| pool.get_blocking().unwrap()).collect();
    drop(held);
}

/// Under LIFO one connection stays hot and the others expire. Sleeps are the point here:
/// idle_timeout 500 ms, eight rounds 150 ms apart.
#[test]
fn lifo_lets_the_unused_connections_expire() {
    let manager = Gated::new();
    let pool = Pool::builder()
        .max_size(5)
        .idle_timeout(Some(Duration::from_millis(500)))
        .queue_strategy(QueueStrategy::Lifo)
        .build(manager.clone())
        .unwrap();
    warm(&pool, 5);
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(150));
        maintain(&pool);
        drop(pool.get_blocking().unwrap());
    }
    let stats = pool.stats();
    assert_eq!(stats.closed_idle, 4, "{stats:?}");
    assert_eq!(stats.connections, 1, "{stats:?}");
}

#[test]
fn retain_sees_each_idle_connection_once_in_order() {
    for strategy in [QueueStrategy::Lifo, QueueStrategy::Fifo] {
        let manager = Gated::new();
        let pool = Pool::builder()
            .max_size(4)
            .queue_strategy(strategy)
            .build(manager.clone())
            .unwrap();
        warm(&pool, 4);
        let mut seen = Vec::new();
        let closed = pool.retain(|conn, _| {
            seen.push(conn.id);
            conn.id % 2 == 0
        });
        assert_eq!(seen, [0, 1, 2, 3], "{strategy:?}");
        assert_eq!(closed, 2);
        // The kept ones keep their order: LIFO hands out the most recent first.
        let first = pool.get_blocking().unwrap();
        let expect = if strategy == QueueStrategy::Lifo {
            2
        } else {
            0
        };
        assert_eq!(first.id, expect, "{strategy:?}");
        drop(first);
        let mut again = Vec::new();
        pool.retain(|conn, _| {
            again.push(conn.id);
            true
        });
        assert_eq!(again.len(), 2, "{strategy:?}: each once: {again:?}");
    }
}

/// A pass with gets and returns going on around it still visits each connection once.
#[test]
fn a_pass_with_concurrent_gets_visits_each_once() {
    for strategy in [QueueStrategy::Lifo, QueueStrategy::Fifo] {
        let manager = Gated::new();
        let pool = Pool::builder()
            .max_size(8)
            .queue_strategy(strategy)
            .build(manager.clone())
            .unwrap();
        warm(&pool, 8);
        let mut seen = Vec::new();
        pool.retain(|conn, _| {
            // A get and return in the middle of the pass.
            if let Ok(other) = pool.try_get() {
                drop(other);
            }
            seen.push(conn.id);
            true
        });
        let mut unique = seen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{strategy:?}: visited twice: {seen:?}"
        );
        assert!(seen.len() >= 7, "{strategy:?}: {seen:?}");
    }
}
