//! [`Error`], the manager's error, and [`ConfigError`], what a bad URL or setting gives.
//!
//! Neither ever shows a password: URL errors name the part that is wrong, never the URL.

use netpool_tokio::{NetError, TlsError};
use redis::RedisError;

/// The error of [`RedisManager`](crate::RedisManager): why a connection could not be
/// opened or set up, or why a check failed. A pool hands it out inside
/// [`netpool_core::Error::Connect`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connect failed (it names the address and the cause).
    #[error(transparent)]
    Net(NetError),
    /// The TLS connect or handshake failed (a certificate rejected, say).
    #[error(transparent)]
    Tls(TlsError),
    /// The server refused or failed a command: `AUTH` (a wrong password), `SELECT` (no
    /// such database), `CLIENT SETNAME`, a `PING` check, or the connection broke.
    #[error("redis: {0}")]
    Redis(#[source] RedisError),
    /// There is no runtime here to run the connection's driver on: connect inside a tokio
    /// runtime (or enable the `smol` feature).
    #[error("no async runtime to run the connection on: {0}")]
    NoRuntime(&'static str),
    /// `rediss://` without a rustls `ClientConfig`.
    #[error("{0}")]
    Config(#[source] ConfigError),
}

impl From<RedisError> for Error {
    fn from(e: RedisError) -> Self {
        Self::Redis(e)
    }
}

impl Error {
    /// The server's or the `redis` crate's error, if that is what this is.
    pub fn redis_error(&self) -> Option<&RedisError> {
        match self {
            Self::Redis(e) => Some(e),
            _ => None,
        }
    }
}

/// A Redis URL or a setting that cannot be used. The message names what is wrong, never
/// the URL itself (which may hold a password).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse.
    #[error("invalid Redis URL: {0}")]
    Url(#[source] url::ParseError),
    /// The scheme is not `redis`, `rediss`, `valkey` or `valkeys`.
    #[error("invalid Redis URL: unsupported scheme {0:?} (use redis:// or rediss://)")]
    Scheme(String),
    /// The URL has no host.
    #[error("invalid Redis URL: no host")]
    NoHost,
    /// The path is not a database number.
    #[error("invalid Redis URL: the path must be a database number, not {0:?}")]
    Database(String),
    /// A user name or password is not valid percent-encoded UTF-8.
    #[error("invalid Redis URL: the {0} is not valid UTF-8 once percent-decoded")]
    Encoding(&'static str),
    /// A query parameter this crate does not know.
    #[error(
        "invalid Redis URL: unknown parameter {0:?} (known: protocol, client_name, tcp_nodelay)"
    )]
    Parameter(String),
    /// `protocol=` is neither `resp2` nor `resp3`.
    #[error("invalid Redis URL: protocol must be resp2 or resp3")]
    Protocol,
    /// A yes/no parameter (`tcp_nodelay=`) is not `true`, `false`, `1` or `0`; it names
    /// the parameter.
    #[error("invalid Redis URL: {0} must be true or false")]
    Flag(&'static str),
    /// `rediss://` (or `tls = true`) without the rustls `ClientConfig` that says which
    /// certificates to trust.
    #[error(
        "TLS is on but no rustls ClientConfig is set: call tls_config(..) with one that trusts the server's CA"
    )]
    NoTlsConfig,
    /// A client name with a space (the server rejects it).
    #[error("invalid client name: it must not contain spaces")]
    ClientName,
}

/// What [`Config::create_pool`](crate::Config::create_pool) and
/// [`RedisBuilder::build`](crate::RedisBuilder::build) fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CreatePoolError {
    /// The configuration cannot be used.
    #[error("invalid Redis configuration: {0}")]
    Config(#[from] ConfigError),
    /// A pool setting is invalid, or maintenance could not start (no runtime).
    #[error("could not build the pool: {0}")]
    Build(#[from] netpool_tokio::BuildError),
}
