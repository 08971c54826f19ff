//! The event handler: each event kind with its fields, background errors, and a
//! panicking handler.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::recorder::{Rec, Recorder};
use common::{Gate, GateError, Gated, maintain};
use netpool_core::{Builder, Check, CloseReason, ConnectFailure, Event, Pool, Pooled};

fn pool(builder: Builder) -> (Gated, Recorder, Pool<Gated>) {
    let manager = Gated::new();
    let recorder = Recorder::default();
    let pool = builder
        .event_handler(recorder.handler())
        .build(manager.clone())
        .unwrap();
    (manager, recorder, pool)
}

fn quick() -> Builder {
    Pool::builder()
        .max_size(2)
        .check_idle_after(None)
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_backoff(Duration::from_millis(1), Duration::from_millis(2))
}

#[test]
fn opened_and_closed_carry_id_age_and_uses() {
    let (_m, rec, pool) = pool(quick());
    let conn = pool.get_blocking().unwrap();
    let id = Pooled::meta(&conn).id;
    assert_ne!(id, 0);
    drop(conn);
    let conn = pool.get_blocking().unwrap();
    assert_eq!(Pooled::meta(&conn).id, id, "the same connection");
    std::thread::sleep(Duration::from_millis(12));
    Pooled::discard(conn);
    let events = rec.take();
    assert!(
        matches!(events[0], Rec::Opened { id: i, took } if i == id && took < Duration::from_secs(5)),
        "{events:?}"
    );
    match events[1] {
        Rec::Closed {
            id: i,
            reason,
            age,
            uses,
        } => {
            assert_eq!((i, reason, uses), (id, CloseReason::Broken, 2));
            // The coarse clock ticks every few milliseconds.
            assert!(age >= Duration::from_millis(5), "{age:?}");
        }
        ref other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(events.len(), 2, "nothing per checkout: {events:?}");
}

#[test]
fn connect_errors_and_timeouts() {
    let (m, rec, pool) = pool(quick().connect_timeout(Some(Duration::from_millis(30))));
    m.set_connect(Gate::Err);
    let err = pool.get_blocking().unwrap_err();
    assert!(err.is_connect());
    let events = rec.take();
    match &events[..] {
        [
            Rec::ConnectFailed {
                failure: ConnectFailure::Error,
                error,
                ..
            },
            Rec::BackoffEntered {
                failures: 1,
                retry_in,
                last_error,
            },
        ] => {
            assert_eq!(error, "gated failure #0");
            assert_eq!(last_error, "gated failure #0");
            assert!(*retry_in <= Duration::from_millis(1), "{retry_in:?}");
        }
        other => panic!("{other:?}"),
    }

    std::thread::sleep(Duration::from_millis(5)); // past the backoff
    m.set_connect(Gate::Never);
    // An async get: `connect_timeout` firing is evidence about the server. (Under
    // `get_blocking` a timeout is not: its thread may be the one the connect needs.)
    let err = futures_lite::future::block_on(pool.get()).unwrap_err();
    assert!(err.is_connect_timeout(), "{err:?}");
    match &rec.take()[..] {
        [
            Rec::ConnectFailed {
                failure: ConnectFailure::TimedOut,
                error,
                took,
            },
            Rec::BackoffEntered { failures: 2, .. },
        ] => {
            assert_eq!(error, "connect timed out");
            assert!(*took >= Duration::from_millis(25), "{took:?}");
        }
        other => panic!("{other:?}"),
    }

    // Recovery: a connect succeeds and its connection comes back healthy.
    std::thread::sleep(Duration::from_millis(5));
    m.set_connect(Gate::Ok);
    drop(pool.get_blocking().unwrap());
    let events = rec.take();
    // The backoff is over as soon as a connect succeeds.
    assert_eq!(events[0], Rec::BackoffLeft { failures: 2 }, "{events:?}");
    assert!(matches!(events[1], Rec::Opened { .. }), "{events:?}");
}

/// Tries `attempt` every 20 ms until it gives something (a connect the backoff let
/// through): at most 200 tries (4 s, past any delay armed here).
fn past_the_backoff<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(done) = attempt() {
            return done;
        }
    }
    panic!("{what}: not within 4 s");
}

