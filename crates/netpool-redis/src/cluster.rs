//! A Redis Cluster client over one [`KeyedPool`] of [`RedisManager`]s keyed by node
//! address, on the `redis` crate's connections, and a [`SharedPool`] of multiplexed
//! connections per node for plain commands.
//!
//! * Plain commands ([`Cluster::get`], [`Cluster::set`], [`Cluster::command`] without a
//!   redirection in progress) go through the node's shared pool: a few multiplexed
//!   connections ([`shared_per_node`](ClusterBuilder::shared_per_node), default 2), each
//!   lent to many tasks at once. `ASKING` redirections and replica reads (which set a
//!   connection's state) take an exclusive connection of the keyed pool.
//! * `TCP_NODELAY`: off on the shared connections
//!   ([`SHARED_TCP_NODELAY`], as in the `redis` crate's
//!   `cluster-async`: Nagle's algorithm batches the pipelined commands), on for the
//!   exclusive ones, unless [`ClusterBuilder::tcp_nodelay`] or the node config's
//!   [`Config::tcp_nodelay`] sets it for both.
//!
//! * Keys map to one of 16384 slots by CRC16 (XMODEM) of the key, or of its hash tag
//!   (the part between the first `{` and the next `}`, if not empty): [`key_slot`].
//! * The slot map comes from `CLUSTER SLOTS`, asked of any known node; it is refreshed
//!   after a `MOVED` reply (the moved slot is fixed at once) and after a node fails, at
//!   most every [`REFRESH_EVERY`].
//! * `MOVED` is followed and remembered; `ASK` is followed once, with `ASKING`, and not
//!   remembered; `TRYAGAIN` and `CLUSTERDOWN` are retried after a short pause. A command
//!   is redirected at most [`MAX_REDIRECTS`] times.
//! * With [`read_from_replicas`](ClusterBuilder::read_from_replicas), [`Cluster::get`]
//!   and [`Cluster::read`] go to a replica of the key's slot (round robin, `READONLY`
//!   pipelined with the command), falling back to the master when the slot has none or
//!   the replica redirects.
//! * A node that is down fails fast: its key in the pool backs off after a failed
//!   connect, so commands for its slots get [`netpool_core::Error::Unavailable`] at once
//!   while commands for other nodes go on. Once a replica takes over, the refreshed map
//!   points the slots at it.
//!
//! # Examples
//!
//! ```no_run
//! use netpool_redis::cluster::Cluster;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::builder(["127.0.0.1:7100"]).max_per_node(8).build()?;
//! cluster.set(b"user:{42}:name", b"Ada").await?;
//! assert_eq!(cluster.get(b"user:{42}:name").await?.as_deref(), Some(&b"Ada"[..]));
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use netpool_core::{KeyedPool, KeyedSharedPool, Lent, Pooled, SharedPool};
use redis::{RedisError, Value};

use crate::shared::{SHARED_TCP_NODELAY, SharedRedisManager};
use crate::{Config, CreatePoolError, Error, RedisConnection, RedisManager};

/// Slots in a Redis Cluster.
pub const SLOTS: usize = 16384;
/// How many `MOVED`/`ASK`/`TRYAGAIN` hops a command may take.
pub const MAX_REDIRECTS: usize = 16;
/// The default of [`ClusterBuilder::max_concurrent_per_connection`].
pub const DEFAULT_PER_CONNECTION: usize = 256;
/// The least time between two slot map refreshes.
pub const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// A pooled connection to one node.
type Conn = Pooled<RedisManager>;
/// The keyed pool: one pool per node address.
type Nodes = KeyedPool<String, RedisManager>;
/// The shared connections: one shared pool per node address.
type SharedNodes = KeyedSharedPool<String, SharedRedisManager>;

/// An error from a [`Cluster`] command.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No connection to the node that serves the key (down, backing off, or the pool
    /// timed out).
    #[error("no connection to {node}: {source}")]
    Pool {
        /// The node's address.
        node: String,
        /// Why.
        #[source]
        source: netpool_core::Error<Error>,
    },
    /// The connection failed during the command.
    #[error("connection to {node} failed: {source}")]
    Io {
        /// The node's address.
        node: String,
        /// Why.
        #[source]
        source: RedisError,
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
    replicas: bool,
    node: Config,
    shared_per_node: usize,
    per_connection: usize,
    tcp_nodelay: Option<bool>,
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
    /// Reads sent to replicas.
    pub replica_reads: u64,
}

