//! Probes the Redis and PostgreSQL servers the tests use, so that without them the tests
//! show as `ignored` (with the reason) instead of passing without running.
//!
//! Sets `cfg(no_redis)` / `cfg(no_postgres)` when nothing accepts a TCP connection at the
//! server's `host:port` (`NETPOOL_TEST_REDIS`, default `127.0.0.1:6379`;
//! `NETPOOL_TEST_POSTGRES`, default `127.0.0.1:5432`). Under `CI=true` it sets neither:
//! there the tests run and fail if a server is missing. The probe runs when this package
//! is built, and again when one of those variables changes; a server started later is
//! picked up by `touch clients/build.rs` (or run the ignored tests with
//! `-- --include-ignored`).

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(no_redis)");
    println!("cargo:rustc-check-cfg=cfg(no_postgres)");
    for var in ["NETPOOL_TEST_REDIS", "NETPOOL_TEST_POSTGRES", "CI"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return;
    }
    let servers = [
        (
            "NETPOOL_TEST_REDIS",
            "redis://127.0.0.1:6379",
            6379,
            "no_redis",
        ),
        (
            "NETPOOL_TEST_POSTGRES",
            "postgres://postgres@127.0.0.1:5432/test",
            5432,
            "no_postgres",
        ),
    ];
    for (var, default, port, cfg) in servers {
        let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
        // Only a URL we can read is probed; anything else is left to the tests' own check.
        if let Some(addr) = host_port(&url, port) {
            if !reachable(&addr) {
                println!("cargo:rustc-cfg={cfg}");
                println!(
                    "cargo:warning=nothing listens at {addr} ({var}): its tests are marked ignored"
                );
            }
        }
    }
}

/// `"host:port"` of a `scheme://[user[:password]@]host[:port][/path]` URL.
fn host_port(url: &str, default_port: u16) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rsplit_once(':') {
        Some((host, port)) => !host.ends_with(':') && port.parse::<u16>().is_ok(),
        None => false,
    };
    Some(if has_port {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    })
}

/// Whether some address of `addr` accepts a TCP connection within 300 ms.
fn reachable(addr: &str) -> bool {
    let Ok(addrs) = addr.to_socket_addrs() else {
        return false;
    };
    addrs
        .take(4)
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}
