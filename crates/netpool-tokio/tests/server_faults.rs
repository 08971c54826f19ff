//! The server misbehaves, on tokio: it closes idle connections, sends bytes nobody asked
//! for, and goes down and comes back while 32 clients work.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{LIMIT, echo};
use netpool_core::{Error, Pooled};
use netpool_testkit::{EchoServer, Tally, outage};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_rides_out_a_server_restart() {
    let server = Arc::new(EchoServer::start().unwrap());
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .max_size(8)
        .wait_timeout(Some(Duration::from_secs(5)))
        .connect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .unwrap();
    let tally = Arc::new(Tally::new(Duration::from_secs(30)));
    let clients: Vec<_> = (0..32)
        .map(|_| {
            let (pool, tally) = (pool.clone(), tally.clone());
            tokio::spawn(async move {
                while tally.running() {
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
                    Tally::bump(counter);
                    if !std::ptr::eq(counter, &tally.ok) {
                        // A client that failed tries again a little later.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        })
        .collect();
    let report = {
        let (server, tally, pool) = (server.clone(), tally.clone(), pool.clone());
        tokio::task::spawn_blocking(move || {
            outage(&server, &tally, Duration::from_millis(500), || {
                pool.stats().connect_errors
            })
        })
        .await
        .unwrap()
    };
    for c in clients {
        tokio::time::timeout(LIMIT, c).await.unwrap().unwrap();
    }
    report.check(&tally, &pool.stats());
    assert!(server.live() <= 8);
}
