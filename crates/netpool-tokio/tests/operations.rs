//! Operations on a running pool on tokio: a host name re-pointed under 64 tasks (the
//! re-resolution drains the old address), `TCP_USER_TIMEOUT`. The checks live in
//! `netpool_testkit::operations`.

mod common;

netpool_testkit::operations_tests!(common::Tokio::new(), 64);
