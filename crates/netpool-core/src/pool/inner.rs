//! The typed insides of a [`Pool`](crate::Pool): checking connections out, opening them,
//! taking them back and closing them. Every connection outside the idle queue is held by
//! a [`Live`] guard, which closes it and frees its slot if the holder is dropped or
//! unwinds.

use std::time::Instant;

use crate::Manager;
use crate::clock::{self, Nanos};
use crate::error::{Error, LastConnectError};
use crate::idle::{Idle, IdleQueue};
use crate::shared::{Deadline, Gate, Shared, Slot, WaitError, run_until};
use crate::stats::Counters;
use crate::sync::AtomicUsize;

pub(crate) struct Inner<M: Manager> {
    /// Live `Pool` handles (not guards, not weak handles); the last one closes the pool.
    pub(super) handles: AtomicUsize,
    pub(crate) shared: Shared,
    pub(crate) manager: M,
    pub(crate) idle: IdleQueue<Idle<M::Connection>>,
}

/// Why a connection is closed, for the counters.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CloseReason {
    Uncounted,
    Broken,
    Invalid,
    Idle,
    Lifetime,
}

/// What checkout does with an idle connection (see [`Inner::verdict`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verdict {
    /// Hand it out as it is.
    Go,
    /// Run `is_valid` first.
    Check,
    /// Close it.
    Close(CloseReason),
}

/// A connection outside the idle queue that is closed (freeing its slot) when dropped,
/// unless taken: the unwinding- and cancellation-safe holder.
pub(crate) struct Live<'a, M: Manager> {
    inner: &'a Inner<M>,
    item: Option<Idle<M::Connection>>,
    reason: CloseReason,
}

