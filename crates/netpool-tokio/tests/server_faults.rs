//! The server misbehaves, on tokio: it closes idle connections, sends bytes nobody asked
//! for, and goes down and comes back while 32 clients work.

mod common;

use std::time::Duration;

use common::{Tokio, echo};
use netpool_core::Pooled;
use netpool_testkit::chaos::scenario::{self, Settings};
use netpool_testkit::harness::Tcp;
use netpool_testkit::{EchoServer, checks};
use tokio::io::AsyncWriteExt;

#[test]
fn a_connection_closed_by_the_server_is_replaced_on_checkout() {
    let server = EchoServer::start().unwrap();
    let tokio = Tcp(Tokio::new());
    let pool = {
        let _runtime = tokio.0.enter(); // maintenance is spawned on it
        netpool_tokio::tcp(server.addr().to_string())
            .check_idle_after(Some(Duration::from_millis(1)))
            // Only the checkout may notice: maintenance stays out of the way.
            .maintenance_interval(Some(Duration::from_secs(60)))
            .build()
            .unwrap()
    };
    checks::closed_by_server_is_replaced(&tokio, &server, &pool);
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
    // Caught when it came back (`has_broken` peeks), before any checkout check.
    assert_eq!(pool.stats().closed_broken, 1);
}

#[test]
fn the_pool_rides_out_a_server_restart() -> std::io::Result<()> {
    let mut settings = Settings::issue();
    settings.wait_timeout = Duration::from_secs(5);
    let report = scenario::restart(&Tcp(Tokio::new()), &settings, Duration::from_millis(500))?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

/// Connections cut by the server while busy are closed when they come back (the TCP
/// manager's `has_broken` peeks), not handed out again and again.
#[test]
fn killed_busy_connections_cost_one_error_each() {
    let server = EchoServer::start().unwrap();
    let tokio = Tcp(Tokio::new());
    let pool = {
        let _runtime = tokio.0.enter();
        netpool_tokio::tcp(server.addr().to_string())
            .max_size(8)
            .build()
            .unwrap()
    };
    checks::killed_busy_connections_cost_one_error_each(&tokio, &server, &pool);
}
