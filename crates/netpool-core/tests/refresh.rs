//! `refresh()`: every connection replaced without failing a caller, within `max_size`,
//! with a bounded number of connects at once; `Pooled::report` and `Manager::classify`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use netpool_core::{CloseReason, Event, Fault, KeyedPool, Manager, Pool, Pooled};

/// Counts shared by a [`Gen`] manager and its connections.
#[derive(Debug, Default)]
struct Counts {
    /// The generation new connections get (the "settings" a refresh must pick up).
    generation: AtomicUsize,
    alive: AtomicUsize,
    max_alive: AtomicUsize,
    /// Alive connections of generation 0.
    alive_old: AtomicUsize,
    connecting: AtomicUsize,
    max_connecting_new: AtomicUsize,
}

/// A manager whose connections remember the generation they were made in; connects take
/// a little time (so connects overlap when many are needed at once).
#[derive(Debug, Clone, Default)]
struct Gen(Arc<Counts>);

#[derive(Debug)]
struct Conn {
    generation: usize,
    counts: Arc<Counts>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counts.alive.fetch_sub(1, Ordering::SeqCst);
        if self.generation == 0 {
            self.counts.alive_old.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The error a test reports: "readonly" is a server fault, "gone" a connection fault,
/// anything else the request's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Reply(&'static str);

impl Manager for Gen {
    type Connection = Conn;
    type Error = std::io::Error;

    async fn connect(&self) -> Result<Conn, std::io::Error> {
        let counts = &self.0;
        let now = counts.connecting.fetch_add(1, Ordering::SeqCst) + 1;
        if counts.generation.load(Ordering::SeqCst) > 0 {
            counts.max_connecting_new.fetch_max(now, Ordering::SeqCst);
        }
        async_io::Timer::after(Duration::from_millis(2)).await;
        counts.connecting.fetch_sub(1, Ordering::SeqCst);
        let generation = counts.generation.load(Ordering::SeqCst);
        let alive = counts.alive.fetch_add(1, Ordering::SeqCst) + 1;
        counts.max_alive.fetch_max(alive, Ordering::SeqCst);
        if generation == 0 {
            counts.alive_old.fetch_add(1, Ordering::SeqCst);
        }
        Ok(Conn {
            generation,
            counts: counts.clone(),
        })
    }

    async fn is_valid(&self, _conn: &mut Conn) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut Conn) -> bool {
        false
    }

    fn classify(&self, err: &(dyn std::error::Error + 'static)) -> Fault {
        match err.downcast_ref::<Reply>() {
            Some(Reply("readonly")) => Fault::Server,
            Some(Reply("gone")) | None => Fault::Connection,
            Some(_) => Fault::None,
        }
    }
}

#[test]
fn refresh_closes_idle_connections_now_and_busy_ones_on_return() {
    futures_lite::future::block_on(async {
        let reasons = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = reasons.clone();
        let manager = Gen::default();
        let pool = Pool::builder()
            .max_size(4)
            .event_handler(move |e: &Event<'_>| {
                if let Event::ConnectionClosed { reason, .. } = e {
                    seen.lock().unwrap().push(*reason);
                }
            })
            .build(manager.clone())
            .unwrap();
        let busy = pool.get().await.unwrap();
        let idle = [pool.get().await.unwrap(), pool.get().await.unwrap()];
        drop(idle);
        assert_eq!(pool.stats().idle, 2);
        manager.0.generation.store(1, Ordering::SeqCst);
        pool.refresh();
        assert_eq!(pool.stats().idle, 0, "idle connections are closed at once");
        assert_eq!(pool.stats().connections, 1);
        // A get after the refresh gets a new connection, not the busy old one.
        let fresh = pool.get().await.unwrap();
        assert_eq!(fresh.generation, 1);
        drop(busy);
        assert_eq!(
            pool.stats().connections,
            1,
            "the busy one is closed on return"
        );
        assert_eq!(manager.0.alive_old.load(Ordering::SeqCst), 0);
        drop(fresh);
        let stats = pool.stats();
        assert_eq!((stats.closed_refreshed, stats.refreshes), (3, 1));
        assert_eq!(*reasons.lock().unwrap(), vec![CloseReason::Refreshed; 3]);
        // The refresh is over: connections come back idle again.
        assert_eq!(pool.stats().idle, 1);
        let again = pool.get().await.unwrap();
        assert_eq!(again.generation, 1);
    });
}

#[test]
fn a_connection_returned_during_a_refresh_is_never_handed_out_again() {
    // The return path learns of the refresh from the word it loads anyway; a connection
    // that came back just before still cannot go out: checkout checks while the refresh
    // is under way. Here: refresh with one checked out, a second checked out after.
    futures_lite::future::block_on(async {
        let manager = Gen::default();
        let pool = Pool::builder().max_size(2).build(manager.clone()).unwrap();
        let a = pool.get().await.unwrap();
        let b = pool.get().await.unwrap();
        drop(b);
        manager.0.generation.store(1, Ordering::SeqCst);
        pool.refresh();
        for _ in 0..4 {
            let c = pool.get().await.unwrap();
            assert_eq!(c.generation, 1);
        }
        drop(a);
        assert_eq!(manager.0.alive_old.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn refresh_under_64_tasks_fails_no_get_replaces_everything_and_bounds_connects() {
    const TASKS: usize = 64;
    const MAX: usize = 8;
    const TURNS: usize = 2;
    let rt = common::tokio_rt(4);
    rt.block_on(async {
        let manager = Gen::default();
        let pool = Pool::builder()
            .max_size(MAX)
            .refresh_connects(TURNS)
            .wait_timeout(Some(Duration::from_secs(10)))
            .build(manager.clone())
            .unwrap();
        let refreshed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicUsize::new(0));
        let stale_after = Arc::new(AtomicUsize::new(0));
        let gets = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (pool, refreshed, stop) = (pool.clone(), refreshed.clone(), stop.clone());
            let (failed, stale_after, gets) = (failed.clone(), stale_after.clone(), gets.clone());
            tasks.push(tokio::spawn(async move {
                // Bounded in count and time (the loop stops on `stop` well before).
                let deadline = Instant::now() + Duration::from_secs(20);
                for _ in 0..100_000 {
                    if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                        break;
                    }
                    let after = refreshed.load(Ordering::SeqCst);
                    match pool.get().await {
                        Ok(conn) => {
                            gets.fetch_add(1, Ordering::Relaxed);
                            if after && conn.generation == 0 {
                                stale_after.fetch_add(1, Ordering::SeqCst);
                            }
                            tokio::task::yield_now().await;
                            drop(conn);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        // Let the load warm the pool up to its cap.
        let warm = Instant::now();
        // Up to its cap with every connect finished (so all of them are old ones).
        while manager.0.alive.load(Ordering::SeqCst) < MAX
            && warm.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(manager.0.alive.load(Ordering::SeqCst), MAX);
        manager.0.generation.store(1, Ordering::SeqCst);
        pool.refresh();
        refreshed.store(true, Ordering::SeqCst);
        // Every old connection is gone after one checkout each: wait for it (bounded).
        let started = Instant::now();
        while manager.0.alive_old.load(Ordering::SeqCst) > 0
            && started.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let replaced_in = started.elapsed();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
        let counts = &manager.0;
        assert_eq!(failed.load(Ordering::SeqCst), 0, "no get failed");
        assert_eq!(counts.alive_old.load(Ordering::SeqCst), 0, "all replaced");
        assert!(
            replaced_in < Duration::from_secs(1),
            "replaced in {replaced_in:?}"
        );
        assert_eq!(
            stale_after.load(Ordering::SeqCst),
            0,
            "no get that started after refresh() returned got an old connection"
        );
        assert!(
            counts.max_alive.load(Ordering::SeqCst) <= MAX,
            "never above max_size"
        );
        let turns = counts.max_connecting_new.load(Ordering::SeqCst);
        assert!(
            (1..=TURNS).contains(&turns),
            "at most {TURNS} connects at once, saw {turns}"
        );
        let stats = pool.stats();
        assert_eq!(stats.closed_refreshed, MAX as u64);
        assert!(gets.load(Ordering::Relaxed) > TASKS);
    });
}

#[test]
fn a_refresh_is_over_once_every_old_connection_is_gone() {
    futures_lite::future::block_on(async {
        let reasons = Arc::new(std::sync::Mutex::new(0usize));
        let seen = reasons.clone();
        let pool = Pool::builder()
            .max_size(2)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .event_handler(move |e: &Event<'_>| {
                if matches!(e, Event::ConnectionClosed { .. }) {
                    *seen.lock().unwrap() += 1;
                }
            })
            .build(Gen::default())
            .unwrap();
        let held = pool.get().await.unwrap();
        pool.refresh();
        drop(held);
        // New connections after the refresh stay: returned, reused, not closed.
        for _ in 0..10 {
            drop(pool.get().await.unwrap());
        }
        pool.maintain().await;
        assert_eq!(
            *reasons.lock().unwrap(),
            1,
            "only the old connection was closed"
        );
        assert_eq!(pool.stats().idle, 1);
    });
}

#[test]
fn after_a_refresh_of_a_quiet_pool_maintenance_keeps_the_new_connections() {
    futures_lite::future::block_on(async {
        let manager = Gen::default();
        let pool = Pool::builder().max_size(2).build(manager.clone()).unwrap();
        drop(pool.get().await.unwrap());
        pool.refresh();
        // Nothing stale left: a maintenance pass is a no-op for fresh connections.
        drop(pool.get().await.unwrap());
        pool.maintain().await;
        assert_eq!(pool.stats().idle, 1);
        assert_eq!(pool.stats().closed_refreshed, 1);
    });
}

#[test]
fn report_acts_on_the_managers_verdict() {
    futures_lite::future::block_on(async {
        let manager = Gen::default();
        let pool = Pool::builder().max_size(4).build(manager.clone()).unwrap();
        let mut a = pool.get().await.unwrap();
        let mut b = pool.get().await.unwrap();
        drop(pool.get().await.unwrap());
        assert_eq!(pool.stats().connections, 3);

        assert_eq!(Pooled::report(&mut a, &Reply("wrongtype")), Fault::None);
        assert_eq!(
            Pooled::report(&mut b, &std::io::Error::other("reset")),
            Fault::Connection
        );
        drop(b);
        assert_eq!(
            pool.stats().connections,
            2,
            "a connection fault closes it only"
        );
        assert_eq!(pool.stats().refreshes, 0);

        assert_eq!(Pooled::report(&mut a, &Reply("readonly")), Fault::Server);
        assert_eq!(pool.stats().refreshes, 1);
        assert_eq!(pool.stats().idle, 0, "a server fault refreshes the pool");
        drop(a);
        assert_eq!(pool.stats().connections, 0);
    });
}

#[test]
fn a_server_fault_refreshes_only_its_key() {
    futures_lite::future::block_on(async {
        let managers: Arc<std::sync::Mutex<Vec<Gen>>> = Arc::default();
        let made = managers.clone();
        let pool: KeyedPool<u32, Gen> = KeyedPool::builder()
            .max_size(4)
            .build(move |_key: &u32| {
                let m = Gen::default();
                made.lock().unwrap().push(m.clone());
                m
            })
            .unwrap();
        drop(pool.get(&2).await.unwrap());
        let mut one = pool.get(&1).await.unwrap();
        drop(pool.get(&1).await.unwrap());
        assert_eq!(Pooled::report(&mut one, &Reply("readonly")), Fault::Server);
        assert_eq!(pool.stats_for(&1).unwrap().refreshes, 1);
        assert_eq!(pool.stats_for(&1).unwrap().idle, 0);
        assert_eq!(pool.stats_for(&2).unwrap().refreshes, 0);
        assert_eq!(pool.stats_for(&2).unwrap().idle, 1);
        drop(one);
        assert!(pool.refresh_key(&2));
        assert!(!pool.refresh_key(&3));
        assert_eq!(pool.stats().connections, 0);
    });
}
