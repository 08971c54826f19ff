//! Shared Redis connections: a [`SharedPool`] of the `redis` crate's
//! [`MultiplexedConnection`]s, each lent to many tasks at once, with an exclusive
//! [`Pool`] kept for what must own a connection.
//!
//! One `MultiplexedConnection` shared by every task is the fastest way to send small
//! commands, but it is one socket and one point of failure. [`SharedRedisManager`] lets a
//! [`SharedPool`] keep several: checkouts go to the least-loaded one, and a connection
//! that breaks (a command failed with an I/O error or a dropped connection) is retired
//! and replaced while the others keep serving; only the commands that were in flight on
//! it fail.
//!
//! Plain commands (`GET`, `SET`, `INCR`, pipelines without `MULTI`) are safe on a shared
//! connection. Blocking commands (`BLPOP`, `XREAD BLOCK`), transactions (`MULTI`/`EXEC`,
//! `WATCH`), subscriptions and `SELECT` change or hold the connection's state: take an
//! exclusive connection for them ([`RedisPools::exclusive`]).
//!
//! # Examples
//!
//! ```no_run
//! use netpool_clients::redis_shared::RedisPools;
//! use redis::AsyncCommands;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let pools = RedisPools::new("redis://127.0.0.1:6379", 4, 8)?;
//! let mut conn = pools.shared().await?; // lent: other tasks use it too
//! let () = conn.set("greeting", "hello").await?;
//! let value: String = conn.get("greeting").await?;
//! assert_eq!(value, "hello");
//!
//! let mut own = pools.exclusive().await?; // for MULTI/EXEC, BLPOP, SUBSCRIBE
//! let (n,): (i64,) = redis::pipe().atomic().incr("counter", 1).query_async(&mut *own).await?;
//! # let _ = n;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    Value,
};
use netpool_core::{Error, Lent, Manager, Pool, Pooled, SharedPool};

use crate::redis::RedisManager;

/// Opens [`SharedRedisConnection`]s to one Redis server, for a [`SharedPool`].
///
/// Like [`RedisManager`], its connections have no response timeout and no connect
/// timeout of their own by default (the pool's timeouts bound connecting).
#[derive(Clone)]
pub struct SharedRedisManager {
    client: Client,
    config: AsyncConnectionConfig,
}

impl SharedRedisManager {
    /// A manager for the server at `info`. Opens nothing yet.
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
        })
    }

    /// Sets the `redis` crate's settings for each connection.
    #[must_use]
    pub fn connection_config(mut self, config: AsyncConnectionConfig) -> Self {
        self.config = config;
        self
    }
}

impl Manager for SharedRedisManager {
    type Connection = SharedRedisConnection;
    type Error = RedisError;

    async fn connect(&self) -> Result<SharedRedisConnection, RedisError> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let id: i64 = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await?;
        Ok(SharedRedisConnection {
            conn,
            id,
            broken: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn is_valid(&self, conn: &mut SharedRedisConnection) -> Result<(), RedisError> {
        let pong: String = ::redis::cmd("PING").query_async(conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(RedisError::from((
                ::redis::ErrorKind::UnexpectedReturnType,
                "PING did not answer PONG",
            )))
        }
    }

    fn has_broken(&self, conn: &mut SharedRedisConnection) -> bool {
        conn.is_broken()
    }
}

/// A handle to a shared [`MultiplexedConnection`] that remembers, for all its clones,
/// whether a command failed in a way that means the connection must be replaced.
///
/// It implements [`ConnectionLike`], so [`AsyncCommands`](::redis::AsyncCommands) and
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

    fn note<T>(&self, result: &Result<T, RedisError>) {
        if let Err(e) = result {
            if e.is_unrecoverable_error() || e.is_connection_dropped() || e.is_io_error() {
                self.broken.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl ConnectionLike for SharedRedisConnection {
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

/// A shared pool for plain commands and a small exclusive pool for the rest, to one
/// server.
#[derive(Debug, Clone)]
pub struct RedisPools {
    shared: SharedPool<SharedRedisManager>,
    exclusive: Pool<RedisManager>,
}

impl RedisPools {
    /// `connections` shared connections, each lent to up to `per_connection` tasks at
    /// once, and up to `connections` exclusive ones, to the server at `url`; the
    /// pools' other settings are netpool's defaults. Opens nothing yet.
    ///
    /// # Errors
    ///
    /// A message naming the invalid URL or setting.
    pub fn new(
        url: &str,
        connections: usize,
        per_connection: usize,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let shared = SharedPool::builder()
            .max_size(connections)
            .max_concurrent_per_connection(per_connection)
            .build(SharedRedisManager::new(url)?)?;
        let exclusive = Pool::builder()
            .max_size(connections)
            .build(RedisManager::new(url)?)?;
        Ok(Self::from_pools(shared, exclusive))
    }

    /// From pools built elsewhere (with settings of your own).
    pub fn from_pools(
        shared: SharedPool<SharedRedisManager>,
        exclusive: Pool<RedisManager>,
    ) -> Self {
        Self { shared, exclusive }
    }

    /// A lend of a shared connection, for plain commands.
    ///
    /// # Errors
    ///
    /// As [`SharedPool::get`].
    pub async fn shared(&self) -> Result<Lent<SharedRedisManager>, Error<RedisError>> {
        self.shared.get().await
    }

    /// A connection of its own, for blocking commands, transactions and subscriptions.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`].
    pub async fn exclusive(&self) -> Result<Pooled<RedisManager>, Error<netpool_redis::Error>> {
        self.exclusive.get().await
    }

    /// The shared pool.
    pub fn shared_pool(&self) -> &SharedPool<SharedRedisManager> {
        &self.shared
    }

    /// The exclusive pool.
    pub fn exclusive_pool(&self) -> &Pool<RedisManager> {
        &self.exclusive
    }
}

impl std::fmt::Debug for SharedRedisManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRedisManager")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SharedRedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRedisConnection")
            .field("id", &self.id)
            .field("broken", &self.is_broken())
            .finish_non_exhaustive()
    }
}
