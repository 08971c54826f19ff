//! [`NetError`], the managers' error, and [`BuildError`], the adapters' build error.
//!
//! As every error in netpool, each message names its cause, once (`TCP connect to
//! 127.0.0.1:6379: Connection refused (os error 111)`; inside the pool's error: `could
//! not connect: TCP connect to ...`), and `source()` returns the cause too, for code that
//! inspects it. A connect error names the address and the phase that failed (`TCP
//! connect`, `Unix connect`; the TLS managers add `TLS handshake`), also when it timed
//! out (`TCP connect to 10.0.0.1:6379: timed out after 2s`).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::AddressError;

/// The error of the TCP and Unix managers of every adapter crate: their
/// [`Manager::Error`](netpool_core::Manager::Error).
///
/// A pool hands it out inside [`netpool_core::Error::Connect`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The manager's address string is not `"host:port"` (the `tcp(..)` builders reject
    /// it at build time instead).
    #[error("invalid address {addr:?}: {source}")]
    Address {
        /// The address string given.
        addr: String,
        /// What is wrong with it.
        #[source]
        source: AddressError,
    },
    /// The host name did not resolve.
    #[error("could not resolve {host:?}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The host name resolved to no address.
    #[error("{host:?} resolved to no address")]
    NoAddress {
        /// The host name.
        host: String,
    },
    /// Every resolved address refused, timed out or failed; the error is the last one's.
    #[error("TCP connect to {addr}{}: {source}", tried_note(*tried))]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// How many addresses were tried.
        tried: usize,
        /// Why the last attempt failed (`io::ErrorKind::TimedOut` for the per-attempt
        /// connect timeout).
        #[source]
        source: io::Error,
    },
    /// Connecting to a Unix socket failed or timed out.
    #[error("Unix connect to {}: {source}", path.display())]
    ConnectUnix {
        /// The socket's path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// Setting a socket option on a new connection failed.
    #[error("could not set socket options: {0}")]
    SocketOptions(#[source] io::Error),
    /// A liveness check found that the peer closed the connection.
    #[error("the peer closed the connection")]
    Closed,
    /// A liveness check found bytes nobody asked for: the stream is out of sync.
    #[error("unexpected bytes are pending on an idle connection")]
    UnexpectedData,
    /// A liveness check failed (a reset, say).
    #[error("the connection failed: {0}")]
    Io(#[source] io::Error),
    /// The connection's address left the name's answer for a whole drain window (see
    /// [`TcpManager::with_resolve_interval`](crate::TcpManager::with_resolve_interval)).
    #[error("the connection's address left the DNS answer")]
    Retired,
}

/// `""` for one address tried, `" (the last of 3 addresses tried)"` for more.
fn tried_note(tried: usize) -> String {
    match tried {
        0 | 1 => String::new(),
        n => format!(" (the last of {n} addresses tried)"),
    }
}

impl NetError {
    /// Whether this is a connect attempt that timed out (the manager's own bound,
    /// [`TcpOptions::connect_timeout`](crate::TcpOptions::connect_timeout), or the
    /// operating system's).
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Connect { source, .. } | Self::ConnectUnix { source, .. } => {
                source.kind() == io::ErrorKind::TimedOut
            }
            _ => false,
        }
    }
}

/// An error from an adapter's `tcp(..).build()` or `spawn_maintenance`.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A pool setting is invalid.
    #[error("invalid pool settings: {0}")]
    Config(#[from] netpool_core::BuildError),
    /// The address string is not `"host:port"`.
    #[error("invalid address {addr:?}: {source}")]
    Address {
        /// The address string given.
        addr: String,
        /// What is wrong with it.
        #[source]
        source: AddressError,
    },
    /// The runtime that maintenance runs on is not available here (netpool-tokio: the pool
    /// was built outside a tokio runtime).
    #[error("no {runtime} runtime here: build the pool inside one (maintenance runs on it)")]
    NoRuntime {
        /// The runtime's name.
        runtime: &'static str,
    },
    /// A background thread (netpool-std's maintenance, the re-resolution on the blocking
    /// runtime) could not be started.
    #[error("could not start a background thread: {0}")]
    Spawn(#[source] io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message as the pool prints it: `could not connect: <the manager's error>`.
    fn printed<E: std::error::Error + 'static>(e: E) -> String {
        netpool_core::Error::Connect(e).to_string()
    }

    #[test]
    fn connect_errors_name_phase_address_and_cause_once() {
        let addr: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        for (tried, source, note) in [
            (1, io::Error::from(io::ErrorKind::ConnectionRefused), ""),
            (
                3,
                io::Error::from_raw_os_error(111),
                " (the last of 3 addresses tried)",
            ),
        ] {
            let cause = source.to_string();
            let text = printed(NetError::Connect {
                addr,
                tried,
                source,
            });
            assert_eq!(
                text,
                format!("could not connect: TCP connect to {addr}{note}: {cause}")
            );
            assert_eq!(text.matches(&cause).count(), 1, "{text}");
        }

        let text = printed(NetError::ConnectUnix {
            path: "/tmp/x.sock".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        });
        assert!(
            text.starts_with("could not connect: Unix connect to /tmp/x.sock: "),
            "{text}"
        );
    }

    #[test]
    fn every_variant_names_its_cause() {
        let cause = || io::Error::other("the cause");
        let errors = [
            NetError::Resolve {
                host: "db".into(),
                source: cause(),
            },
            NetError::SocketOptions(cause()),
            NetError::Io(cause()),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.ends_with(": the cause"), "{text}");
            let source = std::error::Error::source(&e).expect("a source");
            assert_eq!(source.to_string(), "the cause");
        }
    }
}
