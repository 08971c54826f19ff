//! Keyed pools: waiters for the total cap are served first come, first served across
//! keys, and a waiter for one key is not starved by traffic on others.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{BoxFut, Flag, Keys, poll_once};
use netpool_core::{Error, KeyedPool, Pooled};

#[test]
fn waiters_for_room_are_served_in_arrival_order_across_keys() {
    let keys = Keys::default();
    // A bound of zero: every return while someone waits hands its room to the oldest.
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(3)
            .max_total(3)
            .handover_after(Duration::ZERO),
    );
    let mut held: Vec<_> = (0..3).map(|_| pool.get_blocking(&0).unwrap()).collect();
    let (_flag, waker) = Flag::new();
    // Arrivals: key 1, key 2, key 1 again, key 3.
    let order = [1, 2, 1, 3];
    type Get<'a> = BoxFut<'a, Result<Pooled<common::Gated>, Error<common::GateError>>>;
    let mut waiters: Vec<Get<'_>> = order
        .iter()
        .map(|k| Box::pin(pool.get(k)) as Get<'_>)
        .collect();
    for w in &mut waiters {
        assert!(poll_once(w.as_mut(), &waker).is_pending());
    }
    assert_eq!(pool.stats().waiting_for_room, 4);
    let mut served = Vec::new();
    for turn in 0..3 {
        drop(held.pop());
        let mut ready = Vec::new();
        for (i, w) in waiters.iter_mut().enumerate() {
            if served.contains(&i) {
                continue;
            }
            if let Poll::Ready(conn) = poll_once(w.as_mut(), &waker) {
                ready.push((i, conn.unwrap()));
            }
        }
        assert_eq!(ready.len(), 1, "turn {turn}: one unit, one waiter served");
        assert_eq!(ready[0].0, turn, "turn {turn}: the oldest waiter is served");
        served.push(ready[0].0);
        std::mem::forget(ready); // keep them checked out (leaked on purpose: a test)
    }
    assert_eq!(pool.stats().waiting_for_room, 1);
}

#[test]
fn a_waiter_is_not_starved_by_traffic_on_other_keys() {
    let keys = Keys::default();
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(4)
            .max_total(4)
            .wait_timeout(Some(Duration::from_secs(20))),
    );
    let rt = common::tokio_rt(2);
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicUsize::new(0));
        let mut hammers = Vec::new();
        // Eight tasks keep keys 2..=5 busy, so the cap is reached all the time.
        for t in 0..8u32 {
            let (pool, stop, cycles) = (pool.clone(), stop.clone(), cycles.clone());
            hammers.push(tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let conn = pool.get(&(2 + t % 4)).await.unwrap();
                    tokio::task::yield_now().await;
                    drop(conn);
                    cycles.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        while cycles.load(Ordering::Relaxed) < 1000 {
            tokio::task::yield_now().await;
        }
        // Each of several gets for key 1 is served within about the hand-over bound
        // (10 ms): the bound here is generous for a loaded 2-core machine.
        for _ in 0..20 {
            let started = Instant::now();
            let conn = pool.get(&1).await.expect("served, not starved");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "served after {:?}",
                started.elapsed()
            );
            drop(conn);
        }
        stop.store(true, Ordering::Relaxed);
        for h in hammers {
            h.await.unwrap();
        }
    });
    let stats = pool.stats();
    assert!(stats.connections <= 4);
    assert_eq!(stats.waiting_for_room, 0);
}

type Gets = KeyedPool<u32, common::Gated>;

/// Spawns `wait` on the current tokio runtime and returns once one more caller waits for
/// room than before (the spawned one).
async fn queued<F, T>(pool: &Gets, wait: impl FnOnce(Gets) -> F) -> tokio::task::JoinHandle<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let before = pool.stats().waiting_for_room;
    let handle = tokio::spawn(wait(pool.clone()));
    while pool.stats().waiting_for_room <= before {
        tokio::task::yield_now().await;
    }
    handle
}

/// A wait bounded at 100 ms took that long: at least 90 ms (the bound, less the coarse
/// clock's tick), and under 5 s (generous for a loaded 2-core machine).
fn assert_about_100_ms(took: Duration) {
    assert!(took >= Duration::from_millis(90), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// A wait for room ends at the caller's deadline (on the key pool's alarms, not a timer
/// of its own): a 100 ms wait times out while an older 60 s one keeps waiting. Bounds are
/// generous for a loaded 2-core machine.
#[test]
fn a_wait_for_room_ends_at_its_deadline() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(1).max_total(1));
    let held = pool.get_blocking(&0).unwrap();
    let rt = common::tokio_rt(2);
    rt.block_on(async {
        let long = queued(&pool, |pool| async move {
            pool.get_timeout(&1, Duration::from_secs(60)).await.is_ok()
        })
        .await;
        let started = Instant::now();
        // A wait that the alarms never end fails here instead of hanging.
        let err = tokio::time::timeout(
            Duration::from_secs(10),
            pool.get_timeout(&2, Duration::from_millis(100)),
        )
        .await
        .expect("ended by its deadline")
        .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_about_100_ms(started.elapsed());
        assert_eq!(pool.stats().waiting_for_room, 1, "the 60 s wait goes on");
        drop(held);
        assert!(long.await.unwrap(), "the 60 s wait is served");
    });
    assert_eq!(pool.stats().waiting_for_room, 0);
}

/// A connection returned while the oldest waiter for room can still wait stays with its
/// key (idle); at the hand-over bound the waiter wakes by itself (nothing else happens)
/// and makes room from it.
#[test]
fn a_waiter_wakes_at_the_hand_over_bound_to_make_room() {
    let keys = Keys::default();
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(1)
            .max_total(1)
            .handover_after(Duration::from_millis(100))
            .wait_timeout(Some(Duration::from_secs(30))),
    );
    let held = pool.get_blocking(&0).unwrap();
    let rt = common::tokio_rt(2);
    rt.block_on(async {
        let started = Instant::now();
        let waiter = queued(
            &pool,
            |pool| async move { pool.get(&1).await.map(drop).is_ok() },
        )
        .await;
        // Returned before the bound: key 0 keeps it, idle.
        drop(held);
        let served = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("woken at the bound, not at its 30 s deadline");
        assert!(served.unwrap(), "served");
        assert_about_100_ms(started.elapsed());
    });
    assert_eq!(pool.stats().waiting_for_room, 0);
}
