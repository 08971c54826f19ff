//! [`KeyedPool`]: one pool for many servers, with a cap per key and a cap on the total.
//!
//! # Implementation details
//!
//! * Each key has its own [`Pool`], created on first use with the per-key settings and a
//!   manager made for that key, so everything a `Pool` promises (caps counting connects in
//!   progress, first come first served, cancellation, panics, backoff and fail-fast,
//!   `close`) holds per key. Keys live in a sharded map (see `map`); a get for a known key
//!   read-locks one shard and runs the key's synchronous hot path under it, so a get whose
//!   key has an idle connection clones nothing, allocates nothing and takes no exclusive
//!   lock. Anything slower clones the key's `Pool` handle and goes on outside the lock.
//! * The total cap is a [`GlobalCap`] shared by the keys' pools (each
//!   holds a [`Link`]: the cap and its own room state): a key's pool takes one of its
//!   units with each slot it reserves and frees it with the slot. When the cap is
//!   reached, a key that needs a connection closes the least recently used key's oldest
//!   idle connection, or queues for room; connections that go idle meanwhile are handed
//!   over by the policy in `cap`. A keyed get that needs a new connection passes the key's
//!   backoff *before* it takes or waits for room, so a key known to be down fails fast and
//!   takes nothing from healthy keys.
//! * "Least recently used" is read on a use clock that user returns advance (only when
//!   the returning key is not already the last one stamped, so one busy key writes
//!   nothing shared): among keys with idle connections the order of their last returns
//!   is exact. Maintenance putting a connection back does not count as a use.
//! * Forgetting: [`KeyedPool::maintain`] removes a key whose pool has no connection and no
//!   user (no get in progress, no guard out: the map holds the only reference, which a
//!   get can only clone under the shard's read lock, so the check under the write lock is
//!   exact). A key backing off after failed connects is kept (with its backoff) until no
//!   get has used it for `connect_backoff`'s longest step, as seen by maintenance passes.
//! * A removed key's pool is closed and kept aside until its checked-out connections are
//!   back, so that [`KeyedStats`] still counts them (they hold room under the total cap).

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::panic::Location;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::config::Config;
use crate::error::Error;
use crate::events::Events;
use crate::hooks::DynHooks;
use crate::idle::Meta;
use crate::idle::{Idle, IdleQueue};
use crate::pool::{Fast, Inner, Pool};
use crate::pooled::Pooled;
use crate::shared::{Deadline, Permit, ProbeGuard};
use crate::stats::Stats;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, lock};
use crate::types::CloseReason;
use crate::{Manager, clock};

mod builder;
pub(crate) mod cap;
mod map;

pub use self::builder::KeyedBuilder;

use self::cap::room::Room;
pub(crate) use self::cap::{GlobalCap, KeyRoom, Link};
use self::cap::{OnIdle, fence};
use self::map::{Hashed, Shard, find, hash_of, read, shard_index, take, write};

/// A pool of connections to many servers, one [`Pool`] per key (a server address, say),
/// with a cap per key and a cap on the total.
///
/// Cheap to clone (an `Arc` inside). A key's pool is created on its first use, with a
/// manager made for it by the function given to [`KeyedBuilder::build`], and forgotten by
/// [`maintain`](Self::maintain) once it has no connection left and nobody uses it.
///
/// # Examples
///
/// ```
/// # use std::convert::Infallible;
/// /// Connections that remember the server they were opened to.
/// struct To(String);
/// # impl netpool_core::Manager for To {
/// #     type Connection = String;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<String, Infallible> { Ok(self.0.clone()) }
/// #     async fn is_valid(&self, _: &mut String) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut String) -> bool { false }
/// # }
/// use netpool_core::KeyedPool;
/// # futures_lite::future::block_on(async {
/// let pool = KeyedPool::builder()
///     .max_size(4) // per key
///     .max_total(16) // all keys together
///     .build(|addr: &String| To(addr.clone()))?;
///
/// let a = pool.get(&"10.0.0.1:6379".to_string()).await?;
/// let b = pool.get(&"10.0.0.2:6379".to_string()).await?;
/// assert_eq!((a.as_str(), b.as_str()), ("10.0.0.1:6379", "10.0.0.2:6379"));
/// assert_eq!(pool.stats().keys, 2);
/// assert_eq!(pool.stats().connections, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct KeyedPool<K, M: Manager> {
    inner: Arc<Keyed<K, M>>,
}

