//! Semantic 5, "fail fast only on evidence": `Error::Unavailable` is for a server that is
//! down, and a caller gets it only when connect attempts it waited on failed. Broken or
//! invalid connections, a single failed connect, or a caller's own short deadline never
//! make another caller fail. (Ported from the peers' suites: bb8's
//! `test_broken_connections_dont_starve_pool`, deadpool's "a failed connect frees the
//! slot", r2d2-style churn under `max_size`.)
//!
//! Time bounds are generous (seconds) for a loaded 2-core CI machine; delays are tens of
//! milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use netpool_core::{Error, Manager, Pool};

/// A manager scripted by connect number: connect `n` fails if `n < fail_first`, takes
/// `connect_ms`, and its connection reports broken on return if `n < broken_first`.
#[derive(Debug, Clone, Default)]
struct Script {
    fail_first: usize,
    fail_all: bool,
    broken_first: usize,
    connect_ms: u64,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    connects: AtomicUsize,
    alive: AtomicUsize,
    max_alive: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("refused #{0}")]
struct Refused(usize);

#[derive(Debug)]
struct Conn {
    n: usize,
    counts: Arc<Counts>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counts.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Manager for Script {
    type Connection = Conn;
    type Error = Refused;

    async fn connect(&self) -> Result<Conn, Refused> {
        let n = self.counts.connects.fetch_add(1, Ordering::SeqCst);
        if self.connect_ms > 0 {
            async_io::Timer::after(Duration::from_millis(self.connect_ms)).await;
        }
        if self.fail_all || n < self.fail_first {
            return Err(Refused(n));
        }
        let alive = self.counts.alive.fetch_add(1, Ordering::SeqCst) + 1;
        self.counts.max_alive.fetch_max(alive, Ordering::SeqCst);
        Ok(Conn {
            n,
            counts: self.counts.clone(),
        })
    }
    async fn is_valid(&self, _: &mut Conn) -> Result<(), Refused> {
        Ok(())
    }
    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.n < self.broken_first
    }
}

/// bb8's `test_broken_connections_dont_starve_pool`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_connections_do_not_starve_the_pool() {
    let manager = Script {
        broken_first: 5,
        ..Script::default()
    };
    let pool = Pool::builder()
        .max_size(5)
        .wait_timeout(Some(Duration::from_secs(10)))
        .build(manager.clone())
        .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(drop) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every task gets a connection");
    }
    assert!(manager.counts.max_alive.load(Ordering::SeqCst) <= 5);
    assert!(pool.stats().closed_broken >= 5, "{:?}", pool.stats());
}

/// deadpool: a failed connect frees the slot for a waiter, who connects and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connect_frees_the_slot_for_a_waiter() {
    let manager = Script {
        fail_first: 1,
        connect_ms: 50,
        ..Script::default()
    };
    let pool = Pool::builder()
        .max_size(1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(manager.clone())
        .unwrap();
    let a = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    // B asks while A is connecting.
    while manager.counts.connects.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let b = pool.get().await;
    assert!(
        a.await.unwrap().unwrap_err().is_connect(),
        "A gets its own error"
    );
    let b = b.expect("B connects in the freed slot");
    assert_eq!(b.n, 1);
}

/// `max_size` under churn: 12 threads x 10 blocking gets, the first 20 connections broken.
/// The churn cases' pool: `max_size` 3, 20 ms connects, the first 20 connections broken
/// on return, a 30 s `wait_timeout`.
fn churn_pool() -> (Script, Pool<Script>) {
    let manager = Script {
        broken_first: 20,
        connect_ms: 20,
        ..Script::default()
    };
    let pool = Pool::builder()
        .max_size(3)
        .wait_timeout(Some(Duration::from_secs(30)))
        .build(manager.clone())
        .unwrap();
    (manager, pool)
}

