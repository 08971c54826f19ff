//! `TCP_NODELAY` of the connections (`Config::tcp_nodelay`, `?tcp_nodelay=` in a URL,
//! `RedisBuilder::tcp_nodelay`, `SharedRedisManager::tcp_nodelay`): how it is parsed,
//! each kind of pool's default, and that it reaches the sockets: the test finds its own
//! end of a connection among this process's sockets (Linux: `/proc/self/fd`) by the
//! address the server reports for it (`CLIENT INFO`), and reads the option there. Against
//! the shared Redis (`NETPOOL_TEST_REDIS`, default 127.0.0.1:6379) and a TLS
//! redis-server of the test's own; under `CI=true` a missing server fails the test,
//! elsewhere it is skipped loudly.
//!
//! The cluster client's node connections (`ClusterBuilder::tcp_nodelay`, the node
//! config's `tcp_nodelay`, the defaults: off for the shared ones, on for the exclusive
//! ones) on the local Redis Cluster of `.ci/redis-cluster.sh` (127.0.0.1:7100-7105,
//! started if it is not running and then stopped again; a cluster that was up is left
//! to its owner). Under `CI=true` a cluster that cannot be started fails the test.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{bounded, client_config, live_url, own_tls_server, unique};
use netpool_core::SharedPool;
use netpool_redis::cluster::Cluster;
use netpool_redis::shared::{SHARED_TCP_NODELAY, SharedRedisManager};
use netpool_redis::{Config, ConfigError, RedisManager};
use redis::AsyncCommands;
use redis::aio::ConnectionLike;

#[test]
fn urls_and_serde_set_it() {
    let c = Config::from_url("redis://127.0.0.1:6379").unwrap();
    assert_eq!(c.tcp_nodelay, None, "each kind of pool keeps its default");
    for (query, expected) in [
        ("tcp_nodelay=false", false),
        ("tcp_nodelay=0", false),
        ("tcp_nodelay=true", true),
        ("tcp_nodelay=1", true),
    ] {
        let c = Config::from_url(&format!("redis://h:1/2?{query}&client_name=x")).unwrap();
        assert_eq!(c.tcp_nodelay, Some(expected), "{query}");
        assert_eq!(c.client_name.as_deref(), Some("x"));
    }
    let err = Config::from_url("redis://u:hunter2@h/?tcp_nodelay=maybe").unwrap_err();
    assert_eq!(err, ConfigError::Flag("tcp_nodelay"));
    assert!(
        err.to_string()
            .contains("tcp_nodelay must be true or false"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("hunter2"));
    let err = Config::from_url("redis://h/?nodelay=1").unwrap_err();
    assert!(err.to_string().contains("tcp_nodelay"), "lists it: {err}");

    let serde = |v: serde_json::Value| serde_json::from_value::<Config>(v).unwrap().tcp_nodelay;
    assert_eq!(serde(serde_json::json!({})), None);
    assert_eq!(
        serde(serde_json::json!({ "tcp_nodelay": false })),
        Some(false)
    );
    assert_eq!(
        serde(serde_json::json!({ "url": "redis://h/?tcp_nodelay=false" })),
        Some(false)
    );
    assert_eq!(
        serde(serde_json::json!({ "url": "redis://h/?tcp_nodelay=false", "tcp_nodelay": true })),
        Some(true),
        "the field overrides the URL"
    );
    assert!(serde_json::from_value::<Config>(serde_json::json!({ "tcp_nodelay": "no" })).is_err());
    let c = Config::from_url("redis://h/?tcp_nodelay=false").unwrap();
    assert!(
        format!("{c:?}").contains("tcp_nodelay: Some(false)"),
        "{c:?}"
    );
}

#[test]
fn managers_default_and_override() {
    let url = "redis://127.0.0.1:6379";
    assert!(
        RedisManager::new(url).unwrap().is_tcp_nodelay(),
        "exclusive: on"
    );
    assert!(
        !RedisManager::new(format!("{url}/?tcp_nodelay=false"))
            .unwrap()
            .is_tcp_nodelay()
    );
    assert!(
        !RedisManager::new(url)
            .unwrap()
            .tcp_nodelay(false)
            .is_tcp_nodelay()
    );
    let m = RedisManager::new(url).unwrap().tcp_nodelay(false);
    assert_eq!(
        m.addr(),
        "127.0.0.1:6379",
        "the address survives the change"
    );
    assert!(format!("{m:?}").contains("tcp_nodelay: false"), "{m:?}");

    assert_eq!(
        SharedRedisManager::new(url).unwrap().is_tcp_nodelay(),
        SHARED_TCP_NODELAY
    );
    for on in [false, true] {
        let configured = SharedRedisManager::new(format!("{url}/?tcp_nodelay={on}")).unwrap();
        assert_eq!(configured.is_tcp_nodelay(), on);
        let set = SharedRedisManager::new(url).unwrap().tcp_nodelay(on);
        assert_eq!(set.is_tcp_nodelay(), on);
        assert_eq!(set.addr(), "127.0.0.1:6379");
    }
    // Made from an exclusive manager, it keeps that manager's setting.
    assert!(SharedRedisManager::from(RedisManager::new(url).unwrap()).is_tcp_nodelay());

    // TLS: the option is the TLS connector's TCP options.
    let (ca, _, _) = common::certificates();
    for on in [false, true] {
        let mut config =
            Config::from_url(&format!("rediss://localhost:1/?tcp_nodelay={on}")).unwrap();
        config.tls_config = Some(client_config(&ca));
        assert_eq!(config.manager().unwrap().is_tcp_nodelay(), on);
        assert_eq!(
            SharedRedisManager::from_config(&config)
                .unwrap()
                .is_tcp_nodelay(),
            on
        );
        assert_eq!(
            config.manager().unwrap().tcp_nodelay(!on).is_tcp_nodelay(),
            !on
        );
    }
}

#[tokio::test]
async fn the_builder_sets_it() {
    let config = Config::from_url("redis://127.0.0.1:6379").unwrap();
    let pool = config
        .builder()
        .unwrap()
        .tcp_nodelay(false)
        .build()
        .unwrap();
    assert!(!pool.manager().is_tcp_nodelay());
    assert!(config.create_pool().unwrap().manager().is_tcp_nodelay());
}

/// The client's address of a connection, as the server sees it (`CLIENT INFO`'s `addr`).
async fn client_addr(conn: &mut impl ConnectionLike) -> SocketAddr {
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(conn)
        .await
        .unwrap();
    let addr = info
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("addr="))
        .expect("CLIENT INFO has addr=");
    addr.parse().expect("addr= is host:port")
}

