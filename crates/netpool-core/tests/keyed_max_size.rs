//! Keyed pools, semantic 1: never more than `max_size` connections for a key, nor
//! `max_total` over all keys, counting the ones being opened.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{BoxFut, Flag, Gate, Keys, poll_once};
use netpool_core::{KeyedPool, Manager, Pooled};

const KEYS: usize = 5;
const PER_KEY: usize = 3;
const TOTAL: usize = 7;

/// Counts connections per key and in total from the moment `connect` starts until the
/// connection is dropped (or the connect fails).
#[derive(Debug, Default)]
struct Tally {
    per_key: [AtomicUsize; KEYS],
    max_per_key: [AtomicUsize; KEYS],
    total: AtomicUsize,
    max_total: AtomicUsize,
}

impl Tally {
    fn open(&self, key: usize) {
        let k = self.per_key[key].fetch_add(1, Ordering::SeqCst) + 1;
        self.max_per_key[key].fetch_max(k, Ordering::SeqCst);
        let t = self.total.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_total.fetch_max(t, Ordering::SeqCst);
    }

    fn close(&self, key: usize) {
        self.per_key[key].fetch_sub(1, Ordering::SeqCst);
        self.total.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Tracked {
    key: usize,
    tally: Arc<Tally>,
}

struct TrackedConn {
    key: usize,
    tally: Arc<Tally>,
    counted: bool,
}

impl TrackedConn {
    /// Stops counting it (before it is detached: it then leaves the pool).
    fn uncount(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.tally.close(self.key);
        }
    }
}

impl Drop for TrackedConn {
    fn drop(&mut self) {
        self.uncount();
    }
}

#[derive(Debug, thiserror::Error)]
#[error("refused")]
struct Refused;

impl Manager for Tracked {
    type Connection = TrackedConn;
    type Error = Refused;

    async fn connect(&self) -> Result<TrackedConn, Refused> {
        self.tally.open(self.key);
        for _ in 0..fastrand::usize(0..4) {
            futures_lite::future::yield_now().await;
        }
        if fastrand::u8(0..50) == 0 {
            self.tally.close(self.key);
            return Err(Refused);
        }
        Ok(TrackedConn {
            key: self.key,
            tally: self.tally.clone(),
            counted: true,
        })
    }

    async fn is_valid(&self, _conn: &mut TrackedConn) -> Result<(), Refused> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut TrackedConn) -> bool {
        false
    }
}

#[test]
fn caps_hold_per_key_and_in_total_under_load() {
    let tally = Arc::new(Tally::default());
    let t = tally.clone();
    let pool: KeyedPool<usize, Tracked> = KeyedPool::builder()
        .max_size(PER_KEY)
        .max_total(TOTAL)
        .wait_timeout(Some(Duration::from_secs(10)))
        .connect_backoff(Duration::from_micros(10), Duration::from_micros(100))
        .build(move |key: &usize| Tracked {
            key: *key,
            tally: t.clone(),
        })
        .unwrap();
    let rt = common::tokio_rt(2);
    const TASKS: usize = 32;
    const ROUNDS: usize = if cfg!(miri) { 10 } else { 300 };
    let ok = Arc::new(AtomicUsize::new(0));
    rt.block_on(common::each_task(TASKS, |_| {
        let (pool, ok) = (pool.clone(), ok.clone());
        async move {
            for _ in 0..ROUNDS {
                let key = fastrand::usize(0..KEYS);
                match pool.get(&key).await {
                    Ok(mut conn) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                        if fastrand::u8(0..4) == 0 {
                            // Churn: the slot is freed and opened again.
                            conn.uncount();
                            drop(Pooled::detach(conn));
                        }
                    }
                    Err(e) => assert!(
                        e.is_connect() || e.is_unavailable(),
                        "only connect failures: {e:?}"
                    ),
                }
            }
        }
    }));
    let ok = ok.load(Ordering::Relaxed);
    eprintln!("{ok} of {} gets succeeded", TASKS * ROUNDS);
    assert!(ok > TASKS * ROUNDS / 10, "{ok} gets succeeded");
    for key in 0..KEYS {
        let max = tally.max_per_key[key].load(Ordering::SeqCst);
        assert!(max <= PER_KEY, "key {key} had {max} connections");
    }
    let max = tally.max_total.load(Ordering::SeqCst);
    assert!(max <= TOTAL, "{max} connections in total");
    assert_eq!(
        max, TOTAL,
        "the total cap was reached (the test exercised it)"
    );
    let stats = pool.stats();
    assert_eq!(stats.connections, tally.total.load(Ordering::SeqCst));
    assert_eq!(stats.waiting_for_room, 0);
    drop(pool);
    assert_eq!(
        tally.total.load(Ordering::SeqCst),
        0,
        "every connection dropped"
    );
}

