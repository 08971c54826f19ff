//! [`Pool`]: the acquire and release paths.
//!
//! # Implementation details
//!
//! `Pool<M>` is a thin typed shell: the manager, the idle queue, and [`Shared`], which
//! holds everything that does not depend on `M` (see [`crate::shared`]).
//!
//! A `get` is one async state machine, used by the async entry points directly and by the
//! blocking ones through `futures_lite::future::block_on`:
//!
//! 1. take a permit: one CAS when one is free and nobody waits; otherwise queue (FIFO);
//! 2. pop an idle connection; drop it if expired, check it with `is_valid` if it sat idle
//!    long enough; or, if none is idle, reserve a slot (`size < max_size`) and connect;
//!    or wait for room;
//! 3. hand the connection out in a [`Pooled`] that owns the permit.
//!
//! Every reservation is an RAII value (`Permit`, `Slot`, `Live`, the waiter's `Queued`),
//! so a future dropped at any await point, or a panicking manager, undoes exactly what it
//! holds (semantics 2 and 6).

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::clock::{self, Nanos};
use crate::config::{Builder, Config};
use crate::error::{Error, LastConnectError};
use crate::idle::{Idle, IdleQueue};
use crate::pooled::Pooled;
use crate::sema::TryAcquireError;
use crate::shared::{Deadline, Gate, Permit, Shared, Slot, WaitError, run_until};
use crate::stats::{Counters, Stats};
use crate::sync::{AtomicUsize, Ordering};
use crate::{Manager, Meta};

/// A pool of connections made by a [`Manager`].
///
/// Cheap to clone (an `Arc` inside); every clone is the same pool. Dropping the last clone
/// closes the pool as [`close`](Pool::close) does: idle connections are dropped at once,
/// checked-out ones when their [`Pooled`] guards are dropped, and maintenance ends.
///
/// # Examples
///
/// ```
/// # use std::convert::Infallible;
/// # struct Counter;
/// # impl netpool_core::Manager for Counter {
/// #     type Connection = u64;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<u64, Infallible> { Ok(0) }
/// #     async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut u64) -> bool { false }
/// # }
/// # futures_lite::future::block_on(async {
/// let pool = netpool_core::Pool::builder().max_size(2).build(Counter)?;
/// let mut conn = pool.get().await?;
/// *conn += 1;
/// drop(conn);
/// assert_eq!(*pool.get().await?, 1); // the same connection, reused
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Pool<M: Manager> {
    pub(crate) inner: Arc<Inner<M>>,
}

/// A handle that does not keep the pool alive: for maintenance tasks.
///
/// Get one with [`Pool::downgrade`].
pub struct WeakPool<M: Manager> {
    inner: Weak<Inner<M>>,
}

pub(crate) struct Inner<M: Manager> {
    /// Live `Pool` handles (not guards, not weak handles); the last one closes the pool.
    handles: AtomicUsize,
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

impl Pool<NoManager> {
    /// A [`Builder`] with the default settings; [`Builder::build`] picks the manager type,
    /// so `Pool::builder()` needs no type arguments.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

/// A placeholder manager with no values, so that `Pool::builder()` needs no type
/// arguments. No pool of it can exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoManager {}

impl Manager for NoManager {
    type Connection = std::convert::Infallible;
    type Error = std::convert::Infallible;

    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send {
        let never = *self;
        async move { match never {} }
    }

    fn is_valid(
        &self,
        _conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let never = *self;
        async move { match never {} }
    }

    fn has_broken(&self, _conn: &mut Self::Connection) -> bool {
        match *self {}
    }
}

impl<M: Manager> Pool<M> {
    pub(crate) fn from_parts(config: Config, manager: M) -> Self {
        let idle = IdleQueue::new(config.queue_strategy, config.max_size);
        Self {
            inner: Arc::new(Inner {
                handles: AtomicUsize::new(1),
                shared: Shared::new(config),
                manager,
                idle,
            }),
        }
    }

