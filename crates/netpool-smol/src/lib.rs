//! netpool on smol: a pool of smol's `TcpStream`s in one line, maintained by a smol task.
//!
//! ```
//! # let server = netpool_testkit::EchoServer::start()?;
//! # let addr = server.addr().to_string();
//! use std::time::Duration;
//! use smol::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // addr is "127.0.0.1:<port>" of an echo server
//! let pool = netpool_smol::tcp(addr)
//!     .max_size(8)
//!     .wait_timeout(Some(Duration::from_secs(5)))
//!     .build()?; // maintenance is a task on smol's global executor
//!
//! smol::block_on(async {
//!     let tasks: Vec<_> = (0..32u8)
//!         .map(|i| {
//!             let pool = pool.clone();
//!             smol::spawn(async move {
//!                 let mut conn = pool.get().await?; // a smol::net::TcpStream
//!                 conn.write_all(&[i]).await?;
//!                 let mut reply = [0];
//!                 conn.read_exact(&mut reply).await?;
//!                 assert_eq!(reply, [i]);
//!                 Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//!             })
//!         })
//!         .collect();
//!     for t in tasks {
//!         t.await.unwrap();
//!     }
//! });
//! assert!(pool.stats().connections_created <= 8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Keep the protocol in sync: a cut exchange closes its connection
//!
//! A request/reply protocol stays in sync only if every reply is read. If an exchange is
//! cut half way (a timeout around it fires, the task is cancelled, an I/O error returns
//! early with `?`), its reply is still on the way, and the next user of the connection
//! would read it. So mark the connection broken before the exchange and clear the mark
//! after it: a guard dropped in between closes the connection instead of returning it.
//! ([`Pooled::discard`] closes it explicitly, after an error you handle.)
//!
//! ```
//! use std::time::Duration;
//! use smol::io::{AsyncReadExt, AsyncWriteExt};
//! use netpool_smol::{Pool, Pooled};
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
//! smol::block_on(async {
//!     // A server that accepts and never answers.
//!     let silent = smol::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let pool = netpool_smol::tcp(silent.local_addr()?).max_size(1).build()?;
//!     let timeout = async {
//!         smol::Timer::after(Duration::from_millis(50)).await;
//!         Err("timed out".into())
//!     };
//!     assert!(smol::future::or(ping(&pool), timeout).await.is_err());
//!     assert_eq!(pool.stats().closed_broken, 1); // not returned with a reply pending
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `tracing`: netpool-core's `tracing` feature: the pool logs its events (connects that
//!   failed, the backoff, connections opened and closed, ...) under target `netpool`. For
//!   typed events without `tracing`, see `event_handler` on the builder.
//! * `tls` (off by default): `tls(addr, config)` and `TlsManager`, TLS over the
//!   TCP manager with rustls and futures-rustls.
//! * `tls-ring` (default) / `tls-aws-lc-rs`: the crypto provider of `tls_provider()` and
//!   `tls_config(roots)` (aws-lc-rs wins when both are on); `tls-webpki-roots`:
//!   `webpki_roots()`; `tls-native-roots`: `native_roots()`, the platform's roots.
//!
//! # Implementation
//!
//! * smol's streams are async-io's `Async<std::net::TcpStream>`: they work under any
//!   executor, and so does this pool. [`tcp`]`(..).build()` works from any thread.
//! * Maintenance runs on smol's global executor (`smol::spawn`), which starts its own
//!   thread(s) on first use; timeouts use async-io's timer thread.
//! * [`TcpManager`] and [`UnixManager`] are [`net`]'s (netpool-net's) generic managers over
//!   this crate's runtime: the connect loop, socket options, address checks and liveness
//!   peek are the same code as netpool-std's and netpool-tokio's.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod runtime;

pub use crate::runtime::{spawn_keyed_maintenance, spawn_maintenance};

netpool_net::adapter!(Smol);
