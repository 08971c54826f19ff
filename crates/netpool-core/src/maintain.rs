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
use crate::pool::{Pool, Visit};
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
                let at = Deadline::new(Some(bound)).at_nanos();
                if inner.validate(&mut live, || at, false).await != Some(true) {
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
