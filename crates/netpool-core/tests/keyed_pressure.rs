//! Keyed pools under pressure: with the total cap binding, a keyed pool keeps pooling and
//! keeps its promises. Each test runs on real threads or tokio tasks, against loopback
//! servers it starts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use common::net::Cluster;
use common::{BoxFut, Flag, Rendezvous, poll_once};
use netpool_core::{CloseReason, Error, Event, KeyedPool};

/// Every connection ever closed is counted in some `closed_*` counter.
fn assert_closes_counted(pool: &KeyedPool<usize, common::net::Tcp>) {
    let s = pool.stats();
    let t = &s.total;
    let closed =
        t.closed_broken + t.closed_invalid + t.closed_idle + t.closed_lifetime + t.closed_handoff;
    assert_eq!(
        t.connections_created - t.connections as u64,
        closed,
        "every close is counted: {s:?}"
    );
    assert_eq!(s.connections, t.connections, "the two counts agree: {s:?}");
}

/// Case 1: one key, `max_size(8)`, `max_total(4)`, 8 threads: a returned connection goes
/// to the key's own waiter instead of being closed and reopened.
#[test]
fn one_key_over_the_total_cap_keeps_pooling_on_threads() {
    let (cluster, pool) =
        Cluster::capped(1, 8, 4, |b| b.wait_timeout(Some(Duration::from_secs(20))));
    let gets = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..300 {
                    let conn = pool.get_blocking(&0).unwrap();
                    std::thread::yield_now();
                    drop(conn);
                    gets.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let connects = cluster.connects(0);
    assert!(
        connects <= 8,
        "{connects} connects for {} gets: pooling stopped",
        gets.load(Ordering::Relaxed)
    );
    assert_closes_counted(&pool);
}

/// Case 1, 4 keys x 4 tokio tasks, `max_size(4)`, `max_total(8)`: at most 5 connects per
/// 100 gets.
#[test]
fn four_keys_over_the_total_cap_keep_pooling_on_tokio() {
    let (cluster, pool) =
        Cluster::capped(4, 4, 8, |b| b.wait_timeout(Some(Duration::from_secs(20))));
    let rt = common::tokio_rt(2);
    const PER_TASK: usize = 500;
    rt.block_on(common::each_task(16, |t| {
        let pool = pool.clone();
        async move {
            for _ in 0..PER_TASK {
                let conn = pool.get(&(t % 4)).await.unwrap();
                tokio::task::yield_now().await;
                drop(conn);
            }
        }
    }));
    let gets = 16 * PER_TASK;
    let connects = cluster.all_connects();
    assert!(
        connects * 20 <= gets,
        "{connects} connects for {gets} gets ({:.3} per get)",
        connects as f64 / gets as f64
    );
    let s = pool.stats();
    assert!(s.connections <= 8);
    assert_eq!(s.total.connections_created as usize, connects);
    assert_closes_counted(&pool);
}

/// Case 2: a key whose server comes back serves at full speed again while other keys wait
/// for room, instead of staying half-open.
#[test]
fn a_recovering_key_is_not_throttled_while_others_wait_for_room() {
    let (cluster, pool) = Cluster::capped(5, 4, 8, |b| {
        b.wait_timeout(Some(Duration::from_secs(20)))
            .connect_backoff(Duration::from_millis(5), Duration::from_millis(20))
    });
    let dead = 4;
    cluster.servers[dead].down();
    for _ in 0..3 {
        assert!(pool.get_blocking(&dead).is_err());
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Keys 0..4: 4 threads each, demand 16 against a total of 8.
        for t in 0..16 {
            let (pool, stop) = (&pool, &stop);
            s.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let conn = pool.get_blocking(&(t % 4)).unwrap();
                    std::thread::yield_now();
                    drop(conn);
                }
            });
        }
        while pool.stats().waiting_for_room == 0 {
            std::thread::yield_now();
        }
        cluster.servers[dead].up();
        // The first success after the backoff...
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match pool.get_blocking(&dead) {
                Ok(conn) => {
                    drop(conn);
                    break;
                }
                Err(e) => assert!(e.is_unavailable() || e.is_connect(), "{e:?}"),
            }
            assert!(Instant::now() < deadline, "recovered in time");
            std::thread::sleep(Duration::from_millis(2));
        }
        // ...then full speed: the pre-fix pool managed about 100 gets a second here.
        let started = Instant::now();
        let mut served = 0;
        while started.elapsed() < Duration::from_secs(1) {
            drop(pool.get_blocking(&dead).expect("the key is back"));
            served += 1;
        }
        stop.store(true, Ordering::Relaxed);
        assert!(
            served >= 1000,
            "only {served} gets in 1 s on the recovered key"
        );
    });
}

