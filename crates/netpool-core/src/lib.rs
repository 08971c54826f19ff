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
//! # Errors
//!
//! [`Pool::get`] and the other checkouts return [`Error`]; [`Builder::build`] returns
//! [`BuildError`]. The convention for every error in netpool: the message names its cause
//! (`could not connect: connection refused`), because most loggers print only the top
//! level, and [`source`](std::error::Error::source) returns the cause too, for code that
//! inspects it. A reporter that walks the source chain (anyhow's `{:#}`) therefore prints
//! the cause twice: log `{}`.
//!
//! # Features
//!
//! * `tracing`: logs the pool's [`Event`]s with the `tracing` crate, under target
//!   `netpool`: connect failures and entering the backoff at `warn`, recovery at `info`,
//!   opened and closed connections, failed checks, timed-out gets, the backoff re-armed,
//!   resize and close at `debug`. Nothing
//!   is logged per checkout. Without a subscriber that wants them, an event costs a relaxed
//!   load.
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
//! * Fail fast only on evidence: [`Error::Unavailable`] needs failed connect attempts.
//!   After a failed connect, the next connect waits for a jittered, exponential backoff
//!   delay and only one caller at a time (the probe) makes it; a caller that needs a new
//!   connection meanwhile waits, within its own deadline, for the outcome of that next
//!   attempt (or makes it itself) and gets `Unavailable` only if it fails. After three
//!   failed connects in a row such callers fail at once. A connection that `has_broken`
//!   flags, that fails `is_valid` or that is discarded never fails another caller; new
//!   connections that keep failing on their first use only space out new connects. A
//!   caller's own deadline firing first, or a timeout under [`Pool::get_blocking`], is no
//!   evidence. [`Builder::fail_fast`] turns all of this off.
//! * [`Pool::resize`] and the fast paths: `resize` changes `max_size` and the permits
//!   together under one lock, so concurrent resizes cannot leave them disagreeing. A
//!   shrink takes free permits with one CAS on the permit word; if it cannot take enough,
//!   the same CAS sets the flag that sends every acquire and release through the waiters'
//!   lock, so a release racing the shrink either pays the remaining debt or goes to the
//!   oldest waiter, and never leaves a permit free while a waiter sleeps. Returned
//!   connections check the cap *after* pushing themselves idle and after the release's
//!   RMW on that same word; `resize` drains idle connections after its own RMW, so one of
//!   the two always sees the other and no connection stays idle above the cap.

#![doc(test(attr(deny(warnings))))]

mod clock;
mod config;
mod error;
mod events;
mod hooks;
mod idle;
mod keyed;
mod maintain;
mod manager;
mod multiplex;
mod pool;
mod pooled;
mod sema;
mod shared;
mod stats;
mod sync;

pub use crate::config::{Builder, Config, QueueStrategy};
pub use crate::error::{BuildError, Error, LastConnectError};
pub use crate::events::{Check, CloseReason, ConnectFailure, Event, EventHandler, TimedOut};
pub use crate::hooks::{Hooks, NoHooks};
pub use crate::keyed::{KeyedBuilder, KeyedPool, KeyedStats, WeakKeyedPool};
pub use crate::manager::Manager;
pub use crate::multiplex::{
    ConnectionLoad, Lent, MAX_CONCURRENT_PER_CONNECTION, SharedBuilder, SharedPool, SharedStats,
    WeakSharedPool,
};
pub use crate::pool::{NoManager, Pool, WeakPool};
pub use crate::pooled::{Meta, Pooled};
pub use crate::stats::Stats;
