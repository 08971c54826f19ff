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
use std::panic::Location;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::clock;
use crate::config::Config;
use crate::error::Error;
use crate::events::{Event, Events};
use crate::holders::{Holder, TimeoutReport};
use crate::hooks::DynHooks;
use crate::idle::{Idle, IdleQueue};
use crate::pooled::Pooled;
use crate::sema::{Keep, TryAcquireError};
use crate::shared::{Deadline, Permit, Shared};
use crate::stats::Stats;
use crate::sync::{Arc, AtomicUsize, Ordering, Weak, lock};
use crate::{Manager, Meta};

pub(crate) mod inner;
mod run_hooks;
mod visit;

pub(crate) use self::inner::{Inner, Verdict};
pub(crate) use self::visit::Visit;
pub(crate) use crate::types::CloseReason;

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
    pub(crate) fn from_parts(
        config: Config,
        manager: M,
        events: Events,
        hooks: DynHooks<M>,
        global: Option<crate::keyed::cap::Link>,
    ) -> Self {
        let idle = IdleQueue::new(config.queue_strategy, config.max_size);
        let mut shared = Shared::new(config, events);
        shared.global = global;
        // The checkout hook sends every checkout through the decision that reads the clock.
        if hooks.on_checkout() {
            shared
                .timed
                .fetch_or(crate::shared::TIMED, Ordering::Relaxed);
        }
        let inner = Arc::new(Inner {
            handles: AtomicUsize::new(1),
            shared,
            manager,
            idle,
            hooks,
        });
        // The guards of checked-out connections count no references: this one keeps the
        // pool alive until it is closed and the last guard is gone.
        inner.shared.sema.keep_alive(Keep(Box::new(inner.clone())));
        Self { inner }
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
    /// caller's connect failed; [`Error::Unavailable`] when the pool had to connect and
    /// the connect attempts it waited on failed (the server is down: see the crate docs);
    /// [`Error::Closed`] after
    /// [`close`](Self::close).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future at any await point releases what it held (its
    /// place in the queue, a wake-up it received, a slot it reserved; a connection being
    /// opened or checked is closed).
    ///
    /// # Caller
    ///
    /// `#[track_caller]`: the guard remembers the file and line of this call
    /// ([`Pooled::site`]), for [`holders`](Self::holders) and the leak reports.
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<Pooled<M>, Error<M::Error>>> + Send + '_ {
        self.acquire(self.inner.shared.config.wait_timeout, Location::caller())
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
    #[track_caller]
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Pooled<M>, Error<M::Error>>> + Send + '_ {
        self.acquire(Some(timeout), Location::caller())
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
    #[track_caller]
    #[inline]
    pub fn try_get(&self) -> Result<Pooled<M>, Error<M::Error>> {
        let site = Location::caller();
        match self.fast(site) {
            Fast::Done(conn) => Ok(conn),
            Fast::Closed => Err(Error::Closed),
            Fast::NoPermit => Err(Error::Timeout),
            Fast::Held(permit, first) => self.finish_now(permit, first, site),
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
    ///
    /// Nor on a thread that drives the runtime the connections need. Inside a task of a
    /// current-thread tokio runtime (or in its `block_on`) a connect waits for the
    /// runtime this very call blocks, and the `get` ends in a connect timeout
    /// ([`Error::ConnectTimeout`], or the manager's own timeout in [`Error::Connect`])
    /// although the server is up. From async code use
    /// `get().await`; to call a blocking function, run it on `tokio::task::spawn_blocking`
    /// or a plain thread.
    ///
    /// A manager whose connections belong to a runtime (tokio's `TcpStream`, say) needs
    /// that runtime when it connects: from a plain thread outside any runtime, its
    /// `connect` panics (tokio: "there is no reactor running") when the pool must open a
    /// connection. Call `get_blocking` for such a pool from a thread that has entered the
    /// runtime (`let _guard = handle.enter();`, or `spawn_blocking`), or use a manager
    /// of blocking connections (netpool-std) for threads.
    #[track_caller]
    #[inline]
    pub fn get_blocking(&self) -> Result<Pooled<M>, Error<M::Error>> {
        self.blocking(self.inner.shared.config.wait_timeout, Location::caller())
    }

    /// Like [`get_blocking`](Self::get_blocking), with `timeout` instead of `wait_timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), with `timeout` as the deadline.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread. Never call it inside an async task, nor on a thread
    /// that drives the runtime the connections need: see [`get_blocking`](Self::get_blocking).
    #[track_caller]
    pub fn get_blocking_timeout(&self, timeout: Duration) -> Result<Pooled<M>, Error<M::Error>> {
        self.blocking(Some(timeout), Location::caller())
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
        let mut item = Idle::new(conn, clock::now(), inner.shared.max_lifetime);
        let (id, took) = (item.id(), Duration::ZERO);
        inner
            .shared
            .events
            .emit(|| Event::ConnectionOpened { id, took });
        inner.count_opened(slot, &mut item);
        inner.push_idle(item);
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

    /// Changes `max_size` at run time.
    ///
    /// Growing wakes waiters at once. Shrinking closes idle connections above the new size
    /// now and checked-out ones as they come back, until the pool fits. Safe to call from
    /// many threads at once: afterwards `max_size` is the size of the last call, and
    /// exactly that many connections can be checked out.
    ///
    /// A pool cannot have `max_size` 0 (the builder refuses it with
    /// [`BuildError::ZeroMaxSize`](crate::BuildError::ZeroMaxSize)): `resize(0)` is
    /// ignored. Use [`try_resize`](Self::try_resize) to get the error instead.
    pub fn resize(&self, max_size: usize) {
        let _ignored_zero = self.try_resize(max_size);
    }

    /// Like [`resize`](Self::resize), but refuses a `max_size` of 0 as the builder does.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroMaxSize`](crate::BuildError::ZeroMaxSize) for 0; the pool is
    /// unchanged.
    pub fn try_resize(&self, max_size: usize) -> Result<(), crate::BuildError> {
        if max_size == 0 {
            return Err(crate::BuildError::ZeroMaxSize);
        }
        let inner = &*self.inner;
        let (from, hold) = inner.shared.set_max_size(max_size);
        inner.trim_idle();
        drop(hold);
        inner.shared.notify_capacity();
        (inner.shared.events).emit(|| Event::Resized { from, to: max_size });
        Ok(())
    }

    /// Closes the idle connections for which `keep` returns `false`; returns how many.
    ///
    /// `keep` sees each connection that is idle when `retain` starts once, with its
    /// [`Meta`], from the one idle longest to the most recently returned (under FIFO and
    /// LIFO alike); the kept ones stay in their order. Checked-out connections are not
    /// visited.
    pub fn retain(&self, mut keep: impl FnMut(&mut M::Connection, Meta) -> bool) -> usize {
        let inner = &*self.inner;
        let mut closed = 0;
        let mut pass = Visit::new(inner);
        while let Some(item) = pass.next() {
            let mut live = inner.live(item, CloseReason::Uncounted);
            if let Some(item) = live.item_mut() {
                let meta = Meta::from_idle(item, inner.shared.epoch);
                if keep(&mut item.conn, meta) {
                    pass.keep(live.take());
                    continue;
                }
            }
            live.set_reason(CloseReason::Retained);
            closed += 1;
        }
        closed
    }

    /// Closes the pool: from now on gets fail with [`Error::Closed`] and no connection is
    /// opened; idle connections are dropped now and checked-out ones when they come back.
    /// Waiters are woken with `Error::Closed`.
    pub fn close(&self) {
        let keep = self.inner.shared.close();
        self.inner.drain_idle();
        drop(keep);
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
            inner: crate::sync::downgrade(&self.inner),
        }
    }

    /// The manager.
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }

    async fn acquire(
        &self,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        // `fast`'s result is consumed before any await: matched on in the awaiting
        // `match`, it would be kept in every state of the future (128 bytes for a pool of
        // the `redis` crate's connections).
        let finishing = match self.fast(site) {
            Fast::Done(conn) => return Ok(conn),
            Fast::Closed => return Err(Error::Closed),
            Fast::NoPermit => None,
            Fast::Held(permit, first) => {
                match self.finishing(permit, first, Deadline::new(timeout), site) {
                    Ok(conn) => return Ok(conn),
                    Err(finishing) => Some(finishing),
                }
            }
        };
        match finishing {
            Some(finishing) => finishing.await,
            None => self.waited(Deadline::new(timeout), site).await,
        }
    }

    /// The rest of a `get` whose hot path found no free permit (or callers queued ahead):
    /// queue for one; then take the connection whose return granted it, or check, close
    /// or open one ([`finishing`](Self::finishing)).
    ///
    /// The caller matches on what the hot path took and awaits this or `finishing`: an
    /// `async fn` taking that as an argument would hold it (a connection, 112 bytes for the
    /// `redis` crate's) in every state of its future, twice (rustc keeps an argument's
    /// slot beside the local it moves into).
    pub(crate) async fn waited(
        &self,
        mut deadline: Deadline,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let inner = &*self.inner;
        let permit = match inner.shared.wait_permit(&mut deadline).await {
            Ok(permit) => permit,
            Err(e) => return Err(inner.wait_error(e, &deadline)),
        };
        // After a wait, the connection whose return granted the permit is idle: take it
        // here, as the hot path does (`finish` would look for it in the boxed connect
        // path, `Inner::obtain`).
        let first = if inner.shared.global.is_none() && !inner.shared.is_closed() {
            match inner.pop_ready() {
                Ok(item) => {
                    permit.forget();
                    return Ok(Pooled::new(&self.inner, item, site));
                }
                Err(first) => first,
            }
        } else {
            None
        };
        match self.finishing(permit, first, deadline, site) {
            Ok(conn) => Ok(conn),
            Err(finishing) => finishing.await,
        }
    }

    /// A checkout whose check the manager answers without I/O
    /// ([`Manager::is_valid_now`]), handed out without the boxed future of
    /// [`finishing`](Self::finishing): `Ok` with the connection, or (`Err`) what is left to
    /// finish ([`Rest`]), `first` taken out if its check failed (it is closed).
    ///
    /// Only a connection that must be checked and no `on_checkout` hook is decided here;
    /// everything else is left untouched.
    fn check_now<'a>(
        &'a self,
        permit: Permit<'a>,
        first: Option<Idle<M::Connection>>,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Rest<'a, M>> {
        let inner = &*self.inner;
        let rest = |permit, first, asked| Rest {
            permit,
            first,
            asked,
        };
        let Some(item) = first else {
            return Err(rest(permit, None, false));
        };
        if !matches!(inner.verdict(&item), Verdict::Check) || inner.hooks.on_checkout() {
            return Err(rest(permit, Some(item), false));
        }
        // Closed if `is_valid_now` panics or fails.
        let mut live = inner.live(item, CloseReason::Uncounted);
        match inner.validate_now(&mut live) {
            Some(true) => {
                permit.forget();
                Ok(Pooled::new(&self.inner, live.take(), site))
            }
            Some(false) => {
                inner.failed_on_checkout(&live);
                Err(rest(permit, None, false))
            }
            // Asked once: `finish` runs `is_valid` without asking again.
            None => Err(rest(permit, Some(live.take()), true)),
        }
    }

    /// The rest of a checkout that holds a permit: `Ok` with `first` when the manager
    /// answers its check at once ([`check_now`](Self::check_now)), else (`Err`)
    /// [`finish`](Self::finish), boxed, for the caller to await: for the `get` that must
    /// check, close or open a connection, or (a keyed pool) hand the total cap over.
    ///
    /// Boxed, and not inlined, so that `get`'s future holds a pointer in its place. The
    /// finishing future holds the manager's `is_valid` future, which may be large, and
    /// the connection it checks: inline, it took the `get` future of a pool of the
    /// `redis` crate's connections from 320 bytes to 1,760 (its `PING`). Every task, and
    /// every boxed future, that awaits a `get` was that large: past glibc's small-size
    /// cache (1,032 bytes), so that a Redis client boxing each request paid `malloc`'s
    /// slow path and a 1.7 KB copy per GET (boxed here, about 700 fewer instructions per
    /// GET, `callgrind` over `redis_driver`). Allocated only off the hot path: a
    /// connection handed out as it is, after a wait too, never gets here.
    #[inline(never)]
    pub(crate) fn finishing<'a>(
        &'a self,
        permit: Permit<'a>,
        first: Option<Idle<M::Connection>>,
        deadline: Deadline,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, std::pin::Pin<Box<impl Future<Output = Got<M>> + 'a>>> {
        let Rest {
            permit,
            first,
            asked,
        } = match self.check_now(permit, first, site) {
            Ok(conn) => return Ok(conn),
            Err(rest) => rest,
        };
        let how = Finish { once: false, asked };
        Err(Box::pin(self.finish(permit, first, deadline, how, site)))
    }

    /// The blocking entry points: the hot path without a future, else the state machine
    /// under `block_on`.
    #[inline(always)]
    fn blocking(
        &self,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        match self.fast(site) {
            Fast::Done(conn) => Ok(conn),
            Fast::Closed => Err(Error::Closed),
            Fast::NoPermit => self.rest_blocking(None, timeout, site),
            Fast::Held(permit, first) => self.rest_blocking(Some((permit, first)), timeout, site),
        }
    }

    /// [`waited`](Self::waited), or [`finish`](Self::finish), on this thread, for the
    /// blocking entry points. Not inlined: the hot path's caller stays small enough for
    /// its pop to be inlined.
    #[inline(never)]
    pub(crate) fn rest_blocking(
        &self,
        held: Option<(Permit<'_>, Option<Idle<M::Connection>>)>,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let deadline = Deadline::blocking(timeout);
        match held {
            // It will wait: park with a real waker from the first poll (a no-op first
            // poll would only queue the caller with a waker that must be replaced).
            None => futures_lite::future::block_on(self.waited(deadline, site)),
            // On this thread's stack: not boxed as `finishing` is.
            Some((permit, first)) => {
                block_on(self.finish(permit, first, deadline, Finish::default(), site))
            }
        }
    }

    /// `try_get`'s rest, with a permit held: one poll of the state machine, never waiting
    /// for room. A future still pending (an async connect or check) is dropped, which
    /// closes whatever it held.
    pub(crate) fn finish_now(
        &self,
        permit: Permit<'_>,
        first: Option<Idle<M::Connection>>,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let once = Finish {
            once: true,
            asked: false,
        };
        let finish = pin!(self.finish(permit, first, Deadline::new(None), once, site));
        match finish.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(Error::Timeout),
        }
    }

    /// The hot path, synchronously: a free permit (nobody waiting) and an idle connection
    /// that needs no check. Anything else goes to the state machine with what was taken.
    /// `site`: the caller of the entry point, which the guard records (see
    /// [`Pooled::site`]).
    #[inline(always)]
    pub(crate) fn fast(&self, site: &'static Location<'static>) -> Fast<'_, M> {
        let inner = &*self.inner;
        let shared = &inner.shared;
        shared.counters.gets.bump();
        match shared.sema.try_acquire() {
            Ok(()) => {}
            Err(TryAcquireError::Closed) => return Fast::Closed,
            Err(TryAcquireError::NoPermits | TryAcquireError::Timeout) => return Fast::NoPermit,
        }
        let permit = Permit::new(&shared.sema);
        let Some(item) = inner.idle.pop() else {
            return Fast::Held(permit, None);
        };
        match inner.verdict(&item) {
            Verdict::Go => {
                permit.forget();
                // Built in place with its site (an `at` on the way out would move the
                // guard once more).
                Fast::Done(Pooled::new(&self.inner, item, site))
            }
            // Rare: `finish` decides again (a clock read) rather than make `Fast`, which
            // the hot path moves around, bigger.
            _ => Fast::Held(permit, Some(item)),
        }
    }

    /// With a permit held: check `first` (if any), else find or open a connection, and
    /// hand it out.
    pub(crate) async fn finish(
        &self,
        permit: Permit<'_>,
        first: Option<Idle<M::Connection>>,
        mut deadline: Deadline,
        how: Finish,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let deadline = &mut deadline;
        let inner = &*self.inner;
        let checked = match first {
            Some(item) => {
                let verdict = inner.verdict(&item);
                inner.check_out(item, verdict, how.asked, deadline).await?
            }
            None => None,
        };
        let item = match checked {
            Some(item) => item,
            None => inner.obtain(deadline, how.once).await?,
        };
        permit.forget();
        Ok(Pooled::new(&self.inner, item, site))
    }
}