    /// Checks a connection out, waiting up to `wait_timeout`.
    ///
    /// Returns an idle connection if one is free (checking it with `is_valid` first when
    /// `test_on_check_out` is on and it sat idle at least `check_idle_after`), else opens
    /// one if the pool is below `max_size`, else waits its turn: waiters are served first
    /// come, first served.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when `wait_timeout` passes first (one deadline for waiting,
    /// connecting and checking); [`Error::Connect`] or [`Error::ConnectTimeout`] when this
    /// caller's connect failed; [`Error::Unavailable`] when the pool would have to connect
    /// while it backs off after failed connects; [`Error::Closed`] after
    /// [`close`](Self::close).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future at any await point releases what it held (its
    /// place in the queue, a wake-up it received, a slot it reserved; a connection being
    /// opened or checked is closed).
    pub async fn get(&self) -> Result<Pooled<M>, Error<M::Error>> {
        self.acquire(self.inner.shared.config.wait_timeout).await
    }

    /// Like [`get`](Self::get), with `timeout` instead of `wait_timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), with `timeout` as the deadline.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`get`](Self::get).
    pub async fn get_timeout(&self, timeout: Duration) -> Result<Pooled<M>, Error<M::Error>> {
        self.acquire(Some(timeout)).await
    }

    /// Checks a connection out without waiting.
    ///
    /// Returns an idle connection (if one needs `is_valid` and the check does not complete
    /// on its first poll, that connection is closed). On an empty pool it opens a
    /// connection only if the manager's `connect` completes on its first poll, as
    /// blocking managers' do; an async connect is dropped before it starts anything.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when no connection is free or callers are queued ahead;
    /// [`Error::Closed`], [`Error::Connect`] or [`Error::Unavailable`] as for
    /// [`get`](Self::get).
    pub fn try_get(&self) -> Result<Pooled<M>, Error<M::Error>> {
        let (permit, first) = match self.fast() {
            Fast::Done(conn) => return Ok(conn),
            Fast::Closed => return Err(Error::Closed),
            Fast::NoPermit => return Err(Error::Timeout),
            Fast::Held(permit, first) => (permit, first),
        };
        let mut deadline = Deadline::new(None);
        let finish = pin!(self.finish(permit, first, &mut deadline, true));
        // One poll: a future still pending (an async connect or check) is dropped, which
        // closes whatever it held.
        match finish.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(Error::Timeout),
        }
    }

    /// Checks a connection out from a thread, blocking it for up to `wait_timeout`.
    ///
    /// The same state machine as [`get`](Self::get), driven by
    /// `futures_lite::future::block_on`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread. Never call it inside an async task: use `get`.
    pub fn get_blocking(&self) -> Result<Pooled<M>, Error<M::Error>> {
        self.blocking(self.inner.shared.config.wait_timeout)
    }

    /// Like [`get_blocking`](Self::get_blocking), with `timeout` instead of `wait_timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), with `timeout` as the deadline.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread. Never call it inside an async task.
    pub fn get_blocking_timeout(&self, timeout: Duration) -> Result<Pooled<M>, Error<M::Error>> {
        self.blocking(Some(timeout))
    }

    /// Puts a connection made elsewhere into the pool, as an idle connection.
    ///
    /// # Errors
    ///
    /// Gives the connection back when the pool is full or closed.
    pub fn add(&self, conn: M::Connection) -> Result<(), M::Connection> {
        let inner = &*self.inner;
        if inner.shared.is_closed() {
            return Err(conn);
        }
        let Some(slot) = inner.shared.reserve() else {
            return Err(conn);
        };
        slot.fill();
        inner.shared.connect_succeeded();
        inner.push_idle(Idle::new(conn, clock::now(), inner.shared.max_lifetime));
        Ok(())
    }

