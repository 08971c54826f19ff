//! [`RedisManager`]: opens [`RedisConnection`]s (the `redis` crate's multiplexed
//! connection over netpool's TCP or TLS streams) and checks them; [`RedisSetup`], setup
//! hooks as a `Hooks` value.
//!
//! # Implementation details
//!
//! * `connect` opens the stream with netpool-tokio's `TcpManager` or `TlsManager` (or
//!   netpool-smol's, outside a tokio runtime, with the `smol` feature), hands it to
//!   `MultiplexedConnection::new_with_config`, which sends `AUTH` and `SELECT` from the
//!   configuration, spawns the connection's driver on the same runtime, and then sends
//!   `CLIENT SETNAME` (if named) and `CLIENT ID`.
//! * [`RedisConnection`] sees every command sent through it (it implements
//!   `ConnectionLike`) and keeps the session state a command leaves behind: a `MULTI`
//!   not ended by `EXEC`/`DISCARD`, `WATCH`ed keys, a subscription, `MONITOR`, another
//!   database, a changed protocol, identity or reply mode, or a command whose reply was
//!   never read (its future was dropped: a cut exchange). `has_broken` reports any of it,
//!   so the pool *closes* such a connection when it comes back instead of handing it to
//!   the next user (discard, not reset: one reconnect is cheaper to reason about than a
//!   `RESET` followed by the whole setup again, and these cases are rare). Classifying a
//!   command costs one length check and, for a few lengths, one case-insensitive compare.

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

use netpool_core::{Fault, Hooks, Manager, Meta, Role};
use netpool_tokio::net::TcpOptions;
use netpool_tokio::rustls::ClientConfig;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisConnectionInfo, RedisFuture, Value};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{Config, ConfigError, Error, Password};

/// Opens [`RedisConnection`]s to one Redis server: the [`Manager`] of
/// [`Pool`](crate::Pool).
///
/// Made from a [`Config`] ([`Config::manager`]) or from a URL ([`RedisManager::new`]).
/// By default its connections have no response timeout and no connect timeout of their
/// own (the pool's `connect_timeout` and `wait_timeout` bound connecting); set them with
/// [`connection_config`](Self::connection_config).
///
/// `is_valid` sends `PING`; `has_broken` reports a connection that failed or was left in
/// a state the next user must not inherit (see [`RedisConnection`]).
#[derive(Clone)]
pub struct RedisManager {
    tokio: Transport<netpool_tokio::TcpManager, netpool_tokio::TlsManager>,
    #[cfg(feature = "smol")]
    smol: Transport<netpool_smol::TcpManager, netpool_smol::TlsManager>,
    /// Shared by the managers made from this one (`at`: a cluster's or a replica set's
    /// nodes), so that `set_credentials` reaches them all.
    info: Arc<RwLock<RedisConnectionInfo>>,
    config: AsyncConnectionConfig,
    client_name: Option<String>,
    host: String,
    port: u16,
    addr: String,
    tls: Option<Arc<ClientConfig>>,
    /// The socket options of new connections (`TCP_NODELAY`).
    options: TcpOptions,
}

#[derive(Clone)]
enum Transport<T, S> {
    Tcp(T),
    Tls(S),
}

/// A stream the multiplexed connection runs over (TCP or TLS, tokio's or smol's).
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

impl RedisManager {
    /// A manager for the server of a `redis://` URL (see [`Config::from_url`]).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if the URL is invalid, or is `rediss://` (which needs a rustls
    /// configuration: use [`Config`] and its `tls_config`).
    pub fn new(url: impl AsRef<str>) -> Result<Self, ConfigError> {
        Self::from_config(&Config::from_url(url.as_ref())?)
    }

