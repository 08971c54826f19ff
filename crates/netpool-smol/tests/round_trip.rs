//! Round trips through the pool on smol, and connect failures.

mod common;

use common::Smol;
use netpool_smol::BuildError;
use netpool_testkit::checks;
use netpool_testkit::harness::Tcp;

#[test]
fn bad_addresses_are_build_errors() {
    for addr in ["localhost", "localhost:", ":80", "::1:80", "host:99999"] {
        let err = netpool_smol::tcp(addr).build().unwrap_err();
        assert!(matches!(err, BuildError::Address { .. }), "{addr}: {err:?}");
    }
}

#[test]
fn a_closed_port_is_a_connect_error_fast() {
    checks::closed_port_is_a_connect_error_fast(&Tcp(Smol));
}

#[test]
fn a_name_that_does_not_resolve_is_a_clear_error() {
    checks::unresolvable_name_is_a_clear_error(&Tcp(Smol));
}

#[test]
fn a_connect_that_never_completes_times_out() {
    checks::never_completing_connect_times_out(&Tcp(Smol));
}
