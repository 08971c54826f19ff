//! [`Config`]: where the server is and how to log in, from a URL or from serde, and the
//! pool's settings ([`PoolConfig`]); [`Password`], which never prints.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use netpool_tokio::rustls::ClientConfig;
use redis::ProtocolVersion;

use crate::{ConfigError, CreatePoolError, Pool, RedisBuilder, RedisManager};

/// How to reach one Redis server and set up its connections, and the pool's settings.
///
/// Made by [`Config::from_url`], by serde (feature `serde`: every field is optional, and a
/// `url` key fills the connection fields first, which the other keys then override), or
/// field by field from [`Config::default`] (`127.0.0.1:6379`, database 0).
///
/// Every new connection authenticates (`AUTH [username] password`, if a password is
/// set), selects [`db`](Self::db) and names itself ([`client_name`](Self::client_name),
/// `CLIENT SETNAME`) before its first use.
///
/// `Display` shows the URL with the password replaced by `***`; `Debug` shows
/// `password: Some(***)`.
///
/// ```
/// let config = netpool_redis::Config::from_url("redis://app:s3cret@127.0.0.1:6380/2")?;
/// assert_eq!((config.host.as_str(), config.port, config.db), ("127.0.0.1", 6380, 2));
/// assert_eq!(config.password.as_ref().map(|p| p.expose()), Some("s3cret"));
/// assert_eq!(config.to_string(), "redis://app:***@127.0.0.1:6380/2");
/// # Ok::<(), netpool_redis::ConfigError>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Host name or IP address (default `127.0.0.1`).
    pub host: String,
    /// Port (default 6379).
    pub port: u16,
    /// Database selected on every connection (default 0).
    pub db: i64,
    /// ACL user name (`AUTH username password`); `None`: `AUTH password`.
    pub username: Option<String>,
    /// Password; `None`: no `AUTH`.
    pub password: Option<Password>,
    /// TLS (`rediss://`): the server's certificate is checked with
    /// [`tls_config`](Self::tls_config) for [`host`](Self::host).
    pub tls: bool,
    /// The rustls client configuration for TLS: the roots that are trusted (and a
    /// client certificate, if any). Required when [`tls`](Self::tls) is on; not read from
    /// serde.
    pub tls_config: Option<Arc<ClientConfig>>,
    /// Name of every connection (`CLIENT SETNAME`, seen in `CLIENT LIST`); no spaces.
    pub client_name: Option<String>,
    /// RESP protocol version (default RESP2; `?protocol=resp3` in a URL).
    pub protocol: ProtocolVersion,
    /// `TCP_NODELAY` on every connection's socket, plain TCP and TLS alike
    /// (`?tcp_nodelay=false` in a URL, `tcp_nodelay = false` in serde).
    ///
    /// `None` (the default) keeps each kind of pool's own default: on for the exclusive
    /// [`Pool`] ([`RedisManager`]), where a connection carries one request at a time and
    /// sends it at once; off
    /// ([`SHARED_TCP_NODELAY`](crate::shared::SHARED_TCP_NODELAY)) for
    /// [`SharedRedisManager`](crate::shared::SharedRedisManager), as in the `redis`
    /// crate, where many tasks pipeline small commands over one socket and Nagle's
    /// algorithm batches them into fewer, larger writes: measured on a shared pool of 1,
    /// 2 and 4 connections at 16 and 128 tasks, off gave 1.05-1.42× the GETs per second
    /// of on, with less CPU per GET on both sides, and about the same (0.95-1.02×) for a lone
    /// task (the workspace README, "Shared connections"). The cost of off: a small write waits
    /// while earlier data on the socket is unacknowledged, so a request sent behind one
    /// whose reply is slow in coming (a slow command, a distant server) may wait for that
    /// reply; a request on an idle connection goes at once.
    ///
    /// The cluster client's shared connections per node follow the shared default (off),
    /// its exclusive ones the exclusive default (on), unless this (in
    /// [`ClusterBuilder::node_config`](crate::cluster::ClusterBuilder::node_config)) or
    /// [`ClusterBuilder::tcp_nodelay`](crate::cluster::ClusterBuilder::tcp_nodelay) sets it.
    pub tcp_nodelay: Option<bool>,
    /// The pool's settings.
    pub pool: PoolConfig,
}