    /// A snapshot of the pool's gauges and counters.
    pub fn stats(&self) -> Stats {
        let shared = &self.inner.shared;
        let connections = shared.size.load(Ordering::Relaxed);
        let idle = self.inner.idle.len().min(connections);
        let mut stats = Stats {
            max_size: shared.max_size.load(Ordering::Relaxed),
            connections,
            idle,
            in_use: connections - idle,
            waiting: shared.waiting(),
            ..Stats::default()
        };
        shared.counters.fill(&mut stats);
        stats
    }

    /// The pool's settings, with the current `max_size`.
    pub fn config(&self) -> Config {
        let mut config = self.inner.shared.config.clone();
        config.max_size = self.inner.shared.max_size.load(Ordering::Relaxed);
        config
    }

    /// Changes `max_size` at run time (0 counts as 1).
    ///
    /// Growing wakes waiters at once. Shrinking closes idle connections above the new size
    /// now and checked-out ones as they come back, until the pool fits.
    pub fn resize(&self, max_size: usize) {
        let max_size = max_size.max(1);
        let inner = &*self.inner;
        inner.shared.max_size.store(max_size, Ordering::SeqCst);
        inner.shared.sema.resize(max_size);
        while inner.shared.over_capacity() {
            match inner.idle.pop() {
                Some(item) => drop(inner.live(item, CloseReason::Uncounted)),
                None => break,
            }
        }
        inner.shared.notify_capacity();
    }

    /// Closes the idle connections for which `keep` returns `false`; returns how many.
    ///
    /// `keep` sees each connection that is idle when `retain` starts, with its [`Meta`].
    /// Checked-out connections are not visited.
    pub fn retain(&self, mut keep: impl FnMut(&mut M::Connection, Meta) -> bool) -> usize {
        let inner = &*self.inner;
        let mut closed = 0;
        for _ in 0..inner.idle.len() {
            let Some(item) = inner.idle.pop() else { break };
            let mut live = inner.live(item, CloseReason::Uncounted);
            let meta = live.meta();
            if let Some(item) = live.item.as_mut() {
                if keep(&mut item.conn, meta) {
                    inner.push_idle(live.take());
                    continue;
                }
            }
            closed += 1;
        }
        closed
    }

