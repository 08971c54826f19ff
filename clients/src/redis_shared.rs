//! Shared Redis connections: a [`SharedPool`] of the `redis` crate's
//! [`MultiplexedConnection`](::redis::aio::MultiplexedConnection)s, each lent to many tasks at once, with an exclusive
//! [`Pool`] kept for what must own a connection.
//!
//! One `MultiplexedConnection` shared by every task is the fastest way to send small
//! commands, but it is one socket and one point of failure. [`SharedRedisManager`] (from
//! `netpool_redis::shared`) lets a [`SharedPool`] keep several: checkouts go to the least-loaded one, and a connection
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

pub use netpool_redis::shared::{SharedRedisConnection, SharedRedisManager};

use netpool_core::{Error, Lent, Pool, Pooled, SharedPool};

use crate::redis::RedisManager;

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
    pub async fn shared(&self) -> Result<Lent<SharedRedisManager>, Error<netpool_redis::Error>> {
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
