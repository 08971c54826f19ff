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
//! # Features
//!
//! * `tls` (off by default): [`tls`]`(addr, config)` and [`TlsManager`], TLS over the
//!   TCP manager with rustls (its ring provider) and tokio-rustls.
//!
//! # Implementation
//!
//! * [`tcp`]`(..).build()` must run inside a tokio runtime (it spawns the maintenance
//!   task); outside one it returns [`BuildError::NoRuntime`] rather than panicking.
//! * Timeouts (the pool's and the per-attempt connect timeout) and maintenance sleeps use
//!   async-io's timer thread, so the runtime needs I/O enabled but no time driver.
//! * [`TcpManager`] and [`UnixManager`] are [`netpool_std::net`]'s generic managers over
//!   this crate's runtime: the connect loop, socket options, address checks and liveness
//!   peek are the same code as netpool-std's and netpool-smol's.

#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod maintain;
mod runtime;
mod tcp;
#[cfg(feature = "tls")]
mod tls;

pub use crate::maintain::spawn_maintenance;
pub use crate::runtime::Tokio;
#[cfg(unix)]
pub use crate::tcp::UnixManager;
pub use crate::tcp::{Pool, TcpManager, tcp};
#[cfg(feature = "tls")]
pub use crate::tls::{TlsManager, TlsPool, tls};
pub use netpool_std::net::{BuildError, NetError, TcpBuilder, TcpOptions};
#[cfg(feature = "tls")]
pub use netpool_std::net::{TlsBuilder, TlsError, rustls};
