//! [`Address`]: a validated `"host:port"` string.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A `"host:port"` address, checked for form but not resolved.
///
/// The host is an IPv4 literal, a bracketed IPv6 literal (`"[::1]:6379"`) or a DNS name;
/// the port is 1 to 65535. A literal needs no resolution; a name is resolved on every
/// connect, so a name that moves is followed.
///
/// # Examples
///
/// ```
/// use netpool_std::net::Address;
///
/// let a = Address::parse("localhost:6379")?;
/// assert_eq!((a.host(), a.port()), ("localhost", 6379));
/// assert_eq!(a.socket_addr(), None); // a name: resolved at connect
///
/// let b = Address::parse("[::1]:80")?;
/// assert_eq!(b.socket_addr(), Some("[::1]:80".parse()?));
///
/// assert!(Address::parse("localhost").is_err()); // no port
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    host: String,
    port: u16,
    literal: Option<IpAddr>,
}

/// Why an address string was rejected by [`Address::parse`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `:port` at the end.
    #[error("missing port (expected \"host:port\")")]
    MissingPort,
    /// The port is not a number from 1 to 65535.
    #[error("invalid port {0:?} (expected 1 to 65535)")]
    InvalidPort(String),
    /// Nothing before the `:port`.
    #[error("missing host (expected \"host:port\")")]
    EmptyHost,
    /// The host is neither an IP literal nor a DNS name.
    #[error("invalid host {0:?} (IPv6 literals need brackets: \"[::1]:80\")")]
    InvalidHost(String),
}

impl Address {
    /// Checks the form of `"host:port"`.
    ///
    /// # Errors
    ///
    /// An [`AddressError`] naming what is wrong: a missing or invalid port, an empty host,
    /// or a host that is neither an IP literal nor a DNS name.
    pub fn parse(addr: &str) -> Result<Self, AddressError> {
        let (host, port) = addr.rsplit_once(':').ok_or(AddressError::MissingPort)?;
        if port.is_empty() {
            return Err(AddressError::MissingPort);
        }
        let port = match port.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(AddressError::InvalidPort(port.to_owned())),
        };
        if host.is_empty() {
            return Err(AddressError::EmptyHost);
        }
        let invalid = || AddressError::InvalidHost(host.to_owned());
        let literal = if let Some(inner) = host.strip_prefix('[') {
            let v6 = inner.strip_suffix(']').ok_or_else(invalid)?;
            Some(IpAddr::V6(v6.parse::<Ipv6Addr>().map_err(|_| invalid())?))
        } else if let Ok(v4) = host.parse::<Ipv4Addr>() {
            // Only IPv4 goes bare: an IPv6 literal without brackets is ambiguous.
            Some(IpAddr::V4(v4))
        } else if is_dns_name(host) {
            None
        } else {
            return Err(invalid());
        };
        let host = match literal {
            Some(IpAddr::V6(_)) => host[1..host.len() - 1].to_owned(),
            _ => host.to_owned(),
        };
        Ok(Self {
            host,
            port,
            literal,
        })
    }

    /// The host: a name, or an IP literal without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address, when the host is an IP literal (no resolution needed).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.literal.map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.literal {
            Some(IpAddr::V6(_)) => write!(f, "[{}]:{}", self.host, self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Letters, digits, `-`, `_` and dots between non-empty labels of at most 63 bytes.
fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_literals() {
        for (s, host, port) in [
            ("localhost:1", "localhost", 1),
            ("127.0.0.1:6379", "127.0.0.1", 6379),
            ("[::1]:65535", "::1", 65535),
            (
                "db-1.example.internal.:5432",
                "db-1.example.internal.",
                5432,
            ),
        ] {
            let a = Address::parse(s).unwrap();
            assert_eq!((a.host(), a.port()), (host, port), "{s}");
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_forms() {
        use AddressError::*;
        for (s, err) in [
            ("localhost", MissingPort),
            ("localhost:", MissingPort),
            (":80", EmptyHost),
            ("localhost:0", InvalidPort("0".into())),
            ("localhost:99999", InvalidPort("99999".into())),
            ("localhost:http", InvalidPort("http".into())),
            ("::1:80", InvalidHost("::1".into())),
            ("[::1:80", InvalidHost("[::1".into())),
            ("[nope]:80", InvalidHost("[nope]".into())),
            ("a b:80", InvalidHost("a b".into())),
            ("a..b:80", InvalidHost("a..b".into())),
        ] {
            assert_eq!(Address::parse(s), Err(err), "{s}");
        }
    }
}
