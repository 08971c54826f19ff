//! The chaos suite on tokio: 32 client tasks through a pool of 8, behind a
//! fault-injecting proxy. The scenarios live in `netpool_testkit::chaos::scenario`, the
//! harness in `netpool_testkit::harness` over a tokio runtime (`common`).

mod common;

netpool_testkit::chaos_tests!(netpool_testkit::harness::Tcp(common::Tokio::new()));
