//! Runnable examples for netpool: see the `[[example]]` targets.
//!
//! The library holds what examples, tests and benches share: managers for real clients.
//!
//! * [`cluster`]: a Redis Cluster client over one `KeyedPool` keyed by node address;
//! * [`redis`]: the `redis` crate's multiplexed async connection, on tokio;
//! * [`resp`]: a hand-written RESP client and its managers on tokio and smol;
//! * [`postgres`]: `tokio-postgres`, with a deadpool-like recycling choice;
//! * [`echo`]: the echo demos' command line, built-in server and report;
//! * [`workload`]: the client examples' command line, timed workload and report.

pub mod cluster;
pub mod echo;
pub mod postgres;
pub mod redis;
pub mod resp;
pub mod workload;