impl<M: Manager> Inner<M> {
    pub(crate) fn live(&self, item: Idle<M::Connection>, reason: CloseReason) -> Live<'_, M> {
        Live {
            inner: self,
            item: Some(item),
            reason,
        }
    }

    pub(super) fn wait_error(&self, e: WaitError) -> Error<M::Error> {
        match e {
            WaitError::Closed => Error::Closed,
            WaitError::Timeout => {
                Counters::bump(&self.shared.counters.gets_timed_out);
                Error::Timeout
            }
        }
    }

    /// With a permit held: an idle connection, a new one, or an error. `once`: never
    /// wait for room (for `try_get`).
    pub(super) async fn obtain(
        &self,
        deadline: &mut Deadline,
        once: bool,
    ) -> Result<Idle<M::Connection>, Error<M::Error>> {
        loop {
            if self.shared.is_closed() {
                return Err(Error::Closed);
            }
            if let Some(item) = self.idle.pop() {
                let verdict = self.verdict(&item);
                if let Some(item) = self.check_out(item, verdict, deadline).await? {
                    return Ok(item);
                }
                continue;
            }
            if let Some(slot) = self.shared.reserve() {
                return self.open(slot, deadline).await;
            }
            if once {
                return Err(Error::Timeout);
            }
            // A keyed pool with room for this key, but the cap shared by all keys reached:
            // make room (close another key's idle connection) or queue for it.
            if let Some(global) = &self.shared.global {
                if !self.shared.over_or_at_capacity() {
                    let grant = match global.make_room(deadline).await {
                        Ok(grant) => grant,
                        Err(e) => return Err(self.wait_error(e)),
                    };
                    if let Some(slot) = grant.into_slot(&self.shared) {
                        return self.open(slot, deadline).await;
                    }
                    continue;
                }
            }
            let ready = || !self.idle.is_empty() || !self.shared.over_or_at_capacity();
            if let Err(e) = self.shared.wait_capacity(ready, deadline).await {
                return Err(self.wait_error(e));
            }
        }
    }

    /// The one checkout decision, made for the synchronous hot path and the async path
    /// alike: close a connection past its lifetime or idle timeout, check one idle since
    /// its last use for at least `check_idle_after` (every one when that is zero), hand
    /// out the rest. Reads the clock only when a time-based setting is on.
    #[inline]
    pub(super) fn verdict(&self, item: &Idle<M::Connection>) -> Verdict {
        let shared = &self.shared;
        if !shared.timed {
            return match shared.check_after {
                None => Verdict::Go,
                Some(_) => Verdict::Check,
            };
        }
        let now = clock::now();
        if let Some(reason) = self.expired(item, now) {
            return Verdict::Close(reason);
        }
        // Idle time since the last *use*: a background check by maintenance does not
        // exempt a connection, since the server may have gone away since.
        match shared.check_after {
            Some(after) if now.saturating_sub(item.last_used) >= after => Verdict::Check,
            _ => Verdict::Go,
        }
    }

    /// Why the connection must be closed at `now`, if it must.
    pub(crate) fn expired(&self, item: &Idle<M::Connection>, now: Nanos) -> Option<CloseReason> {
        if now >= item.expires {
            Some(CloseReason::Lifetime)
        } else if now.saturating_sub(item.last_used) >= self.shared.idle_timeout {
            Some(CloseReason::Idle)
        } else {
            None
        }
    }

    /// Carries out `verdict` for an idle connection: `Ok(None)` if it was closed.
    pub(super) async fn check_out(
        &self,
        item: Idle<M::Connection>,
        verdict: Verdict,
        deadline: &mut Deadline,
    ) -> Result<Option<Idle<M::Connection>>, Error<M::Error>> {
        let mut live = self.live(item, CloseReason::Uncounted);
        match verdict {
            Verdict::Go => return Ok(Some(live.take())),
            Verdict::Close(reason) => {
                live.reason = reason;
                return Ok(None);
            }
            Verdict::Check => {}
        }
        // The connection is closed by `live` if the deadline passes or the future is
        // dropped half way: its protocol state is unknown.
        match self.validate(&mut live, deadline.at()).await {
            None => Err(self.wait_error(WaitError::Timeout)),
            Some(false) => {
                if live.item.as_ref().is_some_and(|i| i.uses == 0) {
                    self.shared.failed_on_first_use();
                }
                Ok(None)
            }
            Some(true) => Ok(Some(live.take())),
        }
    }

    /// Runs `is_valid` on a held connection until `at`: `Some(true)` if it passed (the
    /// check is stamped), `Some(false)` if it failed (the connection is marked to close as
    /// invalid), `None` if the deadline came first.
    pub(crate) async fn validate(
        &self,
        live: &mut Live<'_, M>,
        at: Option<Instant>,
    ) -> Option<bool> {
        let item = live.item.as_mut()?;
        let passed = run_until(at, self.manager.is_valid(&mut item.conn))
            .await?
            .is_ok();
        if passed {
            item.checked = clock::now();
        } else {
            live.reason = CloseReason::Invalid;
        }
        Some(passed)
    }

    /// Opens a connection in the reserved slot, bounded by `connect_timeout` and the
    /// caller's deadline, unless the pool is backing off.
    pub(crate) async fn open(
        &self,
        slot: Slot<'_>,
        deadline: &mut Deadline,
    ) -> Result<Idle<M::Connection>, Error<M::Error>> {
        let shared = &self.shared;
        let _probe = match shared.gate() {
            Gate::Go => None,
            Gate::Probe(probe) => Some(probe),
            Gate::Unavailable { failures, last } => {
                return Err(Error::Unavailable { failures, last });
            }
        };
        let connect_at = shared
            .config
            .connect_timeout
            .and_then(|t| Instant::now().checked_add(t));
        let at = match (deadline.at(), connect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match run_until(at, self.manager.connect()).await {
            None => {
                shared.connect_failed(LastConnectError::connect_timeout());
                Err(Error::ConnectTimeout)
            }
            // A connect that gave up at the deadline (a manager with its own timeout, or a
            // blocking connect) timed out, whatever error it returned.
            Some(Err(_)) if at.is_some_and(|at| Instant::now() >= at) => {
                shared.connect_failed(LastConnectError::connect_timeout());
                Err(Error::ConnectTimeout)
            }
            Some(Err(e)) => {
                shared.connect_failed(LastConnectError::from_error(&e));
                Err(Error::Connect(e))
            }
            Some(Ok(conn)) => {
                slot.fill();
                shared.connect_succeeded();
                Ok(Idle::new(conn, clock::now(), shared.max_lifetime))
            }
        }
    }

    /// Takes a returned connection back (the caller releases the permit after).
    pub(crate) fn put_back(&self, mut item: Idle<M::Connection>) {
        let shared = &self.shared;
        // In a keyed pool, a connection returned while other keys wait for the shared cap
        // is closed, handing its room to the oldest of them.
        if shared.is_closed()
            || shared.over_capacity()
            || shared.global.as_ref().is_some_and(|g| g.has_waiters())
        {
            drop(self.live(item, CloseReason::Uncounted));
            return;
        }
        // The item stays in place (moving it into a `Live` guard cost a third of this
        // function); if `has_broken` panics, the unwinding drops `item` and this guard
        // frees its slot.
        let slot = Slot::adopt(shared);
        let broken = self.manager.has_broken(&mut item.conn);
        slot.fill();
        if broken {
            self.close_broken(item);
            return;
        }
        shared.connection_proven();
        let now = clock::now();
        if now >= item.expires {
            drop(self.live(item, CloseReason::Lifetime));
            return;
        }
        item.last_used = now;
        self.push_idle(item);
    }

    /// Closes a connection found broken (by `has_broken`, or discarded by its user). One
    /// that breaks on its first checkout counts toward the connect backoff.
    pub(crate) fn close_broken(&self, item: Idle<M::Connection>) {
        if item.uses <= 1 {
            self.shared.failed_on_first_use();
        }
        drop(self.live(item, CloseReason::Broken));
    }

    /// Makes a connection idle and wakes a waiter for room; drains if the pool closed
    /// meanwhile.
    pub(crate) fn push_idle(&self, item: Idle<M::Connection>) {
        self.idle.push(item);
        self.shared.notify_capacity();
        if self.shared.is_closed() {
            self.drain_idle();
        }
    }

    pub(crate) fn drain_idle(&self) {
        while let Some(item) = self.idle.pop() {
            drop(self.live(item, CloseReason::Uncounted));
        }
    }
}