    /// A manager for the server of `config` (its pool settings are not used).
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoTlsConfig`] if TLS is on without a `tls_config`;
    /// [`ConfigError::ClientName`] for a client name with a space.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Self::from_config_or(config, true)
    }

    /// [`from_config`](Self::from_config), with `TCP_NODELAY` as `nodelay` unless the
    /// configuration sets it.
    pub(crate) fn from_config_or(config: &Config, nodelay: bool) -> Result<Self, ConfigError> {
        if config
            .client_name
            .as_deref()
            .is_some_and(|n| n.contains(' '))
        {
            return Err(ConfigError::ClientName);
        }
        let tls = match (config.tls, &config.tls_config) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls.clone()),
            (true, None) => return Err(ConfigError::NoTlsConfig),
        };
        let mut info = RedisConnectionInfo::default()
            .set_db(config.db)
            .set_protocol(config.protocol);
        if let Some(user) = &config.username {
            info = info.set_username(user);
        }
        if let Some(password) = &config.password {
            info = info.set_password(password.expose());
        }
        let none = Self {
            tokio: Transport::Tcp(netpool_tokio::TcpManager::new("")),
            #[cfg(feature = "smol")]
            smol: Transport::Tcp(netpool_smol::TcpManager::new("")),
            info: Arc::new(RwLock::new(info)),
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(None)
                .set_response_timeout(None),
            client_name: config.client_name.clone(),
            host: String::new(),
            port: 0,
            addr: String::new(),
            tls,
            options: TcpOptions::new().nodelay(config.tcp_nodelay.unwrap_or(nodelay)),
        };
        Ok(none.at(&config.host, config.port))
    }

    /// This manager's settings for the server at `host:port`.
    pub(crate) fn at(&self, host: &str, port: u16) -> Self {
        let addr = (host.to_owned(), port);
        let tcp = netpool_tokio::TcpManager::new(addr.clone()).with_options(self.options.clone());
        let tokio = match &self.tls {
            None => Transport::Tcp(tcp),
            Some(tls) => Transport::Tls(netpool_tokio::TlsManager::from_tcp(tcp, tls.clone())),
        };
        #[cfg(feature = "smol")]
        let smol = {
            let tcp = netpool_smol::TcpManager::new(addr).with_options(self.options.clone());
            match &self.tls {
                None => Transport::Tcp(tcp),
                Some(tls) => Transport::Tls(netpool_smol::TlsManager::from_tcp(tcp, tls.clone())),
            }
        };
        Self {
            tokio,
            #[cfg(feature = "smol")]
            smol,
            info: self.info.clone(),
            config: self.config.clone(),
            client_name: self.client_name.clone(),
            host: host.to_owned(),
            port,
            addr: if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            },
            tls: self.tls.clone(),
            options: self.options.clone(),
        }
    }

    /// Sets `TCP_NODELAY` on the sockets of the connections opened from now on, plain TCP
    /// and TLS alike (default on, or [`Config::tcp_nodelay`]); see
    /// [`Config::tcp_nodelay`] for what each choice costs.
    #[must_use]
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.options = self.options.nodelay(nodelay);
        let (host, port) = (self.host.clone(), self.port);
        self.at(&host, port)
    }

    /// Whether new connections' sockets get `TCP_NODELAY` (the options every transport
    /// of this manager was built with).
    pub fn is_tcp_nodelay(&self) -> bool {
        self.options.is_nodelay()
    }

    /// Sets the `redis` crate's settings for each connection (such as its response
    /// timeout; `AsyncConnectionConfig::new()` gives the crate's defaults, as
    /// deadpool-redis and bb8-redis use them).
    #[must_use]
    pub fn connection_config(mut self, config: AsyncConnectionConfig) -> Self {
        self.config = config;
        self
    }

    /// Names every connection (`CLIENT SETNAME`), so that it can be found in
    /// `CLIENT LIST` on the server.
    #[must_use]
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// The server's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The database every connection selects.
    pub fn db(&self) -> i64 {
        self.info().db()
    }

    /// Replaces the user name and the password that connections opened from now on send
    /// in `AUTH` (a rotated password, another ACL user), while the pool runs; the
    /// managers of a cluster's or a replica set's other nodes, made from this one, use
    /// them too. Open connections stay authenticated as they were:
    /// [`Pool::refresh`](netpool_core::Pool::refresh) (or `KeyedPool::refresh`) replaces
    /// them without failing a caller.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[allow(dead_code)] // shown, not run
    /// # async fn rotate(pool: &netpool_redis::Pool) {
    /// use netpool_redis::Password;
    ///
    /// pool.manager().set_credentials(None, Some(Password::new("new-secret")));
    /// pool.refresh(); // every connection re-authenticates, none fails
    /// # }
    /// ```
    pub fn set_credentials(&self, username: Option<String>, password: Option<Password>) {
        let mut info = self.info.write().unwrap_or_else(PoisonError::into_inner);
        let mut fresh = RedisConnectionInfo::default()
            .set_db(info.db())
            .set_protocol(info.protocol());
        if let Some(user) = username {
            fresh = fresh.set_username(user);
        }
        if let Some(password) = password {
            fresh = fresh.set_password(password.expose());
        }
        *info = fresh;
    }

