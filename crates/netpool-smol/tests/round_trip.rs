//! Round trips through the pool on smol, and connect failures.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::run;
use netpool_core::Error;
use netpool_smol::{BuildError, NetError, TcpOptions};
use netpool_testkit::Blackhole;

#[test]
fn bad_addresses_are_build_errors() {
    for addr in ["localhost", "localhost:", ":80", "::1:80", "host:99999"] {
        let err = netpool_smol::tcp(addr).build().unwrap_err();
        assert!(matches!(err, BuildError::Address { .. }), "{addr}: {err:?}");
    }
}

#[test]
fn a_closed_port_is_a_connect_error_fast() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let pool = netpool_smol::tcp(addr.to_string()).build().unwrap();
    let start = Instant::now();
    let err = run(pool.get()).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    match &err {
        Error::Connect(NetError::Connect { source, .. }) => {
            assert_eq!(source.kind(), ErrorKind::ConnectionRefused)
        }
        other => panic!("expected a refused connect, got {other:?}"),
    }
}

#[test]
fn a_name_that_does_not_resolve_is_a_clear_error() {
    let pool = netpool_smol::tcp("netpool-test.invalid:80")
        .build()
        .unwrap();
    let err = smol::block_on(pool.get()).unwrap_err();
    assert!(
        matches!(err.connect_error(), Some(NetError::Resolve { host, .. }) if host == "netpool-test.invalid"),
        "{err:?}"
    );
}

#[test]
fn a_connect_that_never_completes_times_out() {
    let hole = Blackhole::bind().unwrap();
    let pool = netpool_smol::tcp(hole.addr().to_string())
        .connect_timeout(Some(Duration::from_millis(100)))
        .tcp_options(TcpOptions::new().connect_timeout(Some(Duration::from_secs(30))))
        .build()
        .unwrap();
    let err = run(pool.get()).unwrap_err();
    // The pool's bound is enforced by the manager, whose error names address and phase.
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
}
