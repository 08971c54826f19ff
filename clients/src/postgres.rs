//! PostgreSQL for the examples: the server's URL. The pool itself is the
//! `netpool-postgres` crate, re-exported here.

pub use netpool_postgres::*;

/// The default PostgreSQL URL for examples and tests: `NETPOOL_TEST_POSTGRES`, or
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    std::env::var("NETPOOL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}
