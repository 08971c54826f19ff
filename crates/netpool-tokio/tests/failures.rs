//! Connect failures on tokio: a closed port, a name that does not resolve, a connect that
//! never completes.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::closed_port;
use netpool_core::Error;
use netpool_testkit::Blackhole;
use netpool_tokio::{NetError, TcpOptions};

#[tokio::test]
async fn a_closed_port_is_a_connect_error_fast() {
    let pool = netpool_tokio::tcp(closed_port()).build().unwrap();
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    match &err {
        Error::Connect(NetError::Connect {
            source, tried: 1, ..
        }) => {
            assert_eq!(source.kind(), ErrorKind::ConnectionRefused)
        }
        other => panic!("expected a refused connect, got {other:?}"),
    }
    // Right after, the pool backs off instead of connecting again.
    let err = pool.get().await.unwrap_err();
    assert!(err.is_unavailable() || err.is_connect(), "{err:?}");
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.in_use), (0, 0));
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_clear_error() {
    let pool = netpool_tokio::tcp("netpool-test.invalid:80")
        .build()
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), pool.get())
        .await
        .expect("resolution fails within 30 s")
        .unwrap_err();
    match err.connect_error() {
        Some(e @ NetError::Resolve { host, .. }) => {
            assert_eq!(host, "netpool-test.invalid");
            assert!(e.to_string().contains("could not resolve"), "{e}");
        }
        other => panic!("expected a resolve error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connect_that_never_completes_times_out() {
    let hole = Blackhole::bind().unwrap();
    let pool = netpool_tokio::tcp(hole.addr().to_string())
        .connect_timeout(Some(Duration::from_millis(100)))
        // Attempts may be allowed longer: the pool's connect_timeout still bounds the
        // connect, and the manager enforces it itself, so the error names the address
        // and the phase.
        .tcp_options(TcpOptions::new().connect_timeout(Some(Duration::from_secs(30))))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(
        err.connect_error().is_some_and(NetError::is_timeout),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "could not connect: TCP connect to {}: timed out after 100ms",
            hole.addr()
        )
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(pool.stats().connections, 0);
}

#[tokio::test]
async fn each_attempt_has_its_own_timeout() {
    let hole = Blackhole::bind().unwrap();
    let pool = netpool_tokio::tcp(hole.addr().to_string())
        .connect_timeout(Some(Duration::from_secs(30)))
        .tcp_options(TcpOptions::new().connect_timeout(Some(Duration::from_millis(100))))
        .build()
        .unwrap();
    let err = pool.get().await.unwrap_err();
    let net = err.connect_error().expect("a connect error");
    assert!(net.is_timeout(), "{net:?}");
}

#[tokio::test]
async fn wait_timeout_bounds_a_hanging_connect() {
    let hole = Blackhole::bind().unwrap();
    let pool = netpool_tokio::tcp(hole.addr().to_string())
        .connect_timeout(Some(Duration::from_secs(30)))
        .wait_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(err.is_connect_timeout() || err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
