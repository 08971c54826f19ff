//! Connect failures on tokio: a closed port, a name that does not resolve, a connect that
//! never completes.

mod common;

use std::time::{Duration, Instant};

use common::Tokio;
use netpool_testkit::harness::Tcp;
use netpool_testkit::{Blackhole, checks};
use netpool_tokio::TcpOptions;

#[test]
fn a_closed_port_is_a_connect_error_fast() {
    checks::closed_port_is_a_connect_error_fast(&Tcp(Tokio::new()));
}

#[test]
fn a_name_that_does_not_resolve_is_a_clear_error() {
    checks::unresolvable_name_is_a_clear_error(&Tcp(Tokio::new()));
}

#[test]
fn a_connect_that_never_completes_times_out() {
    checks::never_completing_connect_times_out(&Tcp(Tokio::new()));
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
