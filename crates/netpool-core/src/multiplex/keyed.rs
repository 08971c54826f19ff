//! [`KeyedSharedPool`]: one [`SharedPool`] per key (a cluster node, a tenant's server),
//! made on first use.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use super::inner::{Entry, Inner, Siblings};
use super::{Lent, SharedBuilder, SharedPool, SharedStats};
use crate::Manager;
use crate::error::{BuildError, Error};
use crate::hooks::DynHooks;
use crate::keyed::{GlobalCap, KeyRoom, Link};
use crate::sync::{AtomicUsize, Ordering};
use crate::types::CloseReason;

/// One [`SharedPool`] per key, each made on first use from the same [`SharedBuilder`]
/// and a manager for the key: for a cluster, one pool of shared connections per node.
///
/// Each key's pool has the builder's settings (`max_size` connections to that key, each
/// lent to up to `max_concurrent_per_connection` callers). The builder's
/// [`max_total`](SharedBuilder::max_total) caps the connections of all keys together
/// (see there for what happens when it binds); without it, the number of keys times
/// `max_size` bounds them.
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
/// use netpool_core::{KeyedSharedPool, SharedPool};
///
/// # futures_lite::future::block_on(async {
/// let nodes = KeyedSharedPool::new(
///     SharedPool::builder().max_size(2).max_concurrent_per_connection(32),
///     |addr: &String| Node(addr.clone()),
/// )?;
/// let conn = nodes.get("10.0.0.1:7000").await?;
/// assert_eq!(nodes.keys(), vec!["10.0.0.1:7000".to_owned()]);
/// # drop(conn);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
///
/// Cheap to clone (an `Arc` inside); every clone is the same set of pools. Call
/// [`maintain`](Self::maintain) every [`maintenance_interval`](Self::maintenance_interval).
pub struct KeyedSharedPool<K, M: Manager>
where
    M::Connection: Clone,
{
    inner: Arc<Keyed<K, M>>,
}

/// A manager for a key.
type Factory<K, M> = Box<dyn Fn(&K) -> M + Send + Sync>;

struct Keyed<K, M: Manager>
where
    M::Connection: Clone,
{
    /// `None` once closed.
    pools: RwLock<Option<HashMap<K, SharedPool<M>>>>,
    builder: SharedBuilder,
    factory: Factory<K, M>,
    /// The cap on the connections of all keys (the builder's `max_total`), and what each
    /// key's pool is told of the others.
    total: Option<(Arc<GlobalCap>, Arc<dyn Siblings>)>,
}

/// A connection to retire for room: when it was last used, its pool, and it.
type Victim<M> = (u64, Arc<Inner<M>>, Arc<Entry<<M as Manager>::Connection>>);

/// The keys' pools as one key's pool sees them (see [`Siblings`]).
struct Others<K, M: Manager>
where
    M::Connection: Clone,
{
    keyed: Weak<Keyed<K, M>>,
    /// Callers waiting for room under the total cap.
    waiting: AtomicUsize,
}

