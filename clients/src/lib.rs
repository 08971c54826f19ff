//! netpool with real clients: managers for Redis and PostgreSQL, the examples that drive
//! them (`redis_tokio`, `resp_tokio`, `resp_smol`, `postgres_tokio`) and tests against
//! live servers.
//!
//! * [`cluster`]: a Redis Cluster client over one `KeyedPool` keyed by node address;
//! * [`redis`]: the `redis` crate's multiplexed async connection, on tokio;
//! * [`redis_shared`]: a `SharedPool` of multiplexed connections lent to many tasks at
//!   once, with an exclusive pool for transactions, blocking commands and subscriptions;
//! * [`resp`]: a hand-written RESP client and its managers on tokio and smol;
//! * [`postgres`]: `tokio-postgres`, with a deadpool-like recycling choice;
//! * [`workload`]: the client examples' command line, timed workload and report.
//!
//! The servers are `NETPOOL_TEST_REDIS` (default `redis://127.0.0.1:6379`) and
//! `NETPOOL_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).

pub mod cluster;
pub mod postgres;
pub mod redis;
pub mod redis_shared;
pub mod resp;
pub mod workload;
