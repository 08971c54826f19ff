//! A `get` future stays small whatever the manager's `connect` future weighs: the connect
//! path is boxed, so a client whose `connect` future is large (13 KB for the `redis`
//! crate's multiplexed connection) does not make every `get` that large (copied when it
//! is built, and held by every task that waits). The `is_valid` future stays inline (a
//! check on every checkout allocates nothing).

use std::convert::Infallible;
use std::hint::black_box;

use netpool_core::{KeyedPool, Manager, Pool};

/// A manager whose `connect` future holds 16 KB across an await.
struct Heavy;

impl Manager for Heavy {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        let buf = [1u8; 16 * 1024];
        std::future::ready(()).await;
        Ok(u64::from(black_box(&buf)[7]))
    }
    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

const SMALL: usize = 2048;

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
