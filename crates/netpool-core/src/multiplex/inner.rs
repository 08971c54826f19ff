//! The typed insides of a [`SharedPool`](crate::SharedPool): choosing a connection to
//! lend, opening, retiring and maintaining connections.
//!
//! # Implementation details
//!
//! Everything that does not depend on the manager type is the exclusive pool's
//! [`Shared`]: the permits (here `max_size * max_concurrent_per_connection` of them, one
//! per lend), the connection count and its slots, the backoff and fail-fast rule, the
//! counters, the events and the wait for room. What is new is [`State`], under one short
//! lock: the open connections ([`Entry`]), how many are being opened, and how many
//! callers count on the ones being opened; and `live`, a copy of the list of open
//! connections that checkouts read without the lock ([`Snapshot`]).
//!
//! * A lend is taken without the lock: the checkout scans the connections' loads (atomics
//!   in `live`, starting at a random one so that ties spread), picks the least-loaded one
//!   below the limit and takes a lend by a CAS from the load it saw to one more, which
//!   fails (and the scan runs again) if another lend came or went in between. A lend is
//!   given back by one atomic decrement. Every increment is such a CAS from a value below
//!   `limit`, so `load <= limit` holds at every instant. A lend taken of a connection
//!   that was retired meanwhile is given back at once (retiring sets the flag before the
//!   connection leaves the list). Only when no connection has room does the checkout take
//!   the lock, to claim a lend of a connection being opened, open one, or wait.
//! * Every lend holds a permit of the fair semaphore, so when every connection is at its
//!   limit (all permits taken), callers queue first come, first served, and a returning
//!   lend hands its permit to the oldest waiter, which then finds the lend just freed (the
//!   decrement is published before the release).
//! * A permit holder may still find no lend: the connections that would have room are
//!   being opened, or the cap is reached by connections retired with lends still out.
//!   It then waits for room ([`Shared::wait_capacity`]) and, if it counts on a connection
//!   being opened, claims one of its lends (`claims`), so a burst of callers opens one
//!   connection per `limit` callers, not one each (each opener takes one lend of its
//!   new connection, others claim the remaining `limit - 1`). Whoever makes progress possible (a
//!   lend returned, a connection opened or retired, a connect given up) notifies after
//!   publishing it; a woken waiter that took a lend passes the wake-up on, since one new
//!   connection has room for many.
//! * A connection that breaks is *retired*: flagged (no new lends), removed from the
//!   list, its slot freed at once so a replacement can be opened while its in-flight
//!   callers finish with their own handles. The connection itself closes when the last
//!   handle is dropped.

use std::sync::Arc;
use std::time::Duration;

use super::snapshot::Snapshot;
use crate::Manager;
use crate::clock::{self, Nanos};
use crate::error::Error;
use crate::events::{self, Event, TimedOut};
use crate::hooks::DynHooks;
use crate::pool::CloseReason;
use crate::shared::{Deadline, Refused, Shared, Slot, WaitError, run_until};
use crate::stats::Counters;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, lock};

/// How many connections of other keys a checkout retires to make room under a keyed
/// pool's total cap before it waits.
const EVICT_TRIES: usize = 4;

pub(crate) struct Inner<M: Manager> {
    /// Live `SharedPool` handles; the last one closes the pool.
    pub(crate) handles: AtomicUsize,
    pub(crate) shared: Shared,
    pub(crate) manager: M,
    /// The builder's hooks: `on_connect` on the pool's handle of a new connection,
    /// `on_checkout` (if enabled) on each lend's clone.
    pub(crate) hooks: DynHooks<M>,
    /// The other keys' pools, for one key's pool of a [`KeyedSharedPool`] with a total
    /// cap (`shared.global`).
    ///
    /// [`KeyedSharedPool`]: crate::KeyedSharedPool
    pub(crate) siblings: Option<Arc<dyn Siblings>>,
    /// `max_concurrent_per_connection`.
    pub(crate) limit: usize,
    pub(crate) state: Mutex<State<M::Connection>>,
    /// `state.entries`, for checkouts to read without the lock; stored under it.
    pub(crate) live: Snapshot<Arc<Entry<M::Connection>>>,
}

