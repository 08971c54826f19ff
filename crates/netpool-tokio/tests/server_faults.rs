//! The server misbehaves, on tokio: it closes idle connections, sends bytes nobody asked
//! for, and goes down and comes back while 32 clients work.

mod common;

use common::{Tokio, echo};
use netpool_core::Pooled;
use netpool_testkit::EchoServer;
use netpool_testkit::harness::Tcp;
use tokio::io::AsyncWriteExt;

netpool_testkit::tcp_tests!(Tcp(Tokio::new()));

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
