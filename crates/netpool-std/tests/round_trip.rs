//! Round trips through a blocking pool from threads, and connect failures.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use netpool_core::Error;
use netpool_std::{BuildError, NetError};
use netpool_testkit::Blackhole;

#[test]
fn build_errors() {
    for addr in ["localhost", "localhost:", ":80", "::1:80", "host:99999"] {
        let err = netpool_std::tcp(addr).build().unwrap_err();
        assert!(matches!(err, BuildError::Address { .. }), "{addr}: {err:?}");
    }
    let err = netpool_std::tcp("127.0.0.1:1")
        .min_idle(Some(3))
        .max_size(2)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::Config(_)), "{err:?}");
}

#[test]
fn a_closed_port_is_a_connect_error_fast() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let pool = netpool_std::tcp(addr.to_string()).build().unwrap();
    let start = Instant::now();
    match pool.get_blocking().unwrap_err() {
        Error::Connect(NetError::Connect { source, .. }) => {
            assert_eq!(source.kind(), ErrorKind::ConnectionRefused)
        }
        other => panic!("expected a refused connect, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_name_that_does_not_resolve_is_a_clear_error() {
    let pool = netpool_std::tcp("netpool-test.invalid:80").build().unwrap();
    let err = pool.get_blocking().unwrap_err();
    let net = err.connect_error().expect("a connect error");
    assert!(matches!(net, NetError::Resolve { host, .. } if host == "netpool-test.invalid"));
    assert!(net.to_string().contains("could not resolve"), "{net}");
}

#[test]
fn a_connect_that_never_completes_times_out() {
    // A blocking connect cannot be interrupted by the pool's timer: the per-attempt
    // timeout, which `tcp(..).connect_timeout` also sets, bounds it.
    let hole = Blackhole::bind().unwrap();
    let pool = netpool_std::tcp(hole.addr().to_string())
        .connect_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = pool.get_blocking().unwrap_err();
    let timed_out =
        err.is_connect_timeout() || err.connect_error().is_some_and(NetError::is_timeout);
    assert!(timed_out, "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