/// What one key's pool of a [`KeyedSharedPool`](crate::KeyedSharedPool) with a total
/// cap asks of the other keys' pools.
pub(crate) trait Siblings: Send + Sync {
    /// Room under the total cap was freed: wake the pools' callers waiting for room.
    fn notify(&self);
    /// Retires the connection with no lend out and unused the longest, of any key's pool
    /// but the one whose state is at `except`; `false` if there was none.
    fn evict(&self, except: *const ()) -> bool;
    /// Whether a pool other than `except` has a connection with no lend out.
    fn idle(&self, except: *const ()) -> bool;
    /// Counts callers waiting for room under the total cap (`+1` or `-1`).
    fn waiting(&self, delta: isize);
    /// Whether callers wait for room under the total cap.
    fn has_waiters(&self) -> bool;
}

/// The open connections and the ones being opened.
pub(crate) struct State<C> {
    pub(crate) entries: Vec<Arc<Entry<C>>>,
    /// Connections being opened.
    opening: usize,
    /// Callers waiting for a lend of a connection being opened.
    claims: usize,
}

/// One open connection and its lends.
#[derive(Debug)]
pub(crate) struct Entry<C> {
    /// The pool's handle; each lend is a clone of it.
    pub(crate) conn: C,
    /// Its opening instant on the coarse clock, unique in the process: its id.
    pub(crate) id: Nanos,
    /// When it reaches its jittered `max_lifetime`.
    expires: Nanos,
    /// Lends out now.
    pub(crate) load: AtomicUsize,
    /// No new lends: it broke, expired, or the pool closed. Its slot is freed.
    pub(crate) retired: AtomicBool,
    /// When a lend last came back (or it was opened).
    last_used: AtomicU64,
    /// When `is_valid` last passed (or it was opened).
    checked: AtomicU64,
    /// Lends in all.
    pub(crate) lends: AtomicU64,
}

/// A lend taken of a connection, and a clone of its handle.
pub(crate) type Taken<C> = (Arc<Entry<C>>, C);
/// A connection, if one was found.
type Found<C> = Option<Arc<Entry<C>>>;
/// A connection found past its lifetime while deciding, to retire.
type Expired<C> = Found<C>;

/// What a caller with a permit does next (decided under the lock).
pub(crate) enum Step<'a, M: Manager> {
    /// Lend this connection (its load is already counted).
    Lend(Arc<Entry<M::Connection>>),
    /// Open a connection in this slot.
    Open(Slot<'a>, Opening<'a, M>),
    /// Wait for a connection being opened (a claim on it is held).
    Claim,
    /// Wait for room.
    Wait,
}

/// A connection being opened, counted in `State::opening` until dropped or finished.
pub(crate) struct Opening<'a, M: Manager> {
    inner: &'a Inner<M>,
}

/// A caller's claim on a lend of a connection being opened; given up when dropped.
pub(crate) struct Claim<'a, M: Manager> {
    inner: &'a Inner<M>,
    pub(crate) held: bool,
}

impl<C> State<C> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
            opening: 0,
            claims: 0,
        }
    }
}

impl<C> Entry<C> {
    fn new(conn: C, now: Nanos, lifetime: Option<Nanos>, load: usize) -> Self {
        let expires = match lifetime {
            // Jittered down by up to 5%, as the exclusive pool does, so that connections
            // opened together do not all expire together.
            Some(l) => now.saturating_add(l - fastrand::u64(0..=l / 20)),
            None => Nanos::MAX,
        };
        let id = events::unique_stamp(now);
        Self {
            conn,
            id,
            expires,
            load: AtomicUsize::new(load),
            retired: AtomicBool::new(false),
            last_used: AtomicU64::new(id),
            checked: AtomicU64::new(id),
            lends: AtomicU64::new(load as u64),
        }
    }

