//! Operations on a running pool on the blocking runtime: a host name re-pointed under 64
//! threads (the re-resolution runs on a thread of its own), `TCP_USER_TIMEOUT`. The
//! checks live in `netpool_testkit::operations`.

mod common;

use common::Threads;

netpool_testkit::operations_tests!(Threads, 64);