/// A handle that does not keep a [`KeyedPool`] alive: for maintenance tasks.
pub struct WeakKeyedPool<K, M: Manager> {
    inner: Weak<Keyed<K, M>>,
}

/// A snapshot of a [`KeyedPool`], from [`KeyedPool::stats`].
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyedStats {
    /// Keys that have a pool now.
    pub keys: usize,
    /// The cap on the connections of all keys together.
    pub max_total: usize,
    /// Open connections of all keys, counting the ones being opened.
    pub connections: usize,
    /// Callers queued for room under the total cap (the sum of the keys'
    /// [`Stats::waiting_for_room`]).
    pub waiting_for_room: usize,
    /// The keys' [`Stats`] added up (`max_size` is the per-key cap). Gauges count removed
    /// keys' connections that are still checked out, so `total.connections` agrees with
    /// `connections`; cumulative counters count every key the pool ever had, forgotten
    /// and removed ones included.
    pub total: Stats,
}

struct Keyed<K, M: Manager> {
    shards: Box<[Shard<K, Entry<M>>]>,
    connect: Box<dyn Fn(&K) -> M + Send + Sync>,
    /// Makes each key's hooks (all share the builder's).
    hooks: Box<dyn Fn() -> DynHooks<M> + Send + Sync>,
    events: Events,
    config: Config,
    global: Arc<GlobalCap>,
    closed: CachePadded<AtomicBool>,
    /// Removed keys' pools whose checked-out connections are not all back yet.
    retired: Mutex<Vec<Pool<M>>>,
    /// The cumulative counters of keys no longer in the map.
    gone: Mutex<Stats>,
    /// Set by [`KeyedPool::pause`]: keys first used meanwhile start paused.
    paused: AtomicBool,
}

/// A key's pool, and what maintenance needs to forget it.
struct Entry<M: Manager> {
    pool: Pool<M>,
    /// The key's `gets` when maintenance last saw them change, and when (coarse clock).
    seen_gets: AtomicU64,
    active_at: AtomicU64,
}

/// What the hot path under the shard lock found.
enum Step<M: Manager> {
    Done(Pooled<M>),
    Closed,
    /// The rest of the get on this pool: `None`, wait for a permit; `Some(first)`, a
    /// permit is held (re-created from the forgotten one outside the lock, by [`held`]),
    /// with maybe an idle connection to check.
    Rest(Pool<M>, Option<Option<Idle<M::Connection>>>),
}

/// The permit [`KeyedPool::fast`] took for `pool` (re-created outside the shard's lock) and
/// the connection it found, if it took one.
fn held<M: Manager>(
    pool: &Pool<M>,
    first: Option<Option<Idle<M::Connection>>>,
) -> Option<(Permit<'_>, Option<Idle<M::Connection>>)> {
    first.map(|first| (Permit::new(&pool.inner.shared.sema), first))
}

impl KeyedPool<(), crate::pool::NoManager> {
    /// A [`KeyedBuilder`] with the default settings: those of [`Config`] per key, and at
    /// most 100 connections in total.
    pub fn builder() -> KeyedBuilder {
        KeyedBuilder::new()
    }
}

