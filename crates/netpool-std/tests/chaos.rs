//! The chaos suite on threads: 32 client threads through a pool of 8, behind a
//! fault-injecting proxy. The scenarios live in `netpool_testkit::chaos::scenario`, the
//! harness (how to build a blocking pool, run threads and make one request) in `common`.

mod common;

use std::io;
use std::time::{Duration, Instant};

use netpool_testkit::EchoServer;
use netpool_testkit::chaos::{ChaosProxy, Mode};

netpool_testkit::chaos_tests!(netpool_testkit::harness::Tcp(common::Threads));

/// Finding (netpool-std): `wait_timeout` is one deadline for the whole get (DESIGN,
/// semantic 0), but a blocking connect cannot be interrupted, so against a stalled server
/// `get_blocking` returns only after the per-attempt `connect_timeout`.
#[test]
fn stalled_connect_respects_wait_timeout() -> io::Result<()> {
    let server = EchoServer::start()?;
    let proxy = ChaosProxy::start(server.addr())?;
    proxy.set_mode(Mode::Stall)?;
    let pool = netpool_std::tcp(proxy.addr().to_string())
        .wait_timeout(Some(Duration::from_millis(200)))
        .connect_timeout(Some(Duration::from_secs(2)))
        .build()
        .expect("valid settings");
    let start = Instant::now();
    let result = pool.get_blocking();
    let took = start.elapsed();
    assert!(result.is_err());
    // 200 ms deadline; 500 ms more for a noisy machine.
    assert!(
        took < Duration::from_millis(700),
        "get_blocking took {took:?}"
    );
    Ok(())
}
