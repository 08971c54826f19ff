//! The chaos suite on smol: 32 client tasks through a pool of 8, behind a
//! fault-injecting proxy. The scenarios live in `netpool_testkit::chaos::scenario`, the
//! harness (how to build a smol pool, run tasks and make one request) in `common`.

mod common;

netpool_testkit::chaos_tests!(common::Smol);
