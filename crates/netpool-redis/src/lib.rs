//! A Redis connection pool over the [`redis`] crate, on [netpool](netpool_core): one line
//! from a URL to a pool, `AUTH`, `SELECT` and `CLIENT SETNAME` done on every new
//! connection, `rediss://` with rustls, and connections that are never handed out in a
//! state the last user left behind.
//!
//! ```no_run
//! use redis::AsyncCommands;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = netpool_redis::Config::from_url("redis://127.0.0.1:6379")?.create_pool()?;
//! let mut conn = pool.get().await?;
//! let () = conn.set("greeting", "hello").await?;
//! let value: String = conn.get("greeting").await?;
//! assert_eq!(value, "hello");
//! # Ok(())
//! # }
//! ```
//!
//! (`no_run` here: it needs a Redis server; the crate's tests run the same against one.)
//!
//! * [`Config`]: from a URL (`redis://user:pass@host:port/db`, `rediss://` for TLS), from
//!   serde (feature `serde`), or field by field; its password never prints.
//! * [`Config::create_pool`] / [`RedisBuilder`]: the pool, with hooks
//!   ([`on_connect`](RedisBuilder::on_connect), [`on_checkout`](RedisBuilder::on_checkout))
//!   and maintenance started on the current runtime.
//! * [`RedisConnection`]: what a [`Pooled`](netpool_core::Pooled) derefs to; it
//!   implements the `redis` crate's `ConnectionLike`, so `AsyncCommands`, `query_async`
//!   and pipelines work on it. A connection left inside `MULTI`, with `WATCH`ed keys,
//!   subscribed, on another database or with a reply it never read is closed when it
//!   comes back, not reused (see [`RedisConnection`]).
//! * [`shared`]: [`SharedRedisManager`](shared::SharedRedisManager), for a
//!   [`SharedPool`](netpool_core::SharedPool) of multiplexed connections that many tasks
//!   use at once (plain commands; the exclusive pool for transactions, blocking commands
//!   and subscriptions).
//! * [`cluster`]: a Redis Cluster client over one keyed pool, with shared connections per
//!   node for plain commands.
//! * [`replica`]: a primary and its replicas (writes to the primary, reads spread, a
//!   failover followed without a restart).
//!
//! # Runtimes
//!
//! Connections opened inside a tokio runtime run their driver task on tokio. With the
//! `smol` feature, connections opened anywhere else run on smol.
//!
//! # TLS
//!
//! `rediss://` needs a rustls `ClientConfig` saying which certificates to trust
//! ([`Config::tls_config`] or [`RedisBuilder::tls_config`]); the server's certificate is
//! checked for the URL's host.

mod builder;
pub mod cluster;
mod config;
mod error;
mod manager;
pub mod replica;
pub mod shared;

pub use crate::builder::RedisBuilder;
pub use crate::config::{Config, Password, PoolConfig};
pub use crate::error::{ConfigError, CreatePoolError, Error};
pub use crate::manager::{RedisConnection, RedisManager, RedisSetup};
pub use netpool_core;
pub use redis;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// A pool of Redis connections: `netpool_core::Pool<RedisManager>`.
pub type Pool = netpool_core::Pool<RedisManager>;

/// A connection checked out of a [`Pool`]; derefs to [`RedisConnection`].
pub type Connection = netpool_core::Pooled<RedisManager>;
