//! Round trips through the pool on tokio: connections are reused; build-time errors.

mod common;

use std::time::Duration;

use common::{LIMIT, echo};
use netpool_testkit::EchoServer;
use netpool_tokio::{BuildError, NetError, TcpManager};

#[tokio::test]
async fn a_dropped_pool_closes_its_connections() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .build()
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    echo(&mut conn, b"x").await.unwrap();
    drop(conn);
    assert_eq!(server.live(), 1);
    drop(pool);
    assert!(server.wait_until(LIMIT, |c| c.live == 0));
}

#[tokio::test]
async fn bad_addresses_are_build_errors() {
    for addr in [
        "localhost",
        "localhost:",
        ":80",
        "::1:80",
        "host:99999",
        "a b:1",
    ] {
        let err = netpool_tokio::tcp(addr).build().unwrap_err();
        assert!(matches!(err, BuildError::Address { .. }), "{addr}: {err:?}");
    }
    let err = netpool_tokio::tcp("127.0.0.1:1")
        .max_size(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn a_manager_with_a_bad_address_fails_at_connect() {
    let pool = netpool_core::Pool::builder()
        .build(TcpManager::new("no-port"))
        .unwrap();
    let err = pool.get().await.unwrap_err();
    assert!(
        matches!(err.connect_error(), Some(NetError::Address { .. })),
        "{err:?}"
    );
}

#[test]
fn build_outside_a_runtime_is_an_error_not_a_panic() {
    let err = netpool_tokio::tcp("127.0.0.1:1").build().unwrap_err();
    assert!(
        matches!(err, BuildError::NoRuntime { runtime: "tokio" }),
        "{err:?}"
    );
    assert!(err.to_string().contains("tokio"));
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime() {
    let server = EchoServer::start().unwrap();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .wait_timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    for _ in 0..10 {
        echo(&mut pool.get().await.unwrap(), b"ping").await.unwrap();
    }
    assert_eq!(server.accepted(), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn unix_sockets_round_trip_and_reuse() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = std::env::temp_dir().join(format!("netpool-tokio-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0; 64];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    if s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let pool = netpool_core::Pool::builder()
        .max_size(2)
        .build(netpool_tokio::UnixManager::new(&path))
        .unwrap();
    netpool_tokio::spawn_maintenance(&pool).unwrap();
    for i in 0..20u8 {
        let mut conn = pool.get().await.unwrap();
        conn.write_all(&[i]).await.unwrap();
        let mut b = [0];
        conn.read_exact(&mut b).await.unwrap();
        assert_eq!(b, [i]);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
