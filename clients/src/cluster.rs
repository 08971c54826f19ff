//! A Redis Cluster client over one [`KeyedPool`] keyed by node address, with the
//! hand-written RESP client of [`crate::resp`].
//!
//! * Keys map to one of 16384 slots by CRC16 (XMODEM) of the key, or of its hash tag
//!   (the part between the first `{` and the next `}`, if not empty): [`key_slot`].
//! * The slot map comes from `CLUSTER SLOTS`, asked of any known node; it is refreshed
//!   after a `MOVED` reply (the moved slot is fixed at once) and after a node fails, at
//!   most every [`REFRESH_EVERY`].
//! * `MOVED` is followed and remembered; `ASK` is followed once, with `ASKING`, and not
//!   remembered; `TRYAGAIN` and `CLUSTERDOWN` are retried after a short pause. A command
//!   is redirected at most [`MAX_REDIRECTS`] times.
//! * A node that is down fails fast: its key in the pool backs off after a failed
//!   connect, so commands for its slots get [`netpool_core::Error::Unavailable`] at once
//!   while commands for other nodes go on. Once a replica takes over, the refreshed map
//!   points the slots at it.
//!
//! # Examples
//!
//! ```no_run
//! use netpool_clients::cluster::Cluster;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::builder(["127.0.0.1:7100"]).max_per_node(8).build()?;
//! cluster.set(b"user:{42}:name", b"Ada").await?;
//! assert_eq!(cluster.get(b"user:{42}:name").await?.as_deref(), Some(&b"Ada"[..]));
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use netpool_core::{KeyedPool, Pooled};
use tokio_util::compat::Compat;

use crate::resp::{RespError, TokioManager, Value};

/// Slots in a Redis Cluster.
pub const SLOTS: usize = 16384;
/// How many `MOVED`/`ASK`/`TRYAGAIN` hops a command may take.
pub const MAX_REDIRECTS: usize = 16;
/// The least time between two slot map refreshes.
pub const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// A pooled connection to one node.
type Conn = Pooled<TokioManager>;
/// The keyed pool: one pool per node address.
type Nodes = KeyedPool<String, TokioManager>;
type Stream = crate::resp::Client<Compat<tokio::net::TcpStream>>;

/// An error from a [`Cluster`] command.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No connection to the node that serves the key (down, backing off, or the pool
    /// timed out).
    #[error("no connection to {node}")]
    Pool {
        /// The node's address.
        node: String,
        /// Why.
        #[source]
        source: netpool_core::Error<RespError>,
    },
    /// The connection failed during the command.
    #[error("connection to {node} failed")]
    Io {
        /// The node's address.
        node: String,
        /// Why.
        #[source]
        source: RespError,
    },
    /// The server answered with an error reply.
    #[error("server error: {0}")]
    Server(String),
    /// No node serves the key's slot (the map is empty or incomplete).
    #[error("no node serves slot {0}")]
    NoNode(u16),
    /// Too many redirections.
    #[error("too many redirections")]
    Redirects,
}

impl ClusterError {
    /// Whether the pool refused at once because the node is down (backing off after failed
    /// connects), or the connect itself failed: the fail-fast errors.
    pub fn is_node_down(&self) -> bool {
        match self {
            Self::Pool { source, .. } => source.is_unavailable() || source.is_connect(),
            Self::Io { .. } => true,
            _ => false,
        }
    }
}

/// Builds a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    seeds: Vec<String>,
    max_per_node: usize,
    max_total: usize,
    wait_timeout: Duration,
}

/// Counters of what a [`Cluster`] did.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// `MOVED` replies followed.
    pub moved: u64,
    /// `ASK` replies followed.
    pub asked: u64,
    /// Slot map refreshes.
    pub refreshes: u64,
}

/// A Redis Cluster client: see the module docs.
#[derive(Debug, Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    nodes: Nodes,
    /// The node address serving each slot (`None` until known).
    slots: RwLock<Vec<Option<Arc<str>>>>,
    seeds: Vec<String>,
    refreshing: AtomicBool,
    last_refresh: Mutex<Option<Instant>>,
    moved: AtomicU64,
    asked: AtomicU64,
    refreshes: AtomicU64,
}

/// What one command on one node came to.
enum Outcome {
    Done(Value),
    Moved(u16, String),
    Ask(String),
    Retry,
}

impl Cluster {
    /// A builder that will learn the cluster from `seeds` ("host:port" of any nodes).
    pub fn builder<S: Into<String>>(seeds: impl IntoIterator<Item = S>) -> ClusterBuilder {
        ClusterBuilder {
            seeds: seeds.into_iter().map(Into::into).collect(),
            max_per_node: 8,
            max_total: 64,
            wait_timeout: Duration::from_secs(5),
        }
    }