/// The pool's settings in a [`Config`]: the core builder's main knobs. `None` keeps
/// netpool's default. In serde, durations are milliseconds (`wait_timeout_ms`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct PoolConfig {
    /// Hard cap on open connections (netpool's default: 10).
    pub max_size: Option<usize>,
    /// Idle connections kept open by maintenance.
    pub min_idle: Option<usize>,
    /// One deadline for a whole `get` (netpool's default: 30 s).
    #[cfg_attr(feature = "serde", serde(rename = "wait_timeout_ms", with = "millis"))]
    pub wait_timeout: Option<Duration>,
    /// Bound on one connect, setup included (netpool's default: 10 s).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "connect_timeout_ms", with = "millis")
    )]
    pub connect_timeout: Option<Duration>,
    /// Idle connections older than this are closed (netpool's default: 10 min).
    #[cfg_attr(feature = "serde", serde(rename = "idle_timeout_ms", with = "millis"))]
    pub idle_timeout: Option<Duration>,
    /// Connections are closed once this old (netpool's default: 30 min).
    #[cfg_attr(feature = "serde", serde(rename = "max_lifetime_ms", with = "millis"))]
    pub max_lifetime: Option<Duration>,
}

/// A password that never prints: `Debug` and `Display` show `***`. Read it with
/// [`expose`](Self::expose).
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(transparent))]
pub struct Password(String);

impl Config {
    /// Reads `redis://[[username]:password@]host[:port][/db][?protocol=resp3&client_name=name&tcp_nodelay=false]`;
    /// `rediss://` turns TLS on (then set [`tls_config`](Self::tls_config) or call
    /// [`RedisBuilder::tls_config`]). `valkey://` and `valkeys://` are accepted too.
    /// User name and password are percent-decoded.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the part that is wrong (never the URL, which may hold a
    /// password).
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_url(url)?;
        Ok(config)
    }

    /// A builder for the pool, with this configuration: add hooks, an event handler or
    /// other settings, then [`build`](RedisBuilder::build).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if the client name has a space.
    pub fn builder(&self) -> Result<RedisBuilder, ConfigError> {
        RedisBuilder::new(self)
    }

    /// Creates the pool (lazily: it opens no connection yet) and starts its maintenance on
    /// the current runtime (tokio; smol with the `smol` feature outside a tokio runtime).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = netpool_redis::Config::from_url("redis://127.0.0.1:6379")?.create_pool()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`CreatePoolError`]: an unusable configuration, an invalid pool setting, or no
    /// runtime to run maintenance on.
    pub fn create_pool(&self) -> Result<Pool, CreatePoolError> {
        self.builder()?.build()
    }

    /// The manager alone, for `netpool_core::Pool::builder()....build(manager)` (no
    /// maintenance is started then: see `netpool_tokio::spawn_maintenance`).
    ///
    /// # Errors
    ///
    /// As [`builder`](Self::builder).
    pub fn manager(&self) -> Result<RedisManager, ConfigError> {
        RedisManager::from_config(self)
    }

    /// The URL of this configuration, with the password left out (`***`) unless
    /// `with_password`.
    fn url(&self, with_password: bool) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let scheme = if self.tls { "rediss" } else { "redis" };
        let mut auth = String::new();
        if let Some(user) = &self.username {
            auth.push_str(&utf8_percent_encode(user, NON_ALPHANUMERIC).to_string());
        }
        if let Some(password) = &self.password {
            auth.push(':');
            if with_password {
                auth.push_str(&utf8_percent_encode(&password.0, NON_ALPHANUMERIC).to_string());
            } else {
                auth.push_str("***");
            }
        }
        if !auth.is_empty() {
            auth.push('@');
        }
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{auth}{host}:{}/{}", self.port, self.db)
    }

    fn apply_url(&mut self, input: &str) -> Result<(), ConfigError> {
        let url = url::Url::parse(input).map_err(ConfigError::Url)?;
        self.tls = match url.scheme() {
            "redis" | "valkey" => false,
            "rediss" | "valkeys" => true,
            other => return Err(ConfigError::Scheme(other.to_owned())),
        };
        self.host = match url.host().ok_or(ConfigError::NoHost)? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        if self.host.is_empty() {
            return Err(ConfigError::NoHost);
        }
        self.port = url.port().unwrap_or(6379);
        self.db = match url.path().trim_matches('/') {
            "" => 0,
            path => path
                .parse()
                .map_err(|_| ConfigError::Database(path.to_owned()))?,
        };
        let decode = |s: &str, what| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| ConfigError::Encoding(what))
        };
        self.username = match url.username() {
            "" => None,
            user => Some(decode(user, "user name")?),
        };
        self.password = match url.password() {
            None => None,
            Some(p) => Some(Password(decode(p, "password")?)),
        };
        for (key, value) in url.query_pairs() {
            match &*key {
                "protocol" => {
                    self.protocol = match &*value {
                        "resp2" | "2" => ProtocolVersion::RESP2,
                        "resp3" | "3" => ProtocolVersion::RESP3,
                        _ => return Err(ConfigError::Protocol),
                    }
                }
                "client_name" => self.client_name = Some(value.into_owned()),
                "tcp_nodelay" => {
                    self.tcp_nodelay = Some(match &*value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(ConfigError::Flag("tcp_nodelay")),
                    })
                }
                other => return Err(ConfigError::Parameter(other.to_owned())),
            }
        }
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 6379,
            db: 0,
            username: None,
            password: None,
            tls: false,
            tls_config: None,
            client_name: None,
            protocol: ProtocolVersion::RESP2,
            tcp_nodelay: None,
            pool: PoolConfig::default(),
        }
    }
}