    /// Closes the pool: from now on gets fail with [`Error::Closed`] and no connection is
    /// opened; idle connections are dropped now and checked-out ones when they come back.
    /// Waiters are woken with `Error::Closed`.
    pub fn close(&self) {
        self.inner.shared.close();
        self.inner.drain_idle();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Resolves once the pool is closed and every connection is gone (checked-out ones
    /// too). It does not close the pool itself: call [`close`](Self::close) first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn wait_closed(&self) {
        self.inner.shared.wait_drained().await;
    }

    /// A handle that does not keep the pool alive.
    pub fn downgrade(&self) -> WeakPool<M> {
        WeakPool {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The manager.
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }

    async fn acquire(&self, timeout: Option<Duration>) -> Result<Pooled<M>, Error<M::Error>> {
        let (permit, first) = match self.fast() {
            Fast::Done(conn) => return Ok(conn),
            Fast::Closed => return Err(Error::Closed),
            Fast::NoPermit => return self.wait_and_finish(timeout).await,
            Fast::Held(permit, first) => (permit, first),
        };
        self.finish(permit, first, &mut Deadline::new(timeout), false)
            .await
    }

    /// No permit was free: queue for one, then find a connection.
    async fn wait_and_finish(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let inner = &*self.inner;
        let mut deadline = Deadline::new(timeout);
        let permit = match inner.shared.wait_permit(&mut deadline).await {
            Ok(permit) => permit,
            Err(e) => return Err(inner.wait_error(e)),
        };
        self.finish(permit, None, &mut deadline, false).await
    }

    /// The blocking entry points: the hot path without a future, else the state machine
    /// under `block_on`.
    fn blocking(&self, timeout: Option<Duration>) -> Result<Pooled<M>, Error<M::Error>> {
        let (permit, first) = match self.fast() {
            Fast::Done(conn) => return Ok(conn),
            Fast::Closed => return Err(Error::Closed),
            Fast::NoPermit => return block_on(self.wait_and_finish(timeout)),
            Fast::Held(permit, first) => (permit, first),
        };
        let mut deadline = Deadline::new(timeout);
        block_on(self.finish(permit, first, &mut deadline, false))
    }

    /// The hot path, synchronously: a free permit (nobody waiting) and an idle connection
    /// that needs no check. Anything else goes to the state machine with what was taken.
    #[inline]
    fn fast(&self) -> Fast<'_, M> {
        let inner = &*self.inner;
        let shared = &inner.shared;
        Counters::bump(&shared.counters.gets);
        match shared.sema.try_acquire() {
            Ok(()) => {}
            Err(TryAcquireError::Closed) => return Fast::Closed,
            Err(TryAcquireError::NoPermits | TryAcquireError::Timeout) => return Fast::NoPermit,
        }
        let permit = Permit::new(&shared.sema);
        let Some(item) = inner.idle.pop() else {
            return Fast::Held(permit, None);
        };
        match inner.check_out_now(item) {
            Ok(mut item) => {
                item.uses += 1;
                permit.forget();
                Fast::Done(Pooled::new(self.inner.clone(), item))
            }
            Err(item) => Fast::Held(permit, Some(item)),
        }
    }

    /// With a permit held: check `first` (if any), else find or open a connection, and
    /// hand it out. `once`: never wait for room.
    async fn finish(
        &self,
        permit: Permit<'_>,
        first: Option<Idle<M::Connection>>,
        deadline: &mut Deadline,
        once: bool,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let inner = &*self.inner;
        let checked = match first {
            Some(item) => inner.check_out(item, deadline).await?,
            None => None,
        };
        let item = match checked {
            Some(mut item) => {
                item.uses += 1;
                item
            }
            None => inner.obtain(deadline, once).await?,
        };
        permit.forget();
        Ok(Pooled::new(self.inner.clone(), item))
    }
}

/// What the synchronous hot path got.
enum Fast<'a, M: Manager> {
    /// A connection, ready.
    Done(Pooled<M>),
    /// The pool is closed.
    Closed,
    /// No free permit, or waiters are queued.
    NoPermit,
    /// A permit, and maybe an idle connection that needs a check.
    Held(Permit<'a>, Option<Idle<M::Connection>>),
}

/// Drives `fut` on this thread. The first poll uses a no-op waker, so a `get` that
/// completes at once (the hot path) skips setting up the thread's parker.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        return out;
    }
    futures_lite::future::block_on(fut)
}

impl<M: Manager> Inner<M> {
    pub(crate) fn live(&self, item: Idle<M::Connection>, reason: CloseReason) -> Live<'_, M> {
        Live {
            inner: self,
            item: Some(item),
            reason,
        }
    }

    fn wait_error(&self, e: WaitError) -> Error<M::Error> {
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
    async fn obtain(
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
    fn check_out_now(
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
    async fn check_out(
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

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Manager> Drop for Pool<M> {
    fn drop(&mut self) {
        // AcqRel: the last handle sees every other handle's work before closing.
        if self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> WeakPool<M> {
    /// The pool, if any [`Pool`] clone of it is still alive.
    pub fn upgrade(&self) -> Option<Pool<M>> {
        let inner = self.inner.upgrade()?;
        let mut handles = inner.handles.load(Ordering::Relaxed);
        loop {
            if handles == 0 {
                return None;
            }
            match inner.handles.compare_exchange_weak(
                handles,
                handles + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Pool { inner }),
                Err(actual) => handles = actual,
            }
        }
    }
}

impl<M: Manager> Clone for WeakPool<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Manager> fmt::Debug for WeakPool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakPool").finish_non_exhaustive()
    }
}
