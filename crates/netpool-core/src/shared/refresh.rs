//! A refresh's bookkeeping, kept in [`Shared`]: the stale stamp, the stale connections
//! left, the connect turns (the operations on a pool are in `crate::refresh`).

use std::fmt;

use event_listener::Event as Notify;

use super::Shared;
use super::{Deadline, Refused};
use crate::clock::{self, Nanos};
use crate::stats::Counters;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// A refresh's bookkeeping: the stale stamp, the stale connections left, connect turns.
pub(crate) struct Refresh {
    /// Connections created before this stamp are stale (0: no refresh yet).
    cutoff: AtomicU64,
    /// Stale connections that may still be open: the flag comes down at 0.
    pub(crate) stale: AtomicUsize,
    /// Connections with a record (opened, not closed): what a refresh makes stale.
    open: AtomicUsize,
    /// New connections still to open before the refresh is over: connects take turns
    /// until then (or while stale connections remain).
    replacing: AtomicUsize,
    /// Connects in progress that hold a turn.
    connecting: AtomicUsize,
    /// At most this many connects at once while refreshing.
    limit: usize,
    /// Notified when a turn is given back.
    turn: Notify,
}

/// A connect turn while refreshing: gives the turn back when dropped.
pub(crate) struct Turn<'a>(&'a Refresh);

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

impl Shared {
    /// A connection with a record is closed (or detached): counts it out, and brings the
    /// refresh flag down when it was the last stale one.
    pub(crate) fn record_gone(&self, created: Nanos) {
        let refresh = &self.refresh;
        // Saturating: only connections that got a record come here, but a miscount
        // must not wrap.
        let _counted = refresh
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if refresh.is_stale(created) {
            let left = refresh
                .stale
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if left == Ok(1) {
                self.set_refreshing(false);
            }
        }
    }

    /// Ends a refresh whose stale connections are all gone (maintenance saw every
    /// connection idle and none stale), whatever the count says.
    pub(crate) fn refresh_over(&self) {
        self.refresh.stale.store(0, Ordering::SeqCst);
        self.set_refreshing(false);
    }

    /// Starts a refresh: every connection with a record now is stale. Returns how many.
    pub(crate) fn start_refresh(&self) -> usize {
        let refresh = &self.refresh;
        let cutoff = crate::clock::unique_stamp(clock::now());
        refresh.cutoff.fetch_max(cutoff, Ordering::SeqCst);
        let stale = refresh.open.load(Ordering::SeqCst);
        refresh.stale.store(stale, Ordering::SeqCst);
        refresh.replacing.store(stale, Ordering::SeqCst);
        Counters::bump(&self.counters.refreshes);
        if stale > 0 {
            self.set_refreshing(true);
        } else {
            self.set_refreshing(false);
        }
        stale
    }

    /// While a refresh is under way, waits for one of the `refresh_connects` turns to
    /// connect (within the caller's deadline; `wait` false: not at all). `None` outside a
    /// refresh.
    pub(crate) async fn connect_turn(
        &self,
        deadline: &mut Deadline,
        wait: bool,
    ) -> Result<Option<Turn<'_>>, Refused> {
        let refresh = &self.refresh;
        loop {
            if refresh.replacing.load(Ordering::Acquire) == 0 && !self.refreshing() {
                return Ok(None);
            }
            if self.is_closed() {
                return Err(Refused::Closed);
            }
            let cur = refresh.connecting.load(Ordering::Acquire);
            if cur < refresh.limit {
                if refresh
                    .connecting
                    .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(Some(Turn(refresh)));
                }
                continue;
            }
            if !wait {
                return Err(Refused::NotYet);
            }
            let listener = refresh.turn.listen();
            if refresh.connecting.load(Ordering::Acquire) < refresh.limit
                || (refresh.replacing.load(Ordering::Acquire) == 0 && !self.refreshing())
            {
                continue;
            }
            if crate::shared::run_until(deadline.at(), listener)
                .await
                .is_none()
            {
                return Err(Refused::Timeout);
            }
        }
    }
}