    /// The connection settings now (credentials included).
    fn info(&self) -> RedisConnectionInfo {
        self.info
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) async fn open(&self) -> Result<RedisConnection, Error> {
        let (conn, home_db) = if tokio::runtime::Handle::try_current().is_ok() {
            let stream: Box<dyn Stream> = match &self.tokio {
                Transport::Tcp(m) => Box::new(m.connect().await.map_err(Error::Net)?),
                Transport::Tls(m) => Box::new(m.connect().await.map_err(Error::Tls)?),
            };
            let info = self.info();
            let (conn, driver) =
                MultiplexedConnection::new_with_config(&info, stream, self.config.clone()).await?;
            tokio::spawn(driver);
            (conn, info.db())
        } else {
            self.open_smol().await?
        };
        let mut conn = RedisConnection {
            conn,
            id: 0,
            home_db,
            state: State::default(),
            readonly: false,
            reselected: false,
        };
        if let Some(name) = &self.client_name {
            let () = redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async(&mut conn.conn)
                .await?;
        }
        conn.id = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn.conn)
            .await?;
        Ok(conn)
    }

    #[cfg(feature = "smol")]
    async fn open_smol(&self) -> Result<(MultiplexedConnection, i64), Error> {
        use tokio_util::compat::FuturesAsyncReadCompatExt;
        let stream: Box<dyn Stream> = match &self.smol {
            Transport::Tcp(m) => Box::new(m.connect().await.map_err(Error::Net)?.compat()),
            Transport::Tls(m) => Box::new(m.connect().await.map_err(Error::Tls)?.compat()),
        };
        let info = self.info();
        let (conn, driver) =
            MultiplexedConnection::new_with_config(&info, stream, self.config.clone()).await?;
        smol::spawn(driver).detach();
        Ok((conn, info.db()))
    }

    #[cfg(not(feature = "smol"))]
    async fn open_smol(&self) -> Result<(MultiplexedConnection, i64), Error> {
        Err(Error::NoRuntime(
            "connect inside a tokio runtime, or enable netpool-redis's `smol` feature",
        ))
    }
}

impl Manager for RedisManager {
    type Connection = RedisConnection;
    type Error = Error;

    fn connect(&self) -> impl Future<Output = Result<RedisConnection, Error>> + Send {
        self.open()
    }

    async fn is_valid(&self, conn: &mut RedisConnection) -> Result<(), Error> {
        let pong: String = redis::cmd("PING").query_async(conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            conn.state.broken = true;
            Err(Error::Redis(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "PING did not answer PONG",
            ))))
        }
    }

    fn has_broken(&self, conn: &mut RedisConnection) -> bool {
        conn.is_dirty()
    }

    /// `READONLY` (a write sent to a server that a failover made a replica) is a
    /// [`Fault::Server`]: [`Pooled::report`](netpool_core::Pooled::report) then refreshes
    /// the pool. I/O errors and dropped connections are [`Fault::Connection`]; the
    /// server's other replies (`WRONGTYPE`, `ERR ...`) are the request's own
    /// ([`Fault::None`]). Takes a [`redis::RedisError`] or this crate's [`Error`]; any
    /// other error blames the connection.
    fn classify(&self, err: &(dyn std::error::Error + 'static)) -> Fault {
        classify(err)
    }

    /// `ROLE`: `master` is [`Role::Primary`], `slave` [`Role::Replica`] (a sentinel or
    /// an unknown answer: `None`).
    async fn role(&self, conn: &mut RedisConnection) -> Result<Option<Role>, Error> {
        let reply: Vec<Value> = redis::cmd("ROLE").query_async(conn).await?;
        let name = match reply.first() {
            Some(Value::BulkString(b)) => b.as_slice(),
            Some(Value::SimpleString(s)) => s.as_bytes(),
            _ => return Ok(None),
        };
        Ok(match name {
            b"master" => Some(Role::Primary),
            b"slave" | b"replica" => Some(Role::Replica),
            _ => None,
        })
    }
}

/// [`RedisManager::classify`], for the cluster client and replica sets too.
pub(crate) fn classify(err: &(dyn std::error::Error + 'static)) -> Fault {
    let redis = match err.downcast_ref::<Error>() {
        Some(Error::Redis(e)) => Some(e),
        Some(_) => return Fault::Connection,
        None => err.downcast_ref::<redis::RedisError>(),
    };
    let Some(e) = redis else {
        return Fault::Connection;
    };
    if e.code() == Some("READONLY") {
        Fault::Server
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
        Fault::Connection
    } else {
        Fault::None
    }
}

/// Setup hooks for [`RedisManager`] connections as a [`Hooks`] value: on every new
/// connection `SELECT db` and (if named) `CLIENT SETNAME`, and, if asked for, `SELECT db`
/// again on every checkout.
///
/// Prefer [`Config::db`] and [`Config::client_name`], which do the same at connect; this
/// is for a pool built with `netpool_core::Pool::builder().hooks(..)`. A database that
/// does not exist rejects every new connection: `get` returns
/// [`Error::Connect`](netpool_core::Error::Connect) with the server's error.
///
/// ```no_run
/// use netpool_core::Pool;
/// use netpool_redis::{RedisManager, RedisSetup};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder()
///     .hooks(RedisSetup::new(2).client_name("billing").reselect_on_checkout(true))
///     .build(RedisManager::new("redis://127.0.0.1:6379")?)?;
/// let conn = pool.get().await?; // on database 2, named "billing"
/// # drop(conn);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedisSetup {
    db: i64,
    name: Option<String>,
    reselect: bool,
}

