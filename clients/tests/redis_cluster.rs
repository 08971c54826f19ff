//! The keyed pool on a real Redis Cluster (3 masters, 3 replicas on 127.0.0.1:7100-7105,
//! started by `.ci/redis-cluster.sh start` if it is not running, and then stopped again
//! when the test ends, pass, fail or panic), through the cluster client of
//! `netpool_clients::cluster`:
//!
//! 1. 10,000 keys over all shards from 64 tasks: every reply right, every master used,
//!    none with more connections than the per-node cap;
//! 2. slots resharded (`MIGRATING`/`IMPORTING`, `MIGRATE`, `SETSLOT NODE`) under traffic:
//!    no command fails (`MOVED` and `ASK` followed);
//! 3. a master killed under traffic: the other shards see no error; the dead shard's
//!    commands fail fast (not after their timeout) and succeed again once its replica is
//!    promoted; no connection is leaked. The node is then revived as a replica.
//!
//! One test runs the three in order (they share the cluster). Under `CI=true` a cluster
//! that cannot be started fails the test; elsewhere it is skipped, saying so.

#![recursion_limit = "256"] // the cluster client's futures nest deeply

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpool_clients::cluster::{Cluster, ClusterError, key_slot};
use netpool_clients::resp::{Client, Value};
use netpool_testkit::{LocalCluster, cluster_script};
use tokio_util::compat::TokioAsyncReadCompatExt;

use common::{bounded, server_available};

const SEED: &str = "127.0.0.1:7100";
const PER_NODE: usize = 4;
/// The whole suite's time limit.
const LIMIT: Duration = Duration::from_secs(240);

/// One command to one node over a fresh connection (not the pool's).
async fn admin(port: u16, args: &[&[u8]]) -> Value {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect to {port}: {e}"));
    let mut client = Client::new(stream.compat());
    client.command(args).await.expect("admin command")
}

