//! A refresh's bookkeeping, kept in `Shared`: the stale stamp, the stale connections
//! left, the connect turns (the operations on a pool are in `crate::refresh`).

use std::fmt;

use event_listener::Event as Notify;

use crate::clock::Nanos;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// A refresh's bookkeeping: the stale stamp, the stale connections left, connect turns.
pub(crate) struct Refresh {
    /// Connections created before this stamp are stale (0: no refresh yet).
    pub(super) cutoff: AtomicU64,
    /// Stale connections that may still be open: the flag comes down at 0.
    pub(crate) stale: AtomicUsize,
    /// Connections with a record (opened, not closed): what a refresh makes stale.
    pub(super) open: AtomicUsize,
    /// New connections still to open before the refresh is over: connects take turns
    /// until then (or while stale connections remain).
    pub(super) replacing: AtomicUsize,
    /// Connects in progress that hold a turn.
    pub(super) connecting: AtomicUsize,
    /// At most this many connects at once while refreshing.
    pub(super) limit: usize,
    /// Notified when a turn is given back.
    pub(super) turn: Notify,
}

/// A connect turn while refreshing: gives the turn back when dropped.
pub(crate) struct Turn<'a>(pub(super) &'a Refresh);

impl Refresh {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            cutoff: AtomicU64::new(0),
            stale: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            replacing: AtomicUsize::new(0),
            connecting: AtomicUsize::new(0),
            limit: limit.max(1),
            turn: Notify::new(),
        }
    }

    /// Whether a connection created at `created` predates the last refresh.
    #[inline]
    pub(crate) fn is_stale(&self, created: Nanos) -> bool {
        created < self.cutoff.load(Ordering::Acquire)
    }

    /// A connection got its record (opened or added).
    pub(crate) fn born(&self) {
        self.open.fetch_add(1, Ordering::SeqCst);
        if self.replacing.load(Ordering::Acquire) != 0 {
            let _done = self
                .replacing
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.connecting.fetch_sub(1, Ordering::AcqRel);
        self.0.turn.notify_additional(1);
    }
}

impl fmt::Debug for Refresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresh")
            .field("cutoff", &self.cutoff.load(Ordering::Relaxed))
            .field("stale", &self.stale.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
