//! A Redis primary and its replicas as one [`ReplicaSet`]: writes to the primary, reads
//! spread over the replicas, and a failover followed without a restart.
//!
//! ```no_run
//! use netpool_core::Lease;
//! use netpool_redis::replica::ReplicaBuilder;
//! use redis::AsyncCommands;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The roles are asked from the servers (`ROLE`).
//! let set = ReplicaBuilder::new(["127.0.0.1:6379", "127.0.0.1:6380", "127.0.0.1:6381"])
//!     .discover()
//!     .await?;
//! let mut w = set.primary().await?;
//! if let Err(e) = w.set::<_, _, ()>("k", "v").await {
//!     // READONLY after a failover: the set checks the roles again, and the next
//!     // primary() goes to the new primary.
//!     Lease::report(&mut w, &e);
//! }
//! let mut r = set.replica().await?;
//! let _v: Option<String> = r.get("k").await?;
//! # Ok(())
//! # }
//! ```
//!
//! Every server is a key (`"host:port"`) of one [`KeyedPool`]
//! of [`RedisManager`]s, whose maintenance runs on the current tokio runtime. See
//! [`ReplicaSet`] for the routing, ejection and role-check rules.

use std::time::Duration;

use netpool_core::{KeyedPool, ReplicaSet};

use crate::{Config, ConfigError, CreatePoolError, RedisManager};

/// Builds a [`ReplicaSet`] of Redis servers.
#[derive(Debug, Clone)]
pub struct ReplicaBuilder {
    nodes: Vec<String>,
    node: Config,
    max_per_node: usize,
    wait_timeout: Duration,
    check_interval: Option<Duration>,
}

impl ReplicaBuilder {
    /// A set of the servers at `nodes` (`"host:port"` each; IPv6 hosts in brackets).
    pub fn new<S: Into<String>>(nodes: impl IntoIterator<Item = S>) -> Self {
        Self {
            nodes: nodes.into_iter().map(Into::into).collect(),
            node: Config::default(),
            max_per_node: 16,
            wait_timeout: Duration::from_secs(5),
            check_interval: Some(Duration::from_secs(10)),
        }
    }

    /// The settings of every connection: user name, password, database, TLS, client
    /// name, protocol (its host and port are not used).
    #[must_use]
    pub fn node_config(mut self, config: Config) -> Self {
        self.node = config;
        self
    }

    /// Cap on connections per server (default 16).
    #[must_use]
    pub fn max_per_node(mut self, n: usize) -> Self {
        self.max_per_node = n;
        self
    }

    /// How long a get may wait for a connection (default 5 s).
    #[must_use]
    pub fn wait_timeout(mut self, d: Duration) -> Self {
        self.wait_timeout = d;
        self
    }

    /// How often the roles are checked without a failure asking for it (default 10 s;
    /// `None`: only after failures).
    #[must_use]
    pub fn role_check_interval(mut self, every: Option<Duration>) -> Self {
        self.check_interval = every;
        self
    }

    /// The set, with the roles asked from the servers (`ROLE`): the one that says
    /// `master` is the primary, the others replicas. The replicas a primary lists in its
    /// `ROLE` answer join the set too, so the primary's address alone is enough.
    ///
    /// # Errors
    ///
    /// [`ReplicaError::Config`] for settings that cannot be used or an address without a
    /// port; [`ReplicaError::NoPrimary`] if no server said it is the primary.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is kept if the future is dropped.
    pub async fn discover(self) -> Result<ReplicaSet<String, RedisManager>, ReplicaError> {
        let interval = self.check_interval;
        let (pool, mut nodes) = self.pool()?;
        for listed in listed_replicas(&pool, &nodes).await {
            if !nodes.contains(&listed) {
                nodes.push(listed);
            }
        }
        ReplicaSet::discover(pool, nodes)
            .await
            .map(|set| set.role_check_interval(interval))
            .map_err(|_| ReplicaError::NoPrimary)
    }