fn text(v: &Value) -> String {
    match v {
        Value::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
        Value::Simple(s) | Value::Error(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// A master: its port, node id and slot ranges.
#[derive(Debug, Clone)]
struct Master {
    port: u16,
    id: String,
    ranges: Vec<(u16, u16)>,
}

async fn masters(port: u16) -> Vec<Master> {
    let Value::Array(Some(ranges)) = admin(port, &[b"CLUSTER", b"SLOTS"]).await else {
        panic!("CLUSTER SLOTS");
    };
    let mut by_port: BTreeMap<u16, Master> = BTreeMap::new();
    for r in ranges {
        let Value::Array(Some(f)) = r else { continue };
        let (Value::Integer(start), Value::Integer(end), Value::Array(Some(m))) =
            (&f[0], &f[1], &f[2])
        else {
            continue;
        };
        let (Value::Integer(p), Value::Bulk(Some(id))) = (&m[1], &m[2]) else {
            continue;
        };
        let p = u16::try_from(*p).unwrap();
        by_port
            .entry(p)
            .or_insert_with(|| Master {
                port: p,
                id: String::from_utf8_lossy(id).into_owned(),
                ranges: Vec::new(),
            })
            .ranges
            .push((u16::try_from(*start).unwrap(), u16::try_from(*end).unwrap()));
    }
    by_port.into_values().collect()
}

fn serves(m: &Master, slot: u16) -> bool {
    m.ranges.iter().any(|&(a, b)| (a..=b).contains(&slot))
}

/// A hash tag for each of `slots`: `{tag}` keys land in that slot.
fn tags_for(slots: &[u16]) -> HashMap<u16, String> {
    let mut tags = HashMap::new();
    for i in 0..10_000_000u64 {
        if tags.len() == slots.len() {
            break;
        }
        let tag = format!("t{i}");
        let slot = key_slot(tag.as_bytes());
        if slots.contains(&slot) {
            tags.entry(slot).or_insert(tag);
        }
    }
    assert_eq!(tags.len(), slots.len(), "a tag for every slot");
    tags
}

/// Our clients on a node (CLIENT LIST less replication links and this connection).
async fn our_clients(port: u16) -> usize {
    let list = text(&admin(port, &[b"CLIENT", b"LIST"]).await);
    list.lines()
        .filter(|l| !l.contains("flags=S") && !l.contains("flags=M") && !l.contains("cmd=client"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_pool_on_a_redis_cluster() {
    let (_cluster, started) = LocalCluster::up();
    if !server_available("Redis Cluster", SEED, started) {
        return;
    }
    bounded(LIMIT, async {
        let run = common::unique("np");
        spread_over_all_shards(&run).await;
        resharding_under_traffic(&run).await;
        master_killed_under_traffic(&run).await;
    })
    .await;
}

async fn spread_over_all_shards(run: &str) {
    let cluster = Cluster::builder([SEED])
        .max_per_node(PER_NODE)
        .max_total(64)
        .build()
        .unwrap();
    const KEYS: usize = 10_000;
    const TASKS: usize = 64;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (cluster, run) = (cluster.clone(), run.to_owned());
        tasks.push(tokio::spawn(async move {
            for i in (t..KEYS).step_by(TASKS) {
                let key = format!("{run}:spread:{i}");
                cluster
                    .set(key.as_bytes(), i.to_string().as_bytes())
                    .await
                    .unwrap();
            }
            for i in (t..KEYS).step_by(TASKS) {
                let key = format!("{run}:spread:{i}");
                let v = cluster.get(key.as_bytes()).await.unwrap();
                assert_eq!(v.as_deref(), Some(i.to_string().as_bytes()), "{key}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let masters = masters(7100).await;
    assert_eq!(masters.len(), 3);
    for m in &masters {
        let node = format!("127.0.0.1:{}", m.port);
        // GET and SET go over the node's shared connections (2 by default); the keyed
        // pool's exclusive ones serve only redirections and replica reads.
        let shared = cluster.shared_pool(&node).expect("every master used");
        let stats = shared.stats().pool;
        assert!(stats.connections_created >= 1, "{node}: {stats:?}");
        assert!(stats.connections <= 2, "{node}: {stats:?}");
        let exclusive = cluster.pool().stats_for(&node).map_or(0, |s| s.connections);
        assert!(exclusive <= PER_NODE, "{node}: {exclusive} exclusive");
        let seen = our_clients(m.port).await;
        assert!(
            (1..=PER_NODE + 2).contains(&seen),
            "{node}: CLIENT LIST shows {seen} clients"
        );
        eprintln!(
            "{node}: {seen} client connections, {} shared created, {exclusive} exclusive open",
            stats.connections_created
        );
    }
    assert!(cluster.pool().stats().connections <= 3 * PER_NODE);
}

async fn resharding_under_traffic(run: &str) {
    let cluster = Cluster::builder([SEED])
        .max_per_node(PER_NODE)
        .build()
        .unwrap();
    let masters = masters(7100).await;
    let (src, dst) = (&masters[0], &masters[1]);
    let first = src.ranges[0].0;
    let slots: Vec<u16> = (first..first + 24).collect();
    let tags = tags_for(&slots);
    let keys: Arc<Vec<String>> = Arc::new(
        slots
            .iter()
            .flat_map(|s| (0..20).map(move |i| (*s, i)))
            .map(|(s, i)| format!("{{{}}}:{run}:{i}", tags[&s]))
            .collect(),
    );
    for k in keys.iter() {
        cluster.set(k.as_bytes(), b"0").await.unwrap();
    }

    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..16usize {
        let (cluster, keys, stop, ops) = (cluster.clone(), keys.clone(), stop.clone(), ops.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                // Each task owns the keys i with i % 16 == t, so it knows their values.
                let i = t + 16 * (n as usize % (keys.len() / 16));
                let key = keys[i].as_bytes();
                let value = format!("{t}-{n}");
                cluster
                    .set(key, value.as_bytes())
                    .await
                    .unwrap_or_else(|e| panic!("SET failed: {e:?}"));
                let got = cluster
                    .get(key)
                    .await
                    .unwrap_or_else(|e| panic!("GET failed: {e:?}"));
                assert_eq!(got.as_deref(), Some(value.as_bytes()));
                n += 1;
                ops.fetch_add(2, Ordering::Relaxed);
            }
        }));
    }

    let host = b"127.0.0.1".as_slice();
    let dst_port = dst.port.to_string();
    for &slot in &slots {
        let s = slot.to_string();
        let s = s.as_bytes();
        let ok = |v: Value| assert_eq!(text(&v), "OK");
        ok(admin(
            dst.port,
            &[b"CLUSTER", b"SETSLOT", s, b"IMPORTING", src.id.as_bytes()],
        )
        .await);
        ok(admin(
            src.port,
            &[b"CLUSTER", b"SETSLOT", s, b"MIGRATING", dst.id.as_bytes()],
        )
        .await);
        for _ in 0..1000 {
            let Value::Array(Some(batch)) =
                admin(src.port, &[b"CLUSTER", b"GETKEYSINSLOT", s, b"100"]).await
            else {
                panic!("GETKEYSINSLOT");
            };
            if batch.is_empty() {
                break;
            }
            let names: Vec<Vec<u8>> = batch
                .iter()
                .map(|v| match v {
                    Value::Bulk(Some(b)) => b.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            let mut args: Vec<&[u8]> = vec![
                b"MIGRATE",
                host,
                dst_port.as_bytes(),
                b"",
                b"0",
                b"5000",
                b"KEYS",
            ];
            args.extend(names.iter().map(Vec::as_slice));
            let reply = admin(src.port, &args).await;
            assert!(
                matches!(&reply, Value::Simple(s) if s == "OK" || s == "NOKEY"),
                "{reply:?}"
            );
            // Let traffic hit the half-moved slot (ASK replies).
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for m in &masters {
            ok(admin(
                m.port,
                &[b"CLUSTER", b"SETSLOT", s, b"NODE", dst.id.as_bytes()],
            )
            .await);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("no command failed for good");
    }
    let stats = cluster.stats();
    eprintln!(
        "resharding: {} slots moved under {} commands; MOVED followed {}, ASK {}",
        slots.len(),
        ops.load(Ordering::Relaxed),
        stats.moved,
        stats.asked
    );
    assert!(stats.moved + stats.asked > 0, "the traffic met the move");
    for &slot in &slots {
        assert_eq!(
            cluster.node_of(slot),
            Some(format!("127.0.0.1:{}", dst.port))
        );
    }
}

async fn master_killed_under_traffic(run: &str) {
    let cluster = Cluster::builder([SEED])
        .max_per_node(PER_NODE)
        .wait_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let masters = masters(7100).await;
    // The victim: a master whose replica is in sync (so that it can take over).
    let victim = 'found: {
        for _ in 0..150 {
            for m in &masters {
                let info = text(&admin(m.port, &[b"INFO", b"replication"]).await);
                if info.contains("state=online") && m.port != 7100 {
                    break 'found m.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no master with an online replica");
    };
    let dead_node = format!("127.0.0.1:{}", victim.port);
    // 30 keys per shard.
    let mut keys: Vec<(String, bool)> = Vec::new();
    let mut per_master: HashMap<u16, usize> = HashMap::new();
    for i in 0.. {
        if per_master.values().sum::<usize>() == 30 * masters.len() {
            break;
        }
        let key = format!("{run}:kill:{i}");
        let slot = key_slot(key.as_bytes());
        let Some(m) = masters.iter().find(|m| serves(m, slot)) else {
            continue;
        };
        let n = per_master.entry(m.port).or_default();
        if *n < 30 {
            *n += 1;
            keys.push((key, m.port == victim.port));
        }
    }
    for (k, _) in &keys {
        cluster.set(k.as_bytes(), b"v").await.unwrap();
    }
    let keys = Arc::new(keys);

    #[derive(Debug, Default)]
    struct Tally {
        other_ok: u64,
        other_err: Vec<String>,
        dead_ok_after: u64,
        dead_fast_failures: u64,
        dead_unavailable: u64,
        dead_slowest_failure: Duration,
        dead_other_errors: Vec<String>,
    }
    let killed_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let recovered = Arc::new(AtomicBool::new(false));
    let dead_failed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..24usize {
        let (cluster, keys, stop, killed_at, recovered, dead_failed) = (
            cluster.clone(),
            keys.clone(),
            stop.clone(),
            killed_at.clone(),
            recovered.clone(),
            dead_failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n = t;
            let deadline = Instant::now() + Duration::from_secs(90);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let (key, on_dead) = &keys[n % keys.len()];
                n += 7;
                let began = Instant::now();
                let result = cluster.get(key.as_bytes()).await;
                let took = began.elapsed();
                match (result, on_dead) {
                    (Ok(v), false) => {
                        assert_eq!(v.as_deref(), Some(&b"v"[..]));
                        tally.other_ok += 1;
                    }
                    (Err(e), false) => tally.other_err.push(format!("{key}: {e:?}")),
                    (Ok(_), true) => {
                        // Served again: a command that began after the kill, once the
                        // shard was seen down.
                        let killed = killed_at.lock().unwrap().is_some_and(|k| began > k);
                        if killed && dead_failed.load(Ordering::Relaxed) {
                            tally.dead_ok_after += 1;
                            recovered.store(true, Ordering::Relaxed);
                        }
                    }
                    (Err(e), true) => {
                        dead_failed.store(true, Ordering::Relaxed);
                        tally.dead_slowest_failure = tally.dead_slowest_failure.max(took);
                        if e.is_node_down() {
                            tally.dead_fast_failures += 1;
                            if matches!(&e, ClusterError::Pool { source, .. } if source.is_unavailable()) {
                                tally.dead_unavailable += 1;
                            }
                        } else {
                            tally.dead_other_errors.push(format!("{e:?}"));
                        }
                        // Back off a little, as a client would.
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                tokio::task::yield_now().await;
            }
            tally
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster_script(&["kill", &victim.port.to_string()]).unwrap();
    *killed_at.lock().unwrap() = Some(Instant::now());
    let kill = Instant::now();
    while !recovered.load(Ordering::Relaxed) {
        assert!(
            kill.elapsed() < Duration::from_secs(60),
            "the replica never took over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovery = kill.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for t in tasks {
        let t = t.await.unwrap();
        total.other_ok += t.other_ok;
        total.other_err.extend(t.other_err);
        total.dead_ok_after += t.dead_ok_after;
        total.dead_fast_failures += t.dead_fast_failures;
        total.dead_unavailable += t.dead_unavailable;
        total.dead_slowest_failure = total.dead_slowest_failure.max(t.dead_slowest_failure);
        total.dead_other_errors.extend(t.dead_other_errors);
    }
    eprintln!(
        "master {dead_node} killed: recovered after {recovery:?}; other shards {} ok, {} errors; \
         dead shard {} fast failures ({} Unavailable), slowest {:?}, {} ok after",
        total.other_ok,
        total.other_err.len(),
        total.dead_fast_failures,
        total.dead_unavailable,
        total.dead_slowest_failure,
        total.dead_ok_after
    );
    assert!(
        total.other_err.is_empty(),
        "other shards failed: {:?}",
        &total.other_err[..total.other_err.len().min(5)]
    );
    assert!(total.other_ok > 100);
    assert!(
        total.dead_other_errors.is_empty(),
        "{:?}",
        &total.dead_other_errors[..total.dead_other_errors.len().min(5)]
    );
    assert!(
        total.dead_fast_failures > 0,
        "the dead shard's commands failed while it was down"
    );
    assert!(
        total.dead_unavailable > 0,
        "the pool failed fast with Unavailable"
    );
    assert!(
        total.dead_slowest_failure < Duration::from_secs(1),
        "failing fast, not after the 5 s wait timeout: {:?}",
        total.dead_slowest_failure
    );
    assert!(total.dead_ok_after > 0);

    // No leaked slot: every connection is accounted to a node, none is checked out, and
    // the dead node (dropped from the map) holds none.
    let pool = cluster.pool();
    let stats = pool.stats();
    let per_key: usize = pool
        .keys()
        .iter()
        .filter_map(|k| pool.stats_for(k))
        .map(|s| s.connections)
        .sum();
    assert_eq!(stats.connections, per_key, "{stats:?}");
    assert_eq!(stats.total.in_use, 0, "{stats:?}");
    assert!(
        pool.stats_for(&dead_node)
            .is_none_or(|s| s.connections == 0),
        "{:?}",
        pool.stats_for(&dead_node)
    );

    // Restore: the node comes back as a replica of its successor.
    cluster_script(&["revive", &victim.port.to_string()]).unwrap();
}
