//! Semantic 8: the hot path (an idle connection free, no check due) makes no heap
//! allocation. A counting global allocator counts every allocation in this test binary.

#![allow(
    unsafe_code,
    reason = "a counting global allocator has to implement GlobalAlloc"
)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{GateError, Gated};
use netpool_core::{Manager, Pool, QueueStrategy};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only threads that measure count, so the test harness's own threads do not.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn counted() {
    // `try_with`: the thread-local may be gone while a thread exits.
    if COUNTING.try_with(std::cell::Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract, which we pass on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CYCLES: usize = 10_000;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    count(true);
    f();
    count(false);
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// A [`Gated`] manager whose check answers at once ([`Manager::is_valid_now`]).
struct Answering(Gated);

impl Manager for Answering {
    type Connection = <Gated as Manager>::Connection;
    type Error = GateError;

    async fn connect(&self) -> Result<Self::Connection, GateError> {
        self.0.connect().await
    }
    async fn is_valid(&self, _: &mut Self::Connection) -> Result<(), GateError> {
        unreachable!("is_valid_now answers")
    }
    fn is_valid_now(&self, _: &mut Self::Connection) -> Option<Result<(), GateError>> {
        Some(Ok(()))
    }
    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.0.has_broken(conn)
    }
}

fn check<M: Manager>(pool: &Pool<M>) {
    // Warm up: open the connection, initialise thread-locals (block_on's parker).
    for _ in 0..10 {
        drop(pool.try_get().unwrap());
        drop(pool.get_blocking().unwrap());
        drop(futures_lite::future::block_on(pool.get()).unwrap());
    }
    let n = allocations_in(|| {
        for _ in 0..CYCLES {
            drop(pool.try_get().unwrap());
        }
    });
    assert_eq!(
        n, 0,
        "try_get + drop allocated {n} times in {CYCLES} cycles"
    );
    let n = allocations_in(|| {
        for _ in 0..CYCLES {
            drop(pool.get_blocking().unwrap());
        }
    });
    assert_eq!(n, 0, "get_blocking + drop allocated {n} times");
    let n = allocations_in(|| {
        futures_lite::future::block_on(async {
            for _ in 0..CYCLES {
                drop(pool.get().await.unwrap());
            }
        })
    });
    assert_eq!(n, 0, "get().await + drop allocated {n} times");
}

/// Two threads take turns on one connection, so nearly every get waits in the queue.
fn contended_waits(pool: &Pool<Gated>) -> (usize, u64) {
    const ROUNDS: usize = 2_000;
    let barrier = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                // Warm-up: this thread's parker, and the wait list's slab.
                futures_lite::future::block_on(async {});
                for _ in 0..ROUNDS {
                    let conn = pool.get_blocking().unwrap();
                    std::thread::yield_now();
                    drop(conn);
                }
                barrier.wait();
                barrier.wait();
                count(true);
                for _ in 0..ROUNDS {
                    let conn = pool.get_blocking().unwrap();
                    std::thread::yield_now();
                    drop(conn);
                }
                count(false);
                barrier.wait();
            });
        }
        barrier.wait();
        let waited = pool.stats().gets_waited;
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        barrier.wait();
        barrier.wait();
        let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
        (allocations, pool.stats().gets_waited - waited)
    })
}

// One test function: the counter is global, so concurrent tests would disturb it.
#[test]
fn warm_get_and_drop_never_allocate() {
    // Waiting without a deadline allocates nothing either (a deadline registers an
    // async-io timer, which does).
    let pool = Pool::builder()
        .max_size(1)
        .wait_timeout(None)
        .build(Gated::new())
        .unwrap();
    let (allocations, waited) = contended_waits(&pool);
    assert!(waited > 0, "the threads did wait");
    assert_eq!(
        allocations, 0,
        "{waited} waits allocated {allocations} times"
    );

    // Defaults: idle timeout, lifetime and checks of long-idle connections on.
    check(&Pool::builder().max_size(4).build(Gated::new()).unwrap());
    // Everything time-related off.
    check(
        &Pool::builder()
            .max_size(4)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .build(Gated::new())
            .unwrap(),
    );
    // With an event handler set: nothing is reported per checkout.
    check(
        &Pool::builder()
            .max_size(4)
            .event_handler(|_: &netpool_core::Event<'_>| {})
            .build(Gated::new())
            .unwrap(),
    );
    // Leak detection on: checkouts are stamped in the pool's table, never allocated.
    check(
        &Pool::builder()
            .max_size(4)
            .leak_threshold(Duration::from_secs(60))
            .build(Gated::new())
            .unwrap(),
    );
    // Every checkout checked, by a check that answers at once: no future is needed for
    // it, so nothing is allocated either.
    let answering = Pool::builder()
        .max_size(4)
        .check_idle_after(None)
        .build(Answering(Gated::new()))
        .unwrap();
    check(&answering);
    assert!(answering.stats().gets > 0);
    check(
        &Pool::builder()
            .queue_strategy(QueueStrategy::Lifo)
            .idle_timeout(Some(Duration::from_secs(60)))
            .build(Gated::new())
            .unwrap(),
    );
}
