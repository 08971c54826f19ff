//! `SharedPool::resize` and `retain`, and `KeyedSharedPool`, through the public API.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::mux::{Mux, mux_pool};
use netpool_core::{Error, KeyedSharedPool, Lent, SharedPool};

fn pool(max_size: usize, per: usize) -> SharedPool<Mux> {
    mux_pool(max_size, per, Some(Duration::from_secs(30)))
}

#[test]
fn shrinking_retires_the_least_loaded_connections_and_growing_makes_room() {
    let pool = pool(3, 2);
    // Three connections: two lends on the first two, one on the third.
    let lends: Vec<_> = (0..5).map(|_| pool.try_get().unwrap()).collect();
    assert_eq!(pool.stats().pool.connections, 3);
    let light = lends
        .iter()
        .map(|l| l.0.serial)
        .find(|n| lends.iter().filter(|l| l.0.serial == *n).count() == 1)
        .expect("one connection has a single lend");
    pool.resize(2);
    let stats = pool.stats();
    assert_eq!(stats.pool.max_size, 2);
    assert_eq!(stats.pool.connections, 2, "one connection retired");
    assert!(
        stats.connections.iter().all(|c| c.in_flight == 2),
        "the least-loaded one went: {stats:?}"
    );
    // Its lend keeps its handle; no new lend is made of it.
    assert!(lends.iter().any(|l| l.0.serial == light));
    assert!(
        pool.try_get().is_err(),
        "2 connections of 2 lends: all taken"
    );
    drop(lends);
    assert_eq!(pool.stats().in_flight, 0);

    pool.resize(4);
    let more: Vec<_> = (0..8).map(|_| pool.try_get().unwrap()).collect();
    assert_eq!(pool.stats().pool.connections, 4);
    drop(more);
    assert!(matches!(
        pool.try_resize(0),
        Err(netpool_core::BuildError::ZeroMaxSize)
    ));
    assert_eq!(pool.stats().pool.max_size, 4);
}

#[test]
fn retain_retires_the_connections_it_rejects() {
    let pool = pool(2, 1);
    let (a, b) = (pool.try_get().unwrap(), pool.try_get().unwrap());
    let first = Lent::id(&a);
    let mut seen = 0;
    let retired = pool.retain(|_, meta| {
        seen += 1;
        meta.id == first
    });
    assert_eq!((seen, retired), (2, 1));
    let stats = pool.stats();
    assert_eq!(stats.pool.connections, 1);
    assert_eq!(stats.connections[0].id, first);
    drop((a, b));
    // The freed slot opens a new connection when needed.
    let (c, d) = (pool.try_get().unwrap(), pool.try_get().unwrap());
    assert_ne!(Lent::id(&c), Lent::id(&d));
    assert_eq!(pool.manager().opened(), 3);
}

#[test]
fn a_keyed_shared_pool_keeps_one_pool_per_key() {
    let made = Arc::new(AtomicUsize::new(0));
    let nodes = KeyedSharedPool::new(
        SharedPool::builder()
            .max_size(2)
            .max_concurrent_per_connection(1),
        {
            let made = made.clone();
            move |_: &String| {
                made.fetch_add(1, Ordering::SeqCst);
                Mux::default()
            }
        },
    )
    .unwrap();
    futures_lite::future::block_on(async {
        let a1 = nodes.get("a").await.unwrap();
        let a2 = nodes.get("a").await.unwrap();
        let b1 = nodes.get("b").await.unwrap();
        assert_ne!(a1.0.serial, a2.0.serial, "a's two connections");
        let mut keys = nodes.keys();
        keys.sort();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(made.load(Ordering::SeqCst), 2, "one manager per key");
        assert_eq!(nodes.existing("a").unwrap().stats().in_flight, 2);
        assert!(nodes.pool("a").unwrap().try_get().is_err(), "a is full");
        assert!(nodes.remove("a"));
        assert!(!nodes.remove("a"));
        assert_eq!(nodes.keys(), ["b"]);
        drop((a1, a2, b1));
        nodes.close();
        assert!(nodes.is_closed());
        assert!(matches!(nodes.get("b").await, Err(Error::Closed)));
    });
    assert!(
        KeyedSharedPool::new(
            SharedPool::builder().max_concurrent_per_connection(0),
            |_: &String| Mux::default()
        )
        .is_err()
    );
}