/// `TCP_NODELAY` of this process's TCP socket bound to `local` (Linux: the sockets among
/// `/proc/self/fd`); `None` where it cannot be read (another platform) or is not found.
#[allow(unsafe_code)]
fn nodelay_of(local: SocketAddr) -> Option<bool> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    #[cfg(unix)]
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: `fd` was open when listed and is only borrowed for the two getsockopt
        // calls below; the socket it names is one of the pool's connections, which the
        // caller keeps checked out (open) meanwhile. If another test's socket were closed
        // and its number reused in between, the calls read or fail on that socket (an
        // error or a wrong address, skipped), never memory.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        if socket.local_addr().ok().and_then(|a| a.as_socket()) == Some(local) {
            return socket.tcp_nodelay().ok();
        }
    }
    None
}

/// Checks that the socket of `conn` has `TCP_NODELAY` as `expected` (Linux).
async fn assert_socket(conn: &mut impl ConnectionLike, expected: bool, what: &str) {
    let addr = client_addr(conn).await;
    if cfg!(target_os = "linux") {
        assert_eq!(nodelay_of(addr), Some(expected), "{what}: socket {addr}");
    }
}

/// SET and GET through `conn`.
async fn set_get(conn: &mut impl AsyncCommands, what: &str) {
    let key = unique(&format!("nodelay:{what}"));
    let () = conn.set_ex(&key, what, 60).await.unwrap();
    let value: String = conn.get(&key).await.unwrap();
    assert_eq!(value, what);
    let () = conn.del(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exclusive_pools_sockets_get_it() {
    let Some(url) = live_url() else { return };
    bounded(Duration::from_secs(30), async {
        for (query, expected) in [
            ("", true),
            ("?tcp_nodelay=false", false),
            ("?tcp_nodelay=true", true),
        ] {
            let url = format!(
                "{url}{}{query}",
                if url.ends_with('/') || query.is_empty() {
                    ""
                } else {
                    "/"
                }
            );
            let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
            let mut conn = pool.get().await.unwrap();
            set_get(&mut *conn, &format!("exclusive{query}")).await;
            assert_socket(&mut *conn, expected, &format!("exclusive {query}")).await;
        }
        // The builder's setting.
        let pool = Config::from_url(&url)
            .unwrap()
            .builder()
            .unwrap()
            .tcp_nodelay(false)
            .build()
            .unwrap();
        let mut conn = pool.get().await.unwrap();
        set_get(&mut *conn, "exclusive-builder").await;
        assert_socket(&mut *conn, false, "exclusive, builder").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_pools_sockets_get_it() {
    let Some(url) = live_url() else { return };
    bounded(Duration::from_secs(30), async {
        let managers = [
            (
                "default",
                SharedRedisManager::new(&url).unwrap(),
                SHARED_TCP_NODELAY,
            ),
            (
                "off",
                SharedRedisManager::new(&url).unwrap().tcp_nodelay(false),
                false,
            ),
            (
                "on",
                SharedRedisManager::new(&url).unwrap().tcp_nodelay(true),
                true,
            ),
        ];
        for (what, manager, expected) in managers {
            let pool = SharedPool::builder().max_size(2).build(manager).unwrap();
            let (mut a, mut b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
            set_get(&mut *a, &format!("shared-{what}")).await;
            set_get(&mut *b, &format!("shared-{what}")).await;
            assert_socket(&mut *a, expected, &format!("shared, {what}")).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sockets_get_it() {
    let Some((server, ca_pem)) = own_tls_server() else {
        return;
    };
    bounded(Duration::from_secs(30), async {
        for on in [false, true] {
            let url = format!("rediss://localhost:{}/0?tcp_nodelay={on}", server.port());
            let mut config = Config::from_url(&url).unwrap();
            config.tls_config = Some(client_config(&ca_pem));
            let pool = config.create_pool().unwrap();
            let mut conn = pool.get().await.unwrap();
            set_get(&mut *conn, &format!("tls-exclusive-{on}")).await;
            assert_socket(&mut *conn, on, &format!("TLS exclusive, {on}")).await;

            let shared = SharedPool::builder()
                .max_size(1)
                .build(SharedRedisManager::from_config(&config).unwrap())
                .unwrap();
            let mut lent = shared.get().await.unwrap();
            set_get(&mut *lent, &format!("tls-shared-{on}")).await;
            assert_socket(&mut *lent, on, &format!("TLS shared, {on}")).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clusters_sockets_get_it() {
    let (_cluster, started) = netpool_testkit::LocalCluster::up();
    if let Err(e) = started {
        common::skip(&format!(
            "the Redis Cluster (.ci/redis-cluster.sh start, 127.0.0.1:7100-7105) is not up: {e}"
        ));
        return;
    }
    bounded(Duration::from_secs(60), async {
        let builder = || Cluster::builder(["127.0.0.1:7100"]).max_per_node(2);
        let config = |on: bool| {
            let mut config = Config::default();
            config.tcp_nodelay = Some(on);
            config
        };
        // (what, builder, shared connections' TCP_NODELAY, exclusive ones')
        let cases = [
            ("default", builder(), SHARED_TCP_NODELAY, true),
            ("builder off", builder().tcp_nodelay(false), false, false),
            ("builder on", builder().tcp_nodelay(true), true, true),
            ("config on", builder().node_config(config(true)), true, true),
            (
                "config off",
                builder().node_config(config(false)),
                false,
                false,
            ),
            (
                "config on, builder off",
                builder().tcp_nodelay(false).node_config(config(true)),
                false,
                false,
            ),
        ];
        const { assert!(!SHARED_TCP_NODELAY, "the shared default is off") };
        let run = unique("nodelay:cluster");
        for (what, builder, shared, exclusive) in cases {
            let cluster = builder.build().unwrap();
            // GET and SET over every shard, on the shared connections.
            for i in 0..64 {
                let key = format!("{run}:{what}:{i}");
                cluster.set(key.as_bytes(), what.as_bytes()).await.unwrap();
                let value = cluster.get(key.as_bytes()).await.unwrap();
                assert_eq!(value.as_deref(), Some(what.as_bytes()), "{what}: {key}");
                let deleted = cluster
                    .command(key.as_bytes(), &[b"DEL", key.as_bytes()])
                    .await;
                assert_eq!(deleted.unwrap(), redis::Value::Int(1), "{what}");
            }
            let nodes = cluster.shared_pools().unwrap().keys();
            assert_eq!(nodes.len(), 3, "{what}: every master used: {nodes:?}");
            for node in nodes {
                let pool = cluster.shared_pool(&node).unwrap();
                assert_eq!(pool.manager().is_tcp_nodelay(), shared, "{what}: {node}");
                let mut lent = pool.get().await.unwrap();
                assert_socket(&mut *lent, shared, &format!("{what}: shared {node}")).await;
                let mut conn = cluster.pool().get(&node).await.unwrap();
                let pong: String = redis::cmd("PING").query_async(&mut *conn).await.unwrap();
                assert_eq!(pong, "PONG");
                assert_socket(&mut *conn, exclusive, &format!("{what}: exclusive {node}")).await;
            }
        }
    })
    .await;
}
