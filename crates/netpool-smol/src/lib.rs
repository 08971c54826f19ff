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
//! # Features
//!
//! * `tls` (off by default): [`tls`]`(addr, config)` and [`TlsManager`], TLS over the
//!   TCP manager with rustls (its ring provider) and futures-rustls.
//!
//! # Implementation
//!
//! * smol's streams are async-io's `Async<std::net::TcpStream>`: they work under any
//!   executor, and so does this pool. [`tcp`]`(..).build()` works from any thread.
//! * Maintenance runs on smol's global executor (`smol::spawn`), which starts its own
//!   thread(s) on first use; timeouts use async-io's timer thread.
//! * [`TcpManager`] and [`UnixManager`] are [`netpool_std::net`]'s generic managers over
//!   this crate's runtime: the connect loop, socket options, address checks and liveness
//!   peek are the same code as netpool-std's and netpool-tokio's.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod maintain;
mod runtime;
mod tcp;
#[cfg(feature = "tls")]
mod tls;

pub use crate::maintain::spawn_maintenance;
pub use crate::runtime::Smol;
#[cfg(unix)]
pub use crate::tcp::UnixManager;
pub use crate::tcp::{Pool, TcpManager, tcp};
#[cfg(feature = "tls")]
pub use crate::tls::{TlsManager, TlsPool, tls};
pub use netpool_std::net::{BuildError, NetError, TcpBuilder, TcpOptions};
#[cfg(feature = "tls")]
pub use netpool_std::net::{TlsBuilder, TlsError, rustls};
