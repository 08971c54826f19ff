//! On smol: the server closes idle connections or restarts under load; the spawned
//! maintenance reaps idle and old connections and keeps min_idle warm.

mod common;

use std::time::Duration;

use common::{Smol, echo, run};
use netpool_core::Pooled;
use netpool_testkit::EchoServer;
use netpool_testkit::harness::Tcp;
use smol::io::AsyncWriteExt;

netpool_testkit::tcp_tests!(Tcp(Smol));

#[test]
fn unexpected_pending_bytes_fail_the_check() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_smol::tcp(server.addr().to_string())
        .check_idle_after(None)
        .build()
        .unwrap();
    run(async {
        let mut conn = pool.get().await.unwrap();
        conn.write_all(b"unread").await.unwrap();
        conn.peek(&mut [0; 1]).await.unwrap(); // the echo is pending, and nobody reads it
        drop(conn);
        let mut conn = pool.get().await.unwrap();
        assert_eq!(Pooled::meta(&conn).use_count, 1, "a new connection");
        echo(&mut conn, b"in sync").await.unwrap();
    });
    // Caught when it came back (`has_broken` peeks), before any checkout check.
    assert_eq!(pool.stats().closed_broken, 1);
}

#[test]
fn the_task_ends_when_the_pool_is_dropped() {
    let pool = netpool_core::Pool::builder()
        .maintenance_interval(Some(Duration::from_millis(10)))
        .build(netpool_smol::TcpManager::new("127.0.0.1:1"))
        .unwrap();
    let task = netpool_smol::spawn_maintenance(&pool);
    drop(pool);
    run(task);
}
