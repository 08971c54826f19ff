//! Keyed pools: when the total cap is reached and a key needs a connection while other
//! keys have idle ones, the least recently used key's oldest idle connection is closed
//! to make room, instead of the caller waiting for it to time out.

mod common;

use std::time::{Duration, Instant};

use common::{BoxFut, Flag, Keys, poll_once};
use netpool_core::{KeyedPool, Pooled, QueueStrategy};

#[test]
fn a_key_at_the_total_cap_closes_another_keys_oldest_idle_connection() {
    for strategy in [QueueStrategy::Fifo, QueueStrategy::Lifo] {
        let keys = Keys::default();
        let pool = keys.pool(
            KeyedPool::builder()
                .max_size(4)
                .max_total(2)
                .queue_strategy(strategy)
                .idle_timeout(Some(Duration::from_secs(600))),
        );
        // Key 2 opens two connections (first 0, then 1) and returns them: 0 is older.
        let (b0, b1) = (
            pool.get_blocking(&2).unwrap(),
            pool.get_blocking(&2).unwrap(),
        );
        assert_eq!((b0.id, b1.id), (0, 1));
        drop(b0);
        drop(b1);
        assert_eq!(pool.stats().connections, 2);

        let started = Instant::now();
        let a = pool
            .get_blocking_timeout(&1, Duration::from_secs(30))
            .expect("room is made at once");
        assert!(started.elapsed() < Duration::from_secs(5), "{strategy:?}");
        let b = pool.stats_for(&2).unwrap();
        assert_eq!((b.connections, b.idle), (1, 1), "{strategy:?}");
        assert_eq!(b.closed_handoff, 1, "closed to hand its room over");
        // The one left is the most recently used one.
        let left = pool.get_blocking(&2).unwrap();
        assert_eq!(
            left.id, 1,
            "{strategy:?}: the oldest idle connection was closed"
        );
        assert_eq!(pool.stats().connections, 2);
        assert_eq!(keys.alive(), 2);
        drop((a, left));
    }
}

#[test]
fn the_least_recently_used_key_gives_way() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(2).max_total(2));
    drop(pool.get_blocking(&2).unwrap());
    drop(pool.get_blocking(&3).unwrap());
    let a = pool.get_blocking(&1).unwrap();
    assert_eq!(
        pool.stats_for(&2).unwrap().connections,
        0,
        "key 2 was used least recently"
    );
    assert_eq!(pool.stats_for(&3).unwrap().connections, 1);
    drop(a);
    // Now key 2 needs room: key 3 (used before key 1) gives way.
    drop(pool.get_blocking(&2).unwrap());
    assert_eq!(pool.stats_for(&3).unwrap().connections, 0);
    assert_eq!(pool.stats_for(&1).unwrap().connections, 1);
}

#[test]
fn a_waiter_takes_a_connection_that_goes_idle_on_another_key() {
    let keys = Keys::default();
    // A bound of zero: a connection returned while someone waits for room is handed over
    // at once (with the default bound, once the waiter waited 10 ms).
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(2)
            .max_total(2)
            .handover_after(Duration::ZERO),
    );
    let held = [
        pool.get_blocking(&2).unwrap(),
        pool.get_blocking(&2).unwrap(),
    ];
    let (flag, waker) = Flag::new();
    let mut a: BoxFut<'_, _> = Box::pin(pool.get(&1));
    assert!(
        poll_once(a.as_mut(), &waker).is_pending(),
        "nothing idle to close"
    );
    assert_eq!(pool.stats().waiting_for_room, 1);
    // Key 2 returns a connection: it is closed at once and its room goes to the waiter.
    let [b0, b1] = held;
    drop(b0);
    assert!(flag.take(), "the waiter was woken");
    let a = match poll_once(a.as_mut(), &waker) {
        std::task::Poll::Ready(conn) => conn.unwrap(),
        std::task::Poll::Pending => panic!("still waiting"),
    };
    assert_eq!(pool.stats_for(&2).unwrap().connections, 1);
    assert_eq!(pool.stats().waiting_for_room, 0);
    drop(b1);
    assert_eq!(
        pool.stats_for(&2).unwrap().idle,
        1,
        "kept idle when nobody waits"
    );
    Pooled::discard(a);
    assert_eq!(pool.stats().connections, 1);
}
