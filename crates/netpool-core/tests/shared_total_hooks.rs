//! `KeyedSharedPool`'s total cap across keys (`SharedBuilder::max_total`) and
//! `SharedBuilder`'s closure hooks (`on_connect`, `on_checkout`), through the public API.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use netpool_core::{BuildError, Error, KeyedSharedPool, Lent, Manager, SharedPool};

/// A handle: its connection's number, and a counter the hooks write.
#[derive(Clone, Debug)]
struct Handle {
    n: usize,
    tag: Arc<AtomicUsize>,
}

#[derive(Debug, thiserror::Error)]
#[error("rejected")]
struct Rejected;

#[derive(Default)]
struct Mux {
    opened: Arc<AtomicUsize>,
}

impl Manager for Mux {
    type Connection = Handle;
    type Error = Rejected;

    async fn connect(&self) -> Result<Handle, Rejected> {
        Ok(Handle {
            n: self.opened.fetch_add(1, Ordering::SeqCst),
            tag: Arc::default(),
        })
    }
    async fn is_valid(&self, _: &mut Handle) -> Result<(), Rejected> {
        Ok(())
    }
    fn has_broken(&self, _: &mut Handle) -> bool {
        false
    }
}

fn keyed(max_total: usize) -> KeyedSharedPool<String, Mux> {
    KeyedSharedPool::new(
        SharedPool::builder()
            .max_size(2)
            .max_concurrent_per_connection(1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .max_total(max_total),
        |_: &String| Mux::default(),
    )
    .unwrap()
}

#[test]
fn the_total_cap_binds_across_keys_and_idle_connections_make_room() {
    let pools = keyed(3);
    assert_eq!(pools.max_total(), Some(3));
    let a1 = futures_lite::future::block_on(pools.get("a")).unwrap();
    let a2 = futures_lite::future::block_on(pools.get("a")).unwrap();
    let b1 = futures_lite::future::block_on(pools.get("b")).unwrap();
    assert_eq!(pools.connections(), 3);

    // Every connection has a lend out: "b" waits for room.
    let mut waiting = Box::pin(pools.get("b"));
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(waiting.as_mut().poll(&mut cx).is_pending());
    assert_eq!(pools.connections(), 3);

    // A lend of "a" comes back: its connection has none out, so "b" retires it and opens
    // its own in the room it frees.
    let a1_id = Lent::id(&a1);
    drop(a1);
    let b2 = match waiting.as_mut().poll(&mut cx) {
        Poll::Ready(lend) => lend.unwrap(),
        Poll::Pending => panic!("b found no room"),
    };
    assert_ne!(Lent::id(&b2), Lent::id(&b1));
    assert_eq!(pools.connections(), 3, "the cap held");
    let a_stats = pools.existing("a").unwrap().stats();
    assert_eq!(a_stats.pool.connections, 1);
    assert!(a_stats.connections.iter().all(|c| c.id != a1_id));
    drop((a2, b1, b2));
}

#[test]
fn a_caller_waiting_for_room_is_woken_when_another_key_closes_a_connection() {
    let pools = keyed(2);
    let a = futures_lite::future::block_on(pools.get("a")).unwrap();
    let b = futures_lite::future::block_on(pools.get("b")).unwrap();
    let woken = Arc::new(Woken::default());
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut waiting = Box::pin(pools.get("c"));
    assert!(waiting.as_mut().poll(&mut cx).is_pending());
    assert_eq!(woken.0.load(Ordering::SeqCst), 0);

    // "a" goes away (its connection closes when its last lend comes back): the waiter of
    // "c" is woken and opens its connection.
    pools.remove("a");
    drop(a);
    assert!(woken.0.load(Ordering::SeqCst) > 0, "no wake-up");
    let c = match waiting.as_mut().poll(&mut cx) {
        Poll::Ready(lend) => lend.unwrap(),
        Poll::Pending => panic!("c found no room"),
    };
    assert_eq!(pools.connections(), 2);
    drop((b, c));
}

#[test]
fn a_zero_total_cap_is_refused() {
    let built = KeyedSharedPool::new(SharedPool::builder().max_total(0), |_: &String| {
        Mux::default()
    });
    assert!(matches!(built, Err(BuildError::ZeroMaxTotal)));
}

#[test]
fn a_timed_out_wait_for_room_takes_nothing() {
    let pools = KeyedSharedPool::new(
        SharedPool::builder()
            .max_size(2)
            .max_concurrent_per_connection(1)
            .wait_timeout(Some(Duration::from_millis(30)))
            .max_total(1),
        |_: &String| Mux::default(),
    )
    .unwrap();
    let a = futures_lite::future::block_on(pools.get("a")).unwrap();
    let err = futures_lite::future::block_on(pools.get("b")).unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert_eq!(pools.connections(), 1);
    drop(a);
    // Room again: "b" retires the connection of "a" that has no lend out.
    let b = futures_lite::future::block_on(pools.get("b")).unwrap();
    assert_eq!(pools.connections(), 1);
    drop(b);
}

#[test]
fn on_connect_runs_once_per_connection_and_on_checkout_on_every_lend() {
    let connects = Arc::new(AtomicUsize::new(0));
    let checkouts = Arc::new(AtomicUsize::new(0));
    let (c, k) = (connects.clone(), checkouts.clone());
    let pool = SharedPool::builder()
        .max_size(2)
        .max_concurrent_per_connection(2)
        .on_connect(move |conn: &mut Handle| {
            let c = c.clone();
            Box::pin(async move {
                c.fetch_add(1, Ordering::SeqCst);
                conn.tag.store(7, Ordering::SeqCst);
                Ok(())
            })
        })
        .on_checkout(move |conn: &mut Handle, meta| {
            let k = k.clone();
            Box::pin(async move {
                k.fetch_add(1, Ordering::SeqCst);
                assert_eq!(conn.tag.load(Ordering::SeqCst), 7, "on_connect ran first");
                let _ = meta.use_count;
                Ok(())
            })
        })
        .build(Mux::default())
        .unwrap();
    let lends: Vec<_> = (0..4).map(|_| pool.try_get().unwrap()).collect();
    assert_eq!(connects.load(Ordering::SeqCst), 2);
    // The lends that opened a connection skip `on_checkout` (as a new exclusive
    // connection does); the other two ran it.
    assert_eq!(checkouts.load(Ordering::SeqCst), 2);
    assert!(lends.iter().all(|l| l.tag.load(Ordering::SeqCst) == 7));
}

#[test]
fn a_failing_on_connect_is_a_connect_error_and_a_failing_on_checkout_retires() {
    let pool = SharedPool::builder()
        .max_size(1)
        .on_connect(|_: &mut Handle| Box::pin(async { Err(Rejected) }))
        .build(Mux::default())
        .unwrap();
    let err = pool.try_get().unwrap_err();
    assert!(matches!(err, Error::Connect(Rejected)), "{err:?}");
    assert_eq!(pool.stats().pool.connections, 0, "its slot freed");

    let pool = SharedPool::builder()
        .max_size(1)
        .on_checkout(|conn: &mut Handle, _| {
            let first = conn.n == 0;
            Box::pin(async move { if first { Err(Rejected) } else { Ok(()) } })
        })
        .build(Mux::default())
        .unwrap();
    let first = pool.try_get().unwrap();
    assert_eq!(first.n, 0);
    drop(first);
    // The next lend of connection 0 fails its hook: it is retired and a new one opened.
    let second = pool.try_get().unwrap();
    assert_eq!(second.n, 1);
    assert_eq!(pool.stats().pool.closed_broken, 0);
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Woken(AtomicUsize);

impl std::task::Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
