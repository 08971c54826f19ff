//! [`SharedPool`]: a pool of connections that each serve several callers at once (see
//! its docs; the algorithm is in `inner`).

mod inner;
mod keyed;
mod snapshot;

pub use self::keyed::KeyedSharedPool;

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::{Pin, pin};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use self::inner::{Entry, Inner, State, Taken};
use crate::Manager;
use crate::clock;
use crate::config::{Config, QueueStrategy, config_knobs, fn_hook_setters};
use crate::error::{BuildError, Error};
use crate::events::{EventHandler, Events};
use crate::hooks::{DynHooks, Hooks, NoHooks};
use crate::pool::{CloseReason, NoManager};
use crate::sema::{Semaphore, TryAcquireError};
use crate::shared::{Deadline, Permit, Shared};
use crate::stats::Stats;
use crate::sync::{AtomicUsize, Mutex, Ordering, lock};

/// What a checkout comes to.
type Got<M> = Result<Lent<M>, Error<<M as Manager>::Error>>;
/// What [`Inner::obtain`] comes to.
type Obtained<M> = Result<Taken<<M as Manager>::Connection>, Error<<M as Manager>::Error>>;

/// The most lends per connection [`SharedBuilder::max_concurrent_per_connection`] accepts.
pub const MAX_CONCURRENT_PER_CONNECTION: usize = 1 << 16;

/// The bound on one check or connect in maintenance when `connect_timeout` is off.
const MAX_MAINTENANCE_STEP: Duration = Duration::from_secs(30);

