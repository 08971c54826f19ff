//! [`PgManager`]: opens tokio-postgres sessions (plain, TLS or Unix socket) and recycles
//! them by [`RecyclingMethod`]; [`PgSetup`]: hooks that name sessions and prepare SQL
//! statements.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use netpool_core::{Fault, Hooks, Manager, Meta, Role};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::NoTls;

use crate::client::Client;
use crate::config::{Config, DEFAULT_STATEMENT_CACHE_SIZE, Password, SslMode};
use crate::error::{ConfigError, Error};
use crate::session::{Session, Tap, TxStatus};
use crate::tls::{self, Connector};

/// What the pool does with a session before handing it out again, as in
/// deadpool-postgres. [`Config::builder`] runs it on every checkout.
///
/// Whatever the method, a transaction the previous user left open (a guard dropped
/// after `BEGIN` or inside [`Transaction`](tokio_postgres::Transaction), a cancelled
/// query) is rolled back first: the manager reads the transaction status the server
/// reports after each request (tokio-postgres does not expose it), so this costs no
/// round trip when there is nothing to roll back.
#[non_exhaustive]
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum RecyclingMethod {
    /// Only checks that the session is open ([`is_closed`](tokio_postgres::Client::is_closed)):
    /// no round trip. A session the server dropped while it sat idle is noticed only if
    /// its connection task has seen the end of the stream.
    #[default]
    Fast,
    /// Also runs an empty query: one round trip that proves the session answers.
    Verified,
    /// Runs [`CLEAN_SQL`]: resets what `DISCARD ALL` resets, except prepared statements
    /// and plans, so the statement cache stays valid. One round trip.
    Clean,
    /// Runs this SQL (a batch, in the simple query protocol). If it drops prepared
    /// statements (`DISCARD ALL`, `DEALLOCATE`), the statement cache is emptied.
    Custom(String),
}

/// What [`RecyclingMethod::Clean`] runs: `DISCARD ALL` without `DEALLOCATE ALL` and
/// `DISCARD PLANS`.
pub const CLEAN_SQL: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
     UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;";

/// Opens tokio-postgres sessions to one server (trying its hosts in turn) and recycles
/// them. Requires a tokio runtime: each session's connection task is spawned with
/// `tokio::spawn`.
///
/// Built by [`Config::manager`] (or [`Config::create_pool`], which does everything).
/// If you build the pool yourself, start from [`Config::builder`]: it runs the
/// recycling on every checkout.
#[derive(Clone)]
pub struct PgManager {
    inner: Arc<Inner>,
    method: RecyclingMethod,
}

#[derive(Clone)]
struct Inner {
    hosts: Vec<Host>,
    port: u16,
    /// For TCP: user, dbname, options, application_name and the TLS mode (the password
    /// is added at connect).
    pg: tokio_postgres::Config,
    /// For Unix sockets: the same without TLS (libpq ignores sslmode there).
    pg_plain: tokio_postgres::Config,
    mode: SslMode,
    tls: Option<Arc<ClientConfig>>,
    cache_size: usize,
    /// The password, swapped by `set_password` (shared by clones).
    password: Arc<RwLock<Option<Password>>>,
}

#[derive(Clone)]
enum Host {
    Tcp(String),
    #[cfg_attr(
        not(unix),
        allow(dead_code, reason = "Unix sockets exist only on unix")
    )]
    Unix(String),
}

