//! Benchmark helpers for netpool (see `benches/`).
