//! The typed insides of a [`Pool`](crate::Pool): checking connections out, opening them,
//! taking them back and closing them. Every connection outside the idle queue is held by
//! a [`Live`] guard, which closes it and frees its slot if the holder is dropped or
//! unwinds.

use std::future::Future;
use std::pin::Pin;

use crate::Manager;
use crate::clock::{self, Nanos};
use crate::error::Error;
use crate::events::{Check, TimedOut};
use crate::hooks::DynHooks;
use crate::idle::{Idle, IdleQueue};
use crate::shared::{Deadline, ProbeGuard, Refused, STALE, Shared, Slot, WaitError};
use crate::stats::Counters;
use crate::sync::{AtomicUsize, Ordering};
use crate::types::CloseReason;

pub(crate) struct Inner<M: Manager> {
    /// Live `Pool` handles (not guards, not weak handles); the last one closes the pool.
    pub(crate) handles: AtomicUsize,
    pub(crate) shared: Shared,
    pub(crate) manager: M,
    pub(crate) idle: IdleQueue<Idle<M::Connection>>,
    pub(crate) hooks: DynHooks<M>,
}

/// In `obtain`'s loops (plain and keyed): an idle connection, popped, is returned as it
/// is or after its check, or (closed instead) the loop goes on. The common case skips
/// building `check_out`'s future (a large state machine: it holds the check's and the
/// hook's futures). A macro, not an `async fn`: one more future layer cost the waiting
/// path (S2) 7 instructions per cycle (`hotpath s2`).
macro_rules! take_idle {
    ($inner:expr, $item:expr, $deadline:expr) => {{
        let item = $item;
        let verdict = $inner.verdict(&item);
        if let $crate::pool::inner::Verdict::Go = verdict {
            return Ok(item);
        }
        if let Some(item) = $inner.check_out(item, verdict, false, $deadline).await? {
            return Ok(item);
        }
    }};
}
pub(crate) use take_idle;

/// What [`Inner::obtain`] returns.
pub(crate) type Obtained<M> =
    Result<Idle<<M as Manager>::Connection>, Error<<M as Manager>::Error>>;

