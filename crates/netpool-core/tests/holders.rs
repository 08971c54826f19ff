//! Hold-time diagnostics: leak reports, `holders()`, and the state named on a timeout.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use netpool_core::{Event, EventHandler, Pool, Pooled};

use common::{Gated, gated_pool, gated_sized, maintain};

/// The leak events a handler saw, with when they came.
#[derive(Debug, Clone, PartialEq)]
enum Leak {
    Held {
        id: u64,
        held_for: Duration,
        site: String,
        at: Instant,
    },
    Returned {
        held_for: Duration,
    },
}

fn leak_recorder() -> (
    Arc<Mutex<Vec<Leak>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let handler = move |event: &Event<'_>| {
        let leak = match *event {
            Event::HeldTooLong { id, held_for, site } => Leak::Held {
                id,
                held_for,
                site: format!("{}:{}", site.file(), site.line()),
                at: Instant::now(),
            },
            Event::ReturnedAfterLeak { held_for } => Leak::Returned { held_for },
            _ => return,
        };
        sink.lock().unwrap().push(leak);
    };
    (seen, handler)
}

/// Runs maintenance every `interval` on a thread until the returned flag is set (as an
/// adapter does); bounded to 10 s.
fn maintenance(
    pool: &Pool<Gated>,
    interval: Duration,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, pool) = (stop.clone(), pool.clone());
    let thread = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(10);
        while !flag.load(Ordering::Relaxed) && Instant::now() < until {
            maintain(&pool);
            std::thread::sleep(interval);
        }
    });
    (stop, thread)
}

#[test]
fn a_guard_held_three_times_the_threshold_is_reported_once_and_its_return_once() {
    let threshold = Duration::from_millis(200);
    let interval = Duration::from_millis(50);
    let (seen, handler) = leak_recorder();
    let (_m, pool) = gated_pool(
        Pool::builder()
            .leak_threshold(threshold)
            .maintenance_interval(Some(interval))
            .event_handler(handler),
    );
    let (stop, thread) = maintenance(&pool, interval);

    let started = Instant::now();
    let conn = pool.get_blocking().unwrap();
    let site = format!("{}:{}", file!(), line!() - 1);
    let id = Pooled::meta(&conn).id;
    std::thread::sleep(threshold * 3);
    drop(conn);
    // The guard noticed the report (or the next scan does): wait for both events, bounded.
    let until = Instant::now() + Duration::from_secs(5);
    while seen.lock().unwrap().len() < 2 && Instant::now() < until {
        std::thread::sleep(interval);
    }
    // A few more passes: nothing else may be reported.
    std::thread::sleep(interval * 4);
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one report and one return: {seen:?}");
    let Leak::Held {
        id: held_id,
        held_for,
        site: held_site,
        at,
    } = &seen[0]
    else {
        panic!("the report comes first: {seen:?}");
    };
    assert_eq!(*held_id, id);
    assert_eq!(*held_site, site);
    assert!(*held_for >= threshold, "held {held_for:?}");
    // Within the threshold plus one maintenance interval; plus 150 ms for the coarse
    // clock's tick and a loaded machine's scheduling of the maintenance thread.
    let reported_after = at.duration_since(started);
    assert!(
        reported_after <= threshold + interval + Duration::from_millis(150),
        "reported after {reported_after:?}"
    );
    let Leak::Returned { held_for } = seen[1] else {
        panic!("then the return: {seen:?}");
    };
    assert!(
        held_for >= threshold * 3 - Duration::from_millis(20),
        "held {held_for:?}"
    );
}

