//! Every public type is `Send + Sync`, and every future the adapters hand out is `Send`.

use netpool_core::Manager;
use netpool_tokio::{BuildError, NetError, Pool, TcpBuilder, TcpManager, TcpOptions, Tokio};

fn send_sync<T: Send + Sync + 'static>() {}

fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Pool>();
    send_sync::<TcpManager>();
    #[cfg(unix)]
    send_sync::<netpool_tokio::UnixManager>();
    send_sync::<TcpBuilder<Tokio>>();
    send_sync::<TcpOptions>();
    send_sync::<netpool_tokio::Resolver>();
    send_sync::<BuildError>();
    send_sync::<NetError>();
    send_sync::<netpool_core::Pooled<TcpManager>>();
}

#[tokio::test]
async fn futures_are_send() {
    let pool = netpool_tokio::tcp("127.0.0.1:1").build().unwrap();
    send(&pool.get());
    send(&pool.manager().connect());
    send(&netpool_tokio::net::maintenance_loop(
        pool.downgrade(),
        async_io::Timer::after,
    ));
    send(&TcpManager::resolve_loop(pool.downgrade()));
    #[cfg(unix)]
    send(&netpool_tokio::UnixManager::new("/nonexistent").connect());
}
