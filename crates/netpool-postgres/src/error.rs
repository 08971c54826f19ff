//! The crate's errors. None of them ever carries the password: configuration errors name
//! the parameter at fault, never the URL or a value that could hold a secret.

use std::io;
use std::path::PathBuf;

use crate::config::SslMode;

/// An error of the manager: opening a session, or recycling one (the manager's
/// [`Error`](netpool_core::Manager::Error), carried by
/// [`netpool_core::Error::Connect`] when a connect fails).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No TCP connection (or Unix socket) to any of the hosts; the last attempt's error.
    #[error("could not reach the server at {addr}: {source}")]
    Io {
        /// The host and port (or socket path) tried last.
        addr: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The server or the protocol said no: authentication, TLS, a failed query. The
    /// message includes the causes (tokio-postgres's own says only `db error`).
    #[error("{}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The session's connection task has ended (the server closed it, or it broke).
    #[error("the session is closed")]
    Closed,
    /// A transaction left open by the previous user could not be ended with `ROLLBACK`.
    #[error("a transaction left open by the previous user is still open after ROLLBACK")]
    TransactionLeftOpen,
}

impl Error {
    /// The server's error, if the server sent one (`code()` gives its SQLSTATE).
    pub fn as_db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        match self {
            Self::Postgres(e) => e.as_db_error(),
            _ => None,
        }
    }

    /// The server's SQLSTATE, if the server sent an error.
    pub fn code(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            Self::Postgres(e) => e.code(),
            _ => None,
        }
    }
}

/// `err`'s message followed by its sources' (those it does not already include).
fn with_causes(err: &tokio_postgres::Error) -> String {
    let sources = std::iter::successors(std::error::Error::source(err), |s| s.source());
    sources.fold(err.to_string(), |message, source| {
        let text = source.to_string();
        if message.contains(&text) {
            message
        } else {
            format!("{message}: {text}")
        }
    })
}

/// An invalid [`Config`](crate::Config): a URL or an environment variable that does not
/// parse, or TLS settings that cannot work.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse; the reason names the part at fault (never its value).
    #[error("invalid PostgreSQL URL: {reason}")]
    Url {
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter has a value that does not parse.
    #[error("invalid value for {name}: {reason}")]
    Parameter {
        /// The parameter (`port`, `sslmode`, `PGPORT`, ...).
        name: String,
        /// Why the value is not accepted.
        reason: String,
    },
    /// No host to connect to: neither a host in the URL, nor `host`, nor `PGHOST`.
    #[error("no host given (set host, PGHOST or a URL with a host)")]
    NoHost,
    /// `sslmode=verify-ca` or `verify-full` without a root certificate to verify with.
    #[error("sslmode={mode} needs a root certificate: set sslrootcert (PGSSLROOTCERT)")]
    MissingRootCert {
        /// The mode given.
        mode: SslMode,
    },
    /// The root certificate file could not be read or holds no usable certificate.
    #[error("could not use the root certificate {}: {reason}", path.display())]
    RootCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the TLS configuration.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
}

/// An error of [`Config::create_pool`](crate::Config::create_pool).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CreatePoolError {
    /// The connection settings are invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The pool settings are invalid, or no tokio runtime is running to maintain the pool.
    #[error("could not build the pool: {0}")]
    Build(#[from] netpool_tokio::BuildError),
}

impl From<netpool_core::BuildError> for CreatePoolError {
    fn from(e: netpool_core::BuildError) -> Self {
        Self::Build(e.into())
    }
}