impl<M: Manager> Live<'_, M> {
    /// Takes the connection out: it is no longer closed on drop.
    pub(crate) fn take(&mut self) -> Idle<M::Connection> {
        match self.item.take() {
            Some(item) => item,
            // Every caller takes at most once and checks `item` before.
            None => unreachable!("Live::take called twice"),
        }
    }

    pub(crate) fn item_mut(&mut self) -> Option<&mut Idle<M::Connection>> {
        self.item.as_mut()
    }

    pub(crate) fn set_reason(&mut self, reason: CloseReason) {
        self.reason = reason;
    }

    pub(crate) fn item(&self) -> Option<&Idle<M::Connection>> {
        self.item.as_ref()
    }
}

impl<M: Manager> Drop for Live<'_, M> {
    fn drop(&mut self) {
        let Some(item) = self.item.take() else { return };
        let counters = &self.inner.shared.counters;
        match self.reason {
            CloseReason::Uncounted => {}
            CloseReason::Broken => Counters::bump(&counters.closed_broken),
            CloseReason::Invalid => Counters::bump(&counters.closed_invalid),
            CloseReason::Idle => Counters::bump(&counters.closed_idle),
            CloseReason::Lifetime => Counters::bump(&counters.closed_lifetime),
        }
        // Free the slot even if dropping the connection panics.
        let _slot = Slot::adopt(&self.inner.shared);
        drop(item);
    }
}
