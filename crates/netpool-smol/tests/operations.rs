//! Operations on a running pool on smol: a host name re-pointed under 64 tasks (the
//! re-resolution drains the old address), `TCP_USER_TIMEOUT`. The checks live in
//! `netpool_testkit::operations`.

mod common;

use common::Smol;

netpool_testkit::operations_tests!(Smol, 64);