impl<K, M> KeyedPool<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
{
    /// Checks a connection to `key` out, waiting up to `wait_timeout`; creates the key's
    /// pool on first use.
    ///
    /// As [`Pool::get`] on the key's pool; in addition, when the total cap is reached, it
    /// closes the least recently used key's oldest idle connection to make room, or
    /// queues for room (first come, first served across keys).
    ///
    /// # Errors
    ///
    /// As [`Pool::get`]: [`Error::Unavailable`] only when *this key's* server failed its
    /// recent connects; [`Error::Closed`] after [`close`](Self::close) or when the key was
    /// [`remove`](Self::remove)d meanwhile.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Pool::get`]: a place in the queue for room is given up (and room
    /// granted to it handed on).
    #[track_caller]
    pub fn get<'a>(
        &'a self,
        key: &'a K,
    ) -> impl Future<Output = Result<Pooled<M>, Error<M::Error>>> + Send + 'a {
        let site = Location::caller();
        let timeout = self.inner.config.wait_timeout;
        async move { self.acquire(key, timeout, site).await }
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
    pub fn get_timeout<'a>(
        &'a self,
        key: &'a K,
        timeout: Duration,
    ) -> impl Future<Output = Result<Pooled<M>, Error<M::Error>>> + Send + 'a {
        let site = Location::caller();
        async move { self.acquire(key, Some(timeout), site).await }
    }

    /// Checks a connection to `key` out without waiting, as [`Pool::try_get`].
    ///
    /// # Errors
    ///
    /// As [`Pool::try_get`].
    #[track_caller]
    pub fn try_get(&self, key: &K) -> Result<Pooled<M>, Error<M::Error>> {
        let site = Location::caller();
        self.try_get_inner(key, site)
    }

    fn try_get_inner(
        &self,
        key: &K,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        match self.fast(key, site) {
            Step::Done(conn) => Ok(conn),
            Step::Closed => Err(Error::Closed),
            Step::Rest(_, None) => Err(Error::Timeout),
            Step::Rest(pool, Some(first)) => {
                pool.finish_now(Permit::new(&pool.inner.shared.sema), first, site)
            }
        }
    }

    /// Checks a connection to `key` out from a thread, blocking it up to `wait_timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread. Never call it inside an async task: use `get`.
    #[track_caller]
    pub fn get_blocking(&self, key: &K) -> Result<Pooled<M>, Error<M::Error>> {
        let site = Location::caller();
        self.get_blocking_timeout_inner(key, self.inner.config.wait_timeout, site)
    }

    /// Like [`get_blocking`](Self::get_blocking), with `timeout` instead of
    /// `wait_timeout`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), with `timeout` as the deadline.
    ///
    /// # Blocking
    ///
    /// Blocks the calling thread. Never call it inside an async task.
    #[track_caller]
    pub fn get_blocking_timeout(
        &self,
        key: &K,
        timeout: Duration,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let site = Location::caller();
        self.get_blocking_timeout_inner(key, Some(timeout), site)
    }

    /// A snapshot of all keys: how many there are, the total connections, and the keys'
    /// [`Stats`] added up.
    pub fn stats(&self) -> KeyedStats {
        let inner = &*self.inner;
        let mut total = Stats {
            max_size: inner.config.max_size,
            ..Stats::default()
        };
        let mut keys = 0;
        for shard in inner.shards.iter() {
            let map = read(shard);
            keys += map.len();
            for entry in map.values() {
                add(&mut total, &key_stats(&entry.pool));
            }
        }
        for pool in self.retired() {
            add(&mut total, &key_stats(&pool));
        }
        add_counters(&mut total, &lock(&inner.gone));
        KeyedStats {
            keys,
            max_total: inner.global.max(),
            connections: inner.global.used(),
            waiting_for_room: inner.global.waiting(),
            total,
        }
    }

    /// The [`Stats`] of `key`'s pool, `None` if the key has none (never used, or
    /// forgotten).
    pub fn stats_for(&self, key: &K) -> Option<Stats> {
        let hash = hash_of(key);
        let shard = &self.inner.shards[shard_index(hash)];
        find(&read(shard), hash, key).map(|entry| key_stats(&entry.pool))
    }

    /// The checked-out connections to `key`, as [`Pool::holders`] (empty if the key has no
    /// pool, or without a [`leak_threshold`](KeyedBuilder::leak_threshold)).
    pub fn holders(&self, key: &K) -> Vec<crate::Holder> {
        let hash = hash_of(key);
        let shard = &self.inner.shards[shard_index(hash)];
        let pool = find(&read(shard), hash, key).map(|entry| entry.pool.clone());
        pool.map(|p| p.holders()).unwrap_or_default()
    }

    /// The keys that have a pool now.
    pub fn keys(&self) -> Vec<K> {
        let mut keys = Vec::new();
        for shard in self.inner.shards.iter() {
            keys.extend(read(shard).keys().map(|k| k.key.clone()));
        }
        keys
    }

    /// The per-key settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Closes the idle connections (of every key) for which `keep` returns `false`;
    /// returns how many. As [`Pool::retain`], per key.
    pub fn retain(&self, mut keep: impl FnMut(&K, &mut M::Connection, Meta) -> bool) -> usize {
        let mut closed = 0;
        for (key, pool) in self.pools() {
            closed += pool.retain(|conn, meta| keep(&key, conn, meta));
        }
        closed
    }

    /// Removes `key`: its pool is closed (idle connections now, checked-out ones when they
    /// come back) and forgotten. A later get for the key starts a new pool. Returns
    /// whether the key had a pool.
    ///
    /// Every caller of the key that is waiting is woken with [`Error::Closed`], wherever
    /// it waits: for a permit, for room under the total cap, or for the outcome of a
    /// connect attempt while the key backs off.
    ///
    /// The removed pool's checked-out connections still count against `max_total` until
    /// they come back (and are closed), and in [`KeyedStats`]; they do not count against
    /// the new pool's `max_size`: right after a `remove`, the key can have up to
    /// `max_size` connections in its new pool beside those still out from the old one
    /// (at most `max_size` more per `remove` whose connections are still out).
    pub fn remove(&self, key: &K) -> bool {
        let hash = hash_of(key);
        let shard = &self.inner.shards[shard_index(hash)];
        let removed = take(&mut write(shard), hash, key);
        match removed {
            Some(entry) => {
                self.inner.retire(entry.pool);
                true
            }
            None => false,
        }
    }

    /// Closes every key's pool, as [`Pool::close`]: gets fail with [`Error::Closed`] from
    /// now on, and every waiting caller is woken with it (callers waiting for room too).
    /// No connection is opened after `close` returns.
    pub fn close(&self) {
        let inner = &*self.inner;
        inner.closed.store(true, Ordering::SeqCst);
        inner.global.close();
        for (_, pool) in self.pools() {
            close_pool(&pool);
        }
        for pool in self.retired() {
            close_pool(&pool);
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Resolves once the pool is closed and every connection of every key is gone. It
    /// does not close the pool itself: call [`close`](Self::close) first.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn wait_closed(&self) {
        for (_, pool) in self.pools() {
            pool.wait_closed().await;
        }
        for pool in self.retired() {
            pool.wait_closed().await;
        }
    }

    /// Runs one maintenance pass over every key ([`Pool::maintain`]: idle and lifetime
    /// reaping, checks, `min_idle` per key), then forgets the keys that have no
    /// connection and no get in progress.
    ///
    /// A key whose recent connects failed (its server is down) is kept while it backs
    /// off, so its callers keep failing fast, until no get has used it for
    /// `connect_backoff`'s longest step (the `max` of
    /// [`connect_backoff`](KeyedBuilder::connect_backoff)): it is forgotten by the first
    /// pass that finds it unused that long since an earlier pass saw it used. Keys of a
    /// server that never comes back are so forgotten once the application stops asking
    /// for them.
    ///
    /// Call it every [`maintenance_interval`](Self::maintenance_interval), from a task
    /// holding a [`WeakKeyedPool`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Pool::maintain`].
    pub async fn maintain(&self) {
        for (_, pool) in self.pools() {
            pool.maintain().await;
        }
        self.forget_unused();
    }

    /// How often to call [`maintain`](Self::maintain): see
    /// [`Config::maintenance_interval`].
    pub fn maintenance_interval(&self) -> Duration {
        self.inner.config.maintenance_interval()
    }

    /// A handle that does not keep the pool alive.
    pub fn downgrade(&self) -> WeakKeyedPool<K, M> {
        WeakKeyedPool {
            inner: Arc::downgrade(&self.inner),
        }
    }

    async fn acquire(
        &self,
        key: &K,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        let (pool, first) = match self.fast(key, site) {
            Step::Done(conn) => return Ok(conn),
            Step::Closed => return Err(Error::Closed),
            Step::Rest(pool, first) => (pool, first),
        };
        // As `Pool::get`: what the hot path took is consumed before the await.
        let finishing = match held(&pool, first) {
            Some((permit, first)) => {
                match pool.finishing(permit, first, Deadline::new(timeout), site) {
                    Ok(conn) => return Ok(conn),
                    Err(finishing) => Some(finishing),
                }
            }
            None => None,
        };
        match finishing {
            Some(finishing) => finishing.await,
            None => pool.waited(Deadline::new(timeout), site).await,
        }
    }

    fn get_blocking_timeout_inner(
        &self,
        key: &K,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        match self.fast(key, site) {
            Step::Done(conn) => Ok(conn),
            Step::Closed => Err(Error::Closed),
            Step::Rest(pool, first) => pool.rest_blocking(held(&pool, first), timeout, site),
        }
    }

    /// The hot path: the key's pool's synchronous fast path under its shard's read lock
    /// (the key's pool is created first if it has none).
    #[inline]
    fn fast(&self, key: &K, site: &'static Location<'static>) -> Step<M> {
        let inner = &*self.inner;
        let hash = hash_of(key);
        let shard = &inner.shards[shard_index(hash)];
        {
            let map = read(shard);
            if let Some(entry) = find(&map, hash, key) {
                return entry.step(site);
            }
        }
        self.first_use(shard, hash, key, site)
    }

    /// The key has no pool: create it (under the shard's write lock), then take its hot
    /// path.
    #[cold]
    #[inline(never)]
    fn first_use(
        &self,
        shard: &Shard<K, Entry<M>>,
        hash: u64,
        key: &K,
        site: &'static Location<'static>,
    ) -> Step<M> {
        let inner = &*self.inner;
        let mut map = write(shard);
        // Checked under the write lock: `close` sets the flag, then visits every shard.
        if inner.closed.load(Ordering::SeqCst) {
            return Step::Closed;
        }
        let entry = map
            .entry(Hashed {
                hash,
                key: key.clone(),
            })
            .or_insert_with(|| inner.new_entry(key));
        entry.step(site)
    }

    /// `key`'s pool, if it has one.
    pub(crate) fn pool_of(&self, key: &K) -> Option<Pool<M>> {
        let hash = hash_of(key);
        let shard = &self.inner.shards[shard_index(hash)];
        let map = read(shard);
        find(&map, hash, key).map(|entry| entry.pool.clone())
    }

    /// Pauses or resumes every key's pool; keys first used while paused start paused.
    pub(crate) fn set_paused(&self, paused: bool) {
        // Set before the keys are visited: a key created meanwhile (under its shard's
        // write lock, which the visit's read lock orders) either sees it or is visited.
        self.inner.paused.store(paused, Ordering::SeqCst);
        for (_, pool) in self.pools() {
            if paused {
                pool.pause();
            } else {
                pool.resume();
            }
        }
    }

    /// The removed keys' pools still in use (the drained ones are let go, their counters
    /// kept).
    fn retired(&self) -> Vec<Pool<M>> {
        let mut retired = lock(&self.inner.retired);
        let mut gone = Vec::new();
        retired.retain(|pool| {
            let drained = pool.inner.shared.size.load(Ordering::SeqCst) == 0;
            if drained {
                gone.push(pool.stats());
            }
            !drained
        });
        let pools = retired.clone();
        drop(retired);
        let mut total = lock(&self.inner.gone);
        for stats in &gone {
            add_counters(&mut total, stats);
        }
        pools
    }

    /// Clones of every key's pool (so no lock is held while they are used).
    pub(crate) fn pools(&self) -> Vec<(K, Pool<M>)> {
        let mut pools = Vec::new();
        for shard in self.inner.shards.iter() {
            let map = read(shard);
            pools.extend(map.iter().map(|(k, e)| (k.key.clone(), e.pool.clone())));
        }
        pools
    }

    /// Forgets the keys whose pool is unused (see the module docs), and shrinks the maps.
    fn forget_unused(&self) {
        let inner = &*self.inner;
        let now = clock::now();
        let quiet = clock::nanos(inner.config.backoff_max);
        let mut forgotten = Vec::new();
        for shard in inner.shards.iter() {
            let mut map = write(shard);
            map.retain(|_, entry| {
                let unused = entry.unused(now, quiet);
                if unused {
                    // Its counters since the last pass, before it goes.
                    entry.pool.diagnose();
                    forgotten.push(entry.pool.stats());
                }
                !unused
            });
            if map.capacity() > 4 * map.len() + 16 {
                map.shrink_to_fit();
            }
        }
        let mut gone = lock(&inner.gone);
        for stats in &forgotten {
            add_counters(&mut gone, stats);
        }
        drop(gone);
        let _ = self.retired();
    }
}

