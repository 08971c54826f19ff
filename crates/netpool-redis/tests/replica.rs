//! A primary and two replicas of the tests' own (`redis-server --replicaof`): failover by
//! `REPLICAOF NO ONE` under 64 writers, reads spread over the replicas, a replica stopped
//! under load ejected and rejoining, `READONLY` as a server fault. Under `CI=true` they
//! must run; elsewhere a missing `redis-server` skips them loudly.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{bounded, skip};
use netpool_core::{Fault, Lease, Pooled, ReplicaSet};
use netpool_redis::RedisManager;
use netpool_redis::replica::ReplicaBuilder;
use netpool_testkit::RedisServer;
use redis::AsyncCommands;

const TASKS: usize = 64;

/// A primary and two replicas, or `None` (skipped loudly; a failure under CI).
fn servers() -> Option<(RedisServer, RedisServer, RedisServer)> {
    if !RedisServer::installed() {
        skip("redis-server is not installed");
        return None;
    }
    let primary = RedisServer::start().expect("primary starts");
    let a = RedisServer::replica_of(&primary).expect("replica a syncs");
    let b = RedisServer::replica_of(&primary).expect("replica b syncs");
    primary
        .wait_replicas(2, Duration::from_secs(10))
        .expect("the primary lists both replicas");
    Some((primary, a, b))
}

