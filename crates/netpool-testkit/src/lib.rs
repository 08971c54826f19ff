//! Loopback test servers for netpool's tests, examples and benches (not published).
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use netpool_testkit::EchoServer;
//!
//! let server = EchoServer::start()?;
//! server.close_idle_after(Some(Duration::from_millis(20)));
//! let mut conn = std::net::TcpStream::connect(server.addr())?;
//! assert_eq!(conn.read(&mut [0; 8])?, 0); // closed for idling
//! assert!(server.wait_until(Duration::from_secs(5), |c| c.live == 0 && c.closed == 1));
//! # conn.write_all(b"x").ok();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Everything binds `127.0.0.1` only, runs on plain threads (so any runtime can use it),
//! and stops when dropped.

#![doc(test(attr(deny(warnings))))]

mod blackhole;
pub mod chaos;
pub mod checks;
mod echo;
pub mod harness;
mod load;
mod numbers;
pub mod operations;
mod redis;
mod server;
pub mod tls;
mod wait;

pub use crate::blackhole::Blackhole;
pub use crate::echo::{Counts, EchoServer};
pub use crate::load::Load;
pub use crate::numbers::Numbers;
pub use crate::redis::{LocalCluster, RedisServer, cluster_script, free_port};
pub use crate::tls::TlsEchoServer;
pub use crate::wait::eventually;
