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
//!   `netpool`: connect failures, entering the backoff, timed-out gets (with the pool's
//!   state, see [`TimeoutReport`]) and connections held past the
//!   [`leak_threshold`](Builder::leak_threshold) at `warn`, recovery at `info`, opened
//!   and closed connections, failed checks, the backoff re-armed, resize and close at
//!   `debug`; each line names the pool ([`Builder::name`]). Nothing
//!   is logged per checkout. Without a subscriber that wants them, an event costs a relaxed
//!   load.
//! * `metrics`: records the pool's instruments through the `metrics` facade, with
//!   OpenTelemetry's database-client names (`db.client.connection.count`, `.max`,
//!   `.idle.min`, `.pending_requests`, `.timeouts`, histograms `.wait_time`, `.use_time`,
//!   `.create_time`) and netpool's own (`netpool.connection.created`,
//!   `netpool.connection.closed` by `reason`, `netpool.connect.errors`,
//!   `netpool.gets.unavailable`, `netpool.backoff.active`), labelled with the pool's name.
//!   Nothing is recorded on the hot path: maintenance samples the gauges and turns
//!   [`Stats`]' counters into increments; histograms are recorded on the slow paths. The
//!   instruments are registered when the pool is built, so install the recorder first.
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
//! * Every push into the idle queue settles (trims above the cap, wakes a caller waiting
//!   for room, drains a closed pool) after an RMW on the permit word, including the
//!   put-back of a maintenance or `retain` pass that wrapped around to a connection it
//!   already kept. One trimmer runs at a time (requests from others are handed to it
//!   through one counter), so concurrent trims never close a connection too many.
//! * A guard counts no reference to the pool: its permit keeps the pool alive (the pool
//!   holds a strong reference to itself until it is closed and every permit is back).
//!   The guard's release of its permit is therefore its last use of the pool, and another
//!   thread (or the keep-alive that release hands back) may free the pool right after it,
//!   before the releasing call has returned. As `Arc::drop` does for its count, no
//!   reference into the pool is live across that point: the guard keeps a raw pointer
//!   and takes a reference only for one statement before the release; the permit holds
//!   the semaphore by a raw pointer (a reference field would be retagged and protected
//!   while the permit is passed by value, to `mem::drop` say); and the release functions
//!   take raw pointers and borrow only the atomic permit word for the CAS (an
//!   `UnsafeCell`, which may be freed while borrowed, as in `Arc::drop`) or hold the
//!   waiters' lock until they unlock it. A guard leaked with `mem::forget` never
//!   releases its permit, so it keeps the whole pool alive (manager included).
//! * `close` wakes every wait: waiters for a permit, for room and in the connect backoff
//!   (for a probe's outcome or their turn), and each re-checks `closed` after every wait,
//!   so no get opens a connection on a closed pool (nor on a removed key's pool).
//! * In a [`KeyedPool`], a key's first get creates its pool under its shard's write
//!   lock, calling the builder's manager factory there: the factory must not call into
//!   the same `KeyedPool` (that would deadlock on the shard's lock).
//! * Layers: every file imports only from its own layer (from files listed before it)
//!   or lower ones; the one circle is `keyed` and its builder. Bottom to top:
//!   1. Leaves: `types` (close reasons, [`Fault`], [`Role`], [`QueueStrategy`]), `clock`
//!      (the coarse clock, the stamps that double as connection ids), `error`,
//!      `box_error`, `sync` (std or loom), `stats`, `manager`, `keyed/map`.
//!   2. Primitives: `watchdog` (one timer for many deadlines, and the checks' alarms),
//!      `sema` (the permits' semaphore), `idle` (the idle queue, the connection record
//!      and [`Meta`]), `shared/deadline` (deadlines, `run_until`),
//!      `keyed/cap` (a keyed pool's total cap).
//!   3. Observability and settings: `events` (the events' types and their emitter),
//!      `hooks`, `metrics`, `config` ([`Config`], the builders' setter macros), `holders`.
//!   4. The pool's untyped state: `shared/permit`, `shared/backoff` (the connect backoff
//!      and its evidence), `shared/refresh`, then `shared` (the connection count, the
//!      waits and wake-ups).
//!   5. The pool: `pool/inner`, `keyed/cap/room` (waiting for room under the cap),
//!      `pool/run_hooks`, `pool/visit` (maintenance's and `retain`'s pass), `pooled` (the
//!      guard), `pool`.
//!   6. On top: `builder` ([`Builder`]), `maintain`, `keyed` with `keyed/builder`,
//!      `multiplex` with `multiplex/inner` ([`SharedPool`]), `refresh` (refresh, pause and
//!      [`Pooled::report`]), `replica`.

#![doc(test(attr(deny(warnings))))]

mod box_error;
mod builder;
mod clock;
mod config;
mod error;
mod events;
mod holders;
mod hooks;
mod idle;
mod keyed;
mod maintain;
mod manager;
#[cfg(feature = "metrics")]
mod metrics;
mod multiplex;
mod pool;
mod pooled;
mod refresh;
mod replica;
mod sema;
mod shared;
mod stats;
mod sync;
mod types;
mod watchdog;

pub use crate::box_error::BoxError;
pub use crate::builder::Builder;
pub use crate::config::Config;
pub use crate::error::{BuildError, Error, LastConnectError};
pub use crate::events::{Check, CloseReason, ConnectFailure, Event, EventHandler, TimedOut};
pub use crate::holders::{Holder, TimeoutReport};
pub use crate::hooks::{BoxHookFuture, FnHooks, Hooks, NoHooks};
pub use crate::idle::Meta;
pub use crate::keyed::{KeyedBuilder, KeyedPool, KeyedStats, WeakKeyedPool};
pub use crate::manager::Manager;
pub use crate::multiplex::{
    ConnectionLoad, KeyedSharedPool, Lent, MAX_CONCURRENT_PER_CONNECTION, SharedBuilder,
    SharedPool, SharedStats, WeakSharedPool,
};
pub use crate::pool::{NoManager, Pool, WeakPool};
pub use crate::pooled::Pooled;
pub use crate::replica::{Lease, NodeState, ReplicaSet};
pub use crate::stats::Stats;
pub use crate::types::{Fault, QueueStrategy, Role};
