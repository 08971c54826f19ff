//! Maintenance: idle and lifetime reaping, background checks, `min_idle` refill.
//!
//! # Implementation details
//!
//! One pass visits each connection that is idle when the pass starts, one at a time, so
//! concurrent gets find the others idle. A visited connection is closed if it reached its
//! lifetime, or if it sat idle past `idle_timeout` while more than `min_idle` are idle
//! (so reaping never goes below `min_idle`); it is checked with `is_valid` if it sat idle
//! past `check_idle_after` (so a dead one is replaced before anyone asks for it; checkout
//! still checks a connection idle that long, since the server may go away between the
//! two); the rest go back.
//! Then the pass opens connections until `min_idle` are idle, within `max_size`,
//! respecting the connect backoff. Maintenance never spawns: the adapters loop it.

use crate::Manager;
use crate::clock;
use crate::idle::Idle;
use crate::pool::{Inner, Pool};
use crate::shared::Deadline;
use crate::sync::Ordering;
use crate::types::CloseReason;

/// The bound on one check or connect in maintenance when `connect_timeout` is off.
const MAX_MAINTENANCE_STEP: std::time::Duration = std::time::Duration::from_secs(30);

impl<M: Manager> Pool<M> {
    /// Runs one maintenance pass: closes expired idle connections, checks long-idle ones,
    /// and opens connections up to `min_idle`.
    ///
    /// The adapter crates run it every [`Pool::maintenance_interval`]; call it yourself
    /// when you drive the core directly.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection being checked or opened when the future is dropped is
    /// closed, and its slot freed.
    pub async fn maintain(&self) {
        let inner = &*self.inner;
        let shared = &inner.shared;
        self.diagnose();
        if shared.is_closed() {
            return;
        }
        let min_idle = shared.config.min_idle.unwrap_or(0);
        // Maintenance holds a strong handle while it runs: never let a check or a connect
        // hang it, even with `connect_timeout` off.
        let bound = shared
            .config
            .connect_timeout
            .unwrap_or(MAX_MAINTENANCE_STEP);
        let now = clock::now();
        let mut pass = Visit::new(inner);
        while let Some(item) = pass.next() {
            let mut live = inner.live(item, CloseReason::Uncounted);
            let Some(item) = live.item() else { continue };
            // Predates a refresh (came back while the refresh's own pass ran).
            if shared.refresh.is_stale(item.created) {
                live.set_reason(CloseReason::Refreshed);
                continue;
            }
            match inner.expired(item, now) {
                Some(CloseReason::Idle) if inner.idle.len() >= min_idle => {
                    live.set_reason(CloseReason::Idle);
                    continue;
                }
                Some(CloseReason::Lifetime) => {
                    live.set_reason(CloseReason::Lifetime);
                    continue;
                }
                _ => {}
            }
            let check = shared
                .check_after
                .is_some_and(|after| after > 0 && item.unchecked_for(now) >= after);
            if check {
                let at = Deadline::new(Some(bound)).at();
                if inner.validate(&mut live, at).await != Some(true) {
                    live.set_reason(CloseReason::Invalid);
                    continue;
                }
            }
            pass.keep(live.take());
        }
        // Every connection idle (none out, none opening) and none stale after the pass:
        // a refresh is over even if its count of stale connections was off.
        if shared.refreshing() && inner.idle.len() == shared.size.load(Ordering::SeqCst) {
            shared.refresh_over();
        }
        while inner.idle.len() < min_idle && !shared.is_closed() {
            let Some(slot) = shared.reserve() else { break };
            let mut deadline = Deadline::new(Some(bound));
            match inner.open(slot, &mut deadline, false).await {
                Ok(item) => inner.push_idle(item),
                Err(_) => break,
            }
        }
    }

    /// How often the adapters should call [`maintain`](Self::maintain): see
    /// [`Config::maintenance_interval`](crate::Config::maintenance_interval).
    pub fn maintenance_interval(&self) -> std::time::Duration {
        self.inner.shared.config.maintenance_interval()
    }
}

/// One pass over the connections idle when it starts (maintenance, `retain`): each is
/// visited once, under FIFO and LIFO alike, while gets and returns go on; the ones kept go
/// back where the strategy wants them (LIFO: in their old order, so the least recently
/// used stay at the bottom and can reach `idle_timeout`).
pub(crate) struct Visit<'a, M: Manager> {
    inner: &'a Inner<M>,
    pass: u16,
    kept: usize,
    /// At most this many more takes: the queue's length when the pass started.
    left: usize,
}

impl<'a, M: Manager> Visit<'a, M> {
    pub(crate) fn new(inner: &'a Inner<M>) -> Self {
        // The low 16 bits (see `Idle::pass`).
        let pass = (inner
            .shared
            .passes
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            & 0xffff) as u16;
        Self {
            inner,
            pass,
            kept: 0,
            left: inner.idle.len(),
        }
    }

    /// The next connection to visit, out of the queue; `None` when the pass is over.
    pub(crate) fn next(&mut self) -> Option<Idle<M::Connection>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = self.inner.idle.visit(self.kept)?;
        if item.pass == self.pass {
            // Wrapped around to one this pass already kept (gets took the others). It
            // was out of the queue for a moment: settle as every put-back does, or a
            // caller that started waiting for room meanwhile, or a shrink that trimmed
            // meanwhile, would miss it.
            self.inner.idle.put_visited(item, self.kept);
            self.inner.settle();
            self.left = 0;
            return None;
        }
        Some(item)
    }

    /// Puts a visited connection back, idle.
    pub(crate) fn keep(&mut self, mut item: Idle<M::Connection>) {
        item.pass = self.pass;
        self.inner.idle.put_visited(item, self.kept);
        self.kept += 1;
        self.inner.settle();
        if self.inner.shared.global.is_some() {
            self.inner.went_idle(false);
        }
    }
}