    /// A lend came back. The stamp is stored before the decrement, so whoever sees the
    /// load drop sees when.
    pub(crate) fn returned(&self) -> usize {
        self.last_used.store(clock::now(), Ordering::Relaxed);
        self.load.fetch_sub(1, Ordering::SeqCst) - 1
    }

    /// When a lend last came back (or it was opened), on the coarse clock.
    pub(crate) fn last_used(&self) -> Nanos {
        self.last_used.load(Ordering::Relaxed)
    }

    pub(crate) fn age(&self, now: Nanos) -> Duration {
        Duration::from_nanos(now.saturating_sub(self.id))
    }
}

impl<M: Manager> Inner<M>
where
    M::Connection: Clone,
{
    /// Whether a connection can take a lend now (not retired, not expired, below the
    /// limit).
    fn usable(&self, e: &Entry<M::Connection>, now: Nanos) -> bool {
        !e.retired.load(Ordering::SeqCst)
            && now < e.expires
            && e.load.load(Ordering::SeqCst) < self.limit
    }

    /// Takes a lend of the least-loaded usable connection of `entries`, without a lock
    /// (see the module docs). Returns an expired connection to retire too.
    fn pick(
        &self,
        entries: &[Arc<Entry<M::Connection>>],
        now: Nanos,
    ) -> (Found<M::Connection>, Expired<M::Connection>) {
        let mut expired = None;
        loop {
            let mut best: Option<(usize, &Arc<Entry<M::Connection>>)> = None;
            // Ties go to the oldest connection: loads change with every lend, so the
            // least-loaded choice keeps them within one of each other anyway.
            for e in entries {
                if e.retired.load(Ordering::SeqCst) {
                    continue;
                }
                if now >= e.expires {
                    expired.get_or_insert_with(|| e.clone());
                    continue;
                }
                let load = e.load.load(Ordering::SeqCst);
                if load < self.limit && best.is_none_or(|(b, _)| load < b) {
                    best = Some((load, e));
                    if load == 0 {
                        break;
                    }
                }
            }
            let Some((load, e)) = best else {
                return (None, expired);
            };
            // From a value below the limit to one more: the limit holds. A failure means
            // another caller took or gave back a lend meanwhile: scan again.
            if e.load
                .compare_exchange(load, load + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            if e.retired.load(Ordering::SeqCst) {
                // Retired after the scan: give the lend back (without stamping a use).
                e.load.fetch_sub(1, Ordering::SeqCst);
                self.shared.notify_capacity();
                continue;
            }
            e.lends.fetch_add(1, Ordering::Relaxed);
            return (Some(e.clone()), expired);
        }
    }

    /// Decides what a caller with a permit does: a lend of the least-loaded usable
    /// connection (taken without the lock), else, under the lock, a claim on one being
    /// opened, else a new connection, else wait. Gives up the caller's old claim first.
    /// Returns an expired connection to retire too.
    pub(crate) fn decide(&self, claim: &mut Claim<'_, M>) -> (Step<'_, M>, Expired<M::Connection>) {
        // Only lifetimes need the time here (without one, every `expires` is the end of
        // time).
        let now = if self.shared.max_lifetime.is_some() {
            clock::now()
        } else {
            0
        };
        let (lent, expired) = self.live.read(|entries| self.pick(entries, now));
        if let Some(e) = lent {
            if std::mem::take(&mut claim.held) {
                lock(&self.state).claims -= 1;
                // Someone else may take what this caller counted on.
                self.shared.notify_capacity();
            }
            return (Step::Lend(e), expired);
        }
        let mut st = lock(&self.state);
        if std::mem::take(&mut claim.held) {
            st.claims -= 1;
        }
        // Again under the lock: a connection may have been added since the snapshot.
        let (lent, found) = self.pick(&st.entries, now);
        let expired = found.or(expired);
        if let Some(e) = lent {
            return (Step::Lend(e), expired);
        }
        if st.opening * (self.limit - 1) > st.claims {
            st.claims += 1;
            claim.held = true;
            return (Step::Claim, expired);
        }
        if let Some(slot) = self.shared.reserve() {
            st.opening += 1;
            return (Step::Open(slot, Opening { inner: self }), expired);
        }
        (Step::Wait, expired)
    }

    /// Whether a waiter (with a claim or not) should decide again.
    pub(crate) fn ready(&self, claimed: bool) -> bool {
        let now = clock::now();
        let st = lock(&self.state);
        if st.entries.iter().any(|e| self.usable(e, now)) {
            return true;
        }
        let others = st.claims - usize::from(claimed);
        if st.opening * (self.limit - 1) > others {
            // Room is on its way: a claimer keeps waiting, another caller claims it.
            !claimed
        } else {
            // A claimer's connection failed or was taken: decide again. Under a total
            // cap, also when another key's connection could be retired for room.
            claimed
                || self.has_room()
                || (self.total_binds()
                    && (self.siblings.as_ref()).is_some_and(|s| s.idle(self.addr())))
        }
    }

    /// Whether a connection could be opened: room in this pool and, for a key's pool of a
    /// keyed pool with a total cap, under that cap.
    fn has_room(&self) -> bool {
        !self.shared.over_or_at_capacity()
            && (self.shared.global.as_ref()).is_none_or(|g| g.cap.used() < g.cap.max())
    }

    /// This pool's address, as [`Siblings`] know it.
    fn addr(&self) -> *const () {
        std::ptr::from_ref(self).cast::<()>()
    }

    /// Whether this pool is below its own cap but the total cap of its keyed pool binds.
    fn total_binds(&self) -> bool {
        self.siblings.is_some() && !self.shared.over_or_at_capacity() && !self.has_room()
    }

    /// Opens a connection in the reserved slot, as the exclusive pool does (backoff,
    /// `connect_timeout`, the caller's deadline, evidence), and adds it with `load` lends
    /// already taken.
    pub(crate) async fn open(
        &self,
        slot: Slot<'_>,
        opening: Opening<'_, M>,
        deadline: &mut Deadline,
        wait: bool,
        load: usize,
    ) -> Result<Arc<Entry<M::Connection>>, Error<M::Error>> {
        // Declared before the slot (moved in below), so dropped after it: a slot given
        // back on failure (or cancellation) is room for the other keys' callers.
        let mut room = RoomFreed {
            inner: self,
            armed: true,
        };
        let (slot, opening) = (slot, opening);
        let shared = &self.shared;
        let _probe = match shared.admit(deadline, wait).await {
            Ok(probe) => probe,
            Err(Refused::Unavailable { failures, last }) => {
                crate::stats::Counters::bump(&shared.counters.gets_unavailable);
                return Err(Error::Unavailable { failures, last });
            }
            Err(Refused::Timeout) => return Err(self.wait_error(WaitError::Timeout, deadline)),
            // Maintenance, whose turn it is not: no get waited, nothing to count.
            Err(Refused::NotYet) => return Err(Error::Timeout),
            Err(Refused::Closed) => return Err(Error::Closed),
        };
        let (mut conn, at, started) = shared
            .connect_bounded(deadline, self.manager.connect())
            .await?;
        if let Some(hooks) = &self.hooks.hooks {
            // Until `slot.fill()`, `slot` and `opening` give back what they hold if the
            // hook fails, hangs, panics or is dropped; the connection is dropped with it.
            let outcome = run_until(at, hooks.on_connect(&mut conn)).await;
            if !matches!(outcome, Some(Ok(()))) {
                drop(conn);
                return Err(shared.on_connect_failed(outcome.and_then(Result::err), started));
            }
        }
        let entry = Arc::new(Entry::new(conn, clock::now(), shared.max_lifetime, load));
        let (id, took) = (entry.id, started.elapsed());
        shared.events.emit(|| Event::ConnectionOpened { id, took });
        slot.fill();
        room.armed = false;
        shared.connect_succeeded();
        opening.finish(entry.clone());
        if shared.is_closed() {
            // Closed while it connected: `close` did not see it.
            self.retire(&entry, CloseReason::Closed);
        }
        Ok(entry)
    }

    /// Stops lending `entry` and frees its slot (once); its lends out keep their handles.
    pub(crate) fn retire(&self, entry: &Arc<Entry<M::Connection>>, reason: CloseReason) {
        if entry.retired.swap(true, Ordering::SeqCst) {
            return;
        }
        {
            let mut st = lock(&self.state);
            st.entries.retain(|e| !Arc::ptr_eq(e, entry));
            self.publish(&st);
        }
        let counters = &self.shared.counters;
        match reason {
            CloseReason::Broken => Counters::bump(&counters.closed_broken),
            CloseReason::Invalid => Counters::bump(&counters.closed_invalid),
            CloseReason::Idle => Counters::bump(&counters.closed_idle),
            CloseReason::Lifetime => Counters::bump(&counters.closed_lifetime),
            _ => {}
        }
        // Free the slot (and tell the other keys) even if the event handler panics.
        let _room = RoomFreed {
            inner: self,
            armed: true,
        };
        let _slot = Slot::adopt(&self.shared);
        let now = clock::now();
        self.shared.events.emit(|| Event::ConnectionClosed {
            id: entry.id,
            reason: reason.into(),
            age: entry.age(now),
            uses: entry.lends.load(Ordering::Relaxed),
        });
    }

    /// Retires connections above `max_size` (after a shrink), those with the fewest lends
    /// out first; their lends out keep their handles.
    pub(crate) fn trim(&self) {
        let max = self.shared.max_size.load(Ordering::SeqCst);
        let victims: Vec<_> = {
            let st = lock(&self.state);
            let excess = self.shared.size.load(Ordering::SeqCst).saturating_sub(max);
            let mut open: Vec<_> = st
                .entries
                .iter()
                .filter(|e| !e.retired.load(Ordering::SeqCst))
                .cloned()
                .collect();
            open.sort_by_key(|e| e.load.load(Ordering::SeqCst));
            open.truncate(excess);
            open
        };
        for e in &victims {
            self.retire(e, CloseReason::Shrunk);
        }
    }

    /// Retires the open connections for which `keep` returns `false`; returns how many.
    pub(crate) fn retain(
        &self,
        mut keep: impl FnMut(&mut M::Connection, crate::Meta) -> bool,
    ) -> usize {
        let snapshot: Vec<_> = lock(&self.state).entries.clone();
        let mut retired = 0;
        for e in &snapshot {
            if e.retired.load(Ordering::SeqCst) {
                continue;
            }
            let meta = crate::Meta::from_raw(
                e.id,
                e.id,
                e.last_used.load(Ordering::Relaxed),
                e.lends.load(Ordering::Relaxed),
                self.shared.epoch,
            );
            let mut conn = e.conn.clone();
            if !keep(&mut conn, meta) {
                self.retire(e, CloseReason::Retained);
                retired += 1;
            }
        }
        retired
    }

    /// Closes the pool: gets fail from now on, waiters are woken, and every connection
    /// is retired (the pool is kept alive until that is done).
    pub(crate) fn close(&self) {
        let keep = self.shared.close();
        self.retire_all();
        drop(keep);
    }

    /// Retires every connection (the pool closed).
    fn retire_all(&self) {
        let all = {
            let mut st = lock(&self.state);
            let all = std::mem::take(&mut st.entries);
            self.publish(&st);
            all
        };
        for e in &all {
            self.retire(e, CloseReason::Closed);
        }
    }

    pub(crate) fn wait_error(&self, e: WaitError, deadline: &Deadline) -> Error<M::Error> {
        match e {
            WaitError::Closed => Error::Closed,
            WaitError::Timeout => {
                Counters::bump(&self.shared.counters.gets_timed_out);
                (self.shared.events).emit(|| Event::GetTimedOut {
                    waited: deadline.waited(),
                });
                Error::Timeout
            }
        }
    }

    /// With a permit held: the first step of [`obtain`](Self::obtain) when it needs no
    /// wait, lock or check (the common case): a lend of the least-loaded connection with
    /// room, its handle cloned. `None` sends the caller to `obtain`.
    #[inline]
    pub(crate) fn lend_now(&self) -> Option<Taken<M::Connection>> {
        if self.hooks.on_checkout || self.shared.is_closed() {
            return None;
        }
        let now = if self.shared.max_lifetime.is_some() || self.shared.check_after.is_some() {
            clock::now()
        } else {
            0
        };
        let (lent, expired) = self.live.read(|entries| self.pick(entries, now));
        if let Some(e) = expired {
            self.retire(&e, CloseReason::Lifetime);
        }
        let entry = lent?;
        if self.check_due(&entry, now) {
            // `obtain` checks it: give the lend back (no use to stamp) and let it choose.
            let left = entry.load.fetch_sub(1, Ordering::SeqCst) - 1;
            entry.lends.fetch_sub(1, Ordering::Relaxed);
            self.shared.notify_capacity();
            self.went_idle(left);
            return None;
        }
        let conn = entry.conn.clone();
        Some((entry, conn))
    }

    /// Whether a lend of `e` (just taken) must run `is_valid` first: with
    /// `test_on_check_out`, when it was the only lend and the connection sat unused (and
    /// unchecked) at least `check_idle_after`.
    fn check_due(&self, e: &Entry<M::Connection>, now: Nanos) -> bool {
        let Some(after) = self.shared.check_after else {
            return false;
        };
        let since = e
            .last_used
            .load(Ordering::Relaxed)
            .max(e.checked.load(Ordering::Relaxed));
        e.load.load(Ordering::SeqCst) <= 1 && now.saturating_sub(since) >= after
    }

    /// With a permit held: a lend of a connection (its handle cloned), or an error.
    /// `once`: never wait (for `try_get`).
    pub(crate) async fn obtain(
        &self,
        deadline: &mut Deadline,
        once: bool,
    ) -> Result<Taken<M::Connection>, Error<M::Error>> {
        let mut claim = Claim {
            inner: self,
            held: false,
        };
        let mut waited = false;
        let mut evictions = 0;
        let mut room_wait = None;
        loop {
            if self.shared.is_closed() {
                return Err(Error::Closed);
            }
            let (step, expired) = self.decide(&mut claim);
            if let Some(e) = expired {
                self.retire(&e, CloseReason::Lifetime);
            }
            match step {
                Step::Lend(entry) => {
                    if waited {
                        // One new connection has room for many: pass the wake-up on.
                        self.shared.notify_capacity();
                    }
                    let lend = Lend {
                        inner: self,
                        entry,
                        handed: false,
                    };
                    if let Some(conn) = self.check(&lend, deadline).await? {
                        return Ok((lend.take(), conn));
                    }
                    // It failed its check and was retired: choose again.
                    continue;
                }
                Step::Open(slot, opening) => {
                    let entry = self.open(slot, opening, deadline, true, 1).await?;
                    let conn = entry.conn.clone();
                    return Ok((entry, conn));
                }
                Step::Claim => {}
                Step::Wait => {
                    // The total cap of a keyed pool binds: make room by retiring another
                    // key's connection with no lend out, a few times at most (others may
                    // take the room first).
                    if let Some(siblings) = self.siblings.as_ref().filter(|_| self.total_binds()) {
                        if evictions < EVICT_TRIES {
                            evictions += 1;
                            if siblings.evict(self.addr()) {
                                continue;
                            }
                        }
                        // Other keys' returns tell this caller when a connection goes idle.
                        if room_wait.is_none() {
                            siblings.waiting(1);
                            room_wait = Some(RoomWaiter(&**siblings));
                        }
                    }
                }
            }
            if once {
                return Err(Error::Timeout);
            }
            let claimed = claim.held;
            if let Err(e) = (self.shared)
                .wait_capacity(|| self.ready(claimed), deadline)
                .await
            {
                return Err(self.wait_error(e, deadline));
            }
            waited = true;
        }
    }

    /// With `test_on_check_out`: runs `is_valid` on a lend of a connection that had no
    /// lends out and sat unused at least `check_idle_after` (busy connections are proven
    /// by their traffic). `Ok(None)` if it failed (the connection is retired).
    async fn check(
        &self,
        lend: &Lend<'_, M>,
        deadline: &mut Deadline,
    ) -> Result<Option<M::Connection>, Error<M::Error>> {
        let mut conn = lend.entry.conn.clone();
        let e = &lend.entry;
        let events = &self.shared.events;
        if self.check_due(e, clock::now()) {
            let check =
                (self.shared).check(&self.manager, &mut conn, || deadline.at_nanos(), false);
            match check.await {
                None => {
                    events.check_failed(e.id, events::Check::IsValid, &TimedOut::IS_VALID);
                    return Err(self.wait_error(WaitError::Timeout, deadline));
                }
                Some(Err(err)) => {
                    events.check_failed(e.id, events::Check::IsValid, &err);
                    if e.lends.load(Ordering::Relaxed) <= 1 {
                        self.shared.failed_on_first_use();
                    }
                    self.retire(e, CloseReason::Invalid);
                    return Ok(None);
                }
                Some(Ok(())) => e.checked.store(clock::now(), Ordering::Relaxed),
            }
        }
        let Some(hooks) = self.hooks.hooks.as_ref().filter(|_| self.hooks.on_checkout) else {
            return Ok(Some(conn));
        };
        let meta = crate::Meta::from_raw(
            e.id,
            e.id,
            e.last_used.load(Ordering::Relaxed),
            e.lends.load(Ordering::Relaxed).saturating_sub(1),
            self.shared.epoch,
        );
        let hook = hooks.on_checkout(&mut conn, meta);
        match (self.shared.alarms)
            .run_until_lazy(|| deadline.at_nanos(), hook)
            .await
        {
            None => {
                events.check_failed(e.id, events::Check::OnCheckout, &TimedOut::ON_CHECKOUT);
                Err(self.wait_error(WaitError::Timeout, deadline))
            }
            Some(Err(err)) => {
                events.check_failed(e.id, events::Check::OnCheckout, &err);
                self.retire(e, CloseReason::Rejected);
                Ok(None)
            }
            Some(Ok(())) => Ok(Some(conn)),
        }
    }

    /// One maintenance pass: retire connections past their lifetime, idle ones past
    /// `idle_timeout` (above `min_idle` open), check unused ones past `check_idle_after`,
    /// then open connections up to `min_idle`.
    pub(crate) async fn maintain(&self, bound: Duration) {
        let shared = &self.shared;
        if shared.is_closed() {
            return;
        }
        let min = shared.config.min_idle.unwrap_or(0);
        let now = clock::now();
        let snapshot: Vec<_> = lock(&self.state).entries.clone();
        let mut open = snapshot.len();
        for e in &snapshot {
            if e.retired.load(Ordering::SeqCst) {
                continue;
            }
            if now >= e.expires {
                self.retire(e, CloseReason::Lifetime);
                open -= 1;
                continue;
            }
            if e.load.load(Ordering::SeqCst) != 0 {
                continue;
            }
            let unused = now.saturating_sub(e.last_used.load(Ordering::Relaxed));
            if unused >= shared.idle_timeout && open > min {
                self.retire(e, CloseReason::Idle);
                open -= 1;
                continue;
            }
            let unchecked = unused.min(now.saturating_sub(e.checked.load(Ordering::Relaxed)));
            if shared
                .check_after
                .is_some_and(|after| after > 0 && unchecked >= after)
            {
                let mut conn = e.conn.clone();
                let at = Deadline::new(Some(bound)).at_nanos();
                let events = &shared.events;
                match shared.check(&self.manager, &mut conn, || at, false).await {
                    Some(Ok(())) => e.checked.store(clock::now(), Ordering::Relaxed),
                    Some(Err(err)) => {
                        events.check_failed(e.id, events::Check::IsValid, &err);
                        self.retire(e, CloseReason::Invalid);
                        open -= 1;
                    }
                    None => {
                        events.check_failed(e.id, events::Check::IsValid, &TimedOut::IS_VALID);
                        self.retire(e, CloseReason::Invalid);
                        open -= 1;
                    }
                }
            }
        }
        while shared.size.load(Ordering::SeqCst) < min && !shared.is_closed() {
            let Some(slot) = shared.reserve() else { break };
            let opening = {
                lock(&self.state).opening += 1;
                Opening { inner: self }
            };
            let mut deadline = Deadline::new(Some(bound));
            if self
                .open(slot, opening, &mut deadline, false, 0)
                .await
                .is_err()
            {
                break;
            }
        }
    }
}

impl<M: Manager> Inner<M> {
    /// A lend came back, leaving `left` lends of its connection out: under a keyed pool's
    /// total cap, a connection with none out is room for the other keys' waiters.
    #[inline]
    pub(crate) fn went_idle(&self, left: usize) {
        if left == 0 {
            if let Some(siblings) = &self.siblings {
                if siblings.has_waiters() {
                    siblings.notify();
                }
            }
        }
    }

    /// Stores the list of open connections for lock-free readers (under the lock).
    fn publish(&self, st: &State<M::Connection>) {
        self.live.store(st.entries.clone());
    }
}

impl<M: Manager> Opening<'_, M> {
    /// The connection exists: add it, in the same step as it stops counting as being
    /// opened, and wake whoever waits for room.
    fn finish(self, entry: Arc<Entry<M::Connection>>) {
        let inner = self.inner;
        std::mem::forget(self);
        {
            let mut st = lock(&inner.state);
            st.opening -= 1;
            st.entries.push(entry);
            inner.publish(&st);
        }
        inner.shared.notify_capacity();
    }
}