impl<K, M: Manager> Keyed<K, M> {
    fn new_entry(&self, key: &K) -> Entry<M> {
        let link = Link {
            cap: self.global.clone(),
            room: Arc::new(KeyRoom::new(self.global.tick())),
        };
        let pool = Pool::from_parts(
            self.config.clone(),
            (self.connect)(key),
            self.events.clone(),
            (self.hooks)(),
            Some(link),
        );
        if self.paused.load(Ordering::SeqCst) {
            pool.pause();
        }
        Entry {
            pool,
            seen_gets: AtomicU64::new(0),
            active_at: AtomicU64::new(clock::now()),
        }
    }

    /// Closes a removed key's pool (waking all its callers) and keeps it aside while
    /// connections of it are out.
    fn retire(&self, pool: Pool<M>) {
        close_pool(&pool);
        if pool.inner.shared.size.load(Ordering::SeqCst) == 0 {
            add_counters(&mut lock(&self.gone), &pool.stats());
        } else {
            lock(&self.retired).push(pool);
        }
    }

    /// Closes the oldest idle connection of the key used least recently, among the keys
    /// with idle connections and no caller of their own waiting for room, other than
    /// `except`'s; `false` if there is none.
    fn evict_lru(&self, except: &KeyRoom) -> bool {
        for _ in 0..3 {
            let mut best: Option<(u64, Pool<M>)> = None;
            for shard in self.shards.iter() {
                let map = read(shard);
                for entry in map.values() {
                    let inner = &entry.pool.inner;
                    let Some(link) = &inner.shared.global else {
                        continue;
                    };
                    if inner.idle.is_empty()
                        || std::ptr::eq(&*link.room, except)
                        || link.has_room_waiters()
                    {
                        continue;
                    }
                    let used = link.last_used();
                    if best.as_ref().is_none_or(|(t, _)| used < *t) {
                        best = Some((used, entry.pool.clone()));
                    }
                }
            }
            match best {
                None => return false,
                Some((_, pool)) => {
                    if pool.inner.evict_oldest_idle() {
                        return true;
                    }
                }
            }
        }
        false
    }
}