impl RedisSetup {
    /// Hooks that select database `db` on every new connection.
    pub fn new(db: i64) -> Self {
        Self {
            db,
            name: None,
            reselect: false,
        }
    }

    /// Also names every new connection (`CLIENT SETNAME`; no spaces).
    #[must_use]
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Also selects the database again on every checkout (one round trip per checkout).
    #[must_use]
    pub fn reselect_on_checkout(mut self, reselect: bool) -> Self {
        self.reselect = reselect;
        self
    }
}

impl Hooks for RedisSetup {
    type Manager = RedisManager;

    async fn on_connect(&self, conn: &mut RedisConnection) -> Result<(), Error> {
        // Sent around the tracking: this database is the connection's home from now on.
        let () = redis::cmd("SELECT")
            .arg(self.db)
            .query_async(&mut conn.conn)
            .await?;
        conn.home_db = self.db;
        conn.state.db = None;
        conn.reselected = self.reselect;
        if let Some(name) = &self.name {
            let () = redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async(&mut conn.conn)
                .await?;
        }
        Ok(())
    }

    fn runs_on_checkout(&self) -> bool {
        self.reselect
    }

    async fn on_checkout(&self, conn: &mut RedisConnection, _meta: Meta) -> Result<(), Error> {
        let () = redis::cmd("SELECT")
            .arg(self.db)
            .query_async(&mut conn.conn)
            .await?;
        conn.state.db = None;
        Ok(())
    }
}

/// A pooled Redis connection: the `redis` crate's [`MultiplexedConnection`], and the
/// session state the commands sent through it left behind.
///
/// It implements [`ConnectionLike`], so [`AsyncCommands`](redis::AsyncCommands),
/// `query_async` and pipelines work on it (and on `&mut *pooled`) directly.
///
/// # What comes back to the pool
///
/// A connection is *closed* when it comes back (never handed to the next user) if:
/// * a command failed in a way that breaks the connection (an I/O error, a dropped
///   connection);
/// * a command's future was dropped before its reply was read (a cut exchange: a
///   time-out around the call, say);
/// * it is inside `MULTI` (no `EXEC` or `DISCARD` yet) or has keys `WATCH`ed (no `EXEC`,
///   `DISCARD` or `UNWATCH` yet);
/// * it sent `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` or `MONITOR`;
/// * it selected another database than its own (`SELECT`; unless a [`RedisSetup`] that
///   selects it again on checkout is in use), or sent `HELLO`, `AUTH`, `RESET` or
///   `CLIENT REPLY`/`CLIENT TRACKING`.
///
/// Everything else comes back as it is. Commands sent through
/// [`inner_mut`](Self::inner_mut) are not seen.
pub struct RedisConnection {
    conn: MultiplexedConnection,
    id: i64,
    home_db: i64,
    state: State,
    /// `READONLY` was sent (a cluster replica's connection).
    pub(crate) readonly: bool,
    /// A checkout hook selects the home database again ([`RedisSetup`]), so a `SELECT`
    /// does not close the connection.
    reselected: bool,
}

/// What the commands left behind.
#[derive(Debug, Default, Clone, Copy)]
struct State {
    broken: bool,
    in_flight: bool,
    multi: bool,
    watching: bool,
    /// A state that lasts: a subscription, MONITOR, HELLO, AUTH, RESET, CLIENT REPLY...
    session: bool,
    /// The database selected, if a SELECT moved it.
    db: Option<i64>,
}

/// Commands whose effect [`State`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracked {
    Multi,
    End,
    Watch,
    Unwatch,
    Select,
    Client,
    Session,
}

impl RedisConnection {
    /// The multiplexed connection and its `CLIENT ID`, for a shared connection.
    pub(crate) fn into_parts(self) -> (MultiplexedConnection, i64) {
        (self.conn, self.id)
    }

    /// The server's id for this connection (`CLIENT ID`), as used by `CLIENT KILL ID`.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether a command failed in a way that means the connection must be replaced.
    pub fn is_broken(&self) -> bool {
        self.state.broken
    }