impl<M: Manager> Drop for Opening<'_, M> {
    fn drop(&mut self) {
        lock(&self.inner.state).opening -= 1;
        // Claimers of this connection decide again.
        self.inner.shared.notify_capacity();
    }
}

impl<M: Manager> Drop for Claim<'_, M> {
    fn drop(&mut self) {
        if self.held {
            lock(&self.inner.state).claims -= 1;
            self.inner.shared.notify_capacity();
        }
    }
}

/// A lend taken in `decide` and not yet handed out: given back if the checkout is
/// dropped (during `is_valid`) or fails.
struct Lend<'a, M: Manager> {
    inner: &'a Inner<M>,
    entry: Arc<Entry<M::Connection>>,
    handed: bool,
}

impl<M: Manager> Lend<'_, M> {
    /// Hands the lend out: the caller's guard gives it back from now on.
    fn take(mut self) -> Arc<Entry<M::Connection>> {
        self.handed = true;
        self.entry.clone()
    }
}

impl<M: Manager> Drop for Lend<'_, M> {
    fn drop(&mut self) {
        if !self.handed {
            let left = self.entry.returned();
            self.inner.shared.notify_capacity();
            self.inner.went_idle(left);
        }
    }
}

/// Tells the other keys' pools that room under the total cap was freed, when dropped
/// while armed (after the slot it was declared before).
struct RoomFreed<'a, M: Manager> {
    inner: &'a Inner<M>,
    armed: bool,
}

impl<M: Manager> Drop for RoomFreed<'_, M> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(siblings) = &self.inner.siblings {
                siblings.notify();
            }
        }
    }
}

/// A caller counted as waiting for room under a keyed pool's total cap, until dropped.
struct RoomWaiter<'a>(&'a dyn Siblings);

impl Drop for RoomWaiter<'_> {
    fn drop(&mut self) {
        self.0.waiting(-1);
    }
}
