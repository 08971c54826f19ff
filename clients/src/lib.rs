//! netpool with real clients: managers for Redis and PostgreSQL, the examples that drive
//! them (`redis_tokio`, `resp_tokio`, `resp_smol`, `postgres_tokio`) and tests against
//! live servers.
//!
//! * [`cluster`]: the Redis Cluster client of `netpool-redis` (re-exported);
//! * [`redis`]: `netpool-redis`'s manager (re-exported), and the servers' URL;
//! * [`redis_shared`]: a `SharedPool` of multiplexed connections lent to many tasks at
//!   once, with an exclusive pool for transactions, blocking commands and subscriptions;
//! * [`resp`]: a hand-written RESP client and its managers on tokio and smol;
//! * [`postgres`]: the `netpool-postgres` crate, re-exported, and the server's URL;
//! * [`workload`]: the client examples' command line, timed workload and report.
//!
//! The servers are `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`) and
//! `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).

pub use netpool_redis::cluster;
pub mod postgres;
pub mod redis;
pub mod redis_shared;
pub mod resp;
pub mod workload;
