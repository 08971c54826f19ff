//! From threads: the server closes idle connections or restarts under load; the
//! maintenance thread reaps idle and old connections and keeps min_idle warm.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{LIMIT, Threads, echo};
use netpool_core::Pooled;
use netpool_testkit::chaos::scenario::{self, Settings};
use netpool_testkit::harness::Tcp;
use netpool_testkit::{EchoServer, checks, eventually};

#[test]
fn a_connection_closed_by_the_server_is_replaced_on_checkout() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_std::tcp(server.addr().to_string())
        .check_idle_after(Some(Duration::from_millis(1)))
        // Only the checkout may notice: maintenance stays out of the way.
        .maintenance_interval(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    checks::closed_by_server_is_replaced(&Tcp(Threads), &server, &pool);
}

#[test]
fn unexpected_pending_bytes_fail_the_check() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_std::tcp(server.addr().to_string())
        .check_idle_after(None)
        .build()
        .unwrap();
    let mut conn = pool.get_blocking().unwrap();
    conn.write_all(b"unread").unwrap();
    conn.peek(&mut [0; 1]).unwrap(); // the echo is pending, and nobody reads it
    drop(conn);
    let mut conn = pool.get_blocking().unwrap();
    assert_eq!(Pooled::meta(&conn).use_count, 1, "a new connection");
    echo(&mut conn, b"in sync").unwrap();
    drop(conn);
    let conn = pool.get_blocking().unwrap();
    assert_eq!(Pooled::meta(&conn).use_count, 2, "checked and kept");
    let nonblocking = socket2::SockRef::from(&*conn).nonblocking().unwrap();
    assert!(!nonblocking, "the peek restores blocking mode");
    // Caught when it came back (`has_broken` peeks), before any checkout check.
    assert_eq!(pool.stats().closed_broken, 1);
}

#[test]
fn the_pool_rides_out_a_server_restart() -> std::io::Result<()> {
    let mut settings = Settings::issue();
    settings.wait_timeout = Duration::from_secs(5);
    settings.connect_timeout = Duration::from_secs(1);
    let report = scenario::restart(&Tcp(Threads), &settings, Duration::from_millis(500))?;
    eprintln!("{report:#?}");
    report.assert_targets();
    Ok(())
}

#[test]
fn maintenance_reaps_idle_and_old_connections_and_keeps_min_idle() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_std::tcp(server.addr().to_string())
        .min_idle(Some(1))
        .idle_timeout(Some(Duration::from_millis(50)))
        .max_lifetime(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    checks::maintenance_reaps_and_keeps_min_idle(&Tcp(Threads), &server, &pool);
}

#[test]
fn the_thread_ends_when_the_pool_is_dropped() {
    let pool = netpool_core::Pool::builder()
        .maintenance_interval(Some(Duration::from_millis(10)))
        .build(netpool_std::TcpManager::new("127.0.0.1:1"))
        .unwrap();
    let thread = netpool_std::spawn_maintenance(&pool).unwrap();
    assert_eq!(thread.thread().name(), Some("netpool-maintenance"));
    drop(pool);
    assert!(eventually(LIMIT, || thread.is_finished()));
    thread.join().unwrap();
}

/// Connections cut by the server while busy are closed when they come back (the TCP
/// manager's `has_broken` peeks), not handed out again and again.
#[test]
fn killed_busy_connections_cost_one_error_each() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_std::tcp(server.addr().to_string())
        .max_size(8)
        .build()
        .unwrap();
    checks::killed_busy_connections_cost_one_error_each(&Tcp(Threads), &server, &pool);
}
