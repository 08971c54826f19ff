//! [`ReplicaSet`]: a primary and its replicas over one [`KeyedPool`]: writes to the
//! primary, reads spread over the replicas, failing replicas ejected for a while, and the
//! roles checked again after a failover.
//!
//! # Implementation details
//!
//! * Every server is a key of the keyed pool (its address, say) and a [`Node`]: its
//!   requests in flight, its failures in a row and its ejection. The roles (which node is
//!   the primary, which are replicas) sit behind a read-write lock that a pick
//!   read-locks for a moment; they change only when a role check finds a new primary.
//! * Reads: among the replicas not ejected, two picked at random, and the one with fewer
//!   requests in flight is used ("the power of two choices": near the least-loaded
//!   choice, without a global scan or herding on one replica). A replica whose get fails
//!   is charged a failure and the read moves on to the other pick, then to the primary,
//!   so a dead replica costs its in-flight requests, not new ones.
//! * Ejection: `eject_after` failures in a row (a failed get, or a [`Lease::report`] that
//!   blames the connection or the server) eject a replica for `base * 2^(n-1)` (capped),
//!   `n` its ejections in a row; a lease returned without a fault clears both counts. At
//!   most half of the replicas (rounded down) are ejected at once: past that, failures
//!   are only counted. An ejected replica's idle connections are closed (its pool is
//!   refreshed), so it rejoins with new connections.
//! * Roles: with a manager that answers [`Manager::role`], a role check asks each node
//!   what it is. It runs when a write's server fault is reported (`READONLY`), when a get
//!   from the primary fails, and every `role_check_interval`; one caller runs it (others
//!   that need the primary wait for it, within their deadline; reads go on). If exactly
//!   one node says primary, it becomes the primary and every other node a replica; if
//!   several do (mid-failover), the current primary is kept if it is one of them; if
//!   none does, nothing changes and the check is asked for again (at most one per
//!   `MIN_CHECK_GAP`).

use std::fmt;
use std::hash::Hash;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use event_listener::Event as Notify;

use crate::clock::{self, Nanos};
use crate::error::Error;
use crate::shared::run_until;
use crate::types::{Fault, Role};
use crate::{KeyedPool, Manager, Pooled};

/// The least time between two role checks asked for by failures.
const MIN_CHECK_GAP: Duration = Duration::from_millis(50);

/// A primary and its replicas, over one [`KeyedPool`] keyed by server.
///
/// [`primary`](Self::primary) checks a connection out of the primary (for writes);
/// [`replica`](Self::replica) out of a replica (for reads; the primary when no replica
/// is available), chosen by the power of two choices on requests in flight. Both return a
/// [`Lease`]; report errors on it with [`Lease::report`], so that failing replicas are
/// ejected and a failover (a `READONLY` from the old primary) is followed at once.
///
/// Cheap to clone (an `Arc` inside).
///
/// # Examples
///
/// ```
/// # use std::convert::Infallible;
/// # struct To(&'static str);
/// # impl netpool_core::Manager for To {
/// #     type Connection = &'static str;
/// #     type Error = Infallible;
/// #     async fn connect(&self) -> Result<&'static str, Infallible> { Ok(self.0) }
/// #     async fn is_valid(&self, _: &mut &'static str) -> Result<(), Infallible> { Ok(()) }
/// #     fn has_broken(&self, _: &mut &'static str) -> bool { false }
/// # }
/// use netpool_core::{KeyedPool, ReplicaSet};
/// # futures_lite::future::block_on(async {
/// let pool = KeyedPool::builder().build(|addr: &&'static str| To(*addr))?;
/// let set = ReplicaSet::new(pool, "10.0.0.1:6379", ["10.0.0.2:6379", "10.0.0.3:6379"]);
/// assert_eq!(*set.primary().await?, "10.0.0.1:6379");
/// assert_ne!(*set.replica().await?, "10.0.0.1:6379");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct ReplicaSet<K, M: Manager> {
    inner: Arc<Set<K, M>>,
}

