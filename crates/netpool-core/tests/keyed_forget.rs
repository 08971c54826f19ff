//! Keyed pools: keys with no connections and no users are forgotten by maintenance, so
//! 100,000 distinct keys used once each leave bounded memory behind.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use common::Keys;
use netpool_core::{KeyedPool, Pooled};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to `System`, only counting sizes.
#[allow(unsafe_code, reason = "a counting global allocator for this test")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests of this file run one at a time: the allocation count is process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const KEYS: u32 = if cfg!(miri) { 1_000 } else { 100_000 };

#[test]
fn a_hundred_thousand_keys_used_once_leave_bounded_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let keys = Keys::default();
    let pool = keys.pool(KeyedPool::builder().max_size(2).max_total(64));
    // Warm up: the shards' maps, async-io's timer thread and the like exist before.
    drop(pool.get_blocking(&u32::MAX).unwrap());
    futures_lite::future::block_on(pool.maintain());
    let before = LIVE.load(Ordering::SeqCst);
    let mut peak_keys = 0;
    for key in 0..KEYS {
        let conn = pool.get_blocking(&key).unwrap();
        // Used once: the connection is closed (a server that hung up, say).
        Pooled::discard(conn);
        if key % 10_000 == 9_999 {
            peak_keys = peak_keys.max(pool.stats().keys);
            futures_lite::future::block_on(pool.maintain());
        }
    }
    futures_lite::future::block_on(pool.maintain());
    let stats = pool.stats();
    assert_eq!(
        stats.keys, 1,
        "only the warm-up key (an idle connection) is left"
    );
    assert!(peak_keys >= 10_000.min(KEYS as usize));
    // The managers the test keeps (one per key, in `keys`) are not the pool's memory.
    let test_side = keys_memory(&keys);
    let grown = LIVE.load(Ordering::SeqCst) - before - test_side;
    assert!(
        grown < 512 * 1024,
        "{grown} bytes left behind by {KEYS} forgotten keys"
    );
}

#[test]
fn idle_keys_are_forgotten_once_their_connections_time_out() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let keys = Keys::default();
    let pool = keys.pool(
        KeyedPool::builder()
            .idle_timeout(Some(Duration::from_millis(500)))
            .max_total(1000),
    );
    for key in 0..500 {
        drop(pool.get_blocking(&key).unwrap());
    }
    let held = pool.get_blocking(&7).unwrap();
    futures_lite::future::block_on(pool.maintain());
    assert_eq!(pool.stats().keys, 500, "idle connections keep their keys");
    std::thread::sleep(Duration::from_millis(800)); // let the idle timeout pass
    futures_lite::future::block_on(pool.maintain());
    assert_eq!(pool.stats().keys, 1, "a key in use is kept");
    assert_eq!(pool.stats().connections, 1);
    drop(held);
    assert_eq!(pool.keys(), [7]);
}

/// Bytes the test itself holds per key (its map of managers), measured by building the
/// same map again.
fn keys_memory(keys: &Keys) -> isize {
    let before = LIVE.load(Ordering::SeqCst);
    let again = Keys::default();
    for key in 0..KEYS {
        again.manager(key);
    }
    let _ = keys;
    let size = LIVE.load(Ordering::SeqCst) - before;
    drop(again);
    size
}

#[test]
fn min_idle_is_kept_per_key_within_the_total_cap() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let keys = Keys::default();
    let pool = keys.pool(
        KeyedPool::builder()
            .max_size(4)
            .min_idle(Some(2))
            .max_total(5),
    );
    drop(pool.get_blocking(&1).unwrap());
    drop(pool.get_blocking(&2).unwrap());
    futures_lite::future::block_on(pool.maintain());
    assert_eq!(pool.stats_for(&1).unwrap().idle, 2);
    assert_eq!(pool.stats_for(&2).unwrap().idle, 2);
    drop(pool.get_blocking(&3).unwrap());
    futures_lite::future::block_on(pool.maintain());
    // Key 3 gets one more within the total cap of 5, no more.
    assert_eq!(pool.stats().connections, 5);
    assert_eq!(pool.stats().keys, 3, "keys kept warm are not forgotten");
}