/// A pool of shared (multiplexed) connections, each lent to up to
/// `max_concurrent_per_connection` callers at once.
///
/// Some connections are multiplexed: many requests can be in flight on one of them at a
/// time, and the client hands out cheap `Clone` handles to it (the `redis` crate's
/// `MultiplexedConnection`, an HTTP/2 `SendRequest`, a gRPC channel). One such connection
/// shared by every task is fast, but it is one socket (one server thread's queue, one
/// core of a proxy) and one point of failure: when it dies, every caller fails.
/// A [`SharedPool`] keeps up to `max_size` of them and lends each to at most
/// [`max_concurrent_per_connection`](SharedBuilder::max_concurrent_per_connection)
/// callers at a time:
///
/// * a checkout takes the least-loaded healthy connection; while every connection is at
///   its limit it opens another (within `max_size`), and when that is not possible
///   either, it waits first come, first served;
/// * a connection that breaks (`has_broken` when a lend comes back, a failed `is_valid`,
///   or [`Lent::discard`]) is retired at once: no new lends, its slot freed for a
///   replacement, while the other connections keep serving. Only the callers that were
///   using it see its errors;
/// * what the exclusive [`Pool`](crate::Pool) offers works the same: `wait_timeout` as one
///   deadline for waiting and connecting, fail fast on evidence with
///   [`Error::Unavailable`], the connect backoff, maintenance (idle timeout, jittered
///   lifetime, background checks, `min_idle` connections kept open), [`Event`](crate::Event)s, and
///   [`Stats`] with the lends in flight per connection.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use netpool_core::{Lent, Manager, SharedPool};
///
/// /// A pretend multiplexed client: a handle that counts the requests sent through it.
/// #[derive(Clone, Default)]
/// struct Handle(Arc<AtomicU64>);
///
/// struct Mux;
///
/// impl Manager for Mux {
///     type Connection = Handle;
///     type Error = Infallible;
///
///     async fn connect(&self) -> Result<Handle, Infallible> {
///         Ok(Handle::default())
///     }
///     async fn is_valid(&self, _conn: &mut Handle) -> Result<(), Infallible> {
///         Ok(())
///     }
///     fn has_broken(&self, _conn: &mut Handle) -> bool {
///         false
///     }
/// }
///
/// # futures_lite::future::block_on(async {
/// let pool = SharedPool::builder()
///     .max_size(4)
///     .max_concurrent_per_connection(2)
///     .build(Mux)?;
///
/// // Two callers share the first connection; the third finds it at its limit and opens
/// // a second one.
/// let a = pool.get().await?;
/// let b = pool.get().await?;
/// let c = pool.get().await?;
/// assert_eq!(Lent::id(&a), Lent::id(&b));
/// assert_ne!(Lent::id(&a), Lent::id(&c));
/// a.0.fetch_add(1, Ordering::Relaxed); // a request on the shared connection
/// assert_eq!(b.0.load(Ordering::Relaxed), 1);
///
/// let stats = pool.stats();
/// assert_eq!(stats.pool.connections, 2);
/// assert_eq!(stats.in_flight, 3);
/// # drop((a, b, c));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Shared or exclusive?
///
/// Use a [`SharedPool`] when the protocol multiplexes (requests carry ids, or are answered
/// in order on a pipeline) and callers send short requests: Redis commands without
/// connection state, HTTP/2, gRPC. Use the exclusive [`Pool`](crate::Pool) for anything that
/// changes or holds the connection's state: Redis blocking commands (`BLPOP`),
/// transactions (`MULTI`/`WATCH`), subscriptions and `SELECT`; SQL sessions and
/// transactions; protocols without multiplexing.
///
/// # One shared pool per node
///
/// For a cluster, [`KeyedSharedPool`] keeps one `SharedPool` per node, made on first
/// use. By hand, keep one `SharedPool` per node in a map keyed by the node's address
/// (each pool is cheap to clone, and its `max_size` bounds that node's connections):
///
/// ```
/// # use std::convert::Infallible;
/// # #[derive(Clone)] struct Handle;
/// # struct Node(String);
/// # impl netpool_core::Manager for Node {
/// #     type Connection = Handle;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<Handle, Infallible> { let _addr = &self.0; Ok(Handle) }
/// #     async fn is_valid(&self, _: &mut Handle) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut Handle) -> bool { false }
/// # }
/// use std::collections::HashMap;
/// use std::sync::RwLock;
/// use netpool_core::SharedPool;
///
/// #[derive(Default)]
/// struct Nodes(RwLock<HashMap<String, SharedPool<Node>>>);
///
/// impl Nodes {
///     fn pool(&self, addr: &str) -> Result<SharedPool<Node>, netpool_core::BuildError> {
///         if let Some(pool) = self.0.read().unwrap().get(addr) {
///             return Ok(pool.clone());
///         }
///         let mut nodes = self.0.write().unwrap();
///         if let Some(pool) = nodes.get(addr) {
///             return Ok(pool.clone());
///         }
///         let pool = SharedPool::builder().max_size(2).build(Node(addr.to_owned()))?;
///         nodes.insert(addr.to_owned(), pool.clone());
///         Ok(pool)
///     }
/// }
/// # futures_lite::future::block_on(async {
/// let nodes = Nodes::default();
/// let conn = nodes.pool("10.0.0.1:7000")?.get().await?;
/// # drop(conn);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// # Maintenance
///
/// As with [`Pool`](crate::Pool), call [`SharedPool::maintain`] every
/// [`SharedPool::maintenance_interval`] (a loop in a task of your runtime, holding a
/// [`WeakSharedPool`]). `min_idle` is the number of connections it keeps open, busy or
/// not: with it, a burst of callers finds connections ready and spreads over them at once.
///
/// Cheap to clone (an `Arc` inside); every clone is the same pool. Dropping the last clone
/// closes it.
pub struct SharedPool<M: Manager>
where
    M::Connection: Clone,
{
    inner: Arc<Inner<M>>,
}

/// A handle that does not keep a [`SharedPool`] alive: for maintenance tasks.
pub struct WeakSharedPool<M: Manager>
where
    M::Connection: Clone,
{
    inner: Weak<Inner<M>>,
}

/// Builds a [`SharedPool`]: the knobs of [`Builder`](crate::Builder), plus
/// [`max_concurrent_per_connection`](Self::max_concurrent_per_connection).
///
/// `min_idle` is the number of connections maintenance keeps open (a shared connection
/// is rarely idle); `test_on_check_out` checks only connections that had no lend out for
/// `check_idle_after`; `queue_strategy` does not apply (the least-loaded connection is
/// lent).
///
/// `H` is the type of the [`Hooks`] set with [`hooks`](Self::hooks) (or the closures of
/// [`on_connect`](SharedBuilder::on_connect) and [`on_checkout`](SharedBuilder::on_checkout)):
/// [`NoHooks`] until then.
#[derive(Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct SharedBuilder<H = NoHooks> {
    config: Config,
    events: Events,
    limit: usize,
    /// The cap of a [`KeyedSharedPool`] across keys (`None`: no cap).
    max_total: Option<usize>,
    hooks: H,
}