impl PgManager {
    /// A manager for a `postgres://` URL (see [`Config::from_url`]).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the URL does not parse or its TLS settings cannot work.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        Config::from_url(url)?.manager()
    }

    /// `config` must be resolved (no `url`).
    pub(crate) fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let mode = config.ssl_mode.unwrap_or_default();
        let tls = tls::client_config(mode, config.ssl_root_cert.as_deref())?;
        let mut pg = tokio_postgres::Config::new();
        let user = config
            .user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "postgres".to_owned());
        pg.user(user);
        if let Some(db) = &config.dbname {
            pg.dbname(db);
        }
        if let Some(o) = &config.options {
            pg.options(o);
        }
        if let Some(a) = &config.application_name {
            pg.application_name(a);
        }
        let mut pg_plain = pg.clone();
        pg_plain.ssl_mode(tokio_postgres::config::SslMode::Disable);
        pg.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let hosts = config
            .host
            .as_deref()
            .unwrap_or("localhost")
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| {
                if h.starts_with('/') {
                    Host::Unix(h.to_owned())
                } else {
                    Host::Tcp(h.to_owned())
                }
            })
            .collect::<Vec<_>>();
        if hosts.is_empty() {
            return Err(ConfigError::Url {
                reason: "the host list is empty".to_owned(),
            });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                hosts,
                port: config.port.unwrap_or(5432),
                pg,
                pg_plain,
                mode,
                tls,
                cache_size: config
                    .statement_cache_size
                    .unwrap_or(DEFAULT_STATEMENT_CACHE_SIZE),
                password: Arc::new(RwLock::new(config.password.clone())),
            }),
            method: config.recycling_method.clone(),
        })
    }

    /// Sets the recycling method (default [`RecyclingMethod::Fast`]).
    #[must_use]
    pub fn recycling_method(mut self, method: RecyclingMethod) -> Self {
        self.method = method;
        self
    }

    /// The recycling method.
    pub fn method(&self) -> &RecyclingMethod {
        &self.method
    }

    /// Replaces the password that sessions opened from now on authenticate with (a
    /// rotated password; `None`: none), while the pool runs; clones of this manager
    /// share it. Open sessions stay as they are:
    /// [`Pool::refresh`](netpool_core::Pool::refresh) replaces them without failing a
    /// caller.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[allow(dead_code)] // shown, not run
    /// # fn rotate(pool: &netpool_core::Pool<netpool_postgres::PgManager>) {
    /// use netpool_postgres::Password;
    ///
    /// pool.manager().set_password(Some(Password::new("new-secret")));
    /// pool.refresh(); // every session re-authenticates, no caller fails
    /// # }
    /// ```
    pub fn set_password(&self, password: Option<Password>) {
        *self
            .inner
            .password
            .write()
            .unwrap_or_else(PoisonError::into_inner) = password;
    }

    /// `config` with the current password.
    fn authenticated(&self, config: &tokio_postgres::Config) -> tokio_postgres::Config {
        let mut config = config.clone();
        let password = self.inner.password.read();
        if let Some(p) = &*password.unwrap_or_else(PoisonError::into_inner) {
            config.password(p.expose());
        }
        config
    }

    /// Uses this rustls configuration for TLS (your own roots, client certificates)
    /// instead of the one the settings describe; with `sslmode=disable` it is unused.
    #[must_use]
    pub fn tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.tls = (inner.mode != SslMode::Disable).then_some(config);
        self
    }

    async fn connect_host(&self, host: &Host) -> Result<Client, Error> {
        let inner = &*self.inner;
        let session = Arc::new(Session::new());
        let client = match host {
            Host::Tcp(name) => {
                let tcp = TcpStream::connect((name.as_str(), inner.port))
                    .await
                    .map_err(|source| Error::Io {
                        addr: format!("{name}:{}", inner.port),
                        source,
                    })?;
                let _ = tcp.set_nodelay(true);
                let stream = Tap::new(Transport::Tcp(tcp), session.clone(), inner.tls.is_some());
                let pg = self.authenticated(&inner.pg);
                match &inner.tls {
                    Some(config) => {
                        let connector = Connector {
                            config: Some(config.clone()),
                            name: ServerName::try_from(name.clone()).ok(),
                            session: session.clone(),
                        };
                        let (client, connection) = pg.connect_raw(stream, connector).await?;
                        spawn_connection(connection);
                        client
                    }
                    // Without TLS (`sslmode=disable`), `NoTls`: tokio-postgres's stream
                    // then has no TLS variant to look past on every read and write.
                    None => {
                        let (client, connection) = pg.connect_raw(stream, NoTls).await?;
                        spawn_connection(connection);
                        client
                    }
                }
            }
            #[cfg(unix)]
            Host::Unix(dir) => {
                let path = format!("{dir}/.s.PGSQL.{}", inner.port);
                let unix = tokio::net::UnixStream::connect(&path)
                    .await
                    .map_err(|source| Error::Io { addr: path, source })?;
                let stream = Tap::new(Transport::Unix(unix), session.clone(), false);
                let pg = self.authenticated(&inner.pg_plain);
                let (client, connection) = pg.connect_raw(stream, NoTls).await?;
                spawn_connection(connection);
                client
            }
            #[cfg(not(unix))]
            Host::Unix(dir) => {
                return Err(Error::Io {
                    addr: dir.clone(),
                    source: io::Error::new(io::ErrorKind::Unsupported, "no Unix sockets here"),
                });
            }
        };
        Ok(Client::new(client, session, inner.cache_size))
    }

    /// Ends a transaction the previous user left open; `true` if it made a round trip.
    async fn end_transaction(client: &mut Client) -> Result<bool, Error> {
        let mut status = client.tx_status();
        let mut round_trip = false;
        if status == TxStatus::Unknown {
            // Requests still in flight (a cancelled query, a dropped Transaction's
            // ROLLBACK): once this one is answered, so are they, and the status is known.
            client.simple_query("").await?;
            client.session().resync();
            status = client.tx_status();
            round_trip = true;
        }
        if status != TxStatus::Idle {
            client.batch_execute("ROLLBACK").await?;
            if client.tx_status() != TxStatus::Idle {
                return Err(Error::TransactionLeftOpen);
            }
            round_trip = true;
        }
        Ok(round_trip)
    }
}