/// A Redis Cluster client: see the module docs.
#[derive(Debug, Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

/// The nodes serving one slot range: the master, then its replicas.
#[derive(Debug)]
struct Serving {
    master: Arc<str>,
    replicas: Vec<Arc<str>>,
    /// The master's shared connections, once a plain command looked them up: later
    /// commands for the range skip the keyed pool's lookup.
    shared: OnceLock<SharedPool<SharedRedisManager>>,
}

impl Serving {
    fn new(master: Arc<str>, replicas: Vec<Arc<str>>) -> Self {
        Self {
            master,
            replicas,
            shared: OnceLock::new(),
        }
    }
}

/// Where a command goes: a node, and, for the master of a known slot range, that range
/// (whose cached shared pool it may use).
struct Target {
    node: Arc<str>,
    replica: bool,
    serving: Option<Arc<Serving>>,
}

#[derive(Debug)]
struct Inner {
    nodes: Nodes,
    /// Each node's shared connections, made on first use (`None`: plain commands use the
    /// keyed pool).
    shared: Option<SharedNodes>,
    /// The nodes serving each slot (`None` until known).
    slots: RwLock<Vec<Option<Arc<Serving>>>>,
    seeds: Vec<String>,
    replicas: bool,
    next_replica: AtomicUsize,
    refreshing: AtomicBool,
    last_refresh: Mutex<Option<Instant>>,
    moved: AtomicU64,
    asked: AtomicU64,
    refreshes: AtomicU64,
    replica_reads: AtomicU64,
}

/// What one command on one node came to.
enum Outcome {
    Done(Value),
    Error(String),
    Moved(u16, String),
    Ask(String),
    Retry,
    /// The node was removed from the map while the command was on its way there.
    Removed,
}

impl Cluster {
    /// A builder that will learn the cluster from `seeds` ("host:port" of any nodes).
    pub fn builder<S: Into<String>>(seeds: impl IntoIterator<Item = S>) -> ClusterBuilder {
        ClusterBuilder {
            seeds: seeds.into_iter().map(Into::into).collect(),
            max_per_node: 8,
            max_total: 64,
            wait_timeout: Duration::from_secs(5),
            replicas: false,
            node: Config::default(),
            shared_per_node: 2,
            per_connection: DEFAULT_PER_CONNECTION,
            tcp_nodelay: None,
        }
    }

