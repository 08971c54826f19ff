//! Helpers of the loom models (`loom.rs`, `loom_shared.rs`), which cannot use the rest of
//! `common` (its runtimes do not build under loom): the threads a model starts.

#![allow(unreachable_pub, reason = "a test helper module, not a public API")]

use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use loom::thread::{self, JoinHandle};

/// Polls `get` once and drops it, granted or not: a waiting checkout cancelled at
/// whatever point the model lets the thread run.
pub fn cancel<T, E: Debug>(get: impl Future<Output = Result<T, E>>) {
    let mut get = pin!(get);
    if let Poll::Ready(conn) = get.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        drop(conn.unwrap());
    }
}

/// Waits for `get` (on this thread) and returns the checkout at once.
pub fn get_and_return<T, E: Debug>(get: impl Future<Output = Result<T, E>>) {
    drop(loom::future::block_on(get).unwrap());
}

/// Takes a checkout of `pool` with `take`, starts a thread running `waiter` with a clone
/// of `pool`, returns the checkout (racing the thread) and waits for the thread.
pub fn release_racing<P, C>(
    pool: &P,
    take: impl FnOnce(&P) -> C,
    waiter: impl FnOnce(P) + Send + 'static,
) where
    P: Clone + Send + 'static,
{
    let held = take(pool);
    let other = pool.clone();
    let waiter = thread::spawn(move || waiter(other));
    drop(held);
    waiter.join().unwrap();
}

/// Starts `n` threads, each running `body` with a clone of `pool`.
pub fn spawn_each<P, F>(pool: &P, n: usize, body: F) -> Vec<JoinHandle<()>>
where
    P: Clone + Send + 'static,
    F: Fn(P) + Clone + Send + 'static,
{
    (0..n)
        .map(|_| {
            let (pool, body) = (pool.clone(), body.clone());
            thread::spawn(move || body(pool))
        })
        .collect()
}

/// Waits for every thread of `threads` (a panic in one fails the model).
pub fn join_all(threads: Vec<JoinHandle<()>>) {
    for t in threads {
        t.join().unwrap();
    }
}
