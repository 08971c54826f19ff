//! The spawned maintenance task on tokio: idle timeout, max lifetime and min_idle, seen
//! from the server's side and in `stats()`; the task ends with the pool.

mod common;

use std::time::Duration;

use common::{LIMIT, echo};
use netpool_testkit::{EchoServer, eventually};
use tokio::runtime::Handle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_idle_timeout() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .idle_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let conns = [
        pool.get().await.unwrap(),
        pool.get().await.unwrap(),
        pool.get().await.unwrap(),
    ];
    drop(conns);
    assert!(server.wait_until(LIMIT, |c| c.live == 3));
    let closed = tokio::task::spawn_blocking(move || server.wait_until(LIMIT, |c| c.live == 0));
    assert!(
        closed.await.unwrap(),
        "maintenance closed the idle connections"
    );
    // The server sees a socket close a moment before the pool frees its slot.
    let p = pool.clone();
    let freed = tokio::task::spawn_blocking(move || {
        eventually(LIMIT, || {
            let stats = p.stats();
            (stats.closed_idle, stats.connections) == (3, 0)
        })
    });
    assert!(freed.await.unwrap(), "{:?}", pool.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_idle_is_kept_warm_and_never_reaped_below() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .min_idle(Some(2))
        .idle_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let srv = std::sync::Arc::new(server);
    let s = srv.clone();
    let warm = tokio::task::spawn_blocking(move || s.wait_until(LIMIT, |c| c.live == 2));
    assert!(warm.await.unwrap(), "min_idle opened without any get");
    let p = pool.clone();
    let idle = tokio::task::spawn_blocking(move || eventually(LIMIT, || p.stats().idle == 2));
    assert!(idle.await.unwrap());

    // Four in use, then idle: maintenance reaps two and keeps two.
    let conns: Vec<_> = futures_get(&pool, 4).await;
    drop(conns);
    let p = pool.clone();
    let reaped = tokio::task::spawn_blocking(move || {
        eventually(LIMIT, || {
            let s = p.stats();
            s.closed_idle >= 2 && (s.idle, s.connections) == (2, 2)
        })
    });
    assert!(reaped.await.unwrap(), "{:?}", pool.stats());
    let settled = tokio::task::spawn_blocking(move || srv.wait_until(LIMIT, |c| c.live == 2));
    assert!(settled.await.unwrap(), "the server sees two connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_replaced_after_max_lifetime() {
    let server = std::sync::Arc::new(EchoServer::start().unwrap());
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .min_idle(Some(2))
        .idle_timeout(None)
        .max_lifetime(Some(Duration::from_millis(150)))
        .build()
        .unwrap();
    let s = server.clone();
    let renewed = tokio::task::spawn_blocking(move || s.wait_until(LIMIT, |c| c.accepted >= 6));
    assert!(renewed.await.unwrap(), "expired connections were replaced");
    let stats = pool.stats();
    assert!(stats.closed_lifetime >= 2, "{stats:?}");
    assert!(stats.connections <= 2, "{stats:?}");
    echo(&mut pool.get().await.unwrap(), b"still works")
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_task_ends_when_the_pool_is_dropped_or_closed() {
    let server = EchoServer::start().unwrap();
    let alive = || Handle::current().metrics().num_alive_tasks();
    let base = alive();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .maintenance_interval(Some(Duration::from_millis(10)))
        .build()
        .unwrap();
    assert_eq!(alive(), base + 1);
    drop(pool);
    assert!(wait_tasks(base).await, "the task ended after the drop");

    let pool = netpool_core::Pool::builder()
        .maintenance_interval(Some(Duration::from_millis(10)))
        .build(netpool_tokio::TcpManager::new(server.addr().to_string()))
        .unwrap();
    let task = netpool_tokio::spawn_maintenance(&pool).unwrap();
    pool.close();
    tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
}

async fn wait_tasks(n: usize) -> bool {
    for _ in 0..1000 {
        if Handle::current().metrics().num_alive_tasks() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn futures_get(
    pool: &netpool_tokio::Pool,
    n: usize,
) -> Vec<netpool_core::Pooled<netpool_tokio::TcpManager>> {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(pool.get().await.unwrap());
    }
    conns
}