#[test]
fn connects_in_progress_count_toward_both_caps() {
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(2).max_total(3));
    keys.manager(1).set_connect(Gate::Never);
    let (_flag, waker) = Flag::new();

    // Two connects of key 1 hang: they hold two of key 1's two slots, two of three units.
    let mut a1: BoxFut<'_, _> = Box::pin(pool.get(&1));
    let mut a2: BoxFut<'_, _> = Box::pin(pool.get(&1));
    assert!(poll_once(a1.as_mut(), &waker).is_pending());
    assert!(poll_once(a2.as_mut(), &waker).is_pending());
    assert_eq!(pool.stats().connections, 2);
    assert_eq!(pool.stats_for(&1).unwrap().connections, 2);
    assert!(
        pool.try_get(&1).unwrap_err().is_timeout(),
        "key 1 is at its cap"
    );

    // Key 2 gets the last unit; a second connection of key 2 must wait for room.
    let b1 = pool.try_get(&2).expect("one unit left");
    assert_eq!(pool.stats().connections, 3);
    assert!(
        pool.try_get(&2).unwrap_err().is_timeout(),
        "the total cap is reached"
    );
    let mut b2: BoxFut<'_, _> = Box::pin(pool.get(&2));
    assert!(poll_once(b2.as_mut(), &waker).is_pending());
    assert_eq!(pool.stats().waiting_for_room, 1);
    assert_eq!(keys.alive(), 1);

    // A hanging connect dropped frees its unit, which goes to the waiter.
    drop(a1);
    let b2 = match poll_once(b2.as_mut(), &waker) {
        std::task::Poll::Ready(conn) => conn.expect("room made by the cancelled connect"),
        std::task::Poll::Pending => panic!("the waiter got no room"),
    };
    assert_eq!(pool.stats().connections, 3);
    drop(a2);
    drop((b1, b2));
    assert_eq!(pool.stats().connections, 2, "key 2's two idle connections");
    assert_eq!(pool.stats().waiting_for_room, 0);
}

#[test]
fn timeouts_and_cancellations_under_the_total_cap_leak_no_room() {
    let keys = Keys::default();
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(3)
            .max_total(4)
            .wait_timeout(Some(Duration::from_secs(10))),
    );
    for key in 0..6 {
        keys.manager(key).set_connect(Gate::Slow);
    }
    let rt = common::tokio_rt(2);
    rt.block_on(common::each_task(24, |_| {
        let pool = pool.clone();
        async move {
            for _ in 0..200 {
                let key = fastrand::u32(0..6);
                // Short deadlines: many gets give up while queued for room.
                let wait = Duration::from_micros(fastrand::u64(50..2000));
                match tokio::time::timeout(wait, pool.get(&key)).await {
                    Ok(Ok(conn)) => {
                        tokio::task::yield_now().await;
                        if fastrand::u8(0..8) == 0 {
                            // Churn without touching the backoff (discarding new
                            // connections twice in a row would count as a dead server).
                            drop(Pooled::detach(conn));
                        }
                    }
                    Ok(Err(e)) => panic!("{e:?}"),
                    Err(_cancelled) => {}
                }
            }
        }
    }));
    let stats = pool.stats();
    assert_eq!(stats.waiting_for_room, 0);
    assert_eq!(stats.connections, keys.alive(), "{stats:?}");
    assert!(stats.connections <= 4);
    // Every unit is usable: each key can still get a connection at once.
    for key in 0..6 {
        drop(
            pool.try_get(&key)
                .or_else(|_| pool.get_blocking(&key))
                .unwrap(),
        );
    }
    assert!(pool.stats().connections <= 4);
}
