//! A user of netpool-tokio needs no other netpool crate: the guard, the error, the stats
//! and the builder's types are re-exported here, and the core crate as `core`.

use std::time::Duration;

use netpool_testkit::EchoServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_pool_needs_only_this_crate() {
    let server = EchoServer::start().unwrap();
    let pool: netpool_tokio::Pool = netpool_tokio::tcp(server.addr())
        .max_size(1)
        .queue_strategy(netpool_tokio::QueueStrategy::Fifo)
        .build()
        .unwrap();
    let mut conn: netpool_tokio::Pooled<netpool_tokio::TcpManager> = pool.get().await.unwrap();
    conn.write_all(b"x").await.unwrap();
    let mut reply = [0];
    conn.read_exact(&mut reply).await.unwrap();
    let meta: netpool_tokio::Meta = netpool_tokio::Pooled::meta(&conn);
    assert_eq!(meta.use_count, 1);
    netpool_tokio::Pooled::discard(conn);
    let stats: netpool_tokio::Stats = pool.stats();
    assert_eq!((stats.connections, stats.closed_broken), (0, 1));

    let held = pool.get().await.unwrap();
    let err: netpool_tokio::Error = pool
        .get_timeout(Duration::from_millis(20))
        .await
        .unwrap_err();
    assert!(matches!(err, netpool_tokio::Error::Timeout));
    drop(held);

    let core: netpool_tokio::core::Builder = netpool_tokio::Builder::new().max_size(2);
    let pool = netpool_tokio::tcp(server.addr())
        .pool_builder(core)
        .build()
        .unwrap();
    assert_eq!(pool.stats().max_size, 2);
}
