//! Benchmark helpers for netpool (see `benches/` and `src/bin/report.rs`).
//!
//! * [`alloc::CountingAlloc`]: a global allocator that counts heap allocations, so each
//!   bench can print how many allocations one get+return cycle makes;
//! * [`extra`]: a side file next to criterion's output for the numbers criterion does not
//!   record (allocations per cycle, fairness), read back by the `report` bin.

pub mod alloc;
pub mod extra;