/// Fails one get whose connect is refused, once the backoff lets it connect (a get
/// before that fails fast); returns the failures and the delay it armed.
fn refused_connect(m: &Gated, rec: &Recorder, pool: &Pool<Gated>) -> (u32, Duration) {
    m.set_connect(Gate::Err);
    let connects = m.counts.connects();
    past_the_backoff("a refused connect", || {
        assert!(pool.get_blocking().is_err());
        (m.counts.connects() != connects).then_some(())
    });
    // The last delay armed.
    let last = rec.take().into_iter().rev().find_map(|e| match e {
        Rec::BackoffEntered {
            failures, retry_in, ..
        } => Some((failures, retry_in)),
        _ => None,
    });
    last.expect("a backoff was entered")
}

/// A get whose connect succeeds, once the backoff lets it connect.
fn connected(m: &Gated, pool: &Pool<Gated>) -> Pooled<Gated> {
    m.set_connect(Gate::Ok);
    past_the_backoff("a reconnect", || pool.get_blocking().ok())
}

/// A connect that succeeds after failures ends the streak (`BackoffLeft`), but until a
/// connection comes back healthy the next failure's delay continues the streak's
/// exponential instead of starting over: a server that accepts and resets, or fails
/// every other connect, is not retried at the initial delay after each "success". A
/// healthy return starts it over.
#[test]
fn a_success_before_any_healthy_return_keeps_the_delay_growing() {
    let builder = Pool::builder()
        .max_size(1)
        .check_idle_after(None)
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_backoff(Duration::from_millis(10), Duration::from_secs(10));
    let (m, rec, pool) = pool(builder);
    // Three failures in a row: delays of 5-10, 10-20 and 20-40 ms (half fixed, half
    // random).
    for n in 1..=3 {
        let (failures, _) = refused_connect(&m, &rec, &pool);
        assert_eq!(failures, n);
    }
    // A connect succeeds, and its connection breaks on its first use.
    let conn = connected(&m, &pool);
    assert!(rec.take().contains(&Rec::BackoffLeft { failures: 3 }));
    Pooled::discard(conn);
    // The next failure is the first of a new streak, but its delay is the fourth's:
    // 40-80 ms (starting over would be 5-10 ms).
    let (failures, retry_in) = refused_connect(&m, &rec, &pool);
    assert_eq!(failures, 1);
    assert!(retry_in >= Duration::from_millis(40), "{retry_in:?}");

    // A connection that comes back healthy proves the server: the next streak starts
    // over.
    drop(connected(&m, &pool));
    Pooled::discard(pool.get_blocking().expect("the idle connection"));
    let (failures, retry_in) = refused_connect(&m, &rec, &pool);
    assert_eq!(failures, 1);
    assert!(retry_in <= Duration::from_millis(10), "{retry_in:?}");
}

#[test]
fn the_error_is_lent_for_downcasting() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let manager = Gated::new();
    let pool = quick()
        .event_handler(move |event: &Event<'_>| {
            if let Event::ConnectFailed { error, .. } = event {
                let gate = error.downcast_ref::<GateError>().map(|e| e.0);
                *record.lock().unwrap() = gate;
            }
        })
        .build(manager.clone())
        .unwrap();
    manager.set_connect(Gate::Err);
    assert!(pool.get_blocking().is_err());
    assert_eq!(*seen.lock().unwrap(), Some(0));
}

