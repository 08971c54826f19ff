//! The in-memory manager of the `memory` and `metrics` examples: no network, no setup.

use std::convert::Infallible;

use netpool_core::Manager;

/// An in-memory connection manager: a connection is a counter of the requests it served
/// (each user adds one).
#[derive(Debug, Default, Clone, Copy)]
pub struct Mem {
    /// A connection "breaks" (is closed on return) after every this many requests, so
    /// that closes show up in the stats; `None`: never.
    pub breaks_every: Option<u64>,
}

impl Manager for Mem {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }
    async fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, conn: &mut u64) -> bool {
        self.breaks_every
            .and_then(|n| (*conn + 1).checked_rem(n))
            .is_some_and(|r| r == 0)
    }
}
