//! netpool on tokio: a pool of `tokio::net::TcpStream`s in one line, maintained by a tokio
//! task.
//!
//! ```
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = netpool_testkit::EchoServer::start()?;
//! # let addr = server.addr().to_string();
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // addr is "127.0.0.1:<port>" of an echo server
//! let pool = netpool_tokio::tcp(addr)
//!     .max_size(8)
//!     .wait_timeout(Some(Duration::from_secs(5)))
//!     .build()?; // inside the runtime: maintenance is a tokio task
//!
//! let mut tasks = Vec::new();
//! for i in 0..32u8 {
//!     let pool = pool.clone();
//!     tasks.push(tokio::spawn(async move {
//!         let mut conn = pool.get().await?; // a tokio::net::TcpStream
//!         conn.write_all(&[i]).await?;
//!         let mut reply = [0];
//!         conn.read_exact(&mut reply).await?;
//!         assert_eq!(reply, [i]);
//!         Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//!     }));
//! }
//! for t in tasks {
//!     t.await?.unwrap();
//! }
//! assert!(pool.stats().connections_created <= 8);
//! # Ok(())
//! # }
//! ```
//!
//! # Keep the protocol in sync: a cut exchange closes its connection
//!
//! A request/reply protocol stays in sync only if every reply is read. If an exchange is
//! cut half way (a `tokio::time::timeout` around it fires, the task is cancelled, an I/O
//! error returns early with `?`), its reply is still on the way, and the next user of the
//! connection would read it. So mark the connection broken before the exchange and clear
//! the mark after it: a guard dropped in between closes the connection instead of
//! returning it. ([`Pooled::discard`] closes it explicitly, after an error you handle.)
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use netpool_tokio::{Error, Pool, Pooled};
//!
//! async fn ping(pool: &Pool) -> Result<[u8; 7], Box<dyn std::error::Error>> {
//!     let mut conn = pool.get().await?;
//!     Pooled::set_broken(&mut conn, true); // dropped before the reply is read: closed
//!     conn.write_all(b"PING\r\n").await?;
//!     let mut reply = [0; 7];
//!     conn.read_exact(&mut reply).await?;
//!     Pooled::set_broken(&mut conn, false); // in sync again: back to the pool on drop
//!     Ok(reply)
//! }
//!
//! // A server that accepts and never answers.
//! let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let pool = netpool_tokio::tcp(silent.local_addr()?).max_size(1).build()?;
//! assert!(tokio::time::timeout(Duration::from_millis(50), ping(&pool)).await.is_err());
//! assert_eq!(pool.stats().closed_broken, 1); // not returned with a reply pending
//!
//! // After an error you handle, close the connection yourself.
//! let conn = pool.get().await?;
//! Pooled::discard(conn);
//! assert_eq!(pool.stats().connections, 0);
//!
//! let busy = pool.get().await?;
//! let err: Error = pool.try_get().unwrap_err(); // Error<NetError>, the pool's error
//! assert!(err.is_timeout());
//! # drop(busy);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! * `tracing`: netpool-core's `tracing` feature: the pool logs its events (connects that
//!   failed, the backoff, connections opened and closed, ...) under target `netpool`. For
//!   typed events without `tracing`, see `event_handler` on the builder.
//! * `tls` (off by default): `tls(addr, config)` and `TlsManager`, TLS over the
//!   TCP manager with rustls and tokio-rustls.
//! * `tls-ring` (default) / `tls-aws-lc-rs`: the crypto provider of `tls_provider()` and
//!   `tls_config(roots)` (aws-lc-rs wins when both are on); `tls-webpki-roots`:
//!   `webpki_roots()`; `tls-native-roots`: `native_roots()`, the platform's roots.
//!
//! # Implementation
//!
//! * [`tcp`]`(..).build()` must run inside a tokio runtime (it spawns the maintenance
//!   task); outside one it returns [`BuildError::NoRuntime`] rather than panicking.
//! * Timeouts (the pool's and the per-attempt connect timeout) and maintenance sleeps use
//!   async-io's timer thread, so the runtime needs I/O enabled but no time driver.
//! * [`TcpManager`] and [`UnixManager`] are [`net`]'s (netpool-net's) generic managers over
//!   this crate's runtime: the connect loop, socket options, address checks and liveness
//!   peek are the same code as netpool-std's and netpool-smol's.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod runtime;

pub use crate::runtime::{spawn_keyed_maintenance, spawn_maintenance};

netpool_net::adapter!(Tokio);