/// A lend of a shared connection: a clone of its handle, from [`SharedPool::get`].
///
/// Derefs (mutably) to the handle. Dropping it gives the lend back (`has_broken` runs on
/// the handle first; a broken connection is retired). Its own operations are associated
/// functions, so they never shadow the connection's methods: [`Lent::discard`],
/// [`Lent::id`].
#[must_use = "dropping a Lent gives the lend back at once"]
#[clippy::has_significant_drop]
pub struct Lent<M: Manager>
where
    M::Connection: Clone,
{
    pool: Arc<Inner<M>>,
    entry: Arc<Entry<M::Connection>>,
    conn: Option<M::Connection>,
    broken: bool,
}

/// A snapshot of a [`SharedPool`]: the exclusive pool's [`Stats`], and the lends in flight.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// The gauges and counters of [`Pool::stats`](crate::Pool::stats): `connections`
    /// counts open connections (and ones being opened), `idle` the ones with no lend
    /// out, `in_use` the ones with lends out; `gets`, `gets_waited`... count checkouts.
    pub pool: Stats,
    /// The per-connection limit.
    pub max_concurrent_per_connection: usize,
    /// Lends out in all (on open connections; lends of retired ones are not counted).
    pub in_flight: usize,
    /// Each open connection, oldest first.
    pub connections: Vec<ConnectionLoad>,
}

/// One connection of a [`SharedPool`], in [`SharedStats`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLoad {
    /// Its id (as in its [`Event`](crate::Event)s).
    pub id: u64,
    /// Lends out now.
    pub in_flight: usize,
    /// Lends in all.
    pub lends: u64,
    /// How long it has been open.
    pub age: Duration,
}

impl SharedPool<NoManager> {
    /// A [`SharedBuilder`] with the default settings.
    pub fn builder() -> SharedBuilder {
        SharedBuilder::new()
    }
}

