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

/// Hooks, events and keyed pools are reachable through this crate too.
#[tokio::test]
async fn hooks_events_and_keyed_pools_need_only_this_crate() {
    use netpool_tokio::{Event, EventHandler, Hooks, KeyedBuilder, KeyedPool, TcpManager};

    struct Hello;
    impl Hooks for Hello {
        type Manager = TcpManager;
        async fn on_connect(
            &self,
            conn: &mut tokio::net::TcpStream,
        ) -> Result<(), netpool_tokio::NetError> {
            conn.write_all(b"hi").await.expect("the echo server is up");
            Ok(())
        }
    }
    fn takes_handler(_: impl EventHandler) {}
    takes_handler(|_: &Event<'_>| {});

    let server = EchoServer::start().unwrap();
    let addr = server.addr().to_string();
    let keyed: KeyedPool<String, TcpManager> = KeyedPool::builder()
        .max_size(1)
        .build(|addr: &String| TcpManager::new(addr.clone()))
        .unwrap();
    let _: fn() -> KeyedBuilder = KeyedBuilder::new;
    let mut conn = keyed.get(&addr).await.unwrap();
    conn.write_all(b"k").await.unwrap();
    let mut reply = [0];
    conn.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"k");

    let pool = netpool_core::Pool::builder()
        .hooks(Hello)
        .build(TcpManager::new(addr))
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let mut reply = [0; 2];
    conn.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"hi");
}
