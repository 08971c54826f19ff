//! Runnable examples for netpool: see the `[[example]]` targets (`echo`, `echo_smol`,
//! `echo_std`, `chaos`, `memory`, `metrics`).
//!
//! The library holds what the examples share: [`echo`], the echo demos' command line,
//! built-in server, client loop and report; [`logging`], which prints the pools' events
//! with `tracing-subscriber`; [`memory`], the in-memory manager of the `memory` and
//! `metrics` examples; and [`prometheus`], the `metrics` example's exporter. The Redis and
//! PostgreSQL clients are in the `netpool-clients` package, so that this one builds
//! quickly.

pub mod echo;
pub mod logging;
pub mod memory;
pub mod prometheus;

/// The README's code blocks, compiled (and, where they need no server, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