    /// The set, with the first server as the primary and the others as replicas; the
    /// roles are checked again (`ROLE`) after failures and every role-check interval.
    ///
    /// # Errors
    ///
    /// [`ReplicaError::Config`] for settings that cannot be used or an address without a
    /// port; [`ReplicaError::NoPrimary`] for an empty list.
    pub fn build(self) -> Result<ReplicaSet<String, RedisManager>, ReplicaError> {
        let interval = self.check_interval;
        let (pool, mut nodes) = self.pool()?;
        if nodes.is_empty() {
            return Err(ReplicaError::NoPrimary);
        }
        let primary = nodes.remove(0);
        Ok(ReplicaSet::new(pool, primary, nodes).role_check_interval(interval))
    }

    fn pool(self) -> Result<(KeyedPool<String, RedisManager>, Vec<String>), ReplicaError> {
        for node in &self.nodes {
            split(node).ok_or_else(|| ReplicaError::Address(node.clone()))?;
        }
        let template = RedisManager::from_config(&self.node).map_err(CreatePoolError::from)?;
        let pool = KeyedPool::builder()
            .max_size(self.max_per_node)
            // Room for replicas that discovery adds to the list.
            .max_total(self.max_per_node.saturating_mul(self.nodes.len() + 8))
            .wait_timeout(Some(self.wait_timeout))
            .connect_timeout(Some(Duration::from_secs(2)))
            .connect_backoff(Duration::from_millis(20), Duration::from_millis(200))
            .build(move |addr: &String| {
                // Checked above: every key is one of the nodes.
                let (host, port) = split(addr).unwrap_or((addr.as_str(), 0));
                template.at(host, port)
            })
            .map_err(|e| CreatePoolError::Build(e.into()))?;
        netpool_tokio::spawn_keyed_maintenance(&pool).map_err(CreatePoolError::Build)?;
        Ok((pool, self.nodes))
    }
}

/// The replicas that the primaries among `nodes` list in their `ROLE` answers
/// (`"ip:port"`); nodes that cannot be asked are passed over.
async fn listed_replicas(pool: &KeyedPool<String, RedisManager>, nodes: &[String]) -> Vec<String> {
    let mut listed = Vec::new();
    for node in nodes {
        let Ok(mut conn) = pool.get_timeout(node, Duration::from_secs(1)).await else {
            continue;
        };
        let reply: Result<Vec<redis::Value>, _> = redis::cmd("ROLE").query_async(&mut *conn).await;
        // ["master", offset, [[ip, port, offset], ...]]
        let Ok(reply) = reply else { continue };
        let Some(redis::Value::Array(replicas)) = reply.get(2) else {
            continue;
        };
        for replica in replicas {
            let redis::Value::Array(fields) = replica else {
                continue;
            };
            let text = |v: Option<&redis::Value>| match v {
                Some(redis::Value::BulkString(b)) => String::from_utf8(b.clone()).ok(),
                Some(redis::Value::SimpleString(s)) => Some(s.clone()),
                _ => None,
            };
            if let (Some(ip), Some(port)) = (text(fields.first()), text(fields.get(1))) {
                let addr = if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                };
                if split(&addr).is_some() {
                    listed.push(addr);
                }
            }
        }
    }
    listed
}

/// Why a [`ReplicaBuilder`] could not make a set.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// A setting cannot be used, or maintenance could not start (no tokio runtime).
    #[error("could not build the replica set")]
    Config(#[from] CreatePoolError),
    /// An address is not `"host:port"`.
    #[error("invalid Redis address {0:?}: expected host:port")]
    Address(String),
    /// No server said it is the primary (or the list was empty).
    #[error("no server of the replica set is a primary")]
    NoPrimary,
}

impl From<ConfigError> for ReplicaError {
    fn from(e: ConfigError) -> Self {
        Self::Config(CreatePoolError::Config(e))
    }
}

/// `"host:port"` (or `"[v6]:port"`) as host and port.
fn split(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    Some((host.trim_matches(['[', ']']), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split("127.0.0.1:6379"), Some(("127.0.0.1", 6379)));
        assert_eq!(split("[::1]:7000"), Some(("::1", 7000)));
        assert_eq!(split("localhost"), None);
        assert_eq!(split("h:notaport"), None);
    }
}