/// Case 3: a key known to be down fails fast even with the total cap full of another
/// key's busy connections, and its callers take no room from healthy keys.
#[test]
fn a_dead_key_fails_fast_and_takes_no_room_on_threads() {
    let (cluster, pool) = Cluster::capped(2, 4, 4, |b| {
        b.connect_backoff(Duration::from_millis(50), Duration::from_secs(5))
    });
    cluster.servers[1].down();
    for _ in 0..3 {
        let err = pool.get_blocking(&1).unwrap_err();
        assert!(err.is_connect(), "{err:?}");
    }
    // The total is full of key 0's busy connections.
    let busy: Vec<_> = (0..4).map(|_| pool.get_blocking(&0).unwrap()).collect();
    let started = Instant::now();
    let err = pool
        .get_blocking_timeout(&1, Duration::from_secs(5))
        .unwrap_err();
    assert!(err.is_unavailable(), "fails fast with its cause: {err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(busy);

    // Key 0's connections are idle now; hammering the dead key from threads must not
    // make key 0 reconnect (more than once per real connect attempt to the dead key).
    let before = cluster.connects(0);
    let dead_before = cluster.connects(1);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..200 {
                    let _ = pool.get_blocking(&1);
                    drop(pool.get_blocking(&0).unwrap());
                }
            });
        }
    });
    let reopened = cluster.connects(0) - before;
    let real = cluster.connects(1) - dead_before;
    assert!(
        reopened <= real,
        "key 0 reopened {reopened} connections for {real} real connects to the dead key"
    );
}

