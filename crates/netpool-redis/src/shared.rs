//! Shared Redis connections: a [`SharedPool`](netpool_core::SharedPool) of multiplexed connections, each lent to many
//! tasks at once, for plain commands.
//!
//! One `MultiplexedConnection` shared by every task is the fastest way to send small
//! commands, but it is one socket and one point of failure. A [`SharedPool`](netpool_core::SharedPool) of
//! [`SharedRedisManager`] connections keeps several: checkouts go to the least-loaded
//! one, and a connection that breaks (a command failed with an I/O error or a dropped
//! connection) is retired and replaced while the others keep serving; only the commands
//! that were in flight on it fail.
//!
//! Plain commands (`GET`, `SET`, `INCR`, pipelines without `MULTI`) are safe on a shared
//! connection. Blocking commands (`BLPOP`, `XREAD BLOCK`), transactions (`MULTI`/`EXEC`,
//! `WATCH`), subscriptions and `SELECT` change or hold the connection's state: use the
//! exclusive [`Pool`](crate::Pool) for them.
//!
//! ```no_run
//! use netpool_core::SharedPool;
//! use netpool_redis::shared::SharedRedisManager;
//! use redis::AsyncCommands;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = SharedPool::builder()
//!     .max_size(4)
//!     .max_concurrent_per_connection(32)
//!     .build(SharedRedisManager::new("redis://127.0.0.1:6379")?)?;
//! let mut conn = pool.get().await?; // lent: other tasks use it at the same time
//! let () = conn.set("greeting", "hello").await?;
//! let value: String = conn.get("greeting").await?;
//! assert_eq!(value, "hello");
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use netpool_core::Manager;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::{Config, ConfigError, Error, RedisManager};

/// Opens [`SharedRedisConnection`]s for a [`SharedPool`](netpool_core::SharedPool): the
/// connections of a [`RedisManager`] (its TCP or TLS transport, `AUTH`, `SELECT`,
/// `CLIENT SETNAME`), as handles that many tasks use at once.
#[derive(Clone, Debug)]
pub struct SharedRedisManager {
    inner: RedisManager,
}

impl SharedRedisManager {
    /// A manager for the server of a `redis://` URL (see [`Config::from_url`]; and
    /// [`from_config`](Self::from_config) for `TCP_NODELAY`).
    ///
    /// # Errors
    ///
    /// As [`RedisManager::new`].
    pub fn new(url: impl AsRef<str>) -> Result<Self, ConfigError> {
        Self::from_config(&Config::from_url(url.as_ref())?)
    }

    /// A manager for the server of `config` (its pool settings are not used).
    /// `TCP_NODELAY` is [`SHARED_TCP_NODELAY`] unless [`Config::tcp_nodelay`] sets it.
    ///
    /// # Errors
    ///
    /// As [`RedisManager::from_config`].
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        RedisManager::from_config_or(config, SHARED_TCP_NODELAY).map(Self::from)
    }

    /// Sets `TCP_NODELAY` on the sockets of the connections opened from now on, plain TCP
    /// and TLS alike (default [`SHARED_TCP_NODELAY`], or [`Config::tcp_nodelay`]); see
    /// [`Config::tcp_nodelay`] for what each choice costs.
    #[must_use]
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.inner = self.inner.tcp_nodelay(nodelay);
        self
    }

    /// Whether new connections' sockets get `TCP_NODELAY`.
    pub fn is_tcp_nodelay(&self) -> bool {
        self.inner.is_tcp_nodelay()
    }

    /// Sets the `redis` crate's settings for each connection (see
    /// [`RedisManager::connection_config`]).
    #[must_use]
    pub fn connection_config(mut self, config: AsyncConnectionConfig) -> Self {
        self.inner = self.inner.connection_config(config);
        self
    }

    /// The server's `host:port`.
    pub fn addr(&self) -> &str {
        self.inner.addr()
    }
}

/// `TCP_NODELAY` of [`SharedRedisManager`]'s connections unless [`Config::tcp_nodelay`]
/// or [`SharedRedisManager::tcp_nodelay`] says otherwise: off (Nagle's algorithm
/// batches the pipelined writes), as in the `redis` crate; see [`Config::tcp_nodelay`]
/// for the measurements and the cost. A manager made `From` a [`RedisManager`] keeps that
/// manager's setting.
pub const SHARED_TCP_NODELAY: bool = false;

impl From<RedisManager> for SharedRedisManager {
    fn from(inner: RedisManager) -> Self {
        Self { inner }
    }
}

impl Manager for SharedRedisManager {
    type Connection = SharedRedisConnection;
    type Error = Error;

    async fn connect(&self) -> Result<SharedRedisConnection, Error> {
        let (conn, id) = self.inner.open().await?.into_parts();
        Ok(SharedRedisConnection {
            conn,
            id,
            broken: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn is_valid(&self, conn: &mut SharedRedisConnection) -> Result<(), Error> {
        let pong: String = redis::cmd("PING").query_async(conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(Error::Redis(RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "PING did not answer PONG",
            ))))
        }
    }

    fn has_broken(&self, conn: &mut SharedRedisConnection) -> bool {
        conn.is_broken()
    }
}

/// A handle to a shared [`MultiplexedConnection`] that remembers, for all its clones,
/// whether a command failed in a way that means the connection must be replaced.
///
/// It implements [`ConnectionLike`], so [`AsyncCommands`](redis::AsyncCommands) and
/// `query_async` work on it (and on `&mut *lent`).
#[derive(Clone)]
pub struct SharedRedisConnection {
    conn: MultiplexedConnection,
    id: i64,
    broken: Arc<AtomicBool>,
}

impl SharedRedisConnection {
    /// The server's id for this connection (`CLIENT ID`), as used by `CLIENT KILL ID`.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether a command on any clone failed in a way that means the connection must be
    /// replaced (an I/O error, a dropped connection).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

impl ConnectionLike for SharedRedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        noted(&self.broken, self.conn.send_packed_command(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        noted(
            &self.broken,
            self.conn.send_packed_commands(cmd, offset, count),
        )
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

/// Runs a command's future and flags the connection `broken` (for all its clones) if it
/// failed in a way that means the connection must be replaced.
fn noted<'a, T: Send + 'a>(
    broken: &'a AtomicBool,
    command: impl Future<Output = Result<T, RedisError>> + Send + 'a,
) -> RedisFuture<'a, T> {
    Box::pin(async move {
        let result = command.await;
        if let Err(e) = &result {
            if e.is_unrecoverable_error() || e.is_connection_dropped() || e.is_io_error() {
                broken.store(true, Ordering::Relaxed);
            }
        }
        result
    })
}

impl std::fmt::Debug for SharedRedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRedisConnection")
            .field("id", &self.id)
            .field("broken", &self.is_broken())
            .finish_non_exhaustive()
    }
}