    /// Whether the pool will close this connection when it comes back: broken, or left in
    /// a state the next user must not inherit (see the type's docs).
    pub fn is_dirty(&self) -> bool {
        let s = &self.state;
        s.broken
            || s.in_flight
            || s.multi
            || s.watching
            || s.session
            || (!self.reselected && s.db.is_some_and(|db| db != self.home_db))
    }

    /// The wrapped connection. Commands sent through it directly are not tracked: their
    /// errors and the state they leave are not noticed.
    pub fn inner_mut(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }

    fn before(&mut self, cmd: &Cmd) {
        if let Some(t) = tracked(cmd) {
            match t {
                Tracked::Multi => self.state.multi = true,
                Tracked::Watch => self.state.watching = true,
                Tracked::Session => self.state.session = true,
                Tracked::Client => {
                    let sub = cmd.args_iter().nth(1);
                    if let Some(redis::Arg::Simple(sub)) = sub {
                        if sub.eq_ignore_ascii_case(b"REPLY")
                            || sub.eq_ignore_ascii_case(b"TRACKING")
                        {
                            self.state.session = true;
                        }
                    }
                }
                Tracked::End | Tracked::Unwatch | Tracked::Select => {}
            }
        }
    }

    /// After `cmd`'s reply came (`ok`: not an error).
    fn after(&mut self, cmd: &Cmd, ok: bool) {
        let Some(t) = tracked(cmd) else { return };
        match t {
            // EXEC and DISCARD end the transaction and the watch whatever they answer.
            Tracked::End => {
                self.state.multi = false;
                self.state.watching = false;
            }
            Tracked::Unwatch if ok && !self.state.multi => self.state.watching = false,
            Tracked::Select if !self.state.multi => {
                let db = match cmd.args_iter().nth(1) {
                    Some(redis::Arg::Simple(db)) => {
                        std::str::from_utf8(db).ok().and_then(|d| d.parse().ok())
                    }
                    _ => None,
                };
                match (ok, db) {
                    (true, Some(db)) => self.state.db = Some(db),
                    (true, None) => self.state.session = true,
                    (false, _) => {}
                }
            }
            _ => {}
        }
    }

    fn note<T>(&mut self, result: &Result<T, redis::RedisError>) {
        if let Err(e) = result {
            if e.is_unrecoverable_error() || e.is_connection_dropped() || e.is_io_error() {
                self.state.broken = true;
            }
        }
    }
}

/// The [`Tracked`] kind of a command, by its name.
fn tracked(cmd: &Cmd) -> Option<Tracked> {
    let Some(redis::Arg::Simple(name)) = cmd.args_iter().next() else {
        return None;
    };
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    let t = match name.len() {
        4 if is("EXEC") => Tracked::End,
        5 if is("MULTI") => Tracked::Multi,
        5 if is("WATCH") => Tracked::Watch,
        5 if is("HELLO") || is("RESET") => Tracked::Session,
        4 if is("AUTH") => Tracked::Session,
        6 if is("SELECT") => Tracked::Select,
        6 if is("CLIENT") => Tracked::Client,
        7 if is("DISCARD") => Tracked::End,
        7 if is("UNWATCH") => Tracked::Unwatch,
        7 if is("MONITOR") => Tracked::Session,
        9 if is("SUBSCRIBE") => Tracked::Session,
        10 if is("PSUBSCRIBE") || is("SSUBSCRIBE") => Tracked::Session,
        _ => return None,
    };
    Some(t)
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.before(cmd);
            self.state.in_flight = true;
            let result = self.conn.send_packed_command(cmd).await;
            self.state.in_flight = false;
            self.note(&result);
            self.after(cmd, result.is_ok());
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            for c in cmd.cmd_iter() {
                self.before(c);
            }
            self.state.in_flight = true;
            let result = self.conn.send_packed_commands(cmd, offset, count).await;
            self.state.in_flight = false;
            self.note(&result);
            // The pipeline's replies are not matched to its commands here: a pipeline
            // that ends what it started (MULTI..EXEC, WATCH..EXEC) ends clean.
            for c in cmd.cmd_iter() {
                self.after(c, result.is_ok());
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.state.db.unwrap_or(self.home_db)
    }
}

impl std::fmt::Debug for RedisManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisManager")
            .field("addr", &self.addr)
            .field("tls", &matches!(self.tokio, Transport::Tls(_)))
            .field("db", &self.db())
            .field("username", &self.info().username())
            .field("password", &self.info().password().map(|_| "***"))
            .field("client_name", &self.client_name)
            .field("tcp_nodelay", &self.is_tcp_nodelay())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
