//! A netpool manager over the `redis` crate's async [`MultiplexedConnection`], on tokio or
//! smol.
//!
//! This package enables both of the crate's `tokio-comp` and `smol-comp` features: a
//! connection opened inside a tokio runtime runs its driver task on tokio, anywhere else
//! on smol (the crate's own choice, per connect; `redis::aio::prefer_tokio()` or
//! `prefer_smol()` pin it).
//!
//! `is_valid` sends `PING`. The multiplexed connection does not expose its own error
//! state, so [`RedisConnection`] wraps it and remembers when a command failed in a way
//! that means the connection must be replaced (an I/O error, a dropped connection);
//! `has_broken` reports that flag, and the pool closes the connection when it comes back.
//!
//! # Examples
//!
//! ```no_run
//! use netpool_core::Pool;
//! use netpool_clients::redis::RedisManager;
//! use redis::AsyncCommands;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::builder()
//!     .max_size(16)
//!     .build(RedisManager::new("redis://127.0.0.1:6379")?)?;
//! let mut conn = pool.get().await?;
//! let () = conn.set("greeting", "hello").await?;
//! let value: String = conn.get("greeting").await?;
//! assert_eq!(value, "hello");
//! # Ok(())
//! # }
//! ```

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    Value,
};
use netpool_core::{Hooks, Manager, Meta};

/// The default Redis URL for examples, tests and benches: `NETPOOL_TEST_REDIS`, or
/// `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("NETPOOL_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Opens [`RedisConnection`]s to one Redis server.
///
/// By default its connections have no response timeout and no connect timeout of their
/// own (the pool's `connect_timeout` and `wait_timeout` bound connecting); set them with
/// [`connection_config`](Self::connection_config).
#[derive(Clone)]
pub struct RedisManager {
    client: Client,
    config: AsyncConnectionConfig,
    client_name: Option<String>,
}

impl RedisManager {
    /// A manager for the server at `info` (a `redis://` URL, or anything else the `redis`
    /// crate accepts). Opens nothing yet.
    ///
    /// # Errors
    ///
    /// A [`RedisError`] if `info` is not a valid connection description.
    pub fn new(info: impl IntoConnectionInfo) -> Result<Self, RedisError> {
        Ok(Self {
            client: Client::open(info)?,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(None)
                .set_response_timeout(None),
            client_name: None,
        })
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
}

impl Manager for RedisManager {
    type Connection = RedisConnection;
    type Error = RedisError;

    async fn connect(&self) -> Result<RedisConnection, RedisError> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        if let Some(name) = &self.client_name {
            let () = ::redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async(&mut conn)
                .await?;
        }
        let id: i64 = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await?;
        Ok(RedisConnection {
            conn,
            id,
            broken: false,
        })
    }

    async fn is_valid(&self, conn: &mut RedisConnection) -> Result<(), RedisError> {
        let pong: String = ::redis::cmd("PING").query_async(conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            conn.broken = true;
            Err(RedisError::from((
                ::redis::ErrorKind::UnexpectedReturnType,
                "PING did not answer PONG",
            )))
        }
    }

    fn has_broken(&self, conn: &mut RedisConnection) -> bool {
        conn.broken
    }
}

/// Setup hooks for [`RedisManager`] connections: on every new connection `SELECT db` and
/// (if named) `CLIENT SETNAME`, and, if asked for, `SELECT db` again on every checkout, in
/// case the last user switched databases.
///
/// A database that does not exist rejects every new connection: `get` returns
/// [`Error::Connect`](netpool_core::Error::Connect) with the server's error.
///
/// ```no_run
/// use netpool_core::Pool;
/// use netpool_clients::redis::{RedisManager, RedisSetup};
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

    async fn on_connect(&self, conn: &mut RedisConnection) -> Result<(), RedisError> {
        let () = ::redis::cmd("SELECT")
            .arg(self.db)
            .query_async(&mut *conn)
            .await?;
        if let Some(name) = &self.name {
            let () = ::redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async(conn)
                .await?;
        }
        Ok(())
    }

    fn runs_on_checkout(&self) -> bool {
        self.reselect
    }

    async fn on_checkout(&self, conn: &mut RedisConnection, _meta: Meta) -> Result<(), RedisError> {
        ::redis::cmd("SELECT").arg(self.db).query_async(conn).await
    }
}

/// A [`MultiplexedConnection`] that remembers whether it broke.
///
/// It implements [`ConnectionLike`], so [`AsyncCommands`](::redis::AsyncCommands) and
/// `query_async` work on it (and on `&mut *pooled`) directly.
pub struct RedisConnection {
    conn: MultiplexedConnection,
    id: i64,
    broken: bool,
}

impl RedisConnection {
    /// The server's id for this connection (`CLIENT ID`), as used by `CLIENT KILL ID`.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether a command failed in a way that means the connection must be replaced.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The wrapped connection. Errors of commands sent through it directly are not
    /// noticed by [`is_broken`](Self::is_broken).
    pub fn inner_mut(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }

    fn note<T>(&mut self, result: &Result<T, RedisError>) {
        if let Err(e) = result {
            if e.is_unrecoverable_error() || e.is_connection_dropped() || e.is_io_error() {
                self.broken = true;
            }
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.conn.send_packed_command(cmd).await;
            self.note(&result);
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
            let result = self.conn.send_packed_commands(cmd, offset, count).await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

impl std::fmt::Debug for RedisManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisManager")
            .field("client", &self.client)
            .field("client_name", &self.client_name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("id", &self.id)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}