/// Runs a session's connection task. It ends when the session ends; the client then
/// reports `is_closed()`, and its queries fail at once.
fn spawn_connection<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _ = connection.await;
    });
}

impl PgManager {
    /// Tries each host in turn, as libpq does.
    async fn connect_any(&self) -> Result<Client, Error> {
        let mut last = None;
        for host in &self.inner.hosts {
            match self.connect_host(host).await {
                Ok(client) => return Ok(client),
                // libpq tries the next host only when this one could not be reached.
                Err(e @ Error::Io { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::Closed))
    }

    /// The recycle when it needs no round trip: `Fast` on an open session whose requests
    /// are all answered, outside a transaction. `None`: the server must be asked.
    #[inline]
    fn recycle_at_once(&self, client: &Client) -> Option<Result<(), Error>> {
        if client.is_closed() {
            return Some(Err(Error::Closed));
        }
        if self.method == RecyclingMethod::Fast && client.tx_status() == TxStatus::Idle {
            client.sync_cache();
            return Some(Ok(()));
        }
        None
    }

    /// The recycle with its round trips: ends a transaction left open, then runs the
    /// method.
    async fn recycle(&self, client: &mut Client) -> Result<(), Error> {
        let round_trip = Self::end_transaction(client).await?;
        match &self.method {
            RecyclingMethod::Fast => {}
            RecyclingMethod::Verified if round_trip => {}
            RecyclingMethod::Verified => {
                client.simple_query("").await?;
            }
            RecyclingMethod::Clean => client.batch_execute(CLEAN_SQL).await?,
            RecyclingMethod::Custom(sql) => client.batch_execute(sql).await?,
        }
        client.sync_cache();
        Ok(())
    }
}

// `connect` is boxed (rare): unboxed, tokio-postgres's startup future is 13 KB. The
// common recycle (`Fast`, an open session outside a transaction) is decided without a
// round trip, by `is_valid_now`: the checkout then needs no future for its check. The
// rest (a rollback, `Verified`, `Clean`, custom SQL) runs in `is_valid`, its round trips
// boxed.
impl Manager for PgManager {
    type Connection = Client;
    type Error = Error;

    fn connect(&self) -> impl Future<Output = Result<Client, Error>> + Send {
        Box::pin(self.connect_any())
    }

    async fn is_valid(&self, client: &mut Client) -> Result<(), Error> {
        match self.recycle_at_once(client) {
            Some(done) => done,
            None => Box::pin(self.recycle(client)).await,
        }
    }

    /// The recycle when it needs no round trip: `Fast` on an open session outside a
    /// transaction (the statement cache synced), or a closed session.
    fn is_valid_now(&self, client: &mut Client) -> Option<Result<(), Error>> {
        self.recycle_at_once(client)
    }

    fn has_broken(&self, client: &mut Client) -> bool {
        client.is_closed()
    }

    /// SQLSTATE 25006 (`read_only_sql_transaction`: a write sent to a server that a
    /// failover made a standby) is a [`Fault::Server`]:
    /// [`Pooled::report`](netpool_core::Pooled::report) then refreshes the pool. A closed
    /// session or an error without a SQLSTATE (I/O, protocol) is [`Fault::Connection`];
    /// the server's other errors are the query's own ([`Fault::None`]). Takes a
    /// `tokio_postgres::Error`, its `DbError`, or this crate's [`Error`]; any other error
    /// blames the connection.
    fn classify(&self, err: &(dyn std::error::Error + 'static)) -> Fault {
        classify(err)
    }

    /// `SELECT pg_is_in_recovery()`: false is [`Role::Primary`], true [`Role::Replica`]
    /// (a standby).
    async fn role(&self, client: &mut Client) -> Result<Option<Role>, Error> {
        let row = client.query_one("SELECT pg_is_in_recovery()", &[]).await?;
        let standby: bool = row.try_get(0)?;
        Ok(Some(if standby {
            Role::Replica
        } else {
            Role::Primary
        }))
    }
}

/// [`PgManager::classify`].
fn classify(err: &(dyn std::error::Error + 'static)) -> Fault {
    use tokio_postgres::error::{DbError, SqlState};
    let (db, closed) = if let Some(e) = err.downcast_ref::<Error>() {
        (e.as_db_error(), matches!(e, Error::Closed))
    } else if let Some(e) = err.downcast_ref::<tokio_postgres::Error>() {
        (e.as_db_error(), e.is_closed())
    } else if let Some(e) = err.downcast_ref::<DbError>() {
        (Some(e), false)
    } else {
        (None, true)
    };
    match db {
        _ if closed => Fault::Connection,
        Some(db) if *db.code() == SqlState::READ_ONLY_SQL_TRANSACTION => Fault::Server,
        Some(_) => Fault::None,
        None => Fault::Connection,
    }
}

impl fmt::Debug for PgManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let hosts: Vec<&str> = inner
            .hosts
            .iter()
            .map(|h| match h {
                Host::Tcp(h) | Host::Unix(h) => h.as_str(),
            })
            .collect();
        f.debug_struct("PgManager")
            .field("hosts", &hosts)
            .field("port", &inner.port)
            .field("user", &inner.pg.get_user())
            .field("dbname", &inner.pg.get_dbname())
            .field("ssl_mode", &inner.mode)
            .field("method", &self.method)
            .field("statement_cache_size", &inner.cache_size)
            .finish_non_exhaustive()
    }
}

/// The byte stream under a session: TCP or a Unix socket.
#[derive(Debug)]
pub(crate) enum Transport {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl AsyncRead for Transport {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, data),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(unix)]
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Setup hooks for [`PgManager`] sessions: on every new session, `SET application_name`
/// (shown in `pg_stat_activity`) and `PREPARE` for each named statement (SQL-level prepared
/// statements, run with `EXECUTE name(args)`); and, if asked for, `RESET ALL` on every
/// checkout (undoing the `SET`s a previous user made), followed by the
/// `application_name` again.
///
/// A statement that does not prepare rejects every new session: `get` returns
/// [`Error::Connect`](netpool_core::Error::Connect) with the server's error.
///
/// ```no_run
/// use netpool_postgres::{Config, PgSetup};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::from_url("postgres://postgres@127.0.0.1:5432/test")?;
/// let setup = PgSetup::new("billing")
///     .prepare("add_one", "SELECT $1::int4 + 1")
///     .reset_on_checkout(true);
/// let pool = config.builder().hooks(setup).build(config.manager()?)?;
/// let client = pool.get().await?;
/// client.batch_execute("EXECUTE add_one(41)").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PgSetup {
    application_name: String,
    statements: Vec<(String, String)>,
    reset: bool,
}

impl PgSetup {
    /// Hooks that set `application_name` on every new session.
    pub fn new(application_name: impl Into<String>) -> Self {
        Self {
            application_name: application_name.into(),
            statements: Vec::new(),
            reset: false,
        }
    }