/// How [`Pool::finish`] goes about it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Finish {
    /// Never wait for room (`try_get`).
    pub(crate) once: bool,
    /// `is_valid_now` was asked about `first` and had no answer: run `is_valid`.
    pub(crate) asked: bool,
}

/// What [`Pool::check_now`] leaves to [`Pool::finish`]: the caller's permit, the
/// connection to check (if any) and whether `is_valid_now` was asked about it already.
struct Rest<'a, M: Manager> {
    permit: Permit<'a>,
    first: Option<Idle<M::Connection>>,
    asked: bool,
}

/// What a checkout ends with.
pub(crate) type Got<M> = Result<Pooled<M>, Error<<M as Manager>::Error>>;

/// What the synchronous hot path got.
pub(crate) enum Fast<'a, M: Manager> {
    /// A connection, ready.
    Done(Pooled<M>),
    /// The pool is closed.
    Closed,
    /// No free permit, or waiters are queued.
    NoPermit,
    /// A permit, and maybe an idle connection that must be checked or closed first.
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

impl<M: Manager> Pool<M> {
    /// Every checked-out connection, with where it was checked out and for how long,
    /// longest held first.
    ///
    /// Holders are tracked only with a [`leak_threshold`](crate::Builder::leak_threshold)
    /// (otherwise this is empty): set a large one to list holders without leak reports.
    pub fn holders(&self) -> Vec<Holder> {
        self.inner.shared.diag.holders()
    }

    /// The pool's state when a get last timed out (with [`Error::Timeout`]): how many
    /// connections were in use, and, when holders are tracked, the one held longest.
    ///
    /// [`Error::Timeout`] carries no data (callers match it as a
    /// unit variant); this is where its context is. Under the `tracing` feature the same
    /// text is logged at `warn` when the get times out.
    pub fn last_timeout(&self) -> Option<TimeoutReport> {
        lock(&self.inner.shared.diag.last_timeout).clone()
    }
}

impl<M: Manager> Pool<M> {
    /// Maintenance's part: the leak scan, and the metrics' gauges and counters.
    pub(crate) fn diagnose(&self) {
        let shared = &self.inner.shared;
        shared.diag.scan(&shared.events);
        #[cfg(feature = "metrics")]
        shared
            .diag
            .meter
            .sample(&self.stats(), shared.backing_off());
    }
}