    /// `GET key`.
    ///
    /// # Errors
    ///
    /// A [`ClusterError`]; [`ClusterError::is_node_down`] for a node that is down.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ClusterError> {
        match self.command(key, &[b"GET", key]).await? {
            Value::Bulk(v) => Ok(v),
            other => Err(ClusterError::Server(format!("unexpected reply {other:?}"))),
        }
    }

    /// `SET key value`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn set(&self, key: &[u8], value: &[u8]) -> Result<(), ClusterError> {
        match self.command(key, &[b"SET", key, value]).await? {
            Value::Simple(s) if s == "OK" => Ok(()),
            other => Err(ClusterError::Server(format!("unexpected reply {other:?}"))),
        }
    }

    /// Sends a command about `key` (its arguments, the first being the command's name)
    /// to the node serving the key's slot, following redirections.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get); an error reply other than a redirection is
    /// [`ClusterError::Server`].
    pub async fn command(&self, key: &[u8], args: &[&[u8]]) -> Result<Value, ClusterError> {
        let slot = key_slot(key);
        let mut node = self.node_for(slot).await?;
        let mut asking = false;
        for _ in 0..MAX_REDIRECTS {
            let outcome = match self.once(&node, args, asking).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    if e.is_node_down() {
                        self.refresh_soon();
                    }
                    return Err(e);
                }
            };
            asking = false;
            match outcome {
                Outcome::Done(Value::Error(e)) => return Err(ClusterError::Server(e)),
                Outcome::Done(v) => return Ok(v),
                Outcome::Moved(moved_slot, to) => {
                    self.inner.moved.fetch_add(1, Ordering::Relaxed);
                    self.set_slot(moved_slot, &to);
                    self.refresh_soon();
                    node = to;
                }
                Outcome::Ask(to) => {
                    self.inner.asked.fetch_add(1, Ordering::Relaxed);
                    asking = true;
                    node = to;
                }
                Outcome::Retry => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    node = self.node_for(slot).await?;
                }
            }
        }
        Err(ClusterError::Redirects)
    }

    /// The keyed pool of node connections.
    pub fn pool(&self) -> &KeyedPool<String, TokioManager> {
        &self.inner.nodes
    }

    /// The node currently believed to serve `slot`.
    pub fn node_of(&self, slot: u16) -> Option<String> {
        self.read_slot(slot).map(|n| n.to_string())
    }

    /// What the client did so far.
    pub fn stats(&self) -> ClusterStats {
        let i = &self.inner;
        ClusterStats {
            moved: i.moved.load(Ordering::Relaxed),
            asked: i.asked.load(Ordering::Relaxed),
            refreshes: i.refreshes.load(Ordering::Relaxed),
        }
    }

    /// Reloads the slot map from the first node that answers `CLUSTER SLOTS`.
    ///
    /// # Errors
    ///
    /// The last node's error if none answered.
    pub async fn refresh(&self) -> Result<(), ClusterError> {
        self.inner.refreshes.fetch_add(1, Ordering::Relaxed);
        let mut candidates: Vec<String> = self.inner.seeds.clone();
        {
            let slots = read(&self.inner.slots);
            let mut known: Vec<String> = slots.iter().flatten().map(|n| n.to_string()).collect();
            known.sort();
            known.dedup();
            candidates.extend(known);
        }
        candidates.extend(self.inner.nodes.keys());
        candidates.sort();
        candidates.dedup();
        let mut last = ClusterError::NoNode(0);
        for node in candidates {
            match self.once(&node, &[b"CLUSTER", b"SLOTS"], false).await {
                Ok(Outcome::Done(Value::Array(Some(ranges)))) => {
                    let map = parse_slots(&ranges);
                    if map.iter().any(Option::is_some) {
                        // Nodes that serve no slot any more (failed over, removed) are
                        // dropped from the pool with their connections.
                        for key in self.inner.nodes.keys() {
                            if !map.iter().flatten().any(|n| **n == *key) {
                                self.inner.nodes.remove(&key);
                            }
                        }
                        *write(&self.inner.slots) = map;
                        *lock(&self.inner.last_refresh) = Some(Instant::now());
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn node_for(&self, slot: u16) -> Result<String, ClusterError> {
        if let Some(node) = self.read_slot(slot) {
            return Ok(node.to_string());
        }
        self.refresh().await?;
        self.read_slot(slot)
            .map(|n| n.to_string())
            .ok_or(ClusterError::NoNode(slot))
    }

    fn read_slot(&self, slot: u16) -> Option<Arc<str>> {
        read(&self.inner.slots)
            .get(usize::from(slot))
            .cloned()
            .flatten()
    }

    fn set_slot(&self, slot: u16, node: &str) {
        if let Some(entry) = write(&self.inner.slots).get_mut(usize::from(slot)) {
            *entry = Some(node.into());
        }
    }

    /// Starts a refresh in the background unless one ran within [`REFRESH_EVERY`] or one
    /// is running.
    fn refresh_soon(&self) {
        let recent = lock(&self.inner.last_refresh).is_some_and(|t| t.elapsed() < REFRESH_EVERY);
        if recent || self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.refresh().await;
            *lock(&this.inner.last_refresh) = Some(Instant::now());
            this.inner.refreshing.store(false, Ordering::Release);
        });
    }

    /// One command on one node.
    async fn once(
        &self,
        node: &str,
        args: &[&[u8]],
        asking: bool,
    ) -> Result<Outcome, ClusterError> {
        let key = node.to_owned();
        let mut conn: Conn = match self.inner.nodes.get(&key).await {
            Ok(conn) => conn,
            Err(source) => return Err(ClusterError::Pool { node: key, source }),
        };
        let reply = run(&mut conn, args, asking).await;
        let value = match reply {
            Ok(value) => value,
            Err(source) => {
                if source.is_fatal() {
                    Pooled::discard(conn);
                }
                return Err(ClusterError::Io { node: key, source });
            }
        };
        Ok(match value {
            Value::Error(e) => redirection(&e).unwrap_or(Outcome::Done(Value::Error(e))),
            v => Outcome::Done(v),
        })
    }
}

async fn run(conn: &mut Stream, args: &[&[u8]], asking: bool) -> Result<Value, RespError> {
    if asking {
        conn.command(&[b"ASKING"]).await?;
    }
    conn.command(args).await
}

/// `MOVED 3999 127.0.0.1:7101`, `ASK 3999 127.0.0.1:7101`, `TRYAGAIN ...`,
/// `CLUSTERDOWN ...`.
fn redirection(e: &str) -> Option<Outcome> {
    let mut words = e.split_ascii_whitespace();
    match words.next()? {
        "MOVED" => {
            let slot = words.next()?.parse().ok()?;
            Some(Outcome::Moved(slot, words.next()?.to_owned()))
        }
        "ASK" => {
            let _slot = words.next()?;
            Some(Outcome::Ask(words.next()?.to_owned()))
        }
        "TRYAGAIN" | "CLUSTERDOWN" => Some(Outcome::Retry),
        _ => None,
    }
}

/// The slot map from a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id], replicas...], ...]`.
fn parse_slots(ranges: &[Value]) -> Vec<Option<Arc<str>>> {
    let mut map = vec![None; SLOTS];
    for range in ranges {
        let Value::Array(Some(fields)) = range else {
            continue;
        };
        let (
            Some(Value::Integer(start)),
            Some(Value::Integer(end)),
            Some(Value::Array(Some(master))),
        ) = (fields.first(), fields.get(1), fields.get(2))
        else {
            continue;
        };
        let (Some(Value::Bulk(Some(host))), Some(Value::Integer(port))) =
            (master.first(), master.get(1))
        else {
            continue;
        };
        let node: Arc<str> = format!("{}:{port}", String::from_utf8_lossy(host)).into();
        let (Ok(start), Ok(end)) = (usize::try_from(*start), usize::try_from(*end)) else {
            continue;
        };
        for slot in map
            .iter_mut()
            .take(end.saturating_add(1).min(SLOTS))
            .skip(start)
        {
            *slot = Some(node.clone());
        }
    }
    map
}

/// The slot of `key`: CRC16 of the key, or of its hash tag, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(tagged) % SLOTS as u16
}

/// CRC16/XMODEM (polynomial 0x1021, initial 0), the one Redis Cluster uses.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

impl ClusterBuilder {
    /// Cap on connections per node (default 8).
    pub fn max_per_node(mut self, n: usize) -> Self {
        self.max_per_node = n;
        self
    }

    /// Cap on connections to all nodes together (default 64).
    pub fn max_total(mut self, n: usize) -> Self {
        self.max_total = n;
        self
    }

    /// How long a command may wait for a connection (default 5 s).
    pub fn wait_timeout(mut self, d: Duration) -> Self {
        self.wait_timeout = d;
        self
    }

    /// Creates the client (lazily: the slot map is loaded by the first command) and starts
    /// the pool's maintenance on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// An invalid pool setting.
    pub fn build(self) -> Result<Cluster, netpool_core::BuildError> {
        let nodes = KeyedPool::builder()
            .max_size(self.max_per_node)
            .max_total(self.max_total)
            .wait_timeout(Some(self.wait_timeout))
            .connect_timeout(Some(Duration::from_secs(2)))
            .connect_backoff(Duration::from_millis(20), Duration::from_millis(200))
            .build(|addr: &String| TokioManager::new(addr.clone()))?;
        let weak = nodes.downgrade();
        let every = nodes.maintenance_interval();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(nodes) = weak.upgrade() else { break };
                nodes.maintain().await;
            }
        });
        Ok(Cluster {
            inner: Arc::new(Inner {
                nodes,
                slots: RwLock::new(vec![None; SLOTS]),
                seeds: self.seeds,
                refreshing: AtomicBool::new(false),
                last_refresh: Mutex::new(None),
                moved: AtomicU64::new(0),
                asked: AtomicU64::new(0),
                refreshes: AtomicU64::new(0),
            }),
        })
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::{crc16, key_slot};

    #[test]
    fn slots_match_redis() {
        // The reference values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"user:{42}:name"), key_slot(b"42"));
        assert_eq!(
            key_slot(b"{}foo"),
            key_slot(b"{}foo"),
            "empty tag: the whole key"
        );
        assert_ne!(key_slot(b"{}foo"), key_slot(b""));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
    }
}