impl<M: Manager> Entry<M> {
    /// The key's hot path, under the shard's read lock.
    #[inline]
    fn step(&self, site: &'static Location<'static>) -> Step<M> {
        // Callers of this key wait for room: a newcomer queues behind them (the slow
        // path), so it does not take the connection that went idle for them.
        if self
            .pool
            .inner
            .shared
            .global
            .as_ref()
            .is_some_and(Link::has_room_waiters)
        {
            self.pool.inner.shared.counters.gets.bump();
            return Step::Rest(self.pool.clone(), None);
        }
        match self.pool.fast(site) {
            Fast::Done(conn) => Step::Done(conn),
            Fast::Closed => Step::Closed,
            Fast::NoPermit => Step::Rest(self.pool.clone(), None),
            Fast::Held(permit, first) => {
                // The permit is re-created on the clone (the same pool) outside the lock.
                permit.forget();
                Step::Rest(self.pool.clone(), Some(first))
            }
        }
    }

    /// No connection, nobody using the pool (only the map holds it), and no backoff to
    /// keep: not backing off, or unused for `quiet` (see [`KeyedPool::maintain`]).
    fn unused(&self, now: clock::Nanos, quiet: clock::Nanos) -> bool {
        let pool = &self.pool;
        let shared = &pool.inner.shared;
        let idle = pool.inner.handles.load(Ordering::SeqCst) == 1
            && shared.size.load(Ordering::SeqCst) == 0
            && shared.waiting() == 0
            && shared
                .global
                .as_ref()
                .is_none_or(|link| link.waiting() == 0);
        if !idle {
            return false;
        }
        if !shared.backing_off() {
            return true;
        }
        let gets = shared.counters.gets.sum();
        if self.seen_gets.swap(gets, Ordering::Relaxed) != gets {
            self.active_at.store(now, Ordering::Relaxed);
            return false;
        }
        now.saturating_sub(self.active_at.load(Ordering::Relaxed)) >= quiet
    }
}

