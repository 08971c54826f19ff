//! [`KeyedSharedPool`]: one [`SharedPool`] per key (a cluster node, a tenant's server),
//! made on first use.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{Lent, SharedBuilder, SharedPool, SharedStats, permits};
use crate::Manager;
use crate::error::{BuildError, Error};

/// One [`SharedPool`] per key, each made on first use from the same [`SharedBuilder`]
/// and a manager for the key: for a cluster, one pool of shared connections per node.
///
/// Each key's pool has the builder's settings (`max_size` connections to that key, each
/// lent to up to `max_concurrent_per_connection` callers). There is no cap across keys:
/// the number of keys times `max_size` bounds the connections.
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
}

impl<K, M> KeyedSharedPool<K, M>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    M: Manager,
    M::Connection: Clone,
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
        builder.config.validate()?;
        if builder.limit == 0 || builder.limit > super::MAX_CONCURRENT_PER_CONNECTION {
            return Err(BuildError::MaxConcurrentPerConnection {
                given: builder.limit,
            });
        }
        permits(builder.config.max_size, builder.limit)?;
        Ok(Self {
            inner: Arc::new(Keyed {
                pools: RwLock::new(Some(HashMap::new())),
                builder,
                factory: Box::new(factory),
            }),
        })
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
        // The settings were validated by `new`: building cannot fail.
        let pool = self.inner.builder.clone().build(manager).ok()?;
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

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
