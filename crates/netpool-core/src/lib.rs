//! A runtime-agnostic, lock-free, generic connection pool: implement [`Manager`] for your
//! transport, build a [`Pool`], and check connections out with [`Pool::get`] (async, on any
//! executor) or [`Pool::get_blocking`] (threads).
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use netpool_core::{Manager, Pool, Pooled};
//!
//! /// A pretend transport: each connection is a buffer.
//! struct Buffers;
//!
//! impl Manager for Buffers {
//!     type Connection = Vec<u8>;
//!     type Error = Infallible;
//!
//!     async fn connect(&self) -> Result<Vec<u8>, Infallible> {
//!         Ok(Vec::new())
//!     }
//!     async fn is_valid(&self, _conn: &mut Vec<u8>) -> Result<(), Infallible> {
//!         Ok(())
//!     }
//!     fn has_broken(&self, conn: &mut Vec<u8>) -> bool {
//!         conn.len() > 1024 // say a huge buffer means the stream is out of sync
//!     }
//! }
//!
//! # futures_lite::future::block_on(async {
//! let pool = Pool::builder()
//!     .max_size(4)
//!     .wait_timeout(Some(Duration::from_secs(1)))
//!     .build(Buffers)?;
//!
//! let mut conn = pool.get().await?;
//! conn.extend_from_slice(b"PING");
//! drop(conn); // back to the pool
//!
//! let conn = pool.get().await?;
//! assert_eq!(&conn[..], b"PING"); // the same connection again
//! assert_eq!(Pooled::meta(&conn).use_count, 2);
//! assert_eq!(pool.stats().connections_created, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Features
//!
//! * `loom`: forwards `loom` to event-listener and concurrent-queue, for the loom models in
//!   `tests/loom.rs` (build with `RUSTFLAGS="--cfg loom"`).
//!
//! The runtime adapters are separate crates: `netpool-tokio`, `netpool-smol` and
//! `netpool-std` supply TCP and Unix managers and run [`Pool::maintain`] for you.
//!
//! # Implementation
//!
//! * The hot path (an idle connection is free, no check due) is one CAS to take a permit,
//!   a pop from a lock-free queue, a coarse clock read (`CLOCK_MONOTONIC_COARSE` on
//!   Linux) and, on return, a push and one CAS. No lock, no allocation, no syscall.
//! * Waiters are served first come, first served: a returned permit goes straight to the
//!   oldest waiter, and newcomers queue behind. Waiting allocates nothing (waker slots
//!   reused under a short lock); `event-listener` parks the rarer waits for room and for
//!   `wait_closed`.
//! * Timeouts use `async-io`'s `Timer`: the first timed wait starts async-io's background
//!   thread (named "async-io"), which drives timers under any executor or none. Waiters
//!   share one timer per pool (armed for the earliest deadline), so a wait does not cost a
//!   timer registration; connects and checks that must be bounded get their own.
//! * [`Pool::get_blocking`] runs the same state machine as [`Pool::get`] under
//!   `futures_lite::future::block_on`.

#![doc(test(attr(deny(warnings))))]

mod clock;
mod config;
mod error;
mod idle;
mod keyed;
mod maintain;
mod manager;
mod pool;
mod pooled;
mod sema;
mod shared;
mod stats;
mod sync;

pub use crate::config::{Builder, Config, QueueStrategy};
pub use crate::error::{BuildError, Error, LastConnectError};
pub use crate::keyed::{KeyedBuilder, KeyedPool, KeyedStats, WeakKeyedPool};
pub use crate::manager::Manager;
pub use crate::pool::{NoManager, Pool, WeakPool};
pub use crate::pooled::{Meta, Pooled};
pub use crate::stats::Stats;