#[test]
fn background_errors_reach_the_handler() {
    let (m, rec, pool) = pool(quick().min_idle(Some(1)));
    m.set_connect(Gate::Err);
    maintain(&pool);
    assert_eq!(pool.stats().connect_errors, 1);
    assert!(
        matches!(&rec.take()[..], [Rec::ConnectFailed { error, .. }, Rec::BackoffEntered { .. }] if error == "gated failure #0")
    );

    // A background check that fails is reported with its error.
    std::thread::sleep(Duration::from_millis(5));
    m.set_connect(Gate::Ok);
    maintain(&pool);
    let id = match &rec.take()[..] {
        [Rec::BackoffLeft { failures: 1 }, Rec::Opened { id, .. }] => *id,
        other => panic!("{other:?}"),
    };
    drop(pool);
    let (m, rec, pool) = pool_checked_in_background();
    maintain(&pool);
    let opened = rec.take();
    let Rec::Opened { id: fresh, .. } = opened[0] else {
        panic!("{opened:?}")
    };
    assert_ne!(fresh, id);
    m.set_valid(Gate::Err);
    std::thread::sleep(Duration::from_millis(15));
    maintain(&pool);
    let events = rec.take();
    assert_eq!(
        events[0],
        Rec::CheckFailed {
            id: fresh,
            check: Check::IsValid,
            error: "gated failure #0".into()
        },
        "{events:?}"
    );
    assert!(
        matches!(events[1], Rec::Closed { id, reason: CloseReason::Invalid, uses: 0, .. } if id == fresh),
        "{events:?}"
    );
}

fn pool_checked_in_background() -> (Gated, Recorder, Pool<Gated>) {
    pool(
        quick()
            .min_idle(Some(1))
            .check_idle_after(Some(Duration::from_millis(10))),
    )
}

#[test]
fn checks_that_fail_or_time_out() {
    let (m, rec, pool) = pool(quick());
    let id = {
        let conn = pool.get_blocking().unwrap();
        Pooled::meta(&conn).id
    };
    rec.take();
    m.set_valid(Gate::Err);
    // The failed check closes the connection; the get opens another.
    let conn = pool.get_blocking().unwrap();
    let events = rec.take();
    assert_eq!(
        events[..2],
        [
            Rec::CheckFailed {
                id,
                check: Check::IsValid,
                error: "gated failure #0".into()
            },
            match events[1] {
                Rec::Closed { age, .. } => Rec::Closed {
                    id,
                    reason: CloseReason::Invalid,
                    age,
                    uses: 1
                },
                ref other => other.clone(),
            }
        ],
        "{events:?}"
    );
    assert!(matches!(events[2], Rec::Opened { .. }), "{events:?}");
    let id = Pooled::meta(&conn).id;
    drop(conn);

    // A check that hangs is cut by the caller's deadline: the get times out, the
    // connection is closed as aborted.
    m.set_valid(Gate::Never);
    let err = pool
        .get_blocking_timeout(Duration::from_millis(30))
        .unwrap_err();
    assert!(err.is_timeout());
    let events = rec.take();
    assert_eq!(
        events[0],
        Rec::CheckFailed {
            id,
            check: Check::IsValid,
            error: "is_valid timed out".into()
        }
    );
    assert!(
        matches!(events[1], Rec::GetTimedOut { waited } if waited >= Duration::from_millis(25) && waited < Duration::from_secs(5)),
        "{events:?}"
    );
    assert!(
        matches!(events[2], Rec::Closed { id: i, reason: CloseReason::Aborted, .. } if i == id),
        "{events:?}"
    );
    assert_eq!(pool.stats().connections, 0);
}

#[test]
fn get_timed_out_reports_the_wait() {
    let (_m, rec, pool) = pool(quick().max_size(1));
    let held = pool.get_blocking().unwrap();
    rec.take();
    let err = pool
        .get_blocking_timeout(Duration::from_millis(40))
        .unwrap_err();
    assert!(err.is_timeout());
    match &rec.take()[..] {
        [Rec::GetTimedOut { waited }] => {
            assert!(*waited >= Duration::from_millis(35), "{waited:?}");
            assert!(*waited < Duration::from_secs(5), "{waited:?}");
        }
        other => panic!("{other:?}"),
    }
    drop(held);
}

#[test]
fn idle_reaped_by_maintenance() {
    let (_m, rec, pool) = pool(quick().idle_timeout(Some(Duration::from_millis(20))));
    drop(pool.get_blocking().unwrap());
    rec.take();
    std::thread::sleep(Duration::from_millis(30));
    maintain(&pool);
    assert_eq!(rec.closes(), [CloseReason::Idle]);
}

