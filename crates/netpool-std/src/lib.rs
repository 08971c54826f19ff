//! netpool for plain threads: a blocking TCP pool in one line, with its maintenance on a
//! named thread. The managers are [`net`]'s (the netpool-net crate) over blocking sockets.
//!
//! ```
//! # let server = netpool_testkit::EchoServer::start()?;
//! # let addr = server.addr().to_string();
//! use std::io::{Read, Write};
//! use std::time::Duration;
//!
//! // addr is "127.0.0.1:<port>" of an echo server
//! let pool = netpool_std::tcp(addr)
//!     .max_size(8)
//!     .wait_timeout(Some(Duration::from_secs(5)))
//!     .build()?;
//!
//! let handles: Vec<_> = (0..4u8)
//!     .map(|i| {
//!         let pool = pool.clone();
//!         std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!             let mut conn = pool.get_blocking()?; // a std::net::TcpStream
//!             conn.write_all(&[i])?;
//!             let mut reply = [0];
//!             conn.read_exact(&mut reply)?;
//!             assert_eq!(reply, [i]);
//!             Ok(())
//!         })
//!     })
//!     .collect();
//! for h in handles {
//!     h.join().unwrap().unwrap();
//! }
//! assert!(pool.stats().connections_created <= 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Keep the protocol in sync: a failed exchange closes its connection
//!
//! A request/reply protocol stays in sync only if every reply is read. If an exchange
//! fails half way (a read timeout, an I/O error returned early with `?`, a panic), its
//! reply may still be on the way, and the next user of the connection would read it. So
//! mark the connection broken before the exchange and clear the mark after it: a guard
//! dropped in between closes the connection instead of returning it.
//! ([`Pooled::discard`] closes it explicitly, after an error you handle.)
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use netpool_std::{Pool, Pooled};
//!
//! fn ping(pool: &Pool) -> Result<[u8; 7], Box<dyn std::error::Error>> {
//!     let mut conn = pool.get_blocking()?;
//!     conn.set_read_timeout(Some(Duration::from_millis(50)))?;
//!     Pooled::set_broken(&mut conn, true); // dropped before the reply is read: closed
//!     conn.write_all(b"PING\r\n")?;
//!     let mut reply = [0; 7];
//!     conn.read_exact(&mut reply)?;
//!     Pooled::set_broken(&mut conn, false); // in sync again: back to the pool on drop
//!     Ok(reply)
//! }
//!
//! // A server that accepts and never answers.
//! let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let pool = netpool_std::tcp(silent.local_addr()?).max_size(1).build()?;
//! assert!(ping(&pool).is_err()); // the read timed out
//! assert_eq!(pool.stats().closed_broken, 1); // not returned with a reply pending
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `tracing`: netpool-core's `tracing` feature: the pool logs its events (connects that
//!   failed, the backoff, connections opened and closed, ...) under target `netpool`. For
//!   typed events without `tracing`, see `event_handler` on the builder.
//! * `tls` (off by default): `tls(addr, config)` and `TlsManager`, TLS over the
//!   TCP manager with rustls and its blocking `StreamOwned`.
//! * `tls-ring` (default) / `tls-aws-lc-rs`: the crypto provider of `tls_provider()` and
//!   `tls_config(roots)` (aws-lc-rs wins when both are on); `tls-webpki-roots`:
//!   `webpki_roots()`; `tls-native-roots`: `native_roots()`, the platform's roots.
//!
//! # Implementation
//!
//! * The managers' futures block in their first poll: use the pool's `get_blocking`, from
//!   threads, never from async tasks.
//! * Each [`tcp`] pool starts one thread, `netpool-maintenance`, that sleeps between passes
//!   and ends within one interval of the pool being dropped or closed.
//! * Timeouts use async-io's timer thread (see netpool-core).

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod runtime;
#[cfg(feature = "tls")]
mod tls;

pub use crate::runtime::{spawn_keyed_maintenance, spawn_maintenance};
pub use netpool_net::keyed_maintenance_loop;

netpool_net::adapter!(Threads);