/// A connection checked out through a [`ReplicaSet`]: derefs to the connection, counts as
/// a request in flight on its server until dropped.
#[must_use = "dropping a Lease returns the connection at once"]
#[clippy::has_significant_drop]
pub struct Lease<K, M: Manager> {
    conn: Pooled<M>,
    node: Arc<Node<K>>,
    set: Arc<Set<K, M>>,
    /// A fault was reported: the drop does not count a success.
    faulted: bool,
}

/// One server of a [`ReplicaSet`], from [`ReplicaSet::nodes`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState<K> {
    /// Its key in the keyed pool.
    pub key: K,
    /// Its role as last seen.
    pub role: Role,
    /// Requests in flight on it (leases not yet dropped).
    pub in_flight: usize,
    /// Whether it is ejected now.
    pub ejected: bool,
    /// Its failures in a row.
    pub failures: u32,
}

struct Set<K, M: Manager> {
    pool: KeyedPool<K, M>,
    roles: RwLock<Roles<K>>,
    config: SetConfig,
    /// A role check was asked for by a failure.
    urgent: AtomicBool,
    /// A role check is running.
    checking: AtomicBool,
    /// When the last role check started (coarse clock).
    last_check: AtomicU64,
    /// Notified when a role check ends.
    checked: Notify,
    /// Role checks that changed the primary.
    role_changes: AtomicU64,
}

/// The settings, as atomics so that the builder-style setters work on a shared set.
#[derive(Debug)]
struct SetConfig {
    eject_after: AtomicU32,
    /// In nanoseconds, as the durations below.
    eject_base: AtomicU64,
    eject_max: AtomicU64,
    /// 0: no periodic check.
    check_every: AtomicU64,
    check_timeout: AtomicU64,
}

impl SetConfig {
    fn get(v: &AtomicU64) -> Duration {
        Duration::from_nanos(v.load(Ordering::Relaxed))
    }
}

struct Roles<K> {
    primary: Arc<Node<K>>,
    replicas: Vec<Arc<Node<K>>>,
}

struct Node<K> {
    key: K,
    in_flight: AtomicUsize,
    failures: AtomicU32,
    ejections: AtomicU32,
    /// Ejected until this coarse instant (0: not ejected).
    ejected_until: AtomicU64,
}

impl<K, M> ReplicaSet<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
{
    /// A set with the given roles. The roles change only if the manager answers
    /// [`Manager::role`] (see [`check_roles`](Self::check_roles)).
    ///
    /// Defaults: a replica is ejected after 3 failures in a row, for 500 ms, doubling
    /// with each ejection in a row up to 30 s; roles are checked every 10 s and on
    /// failures, each node given 1 s to answer.
    pub fn new(pool: KeyedPool<K, M>, primary: K, replicas: impl IntoIterator<Item = K>) -> Self {
        let primary = Node::new(primary);
        let replicas = replicas
            .into_iter()
            .filter(|k| *k != primary.key)
            .map(Node::new)
            .collect();
        Self {
            inner: Arc::new(Set {
                pool,
                roles: RwLock::new(Roles { primary, replicas }),
                config: SetConfig {
                    eject_after: AtomicU32::new(3),
                    eject_base: AtomicU64::new(clock::nanos(Duration::from_millis(500))),
                    eject_max: AtomicU64::new(clock::nanos(Duration::from_secs(30))),
                    check_every: AtomicU64::new(clock::nanos(Duration::from_secs(10))),
                    check_timeout: AtomicU64::new(clock::nanos(Duration::from_secs(1))),
                },
                urgent: AtomicBool::new(false),
                checking: AtomicBool::new(false),
                last_check: AtomicU64::new(clock::now()),
                checked: Notify::new(),
                role_changes: AtomicU64::new(0),
            }),
        }
    }

