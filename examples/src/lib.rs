//! Runnable examples for netpool: see the `[[example]]` targets (`echo`, `echo_smol`,
//! `echo_std`, `chaos`, `memory`, `metrics`).
//!
//! The library holds what the echo demos share: [`echo`], their command line, built-in
//! server and report, and [`logging`], which prints the pools' events with
//! `tracing-subscriber`, and [`prometheus`], the `metrics` example's exporter. The Redis and PostgreSQL clients are in the `netpool-clients`
//! package, so that this one builds quickly.

pub mod echo;
pub mod logging;
pub mod prometheus;

/// The README's code blocks, compiled (and, where they need no server, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