#[test]
fn the_site_is_the_line_of_the_get() {
    let (_m, pool) = gated_pool(Pool::builder().leak_threshold(Duration::from_secs(60)));
    let conn = pool.get_blocking().unwrap();
    let line = line!() - 1;
    assert_eq!(Pooled::site(&conn).line(), line);
    assert_eq!(Pooled::site(&conn).file(), file!());
    let holders = pool.holders();
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].site.line(), line);
    assert_eq!(holders[0].id, Pooled::meta(&conn).id);
    drop(conn);
    assert!(pool.holders().is_empty(), "returned: no longer a holder");

    let conn = pool.try_get().unwrap();
    assert_eq!(Pooled::site(&conn).line(), line!() - 1);
    drop(conn);
    let conn = futures_lite::future::block_on(pool.get()).unwrap();
    assert_eq!(Pooled::site(&conn).line(), line!() - 1);
    drop(conn);
    let conn = futures_lite::future::block_on(pool.get_timeout(Duration::from_secs(1))).unwrap();
    assert_eq!(Pooled::site(&conn).line(), line!() - 1);
    Pooled::discard(conn);
    assert!(pool.holders().is_empty(), "discarded: no longer a holder");
    let conn = pool.get_blocking_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(Pooled::site(&conn).line(), line!() - 1);
    let _conn = Pooled::detach(conn);
    assert!(pool.holders().is_empty(), "detached: no longer a holder");
}

#[test]
fn sixty_four_holders_are_listed_with_their_sites() {
    const TASKS: usize = 64;
    let (_m, pool) = gated_sized(TASKS, |b| b.leak_threshold(Duration::from_secs(60)));
    let holding = Arc::new(Barrier::new(TASKS + 1));
    let release = Arc::new(Barrier::new(TASKS + 1));
    let (even_line, odd_line) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
    let threads: Vec<_> = (0..TASKS)
        .map(|i| {
            let (pool, holding, release) = (pool.clone(), holding.clone(), release.clone());
            let (even_line, odd_line) = (even_line.clone(), odd_line.clone());
            std::thread::spawn(move || {
                let conn = if i % 2 == 0 {
                    let conn = pool.get_blocking().unwrap();
                    *even_line.lock().unwrap() = line!() - 1;
                    conn
                } else {
                    let conn = pool.get_blocking().unwrap();
                    *odd_line.lock().unwrap() = line!() - 1;
                    conn
                };
                holding.wait();
                release.wait();
                drop(conn);
            })
        })
        .collect();
    holding.wait();
    let holders = pool.holders();
    release.wait();
    for t in threads {
        t.join().unwrap();
    }
    let (even, odd) = (*even_line.lock().unwrap(), *odd_line.lock().unwrap());
    assert_eq!(holders.len(), TASKS);
    assert!(holders.iter().all(|h| h.site.file() == file!()));
    assert_eq!(
        holders.iter().filter(|h| h.site.line() == even).count(),
        TASKS / 2
    );
    assert_eq!(
        holders.iter().filter(|h| h.site.line() == odd).count(),
        TASKS / 2
    );
    let mut ids: Vec<_> = holders.iter().map(|h| h.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), TASKS, "64 different connections");
    assert!(
        holders.windows(2).all(|w| w[0].held_for >= w[1].held_for),
        "longest held first"
    );
    assert!(pool.holders().is_empty());
}

#[test]
fn a_timeout_names_the_pool_state_and_the_oldest_holder() {
    let (_m, pool) = gated_pool(
        Pool::builder()
            .name("jobs")
            .max_size(1)
            .leak_threshold(Duration::from_secs(60)),
    );
    // A guard someone forgot to drop.
    let forgotten = pool.get_blocking().unwrap();
    let line = line!() - 1;
    let err = pool
        .get_blocking_timeout(Duration::from_millis(50))
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(matches!(err, netpool_core::Error::Timeout));
    let report = pool.last_timeout().expect("a timeout was recorded");
    let text = report.to_string();
    assert!(
        text.starts_with("pool jobs: no connection free in "),
        "{text}"
    );
    assert!(text.contains("1 of 1 in use"), "{text}");
    assert!(
        text.ends_with(&format!("by {}:{line}", file!())),
        "names the holder's get: {text}"
    );
    assert_eq!(report.oldest.unwrap().id, Pooled::meta(&forgotten).id);
    drop(forgotten);
}