    /// A set of `nodes` whose roles are asked from the servers ([`Manager::role`]): the
    /// one that says primary is the primary, the others replicas.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] if `nodes` is empty or no node says it is the primary (a node
    /// that cannot be reached within the role-check timeout counts as not primary; a
    /// manager that does not answer `role` never finds one).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only checks connections out.
    pub async fn discover(
        pool: KeyedPool<K, M>,
        nodes: impl IntoIterator<Item = K>,
    ) -> Result<Self, Error<M::Error>> {
        let nodes: Vec<K> = nodes.into_iter().collect();
        let Some(first) = nodes.first().cloned() else {
            return Err(Error::Closed);
        };
        let set = Self::new(pool, first, nodes);
        match set.check_roles().await? {
            true => Ok(set),
            false => Err(Error::Closed),
        }
    }

    /// Ejects a replica after `failures` failures in a row (default 3; 0 counts as 1).
    #[must_use]
    pub fn eject_after(self, failures: u32) -> Self {
        (self.inner.config.eject_after).store(failures.max(1), Ordering::Relaxed);
        self
    }

    /// How long an ejection lasts: `base` the first time, doubling with each ejection in
    /// a row, at most `max` (default 500 ms and 30 s).
    #[must_use]
    pub fn ejection(self, base: Duration, max: Duration) -> Self {
        let config = &self.inner.config;
        config
            .eject_base
            .store(clock::nanos(base), Ordering::Relaxed);
        (config.eject_max).store(clock::nanos(max.max(base)), Ordering::Relaxed);
        self
    }

    /// How often the roles are checked without a failure asking for it (default 10 s;
    /// `None`: only on failures).
    #[must_use]
    pub fn role_check_interval(self, interval: Option<Duration>) -> Self {
        let every = interval.map_or(0, |i| clock::nanos(i).max(1));
        (self.inner.config.check_every).store(every, Ordering::Relaxed);
        self
    }

    /// How long each node has to answer a role check (default 1 s).
    #[must_use]
    pub fn role_check_timeout(self, timeout: Duration) -> Self {
        (self.inner.config.check_timeout).store(clock::nanos(timeout), Ordering::Relaxed);
        self
    }

    /// A connection to the primary, for writes.
    ///
    /// Waits for a role check under way that a failure asked for (a failover may be
    /// going on), then checks a connection out of the primary's pool. A failed get runs
    /// a role check (unless one ran in the last 50 ms) and, if another node took over,
    /// tries it once.
    ///
    /// # Errors
    ///
    /// As [`KeyedPool::get`] for the primary's key.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`KeyedPool::get`].
    pub async fn primary(&self) -> Result<Lease<K, M>, Error<M::Error>> {
        let set = &self.inner;
        set.settle_roles(true).await;
        let mut retried = false;
        loop {
            let node = set.roles().primary.clone();
            match Set::lease(set, &node).await {
                Ok(lease) => return Ok(lease),
                Err(e) => {
                    // The primary may be gone for good (a failover): check now, and if
                    // another node took over, try it once.
                    set.ask_for_check();
                    set.settle_roles(true).await;
                    let moved = !Arc::ptr_eq(&set.roles().primary, &node);
                    if retried || !moved {
                        return Err(e);
                    }
                    retried = true;
                }
            }
        }
    }

    /// A connection to a replica, for reads: the one with fewer requests in flight of two
    /// picked at random among those not ejected. A replica whose get fails is charged a
    /// failure and the next pick is tried; the primary serves when no replica can.
    ///
    /// # Errors
    ///
    /// As [`KeyedPool::get`] for the primary's key, when no replica could serve.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`KeyedPool::get`].
    pub async fn replica(&self) -> Result<Lease<K, M>, Error<M::Error>> {
        let set = &self.inner;
        set.settle_roles(false).await;
        let mut tried: Vec<Arc<Node<K>>> = Vec::new();
        for _ in 0..2 {
            let Some(node) = set.pick(&tried) else { break };
            match Set::lease(set, &node).await {
                Ok(lease) => return Ok(lease),
                Err(_) => {
                    set.failed(&node);
                    tried.push(node);
                }
            }
        }
        self.primary().await
    }