impl<M: Manager> SharedPool<M>
where
    M::Connection: Clone,
{
    /// Lends a connection, waiting up to `wait_timeout`.
    ///
    /// Takes the least-loaded connection below its limit; while every connection is at
    /// its limit, opens one if the pool is below `max_size` (or counts on one being
    /// opened), else waits its turn: waiters are served first come, first served, and a
    /// returned lend goes to the oldest.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`](crate::Pool::get): [`Error::Timeout`] when `wait_timeout` passes
    /// first (one deadline for waiting, connecting and checking); [`Error::Connect`] or
    /// [`Error::ConnectTimeout`] when this caller's connect failed;
    /// [`Error::Unavailable`] when it had to connect and the connect attempts it waited on
    /// failed; [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future at any await point gives back what it held (its
    /// place in the queue or a wake-up it received, a lend, a claim on a connection being
    /// opened, a slot; a connection being opened is closed).
    pub async fn get(&self) -> Result<Lent<M>, Error<M::Error>> {
        self.acquire(Deadline::new(self.inner.shared.config.wait_timeout), false)
            .await
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
    pub async fn get_timeout(&self, timeout: Duration) -> Result<Lent<M>, Error<M::Error>> {
        self.acquire(Deadline::new(Some(timeout)), false).await
    }

    /// Lends a connection without waiting: one poll of [`get`](Self::get)'s state
    /// machine. A connect (or check) that does not complete at once is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when no lend is free or callers are queued ahead; the others as
    /// for [`get`](Self::get).
    pub fn try_get(&self) -> Result<Lent<M>, Error<M::Error>> {
        let get = pin!(self.acquire(Deadline::new(None), true));
        match get.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(Error::Timeout),
        }
    }

    /// Lends a connection to a thread, blocking it for up to `wait_timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread; never call it inside an async task, nor on a thread that
    /// drives the runtime the connections need (see
    /// [`Pool::get_blocking`](crate::Pool::get_blocking)).
    pub fn get_blocking(&self) -> Result<Lent<M>, Error<M::Error>> {
        let deadline = Deadline::blocking(self.inner.shared.config.wait_timeout);
        futures_lite::future::block_on(self.acquire(deadline, false))
    }

    /// Like [`get_blocking`](Self::get_blocking), with `timeout` instead of `wait_timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), with `timeout` as the deadline.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread, as [`get_blocking`](Self::get_blocking).
    pub fn get_blocking_timeout(&self, timeout: Duration) -> Result<Lent<M>, Error<M::Error>> {
        futures_lite::future::block_on(self.acquire(Deadline::blocking(Some(timeout)), false))
    }

    /// A snapshot of the pool's gauges, counters and per-connection loads.
    pub fn stats(&self) -> SharedStats {
        let shared = &self.inner.shared;
        let now = clock::now();
        let entries = lock(&self.inner.state).entries.clone();
        let connections: Vec<_> = entries
            .iter()
            .map(|e| ConnectionLoad {
                id: e.id,
                in_flight: e.load.load(Ordering::Relaxed),
                lends: e.lends.load(Ordering::Relaxed),
                age: e.age(now),
            })
            .collect();
        let size = shared.size.load(Ordering::Relaxed);
        let idle = connections.iter().filter(|c| c.in_flight == 0).count();
        let mut pool = Stats {
            max_size: shared.max_size.load(Ordering::Relaxed),
            connections: size,
            idle: idle.min(size),
            in_use: size - idle.min(size),
            waiting: shared.waiting(),
            ..Stats::default()
        };
        shared.counters.fill(&mut pool);
        SharedStats {
            pool,
            max_concurrent_per_connection: self.inner.limit,
            in_flight: connections.iter().map(|c| c.in_flight).sum(),
            connections,
        }
    }

    /// The pool's settings.
    pub fn config(&self) -> Config {
        self.inner.shared.config.clone()
    }

    /// The per-connection limit.
    pub fn max_concurrent_per_connection(&self) -> usize {
        self.inner.limit
    }

    /// Runs one maintenance pass: retires connections past their lifetime, ones with no
    /// lend out for `idle_timeout` (keeping `min_idle` open), checks ones with no lend
    /// out for `check_idle_after`, and opens connections up to `min_idle`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection being opened when the future is dropped is closed, and
    /// its slot freed.
    pub async fn maintain(&self) {
        let bound = (self.inner.shared.config)
            .connect_timeout
            .unwrap_or(MAX_MAINTENANCE_STEP);
        self.inner.maintain(bound).await;
    }

    /// How often to call [`maintain`](Self::maintain): see
    /// [`Config::maintenance_interval`].
    pub fn maintenance_interval(&self) -> Duration {
        self.inner.shared.config.maintenance_interval()
    }

    /// Changes `max_size` at run time, as [`Pool::resize`](crate::Pool::resize) does (0 is
    /// ignored: see [`try_resize`](Self::try_resize)). Growing lets waiters open
    /// connections at once; shrinking retires the connections above the new cap, those
    /// with the fewest lends out first (their lends out keep their handles, and each
    /// closes when its last lend comes back).
    pub fn resize(&self, max_size: usize) {
        let _ignored_zero = self.try_resize(max_size);
    }

    /// Like [`resize`](Self::resize), but refuses what the builder refuses.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroMaxSize`] for 0, [`BuildError::MaxConcurrentPerConnection`] when
    /// `max_size * max_concurrent_per_connection` overflows; the pool is unchanged.
    pub fn try_resize(&self, max_size: usize) -> Result<(), BuildError> {
        let inner = &*self.inner;
        if max_size == 0 {
            return Err(BuildError::ZeroMaxSize);
        }
        let permits = permits(max_size, inner.limit)?;
        let from = {
            // One resize at a time: the cap and the permits change together.
            let _st = lock(&inner.state);
            let from = inner.shared.max_size.swap(max_size, Ordering::SeqCst);
            inner.shared.sema.resize(permits);
            from
        };
        inner.trim();
        inner.shared.notify_capacity();
        (inner.shared.events).emit(|| crate::Event::Resized { from, to: max_size });
        Ok(())
    }

    /// Retires the open connections for which `keep` returns `false` (as
    /// [`Pool::retain`](crate::Pool::retain) closes idle ones); returns how many.
    ///
    /// `keep` sees each open connection once, busy or not, oldest first, with a clone of
    /// its handle and its [`Meta`](crate::Meta) (`use_count` counts its lends; `last_used`
    /// is when a lend last came back). A retired connection takes no new lends; its lends
    /// out keep their handles, and it closes when the last comes back.
    pub fn retain(&self, keep: impl FnMut(&mut M::Connection, crate::Meta) -> bool) -> usize {
        self.inner.retain(keep)
    }

    /// Closes the pool: from now on gets fail with [`Error::Closed`], waiters are woken
    /// with it, and every connection is retired (each closes when its last lend comes
    /// back).
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Resolves once the pool is closed and holds no connection (lends out may still use
    /// their handles). It does not close the pool: call [`close`](Self::close) first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn wait_closed(&self) {
        self.inner.shared.wait_drained().await;
    }

    /// A handle that does not keep the pool alive.
    pub fn downgrade(&self) -> WeakSharedPool<M> {
        WeakSharedPool {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The manager.
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }

    /// A clone of the pool's insides (for [`KeyedSharedPool`]: no handle count).
    pub(crate) fn inner(&self) -> Arc<Inner<M>> {
        self.inner.clone()
    }

    /// [`get`](Self::get) on the insides of a pool.
    pub(crate) async fn acquire_on(
        inner: &Arc<Inner<M>>,
        once: bool,
    ) -> Result<Lent<M>, Error<M::Error>> {
        let deadline = Deadline::new(inner.shared.config.wait_timeout);
        Self::acquire_in(inner, deadline, once).await
    }

    async fn acquire(&self, deadline: Deadline, once: bool) -> Result<Lent<M>, Error<M::Error>> {
        Self::acquire_in(&self.inner, deadline, once).await
    }

    /// The checkout. Its common case (a permit free, a connection with room, no check
    /// due) completes in the first poll without awaiting anything; the rest (waiting,
    /// opening, checking) is boxed, so that the future the caller awaits (and moves, at
    /// every level of `async` nesting above it) stays small.
    async fn acquire_in(
        this: &Arc<Inner<M>>,
        mut deadline: Deadline,
        once: bool,
    ) -> Result<Lent<M>, Error<M::Error>> {
        let inner = &**this;
        let shared = &inner.shared;
        shared.counters.gets.bump();
        let permit = match shared.sema.try_acquire() {
            Ok(()) => Permit::new(&shared.sema),
            Err(TryAcquireError::Closed) => return Err(Error::Closed),
            Err(_) if once => return Err(Error::Timeout),
            Err(_) => return Self::waiting(this, deadline).await,
        };
        let (entry, conn) = match inner.lend_now() {
            Some(lend) => lend,
            None => Self::obtaining(inner, &mut deadline, once).await?,
        };
        permit.forget();
        Ok(Lent::new(this, entry, conn))
    }

    /// The checkout of a caller that found no permit free, boxed. Not inlined, so that
    /// the future is built in a frame of its own, gone before it is polled (it is large:
    /// it holds the connect path).
    #[inline(never)]
    fn waiting(
        this: &Arc<Inner<M>>,
        mut deadline: Deadline,
    ) -> Pin<Box<impl Future<Output = Got<M>> + '_>> {
        Box::pin(async move {
            let inner = &**this;
            let permit = match inner.shared.wait_permit(&mut deadline).await {
                Ok(permit) => permit,
                Err(e) => return Err(inner.wait_error(e, &deadline)),
            };
            let (entry, conn) = inner.obtain(&mut deadline, false).await?;
            permit.forget();
            Ok(Lent::new(this, entry, conn))
        })
    }

    /// [`Inner::obtain`], boxed (not inlined: see [`waiting`](Self::waiting)).
    #[inline(never)]
    fn obtaining<'a>(
        inner: &'a Inner<M>,
        deadline: &'a mut Deadline,
        once: bool,
    ) -> Pin<Box<impl Future<Output = Obtained<M>> + 'a>> {
        Box::pin(inner.obtain(deadline, once))
    }
}