impl std::str::FromStr for Config {
    type Err = ConfigError;

    fn from_str(url: &str) -> Result<Self, ConfigError> {
        Self::from_url(url)
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url(false))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .field("tls_config", &self.tls_config.is_some())
            .field("client_name", &self.client_name)
            .field("protocol", &self.protocol)
            .field("tcp_nodelay", &self.tcp_nodelay)
            .field("pool", &self.pool)
            .finish()
    }
}

impl Password {
    /// A password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self(password)
    }
}

impl From<&str> for Password {
    fn from(password: &str) -> Self {
        Self(password.to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(feature = "serde")]
mod de {
    use super::{Config, Password, PoolConfig};

    /// What serde reads: every field optional; `url` first, then the fields over it.
    #[derive(serde::Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    pub(super) struct Raw {
        url: Option<String>,
        host: Option<String>,
        port: Option<u16>,
        db: Option<i64>,
        username: Option<String>,
        password: Option<Password>,
        tls: Option<bool>,
        client_name: Option<String>,
        protocol: Option<String>,
        tcp_nodelay: Option<bool>,
        pool: PoolConfig,
    }

    impl TryFrom<Raw> for Config {
        type Error = crate::ConfigError;

        fn try_from(raw: Raw) -> Result<Self, Self::Error> {
            let mut config = match &raw.url {
                Some(url) => Self::from_url(url)?,
                None => Self::default(),
            };
            config.host = raw.host.unwrap_or(config.host);
            config.port = raw.port.unwrap_or(config.port);
            config.db = raw.db.unwrap_or(config.db);
            config.username = raw.username.or(config.username);
            config.password = raw.password.or(config.password);
            config.tls = raw.tls.unwrap_or(config.tls);
            config.client_name = raw.client_name.or(config.client_name);
            config.tcp_nodelay = raw.tcp_nodelay.or(config.tcp_nodelay);
            if let Some(p) = raw.protocol {
                config.protocol = match p.as_str() {
                    "resp2" | "2" => redis::ProtocolVersion::RESP2,
                    "resp3" | "3" => redis::ProtocolVersion::RESP3,
                    _ => return Err(crate::ConfigError::Protocol),
                };
            }
            config.pool = raw.pool;
            Ok(config)
        }
    }

    impl<'de> serde::Deserialize<'de> for Config {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let raw = Raw::deserialize(d)?;
            Self::try_from(raw).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(feature = "serde")]
mod millis {
    use std::time::Duration;

    use serde::Deserialize;

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}
