//! `SharedPool`: lending counts, FIFO hand-off, cancel safety, broken connections,
//! timeouts, fail-fast, maintenance, events and stats, through the public API.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::Flag;
use common::mux::{Mux, mux_pool};
use netpool_core::{CloseReason, Error, Event, Lent, SharedPool};

fn pool(max_size: usize, per: usize) -> SharedPool<Mux> {
    mux_pool(max_size, per, Some(Duration::from_secs(10)))
}

fn block_on<F: Future>(f: F) -> F::Output {
    futures_lite::future::block_on(f)
}

#[test]
fn lends_spread_over_the_least_loaded_and_open_only_at_the_limit() {
    let pool = pool(3, 2);
    let a = pool.try_get().unwrap();
    let b = pool.try_get().unwrap();
    assert_eq!(
        Lent::id(&a),
        Lent::id(&b),
        "the first connection takes 2 lends"
    );
    let c = pool.try_get().unwrap();
    assert_ne!(
        Lent::id(&a),
        Lent::id(&c),
        "at its limit: a second connection"
    );
    drop(a);
    // The first has 1 lend out, the second 1: either; then the least loaded.
    let d = pool.try_get().unwrap();
    let e = pool.try_get().unwrap();
    assert_ne!(Lent::id(&d), Lent::id(&e));
    let stats = pool.stats();
    assert_eq!(stats.pool.connections, 2);
    assert_eq!(stats.in_flight, 4);
    assert!(stats.connections.iter().all(|c| c.in_flight == 2));
    drop((b, c, d, e));
    assert_eq!(pool.stats().in_flight, 0);
}