impl<M: Manager> Inner<M> {
    /// Closes the idle connection used least recently (the front of a FIFO queue, the
    /// bottom of a LIFO stack) to hand its room over; `false` if none is idle.
    pub(crate) fn evict_oldest_idle(&self) -> bool {
        let item = match &self.idle {
            IdleQueue::Lifo(stack) => {
                let mut stack = lock(stack);
                if stack.is_empty() {
                    None
                } else {
                    Some(stack.remove(0))
                }
            }
            IdleQueue::Fifo { .. } => self.idle.pop(),
        };
        match item {
            Some(item) => {
                drop(self.live(item, CloseReason::Handoff));
                true
            }
            None => false,
        }
    }

    /// A connection of this keyed pool went idle (`returned` by its user, or put back by
    /// maintenance): stamps the key as used, and serves callers waiting for room by the
    /// hand-over policy (see `cap`).
    #[inline]
    pub(crate) fn went_idle(&self, returned: bool) {
        let Some(link) = &self.shared.global else {
            return;
        };
        if returned {
            link.stamp();
        }
        // Pairs with the fence of a caller that queues for room: either it sees the
        // connection (and evicts it), or this sees it queued.
        fence(Ordering::SeqCst);
        if link.cap.has_waiters() {
            self.hand_over(link, returned);
        }
    }