/// What checkout does with an idle connection (see [`Inner::verdict`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verdict {
    /// Hand it out as it is.
    Go,
    /// Run `is_valid` first.
    Check,
    /// Run the `on_checkout` hook first.
    Hook,
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

    pub(crate) fn wait_error(&self, e: WaitError, deadline: &Deadline) -> Error<M::Error> {
        match e {
            WaitError::Closed => Error::Closed,
            WaitError::Timeout => {
                Counters::bump(&self.shared.counters.gets_timed_out);
                self.shared.timed_out(deadline.waited());
                Error::Timeout
            }
        }
    }

    /// With a permit held: an idle connection, a new one, or an error. `once`: never
    /// wait for room (for `try_get`).
    ///
    /// Boxed, and not inlined so that the future is built in a frame of its own: it holds
    /// the manager's `connect` future, which may be large (13 KB for the `redis` crate's
    /// connection). Inline, it made every `get` future that large, copied when built and
    /// held by every waiting task: under contention (128 tasks on 16 connections) that
    /// cost a third of the throughput. A get reaches it only when it must connect or wait
    /// for room (and the check of an idle connection, in `Pool::finishing`, is boxed too).
    #[inline(never)]
    pub(super) fn obtain<'a>(
        &'a self,
        deadline: &'a mut Deadline,
        once: bool,
    ) -> Pin<Box<impl Future<Output = Obtained<M>> + 'a>> {
        Box::pin(self.obtain_boxed(deadline, once))
    }

    /// [`obtain`](Self::obtain)'s future.
    async fn obtain_boxed(
        &self,
        deadline: &mut Deadline,
        once: bool,
    ) -> Result<Idle<M::Connection>, Error<M::Error>> {
        if self.shared.global.is_some() {
            // A keyed pool: the total cap's hand-over policy (see `crate::keyed`).
            return self.obtain_keyed(deadline, once).await;
        }
        loop {
            if self.shared.is_closed() {
                return Err(Error::Closed);
            }
            if let Some(item) = self.idle.pop() {
                take_idle!(self, item, deadline);
                continue;
            }
            if let Some(slot) = self.shared.reserve() {
                return self.open(slot, deadline, true).await;
            }
            if once {
                return Err(Error::Timeout);
            }
            let ready = || !self.idle.is_empty() || !self.shared.over_or_at_capacity();
            if let Err(e) = self.shared.wait_capacity(ready, deadline).await {
                return Err(self.wait_error(e, deadline));
            }
        }
    }

    /// An idle connection ready to hand out (`Ok`), or what the caller must check, close
    /// or replace (`Err`: the connection that needs it, or `None` if none is idle). For a
    /// get that waited; not inlined, so that the hot path's own pop stays inlined in its
    /// callers.
    #[inline(never)]
    pub(crate) fn pop_ready(&self) -> Result<Idle<M::Connection>, Option<Idle<M::Connection>>> {
        let item = self.idle.pop().ok_or(None)?;
        match self.verdict(&item) {
            Verdict::Go => Ok(item),
            _ => Err(Some(item)),
        }
    }

    /// The one checkout decision, made for the synchronous hot path and the async path
    /// alike: close a connection past its lifetime or idle timeout, check one idle since
    /// its last use for at least `check_idle_after` (every one when that is zero), hand
    /// out the rest. Reads the clock only when a time-based setting is on.
    ///
    /// The test for no time-based setting is always inlined: left to the compiler, the
    /// whole decision moved out of line when the hot path grew (leak detection's stamp),
    /// a call that cost the plain get+return 17 instructions.
    #[inline(always)]
    pub(crate) fn verdict(&self, item: &Idle<M::Connection>) -> Verdict {
        let shared = &self.shared;
        let timed = shared.timed.load(Ordering::Relaxed);
        if timed == 0 {
            return match shared.check_after {
                None => Verdict::Go,
                Some(_) => Verdict::Check,
            };
        }
        self.timed_verdict(item, timed)
    }

    /// [`verdict`](Self::verdict) with a time-based setting on (`timed`, not 0).
    #[inline]
    fn timed_verdict(&self, item: &Idle<M::Connection>, timed: u32) -> Verdict {
        let shared = &self.shared;
        // A refresh is under way (rare): close connections that predate it.
        if timed & STALE != 0 && shared.refresh.is_stale(item.created) {
            return Verdict::Close(CloseReason::Refreshed);
        }
        let now = clock::now();
        if let Some(reason) = self.expired(item, now) {
            // Idle past `idle_timeout` but one of the `min_idle` that maintenance keeps:
            // handed out (checked below, as any long-idle connection), not closed, or
            // the warm connections would all be expired by the first get after a quiet
            // spell. The same rule as maintenance's reaping.
            let kept = matches!(reason, CloseReason::Idle)
                && self.idle.len() < shared.config.min_idle.unwrap_or(0);
            if !kept {
                return Verdict::Close(reason);
            }
        }
        // Idle time since the last *use*: a background check by maintenance does not
        // exempt a connection, since the server may have gone away since.
        match shared.check_after {
            Some(after) if now.saturating_sub(item.last_used) >= after => Verdict::Check,
            _ if self.hooks.on_checkout() => Verdict::Hook,
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
    /// `asked`: `is_valid_now` was asked about it already and had no answer (a `Check`
    /// then runs `is_valid` only).
    pub(crate) async fn check_out(
        &self,
        item: Idle<M::Connection>,
        verdict: Verdict,
        asked: bool,
        deadline: &mut Deadline,
    ) -> Result<Option<Idle<M::Connection>>, Error<M::Error>> {
        let mut live = self.live(item, CloseReason::Uncounted);
        match verdict {
            Verdict::Go => return Ok(Some(live.take())),
            Verdict::Close(reason) => {
                live.reason = reason;
                return Ok(None);
            }
            Verdict::Hook => {}
            // The connection is closed by `live` if the deadline passes or the future is
            // dropped half way: its protocol state is unknown.
            Verdict::Check => match self
                .validate(&mut live, || deadline.at_nanos(), asked)
                .await
            {
                None => return Err(self.wait_error(WaitError::Timeout, deadline)),
                Some(false) => {
                    self.failed_on_checkout(&live);
                    return Ok(None);
                }
                Some(true) => {}
            },
        }
        // Without an `on_checkout` hook, handed out here: building the hook's future for
        // nothing cost every checked checkout about 100 instructions.
        if !self.hooks.on_checkout() {
            return Ok(Some(live.take()));
        }
        self.checked_out(live, deadline).await
    }

    /// Runs `is_valid` on a held connection until the deadline `at()` gives (asked for only
    /// if the check does not answer at once): `Some(true)` if it passed (the check is
    /// stamped), `Some(false)` if it failed (the connection is marked to close as
    /// invalid), `None` if the deadline came first. The manager's
    /// [`is_valid_now`](Manager::is_valid_now) answers first, if it can (unless it was
    /// `asked` already).
    pub(crate) async fn validate(
        &self,
        live: &mut Live<'_, M>,
        at: impl FnOnce() -> Option<Nanos>,
        asked: bool,
    ) -> Option<bool> {
        let item = live.item.as_mut()?;
        let id = item.id();
        let check = self.shared.check(&self.manager, &mut item.conn, at, asked);
        let Some(result) = check.await else {
            (self.shared.events).check_failed(id, Check::IsValid, &TimedOut::IS_VALID);
            return None;
        };
        Some(self.checked(live, result))
    }

    /// [`validate`](Self::validate) without I/O: the manager's
    /// [`is_valid_now`](Manager::is_valid_now) answer, `None` if it has none (or nothing is
    /// held).
    pub(crate) fn validate_now(&self, live: &mut Live<'_, M>) -> Option<bool> {
        let item = live.item.as_mut()?;
        let result = self.manager.is_valid_now(&mut item.conn)?;
        Some(self.checked(live, result))
    }

    /// Records a check's `result`: stamps a passed check, reports a failed one and marks
    /// its connection to close as invalid. Whether it passed.
    fn checked(&self, live: &mut Live<'_, M>, result: Result<(), M::Error>) -> bool {
        let Some(item) = live.item.as_mut() else {
            return false;
        };
        match result {
            Ok(()) => {
                item.checked = clock::now();
                true
            }
            Err(e) => {
                (self.shared.events).check_failed(item.id(), Check::IsValid, &e);
                live.reason = CloseReason::Invalid;
                false
            }
        }
    }

    /// A checkout's check failed: a connection that failed before its first use counts
    /// toward the connect backoff (the server may refuse every new session).
    pub(crate) fn failed_on_checkout(&self, live: &Live<'_, M>) {
        if live.item.as_ref().is_some_and(|i| i.uses == 0) {
            self.shared.failed_on_first_use();
        }
    }

    /// Opens a connection in the reserved slot, bounded by `connect_timeout` and the
    /// caller's deadline, when the backoff lets it (see `Shared::admit`). `wait`: whether
    /// the caller may wait for its turn (maintenance does not).
    ///
    /// Only evidence about the server counts as a failed connect for the backoff: the
    /// manager's error, or `connect_timeout` firing. The caller's own deadline firing
    /// first, or a timeout under `get_blocking` (whose thread may be the one that drives
    /// the connect's runtime), says nothing about the server.
    pub(crate) async fn open(
        &self,
        slot: Slot<'_>,
        deadline: &mut Deadline,
        wait: bool,
    ) -> Result<Idle<M::Connection>, Error<M::Error>> {
        let probe = match self.shared.admit(deadline, wait).await {
            Ok(probe) => probe,
            Err(refused) => return Err(self.refused(refused, deadline)),
        };
        self.open_admitted(slot, probe, deadline, wait).await
    }

    /// The error for a caller the backoff refused.
    pub(crate) fn refused(&self, refused: Refused, deadline: &Deadline) -> Error<M::Error> {
        match refused {
            Refused::Unavailable { failures, last } => {
                Counters::bump(&self.shared.counters.gets_unavailable);
                Error::Unavailable { failures, last }
            }
            Refused::Timeout => self.wait_error(WaitError::Timeout, deadline),
            // Maintenance, whose turn it is not: no get waited, nothing to count.
            Refused::NotYet => Error::Timeout,
            Refused::Closed => Error::Closed,
        }
    }

    /// [`open`](Self::open) for a caller the backoff admitted already (holding `_probe` if
    /// it connects as the probe).
    pub(crate) async fn open_admitted(
        &self,
        slot: Slot<'_>,
        _probe: Option<ProbeGuard<'_>>,
        deadline: &mut Deadline,
        wait: bool,
    ) -> Result<Idle<M::Connection>, Error<M::Error>> {
        // While a refresh replaces the pool: one of a bounded number of connect turns.
        let _turn = match self.shared.connect_turn(deadline, wait).await {
            Ok(turn) => turn,
            Err(refused) => return Err(self.refused(refused, deadline)),
        };
        let (conn, at, started) = self
            .shared
            .connect_bounded(deadline, self.manager.connect())
            .await?;
        self.opened(slot, conn, at, started).await
    }

    /// Takes a returned connection back: pushes it idle, or closes it. The caller then
    /// calls [`Inner::settle`] and releases its permit.
    pub(crate) fn put_back(&self, mut item: Idle<M::Connection>) {
        let shared = &self.shared;
        // (A pool closed meanwhile is drained by `settle`, after the push.)
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
        // The load that forgets suspicion also says whether a refresh is under way.
        let refreshing = shared.connection_proven();
        let now = clock::now();
        if refreshing && shared.refresh.is_stale(item.created) {
            drop(self.live(item, CloseReason::Refreshed));
            return;
        }
        if now >= item.expires {
            drop(self.live(item, CloseReason::Lifetime));
            return;
        }
        let before = item.last_used;
        item.last_used = now;
        if item.hold != 0 {
            // A tracked connection: its checkout is over (before it can be popped again),
            // and this reading dates the pool's next checkouts (see `crate::holders`),
            // which then need no clock reading of their own.
            shared.diag.untrack(item.hold, &shared.events);
            // Written only when the coarse clock moved since this connection's last
            // return (a few times per tick), not on every return, and without reading
            // the pool's shared state: a store there on every return cost S1 with
            // tracking 8%, and a load of it before the store another few percent.
            if now != before {
                shared.diag.recent.store(now, Ordering::Relaxed);
            }
        }
        // The caller calls `settle` and then releases its permit.
        self.idle.push(item);
        if shared.global.is_some() {
            // A keyed pool: callers of other keys may wait for room (see `crate::keyed`).
            self.went_idle(true);
        }
    }

    /// Closes a connection found broken (by `has_broken`, or discarded by its user). One
    /// that breaks on its first checkout counts toward the connect backoff.
    pub(crate) fn close_broken(&self, item: Idle<M::Connection>) {
        if item.uses <= 1 {
            self.shared.failed_on_first_use();
        }
        drop(self.live(item, CloseReason::Broken));
    }

    /// Makes a connection idle and wakes a waiter for room; closes idle connections above
    /// the cap, and drains if the pool closed meanwhile. For callers that hold no permit
    /// (maintenance, `retain`, `add`); a returning guard uses `put_back` and `settle`.
    pub(crate) fn push_idle(&self, item: Idle<M::Connection>) {
        self.idle.push(item);
        self.settle();
        if self.shared.global.is_some() {
            self.went_idle(false);
        }
    }

    /// After a connection was pushed idle: closes idle connections above the cap, wakes a
    /// waiter for room, drains a closed pool. A returning guard calls it only when its
    /// one-CAS release failed, i.e. with a flag on the permit word; every other push
    /// (maintenance, `retain`, `add`) calls it always.
    ///
    /// It starts with an RMW on the permit word ([`Semaphore::sync`](crate::sema::Semaphore::sync)), so that every
    /// caller is ordered against a hold on that one word, whatever flag made a guard's
    /// release fail: a hold taken after the RMW sees the push (the RMW releases it), and
    /// one taken before is seen by the RMW (which acquires it), so the notification below
    /// sees the waiter for room registered before that hold. (A guard whose CAS failed on
    /// `SLOW` alone made no RMW, and without this one the wake-up would rest on SeqCst
    /// store-to-load order between the push and the waiter count, which loom does not
    /// model.)
    ///
    /// Why a guard whose release succeeded may skip it: `resize` stores the new cap, then
    /// takes a [`hold`](crate::sema::Semaphore::hold) (an RMW on the permit word), then
    /// trims the idle queue; a caller that waits for room takes a hold before it looks at
    /// the queue. A release that saw no hold came before it on that word, so the push
    /// before the release happened before the trim or the look, which see the
    /// connection. A release that saw the hold fails, and the guard settles here after
    /// the hold, reading the new cap. (Checked before the push, a return could read the
    /// old cap, lose the race to the trim, and leave the pool idle above its cap.)
    pub(crate) fn settle(&self) {
        self.shared.sema.sync();
        self.trim_idle();
        self.shared.notify_capacity();
        if self.shared.is_closed() {
            self.drain_idle();
        }
    }

    /// Closes idle connections while the pool is above its cap (after a shrink).
    ///
    /// One trimmer at a time: two that both saw the pool one above its cap would each
    /// close a connection, one too many. A caller that finds a trim under way leaves its
    /// request in `trims` and returns; the trimmer takes the requests back with an RMW on
    /// that same counter before it stops, and trims again if any came meanwhile (their
    /// pushes happened before their requests, so it sees them). Nobody waits for another
    /// trimmer, so an event handler that resizes the pool from inside a trim cannot
    /// deadlock.
    pub(crate) fn trim_idle(&self) {
        let shared = &self.shared;
        if !shared.over_capacity() || shared.trims.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        // If closing a connection panics, the requests are dropped (the next trim runs).
        let turn = TrimTurn(shared);
        let mut seen = 1;
        loop {
            while shared.over_capacity() {
                match self.idle.pop() {
                    Some(item) => drop(self.live(item, CloseReason::Shrunk)),
                    None => break,
                }
            }
            let before = shared.trims.fetch_sub(seen, Ordering::AcqRel);
            if before == seen {
                std::mem::forget(turn);
                return;
            }
            seen = before - seen;
        }
    }

    pub(crate) fn drain_idle(&self) {
        while let Some(item) = self.idle.pop() {
            drop(self.live(item, CloseReason::Closed));
        }
    }
}

/// A trim under way; if it unwinds, the next trim may start.
struct TrimTurn<'a>(&'a Shared);

