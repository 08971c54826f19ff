//! netpool for plain threads: a blocking TCP pool in one line, with its maintenance on a
//! named thread; also home of the runtime-neutral [`net`] building blocks that
//! netpool-tokio and netpool-smol share.
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
//! # Features
//!
//! * `tls` (off by default): [`tls`]`(addr, config)` and [`TlsManager`], TLS over the
//!   TCP manager with rustls (its ring provider) and its blocking `StreamOwned`.
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

mod maintain;
pub mod net;
mod runtime;
mod tcp;
#[cfg(feature = "tls")]
mod tls;

pub use crate::maintain::spawn_maintenance;
pub use crate::net::{BuildError, NetError, TcpBuilder, TcpOptions};
#[cfg(feature = "tls")]
pub use crate::net::{TlsBuilder, TlsError, rustls};
pub use crate::runtime::Threads;
#[cfg(unix)]
pub use crate::tcp::UnixManager;
pub use crate::tcp::{Pool, TcpManager, tcp};
#[cfg(feature = "tls")]
pub use crate::tls::{TlsManager, TlsPool, tls};
