//! The typed insides of a [`Pool`](crate::Pool): checking connections out, opening them,
//! taking them back and closing them. Every connection outside the idle queue is held by
//! a [`Live`] guard, which closes it and frees its slot if the holder is dropped or
//! unwinds.

use std::time::Instant;

use crate::clock::{self, Nanos};
use crate::error::{Error, LastConnectError};
use crate::idle::{Idle, IdleQueue};
use crate::shared::{Deadline, Gate, Shared, Slot, WaitError, run_until};
use crate::stats::Counters;
use crate::sync::AtomicUsize;
use crate::{Manager, Meta};

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
                if let Some(mut item) = self.check_out(item, deadline).await? {
                    item.uses += 1;
                    return Ok(item);
                }
                continue;
            }
            if let Some(slot) = self.shared.reserve() {
                let mut item = self.open(slot, deadline).await?;
                item.uses += 1;
                return Ok(item);
            }
            if once {
                return Err(Error::Timeout);
            }
            let ready = || !self.idle.is_empty() || !self.shared.over_or_at_capacity();
            if let Err(e) = self.shared.wait_capacity(ready, deadline).await {
                return Err(self.wait_error(e));
            }
        }
    }

    /// The synchronous part of [`check_out`](Self::check_out): `Ok` if the connection may
    /// go out as it is, `Err` (with it) if it must be checked or closed.
    #[inline]
    pub(super) fn check_out_now(
        &self,
        item: Idle<M::Connection>,
    ) -> Result<Idle<M::Connection>, Idle<M::Connection>> {
        let shared = &self.shared;
        let timed_check = matches!(shared.check_after, Some(after) if after > 0);
        if shared.max_lifetime.is_none() && shared.idle_timeout == Nanos::MAX && !timed_check {
            // No clock needed: either never check, or check every time.
            return match shared.check_after {
                None => Ok(item),
                Some(_) => Err(item),
            };
        }
        let now = clock::now();
        let fresh = now < item.expires && now.saturating_sub(item.last_used) < shared.idle_timeout;
        let checked = shared
            .check_after
            .is_none_or(|after| after > 0 && now.saturating_sub(item.last_used) < after);
        if fresh && checked {
            Ok(item)
        } else {
            Err(item)
        }
    }

    /// Decides whether an idle connection may go out: `Ok(None)` if it was closed.
    pub(super) async fn check_out(
        &self,
        item: Idle<M::Connection>,
        deadline: &mut Deadline,
    ) -> Result<Option<Idle<M::Connection>>, Error<M::Error>> {
        let shared = &self.shared;
        let mut live = self.live(item, CloseReason::Uncounted);
        let Some(check_after) = live.needs_check(shared) else {
            return Ok(Some(live.take()));
        };
        let now = clock::now();
        if let Some(reason) = live.expired(shared, now) {
            live.reason = reason;
            return Ok(None);
        }
        // Idle time since the last *use*: a background check by maintenance does not
        // exempt a connection, since the server may have gone away since.
        if check_after == Nanos::MAX || live.idle_for(now) < check_after {
            return Ok(Some(live.take()));
        }
        // The connection is closed by `live` if the deadline passes or the future is
        // dropped half way: its protocol state is unknown.
        let result = match live.item.as_mut() {
            Some(item) => run_until(deadline.at(), self.manager.is_valid(&mut item.conn)).await,
            None => return Ok(None),
        };
        match result {
            None => Err(self.wait_error(WaitError::Timeout)),
            Some(Err(_)) => {
                live.reason = CloseReason::Invalid;
                if live.item.as_ref().is_some_and(|i| i.uses == 0) {
                    self.shared.failed_on_first_use();
                }
                Ok(None)
            }
            Some(Ok(())) => {
                let mut item = live.take();
                item.checked = now;
                Ok(Some(item))
            }
        }
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
        if shared.is_closed() || shared.over_capacity() {
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
            if item.uses <= 1 {
                shared.failed_on_first_use();
            }
            drop(self.live(item, CloseReason::Broken));
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

    pub(crate) fn meta(&self) -> Meta {
        match &self.item {
            Some(item) => Meta::from_idle(item, self.inner.shared.epoch),
            None => Meta::from_raw(0, 0, 0, self.inner.shared.epoch),
        }
    }

    /// `None` when nothing about this connection depends on time; else the check-after.
    fn needs_check(&self, shared: &Shared) -> Option<Nanos> {
        let check = shared.check_after;
        if shared.max_lifetime.is_none() && shared.idle_timeout == Nanos::MAX && check.is_none() {
            return None;
        }
        Some(check.unwrap_or(Nanos::MAX))
    }

    /// Why the connection must be closed at `now`, if it must.
    pub(crate) fn expired(&self, shared: &Shared, now: Nanos) -> Option<CloseReason> {
        let item = self.item.as_ref()?;
        if now >= item.expires {
            Some(CloseReason::Lifetime)
        } else if now.saturating_sub(item.last_used) >= shared.idle_timeout {
            Some(CloseReason::Idle)
        } else {
            None
        }
    }

    pub(crate) fn unchecked_for(&self, now: Nanos) -> Nanos {
        self.item.as_ref().map_or(0, |i| i.unchecked_for(now))
    }

    pub(crate) fn idle_for(&self, now: Nanos) -> Nanos {
        self.item
            .as_ref()
            .map_or(0, |i| now.saturating_sub(i.last_used))
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