    #[cold]
    #[inline(never)]
    fn hand_over(&self, link: &Link, returned: bool) {
        if link.cap.on_idle(&link.room, returned) == OnIdle::HandOver {
            self.evict_oldest_idle();
        }
    }

    /// `obtain` for a keyed pool, with a permit held: an idle connection; else, past the
    /// key's backoff, a new one in room under the total cap (made by evicting, or waited
    /// for); or an error. `once`: never wait (for `try_get`).
    pub(crate) async fn obtain_keyed(
        &self,
        deadline: &mut Deadline,
        once: bool,
    ) -> Result<Idle<M::Connection>, Error<M::Error>> {
        let shared = &self.shared;
        let Some(link) = &shared.global else {
            return Err(Error::Closed);
        };
        // `Some(probe)` once the backoff let this caller connect.
        let mut admitted: Option<Option<ProbeGuard<'_>>> = None;
        let mut room = link.wait(shared);
        loop {
            if shared.is_closed() || link.is_closed() {
                return Err(Error::Closed);
            }
            // While callers of this key wait for room, a newcomer queues behind them
            // instead of taking the connection that went idle for them.
            let behind = !room.is_queued() && link.has_room_waiters();
            let item = if behind { None } else { self.idle.pop() };
            if let Some(item) = item {
                crate::pool::inner::take_idle!(self, item, deadline);
                continue;
            }
            if !behind && shared.over_or_at_capacity() {
                if once {
                    return Err(Error::Timeout);
                }
                // The key's own cap: no room under the total cap is needed.
                room = link.wait(shared);
                let ready = || !self.idle.is_empty() || !shared.over_or_at_capacity();
                if let Err(e) = shared.wait_capacity(ready, deadline).await {
                    return Err(self.wait_error(e, deadline));
                }
                continue;
            }
            // A new connection is needed: the backoff first, so that a key known to be
            // down fails fast and takes no room from others.
            if admitted.is_none() {
                let admit = shared.admit(deadline, !once);
                let closed = link.closed();
                let result = futures_lite::future::or(async { Some(admit.await) }, async {
                    closed.await;
                    None
                })
                .await;
                match result {
                    None => return Err(Error::Closed),
                    Some(Ok(probe)) => admitted = Some(probe),
                    Some(Err(refused)) => return Err(self.refused(refused, deadline)),
                }
                // It may have waited: look for an idle connection again.
                continue;
            }
            if let Some(slot) = shared.reserve() {
                let probe = admitted.take().flatten();
                return self.open_admitted(slot, probe, deadline, true).await;
            }
            if once {
                return Err(Error::Timeout);
            }
            match room.next(deadline).await {
                Err(e) => return Err(self.wait_error(e, deadline)),
                Ok(Room::Look) => {}
                Ok(Room::Granted(grant)) => {
                    // No connection is opened for a key removed, or a pool closed,
                    // while this caller waited (the unit is handed on).
                    if shared.is_closed() || link.is_closed() {
                        drop(grant);
                        return Err(Error::Closed);
                    }
                    if let Some(slot) = grant.into_slot(shared) {
                        let probe = admitted.take().flatten();
                        return self.open_admitted(slot, probe, deadline, true).await;
                    }
                }
            }
        }
    }
}