    /// Also prepares `sql` as statement `name` (an SQL identifier) on every new session.
    #[must_use]
    pub fn prepare(mut self, name: impl Into<String>, sql: impl Into<String>) -> Self {
        self.statements.push((name.into(), sql.into()));
        self
    }

    /// Also runs `RESET ALL` (then sets `application_name` again) on every checkout: one
    /// round trip per checkout.
    #[must_use]
    pub fn reset_on_checkout(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }

    fn set_name(&self) -> String {
        format!(
            "SET application_name = '{}'",
            self.application_name.replace('\'', "''")
        )
    }
}

impl Hooks for PgSetup {
    type Manager = PgManager;

    async fn on_connect(&self, client: &mut Client) -> Result<(), Error> {
        let mut batch = self.set_name();
        for (name, sql) in &self.statements {
            batch.push_str(&format!(
                "; PREPARE \"{}\" AS {sql}",
                name.replace('"', "\"\"")
            ));
        }
        Ok(client.batch_execute(&batch).await?)
    }

    fn runs_on_checkout(&self) -> bool {
        self.reset
    }

    async fn on_checkout(&self, client: &mut Client, _meta: Meta) -> Result<(), Error> {
        Ok(client
            .batch_execute(&format!("RESET ALL; {}", self.set_name()))
            .await?)
    }
}