fn addr(server: &RedisServer) -> String {
    format!("127.0.0.1:{}", server.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_is_a_server_fault_and_refreshes_the_pool() {
    let Some((primary, replica, _b)) = servers() else {
        return;
    };
    bounded(Duration::from_secs(30), async {
        let pool = netpool_redis::Config::from_url(&replica.url())
            .unwrap()
            .create_pool()
            .unwrap();
        let mut conn = pool.get().await.unwrap();
        drop(pool.get().await.unwrap());
        let err = conn.set::<_, _, ()>("k", "v").await.unwrap_err();
        assert_eq!(Pooled::report(&mut conn, &err), Fault::Server);
        assert_eq!(pool.stats().refreshes, 1);
        drop(conn);
        assert_eq!(pool.stats().connections, 0, "every connection replaced");
        // WRONGTYPE is the request's own: the connection stays.
        let w = netpool_redis::Config::from_url(&primary.url())
            .unwrap()
            .create_pool()
            .unwrap();
        let mut conn = w.get().await.unwrap();
        let () = conn.set("s", "x").await.unwrap();
        let err = conn.lpush::<_, _, ()>("s", "y").await.unwrap_err();
        assert_eq!(Pooled::report(&mut conn, &err), Fault::None);
        drop(conn);
        assert_eq!(w.stats().idle, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_under_64_writers_moves_every_write_to_the_new_primary_within_a_second() {
    let Some((old, new, other)) = servers() else {
        return;
    };
    bounded(Duration::from_secs(60), async {
        let set = ReplicaBuilder::new([addr(&old), addr(&new), addr(&other)])
            .max_per_node(TASKS)
            .discover()
            .await
            .unwrap();
        assert_eq!(set.primary_key(), addr(&old));
        let stop = Arc::new(AtomicBool::new(false));
        // (time, server) of every successful write; (server, connection id) of failures.
        let writes: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let failed: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (set, stop) = (set.clone(), stop.clone());
            let (writes, failed) = (writes.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                for i in 0..1_000_000u64 {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(30)
                    {
                        break;
                    }
                    let Ok(mut lease) = set.primary().await else {
                        continue;
                    };
                    let key = format!("k{t}");
                    match lease.set::<_, _, ()>(&key, i).await {
                        Ok(()) => writes
                            .lock()
                            .unwrap()
                            .push((Instant::now(), Lease::key(&lease).clone())),
                        Err(e) => {
                            let id = lease.id();
                            failed.lock().unwrap().push((Lease::key(&lease).clone(), id));
                            Lease::report(&mut lease, &e);
                        }
                    }
                }
            }));
        }
        // Writes flow to the old primary first (bounded wait).
        let warm = Instant::now();
        while writes.lock().unwrap().len() < 1000 && warm.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The failover: promote `new`, then demote `old` (and point `other` at `new`).
        assert_eq!(new.command(&["REPLICAOF", "NO", "ONE"]).unwrap(), "+OK");
        let port = new.port().to_string();
        assert_eq!(
            other.command(&["REPLICAOF", "127.0.0.1", &port]).unwrap(),
            "+OK"
        );
        assert_eq!(
            old.command(&["REPLICAOF", "127.0.0.1", &port]).unwrap(),
            "+OK"
        );
        let demoted = Instant::now();
        // Run 2 s past the demotion, then stop.
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
        let writes = writes.lock().unwrap();
        let failed = failed.lock().unwrap();
        let late_old = writes
            .iter()
            .filter(|(at, key)| *at > demoted + Duration::from_secs(1) && *key == addr(&old))
            .count();
        let late_new = writes
            .iter()
            .filter(|(at, key)| *at > demoted + Duration::from_secs(1) && *key == addr(&new))
            .count();
        let failed_late = failed.len();
        let last_old = writes
            .iter()
            .filter(|(at, key)| *at > demoted && *key == addr(&old))
            .map(|(at, _)| at.duration_since(demoted))
            .max();
        eprintln!("failover: last write on the old primary {last_old:?} after its demotion");
        let distinct: HashSet<&(String, i64)> = failed.iter().collect();
        eprintln!(
            "failover: {} writes, {} failed ({} connections), {late_new} on the new primary after 1 s",
            writes.len(),
            failed_late,
            distinct.len()
        );
        assert_eq!(distinct.len(), failed.len(), "a connection failed twice: {failed:?}");
        assert!(
            failed.iter().all(|(key, _)| *key == addr(&old)),
            "only writes to the old primary failed"
        );
        assert_eq!(late_old, 0, "no write on the old primary 1 s after the failover");
        assert!(late_new > 0, "writes go on, on the new primary");
        assert_eq!(set.primary_key(), addr(&new));
        assert_eq!(set.failovers(), 1);
    })
    .await;
}

/// The reads per server and when each read failed.
type Reads = (HashMap<String, usize>, Vec<Instant>);

/// Reads from `TASKS` tasks until `stop` (at most 40 s).
async fn read_load(
    set: &ReplicaSet<String, RedisManager>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Reads>> {
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (set, stop) = (set.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut counts: HashMap<String, usize> = HashMap::new();
            let mut errors = Vec::new();
            let started = Instant::now();
            for _ in 0..10_000_000u64 {
                if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(40) {
                    break;
                }
                let Ok(mut lease) = set.replica().await else {
                    errors.push(Instant::now());
                    continue;
                };
                match lease.get::<_, Option<String>>("spread").await {
                    Ok(_) => *counts.entry(Lease::key(&lease).clone()).or_default() += 1,
                    Err(e) => {
                        errors.push(Instant::now());
                        Lease::report(&mut lease, &e);
                    }
                }
            }
            (counts, errors)
        }));
    }
    tasks
}

async fn totals(tasks: Vec<tokio::task::JoinHandle<Reads>>) -> Reads {
    let mut all: HashMap<String, usize> = HashMap::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (counts, e) = task.await.unwrap();
        errors.extend(e);
        for (k, n) in counts {
            *all.entry(k).or_default() += n;
        }
    }
    (all, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_from_the_primary_alone_finds_its_replicas() {
    let Some((primary, a, b)) = servers() else {
        return;
    };
    bounded(Duration::from_secs(30), async {
        let set = ReplicaBuilder::new([addr(&primary)])
            .discover()
            .await
            .unwrap();
        assert_eq!(set.primary_key(), addr(&primary));
        let mut replicas = set.replica_keys();
        replicas.sort();
        let mut expected = vec![addr(&a), addr(&b)];
        expected.sort();
        assert_eq!(replicas, expected);
        let lease = set.replica().await.unwrap();
        assert!(expected.contains(Lease::key(&lease)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_spread_over_two_replicas_within_60_40() {
    let Some((primary, a, b)) = servers() else {
        return;
    };
    bounded(Duration::from_secs(60), async {
        let set = ReplicaBuilder::new([addr(&primary), addr(&a), addr(&b)])
            .max_per_node(TASKS)
            .discover()
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = read_load(&set, &stop).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::SeqCst);
        let (counts, errors) = totals(tasks).await;
        let (na, nb) = (counts[&addr(&a)] as f64, counts[&addr(&b)] as f64);
        let share = na / (na + nb);
        eprintln!("reads: {counts:?}, share of replica a {share:.3}");
        assert!(errors.is_empty(), "{} reads failed", errors.len());
        assert!(
            !counts.contains_key(&addr(&primary)),
            "no read on the primary"
        );
        assert!((0.4..=0.6).contains(&share), "within 60/40: {counts:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_stopped_under_load_is_ejected_within_a_second_and_rejoins() {
    let Some((primary, a, mut b)) = servers() else {
        return;
    };
    bounded(Duration::from_secs(90), async {
        const PER_NODE: usize = 16;
        let set = ReplicaBuilder::new([addr(&primary), addr(&a), addr(&b)])
            .max_per_node(PER_NODE)
            .discover()
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = read_load(&set, &stop).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy_b = set
            .nodes()
            .into_iter()
            .find(|n| n.key == addr(&b))
            .unwrap();
        assert!(!busy_b.ejected);
        b.kill();
        let killed = Instant::now();
        let ejected = |set: &ReplicaSet<String, RedisManager>| {
            set.nodes().iter().any(|n| n.key == addr(&b) && n.ejected)
        };
        while !ejected(&set) && killed.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ejected_in = killed.elapsed();
        // Restart it (as a replica of the same primary) and wait for reads to reach it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reads_b = Arc::new(AtomicUsize::new(0));
        let restarting = Instant::now();
        b.restart().expect("replica b restarts");
        b.wait_synced(Duration::from_secs(10)).expect("b syncs");
        let restarted = Instant::now();
        let mut rejoined = None;
        while restarted.elapsed() < Duration::from_secs(40) {
            if let Ok(lease) = set.replica().await {
                if *Lease::key(&lease) == addr(&b) {
                    reads_b.fetch_add(1, Ordering::SeqCst);
                    rejoined = Some(restarted.elapsed());
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.store(true, Ordering::SeqCst);
        let (counts, errors) = totals(tasks).await;
        // While it was down (a replica still loading its data after the restart may
        // answer LOADING: not what this measures).
        let errors = errors.iter().filter(|&&at| at < restarting).count();
        eprintln!(
            "ejected in {ejected_in:?}, {errors} errors, rejoined after {rejoined:?}, reads {counts:?}"
        );
        assert!(ejected_in < Duration::from_secs(1), "ejected in {ejected_in:?}");
        // Only requests in flight on the stopped replica fail: at most one per
        // connection it had.
        assert!(errors <= PER_NODE, "{errors} errors");
        assert!(rejoined.is_some(), "the replica rejoined after its restart");
    })
    .await;
}