impl<K, M> KeyedSharedPool<K, M>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    M: Manager,
    // `Sync` as for any lend that crosses tasks (a `Lent` is `Send` only then).
    M::Connection: Clone + Sync,
{
    /// Pools with `builder`'s settings, each with the manager `factory` makes for its key.
    /// Opens nothing.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] naming the first invalid setting of `builder`.
    pub fn new(
        builder: SharedBuilder,
        factory: impl Fn(&K) -> M + Send + Sync + 'static,
    ) -> Result<Self, BuildError> {
        builder.validate()?;
        let max_total = builder.max_total;
        let inner = Arc::new_cyclic(|keyed: &Weak<Keyed<K, M>>| {
            let total = max_total.map(|max| {
                // The exclusive pool's cap: its hand-over queue is not used here (a
                // shared pool's callers wait for room in their own pool).
                let cap = Arc::new(GlobalCap::new(max, Duration::ZERO));
                let others: Arc<dyn Siblings> = Arc::new(Others {
                    keyed: keyed.clone(),
                    waiting: AtomicUsize::new(0),
                });
                (cap, others)
            });
            Keyed {
                pools: RwLock::new(Some(HashMap::new())),
                builder,
                factory: Box::new(factory),
                total,
            }
        });
        Ok(Self { inner })
    }

    /// Lends a connection to `key`, as [`SharedPool::get`] does (the key's pool is made
    /// first if it does not exist).
    ///
    /// # Errors
    ///
    /// As [`SharedPool::get`]; [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`SharedPool::get`].
    pub async fn get<Q>(&self, key: &Q) -> Result<Lent<M>, Error<M::Error>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        // A clone of the pool's insides, not of the pool: no handle count to bump.
        let inner = read(&self.inner.pools)
            .as_ref()
            .and_then(|p| p.get(key))
            .map(SharedPool::inner);
        match inner {
            Some(inner) => SharedPool::acquire_on(&inner, false).await,
            None => match self.pool(key) {
                Some(pool) => pool.get().await,
                None => Err(Error::Closed),
            },
        }
    }

    /// The pool of `key`, made if it does not exist; `None` after
    /// [`close`](Self::close).
    pub fn pool<Q>(&self, key: &Q) -> Option<SharedPool<M>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(pool) = read(&self.inner.pools).as_ref()?.get(key) {
            return Some(pool.clone());
        }
        let mut pools = write(&self.inner.pools);
        let pools = pools.as_mut()?;
        if let Some(pool) = pools.get(key) {
            return Some(pool.clone());
        }
        let key = key.to_owned();
        let manager = (self.inner.factory)(&key);
        let total = (self.inner.total.as_ref()).map(|(cap, others)| {
            let link = Link {
                cap: cap.clone(),
                room: Arc::new(KeyRoom::new(cap.tick())),
            };
            (link, others.clone())
        });
        // The settings were validated by `new`: building cannot fail.
        let pool = (self.inner.builder.clone())
            .build_in(manager, DynHooks::none(), total)
            .ok()?;
        pools.insert(key, pool.clone());
        Some(pool)
    }

    /// The pool of `key` if it exists.
    pub fn existing<Q>(&self, key: &Q) -> Option<SharedPool<M>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        read(&self.inner.pools).as_ref()?.get(key).cloned()
    }

    /// Removes `key`'s pool and closes it (its lends out keep their handles); `true` if it
    /// existed.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let removed = write(&self.inner.pools)
            .as_mut()
            .and_then(|p| p.remove(key));
        match removed {
            Some(pool) => {
                pool.close();
                true
            }
            None => false,
        }
    }

    /// Keeps only the keys for which `keep` returns `true`, closing the others' pools.
    pub fn retain_keys(&self, mut keep: impl FnMut(&K) -> bool) {
        let mut removed = Vec::new();
        if let Some(pools) = write(&self.inner.pools).as_mut() {
            pools.retain(|k, pool| {
                let kept = keep(k);
                if !kept {
                    removed.push(pool.clone());
                }
                kept
            });
        }
        for pool in removed {
            pool.close();
        }
    }

    /// The keys that have a pool.
    pub fn keys(&self) -> Vec<K> {
        read(&self.inner.pools)
            .as_ref()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The cap on the connections of all keys together
    /// ([`SharedBuilder::max_total`]), if any.
    pub fn max_total(&self) -> Option<usize> {
        self.inner.total.as_ref().map(|(cap, _)| cap.max())
    }

    /// Connections of all keys together, counting the ones being opened (under
    /// [`max_total`](Self::max_total); without it, the sum of the keys' pools').
    pub fn connections(&self) -> usize {
        match &self.inner.total {
            Some((cap, _)) => cap.used(),
            None => self
                .pools()
                .iter()
                .map(|(_, p)| p.inner.shared.size.load(crate::sync::Ordering::Relaxed))
                .sum(),
        }
    }

    /// A snapshot of each key's pool.
    pub fn stats(&self) -> Vec<(K, SharedStats)> {
        self.pools()
            .into_iter()
            .map(|(k, pool)| (k, pool.stats()))
            .collect()
    }

    /// One maintenance pass of every key's pool (see [`SharedPool::maintain`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`SharedPool::maintain`].
    pub async fn maintain(&self) {
        for (_, pool) in self.pools() {
            pool.maintain().await;
        }
    }

    /// How often to call [`maintain`](Self::maintain).
    pub fn maintenance_interval(&self) -> std::time::Duration {
        self.inner.builder.config.maintenance_interval()
    }

    /// Closes every key's pool; from now on gets fail with [`Error::Closed`].
    pub fn close(&self) {
        let pools = write(&self.inner.pools).take();
        for pool in pools.into_iter().flat_map(HashMap::into_values) {
            pool.close();
        }
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        read(&self.inner.pools).is_none()
    }

    fn pools(&self) -> Vec<(K, SharedPool<M>)> {
        read(&self.inner.pools)
            .as_ref()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

impl<K, M: Manager> Clone for KeyedSharedPool<K, M>
where
    M::Connection: Clone,
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, M: Manager> fmt::Debug for KeyedSharedPool<K, M>
where
    M::Connection: Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = read(&self.inner.pools).as_ref().map_or(0, HashMap::len);
        f.debug_struct("KeyedSharedPool")
            .field("keys", &keys)
            .field("builder", &self.inner.builder)
            .finish_non_exhaustive()
    }
}