/// Closes a key's pool and wakes its callers waiting for room or on the backoff.
fn close_pool<M: Manager>(pool: &Pool<M>) {
    pool.close();
    if let Some(link) = &pool.inner.shared.global {
        link.cap.close_key(&link.room);
    }
}

/// A key's [`Stats`], its callers waiting for room included.
fn key_stats<M: Manager>(pool: &Pool<M>) -> Stats {
    let mut stats = pool.stats();
    if let Some(link) = &pool.inner.shared.global {
        let room = link.waiting();
        stats.waiting += room;
        stats.waiting_for_room = room;
    }
    stats
}

/// Adds `s`'s cumulative counters to `total`.
fn add_counters(total: &mut Stats, s: &Stats) {
    total.gets += s.gets;
    total.gets_waited += s.gets_waited;
    total.gets_timed_out += s.gets_timed_out;
    total.wait_time += s.wait_time;
    total.connections_created += s.connections_created;
    total.closed_broken += s.closed_broken;
    total.closed_invalid += s.closed_invalid;
    total.closed_idle += s.closed_idle;
    total.closed_lifetime += s.closed_lifetime;
    total.closed_handoff += s.closed_handoff;
    total.connect_errors += s.connect_errors;
    total.gets_unavailable += s.gets_unavailable;
    total.closed_rejected += s.closed_rejected;
    total.closed_retained += s.closed_retained;
    total.closed_shrunk += s.closed_shrunk;
    total.closed_refreshed += s.closed_refreshed;
    total.refreshes += s.refreshes;
    total.closed_pool_closed += s.closed_pool_closed;
    total.closed_aborted += s.closed_aborted;
    total.detached += s.detached;
}

/// Adds `s`'s gauges and counters to `total`.
fn add(total: &mut Stats, s: &Stats) {
    total.connections += s.connections;
    total.idle += s.idle;
    total.in_use += s.in_use;
    total.waiting += s.waiting;
    total.waiting_for_room += s.waiting_for_room;
    add_counters(total, s);
}

/// A handle's clone: another handle to the same pool (no derive: `K` and `M` need not
/// be `Clone`).
macro_rules! clone_handles {
    ($($handle:ident),*) => {$(
        impl<K, M: Manager> Clone for $handle<K, M> {
            fn clone(&self) -> Self {
                Self {
                    inner: self.inner.clone(),
                }
            }
        }
    )*};
}
clone_handles!(KeyedPool, WeakKeyedPool);

impl<K, M: Manager> fmt::Debug for KeyedPool<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedPool")
            .field("global", &self.inner.global)
            .finish_non_exhaustive()
    }
}

impl<K, M: Manager> WeakKeyedPool<K, M> {
    /// The pool, if any [`KeyedPool`] clone of it is still alive.
    pub fn upgrade(&self) -> Option<KeyedPool<K, M>> {
        self.inner.upgrade().map(|inner| KeyedPool { inner })
    }
}

impl<K, M: Manager> fmt::Debug for WeakKeyedPool<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakKeyedPool").finish_non_exhaustive()
    }
}
