//! From threads: the server closes idle connections or restarts under load; the
//! maintenance thread reaps idle and old connections and keeps min_idle warm.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{LIMIT, Threads, echo};
use netpool_core::Pooled;
use netpool_testkit::harness::Tcp;
use netpool_testkit::{EchoServer, eventually};

netpool_testkit::tcp_tests!(Tcp(Threads));

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