impl<K, M: Manager> Siblings for Others<K, M>
where
    K: Send + Sync,
    M::Connection: Clone + Sync,
{
    fn notify(&self) {
        let Some(keyed) = self.keyed.upgrade() else {
            return;
        };
        if let Some(pools) = read(&keyed.pools).as_ref() {
            for pool in pools.values() {
                pool.inner.shared.notify_capacity();
            }
        }
    }

    fn evict(&self, except: *const ()) -> bool {
        let Some(keyed) = self.keyed.upgrade() else {
            return false;
        };
        // The victim is found under the read lock and retired after it (retiring tells
        // every pool, which takes the lock again).
        // (last used, its pool, the connection)
        let mut best: Option<Victim<M>> = None;
        if let Some(pools) = read(&keyed.pools).as_ref() {
            for pool in pools.values() {
                let inner = &pool.inner;
                if std::ptr::eq(Arc::as_ptr(inner).cast::<()>(), except) {
                    continue;
                }
                inner.live.read(|entries| {
                    for e in entries {
                        if e.retired.load(Ordering::SeqCst) || e.load.load(Ordering::SeqCst) != 0 {
                            continue;
                        }
                        let used = e.last_used();
                        if best.as_ref().is_none_or(|(t, _, _)| used < *t) {
                            best = Some((used, inner.clone(), e.clone()));
                        }
                    }
                });
            }
        }
        match best {
            // A lend taken meanwhile keeps its handle (as with any retired connection).
            Some((_, inner, entry)) if entry.load.load(Ordering::SeqCst) == 0 => {
                inner.retire(&entry, CloseReason::Handoff);
                true
            }
            _ => false,
        }
    }

    fn idle(&self, except: *const ()) -> bool {
        let Some(keyed) = self.keyed.upgrade() else {
            return false;
        };
        read(&keyed.pools).as_ref().is_some_and(|pools| {
            pools.values().any(|pool| {
                let inner = &pool.inner;
                !std::ptr::eq(Arc::as_ptr(inner).cast::<()>(), except)
                    && inner.live.read(|entries| {
                        entries.iter().any(|e| {
                            !e.retired.load(Ordering::SeqCst) && e.load.load(Ordering::SeqCst) == 0
                        })
                    })
            })
        })
    }

    fn waiting(&self, delta: isize) {
        if delta >= 0 {
            self.waiting
                .fetch_add(delta.unsigned_abs(), Ordering::SeqCst);
        } else {
            self.waiting
                .fetch_sub(delta.unsigned_abs(), Ordering::SeqCst);
        }
    }

    fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) != 0
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
