//! [`Client`]: a pooled session, a `tokio_postgres::Client` with a statement cache and
//! the protocol state the recycling reads.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::Statement;
use tokio_postgres::types::Type;

use crate::session::{Session, TxStatus};

/// A pooled PostgreSQL session: derefs to [`tokio_postgres::Client`], so every query
/// method is there, and adds [`prepare_cached`](Client::prepare_cached).
///
/// Transactions work as in tokio-postgres (`client.transaction().await?`, through
/// `DerefMut`). One left open when the connection goes back to the pool (a guard
/// dropped after `BEGIN`, a cancelled future) is rolled back before the next user gets
/// the session: see [`RecyclingMethod`](crate::RecyclingMethod).
pub struct Client {
    // Boxed: the pool moves connections by value (into and out of its idle queue, inside
    // the `get` future, which holds several of them in its states), so a pointer here
    // instead of ~270 bytes is less copying on every checkout.
    parts: Box<Parts>,
}

struct Parts {
    inner: tokio_postgres::Client,
    session: Arc<Session>,
    cache: StatementCache,
}

impl Client {
    pub(crate) fn new(
        inner: tokio_postgres::Client,
        session: Arc<Session>,
        capacity: usize,
    ) -> Self {
        let cache = StatementCache::new(capacity, session.discards());
        Self {
            parts: Box::new(Parts {
                inner,
                session,
                cache,
            }),
        }
    }

    /// Prepares `query`, or returns the statement prepared for it earlier on this
    /// session: one round trip the first time, none after.
    ///
    /// # Errors
    ///
    /// The server's error if the statement does not prepare (nothing is cached then).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the cache as it was (a statement prepared meanwhile is
    /// closed).
    pub async fn prepare_cached(&self, query: &str) -> Result<Statement, tokio_postgres::Error> {
        self.prepare_typed_cached(query, &[]).await
    }

    /// [`prepare_cached`](Client::prepare_cached) with the parameter types given, as
    /// [`prepare_typed`](tokio_postgres::Client::prepare_typed); cached under the query
    /// and the types together.
    ///
    /// # Errors
    ///
    /// As [`prepare_cached`](Client::prepare_cached).
    ///
    /// # Cancel safety
    ///
    /// As [`prepare_cached`](Client::prepare_cached).
    pub async fn prepare_typed_cached(
        &self,
        query: &str,
        types: &[Type],
    ) -> Result<Statement, tokio_postgres::Error> {
        self.sync_cache();
        if let Some(statement) = self.parts.cache.get(query, types) {
            return Ok(statement);
        }
        let statement = self.parts.inner.prepare_typed(query, types).await?;
        self.parts.cache.insert(query, types, statement.clone());
        Ok(statement)
    }

    /// This session's statement cache.
    pub fn statement_cache(&self) -> &StatementCache {
        &self.parts.cache
    }

    /// Empties the statement cache if the session's prepared statements were dropped
    /// (`DISCARD ALL`, `DEALLOCATE`) since it last looked, with tokio-postgres's type
    /// cache (its statements went too).
    #[inline]
    pub(crate) fn sync_cache(&self) {
        let discards = self.parts.session.discards();
        if self.parts.cache.generation() != discards {
            self.parts.inner.clear_type_cache();
            self.parts.cache.clear_to(discards);
        }
    }

    #[inline]
    pub(crate) fn tx_status(&self) -> TxStatus {
        self.parts.session.status()
    }

    pub(crate) fn session(&self) -> &Session {
        &self.parts.session
    }
}

impl Deref for Client {
    type Target = tokio_postgres::Client;

    fn deref(&self) -> &tokio_postgres::Client {
        &self.parts.inner
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut tokio_postgres::Client {
        &mut self.parts.inner
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("closed", &self.parts.inner.is_closed())
            .field("statement_cache", &self.parts.cache)
            .finish_non_exhaustive()
    }
}

/// The prepared statements of one session, by query text (and parameter types), at most
/// [`capacity`](StatementCache::capacity) of them: when full, the least recently used
/// one is evicted (and closed on the server).
///
/// Emptied whenever the session's prepared statements are dropped: a `DISCARD ALL` or
/// `DEALLOCATE` run by a recycling method or by the user is seen in the protocol stream.
pub struct StatementCache {
    capacity: usize,
    entries: Mutex<Entries>,
    /// The session's discard count when the cache was last emptied (read on every
    /// checkout, so not behind the lock).
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Entries {
    /// By query text, then by parameter types (almost always one entry: no types).
    /// Hashed with foldhash's fixed-seed fast hasher, several times cheaper than SipHash on
    /// a lookup per statement: the keys are the program's own SQL, at most `capacity` of
    /// them, no untrusted input to flood it with.
    map: HashMap<String, Vec<Entry>, foldhash::fast::FixedState>,
    len: usize,
    tick: u64,
}

struct Entry {
    types: Vec<Type>,
    statement: Statement,
    used: u64,
}

impl StatementCache {
    fn new(capacity: usize, generation: u64) -> Self {
        Self {
            capacity,
            entries: Mutex::new(Entries::default()),
            generation: AtomicU64::new(generation),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that had to prepare.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Statements cached now.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether no statement is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most statements kept (0: nothing is cached).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every cached statement (they are closed on the server).
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.map.clear();
        entries.len = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // No code panics while holding the lock; a poisoned lock still holds a valid map.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[inline]
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn clear_to(&self, generation: u64) {
        let mut entries = self.lock();
        entries.map.clear();
        entries.len = 0;
        self.generation.store(generation, Ordering::Release);
    }

    fn get(&self, query: &str, types: &[Type]) -> Option<Statement> {
        let mut entries = self.lock();
        entries.tick += 1;
        let tick = entries.tick;
        let found = entries
            .map
            .get_mut(query)
            .and_then(|v| v.iter_mut().find(|e| e.types == types));
        match found {
            Some(entry) => {
                entry.used = tick;
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(entry.statement.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn insert(&self, query: &str, types: &[Type], statement: Statement) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        let entries = &mut *entries;
        if let Some(v) = entries.map.get(query) {
            if v.iter().any(|e| e.types == types) {
                return; // prepared twice by racing callers: keep the first
            }
        }
        if entries.len >= self.capacity {
            // Evict the least recently used: a scan, only on a miss with a full cache.
            let oldest = entries
                .map
                .iter()
                .flat_map(|(q, v)| v.iter().enumerate().map(move |(i, e)| (e.used, q, i)))
                .min_by_key(|(used, _, _)| *used)
                .map(|(_, q, i)| (q.clone(), i));
            if let Some((q, i)) = oldest {
                if let Some(v) = entries.map.get_mut(&q) {
                    v.swap_remove(i);
                    if v.is_empty() {
                        entries.map.remove(&q);
                    }
                    entries.len -= 1;
                }
            }
        }
        entries.tick += 1;
        let used = entries.tick;
        entries
            .map
            .entry(query.to_owned())
            .or_default()
            .push(Entry {
                types: types.to_vec(),
                statement,
                used,
            });
        entries.len += 1;
    }
}

impl fmt::Debug for StatementCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatementCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}