/// Case 3 on tokio tasks.
#[test]
fn a_dead_key_fails_fast_on_tokio() {
    let (cluster, pool) = Cluster::capped(2, 4, 4, |b| {
        b.connect_backoff(Duration::from_millis(50), Duration::from_secs(5))
    });
    cluster.servers[1].down();
    let rt = common::tokio_rt(2);
    rt.block_on(async {
        for _ in 0..3 {
            assert!(pool.get(&1).await.unwrap_err().is_connect());
        }
        let mut busy = Vec::new();
        for _ in 0..4 {
            busy.push(pool.get(&0).await.unwrap());
        }
        let started = Instant::now();
        let results = common::each_task(8, |_| {
            let pool = pool.clone();
            async move { pool.get_timeout(&1, Duration::from_secs(5)).await }
        })
        .await;
        for result in results {
            let err = result.unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(pool.stats().waiting_for_room, 0);
    });
}

/// Case 4: a key whose server never comes back is forgotten once unused for longer than
/// the backoff's longest step; used within it, it is kept.
#[test]
fn keys_of_a_server_that_stays_down_are_forgotten() {
    let cluster = Cluster::start(2);
    let pool = cluster.pool(
        KeyedPool::builder().connect_backoff(Duration::from_millis(5), Duration::from_millis(100)),
    );
    cluster.servers[1].down();
    drop(pool.get_blocking(&0).unwrap());
    for _ in 0..5 {
        assert!(pool.get_blocking(&1).is_err());
    }
    futures_lite::future::block_on(pool.maintain());
    assert!(pool.stats_for(&1).is_some(), "kept while backing off");
    // Used again within the quiet period: still kept.
    std::thread::sleep(Duration::from_millis(60));
    assert!(pool.get_blocking(&1).is_err());
    futures_lite::future::block_on(pool.maintain());
    std::thread::sleep(Duration::from_millis(60));
    futures_lite::future::block_on(pool.maintain());
    assert!(pool.stats_for(&1).is_some(), "used 60 ms ago: kept");
    // Unused for longer than the longest backoff step (100 ms): forgotten.
    std::thread::sleep(Duration::from_millis(150));
    futures_lite::future::block_on(pool.maintain());
    assert!(pool.stats_for(&1).is_none(), "forgotten");
    assert!(
        pool.stats_for(&0).is_some(),
        "a key with an idle connection is kept"
    );
    let s = pool.stats();
    assert!(
        s.total.connect_errors >= 1,
        "counters of forgotten keys are kept: {s:?}"
    );
}

/// Case 5: `remove` wakes the key's callers queued for room with `Closed` (threads).
#[test]
fn remove_wakes_waiters_for_room_on_threads() {
    let (cluster, pool) = Cluster::capped(2, 4, 2, |b| b);
    let held: Vec<_> = (0..2).map(|_| pool.get_blocking(&0).unwrap()).collect();
    std::thread::scope(|s| {
        let waiters: Vec<_> = (0..3)
            .map(|_| s.spawn(|| pool.get_blocking_timeout(&1, Duration::from_secs(20))))
            .collect();
        while pool.stats().waiting_for_room < 3 {
            std::thread::yield_now();
        }
        assert_eq!(pool.stats_for(&1).unwrap().waiting_for_room, 3);
        let started = Instant::now();
        assert!(pool.remove(&1));
        drop(held);
        for w in waiters {
            let result = w.join().unwrap();
            assert!(matches!(result, Err(Error::Closed)), "{result:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    assert_eq!(cluster.connects(1), 0, "nothing opened for the removed key");
    assert_eq!(pool.stats().waiting_for_room, 0);
}

/// Case 5 on tokio tasks, with a caller waiting on the key's backoff too.
#[test]
fn remove_wakes_every_caller_on_tokio() {
    let (cluster, pool) = Cluster::capped(3, 4, 2, |b| {
        b.connect_backoff(Duration::from_secs(5), Duration::from_secs(10))
    });
    cluster.servers[2].down();
    let rt = common::tokio_rt(2);
    rt.block_on(async {
        // Key 2 failed once: its next callers wait for the next probe (5 s away).
        assert!(pool.get(&2).await.unwrap_err().is_connect());
        let backoff_waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get_timeout(&2, Duration::from_secs(20)).await })
        };
        let held = [pool.get(&0).await.unwrap(), pool.get(&0).await.unwrap()];
        let room_waiters: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.get_timeout(&1, Duration::from_secs(20)).await })
            })
            .collect();
        while pool.stats().waiting_for_room < 2 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        assert!(pool.remove(&1));
        assert!(pool.remove(&2));
        drop(held);
        for w in room_waiters {
            let r = w.await.unwrap();
            assert!(matches!(r, Err(Error::Closed)), "{r:?}");
        }
        let r = backoff_waiter.await.unwrap();
        assert!(matches!(r, Err(Error::Closed)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}

/// Case 6: eviction takes the key whose connection was returned least recently, exactly,
/// with no connects in between (every order of three keys).
#[test]
fn lru_is_exact_among_keys_with_idle_connections() {
    let cluster = Cluster::start(4);
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let pool = cluster.pool(KeyedPool::builder().max_size(2).max_total(3));
        for k in 0..3 {
            drop(pool.get_blocking(&k).unwrap());
        }
        // Steady use, no connects: each key takes its idle connection and returns it.
        for _ in 0..3 {
            for k in order {
                drop(pool.get_blocking(&k).unwrap());
            }
        }
        let conn = pool.get_blocking(&3).unwrap();
        for k in 0..3 {
            let expected = usize::from(k != order[0]);
            assert_eq!(
                pool.stats_for(&k).unwrap().connections,
                expected,
                "order {order:?}: key {k}"
            );
        }
        assert_eq!(pool.stats().total.closed_handoff, 1);
        drop(conn);
    }
}

/// Case 7: waits for room show in `gets_waited`, `wait_time` and `waiting`, per key and
/// in total (threads).
#[test]
fn waits_for_room_are_counted_on_threads() {
    let (_cluster, pool) = Cluster::capped(4, 2, 1, |b| b);
    let held = pool.get_blocking(&0).unwrap();
    std::thread::scope(|s| {
        let waiters: Vec<_> = (1..4)
            .map(|k| {
                let pool = &pool;
                s.spawn(move || {
                    let conn = pool
                        .get_blocking_timeout(&k, Duration::from_secs(20))
                        .unwrap();
                    drop(conn);
                })
            })
            .collect();
        while pool.stats().waiting_for_room < 3 {
            std::thread::yield_now();
        }
        let s = pool.stats();
        assert_eq!(s.total.waiting_for_room, 3);
        assert!(s.total.waiting >= 3);
        for k in 1..4 {
            let st = pool.stats_for(&k).unwrap();
            assert_eq!((st.waiting, st.waiting_for_room), (1, 1), "key {k}");
        }
        std::thread::sleep(Duration::from_millis(120)); // waited at least 100 ms each
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
    });
    for k in 1..4 {
        let st = pool.stats_for(&k).unwrap();
        assert_eq!(st.gets_waited, 1, "key {k}");
        assert!(
            st.wait_time >= Duration::from_millis(100),
            "key {k}: {st:?}"
        );
        assert_eq!(st.waiting, 0);
    }
    let s = pool.stats();
    assert_eq!(s.waiting_for_room, 0);
    assert!(s.total.closed_handoff >= 3, "{s:?}");
    assert_closes_counted(&pool);
}

/// Case 7: `KeyedStats.connections` and `total.connections` agree, a removed key's
/// checked-out connections included (and the per-key cap after `remove` is as
/// documented: the new pool's `max_size` beside the old pool's connections still out).
#[test]
fn connection_counts_agree_and_the_cap_after_remove_holds() {
    let (_cluster, pool) = Cluster::capped(2, 2, 10, |b| {
        b.wait_timeout(Some(Duration::from_millis(200)))
    });
    let old: Vec<_> = (0..2).map(|_| pool.get_blocking(&0).unwrap()).collect();
    assert!(pool.remove(&0));
    let s = pool.stats();
    assert_eq!((s.connections, s.total.connections), (2, 2));
    let new: Vec<_> = (0..2).map(|_| pool.get_blocking(&0).unwrap()).collect();
    assert!(
        matches!(pool.get_blocking(&0), Err(Error::Timeout)),
        "the new pool's own max_size holds"
    );
    let s = pool.stats();
    assert_eq!((s.connections, s.total.connections), (4, 4), "{s:?}");
    assert_eq!(pool.stats_for(&0).unwrap().connections, 2);
    drop(old);
    let s = pool.stats();
    assert_eq!((s.connections, s.total.connections), (2, 2), "{s:?}");
    drop(new);
    let s = pool.stats();
    assert_eq!((s.connections, s.total.connections), (2, 2), "{s:?}");
}

/// Case 8: a return racing a caller of another key that queues for room: the caller
/// takes the idle connection's room at once instead of waiting out its timeout.
#[test]
fn a_return_racing_a_waiter_for_room_is_not_lost_on_threads() {
    let (_cluster, pool) = Cluster::capped(2, 2, 1, |b| b);
    let rounds = 300;
    // Generous bounds (a loaded CI machine): a side that fails or is stuck makes the other
    // fail at its next rendezvous instead of hanging the test.
    let bound = Duration::from_secs(20);
    let (start, end) = (Rendezvous::new(2), Rendezvous::new(2));
    let started = Instant::now();
    std::thread::scope(|s| {
        let (pool, start, end) = (&pool, &start, &end);
        s.spawn(move || {
            for round in 0..rounds {
                let conn = pool
                    .get_blocking_timeout(&(round % 2), Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("round {round}: holder: {e:?} {:?}", pool.stats()));
                start.wait(bound);
                drop(conn); // races the other thread's get for the other key
                end.wait(bound);
            }
        });
        for round in 0..rounds {
            start.wait(bound);
            let t = Instant::now();
            let conn = pool
                .get_blocking_timeout(&((round + 1) % 2), Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("round {round}: lost: {e:?} {:?}", pool.stats()));
            // The hand-over bound is 10 ms; the bound here leaves room for a loaded machine.
            let waited = t.elapsed();
            assert!(
                waited < Duration::from_secs(5),
                "round {round} waited {waited:?}"
            );
            drop(conn);
            end.wait(bound);
        }
    });
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// Case 8: maintenance putting a checked connection back serves a caller that queued for
/// room meanwhile.
#[test]
fn maintenance_putting_a_connection_back_serves_a_waiter_for_room() {
    let (cluster, pool) = Cluster::capped(2, 2, 1, |b| {
        b.test_on_check_out(true)
            .check_idle_after(Some(Duration::from_millis(1)))
    });
    drop(pool.get_blocking(&0).unwrap());
    std::thread::sleep(Duration::from_millis(20));
    *cluster.managers[0].check_for.lock().unwrap() = Duration::from_millis(300);
    std::thread::scope(|s| {
        let maintenance = s.spawn(|| futures_lite::future::block_on(pool.maintain()));
        // Maintenance holds key 0's one connection while it checks it.
        while pool.stats_for(&0).unwrap().idle != 0 {
            std::thread::yield_now();
        }
        let started = Instant::now();
        let conn = pool
            .get_blocking_timeout(&1, Duration::from_secs(5))
            .expect("served");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "served when maintenance put the connection back, not at the timeout"
        );
        drop(conn);
        maintenance.join().unwrap();
    });
}

/// Case 8: `close` racing a room grant opens no connection (hand polled).
#[test]
fn close_racing_a_room_grant_opens_nothing() {
    let (cluster, pool) = Cluster::capped(2, 2, 1, |b| b);
    let held = pool.get_blocking(&0).unwrap();
    let (_flag, waker) = Flag::new();
    type Get<'a> =
        BoxFut<'a, Result<netpool_core::Pooled<common::net::Tcp>, Error<std::io::Error>>>;
    let mut waiter: Get<'_> = Box::pin(pool.get(&1));
    assert!(poll_once(waiter.as_mut(), &waker).is_pending());
    drop(held); // room granted to the waiter...
    pool.close(); // ...and the pool closed before it runs
    match poll_once(waiter.as_mut(), &waker) {
        Poll::Ready(Err(Error::Closed)) => {}
        other => panic!("expected Closed, got {:?}", other.map(|r| r.map(|_| ()))),
    }
    assert_eq!(
        cluster.connects(1),
        0,
        "no connection opened on a closing pool"
    );
    assert_eq!(pool.stats().connections, 0);
}

/// Case 8 on a tokio runtime: the waiter task runs only after the grant and the close.
#[test]
fn close_racing_a_room_grant_opens_nothing_on_tokio() {
    let (cluster, pool) = Cluster::capped(2, 2, 1, |b| b);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let held = pool.get(&0).await.unwrap();
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get(&1).await.map(drop) })
        };
        while pool.stats().waiting_for_room == 0 {
            tokio::task::yield_now().await;
        }
        drop(held);
        pool.close();
        let r = waiter.await.unwrap();
        assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    });
    assert_eq!(cluster.connects(1), 0);
}

/// Hand-overs are reported: `CloseReason::Handoff` events, and the counter.
#[test]
fn handoffs_are_reported_to_the_event_handler() {
    let cluster = Cluster::start(2);
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let pool = cluster.pool(KeyedPool::builder().max_size(2).max_total(1).event_handler(
        move |e: &Event<'_>| {
            if let Event::ConnectionClosed {
                reason: CloseReason::Handoff,
                ..
            } = e
            {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        },
    ));
    drop(pool.get_blocking(&0).unwrap());
    drop(pool.get_blocking(&1).unwrap()); // evicts key 0's idle connection
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(pool.stats().total.closed_handoff, 1);
    assert_eq!(pool.stats_for(&0).unwrap().closed_handoff, 1);
}