impl<M: Manager> Clone for SharedPool<M>
where
    M::Connection: Clone,
{
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Manager> Drop for SharedPool<M>
where
    M::Connection: Clone,
{
    fn drop(&mut self) {
        // AcqRel: the last handle sees every other handle's work before closing.
        if self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }
}

impl<M: Manager> fmt::Debug for SharedPool<M>
where
    M::Connection: Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPool")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<M: Manager> WeakSharedPool<M>
where
    M::Connection: Clone,
{
    /// The pool, if any [`SharedPool`] clone of it is still alive.
    pub fn upgrade(&self) -> Option<SharedPool<M>> {
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
                Ok(_) => return Some(SharedPool { inner }),
                Err(actual) => handles = actual,
            }
        }
    }
}

impl<M: Manager> Clone for WeakSharedPool<M>
where
    M::Connection: Clone,
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Manager> fmt::Debug for WeakSharedPool<M>
where
    M::Connection: Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSharedPool").finish_non_exhaustive()
    }
}

impl SharedBuilder {
    /// A builder with the default settings of [`Config`] and 64 lends per connection.
    pub fn new() -> Self {
        Self::from_config(Config::default())
    }

    /// A builder that starts from the given settings.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            events: Events::default(),
            limit: 64,
            max_total: None,
            hooks: NoHooks,
        }
    }

    /// Validates the settings and creates the pool. Opens nothing: `min_idle` is filled
    /// by [`SharedPool::maintain`].
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting.
    pub fn build<M: Manager>(self, manager: M) -> Result<SharedPool<M>, BuildError>
    where
        M::Connection: Clone,
    {
        self.build_with(manager, DynHooks::none())
    }
}