    /// Asks every node for its role now ([`Manager::role`]) and makes the one that says
    /// primary the primary. Returns whether a primary answered (`false` when none did, or
    /// the manager does not answer `role`: the roles are then unchanged).
    ///
    /// Run by the set itself on failures and every `role_check_interval`; call it to
    /// follow a planned switch-over at once.
    ///
    /// # Errors
    ///
    /// None so far: a node that cannot be asked counts as not primary. (The `Result`
    /// leaves room for a manager error that must stop the check.)
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a check cut short changes nothing.
    pub async fn check_roles(&self) -> Result<bool, Error<M::Error>> {
        Ok(self.inner.check_roles().await)
    }

    /// The primary's key.
    pub fn primary_key(&self) -> K {
        self.inner.roles().primary.key.clone()
    }

    /// The replicas' keys.
    pub fn replica_keys(&self) -> Vec<K> {
        let roles = self.inner.roles();
        roles.replicas.iter().map(|n| n.key.clone()).collect()
    }

    /// The state of every node, the primary first.
    pub fn nodes(&self) -> Vec<NodeState<K>> {
        let now = clock::now();
        let roles = self.inner.roles();
        std::iter::once((&roles.primary, Role::Primary))
            .chain(roles.replicas.iter().map(|n| (n, Role::Replica)))
            .map(|(n, role)| NodeState {
                key: n.key.clone(),
                role,
                in_flight: n.in_flight.load(Ordering::Relaxed),
                ejected: n.ejected(now),
                failures: n.failures.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// How many times a role check changed the primary.
    pub fn failovers(&self) -> u64 {
        self.inner.role_changes.load(Ordering::Relaxed)
    }

    /// The keyed pool underneath (for its stats, `maintain`, `close`).
    pub fn pool(&self) -> &KeyedPool<K, M> {
        &self.inner.pool
    }
}

impl<K, M> Set<K, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
{
    /// A get on `node`'s pool, counted in the node's requests in flight while it runs
    /// and, once it succeeds, for the lease's life (the lease's drop uncounts it).
    async fn lease(this: &Arc<Self>, node: &Arc<Node<K>>) -> Result<Lease<K, M>, Error<M::Error>> {
        node.in_flight.fetch_add(1, Ordering::AcqRel);
        let counted = InFlight(node);
        let conn = this.pool.get(&node.key).await?;
        std::mem::forget(counted);
        Ok(Lease {
            conn,
            node: node.clone(),
            set: this.clone(),
            faulted: false,
        })
    }

    fn roles(&self) -> std::sync::RwLockReadGuard<'_, Roles<K>> {
        // A panic while the roles were written leaves them whole (they are replaced in
        // one assignment): go on with them.
        self.roles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A replica not ejected and not in `tried`: the one with fewer requests in flight of
    /// two picked at random.
    fn pick(&self, tried: &[Arc<Node<K>>]) -> Option<Arc<Node<K>>> {
        let now = clock::now();
        let roles = self.roles();
        let eligible: Vec<&Arc<Node<K>>> = roles
            .replicas
            .iter()
            .filter(|n| !n.ejected(now) && !tried.iter().any(|t| Arc::ptr_eq(t, n)))
            .collect();
        match eligible.len() {
            0 => None,
            1 => Some(eligible[0].clone()),
            len => {
                let a = fastrand::usize(0..len);
                let b = (a + 1 + fastrand::usize(0..len - 1)) % len;
                let (a, b) = (eligible[a], eligible[b]);
                let load = |n: &Node<K>| n.in_flight.load(Ordering::Acquire);
                Some(if load(b) < load(a) {
                    b.clone()
                } else {
                    a.clone()
                })
            }
        }
    }

    /// A replica failed: counts it, and ejects it after `eject_after` in a row unless
    /// half of the replicas are ejected already.
    fn failed(&self, node: &Arc<Node<K>>) {
        let failures = node.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures < self.config.eject_after.load(Ordering::Relaxed) {
            return;
        }
        let now = clock::now();
        let roles = self.roles();
        let is_replica = roles.replicas.iter().any(|n| Arc::ptr_eq(n, node));
        if !is_replica || node.ejected(now) {
            return;
        }
        let ejected = roles.replicas.iter().filter(|n| n.ejected(now)).count();
        if ejected + 1 > roles.replicas.len() / 2 {
            return;
        }
        drop(roles);
        let n = node.ejections.fetch_add(1, Ordering::AcqRel).min(20);
        let base = self.config.eject_base.load(Ordering::Relaxed);
        let span = base
            .saturating_mul(1 << n)
            .min(self.config.eject_max.load(Ordering::Relaxed));
        node.ejected_until
            .store(now.saturating_add(span.max(1)), Ordering::Release);
        node.failures.store(0, Ordering::Release);
        // Its connections are suspect: it rejoins with new ones.
        self.pool.refresh_key(&node.key);
    }

    /// Asks for a role check (a failure that may be a failover).
    fn ask_for_check(&self) {
        self.urgent.store(true, Ordering::Release);
    }

    /// Runs a role check if one is asked for (or due); `wait`: wait for one that another
    /// caller runs, if a failure asked for it.
    async fn settle_roles(&self, wait: bool) {
        let urgent = self.urgent.load(Ordering::Acquire);
        let now = clock::now();
        let last = self.last_check.load(Ordering::Acquire);
        let every = self.config.check_every.load(Ordering::Relaxed);
        let due = every != 0 && now.saturating_sub(last) >= every;
        let gap = now.saturating_sub(last) >= clock::nanos(MIN_CHECK_GAP);
        let running = self.checking.load(Ordering::Acquire);
        if !(due || urgent && (gap || running)) {
            return;
        }
        if self
            .checking
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let _done = Checking(self);
            self.check_roles_locked().await;
            return;
        }
        if !(wait && urgent) {
            return;
        }
        // Another caller checks: wait for it (bounded, in case it is cancelled).
        let listener = self.checked.listen();
        if !self.checking.load(Ordering::Acquire) {
            return;
        }
        let wait = SetConfig::get(&self.config.check_timeout) * 2;
        let at = std::time::Instant::now().checked_add(wait);
        let _ = run_until(at, listener).await;
    }

    /// [`ReplicaSet::check_roles`]: waits for its turn (one check at a time).
    async fn check_roles(&self) -> bool {
        loop {
            if self
                .checking
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let _done = Checking(self);
                return self.check_roles_locked().await;
            }
            let listener = self.checked.listen();
            if self.checking.load(Ordering::Acquire) {
                listener.await;
            }
        }
    }

    /// The role check, with `checking` held.
    async fn check_roles_locked(&self) -> bool {
        self.last_check.store(clock::now(), Ordering::Release);
        let nodes: Vec<Arc<Node<K>>> = {
            let roles = self.roles();
            std::iter::once(roles.primary.clone())
                .chain(roles.replicas.iter().cloned())
                .collect()
        };
        let mut primaries = Vec::new();
        for node in &nodes {
            if self.role_of(&node.key).await == Some(Role::Primary) {
                primaries.push(node.clone());
            }
        }
        let current = self.roles().primary.clone();
        let next = if primaries.iter().any(|n| Arc::ptr_eq(n, &current)) {
            current.clone()
        } else if let Some(first) = primaries.first() {
            first.clone()
        } else {
            // Nobody says primary (mid-failover): look again soon.
            self.urgent.store(true, Ordering::Release);
            return false;
        };
        self.urgent.store(false, Ordering::Release);
        if Arc::ptr_eq(&next, &current) {
            return true;
        }
        {
            let mut roles = self
                .roles
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let replicas = nodes
                .iter()
                .filter(|n| !Arc::ptr_eq(n, &next))
                .cloned()
                .collect();
            *roles = Roles {
                primary: next.clone(),
                replicas,
            };
        }
        // A new primary is no ejected replica; the old one starts afresh as a replica.
        for node in [&next, &current] {
            node.ejected_until.store(0, Ordering::Release);
            node.failures.store(0, Ordering::Release);
            node.ejections.store(0, Ordering::Release);
        }
        self.role_changes.fetch_add(1, Ordering::Relaxed);
        // Connections to the old primary may hold state of a writer's session.
        self.pool.refresh_key(&current.key);
        true
    }

    /// What `key`'s server says it is; `None` if it cannot be asked in time or does not
    /// answer roles.
    async fn role_of(&self, key: &K) -> Option<Role> {
        let timeout = SetConfig::get(&self.config.check_timeout);
        let at = std::time::Instant::now().checked_add(timeout);
        let mut conn = self.pool.get_timeout(key, timeout).await.ok()?;
        let pool = self.pool.pool_of(key)?;
        let role = run_until(at, pool.manager().role(&mut conn)).await;
        match role {
            Some(Ok(role)) => role,
            Some(Err(_)) => {
                Pooled::set_broken(&mut conn, true);
                None
            }
            None => {
                // Cut short: the exchange may be half done.
                Pooled::set_broken(&mut conn, true);
                None
            }
        }
    }
}

impl<K, M: Manager> Lease<K, M> {
    /// Tells the set and the pool about an error this connection returned (see
    /// [`Pooled::report`]): a [`Fault::Connection`] closes the connection and counts a
    /// failure of its server (a replica failing repeatedly is ejected); a
    /// [`Fault::Server`] also refreshes that server's pool and asks for a role check
    /// (the next [`ReplicaSet::primary`] runs it: after a failover, the new primary takes
    /// the writes); [`Fault::None`] does nothing.
    pub fn report(this: &mut Self, err: &(dyn std::error::Error + 'static)) -> Fault
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        let fault = Pooled::report(&mut this.conn, err);
        match fault {
            Fault::Connection => {
                this.faulted = true;
                this.set.failed(&this.node);
                // A primary whose connections fail may be gone: a failover may follow.
                if Arc::ptr_eq(&this.set.roles().primary, &this.node) {
                    this.set.ask_for_check();
                }
            }
            Fault::Server => {
                this.faulted = true;
                this.set.failed(&this.node);
                this.set.ask_for_check();
            }
            Fault::None => {}
        }
        fault
    }

    /// The key of the server this connection is to.
    pub fn key(this: &Self) -> &K {
        &this.node.key
    }

    /// The pool's guard inside.
    pub fn pooled(this: &mut Self) -> &mut Pooled<M> {
        &mut this.conn
    }
}

impl<K> Node<K> {
    fn new(key: K) -> Arc<Self> {
        Arc::new(Self {
            key,
            in_flight: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
        })
    }

