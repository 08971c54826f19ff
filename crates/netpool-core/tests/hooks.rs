//! Hooks: `on_connect` on every new connection, `on_checkout` on reuse when asked for; a
//! hook that rejects, hangs past the deadline, panics or is cancelled leaves the
//! connection closed and its slot freed.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::recorder::{Rec, Recorder};
use common::{Conn, Flag, Gate, GateError, Gated, poll_once};
use netpool_core::{CloseReason, ConnectFailure, Hooks, Meta, Pool};

/// What the hooks saw: (hook, connection id, use count before this checkout).
type Seen = Vec<(&'static str, usize, u64)>;

/// Hooks whose behaviour the test sets; they record the connections they saw.
#[derive(Debug, Clone)]
struct TestHooks {
    connect: Arc<Mutex<Gate>>,
    checkout: Arc<Mutex<Gate>>,
    on_checkout: bool,
    seen: Arc<Mutex<Seen>>,
}

impl TestHooks {
    fn new(on_checkout: bool) -> Self {
        Self {
            connect: Arc::new(Mutex::new(Gate::Ok)),
            checkout: Arc::new(Mutex::new(Gate::Ok)),
            on_checkout,
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn pass(gate: Gate) -> Result<(), GateError> {
    match gate {
        Gate::Ok => Ok(()),
        Gate::Slow => {
            futures_lite::future::yield_now().await;
            Ok(())
        }
        Gate::Never => futures_lite::future::pending().await,
        Gate::Panic => panic!("hook panics"),
        Gate::Err | Gate::BlockThenErr => Err(GateError(99)),
    }
}

impl Hooks for TestHooks {
    type Manager = Gated;

    async fn on_connect(&self, conn: &mut Conn) -> Result<(), GateError> {
        self.seen.lock().unwrap().push(("connect", conn.id, 0));
        let gate = *self.connect.lock().unwrap();
        pass(gate).await
    }

    fn runs_on_checkout(&self) -> bool {
        self.on_checkout
    }

    async fn on_checkout(&self, conn: &mut Conn, meta: Meta) -> Result<(), GateError> {
        self.seen
            .lock()
            .unwrap()
            .push(("checkout", conn.id, meta.use_count));
        let gate = *self.checkout.lock().unwrap();
        pass(gate).await
    }
}

fn pool(hooks: &TestHooks) -> (Gated, Recorder, Pool<Gated>) {
    let manager = Gated::new();
    let recorder = Recorder::default();
    let pool = Pool::builder()
        .max_size(2)
        .test_on_check_out(false)
        .connect_timeout(Some(Duration::from_millis(50)))
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .event_handler(recorder.handler())
        .hooks(hooks.clone())
        .build(manager.clone())
        .unwrap();
    (manager, recorder, pool)
}

fn assert_empty(manager: &Gated, pool: &Pool<Gated>) {
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.in_use), (0, 0), "{stats:?}");
    assert_eq!(manager.counts.alive(), 0, "every connection was dropped");
}

#[test]
fn on_connect_runs_once_per_new_connection_before_first_use() {
    let hooks = TestHooks::new(false);
    let (_m, _rec, pool) = pool(&hooks);
    let a = pool.get_blocking().unwrap();
    let b = pool.get_blocking().unwrap();
    assert_eq!(hooks.seen(), [("connect", a.id, 0), ("connect", b.id, 0)]);
    drop((a, b));
    for _ in 0..5 {
        drop(pool.get_blocking().unwrap());
    }
    assert_eq!(
        hooks.seen(),
        [],
        "on_checkout is off by default; reuse runs nothing"
    );
}

#[test]
fn on_connect_runs_on_maintenance_connects() {
    let hooks = TestHooks::new(false);
    let manager = Gated::new();
    let pool = Pool::builder()
        .min_idle(Some(2))
        .hooks(hooks.clone())
        .build(manager)
        .unwrap();
    common::maintain(&pool);
    assert_eq!(pool.stats().idle, 2);
    assert_eq!(hooks.seen(), [("connect", 0, 0), ("connect", 1, 0)]);
}

#[test]
fn on_connect_rejection_is_a_failed_connect() {
    let hooks = TestHooks::new(false);
    let m = Gated::new();
    let rec = Recorder::default();
    // A backoff long enough that the immediate retry below surely falls inside it.
    let pool = Pool::builder()
        .connect_backoff(Duration::from_millis(400), Duration::from_millis(800))
        .event_handler(rec.handler())
        .hooks(hooks.clone())
        .build(m.clone())
        .unwrap();
    *hooks.connect.lock().unwrap() = Gate::Err;
    let err = pool.get_blocking().unwrap_err();
    assert_eq!(err.connect_error().map(|e| e.0), Some(99), "{err:?}");
    assert_eq!(pool.stats().connect_errors, 1);
    assert_eq!(pool.stats().connections_created, 0);
    assert_empty(&m, &pool);
    match &rec.take()[..] {
        [
            Rec::ConnectFailed {
                failure: ConnectFailure::Rejected,
                error,
                ..
            },
            Rec::BackoffEntered { failures: 1, .. },
        ] => assert_eq!(error, "gated failure #99"),
        other => panic!("{other:?}"),
    }
    // It counts toward the backoff: the next caller waits for the probe's time and makes
    // the attempt itself (one failure is not yet evidence enough to fail it unasked).
    let err = pool.get_blocking().unwrap_err();
    assert_eq!(err.connect_error().map(|e| e.0), Some(99), "{err:?}");
    assert_eq!(pool.stats().connect_errors, 2);

    std::thread::sleep(Duration::from_millis(450));
    *hooks.connect.lock().unwrap() = Gate::Ok;
    drop(pool.get_blocking().expect("accepted once the hook passes"));
}

#[test]
fn on_connect_that_hangs_is_cut_by_the_connect_timeout() {
    let hooks = TestHooks::new(false);
    let (m, rec, pool) = pool(&hooks);
    *hooks.connect.lock().unwrap() = Gate::Never;
    let err = pool.get_blocking().unwrap_err();
    assert!(err.is_connect_timeout(), "{err:?}");
    assert_empty(&m, &pool);
    assert_eq!(
        m.counts.created(),
        1,
        "the connection was made, then closed"
    );
    assert!(matches!(
        &rec.take()[..],
        [Rec::ConnectFailed { failure: ConnectFailure::TimedOut, error, .. }, ..]
            if error == "the on_connect hook timed out"
    ));
}

#[test]
fn on_connect_that_hangs_is_cut_by_the_callers_deadline() {
    let hooks = TestHooks::new(false);
    let manager = Gated::new();
    let pool = Pool::builder()
        .connect_timeout(None)
        .hooks(hooks.clone())
        .build(manager.clone())
        .unwrap();
    *hooks.connect.lock().unwrap() = Gate::Never;
    let err = pool
        .get_blocking_timeout(Duration::from_millis(40))
        .unwrap_err();
    assert!(err.is_connect_timeout(), "{err:?}");
    assert_empty(&manager, &pool);
}

#[test]
fn on_connect_that_panics_leaves_the_pool_consistent() {
    let hooks = TestHooks::new(false);
    let (m, _rec, pool) = pool(&hooks);
    *hooks.connect.lock().unwrap() = Gate::Panic;
    assert!(catch_unwind(AssertUnwindSafe(|| pool.get_blocking())).is_err());
    assert_empty(&m, &pool);
    *hooks.connect.lock().unwrap() = Gate::Ok;
    drop(
        pool.get_blocking()
            .expect("usable after a panic in the hook"),
    );
    assert_eq!(pool.stats().connections, 1);
}

#[test]
fn a_get_dropped_during_on_connect_closes_the_connection() {
    let hooks = TestHooks::new(false);
    // No deadline at all: only the drop ends the hook.
    let m = Gated::new();
    let pool = Pool::builder()
        .connect_timeout(None)
        .wait_timeout(None)
        .hooks(hooks.clone())
        .build(m.clone())
        .unwrap();
    *hooks.connect.lock().unwrap() = Gate::Never;
    let (_flag, waker) = Flag::new();
    {
        let mut get = pin!(pool.get());
        assert!(poll_once(get.as_mut(), &waker).is_pending());
        assert_eq!(
            pool.stats().connections,
            1,
            "the slot is held while the hook runs"
        );
    }
    assert_empty(&m, &pool);
}

#[test]
fn on_checkout_runs_on_reuse_when_asked_for() {
    let hooks = TestHooks::new(true);
    let (_m, _rec, pool) = pool(&hooks);
    let id = pool.get_blocking().unwrap().id;
    assert_eq!(
        hooks.seen(),
        [("connect", id, 0)],
        "a fresh connection skips on_checkout"
    );
    drop(pool.get_blocking().unwrap());
    drop(pool.get_blocking().unwrap());
    assert_eq!(hooks.seen(), [("checkout", id, 1), ("checkout", id, 2)]);
    // try_get runs it too when it completes at once.
    drop(pool.try_get().unwrap());
    assert_eq!(hooks.seen(), [("checkout", id, 3)]);
}

#[test]
fn on_checkout_rejection_closes_and_moves_on() {
    let hooks = TestHooks::new(true);
    let (m, rec, pool) = pool(&hooks);
    let first = pool.get_blocking().unwrap().id;
    rec.take();
    *hooks.checkout.lock().unwrap() = Gate::Err;
    let conn = pool
        .get_blocking()
        .expect("a new connection replaces the rejected one");
    assert_ne!(conn.id, first);
    assert_eq!(m.counts.alive(), 1);
    let events = rec.take();
    assert!(
        matches!(&events[0], Rec::CheckFailed { check: netpool_core::Check::OnCheckout, error, .. } if error == "gated failure #99"),
        "{events:?}"
    );
    assert!(
        matches!(
            events[1],
            Rec::Closed {
                reason: CloseReason::Rejected,
                uses: 1,
                ..
            }
        ),
        "{events:?}"
    );
    assert!(matches!(events[2], Rec::Opened { .. }), "{events:?}");
    assert_eq!(
        pool.stats().connect_errors,
        0,
        "says nothing about the server"
    );
}

#[test]
fn on_checkout_that_hangs_is_cut_by_the_callers_deadline() {
    let hooks = TestHooks::new(true);
    let (m, rec, pool) = pool(&hooks);
    drop(pool.get_blocking().unwrap());
    rec.take();
    *hooks.checkout.lock().unwrap() = Gate::Never;
    let err = pool
        .get_blocking_timeout(Duration::from_millis(40))
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_empty(&m, &pool);
    let events = rec.take();
    assert!(
        matches!(&events[0], Rec::CheckFailed { error, .. } if error == "the on_checkout hook timed out"),
        "{events:?}"
    );
    assert!(matches!(events[1], Rec::GetTimedOut { .. }), "{events:?}");
    assert!(
        matches!(
            events[2],
            Rec::Closed {
                reason: CloseReason::Aborted,
                ..
            }
        ),
        "{events:?}"
    );
}

#[test]
fn on_checkout_that_panics_leaves_the_pool_consistent() {
    let hooks = TestHooks::new(true);
    let (m, _rec, pool) = pool(&hooks);
    drop(pool.get_blocking().unwrap());
    *hooks.checkout.lock().unwrap() = Gate::Panic;
    assert!(catch_unwind(AssertUnwindSafe(|| pool.get_blocking())).is_err());
    assert_empty(&m, &pool);
    *hooks.checkout.lock().unwrap() = Gate::Ok;
    drop(
        pool.get_blocking()
            .expect("usable after a panic in the hook"),
    );
    drop(pool.get_blocking().expect("and reusable"));
}

#[test]
fn on_checkout_follows_is_valid() {
    let hooks = TestHooks::new(true);
    let manager = Gated::new();
    let pool = Pool::builder()
        .check_idle_after(None)
        .hooks(hooks.clone())
        .build(manager.clone())
        .unwrap();
    drop(pool.get_blocking().unwrap());
    hooks.seen();
    manager.set_valid(Gate::Err);
    let conn = pool.get_blocking().unwrap();
    // The failed check closed the first connection; the hook never saw it again.
    assert_eq!(hooks.seen(), [("connect", conn.id, 0)]);
    drop(conn);
    manager.set_valid(Gate::Ok);
    let conn = pool.get_blocking().unwrap();
    assert_eq!(hooks.seen(), [("checkout", conn.id, 1)]);
}