impl Drop for TrimTurn<'_> {
    fn drop(&mut self) {
        self.0.trims.store(0, Ordering::Release);
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
        (self.inner.shared.diag).release(item.hold, &self.inner.shared.events);
        let counters = &self.inner.shared.counters;
        match self.reason {
            CloseReason::Broken => Counters::bump(&counters.closed_broken),
            CloseReason::Invalid => Counters::bump(&counters.closed_invalid),
            CloseReason::Idle => Counters::bump(&counters.closed_idle),
            CloseReason::Lifetime => Counters::bump(&counters.closed_lifetime),
            CloseReason::Handoff => Counters::bump(&counters.closed_handoff),
            CloseReason::Rejected => Counters::bump(&counters.closed_rejected),
            CloseReason::Retained => Counters::bump(&counters.closed_retained),
            CloseReason::Shrunk => Counters::bump(&counters.closed_shrunk),
            CloseReason::Closed => Counters::bump(&counters.closed_pool_closed),
            CloseReason::Uncounted => Counters::bump(&counters.closed_aborted),
            CloseReason::Refreshed => Counters::bump(&counters.closed_refreshed),
        }
        self.inner.shared.record_gone(item.created);
        // Free the slot even if dropping the connection (or the event handler) panics.
        let _slot = Slot::adopt(&self.inner.shared);
        self.inner.shared.events.closed(&item, self.reason.into());
        drop(item);
    }
}
