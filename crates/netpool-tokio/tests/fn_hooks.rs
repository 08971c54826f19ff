//! The closure hooks of `tcp(..)` and `tls(..)`: `on_connect` talks on every new stream,
//! `on_checkout` on every reuse.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use netpool_testkit::{EchoServer, TlsEchoServer};
use netpool_tokio::{NetError, TlsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn tcp_builder_runs_the_closures() {
    let server = EchoServer::start().unwrap();
    let checkouts = Arc::new(AtomicUsize::new(0));
    let seen = checkouts.clone();
    let pool = netpool_tokio::tcp(server.addr())
        .max_size(1)
        .on_connect(|stream| {
            Box::pin(async move {
                stream.write_all(b"hi").await.map_err(NetError::Io)?;
                let mut reply = [0; 2];
                stream.read_exact(&mut reply).await.map_err(NetError::Io)?;
                assert_eq!(&reply, b"hi");
                Ok(())
            })
        })
        .on_checkout(move |_, meta| {
            seen.fetch_add(1, Ordering::SeqCst);
            assert!(meta.use_count >= 1);
            Box::pin(async { Ok(()) })
        })
        .build()
        .unwrap();
    for _ in 0..3 {
        let mut conn = pool.get().await.unwrap();
        conn.write_all(b"x").await.unwrap();
        let mut reply = [0; 1];
        conn.read_exact(&mut reply).await.unwrap();
    }
    assert_eq!(checkouts.load(Ordering::SeqCst), 2);
    assert_eq!(pool.stats().connections_created, 1);
}

#[tokio::test]
async fn tls_builder_runs_the_closures() {
    let server = TlsEchoServer::start().unwrap();
    let connects = Arc::new(AtomicUsize::new(0));
    let seen = connects.clone();
    let pool = netpool_tokio::tls(server.addr().to_string(), server.client_config())
        .server_name("localhost")
        .max_size(2)
        .on_connect(move |stream| {
            seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                stream.write_all(b"ok").await.map_err(TlsError::Io)?;
                let mut reply = [0; 2];
                stream.read_exact(&mut reply).await.map_err(TlsError::Io)?;
                Ok(())
            })
        })
        .build()
        .unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    drop((a, b));
    assert_eq!(connects.load(Ordering::SeqCst), 2);
}
