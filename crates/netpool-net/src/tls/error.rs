//! [`TlsError`], the TLS managers' error.

use std::io;
use std::net::SocketAddr;

use rustls::pki_types::InvalidDnsNameError;

use crate::NetError;

/// The error of the TLS managers of every adapter crate: their
/// [`Manager::Error`](netpool_core::Manager::Error).
///
/// A pool hands it out inside [`netpool_core::Error::Connect`]. Each message names its
/// cause once, and the phase and the address for a connect: `TCP connect to
/// 127.0.0.1:6380: Connection refused (os error 111)` (a [`Tcp`](Self::Tcp) error),
/// `TLS handshake with 127.0.0.1:6380 (server name localhost): invalid peer certificate:
/// UnknownIssuer`, `TLS handshake with 127.0.0.1:6379 (server name localhost): timed out
/// after 2s`. The cause is also the `source()`; [`rustls_error`](Self::rustls_error)
/// returns rustls's reason directly.
///
/// A certificate that is not trusted, has expired or is not valid for the server name,
/// and a client certificate the server refused (see
/// [`TlsManager::with_client_auth_wait`](crate::TlsManager::with_client_auth_wait)),
/// are [`Handshake`](Self::Handshake) errors.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The TCP connect failed (its message names the address and `TCP connect`).
    #[error(transparent)]
    Tcp(NetError),
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {name:?}: {source}")]
    ServerName {
        /// The name given.
        name: String,
        /// Why rustls rejected it.
        #[source]
        source: InvalidDnsNameError,
    },
    /// The handshake failed: the server's certificate was rejected, the server sent an
    /// alert (also one refusing the client certificate, right after the handshake) or
    /// something that is not TLS.
    #[error("TLS handshake with {addr} (server name {server_name}): {source}")]
    Handshake {
        /// The server's address.
        addr: SocketAddr,
        /// The server name the certificate was checked for.
        server_name: String,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// Reading or writing failed during the handshake, the server closed the connection,
    /// or the handshake timed out (`io::ErrorKind::TimedOut`, the manager's own bound:
    /// what was left of [`TcpOptions::connect_timeout`](crate::TcpOptions::connect_timeout)).
    #[error("TLS handshake with {addr} (server name {server_name}): {source}")]
    HandshakeIo {
        /// The server's address.
        addr: SocketAddr,
        /// The server name.
        server_name: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A liveness check found that the peer closed the connection (a `close_notify` or
    /// an end of stream).
    #[error("the peer closed the TLS connection")]
    Closed,
    /// A liveness check found application data nobody asked for: the stream is out of
    /// sync.
    #[error("unread data is pending on an idle TLS connection")]
    UnexpectedData,
    /// A liveness check found the TLS session failed (a bad record, an alert).
    #[error("the TLS session failed: {0}")]
    Protocol(#[source] rustls::Error),
    /// A liveness check failed (a reset, say), or the stream failed while it was
    /// checked out.
    #[error("the connection failed: {0}")]
    Io(#[source] io::Error),
}

impl TlsError {
    /// Whether this is a connect or a handshake that timed out.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Tcp(e) => e.is_timeout(),
            Self::HandshakeIo { source, .. } => source.kind() == io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// The rustls error behind a failed handshake or a failed check, if any.
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            Self::Handshake { source, .. } | Self::Protocol(source) => Some(source),
            _ => None,
        }
    }

    /// The server's address, for a failed connect or handshake that got as far as
    /// choosing one.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(NetError::Connect { addr, .. }) => Some(*addr),
            Self::Handshake { addr, .. } | Self::HandshakeIo { addr, .. } => Some(*addr),
            _ => None,
        }
    }
}

/// A rustls error inside the handshake's `io::Error` becomes [`TlsError::Handshake`], so
/// that the message and the source chain name rustls's reason.
pub(crate) fn handshake_error(addr: SocketAddr, server_name: String, e: io::Error) -> TlsError {
    if !e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return TlsError::HandshakeIo {
            addr,
            server_name,
            source: e,
        };
    }
    let kind = e.kind();
    match e
        .into_inner()
        .map(|inner| inner.downcast::<rustls::Error>())
    {
        Some(Ok(source)) => TlsError::Handshake {
            addr,
            server_name,
            source: *source,
        },
        // Not reached (checked above); kept as an I/O error rather than unwrapped.
        Some(Err(inner)) => TlsError::HandshakeIo {
            addr,
            server_name,
            source: io::Error::new(kind, inner),
        },
        None => TlsError::HandshakeIo {
            addr,
            server_name,
            source: kind.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_name_rustls_reason_once() {
        let addr: SocketAddr = "127.0.0.1:6380".parse().unwrap();
        let reason = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = TlsError::Handshake {
            addr,
            server_name: "localhost".into(),
            source: reason.clone(),
        };
        let text = netpool_core::Error::Connect(e).to_string();
        assert_eq!(
            text,
            "could not connect: TLS handshake with 127.0.0.1:6380 (server name localhost): \
             invalid peer certificate: UnknownIssuer"
        );

        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let e = TlsError::Handshake {
            addr,
            server_name: "localhost".into(),
            source: alert,
        };
        assert!(
            e.to_string()
                .ends_with("received fatal alert: CertificateRequired")
        );
        assert_eq!(e.addr(), Some(addr));
    }

    #[test]
    fn a_rustls_error_inside_io_becomes_a_handshake_error() {
        let addr: SocketAddr = "127.0.0.1:6380".parse().unwrap();
        let reason = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, reason);
        let e = handshake_error(addr, "localhost".into(), wrapped);
        assert!(matches!(
            e.rustls_error(),
            Some(rustls::Error::InvalidCertificate(_))
        ));
        let text = e.to_string();
        assert_eq!(text.matches("Expired").count(), 1, "{text}");

        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "timed out after 2s");
        let e = handshake_error(addr, "localhost".into(), timed_out);
        assert!(e.is_timeout());
        assert_eq!(
            e.to_string(),
            "TLS handshake with 127.0.0.1:6380 (server name localhost): timed out after 2s"
        );
    }

    #[test]
    fn check_errors_name_their_cause() {
        let e = TlsError::Protocol(rustls::Error::DecryptError);
        assert!(e.to_string().starts_with("the TLS session failed: "), "{e}");
        let e = TlsError::Io(io::Error::other("reset"));
        assert_eq!(e.to_string(), "the connection failed: reset");
    }
}
