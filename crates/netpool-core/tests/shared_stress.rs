//! Stress tests of `SharedPool`'s lock-free checkout: the per-connection limit under
//! connections that break and are replaced while other threads lend them, cancelled
//! waiting checkouts under load, and the counts all coming back to zero.
//!
//! Every loop is bounded in rounds; the waits have generous deadlines (a lost wake-up
//! shows as a timeout, not a hang).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::mux::{Mux, mux_pool};
use netpool_core::{Error, Lent, SharedPool};

fn pool(max_size: usize, per: usize) -> SharedPool<Mux> {
    // Generous: a lost wake-up shows as a timeout here, on a machine shared with other
    // builds.
    mux_pool(max_size, per, Some(Duration::from_secs(20)))
}

/// Uses a lend: counts the caller on its handle, checks the limit, and, every
/// `break_every` uses, breaks or discards the connection.
fn use_lend(conn: Lent<Mux>, per: usize, i: usize, break_every: usize) {
    let n = conn.0.now.fetch_add(1, Ordering::SeqCst) + 1;
    conn.0.max.fetch_max(n, Ordering::SeqCst);
    assert!(n <= per, "{n} callers on a connection of {per} lends");
    std::thread::yield_now();
    conn.0.now.fetch_sub(1, Ordering::SeqCst);
    if i % break_every == 0 {
        if i % (2 * break_every) == 0 {
            conn.0.broken.store(true, Ordering::SeqCst);
        } else {
            Lent::discard(conn);
        }
    }
}

#[test]
fn the_limit_holds_while_connections_break_and_are_replaced() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 3000;
    const PER: usize = 3;
    let pool = pool(3, PER);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..ROUNDS {
                    let conn = pool.get_blocking().expect("a lend within the deadline");
                    use_lend(conn, PER, i + t * 7, 97);
                }
            });
        }
    });
    let opened = pool.manager().opened.lock().unwrap();
    assert!(opened.len() > 3, "connections were replaced");
    for h in opened.iter() {
        assert!(h.0.max.load(Ordering::SeqCst) <= PER);
        assert_eq!(h.0.now.load(Ordering::SeqCst), 0);
    }
    let stats = pool.stats();
    assert_eq!(stats.in_flight, 0);
    assert!(stats.pool.connections <= 3);
    assert_eq!(stats.pool.gets, (THREADS * ROUNDS) as u64);
    assert_eq!(stats.pool.waiting, 0);
    assert!(
        stats.pool.closed_broken > 0,
        "broken connections were retired"
    );
}

#[test]
fn cancelled_waiting_checkouts_lose_nothing_under_load() {
    const TASKS: usize = 48;
    const ROUNDS: usize = 400;
    const PER: usize = 4;
    let pool = pool(2, PER);
    let rt = common::tokio_rt(2);
    let timed_out = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, timed_out) = (pool.clone(), timed_out.clone());
                tokio::spawn(async move {
                    for i in 0..ROUNDS {
                        // Every third checkout is given up after a yield or two: it is
                        // dropped while queued, or with a lend just handed to it.
                        if (i + t) % 3 == 0 {
                            let get = pool.get();
                            tokio::select! {
                                biased;
                                r = get => drop(r.unwrap()),
                                () = tokio::task::yield_now() => {
                                    timed_out.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            continue;
                        }
                        match pool.get().await {
                            Ok(conn) => {
                                let n = conn.0.now.fetch_add(1, Ordering::SeqCst) + 1;
                                conn.0.max.fetch_max(n, Ordering::SeqCst);
                                tokio::task::yield_now().await;
                                conn.0.now.fetch_sub(1, Ordering::SeqCst);
                                if (i + t) % 101 == 0 {
                                    Lent::discard(conn);
                                }
                            }
                            Err(Error::Timeout) => panic!("a lost wake-up: the get timed out"),
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(120), t)
                .await
                .expect("no task hangs")
                .unwrap();
        }
    });
    for h in pool.manager().opened.lock().unwrap().iter() {
        assert!(h.0.max.load(Ordering::SeqCst) <= PER);
    }
    let stats = pool.stats();
    assert_eq!((stats.in_flight, stats.pool.waiting), (0, 0));
    // Every lend is free again: 2 connections of PER lends can be taken at once.
    let all: Vec<_> = (0..2 * PER).map(|_| pool.try_get().unwrap()).collect();
    assert!(pool.try_get().is_err(), "no more than 2 x {PER} lends");
    drop(all);
}
