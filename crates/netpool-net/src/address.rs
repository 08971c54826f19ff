//! [`Address`]: a validated `"host:port"` string, and [`IntoAddress`]: what `tcp(..)` and
//! `TcpManager::new` accept.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A `"host:port"` address, checked for form but not resolved.
///
/// The host is an IPv4 literal, a bracketed IPv6 literal (`"[::1]:6379"`) or a DNS name;
/// the port is 1 to 65535. A literal needs no resolution; a name is resolved on every
/// connect, so a name that moves is followed.
///
/// # Examples
///
/// ```
/// use netpool_net::Address;
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
    /// The address is the empty string.
    #[error("empty address (expected \"host:port\")")]
    Empty,
    /// A URL (`"redis://127.0.0.1:6379"`) where an address belongs.
    #[error("{0:?} is a URL, not an address: expected \"host:port\", such as \"127.0.0.1:6379\"")]
    Url(String),
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
    #[error(
        "invalid host {0:?} (expected an IPv4 address, a DNS name or a bracketed IPv6 address such as \"[::1]:80\")"
    )]
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
        if addr.is_empty() {
            return Err(AddressError::Empty);
        }
        if addr.contains("://") {
            return Err(AddressError::Url(addr.to_owned()));
        }
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

/// An address that [`Address::parse`] can check: what the adapters' `tcp(..)` and
/// `TcpManager::new` accept.
///
/// Implemented for strings (`"host:port"`: a name is resolved on every connect, so a name
/// that moves is followed), for socket addresses (what `TcpListener::local_addr`
/// returns) and for `(host, port)` pairs, where the host is an IP address or a string
/// (a bare IPv6 literal is bracketed for you).
///
/// # Examples
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use netpool_net::IntoAddress;
///
/// assert_eq!("localhost:6379".into_address(), "localhost:6379");
/// assert_eq!(SocketAddr::from(([127, 0, 0, 1], 80)).into_address(), "127.0.0.1:80");
/// assert_eq!((Ipv4Addr::LOCALHOST, 80).into_address(), "127.0.0.1:80");
/// assert_eq!(("::1", 80).into_address(), "[::1]:80");
/// assert_eq!(("db.internal", 5432).into_address(), "db.internal:5432");
/// ```
pub trait IntoAddress {
    /// The address as a `"host:port"` string, unchecked.
    fn into_address(self) -> String;
}

impl IntoAddress for String {
    fn into_address(self) -> String {
        self
    }
}

impl IntoAddress for &String {
    fn into_address(self) -> String {
        self.clone()
    }
}

impl IntoAddress for &str {
    fn into_address(self) -> String {
        self.to_owned()
    }
}

impl IntoAddress for Box<str> {
    fn into_address(self) -> String {
        self.into()
    }
}

impl IntoAddress for Cow<'_, str> {
    fn into_address(self) -> String {
        self.into_owned()
    }
}

impl IntoAddress for SocketAddr {
    fn into_address(self) -> String {
        self.to_string()
    }
}

impl IntoAddress for &SocketAddr {
    fn into_address(self) -> String {
        self.to_string()
    }
}

impl IntoAddress for SocketAddrV4 {
    fn into_address(self) -> String {
        self.to_string()
    }
}

impl IntoAddress for SocketAddrV6 {
    fn into_address(self) -> String {
        // Without its scope id: `Address` has no place for one.
        SocketAddr::new(IpAddr::V6(*self.ip()), self.port()).to_string()
    }
}

impl IntoAddress for (IpAddr, u16) {
    fn into_address(self) -> String {
        SocketAddr::from(self).to_string()
    }
}

impl IntoAddress for (Ipv4Addr, u16) {
    fn into_address(self) -> String {
        SocketAddr::from(self).to_string()
    }
}

impl IntoAddress for (Ipv6Addr, u16) {
    fn into_address(self) -> String {
        SocketAddr::from(self).to_string()
    }
}

impl IntoAddress for (&str, u16) {
    fn into_address(self) -> String {
        host_port(self.0, self.1)
    }
}

impl IntoAddress for (String, u16) {
    fn into_address(self) -> String {
        host_port(&self.0, self.1)
    }
}

/// `"host:port"`, bracketing a bare IPv6 literal.
fn host_port(host: &str, port: u16) -> String {
    if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
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
            ("", Empty),
            (
                "redis://127.0.0.1:6379",
                Url("redis://127.0.0.1:6379".into()),
            ),
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

    #[test]
    fn messages_say_what_to_write() {
        let msg = |s: &str| Address::parse(s).unwrap_err().to_string();
        assert!(msg("").starts_with("empty address"), "{}", msg(""));
        let url = msg("redis://127.0.0.1:6379");
        assert!(url.contains("is a URL, not an address"), "{url}");
        assert!(!url.contains("IPv6"), "{url}");
    }

    #[test]
    fn socket_addresses_and_pairs_parse() {
        let v6: SocketAddrV6 = "[::1]:80".parse().unwrap();
        for (given, expected) in [
            (
                SocketAddr::from(([127, 0, 0, 1], 1)).into_address(),
                "127.0.0.1:1",
            ),
            (v6.into_address(), "[::1]:80"),
            ((Ipv6Addr::LOCALHOST, 2).into_address(), "[::1]:2"),
            (("::1", 3).into_address(), "[::1]:3"),
            (("localhost".to_owned(), 4).into_address(), "localhost:4"),
        ] {
            assert_eq!(given, expected);
            assert_eq!(Address::parse(&given).unwrap().to_string(), expected);
        }
        assert_eq!(
            Address::parse(&("localhost", 5).into_address())
                .unwrap()
                .socket_addr(),
            None // a name stays a name: resolved on every connect
        );
    }
}
