//! The Redis manager over the `redis` crate now lives in the `netpool-redis` crate; this
//! module re-exports it for the examples and tests here, with [`redis_url`].

pub use netpool_redis::{Error, RedisConnection, RedisManager, RedisSetup};

/// The default Redis URL for examples, tests and benches: `NETPOOL_TEST_REDIS`, or
/// `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("NETPOOL_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}