#[test]
fn shrunk_detached_and_pool_closed() {
    let (_m, rec, pool) = pool(quick().max_size(4));
    let take =
        |n: usize| -> Vec<Pooled<Gated>> { (0..n).map(|_| pool.get_blocking().unwrap()).collect() };
    drop(take(3));
    rec.take();
    pool.resize(1);
    let events = rec.take();
    let shrunk = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Rec::Closed {
                    reason: CloseReason::Shrunk,
                    uses: 1,
                    ..
                }
            )
        })
        .count();
    assert_eq!(shrunk, 2, "{events:?}");
    assert_eq!(events.last(), Some(&Rec::Resized { from: 4, to: 1 }));
    assert_eq!(events.len(), 3, "{events:?}");

    let conn = pool.get_blocking().unwrap();
    let id = Pooled::meta(&conn).id;
    let _raw = Pooled::detach(conn);
    match &rec.take()[..] {
        [
            Rec::Closed {
                id: i,
                reason: CloseReason::Detached,
                uses: 2,
                ..
            },
        ] => assert_eq!(*i, id),
        other => panic!("{other:?}"),
    }
    drop(take(1));
    rec.take();
    pool.close();
    pool.close();
    let events = rec.take();
    assert_eq!(events[0], Rec::PoolClosed, "once: {events:?}");
    assert!(matches!(
        events[1],
        Rec::Closed {
            reason: CloseReason::PoolClosed,
            ..
        }
    ));
    assert_eq!(events.len(), 2, "{events:?}");
}

#[test]
fn lifetime_and_retained_reasons() {
    let (_m, rec, pool) = pool(quick().max_lifetime(Some(Duration::from_millis(20))));
    let conn = pool.get_blocking().unwrap();
    std::thread::sleep(Duration::from_millis(25));
    drop(conn); // past its lifetime: closed on return
    assert_eq!(rec.closes(), [CloseReason::Lifetime]);
    drop(pool.get_blocking().unwrap());
    assert_eq!(pool.retain(|_, _| false), 1);
    assert_eq!(rec.closes(), [CloseReason::Retained]);
}

#[test]
fn added_connections_are_reported_opened() {
    let (m, rec, pool) = pool(quick());
    let conn = futures_lite::future::block_on(netpool_core::Manager::connect(&m)).unwrap();
    pool.add(conn).map_err(drop).unwrap();
    assert!(matches!(
        &rec.take()[..],
        [Rec::Opened {
            took: Duration::ZERO,
            ..
        }]
    ));
}

#[test]
fn a_panicking_handler_leaves_the_pool_consistent() {
    let manager = Gated::new();
    let pool = quick()
        .max_size(1)
        .event_handler(|event: &Event<'_>| {
            if matches!(
                event,
                Event::ConnectionOpened { .. } | Event::ConnectionClosed { .. }
            ) {
                panic!("handler panics on {event:?}");
            }
        })
        .build(manager.clone())
        .unwrap();
    // On open: the caller is told (the panic reaches it), the connection is closed and its
    // slot freed.
    assert!(catch_unwind(AssertUnwindSafe(|| pool.get_blocking())).is_err());
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.in_use), (0, 0), "{stats:?}");
    assert_eq!(manager.counts.alive(), 0);
    assert_eq!(manager.counts.created(), 1);

    // On close (inside a guard's drop): the slot is freed and the permit released.
    let manager = Gated::new();
    let pool = quick()
        .max_size(1)
        .event_handler(|event: &Event<'_>| {
            if let Event::ConnectionClosed { .. } = event {
                panic!("handler panics on close");
            }
        })
        .build(manager.clone())
        .unwrap();
    let conn = pool.get_blocking().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| Pooled::discard(conn))).is_err());
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.in_use), (0, 0), "{stats:?}");
    assert_eq!(manager.counts.alive(), 0);
    let conn = pool
        .get_blocking_timeout(Duration::from_secs(5))
        .expect("the slot and the permit came back");
    drop(conn);

    // While already unwinding, the handler's panic is swallowed (no abort).
    let conn = pool.get_blocking().unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut conn = conn;
        Pooled::set_broken(&mut conn, true);
        panic!("the user's code panics while holding a connection");
    }));
    assert!(result.is_err());
    assert_eq!(pool.stats().connections, 0);
}
