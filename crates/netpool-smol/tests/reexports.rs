//! A user of netpool-smol needs no other netpool crate: the guard, the error, the stats
//! and the builder's types are re-exported here, and the core crate as `core`.

use netpool_testkit::EchoServer;
use smol::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn a_pool_needs_only_this_crate() {
    let server = EchoServer::start().unwrap();
    let pool: netpool_smol::Pool = netpool_smol::tcp(server.addr())
        .max_size(1)
        .queue_strategy(netpool_smol::QueueStrategy::Lifo)
        .build()
        .unwrap();
    smol::block_on(async {
        let mut conn: netpool_smol::Pooled<netpool_smol::TcpManager> = pool.get().await.unwrap();
        conn.write_all(b"x").await.unwrap();
        let mut reply = [0];
        conn.read_exact(&mut reply).await.unwrap();
        let meta: netpool_smol::Meta = netpool_smol::Pooled::meta(&conn);
        assert_eq!(meta.use_count, 1);
        netpool_smol::Pooled::discard(conn);
        let stats: netpool_smol::Stats = pool.stats();
        assert_eq!((stats.connections, stats.closed_broken), (0, 1));

        let _held = pool.get().await.unwrap();
        let err: netpool_smol::Error = pool.try_get().unwrap_err();
        assert!(matches!(err, netpool_smol::Error::Timeout));
    });
    let _: &dyn Fn() -> netpool_smol::core::Builder = &netpool_smol::Builder::new;
}

/// `netpool_smol::builder()` starts maintenance for any manager; hooks, events and keyed
/// pools are reachable through this crate.
#[test]
fn builder_maintains_any_manager_and_hooks_events_keyed_are_reexported() {
    use std::time::Duration;

    use netpool_smol::{Event, EventHandler, Hooks, KeyedBuilder, KeyedPool, Manager};
    use netpool_testkit::Numbers;

    fn is_manager<M: Manager>() {}
    is_manager::<Numbers>();
    struct NoSetup;
    impl Hooks for NoSetup {
        type Manager = Numbers;
    }
    fn takes_handler(_: impl EventHandler) {}
    takes_handler(|_: &Event<'_>| {});
    let _: fn() -> KeyedBuilder = KeyedBuilder::new;
    let _: Option<KeyedPool<u8, Numbers>> = None;
    let _ = netpool_smol::core::Pool::builder().hooks(NoSetup);

    let pool = netpool_smol::builder()
        .min_idle(Some(2))
        .maintenance_interval(Some(Duration::from_millis(10)))
        .build(Numbers::default())
        .unwrap();
    // Generous bound: maintenance runs every 10 ms; a loaded machine may delay it.
    assert!(
        netpool_testkit::eventually(Duration::from_secs(10), || pool.stats().idle == 2),
        "{:?}",
        pool.stats()
    );
}