impl<H: Hooks> SharedBuilder<H>
where
    <H::Manager as Manager>::Connection: Clone,
{
    /// Validates the settings and creates the pool, with the [`Hooks`] set by
    /// [`hooks`](SharedBuilder::hooks) (or the closures of
    /// [`on_connect`](SharedBuilder::on_connect) and
    /// [`on_checkout`](SharedBuilder::on_checkout)). Opens nothing.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting.
    pub fn build(self, manager: H::Manager) -> Result<SharedPool<H::Manager>, BuildError> {
        let hooks = self.hooks;
        let rest = SharedBuilder {
            config: self.config,
            events: self.events,
            limit: self.limit,
            max_total: self.max_total,
            hooks: NoHooks,
        };
        rest.build_with(manager, DynHooks::new(hooks))
    }
}

// The closure hooks (see `fn_hook_setters!`).
fn_hook_setters!(
    SharedBuilder,
    /// Runs `f` on every new connection before its first lend, as
    /// [`Builder::on_connect`](crate::Builder::on_connect) (see [`Hooks::on_connect`]):
    /// `|conn| Box::pin(async move { ... })`. It runs on the pool's own handle, so what it
    /// sets on the handle is in every lend's clone. On a builder without hooks it starts a
    /// [`FnHooks`](crate::FnHooks); on one with closure hooks it sets that closure.
    ///
    /// [`on_checkout`](SharedBuilder::on_checkout) runs on every lend's clone of the
    /// handle, before the caller gets it (an error retires the connection, and the `get`
    /// goes on with another, as when `is_valid` fails).
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use std::sync::Arc;
    /// # use std::sync::atomic::{AtomicU8, Ordering};
    /// # #[derive(Clone, Default)] struct Handle { db: Arc<AtomicU8> }
    /// # struct Server;
    /// # impl netpool_core::Manager for Server {
    /// #     type Connection = Handle;
    /// #     type Error = Infallible;
    /// #     async fn connect(&self) -> Result<Handle, Infallible> { Ok(Handle::default()) }
    /// #     async fn is_valid(&self, _: &mut Handle) -> Result<(), Infallible> { Ok(()) }
    /// #     fn has_broken(&self, _: &mut Handle) -> bool { false }
    /// # }
    /// let pool = netpool_core::SharedPool::builder()
    ///     .on_connect(|conn: &mut Handle| Box::pin(async move {
    ///         conn.db.store(3, Ordering::Relaxed);
    ///         Ok(())
    ///     }))
    ///     .build(Server)?;
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(pool.get().await?.db.load(Ordering::Relaxed), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// # Ok::<(), netpool_core::BuildError>(())
    /// ```
);

impl<H> SharedBuilder<H> {
    /// How many callers may use one connection at a time (default 64; at most
    /// [`MAX_CONCURRENT_PER_CONNECTION`]). With HTTP/2 or gRPC, the server's
    /// `max_concurrent_streams`; with Redis, how deep one connection's pipeline may get
    /// before another connection is worth opening.
    pub fn max_concurrent_per_connection(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// Sets the [`EventHandler`] that receives the pool's [`Event`](crate::Event)s, as
    /// [`Builder::event_handler`](crate::Builder::event_handler) does.
    pub fn event_handler(mut self, handler: impl EventHandler) -> Self {
        self.events = Events::new(Some(Arc::new(handler)));
        self
    }

    /// Sets the [`Hooks`], as [`Builder::hooks`](crate::Builder::hooks) does:
    /// `on_connect` runs on every new connection (on the pool's own handle, before its
    /// first lend), `on_checkout`, if it asks to, on every lend's clone of the handle.
    /// Fixes the manager type to `H2::Manager` for [`build`](SharedBuilder::build).
    pub fn hooks<H2: Hooks>(self, hooks: H2) -> SharedBuilder<H2> {
        SharedBuilder {
            config: self.config,
            events: self.events,
            limit: self.limit,
            max_total: self.max_total,
            hooks,
        }
    }

    /// Cap on the connections of all keys together, counting the ones being opened, for
    /// a [`KeyedSharedPool`] built from this builder (default: no cap; at least 1), as
    /// [`KeyedBuilder::max_total`](crate::KeyedBuilder::max_total) is for a
    /// [`KeyedPool`](crate::KeyedPool). A lone [`SharedPool`] ignores it.
    ///
    /// When it binds, a key that needs a connection (all of its own are at their limit)
    /// retires another key's connection that has no lend out, the one unused the longest,
    /// and opens its own in the room that frees; if every connection has lends out, it
    /// waits until a connection of any key closes (its `wait_timeout` still applies).
    pub fn max_total(mut self, max_total: usize) -> Self {
        self.max_total = Some(max_total);
        self
    }

    /// The settings so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Checks the settings that do not depend on the manager.
    pub(crate) fn validate(&self) -> Result<usize, BuildError> {
        self.config.validate()?;
        if self.max_total == Some(0) {
            return Err(BuildError::ZeroMaxTotal);
        }
        if self.limit == 0 || self.limit > MAX_CONCURRENT_PER_CONNECTION {
            return Err(BuildError::MaxConcurrentPerConnection { given: self.limit });
        }
        permits(self.config.max_size, self.limit)
    }

    /// Creates the pool with `hooks` (the settings are validated first).
    fn build_with<M: Manager>(
        self,
        manager: M,
        hooks: DynHooks<M>,
    ) -> Result<SharedPool<M>, BuildError>
    where
        M::Connection: Clone,
    {
        self.build_in(manager, hooks, None)
    }

    /// Creates the pool with `hooks`, as one key's pool of a [`KeyedSharedPool`] if
    /// `total` is given (the cap across keys, and the other keys' pools).
    pub(crate) fn build_in<M: Manager>(
        self,
        manager: M,
        hooks: DynHooks<M>,
        total: Option<(crate::keyed::Link, Arc<dyn inner::Siblings>)>,
    ) -> Result<SharedPool<M>, BuildError>
    where
        M::Connection: Clone,
    {
        let permits = self.validate()?;
        let mut shared = Shared::new(self.config, self.events);
        // One permit per lend.
        shared.sema = Semaphore::new(permits);
        let (link, siblings) = total.unzip();
        shared.global = link;
        let inner = Arc::new(Inner {
            handles: AtomicUsize::new(1),
            shared,
            manager,
            hooks,
            siblings,
            limit: self.limit,
            state: Mutex::new(State::new()),
            live: snapshot::Snapshot::new(),
        });
        Ok(SharedPool { inner })
    }

    config_knobs!();
}

/// One permit per lend: `max_size * limit`, bounded well below `usize::MAX`.
fn permits(max_size: usize, limit: usize) -> Result<usize, BuildError> {
    max_size
        .checked_mul(limit)
        .filter(|p| *p <= usize::MAX >> 8)
        .ok_or(BuildError::MaxConcurrentPerConnection { given: limit })
}

impl Default for SharedBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> fmt::Debug for SharedBuilder<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuilder")
            .field("config", &self.config)
            .field("max_concurrent_per_connection", &self.limit)
            .field("max_total", &self.max_total)
            .field("event_handler", &self.events.is_set())
            .field("hooks", &std::any::type_name::<H>())
            .finish()
    }
}