#[test]
fn max_size_holds_under_churn_with_bad_connections_threads() {
    let (manager, pool) = churn_pool();
    std::thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| {
                for _ in 0..10 {
                    let conn = pool.get_blocking().expect("every get succeeds");
                    assert!(pool.stats().connections <= 3);
                    drop(conn);
                }
            });
        }
    });
    assert!(manager.counts.max_alive.load(Ordering::SeqCst) <= 3);
    assert!(manager.counts.connects.load(Ordering::SeqCst) >= 21);
}

/// The same churn with 16 tokio tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_size_holds_under_churn_with_bad_connections_tasks() {
    let (manager, pool) = churn_pool();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let conn = pool.get().await.expect("every get succeeds");
                    assert!(pool.stats().connections <= 3);
                    drop(conn);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(manager.counts.max_alive.load(Ordering::SeqCst) <= 3);
}

/// A caller's own short deadline is not evidence about the server.
#[test]
fn a_callers_own_short_deadline_trips_nothing() {
    let manager = Script {
        connect_ms: 20,
        ..Script::default()
    };
    let pool = Pool::builder().max_size(4).build(manager.clone()).unwrap();
    let err = pool
        .get_blocking_timeout(Duration::from_millis(1))
        .unwrap_err();
    assert!(err.is_connect_timeout(), "{err:?}");
    let conn = pool
        .get_blocking_timeout(Duration::from_secs(5))
        .expect("the next caller connects");
    drop(conn);
    // The same from async callers whose deadline is shorter than the connect.
    futures_lite::future::block_on(async {
        for _ in 0..5 {
            let held = pool.get().await.unwrap();
            let err = pool
                .get_timeout(Duration::from_millis(1))
                .await
                .unwrap_err();
            assert!(err.is_connect_timeout() || err.is_timeout(), "{err:?}");
            drop(held);
        }
        drop(
            pool.get_timeout(Duration::from_secs(5))
                .await
                .expect("not unavailable"),
        );
    });
}

/// A server that refuses every connect: once the failures are evidence, callers fail
/// fast with `Unavailable` carrying the cause, and nobody waits out a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_server_fails_callers_fast_with_the_cause() {
    let manager = Script {
        fail_all: true,
        ..Script::default()
    };
    let pool = Pool::builder()
        .max_size(8)
        .wait_timeout(Some(Duration::from_secs(2)))
        .build(manager.clone())
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut unavailable = 0;
                for _ in 0..20 {
                    let t = Instant::now();
                    match pool.get().await {
                        Err(Error::Connect(_)) => {}
                        Err(Error::Unavailable { last, .. }) => {
                            assert!(last.message().contains("refused #"), "{last}");
                            unavailable += 1;
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                    assert!(
                        t.elapsed() < Duration::from_secs(1),
                        "waited {:?}",
                        t.elapsed()
                    );
                }
                unavailable
            })
        })
        .collect();
    let mut unavailable = 0;
    for t in tasks {
        unavailable += t.await.unwrap();
    }
    assert!(
        unavailable > 500,
        "most of 640 gets fail fast: {unavailable}"
    );
    let connects = manager.counts.connects.load(Ordering::SeqCst);
    assert!(
        connects < 100,
        "the backoff bounds the attempts: {connects}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// With fail-fast off, every caller makes its own attempt and gets its own error.
#[test]
fn with_fail_fast_off_every_caller_gets_its_own_connect_error() {
    let manager = Script {
        fail_all: true,
        ..Script::default()
    };
    let pool = Pool::builder()
        .max_size(2)
        .fail_fast(false)
        .build(manager.clone())
        .unwrap();
    for n in 0..8 {
        match pool.get_blocking().unwrap_err() {
            Error::Connect(Refused(k)) => assert_eq!(k, n, "its own attempt"),
            other => panic!("expected Connect, got {other:?}"),
        }
    }
    assert_eq!(manager.counts.connects.load(Ordering::SeqCst), 8);
}
