//! [`Config`]: connection and pool settings from a URL, from libpq's `PG*` environment
//! variables or from serde, and the one-line [`Config::create_pool`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{ConfigError, CreatePoolError};
use crate::manager::{PgManager, RecyclingMethod};
use crate::{Pool, url};

/// The statement cache's default capacity, per connection.
pub const DEFAULT_STATEMENT_CACHE_SIZE: usize = 256;

/// Connection and pool settings: where the server is, who connects, TLS, how returned
/// connections are recycled and how many the pool holds.
///
/// Fill it from a URL ([`from_url`](Config::from_url)), from libpq's environment
/// variables ([`from_env`](Config::from_env)), with serde (feature `serde`: every field
/// is optional, so the `config` crate or a JSON/TOML file can fill what it knows), or
/// field by field from [`Config::default`]. Fields set explicitly win over the same
/// setting in [`url`](Config::url).
///
/// The password never appears in `Debug` or `Display` output (`***` stands in for it).
///
/// ```
/// use netpool_postgres::{Config, RecyclingMethod, SslMode};
///
/// let mut config = Config::from_url("postgres://app:s3cret@db.internal:6432/orders?sslmode=require")?;
/// assert_eq!(config.port, Some(6432));
/// assert_eq!(config.ssl_mode, Some(SslMode::Require));
/// config.recycling_method = RecyclingMethod::Verified;
/// assert!(!format!("{config:?} {config}").contains("s3cret"));
/// # Ok::<(), netpool_postgres::ConfigError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(default))]
pub struct Config {
    /// A `postgres://` URL; the fields below override what it says.
    pub url: Option<String>,
    /// Host name, IP address or Unix socket directory (starting with `/`); several,
    /// separated by commas, are tried in turn (default `localhost`).
    pub host: Option<String>,
    /// The port (default 5432).
    pub port: Option<u16>,
    /// The user (default: the `USER` environment variable, as libpq uses the OS user).
    pub user: Option<String>,
    /// The password.
    pub password: Option<Password>,
    /// The database (default: the server's, the user's name).
    pub dbname: Option<String>,
    /// Command-line options for the server (`-c statement_timeout=5s`).
    pub options: Option<String>,
    /// `application_name`, shown in `pg_stat_activity`.
    pub application_name: Option<String>,
    /// TLS (default [`SslMode::Prefer`], as libpq).
    #[cfg_attr(feature = "serde", serde(alias = "sslmode"))]
    pub ssl_mode: Option<SslMode>,
    /// A PEM file with the root certificates that `verify-ca` and `verify-full` (and
    /// `require`, when set) check the server's chain against.
    #[cfg_attr(feature = "serde", serde(alias = "sslrootcert"))]
    pub ssl_root_cert: Option<PathBuf>,
    /// Bound on opening one connection, in seconds (default 10).
    pub connect_timeout: Option<u64>,
    /// The pool's `max_size` (default 10).
    pub max_size: Option<usize>,
    /// What happens to a connection before it is handed out again (default
    /// [`RecyclingMethod::Fast`]).
    pub recycling_method: RecyclingMethod,
    /// Prepared statements each connection's cache keeps (default
    /// [`DEFAULT_STATEMENT_CACHE_SIZE`]; 0 turns the cache off).
    pub statement_cache_size: Option<usize>,
}