impl<M: Manager> Lent<M>
where
    M::Connection: Clone,
{
    /// A lend of `entry` (already counted in its load, with a permit that the caller
    /// forgets), with `conn`, a clone of its handle.
    fn new(pool: &Arc<Inner<M>>, entry: Arc<Entry<M::Connection>>, conn: M::Connection) -> Self {
        Self {
            pool: pool.clone(),
            entry,
            conn: Some(conn),
            broken: false,
        }
    }

    /// Retires the connection (for everyone): use it when a request failed in a way that
    /// shows the connection is broken. The other lends of it keep their handles; no new
    /// ones are made, and a replacement can be opened at once.
    pub fn discard(mut this: Self) {
        this.broken = true;
    }

    /// The lent connection's id (as in its [`Event`](crate::Event)s and [`SharedStats`]).
    pub fn id(this: &Self) -> u64 {
        this.entry.id
    }
}

impl<M: Manager> Deref for Lent<M>
where
    M::Connection: Clone,
{
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        // Present from creation until drop.
        self.conn.as_ref().unwrap_or(&self.entry.conn)
    }
}

impl<M: Manager> DerefMut for Lent<M>
where
    M::Connection: Clone,
{
    fn deref_mut(&mut self) -> &mut M::Connection {
        let entry = &self.entry;
        // Present from creation until drop.
        self.conn.get_or_insert_with(|| entry.conn.clone())
    }
}