    fn ejected(&self, now: Nanos) -> bool {
        now < self.ejected_until.load(Ordering::Acquire)
    }
}

/// A request counted in flight until the get succeeds (then the lease counts it).
struct InFlight<'a, K>(&'a Node<K>);

impl<K> Drop for InFlight<'_, K> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A role check under way: lets the next one go and wakes the waiters when dropped.
struct Checking<'a, K, M: Manager>(&'a Set<K, M>);

impl<K, M: Manager> Drop for Checking<'_, K, M> {
    fn drop(&mut self) {
        self.0.checking.store(false, Ordering::Release);
        self.0.checked.notify(usize::MAX);
    }
}

impl<K, M: Manager> Deref for Lease<K, M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.conn
    }
}

impl<K, M: Manager> DerefMut for Lease<K, M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.conn
    }
}

impl<K, M: Manager> Drop for Lease<K, M> {
    fn drop(&mut self) {
        self.node.in_flight.fetch_sub(1, Ordering::AcqRel);
        if !self.faulted && self.node.failures.load(Ordering::Relaxed) != 0 {
            self.node.failures.store(0, Ordering::Release);
        }
        if !self.faulted && self.node.ejections.load(Ordering::Relaxed) != 0 {
            self.node.ejections.store(0, Ordering::Release);
        }
    }
}

impl<K, M: Manager> Clone for ReplicaSet<K, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K: fmt::Debug, M: Manager> fmt::Debug for ReplicaSet<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles = self
            .inner
            .roles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f.debug_struct("ReplicaSet")
            .field("primary", &roles.primary.key)
            .field(
                "replicas",
                &roles.replicas.iter().map(|n| &n.key).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<K: fmt::Debug, M: Manager> fmt::Debug for Lease<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.node.key)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}
