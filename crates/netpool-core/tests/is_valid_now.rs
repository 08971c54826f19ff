//! `Manager::is_valid_now`: a check answered without I/O replaces `is_valid` on every
//! path that checks (async and blocking gets, `try_get`, keyed pools, maintenance); a
//! failed answer closes the connection and the caller gets another; `None` runs
//! `is_valid`; a panic leaves the pool consistent.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{GateError, Gated};
use netpool_core::{KeyedPool, Manager, Pool};

/// What `is_valid_now` answers next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Pass,
    Fail,
    Ask,
    Panic,
}

/// A [`Gated`] manager whose `is_valid_now` answers as told, counting both checks.
#[derive(Clone)]
struct Answering {
    gated: Gated,
    answer: Arc<std::sync::Mutex<Answer>>,
    now: Arc<AtomicUsize>,
    later: Arc<AtomicUsize>,
}

impl Answering {
    fn new(answer: Answer) -> Self {
        Self {
            gated: Gated::new(),
            answer: Arc::new(std::sync::Mutex::new(answer)),
            now: Arc::default(),
            later: Arc::default(),
        }
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// (`is_valid_now` calls, `is_valid` calls).
    fn calls(&self) -> (usize, usize) {
        (
            self.now.load(Ordering::SeqCst),
            self.later.load(Ordering::SeqCst),
        )
    }
}

impl Manager for Answering {
    type Connection = <Gated as Manager>::Connection;
    type Error = GateError;

    async fn connect(&self) -> Result<Self::Connection, GateError> {
        self.gated.connect().await
    }
    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), GateError> {
        self.later.fetch_add(1, Ordering::SeqCst);
        self.gated.is_valid(conn).await
    }
    fn is_valid_now(&self, _: &mut Self::Connection) -> Option<Result<(), GateError>> {
        let n = self.now.fetch_add(1, Ordering::SeqCst);
        let answer = *self.answer.lock().unwrap();
        match answer {
            Answer::Pass => Some(Ok(())),
            Answer::Fail => Some(Err(GateError(n))),
            Answer::Ask => None,
            Answer::Panic => panic!("is_valid_now panics"),
        }
    }
    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.gated.has_broken(conn)
    }
}

/// A pool of one connection, opened, checked on every checkout.
fn pool(answer: Answer) -> (Answering, Pool<Answering>) {
    let m = Answering::new(answer);
    let pool = Pool::builder()
        .max_size(1)
        .check_idle_after(None)
        .build(m.clone())
        .unwrap();
    drop(pool.get_blocking().unwrap());
    assert_eq!(m.calls(), (0, 0), "a new connection is not checked");
    (m, pool)
}

#[test]
fn an_answer_replaces_is_valid_on_every_path() {
    let (m, pool) = pool(Answer::Pass);
    drop(futures_lite::future::block_on(pool.get()).unwrap());
    drop(pool.get_blocking().unwrap());
    drop(pool.try_get().unwrap());
    drop(futures_lite::future::block_on(pool.get_timeout(Duration::from_secs(5))).unwrap());
    assert_eq!(m.calls(), (4, 0));
    assert_eq!(
        m.gated.counts.connects(),
        1,
        "the connection was handed out each time"
    );
    assert_eq!(pool.stats().closed_invalid, 0);

    // After a wait: the connection whose return granted the wait is checked too.
    let held = pool.get_blocking().unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| futures_lite::future::block_on(pool.get()).map(drop));
        while pool.stats().gets_waited == 0 {
            std::thread::yield_now();
        }
        drop(held);
        waiter.join().unwrap().unwrap();
    });
    assert_eq!(m.calls(), (6, 0));
}

#[test]
fn a_keyed_pool_takes_the_answer_too() {
    let m = Answering::new(Answer::Pass);
    let keyed: KeyedPool<u32, Answering> = KeyedPool::builder()
        .max_size(1)
        .check_idle_after(None)
        .build({
            let m = m.clone();
            move |_: &u32| m.clone()
        })
        .unwrap();
    drop(futures_lite::future::block_on(keyed.get(&7)).unwrap());
    drop(futures_lite::future::block_on(keyed.get(&7)).unwrap());
    drop(keyed.get_blocking(&7).unwrap());
    assert_eq!(m.calls(), (2, 0));
}

#[test]
fn a_failed_answer_closes_the_connection_and_opens_another() {
    let (m, pool) = pool(Answer::Fail);
    let conn = futures_lite::future::block_on(pool.get()).unwrap();
    assert_eq!(conn.id, 1, "a new connection (new ones are not checked)");
    drop(conn);
    assert_eq!(pool.stats().closed_invalid, 1);
    assert_eq!(m.calls(), (1, 0));
    let conn = pool.get_blocking().unwrap();
    assert_eq!(conn.id, 2);
    drop(conn);
    assert_eq!(pool.stats().closed_invalid, 2);
    assert_eq!(m.gated.counts.alive(), 1);
}

/// Asked once per check: without an answer, `is_valid` runs (and `is_valid_now` is not
/// asked again on the way).
#[test]
fn no_answer_runs_is_valid() {
    let (m, pool) = pool(Answer::Ask);
    drop(futures_lite::future::block_on(pool.get()).unwrap());
    drop(pool.get_blocking().unwrap());
    assert_eq!(m.calls(), (2, 2));
    m.set(Answer::Pass);
    drop(futures_lite::future::block_on(pool.get()).unwrap());
    assert_eq!(m.calls(), (3, 2));
}

#[test]
fn a_panicking_answer_leaves_the_pool_consistent() {
    let (m, pool) = pool(Answer::Panic);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        futures_lite::future::block_on(pool.get()).map(drop)
    }));
    assert!(caught.is_err(), "the panic reaches the caller");
    // The connection was closed and its slot and permit freed.
    assert_eq!(m.gated.counts.alive(), 0);
    assert_eq!(pool.stats().connections, 0);
    m.set(Answer::Pass);
    let conn = pool.get_timeout(Duration::from_secs(5));
    let conn = futures_lite::future::block_on(conn).expect("a fresh connection");
    assert_eq!(conn.id, 1);
}

#[test]
fn maintenance_takes_the_answer() {
    let m = Answering::new(Answer::Pass);
    let pool = Pool::builder()
        .max_size(1)
        .check_idle_after(Some(Duration::from_millis(1)))
        .build(m.clone())
        .unwrap();
    drop(pool.get_blocking().unwrap());
    // Idle past `check_idle_after`: maintenance checks it (generous: 1 ms asked, the
    // loop waits for the coarse clock to pass it, bounded).
    let started = std::time::Instant::now();
    while m.calls().0 == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "never checked");
        std::thread::sleep(Duration::from_millis(5));
        common::maintain(&pool);
    }
    assert_eq!(m.calls().1, 0);
    m.set(Answer::Fail);
    let started = std::time::Instant::now();
    while pool.stats().closed_invalid == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
        std::thread::sleep(Duration::from_millis(5));
        common::maintain(&pool);
    }
    assert_eq!(m.gated.counts.alive(), 0);
}
