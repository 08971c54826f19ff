//! The server misbehaves, on tokio: it closes idle connections, sends bytes nobody asked
//! for, and goes down and comes back while 32 clients work.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{LIMIT, echo};
use netpool_core::{Error, Pooled};
use netpool_testkit::EchoServer;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_connection_closed_by_the_server_is_replaced_on_checkout() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .check_idle_after(Some(Duration::from_millis(1)))
        // Only the checkout may notice: maintenance stays out of the way.
        .maintenance_interval(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    echo(&mut pool.get().await.unwrap(), b"one").await.unwrap();
    server.close_idle_after(Some(Duration::from_millis(20)));
    assert!(server.wait_until(LIMIT, |c| c.live == 0 && c.closed == 1));
    server.close_idle_after(None);

    let mut conn = pool.get().await.expect("a fresh connection, not an error");
    echo(&mut conn, b"two").await.unwrap();
    assert_eq!(server.accepted(), 2);
    let stats = pool.stats();
    assert_eq!((stats.closed_invalid, stats.connections_created), (1, 2));
}

#[tokio::test]
async fn unexpected_pending_bytes_fail_the_check() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .check_idle_after(None) // check on every checkout
        .build()
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.write_all(b"unread reply").await.unwrap();
    conn.readable().await.unwrap(); // the echo is pending, and nobody reads it
    drop(conn);

    let mut conn = pool.get().await.unwrap();
    assert_eq!(Pooled::meta(&conn).use_count, 1, "a new connection");
    echo(&mut conn, b"in sync").await.unwrap();
    assert_eq!(pool.stats().closed_invalid, 1);
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    connect: AtomicU64,
    unavailable: AtomicU64,
    other: AtomicU64,
    io: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_rides_out_a_server_restart() {
    const CLIENTS: usize = 32;
    const OUTAGE: Duration = Duration::from_millis(500);
    let server = Arc::new(EchoServer::start().unwrap());
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .max_size(8)
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs(30);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (pool, stop, tally) = (pool.clone(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let counter = match pool.get().await {
                        Ok(mut conn) => match echo(&mut conn, b"ping").await {
                            Ok(()) => &tally.ok,
                            Err(_) => {
                                Pooled::discard(conn);
                                &tally.io
                            }
                        },
                        Err(Error::Connect(_)) => &tally.connect,
                        Err(Error::Unavailable { .. }) => &tally.unavailable,
                        Err(_) => &tally.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if !std::ptr::eq(counter, &tally.ok) {
                        // A client that failed tries again a little later.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        })
        .collect();
    let ok_at_least = |n: u64| {
        let tally = tally.clone();
        testkit_eventually(move || tally.ok.load(Ordering::Relaxed) >= n)
    };
    assert!(ok_at_least(500).await, "the clients get going");

    server.stop();
    let before = pool.stats().connect_errors;
    tokio::time::sleep(OUTAGE).await; // the outage itself, not a synchronisation
    let attempts = pool.stats().connect_errors - before;
    let failed = tally.connect.load(Ordering::Relaxed) + tally.unavailable.load(Ordering::Relaxed);
    assert!(failed > 0, "clients saw the outage");
    // Without backoff 32 clients would try thousands of times in 500 ms; with it, one
    // probe per delay (10, 20, 40, 80, 100, 100 ms ...) plus the first concurrent wave.
    assert!(
        attempts <= 40,
        "{attempts} connect attempts during the outage"
    );

    server.restart().unwrap();
    let restarted = Instant::now();
    let ok_now = tally.ok.load(Ordering::Relaxed);
    assert!(ok_at_least(ok_now + 500).await, "the pool recovers");
    let recovery = restarted.elapsed();
    eprintln!("outage: {attempts} connect attempts, {failed} failed gets; recovery {recovery:?}");
    assert!(
        recovery < Duration::from_secs(5),
        "recovered in {recovery:?}"
    );

    stop.store(true, Ordering::Relaxed);
    for c in clients {
        tokio::time::timeout(LIMIT, c).await.unwrap().unwrap();
    }
    assert_eq!(
        tally.other.load(Ordering::Relaxed),
        0,
        "only Connect or Unavailable"
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.in_use, stats.waiting),
        (0, 0),
        "no leaked slot: {stats:?}"
    );
    assert_eq!(stats.connections, stats.idle);
    assert!(stats.connections <= 8);
    assert!(server.live() <= 8);
}

/// Polls `done` every millisecond for up to 10 s, without blocking the runtime.
async fn testkit_eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}
