//! A `get` future stays small whatever the manager's `connect` and `is_valid` futures
//! weigh: the paths that connect, check or close are boxed, so a client whose `connect`
//! future is large (13 KB for the `redis` crate's multiplexed connection) or whose check
//! is (its `PING`: 1.4 KB) does not make every `get` that large (copied when it is built,
//! held by every task that waits, and past the allocator's small-size caches in every
//! boxed future or spawned task that awaits a `get`). The hot path still allocates
//! nothing (`tests/hot_path.rs`); a checkout that runs `is_valid` allocates its boxed
//! future once.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use netpool_core::{KeyedPool, Manager, Pool};

/// A future that holds 16 KB across an await, then gives 1.
async fn heavy() -> u64 {
    let buf = [1u8; 16 * 1024];
    std::future::ready(()).await;
    u64::from(black_box(&buf)[7])
}

/// A manager whose `connect` future holds 16 KB across an await.
struct Heavy;

impl Manager for Heavy {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(heavy().await)
    }
    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

const SMALL: usize = 2048;

/// What a `get` future may weigh whatever the manager's futures weigh: the hot path's
/// state, the wait's, and a pointer to the boxed rest.
const TIGHT: usize = 512;

/// A manager whose `connect` and `is_valid` futures each hold 16 KB across an await,
/// and whose check fails on request.
#[derive(Default)]
struct HeavyCheck {
    checks: AtomicUsize,
    fail: AtomicBool,
}

impl HeavyCheck {
    /// The checks run so far.
    fn checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }
}

impl Manager for HeavyCheck {
    type Connection = u64;
    type Error = std::io::Error;

    async fn connect(&self) -> Result<u64, std::io::Error> {
        Ok(heavy().await)
    }
    async fn is_valid(&self, _: &mut u64) -> Result<(), std::io::Error> {
        heavy().await;
        self.checks.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("check failed"));
        }
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

#[test]
fn get_future_is_small_with_a_large_check() {
    let pool = Pool::builder()
        .max_size(2)
        .check_idle_after(None)
        .build(HeavyCheck::default())
        .unwrap();
    assert!(std::mem::size_of_val(&pool.manager().is_valid(&mut 0)) > 16 * 1024);
    let size = std::mem::size_of_val(&pool.get());
    assert!(size < TIGHT, "Pool::get's future is {size} bytes");
    let size = std::mem::size_of_val(&pool.get_timeout(std::time::Duration::from_secs(1)));
    assert!(size < TIGHT, "Pool::get_timeout's future is {size} bytes");
    // The boxed paths still connect, check on every checkout, and close a connection
    // that fails its check (then open another).
    let conn = futures_lite::future::block_on(pool.get()).unwrap();
    drop(conn);
    let conn = futures_lite::future::block_on(pool.get()).unwrap();
    assert_eq!(*conn, 1);
    drop(conn);
    assert_eq!(pool.manager().checks(), 1);
    pool.manager().fail.store(true, Ordering::SeqCst);
    let conn = futures_lite::future::block_on(pool.get()).unwrap();
    assert_eq!(pool.manager().checks(), 2);
    assert_eq!(pool.stats().closed_invalid, 1, "{:?}", pool.stats());
    drop(conn);
    // The blocking entry points take the same paths on the thread's stack.
    let conn = pool.get_blocking().unwrap();
    assert_eq!(pool.manager().checks(), 3);
    drop(conn);

    let keyed: KeyedPool<u8, HeavyCheck> = KeyedPool::builder()
        .max_size(2)
        .check_idle_after(None)
        .build(|_: &u8| HeavyCheck::default())
        .unwrap();
    let size = std::mem::size_of_val(&keyed.get(&1));
    assert!(size < TIGHT, "KeyedPool::get's future is {size} bytes");
    drop(futures_lite::future::block_on(keyed.get(&1)).unwrap());
    drop(futures_lite::future::block_on(keyed.get(&1)).unwrap());
}

#[test]
fn get_future_is_small() {
    let pool = Pool::builder().max_size(2).build(Heavy).unwrap();
    assert!(std::mem::size_of_val(&Heavy.connect()) > 16 * 1024);
    let size = std::mem::size_of_val(&pool.get());
    assert!(size < SMALL, "Pool::get's future is {size} bytes");
    let size = std::mem::size_of_val(&pool.get_timeout(std::time::Duration::from_secs(1)));
    assert!(size < SMALL, "Pool::get_timeout's future is {size} bytes");
    // And it still connects and checks through the boxed path.
    let conn = futures_lite::future::block_on(pool.get()).unwrap();
    assert_eq!(*conn, 1);
}

#[test]
fn keyed_get_future_is_small() {
    let pool: KeyedPool<u8, Heavy> = KeyedPool::builder()
        .max_size(2)
        .build(|_: &u8| Heavy)
        .unwrap();
    let size = std::mem::size_of_val(&pool.get(&1));
    assert!(size < SMALL, "KeyedPool::get's future is {size} bytes");
    let conn = futures_lite::future::block_on(pool.get(&1)).unwrap();
    assert_eq!(*conn, 1);
}

/// The guard a `get` returns is four words beside a word-sized connection (the pool,
/// the connection, its record, the call site), with no padding: a lone byte field (the
/// `set_broken` mark once lived there) left seven bytes of padding that every copy of a
/// returned guard read as part of an 8-byte load the processor could not forward from
/// the callee's one-byte store, about a sixth of a get+return on an AMD EPYC.
#[test]
fn guard_is_four_words_without_padding() {
    let word = std::mem::size_of::<usize>();
    assert_eq!(std::mem::size_of::<netpool_core::Pooled<Heavy>>(), 4 * word);
    // The `Result` a get returns has no room of its own for its tag either: the tag is
    // a niche of the guard's pointers.
    assert_eq!(
        std::mem::size_of::<Result<netpool_core::Pooled<Heavy>, netpool_core::Error<Infallible>>>(),
        4 * word
    );
    // And `set_broken` still closes a marked connection at its return.
    let pool = Pool::builder().max_size(1).build(Heavy).unwrap();
    let mut conn = pool.get_blocking().unwrap();
    netpool_core::Pooled::set_broken(&mut conn, true);
    drop(conn);
    assert_eq!(pool.stats().connections, 0);
    assert_eq!(pool.stats().closed_broken, 1);
}