    /// `GET key`; from a replica with
    /// [`read_from_replicas`](ClusterBuilder::read_from_replicas).
    ///
    /// # Errors
    ///
    /// A [`ClusterError`]; [`ClusterError::is_node_down`] for a node that is down.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ClusterError> {
        match self.read(key, &[b"GET", key]).await? {
            Value::Nil => Ok(None),
            Value::BulkString(v) => Ok(Some(v)),
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
            Value::Okay => Ok(()),
            Value::SimpleString(s) if s == "OK" => Ok(()),
            other => Err(ClusterError::Server(format!("unexpected reply {other:?}"))),
        }
    }

    /// Sends a command about `key` (its arguments, the first being the command's name)
    /// to the master serving the key's slot, following redirections.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get); an error reply other than a redirection is
    /// [`ClusterError::Server`].
    pub async fn command(&self, key: &[u8], args: &[&[u8]]) -> Result<Value, ClusterError> {
        self.send(key, args, false).await
    }

    /// A read-only command about `key`: to a replica of the key's slot with
    /// [`read_from_replicas`](ClusterBuilder::read_from_replicas), else as
    /// [`command`](Self::command).
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command).
    pub async fn read(&self, key: &[u8], args: &[&[u8]]) -> Result<Value, ClusterError> {
        self.send(key, args, self.inner.replicas).await
    }

    async fn send(&self, key: &[u8], args: &[&[u8]], replica: bool) -> Result<Value, ClusterError> {
        let slot = key_slot(key);
        let mut node = self.node_for(slot, replica).await?;
        let mut mode = if node.replica {
            Mode::Replica
        } else {
            Mode::Plain
        };
        for _ in 0..MAX_REDIRECTS {
            let outcome = match self.once(&node, args, mode).await {
                Ok(outcome) => outcome,
                // The node's pool was closed under the command: a map refresh removed the
                // node (failed over, or gone) after the command was routed to it (unless
                // the cluster itself is closed).
                Err(ClusterError::Pool { source, .. })
                    if source.is_closed() && !self.inner.nodes.is_closed() =>
                {
                    Outcome::Removed
                }
                Err(e) => {
                    if e.is_node_down() {
                        self.refresh_soon();
                    }
                    return Err(e);
                }
            };
            mode = Mode::Plain;
            match outcome {
                Outcome::Error(text) => return Err(ClusterError::Server(text)),
                Outcome::Done(v) => return Ok(v),
                Outcome::Moved(moved_slot, to) => {
                    self.inner.moved.fetch_add(1, Ordering::Relaxed);
                    self.set_slot(moved_slot, &to);
                    self.refresh_soon();
                    node = Target::node(to.into());
                }
                Outcome::Ask(to) => {
                    self.inner.asked.fetch_add(1, Ordering::Relaxed);
                    mode = Mode::Asking;
                    node = Target::node(to.into());
                }
                Outcome::Retry => {
                    Box::pin(tokio::time::sleep(Duration::from_millis(20))).await;
                    node = self.node_for(slot, false).await?;
                }
                // The refreshed map has the slot's node already: route it again at once.
                Outcome::Removed => node = self.node_for(slot, false).await?,
            }
        }
        Err(ClusterError::Redirects)
    }

    /// The keyed pool of node connections.
    pub fn pool(&self) -> &KeyedPool<String, RedisManager> {
        &self.inner.nodes
    }

    /// The shared connections to each node (one shared pool per node address), if
    /// [`shared_per_node`](ClusterBuilder::shared_per_node) is not 0.
    pub fn shared_pools(&self) -> Option<&KeyedSharedPool<String, SharedRedisManager>> {
        self.inner.shared.as_ref()
    }

    /// The shared connections to `node` ("host:port"), if a plain command went there.
    pub fn shared_pool(&self, node: &str) -> Option<SharedPool<SharedRedisManager>> {
        self.inner.shared.as_ref()?.existing(node)
    }

    /// The master currently believed to serve `slot`.
    pub fn node_of(&self, slot: u16) -> Option<String> {
        self.read_slot(slot).map(|n| n.master.to_string())
    }

    /// The replicas currently believed to serve `slot`.
    pub fn replicas_of(&self, slot: u16) -> Vec<String> {
        self.read_slot(slot)
            .map(|n| n.replicas.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default()
    }

    /// What the client did so far.
    pub fn stats(&self) -> ClusterStats {
        let i = &self.inner;
        ClusterStats {
            moved: i.moved.load(Ordering::Relaxed),
            asked: i.asked.load(Ordering::Relaxed),
            refreshes: i.refreshes.load(Ordering::Relaxed),
            replica_reads: i.replica_reads.load(Ordering::Relaxed),
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
            let mut known: Vec<String> = slots
                .iter()
                .flatten()
                .map(|n| n.master.to_string())
                .collect();
            known.sort();
            known.dedup();
            candidates.extend(known);
        }
        candidates.extend(self.inner.nodes.keys());
        candidates.sort();
        candidates.dedup();
        let mut last = ClusterError::NoNode(0);
        for node in candidates {
            let target = Target::node(node.as_str().into());
            match self
                .once(&target, &[b"CLUSTER", b"SLOTS"], Mode::Plain)
                .await
            {
                Ok(Outcome::Done(Value::Array(ranges))) => {
                    let map = parse_slots(&ranges);
                    if map.iter().any(Option::is_some) {
                        // Nodes that serve no slot any more (failed over, removed) are
                        // dropped from the pool with their connections.
                        for key in self.inner.nodes.keys() {
                            let serves = map.iter().flatten().any(|n| {
                                *n.master == *key || n.replicas.iter().any(|r| **r == *key)
                            });
                            if !serves {
                                self.inner.nodes.remove(&key);
                            }
                        }
                        if let Some(shared) = &self.inner.shared {
                            shared.retain_keys(|key| {
                                map.iter().flatten().any(|n| {
                                    *n.master == *key || n.replicas.iter().any(|r| **r == *key)
                                })
                            });
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

    /// The node for `slot` (a replica of it, if `replica` and it has one).
    async fn node_for(&self, slot: u16, replica: bool) -> Result<Target, ClusterError> {
        let serving = match self.read_slot(slot) {
            Some(serving) => serving,
            None => {
                // Boxed, as every slow path here: the future of a command stays small
                // (it is moved at every level of `async` nesting above it).
                Box::pin(self.refresh()).await?;
                self.read_slot(slot).ok_or(ClusterError::NoNode(slot))?
            }
        };
        if replica && !serving.replicas.is_empty() {
            let i = self.inner.next_replica.fetch_add(1, Ordering::Relaxed);
            let node = &serving.replicas[i % serving.replicas.len()];
            self.inner.replica_reads.fetch_add(1, Ordering::Relaxed);
            return Ok(Target {
                node: node.clone(),
                replica: true,
                serving: None,
            });
        }
        Ok(Target {
            node: serving.master.clone(),
            replica: false,
            serving: Some(serving),
        })
    }

    fn read_slot(&self, slot: u16) -> Option<Arc<Serving>> {
        read(&self.inner.slots)
            .get(usize::from(slot))
            .cloned()
            .flatten()
    }

    fn set_slot(&self, slot: u16, node: &str) {
        if let Some(entry) = write(&self.inner.slots).get_mut(usize::from(slot)) {
            *entry = Some(Arc::new(Serving::new(node.into(), Vec::new())));
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

    /// The shared connections of `target`'s node from the keyed pool (cached in its slot
    /// range for the next command).
    fn shared_pool_of(&self, target: &Target) -> Option<SharedPool<SharedRedisManager>> {
        let shared = self.inner.shared.as_ref()?;
        let Some(serving) = &target.serving else {
            return shared.pool(&*target.node);
        };
        let pool = shared.pool(&*target.node)?;
        // A closed one (the node was removed meanwhile) is not replaced: a refreshed map
        // brings new ranges.
        let _ = serving.shared.set(pool.clone());
        Some(pool)
    }

    /// One command on one node.
    async fn once(
        &self,
        target: &Target,
        args: &[&[u8]],
        mode: Mode,
    ) -> Result<Outcome, ClusterError> {
        let node = &*target.node;
        if mode == Mode::Plain {
            // The pool cached in the slot range (borrowed: no reference count to bump),
            // else the keyed pool's.
            let cached = (target.serving.as_ref())
                .and_then(|s| s.shared.get())
                .filter(|p| !p.is_closed());
            let looked_up;
            let pool = match cached {
                Some(pool) => Some(pool),
                None => {
                    looked_up = self.shared_pool_of(target);
                    looked_up.as_ref()
                }
            };
            if let Some(pool) = pool {
                let mut conn = match pool.get().await {
                    Ok(conn) => conn,
                    Err(source) => {
                        return Err(ClusterError::Pool {
                            node: node.to_owned(),
                            source,
                        });
                    }
                };
                let result = command(args).query_async(&mut *conn).await;
                return match result {
                    Ok(value) => Ok(Outcome::Done(value)),
                    Err(e) => match server_error(&e) {
                        Some(text) => Ok(redirection(&text).unwrap_or(Outcome::Error(text))),
                        None => {
                            if conn.is_broken() {
                                Lent::discard(conn);
                            }
                            Err(ClusterError::Io {
                                node: node.to_owned(),
                                source: e,
                            })
                        }
                    },
                };
            }
        }
        Box::pin(self.exclusive(node, args, mode)).await
    }

    /// One command on one node, on an exclusive connection of the keyed pool.
    async fn exclusive(
        &self,
        node: &str,
        args: &[&[u8]],
        mode: Mode,
    ) -> Result<Outcome, ClusterError> {
        let key = node.to_owned();
        let mut conn: Conn = match self.inner.nodes.get(&key).await {
            Ok(conn) => conn,
            Err(source) => return Err(ClusterError::Pool { node: key, source }),
        };
        match run(&mut conn, args, mode).await {
            Ok(value) => Ok(Outcome::Done(value)),
            Err(e) => match server_error(&e) {
                Some(text) => Ok(redirection(&text).unwrap_or(Outcome::Error(text))),
                None => {
                    if conn.is_dirty() {
                        Pooled::discard(conn);
                    }
                    Err(ClusterError::Io {
                        node: key,
                        source: e,
                    })
                }
            },
        }
    }
}

impl Target {
    /// `node`, not as the master of a known slot range.
    fn node(node: Arc<str>) -> Self {
        Self {
            node,
            replica: false,
            serving: None,
        }
    }
}

/// How a command is sent: alone, after `ASKING`, or to a replica (after `READONLY`, once
/// per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Asking,
    Replica,
}

async fn run(conn: &mut Conn, args: &[&[u8]], mode: Mode) -> Result<Value, RedisError> {
    let conn: &mut RedisConnection = conn;
    match mode {
        Mode::Plain => {}
        Mode::Asking => redis::cmd("ASKING").exec_async(&mut *conn).await?,
        Mode::Replica if !conn.readonly => {
            redis::cmd("READONLY").exec_async(&mut *conn).await?;
            conn.readonly = true;
        }
        Mode::Replica => {}
    }
    command(args).query_async(conn).await
}

/// The command of `args` (its name first).
fn command(args: &[&[u8]]) -> redis::Cmd {
    let mut cmd = redis::Cmd::new();
    for a in args {
        cmd.arg(*a);
    }
    cmd
}

/// The text of a server's error reply (`MOVED 3999 127.0.0.1:7101`), or `None` for an
/// error of the connection.
fn server_error(e: &RedisError) -> Option<String> {
    if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
        return None;
    }
    let code = e.code()?;
    Some(match e.detail() {
        Some(detail) => format!("{code} {detail}"),
        None => code.to_owned(),
    })
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

/// The slot map from a `CLUSTER SLOTS` reply:
/// `[[start, end, [host, port, id], [replica host, port, id]...], ...]`.
fn parse_slots(ranges: &[Value]) -> Vec<Option<Arc<Serving>>> {
    let mut map = vec![None; SLOTS];
    for range in ranges {
        let Value::Array(fields) = range else {
            continue;
        };
        let (Some(Value::Int(start)), Some(Value::Int(end))) = (fields.first(), fields.get(1))
        else {
            continue;
        };
        let mut nodes = fields.iter().skip(2).filter_map(node_addr);
        let Some(master) = nodes.next() else {
            continue;
        };
        let serving = Arc::new(Serving::new(master, nodes.collect()));
        let (Ok(start), Ok(end)) = (usize::try_from(*start), usize::try_from(*end)) else {
            continue;
        };
        for slot in map
            .iter_mut()
            .take(end.saturating_add(1).min(SLOTS))
            .skip(start)
        {
            *slot = Some(serving.clone());
        }
    }
    map
}

/// `host:port` of a `[host, port, id, ...]` entry of `CLUSTER SLOTS`.
fn node_addr(node: &Value) -> Option<Arc<str>> {
    let Value::Array(node) = node else {
        return None;
    };
    let host = match node.first()? {
        Value::BulkString(host) => String::from_utf8_lossy(host).into_owned(),
        Value::SimpleString(host) => host.clone(),
        _ => return None,
    };
    let Value::Int(port) = node.get(1)? else {
        return None;
    };
    Some(format!("{host}:{port}").into())
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
    data.iter().fold(0u16, |crc, &byte| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)]
    })
}

/// [`crc16`] of each byte value: one lookup per byte instead of eight shifts.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

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

    /// Sends reads ([`Cluster::get`], [`Cluster::read`]) to the replicas of the key's
    /// slot, round robin (default off: everything goes to the masters). A replica may lag
    /// behind its master.
    pub fn read_from_replicas(mut self, on: bool) -> Self {
        self.replicas = on;
        self
    }

    /// Shared (multiplexed) connections per node for plain commands (default 2; 0 turns
    /// them off: every command takes an exclusive connection of the keyed pool). They
    /// count apart from [`max_per_node`](Self::max_per_node) and
    /// [`max_total`](Self::max_total), which bound the exclusive connections.
    pub fn shared_per_node(mut self, n: usize) -> Self {
        self.shared_per_node = n;
        self
    }

    /// How many commands one shared connection carries at once (default
    /// [`DEFAULT_PER_CONNECTION`], 256).
    ///
    /// Keys spread over the nodes unevenly from moment to moment: the tasks whose node is
    /// slowest pile up on it, up to all of them on one node. Below that many, the tasks
    /// over the limit queue for a lend (a hand-off each) or split the node's pipeline over
    /// a second connection, both of which cost the client and the server CPU per command:
    /// at 128 tasks on 3 nodes, a limit of 64 did 0.6x of the `redis` crate's
    /// `cluster-async`, 256 did 1.1x (see the README).
    pub fn max_concurrent_per_connection(mut self, n: usize) -> Self {
        self.per_connection = n;
        self
    }

    /// The settings of every node connection: user name, password, TLS and its rustls
    /// configuration, client name, protocol, `TCP_NODELAY` (its host, port and database
    /// are not used: the nodes come from the cluster, and a cluster has only database 0).
    pub fn node_config(mut self, config: Config) -> Self {
        self.node = config;
        self
    }

    /// Sets `TCP_NODELAY` on every node connection's socket, shared and exclusive alike,
    /// over [`Config::tcp_nodelay`] of the [`node_config`](Self::node_config).
    ///
    /// Unset (the default), the shared connections have it off
    /// ([`SHARED_TCP_NODELAY`], as in the `redis`
    /// crate's `cluster-async`): many tasks pipeline small commands over each, and Nagle's
    /// algorithm batches them into fewer, larger writes, which cost the client and the
    /// servers less CPU per command; the exclusive connections (one request at a time)
    /// have it on. See [`Config::tcp_nodelay`] for the cost of off: a request queued
    /// behind one whose reply is slow may wait for that reply.
    pub fn tcp_nodelay(mut self, nodelay: bool) -> Self {
        self.tcp_nodelay = Some(nodelay);
        self
    }

    /// Creates the client (lazily: the slot map is loaded by the first command) and starts
    /// the pool's maintenance on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// Node settings that cannot be used, or an invalid pool setting.
    pub fn build(self) -> Result<Cluster, CreatePoolError> {
        let mut config = self.node.clone();
        config.db = 0;
        config.tcp_nodelay = self.tcp_nodelay.or(config.tcp_nodelay);
        let template = RedisManager::from_config(&config)?;
        let shared = if self.shared_per_node == 0 {
            None
        } else {
            let builder = SharedPool::builder()
                .max_size(self.shared_per_node)
                .max_concurrent_per_connection(self.per_connection)
                .wait_timeout(Some(self.wait_timeout))
                .connect_timeout(Some(Duration::from_secs(2)))
                .connect_backoff(Duration::from_millis(20), Duration::from_millis(200));
            // The shared default unless the config sets it.
            let template = RedisManager::from_config_or(&config, SHARED_TCP_NODELAY)?;
            let nodes = KeyedSharedPool::new(builder, move |addr: &String| {
                SharedRedisManager::from(node_manager(&template, addr))
            })
            .map_err(netpool_tokio::BuildError::from)?;
            Some(nodes)
        };
        let nodes = KeyedPool::builder()
            .max_size(self.max_per_node)
            .max_total(self.max_total)
            .wait_timeout(Some(self.wait_timeout))
            .connect_timeout(Some(Duration::from_secs(2)))
            .connect_backoff(Duration::from_millis(20), Duration::from_millis(200))
            .build(move |addr: &String| node_manager(&template, addr))
            .map_err(netpool_tokio::BuildError::from)?;
        let every = nodes.maintenance_interval();
        let cluster = Cluster {
            inner: Arc::new(Inner {
                nodes,
                shared,
                slots: RwLock::new(vec![None; SLOTS]),
                seeds: self.seeds,
                replicas: self.replicas,
                next_replica: AtomicUsize::new(0),
                refreshing: AtomicBool::new(false),
                last_refresh: Mutex::new(None),
                moved: AtomicU64::new(0),
                asked: AtomicU64::new(0),
                refreshes: AtomicU64::new(0),
                replica_reads: AtomicU64::new(0),
            }),
        };
        let weak = Arc::downgrade(&cluster.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { break };
                inner.nodes.maintain().await;
                if let Some(shared) = &inner.shared {
                    shared.maintain().await;
                }
            }
        });
        Ok(cluster)
    }
}

/// The manager of one node: the template's settings at `addr` ("host:port").
fn node_manager(template: &RedisManager, addr: &str) -> RedisManager {
    let (host, port) = match addr.rsplit_once(':') {
        Some((host, port)) => (host.trim_matches(['[', ']']), port.parse().unwrap_or(6379)),
        None => (addr, 6379),
    };
    template.at(host, port)
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
