//! The TLS chaos scenario: [`tls_restart`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::outage::{Fault, run_outage};
use super::{Harness, OutageReport, Settings};
use crate::TlsEchoServer;

/// A [`TlsEchoServer`] stops (connections cut, connects refused) for `down_for` while 32
/// clients run requests through a pool of TLS connections (`settings.max_size`), then
/// restarts on the same port; `h` builds a pool of TLS connections that trust the test
/// CA (its `pool` makes them with `netpool_testkit::tls::client_config`).
///
/// Measures what [`outage`](super::outage) measures, so the report holds the same
/// targets: bounded connect attempts, callers that fail fast instead of waiting out their
/// timeout, a recovery within a second of the restart (handshakes included).
///
/// # Errors
///
/// When the server cannot be started or restarted on its port.
pub fn tls_restart<H: Harness>(
    h: &H,
    settings: &Settings,
    down_for: Duration,
) -> io::Result<OutageReport> {
    let server = Arc::new(TlsEchoServer::start()?);
    let addr = server.addr().to_string();
    let fault = Fault {
        stop: {
            let server = server.clone();
            move || {
                server.stop();
                Ok(())
            }
        },
        restart: {
            let server = server.clone();
            move || server.restart()
        },
        peak: move || server.counts().peak,
    };
    run_outage(h, addr, settings, down_for, fault)
}
