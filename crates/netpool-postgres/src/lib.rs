//! A PostgreSQL connection pool: [tokio-postgres] sessions in a [netpool] pool, set up in
//! one line from a URL, libpq's `PG*` environment variables or serde.
//!
//! ```no_run
//! use netpool_postgres::Config;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let pool = Config::from_url("postgres://postgres@127.0.0.1:5432/test")?.create_pool()?;
//!
//!     let client = pool.get().await?;
//!     let row = client.query_one("SELECT $1::int4 + 1", &[&41i32]).await?;
//!     assert_eq!(row.get::<_, i32>(0), 42);
//!
//!     // Prepared once per connection, then served from its cache.
//!     let statement = client.prepare_cached("SELECT $1::text").await?;
//!     let row = client.query_one(&statement, &[&"hello"]).await?;
//!     assert_eq!(row.get::<_, &str>(0), "hello");
//!     Ok(())
//! }
//! ```
//!
//! The pieces, for when one line is not enough:
//!
//! * [`Config`]: where the server is (`host`, `port`, Unix socket directories), who
//!   connects, TLS ([`SslMode`], `sslrootcert`), the [`RecyclingMethod`], the statement
//!   cache size and `max_size`. The password never shows in its `Debug` or `Display`,
//!   nor in any error, event or log line of this crate.
//! * [`Config::create_pool`] = [`Config::builder`] (a netpool [`Builder`](netpool_core::Builder)
//!   preset to recycle on every checkout) + [`Config::manager`] + maintenance on tokio.
//! * [`Client`]: the pooled session. It derefs to [`tokio_postgres::Client`] and adds
//!   [`prepare_cached`](Client::prepare_cached) with a bounded, per-session
//!   [`StatementCache`].
//!
//! # Recycling, and transactions left open
//!
//! Before a session is handed out again, the pool runs its [`RecyclingMethod`]: `Fast`
//! (no round trip), `Verified` (an empty query), `Clean` (resets session state but keeps
//! prepared statements: [`CLEAN_SQL`]) or `Custom(sql)`. Whatever the method, a
//! transaction the previous user left open is rolled back first, so it never leaks into
//! the next user: the session's stream is watched for the transaction status the server
//! reports after every request, and the `ROLLBACK` costs a round trip only when one is
//! needed.
//!
//! # TLS
//!
//! `sslmode` as libpq: `disable`, `prefer` (the default), `require`, `verify-ca`,
//! `verify-full`, with rustls (its ring provider). `verify-*` check the server against
//! the PEM file in `sslrootcert`; for other roots or client certificates, give your own
//! [`rustls::ClientConfig`] to [`PgManager::tls_config`]. SCRAM channel binding is not
//! offered over TLS (`channel_binding=prefer` authenticates without it).
//!
//! # Features
//!
//! * `serde`: `Deserialize` for [`Config`] (every field optional), [`SslMode`] and
//!   [`RecyclingMethod`].
//! * `tracing`: the pool logs its events with `tracing` (netpool-core's feature).
//!
//! [tokio-postgres]: tokio_postgres
//! [netpool]: netpool_core

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod config;
mod error;
mod manager;
mod session;
mod tls;
mod url;

pub use crate::client::{Client, StatementCache};
pub use crate::config::{Config, DEFAULT_STATEMENT_CACHE_SIZE, Password, SslMode};
pub use crate::error::{ConfigError, CreatePoolError, Error};
pub use crate::manager::{CLEAN_SQL, PgManager, PgSetup, RecyclingMethod};
pub use netpool_core::{Pooled, Stats};
pub use rustls;
pub use tokio_postgres;

/// The pool: [`netpool_core::Pool`] over [`PgManager`].
pub type Pool = netpool_core::Pool<PgManager>;

/// The error of [`Pool::get`](netpool_core::Pool::get): [`netpool_core::Error`] over this
/// crate's [`Error`].
pub type PoolError = netpool_core::Error<Error>;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