#[test]
fn without_a_threshold_nothing_is_tracked_but_the_state_is_reported() {
    let (_m, pool) = gated_pool(Pool::builder().max_size(1));
    let held = pool.get_blocking().unwrap();
    let line = line!() - 1;
    assert!(pool.holders().is_empty());
    assert!(
        pool.get_blocking_timeout(Duration::from_millis(20))
            .is_err()
    );
    let report = pool.last_timeout().unwrap();
    assert_eq!(report.oldest, None);
    assert!(report.to_string().contains("1 of 1 in use"), "{report}");
    assert_eq!(Pooled::site(&held).line(), line);
}

/// A handler shared by pools learns which one reported.
#[test]
fn handlers_are_told_the_pool_name() {
    #[derive(Default, Clone)]
    struct Names(Arc<Mutex<Vec<Option<String>>>>);
    impl EventHandler for Names {
        fn handle(&self, _: &Event<'_>) {
            unreachable!("handle_in is overridden")
        }
        fn handle_in(&self, pool: Option<&str>, event: &Event<'_>) {
            if let Event::ConnectionOpened { .. } = event {
                self.0.lock().unwrap().push(pool.map(str::to_owned));
            }
        }
    }
    let names = Names::default();
    let (_m, a) = gated_pool(Pool::builder().name("a").event_handler(names.clone()));
    let (_m, b) = gated_pool(Pool::builder().event_handler(names.clone()));
    drop(a.get_blocking().unwrap());
    drop(b.get_blocking().unwrap());
    assert_eq!(*names.0.lock().unwrap(), vec![Some("a".to_owned()), None]);
}

#[test]
fn keyed_pools_list_holders_per_key() {
    let keys = common::Keys::default();
    let pool =
        keys.pool(netpool_core::KeyedPool::builder().leak_threshold(Duration::from_secs(60)));
    let a = pool.get_blocking(&1).unwrap();
    let line = line!() - 1;
    let b = pool.try_get(&2).unwrap();
    assert_eq!(pool.holders(&1).len(), 1);
    assert_eq!(pool.holders(&1)[0].site.line(), line);
    assert_eq!(pool.holders(&2)[0].site.line(), line + 2);
    assert!(pool.holders(&3).is_empty());
    drop((a, b));
    assert!(pool.holders(&1).is_empty());
}

/// Once a scan has reported a checkout, its guard reports its own return as it comes
/// back (no further scan needed), and the next scan does not report it again.
#[test]
fn a_reported_guard_reports_its_return_itself_and_only_once() {
    let threshold = Duration::from_millis(50);
    let (seen, handler) = leak_recorder();
    let (_m, pool) = gated_pool(
        Pool::builder()
            .leak_threshold(threshold)
            .maintenance_interval(None)
            .event_handler(handler),
    );
    // A checkout that is not held too long: returned before any scan.
    drop(pool.get_blocking().unwrap());
    let conn = pool.get_blocking().unwrap();
    // Past the threshold (the coarse clock ticks in a few ms: three times over).
    std::thread::sleep(threshold * 3);
    maintain(&pool);
    assert!(
        matches!(seen.lock().unwrap().as_slice(), [Leak::Held { .. }]),
        "the scan reports the holder: {:?}",
        seen.lock().unwrap()
    );
    drop(conn);
    assert!(
        matches!(
            seen.lock().unwrap().as_slice(),
            [Leak::Held { .. }, Leak::Returned { .. }]
        ),
        "the guard reports its return: {:?}",
        seen.lock().unwrap()
    );
    // Later scans and checkouts: nothing more.
    maintain(&pool);
    drop(pool.get_blocking().unwrap());
    maintain(&pool);
    assert_eq!(seen.lock().unwrap().len(), 2, "{:?}", seen.lock().unwrap());
}