#[test]
fn a_returned_lend_wakes_the_oldest_waiter() {
    let pool = pool(1, 2);
    let a = pool.try_get().unwrap();
    let b = pool.try_get().unwrap();
    assert!(pool.try_get().unwrap_err().is_timeout());
    let (flag, waker) = Flag::new();
    let mut cx = Context::from_waker(&waker);
    let mut first = pin!(pool.get());
    let mut second = pin!(pool.get());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(
        second
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert_eq!(pool.stats().pool.waiting, 2);
    drop(a);
    assert!(flag.take(), "the return woke the first waiter");
    let Poll::Ready(Ok(c)) = first.as_mut().poll(&mut cx) else {
        panic!("the first waiter is served");
    };
    assert!(
        second
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert_eq!(pool.stats().connections[0].in_flight, 2);
    drop((b, c));
}

#[test]
fn a_cancelled_waiter_passes_its_turn_on() {
    let pool = pool(1, 1);
    let a = pool.try_get().unwrap();
    let mut first = Box::pin(pool.get());
    let mut second = Box::pin(pool.get());
    let (flag, waker) = Flag::new();
    assert!(
        first
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert!(
        second
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(a); // granted to `first`...
    drop(first); // ...which goes away: the turn passes to `second`
    assert!(flag.take());
    let Poll::Ready(Ok(b)) = second.as_mut().poll(&mut Context::from_waker(&waker)) else {
        panic!("the second waiter is served");
    };
    drop(b);
    drop(second);
    let stats = pool.stats();
    assert_eq!((stats.in_flight, stats.pool.waiting), (0, 0));
    assert!(pool.try_get().is_ok(), "nothing leaked");
}

#[test]
fn never_more_than_the_limit_in_flight_under_load() {
    const THREADS: usize = 8;
    const ROUNDS: usize = if cfg!(miri) { 10 } else { 2000 };
    let pool = pool(3, 4);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for i in 0..ROUNDS {
                    let conn = pool.get_blocking().unwrap();
                    let _using = conn.enter();
                    if i % 7 == 0 {
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    let opened = pool.manager().opened.lock().unwrap();
    assert!(opened.len() <= 3);
    for h in opened.iter() {
        let max = h.0.max.load(Ordering::SeqCst);
        assert!(
            max <= 4,
            "connection {} had {max} callers at once",
            h.0.serial
        );
    }
    let stats = pool.stats();
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.pool.gets, (THREADS * ROUNDS) as u64);
}

#[test]
fn async_tasks_on_a_thread_pool_are_all_served_within_the_limit() {
    const TASKS: usize = 64;
    const ROUNDS: usize = 300;
    let pool = pool(4, 8);
    let rt = common::tokio_rt(2);
    let served = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (pool, served) = (pool.clone(), served.clone());
                tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        let conn = pool.get().await.unwrap();
                        let using = conn.enter();
                        tokio::task::yield_now().await;
                        drop(using);
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("no task hangs (a lost wake-up would)")
                .unwrap();
        }
    });
    assert_eq!(served.load(Ordering::Relaxed), TASKS * ROUNDS);
    for h in pool.manager().opened.lock().unwrap().iter() {
        assert!(h.0.max.load(Ordering::SeqCst) <= 8);
    }
    assert_eq!(pool.stats().in_flight, 0);
}

#[test]
fn a_broken_connection_is_retired_and_replaced_while_its_lends_finish() {
    let pool = pool(2, 2);
    let a = pool.try_get().unwrap();
    let b = pool.try_get().unwrap();
    let other = pool.try_get().unwrap();
    assert_ne!(Lent::id(&a), Lent::id(&other));
    a.0.broken.store(true, Ordering::SeqCst);
    let broken_id = Lent::id(&a);
    drop(a); // has_broken: retired, its slot freed
    let stats = pool.stats();
    assert_eq!(stats.pool.closed_broken, 1);
    assert_eq!(stats.pool.connections, 1);
    // `b` still holds its handle to the retired connection; a new get opens a replacement.
    let c = pool.try_get().unwrap();
    let d = pool.try_get().unwrap();
    assert!(Lent::id(&c) != broken_id && Lent::id(&d) != broken_id);
    assert_eq!(pool.stats().pool.connections_created, 3);
    assert!(Lent::id(&c) == Lent::id(&other) || Lent::id(&d) == Lent::id(&other));
    drop(b); // the orphan lend comes back: nothing else changes
    assert_eq!(pool.stats().pool.closed_broken, 1);
    drop((c, d, other));
    assert_eq!(pool.stats().in_flight, 0);
}

#[test]
fn discard_retires_for_everyone() {
    let pool = pool(2, 4);
    let a = pool.try_get().unwrap();
    let b = pool.try_get().unwrap();
    let id = Lent::id(&a);
    Lent::discard(a);
    let c = pool.try_get().unwrap();
    assert_ne!(Lent::id(&c), id, "no new lends of a discarded connection");
    assert_eq!(pool.stats().pool.closed_broken, 1);
    drop((b, c));
}

#[test]
fn a_failed_check_retires_and_the_get_goes_on() {
    let pool = SharedPool::builder()
        .max_size(2)
        .test_on_check_out(true)
        .check_idle_after(None)
        .build(Mux::default())
        .unwrap();
    let a = pool.try_get().unwrap();
    let id = Lent::id(&a);
    drop(a);
    pool.manager().invalid.store(true, Ordering::SeqCst);
    // The idle connection fails is_valid; a new one is opened (new ones are not checked).
    let b = block_on(pool.get()).unwrap();
    assert_ne!(Lent::id(&b), id);
    assert_eq!(pool.stats().pool.closed_invalid, 1);
    drop(b);
}

#[test]
fn the_wait_times_out_at_the_deadline() {
    let pool = pool(1, 1);
    let a = pool.try_get().unwrap();
    let start = Instant::now();
    let err = block_on(pool.get_timeout(Duration::from_millis(50))).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Generous: only that it waited about the timeout, not forever.
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(pool.stats().pool.gets_timed_out, 1);
    drop(a);
}

#[test]
fn connect_errors_surface_then_fail_fast() {
    let pool = pool(2, 2);
    pool.manager().fail.store(true, Ordering::SeqCst);
    let err = block_on(pool.get()).unwrap_err();
    assert!(err.is_connect(), "{err}");
    // Evidence: later callers get Unavailable (within their deadline), not a timeout.
    let mut unavailable = false;
    for _ in 0..5 {
        match block_on(pool.get_timeout(Duration::from_secs(2))) {
            Err(e) if e.is_unavailable() => {
                unavailable = true;
                break;
            }
            Err(e) if e.is_connect() => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(unavailable);
    pool.manager().fail.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(150)); // past the backoff cap (100 ms)
    assert!(block_on(pool.get_timeout(Duration::from_secs(2))).is_ok());
}

#[test]
fn a_burst_opens_one_connection_per_limit_callers() {
    let pool = pool(8, 4);
    pool.manager().slow.store(3, Ordering::SeqCst);
    let lends: Vec<_> = block_on(futures::future::join_all((0..8).map(|_| pool.get())))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // 8 callers at 4 each: two connections, not eight.
    assert_eq!(pool.stats().pool.connections_created, 2);
    assert_eq!(pool.stats().in_flight, 8);
    drop(lends);
}

#[test]
fn maintenance_keeps_min_idle_open_and_reaps_idle_and_expired() {
    let pool = SharedPool::builder()
        .max_size(4)
        .min_idle(Some(2))
        .idle_timeout(Some(Duration::from_millis(30)))
        .build(Mux::default())
        .unwrap();
    block_on(pool.maintain());
    assert_eq!(pool.stats().pool.connections, 2);
    // Four lends at the default limit go to the two warm connections, least loaded.
    let lends: Vec<_> = (0..4).map(|_| pool.try_get().unwrap()).collect();
    assert!(pool.stats().connections.iter().all(|c| c.in_flight == 2));
    drop(lends);
    // A third connection, used once, then unused past idle_timeout: reaped, down to 2.
    let held: Vec<_> = (0..64 * 2 + 1).map(|_| pool.try_get().unwrap()).collect();
    assert_eq!(pool.stats().pool.connections, 3);
    drop(held);
    std::thread::sleep(Duration::from_millis(60));
    block_on(pool.maintain());
    let stats = pool.stats();
    assert_eq!(stats.pool.connections, 2, "never below min_idle");
    assert_eq!(stats.pool.closed_idle, 1);

    let pool = SharedPool::builder()
        .max_size(2)
        .max_lifetime(Some(Duration::from_millis(30)))
        .build(Mux::default())
        .unwrap();
    let a = pool.try_get().unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let b = pool.try_get().unwrap();
    assert_ne!(
        Lent::id(&a),
        Lent::id(&b),
        "an expired connection lends no more"
    );
    assert_eq!(pool.stats().pool.closed_lifetime, 1);
    drop((a, b));
}

#[test]
fn close_fails_waiters_and_retires_everything() {
    let pool = pool(1, 1);
    let a = pool.try_get().unwrap();
    let mut waiter = Box::pin(pool.get());
    assert!(
        waiter
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    pool.close();
    let Poll::Ready(Err(Error::Closed)) = waiter
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    else {
        panic!("the waiter sees Closed");
    };
    assert!(pool.try_get().unwrap_err().is_closed());
    assert_eq!(pool.stats().pool.connections, 0);
    block_on(pool.wait_closed());
    drop(a);
}

#[test]
fn events_report_opened_and_closed_connections() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let pool = SharedPool::builder()
        .max_size(1)
        .event_handler(move |e: &Event<'_>| {
            let line = match e {
                Event::ConnectionOpened { .. } => "opened".to_owned(),
                Event::ConnectionClosed { reason, .. } => format!("closed {reason:?}"),
                _ => return,
            };
            log.lock().unwrap().push(line);
        })
        .build(Mux::default())
        .unwrap();
    let a = pool.try_get().unwrap();
    Lent::discard(a);
    drop(pool);
    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        ["opened", &format!("closed {:?}", CloseReason::Broken)]
    );
}

#[test]
fn build_refuses_a_zero_limit() {
    let err = SharedPool::builder()
        .max_concurrent_per_connection(0)
        .build(Mux::default())
        .unwrap_err();
    assert_eq!(err.setting(), "max_concurrent_per_connection");
}

#[test]
fn types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    fn is_static<T: 'static>(_: &T) {}
    let pool = pool(1, 1);
    send_sync(&pool);
    send(&pool.get());
    send(&pool.maintain());
    let lent = pool.try_get().unwrap();
    send(&lent);
    is_static(&lent);
    send_sync(&pool.downgrade());
}