impl Config {
    /// Settings from a URL: `postgres[ql]://[user[:password]@][host][:port][,host...][/dbname][?param=value&...]`,
    /// with libpq's parameters `host`, `port`, `user`, `password`, `dbname`, `sslmode`,
    /// `sslrootcert`, `application_name`, `options` and `connect_timeout`, and
    /// percent-encoding where needed.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the part at fault (never its value: it could be the
    /// password).
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        url::parse(url)
    }

    /// Settings from libpq's environment variables: `PGHOST`, `PGPORT`, `PGUSER`,
    /// `PGPASSWORD`, `PGDATABASE`, `PGOPTIONS`, `PGAPPNAME`, `PGSSLMODE`,
    /// `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`. Unset variables leave their field `None`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Parameter`] naming the variable whose value does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Config::from_env) with the variables looked up by `var` (for tests,
    /// or another source of variables).
    ///
    /// ```
    /// let config = netpool_postgres::Config::from_env_with(|name| match name {
    ///     "PGHOST" => Some("10.0.0.7".into()),
    ///     "PGPORT" => Some("6543".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!((config.host.as_deref(), config.port), (Some("10.0.0.7"), Some(6543)));
    /// # Ok::<(), netpool_postgres::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Config::from_env).
    pub fn from_env_with(mut var: impl FnMut(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self {
            host: var("PGHOST"),
            user: var("PGUSER"),
            password: var("PGPASSWORD").map(Password::new),
            dbname: var("PGDATABASE"),
            options: var("PGOPTIONS"),
            application_name: var("PGAPPNAME"),
            ssl_root_cert: var("PGSSLROOTCERT").map(PathBuf::from),
            ..Self::default()
        };
        if let Some(port) = var("PGPORT") {
            config.port = Some(parse_port("PGPORT", &port)?);
        }
        if let Some(mode) = var("PGSSLMODE") {
            config.ssl_mode = Some(parse_ssl_mode("PGSSLMODE", &mode)?);
        }
        if let Some(secs) = var("PGCONNECT_TIMEOUT") {
            config.connect_timeout = Some(parse_secs("PGCONNECT_TIMEOUT", &secs)?);
        }
        Ok(config)
    }

    /// Creates the pool: a [`PgManager`] for these settings, the pool built from
    /// [`builder`](Config::builder), and its maintenance task spawned on the current tokio
    /// runtime. Opens nothing yet: the first `get` connects.
    ///
    /// # Errors
    ///
    /// [`CreatePoolError`] if the settings are invalid (a URL that does not parse, a
    /// missing root certificate, `max_size` 0) or no tokio runtime is running.
    pub fn create_pool(&self) -> Result<Pool, CreatePoolError> {
        let pool = self.builder().build(self.manager()?)?;
        netpool_tokio::spawn_maintenance(&pool)?;
        Ok(pool)
    }

    /// The pool builder with these settings' `max_size` and `connect_timeout`, and the
    /// recycling that [`RecyclingMethod`] promises: `test_on_check_out(true)` with
    /// `check_idle_after(None)`, so the manager's recycle runs on every checkout. Set more
    /// knobs, then `build(config.manager()?)`, and run maintenance yourself
    /// (`netpool_tokio::spawn_maintenance`).
    ///
    /// Keep those two settings: with a `check_idle_after` delay a connection checked out
    /// again within it skips the recycle, and with it the rollback of a transaction
    /// the previous user left open.
    pub fn builder(&self) -> netpool_core::Builder {
        netpool_core::Builder::new()
            .max_size(self.max_size.unwrap_or(10))
            .connect_timeout(Some(Duration::from_secs(
                self.connect_timeout.unwrap_or(10),
            )))
            .test_on_check_out(true)
            .check_idle_after(None)
    }

    /// The manager for these settings (reads the root certificate file, if any).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the URL does not parse or the TLS settings cannot work.
    pub fn manager(&self) -> Result<PgManager, ConfigError> {
        PgManager::from_config(&self.resolve()?)
    }

    /// These settings with [`url`](Config::url) parsed and the explicit fields laid over
    /// it.
    pub(crate) fn resolve(&self) -> Result<Self, ConfigError> {
        let mut base = match &self.url {
            Some(url) => Self::from_url(url)?,
            None => Self::default(),
        };
        macro_rules! over {
            ($($field:ident),*) => {$(
                if self.$field.is_some() {
                    base.$field = self.$field.clone();
                }
            )*};
        }
        over!(
            host,
            port,
            user,
            password,
            dbname,
            options,
            application_name,
            ssl_mode,
            ssl_root_cert,
            connect_timeout,
            max_size,
            statement_cache_size
        );
        base.url = None;
        base.recycling_method = self.recycling_method.clone();
        Ok(base)
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// [`Config::from_url`].
    fn from_str(url: &str) -> Result<Self, ConfigError> {
        Self::from_url(url)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url.as_deref().map(url::redact))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("dbname", &self.dbname)
            .field("options", &self.options)
            .field("application_name", &self.application_name)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_size", &self.max_size)
            .field("recycling_method", &self.recycling_method)
            .field("statement_cache_size", &self.statement_cache_size)
            .finish()
    }
}

/// The settings as a URL, the password shown as `***`.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.resolve() {
            Ok(c) => {
                f.write_str("postgres://")?;
                if let Some(user) = &c.user {
                    f.write_str(user)?;
                    if c.password.is_some() {
                        f.write_str(":***")?;
                    }
                    f.write_str("@")?;
                }
                f.write_str(c.host.as_deref().unwrap_or("localhost"))?;
                if let Some(port) = c.port {
                    write!(f, ":{port}")?;
                }
                if let Some(db) = &c.dbname {
                    write!(f, "/{db}")?;
                }
                write!(f, "?sslmode={}", c.ssl_mode.unwrap_or_default())
            }
            Err(_) => f.write_str("<invalid PostgreSQL URL>"),
        }
    }
}

/// A password: shown as `***` by `Debug`, never by `Display` (it has none).
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(transparent))]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// libpq's `sslmode` (`allow` is not supported: tokio-postgres cannot retry with TLS
/// after a plain attempt).
#[non_exhaustive]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS if the server offers it, without verifying its certificate; plain otherwise.
    #[default]
    Prefer,
    /// TLS or nothing, without verifying the certificate (unless a root certificate is
    /// set: then as `VerifyCa`, as libpq).
    Require,
    /// TLS, the server's chain checked against the root certificate; any host name.
    VerifyCa,
    /// TLS, the chain checked and the certificate valid for the host name.
    VerifyFull,
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        })
    }
}

impl FromStr for SslMode {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        parse_ssl_mode("sslmode", s)
    }
}

pub(crate) fn parse_ssl_mode(name: &str, value: &str) -> Result<SslMode, ConfigError> {
    Ok(match value {
        "disable" => SslMode::Disable,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        "allow" => {
            return Err(ConfigError::Parameter {
                name: name.to_owned(),
                reason: "\"allow\" is not supported: use disable or prefer".to_owned(),
            });
        }
        _ => {
            return Err(ConfigError::Parameter {
                name: name.to_owned(),
                reason: "expected disable, prefer, require, verify-ca or verify-full".to_owned(),
            });
        }
    })
}

pub(crate) fn parse_port(name: &str, value: &str) -> Result<u16, ConfigError> {
    value.parse().map_err(|_| ConfigError::Parameter {
        name: name.to_owned(),
        reason: "not a port number".to_owned(),
    })
}

pub(crate) fn parse_secs(name: &str, value: &str) -> Result<u64, ConfigError> {
    value.parse().map_err(|_| ConfigError::Parameter {
        name: name.to_owned(),
        reason: "not a whole number of seconds".to_owned(),
    })
}
