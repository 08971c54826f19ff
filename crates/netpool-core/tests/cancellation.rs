//! Semantic 2: a `get` future dropped at any await point loses nothing.
//!
//! Every combination of connect gate × is_valid gate × (empty or pre-filled pool) ×
//! (`get` or `get_timeout`) × (dropped after 0..5 polls) is run; afterwards every slot can
//! be acquired again, nothing waits, and every connection created is dropped exactly once.

mod common;

use std::panic::AssertUnwindSafe;
use std::task::Poll;
use std::time::Duration;

use common::{BoxFut, Flag, GATES, Gate, Gated, poll_once};
use netpool_core::{Error, Manager, Pool, Pooled};

type Get<'a> = BoxFut<'a, Result<Pooled<Gated>, Error<common::GateError>>>;

const MAX: usize = 2;

fn run_case(connect: Gate, valid: Gate, prefill: bool, timed: bool, polls: usize) {
    let manager = Gated::new();
    let counts = manager.counts.clone();
    let pool = Pool::builder()
        .max_size(MAX)
        .wait_timeout(None)
        .check_idle_after(None) // is_valid on every checkout
        .connect_backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build(manager.clone())
        .unwrap();
    if prefill {
        let conn = futures_lite::future::block_on(manager.connect()).unwrap();
        pool.add(conn).unwrap();
    }
    manager.set_connect(connect);
    manager.set_valid(valid);
    let case = format!(
        "connect={connect:?} valid={valid:?} prefill={prefill} timed={timed} polls={polls}"
    );

    let (_flag, waker) = Flag::new();
    let mut fut: Get<'_> = if timed {
        Box::pin(pool.get_timeout(Duration::from_millis(5)))
    } else {
        Box::pin(pool.get())
    };
    for _ in 0..polls {
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| poll_once(fut.as_mut(), &waker)));
        match polled {
            Ok(Poll::Pending) => continue,
            Ok(Poll::Ready(Ok(conn))) => drop(conn),
            Ok(Poll::Ready(Err(_))) | Err(_) => {}
        }
        break;
    }
    drop(fut);

    // Everything must be free again.
    manager.set_connect(Gate::Ok);
    manager.set_valid(Gate::Ok);
    let stats = pool.stats();
    assert_eq!(stats.in_use, 0, "{case}: {stats:?}");
    assert_eq!(stats.waiting, 0, "{case}: {stats:?}");
    // Let a 1 ms backoff pass (the coarse clock ticks every few ms).
    std::thread::sleep(Duration::from_millis(15));
    // After a failed connect the pool is half-open until a connection comes back healthy.
    drop(
        pool.try_get()
            .unwrap_or_else(|e| panic!("{case}: no connection: {e:?}")),
    );
    let all: Vec<_> = (0..MAX)
        .map(|i| {
            pool.try_get().unwrap_or_else(|e| {
                panic!("{case}: slot {i} not acquirable: {e:?} {:?}", pool.stats())
            })
        })
        .collect();
    assert!(pool.try_get().is_err(), "{case}: more than max_size");
    drop(all);
    pool.close();
    assert_eq!(pool.stats().connections, 0, "{case}");
    drop(pool);
    assert_eq!(
        counts.created(),
        counts.dropped(),
        "{case}: created == dropped"
    );
}

#[test]
fn get_dropped_at_every_await_point_loses_nothing() {
    for connect in GATES {
        for valid in GATES {
            for prefill in [false, true] {
                for timed in [false, true] {
                    for polls in 0..5 {
                        run_case(connect, valid, prefill, timed, polls);
                    }
                }
            }
        }
    }
}

#[test]
fn blocking_get_timeout_with_connect_never_times_out_cleanly() {
    let manager = Gated::new();
    manager.set_connect(Gate::Never);
    let pool = Pool::builder().max_size(1).build(manager.clone()).unwrap();
    let err = pool
        .get_blocking_timeout(Duration::from_millis(20))
        .unwrap_err();
    assert!(err.is_connect_timeout(), "{err:?}");
    assert_eq!(pool.stats().connections, 0);
    assert_eq!(pool.stats().in_use, 0);
}