impl<M: Manager> Drop for Lent<M>
where
    M::Connection: Clone,
{
    fn drop(&mut self) {
        // Gives the lend and the permit back even if `has_broken` panics.
        let _back = GiveBack {
            pool: &self.pool,
            entry: &self.entry,
        };
        let pool = &*self.pool;
        let mut broken = self.broken;
        if let Some(mut conn) = self.conn.take() {
            broken = broken || pool.manager.has_broken(&mut conn);
        }
        if broken {
            if self.entry.lends.load(Ordering::Relaxed) <= 1 {
                pool.shared.failed_on_first_use();
            }
            pool.retire(&self.entry, CloseReason::Broken);
        } else {
            pool.shared.connection_proven();
        }
    }
}

/// Gives a lend and its permit back.
struct GiveBack<'a, M: Manager>
where
    M::Connection: Clone,
{
    pool: &'a Inner<M>,
    entry: &'a Entry<M::Connection>,
}

impl<M: Manager> Drop for GiveBack<'_, M>
where
    M::Connection: Clone,
{
    #[allow(
        unsafe_code,
        reason = "the semaphore's release takes a raw pointer (it may free an exclusive pool)"
    )]
    fn drop(&mut self) {
        // The decrement is published before the permit goes to a waiter, which then
        // finds this lend free.
        let left = self.entry.returned();
        // SAFETY: this lend holds a permit, and the `Lent` being dropped holds an `Arc` of
        // the pool (`self.pool` borrows from it), so the semaphore stays alive across the
        // release and after it. A shared pool sets no keep-alive: nothing is freed here.
        drop(unsafe { crate::sema::Semaphore::release(&self.pool.shared.sema) });
        self.pool.shared.notify_capacity();
        self.pool.went_idle(left);
    }
}

impl<M: Manager> fmt::Debug for Lent<M>
where
    M::Connection: Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lent")
            .field("id", &self.entry.id)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}
