//! Prints the pools' events with `tracing-subscriber`: the demos' `--log`, or `RUST_LOG`.
//!
//! netpool logs under target `netpool` when its `tracing` feature is on (this package turns
//! it on): connect failures and the backoff at `warn`, recovery at `info`, opened and
//! closed connections, failed checks, timed-out gets, resize and close at `debug`, nothing
//! per checkout.

use tracing_subscriber::EnvFilter;

/// Installs a `tracing-subscriber` formatter on stderr if `RUST_LOG` is set (its filter),
/// or if `log` is true (`netpool=debug`). Returns whether it did.
pub fn init(log: bool) -> bool {
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) => filter,
        Err(_) if log => "netpool=debug".to_owned(),
        Err(_) => return false,
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .is_ok()
}
