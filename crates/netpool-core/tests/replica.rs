//! `ReplicaSet`: writes to the primary, reads spread over replicas (power of two
//! choices), ejection of failing replicas (never more than half), role checks after a
//! server fault. With a test manager; the real-server tests live in netpool-redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpool_core::{Fault, KeyedPool, Lease, Manager, ReplicaSet, Role};

/// The test's servers: which are up, and which one is the primary.
#[derive(Debug, Default)]
struct World {
    down: Mutex<Vec<u32>>,
    primary: Mutex<u32>,
    roles: Mutex<bool>,
}

#[derive(Debug, Clone)]
struct Node {
    key: u32,
    world: Arc<World>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failure(&'static str);

impl Manager for Node {
    type Connection = u32;
    type Error = Failure;

    async fn connect(&self) -> Result<u32, Failure> {
        if self.world.down.lock().unwrap().contains(&self.key) {
            return Err(Failure("refused"));
        }
        Ok(self.key)
    }

    async fn is_valid(&self, _conn: &mut u32) -> Result<(), Failure> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u32) -> bool {
        false
    }

    fn classify(&self, err: &(dyn std::error::Error + 'static)) -> Fault {
        match err.to_string().as_str() {
            "readonly" => Fault::Server,
            _ => Fault::Connection,
        }
    }

    async fn role(&self, _conn: &mut u32) -> Result<Option<Role>, Failure> {
        if !*self.world.roles.lock().unwrap() {
            return Ok(None);
        }
        let primary = *self.world.primary.lock().unwrap() == self.key;
        Ok(Some(if primary {
            Role::Primary
        } else {
            Role::Replica
        }))
    }
}

fn set(world: &Arc<World>, replicas: &[u32]) -> ReplicaSet<u32, Node> {
    let w = world.clone();
    let pool = KeyedPool::builder()
        .max_size(64)
        .build(move |key: &u32| Node {
            key: *key,
            world: w.clone(),
        })
        .unwrap();
    ReplicaSet::new(pool, 0, replicas.iter().copied())
}

#[test]
fn writes_go_to_the_primary_and_reads_spread_evenly_over_replicas() {
    futures_lite::future::block_on(async {
        let world = Arc::new(World::default());
        let set = set(&world, &[1, 2]);
        assert_eq!(*set.primary().await.unwrap(), 0);
        let mut counts: HashMap<u32, usize> = HashMap::new();
        // Uniform load: 8 reads in flight at a time, 4000 reads.
        let mut held = Vec::new();
        for i in 0..4000 {
            let lease = set.replica().await.unwrap();
            *counts.entry(*lease).or_default() += 1;
            held.push(lease);
            if held.len() == 8 {
                drop(held.remove(i % 8));
            }
        }
        let (a, b) = (counts[&1] as f64, counts[&2] as f64);
        assert!(!counts.contains_key(&0), "no read went to the primary");
        assert!(a / (a + b) > 0.4 && a / (a + b) < 0.6, "{counts:?}");
    });
}

#[test]
fn the_replica_with_fewer_requests_in_flight_wins() {
    futures_lite::future::block_on(async {
        let world = Arc::new(World::default());
        let set = set(&world, &[1, 2]);
        // Hold 5 leases on whichever replica; the next reads go to the other one.
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(set.replica().await.unwrap());
        }
        let busy: Vec<u32> = held.iter().map(|l| **l).collect();
        let ones = busy.iter().filter(|&&k| k == 1).count();
        assert!(
            ones.abs_diff(5 - ones) <= 1,
            "two choices keep them level: {busy:?}"
        );
    });
}

#[test]
fn a_failing_replica_is_ejected_never_more_than_half_and_rejoins() {
    futures_lite::future::block_on(async {
        let world = Arc::new(World::default());
        let set = set(&world, &[1, 2, 3, 4])
            .eject_after(2)
            .ejection(Duration::from_millis(100), Duration::from_secs(1));
        world.down.lock().unwrap().push(1);
        // Reads never fail: a replica whose get fails hands the read on.
        for _ in 0..200 {
            let lease = set.replica().await.unwrap();
            assert_ne!(*lease, 1);
        }
        let one = set.nodes().into_iter().find(|n| n.key == 1).unwrap();
        assert!(one.ejected);
        // A reported fault counts too; never more than half ejected (2 of 4).
        world.down.lock().unwrap().extend([2, 3]);
        for _ in 0..200 {
            let mut lease = set.replica().await.unwrap();
            if matches!(*lease, 2 | 3) {
                // Their idle connections still check out: the requests fail.
                assert_eq!(
                    Lease::report(&mut lease, &Failure("reset")),
                    Fault::Connection
                );
            }
        }
        let ejected = set.nodes().iter().filter(|n| n.ejected).count();
        assert_eq!(ejected, 2, "{:?}", set.nodes());
        // Back up: after the ejection it gets reads again (bounded wait: the ejection
        // lasts at most 1 s).
        world.down.lock().unwrap().clear();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut seen = false;
        while !seen && std::time::Instant::now() < deadline {
            seen = *set.replica().await.unwrap() == 1;
            if !seen {
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
        }
        assert!(seen, "the ejected replica rejoined");
    });
}

#[test]
fn a_reported_connection_fault_counts_toward_ejection() {
    futures_lite::future::block_on(async {
        let world = Arc::new(World::default());
        let set = set(&world, &[1, 2]).eject_after(1);
        let mut lease = loop {
            let lease = set.replica().await.unwrap();
            if *lease == 1 {
                break lease;
            }
        };
        assert_eq!(
            Lease::report(&mut lease, &Failure("reset")),
            Fault::Connection
        );
        drop(lease);
        assert!(set.nodes().iter().any(|n| n.key == 1 && n.ejected));
    });
}

#[test]
fn a_server_fault_on_the_primary_moves_writes_to_the_new_primary() {
    futures_lite::future::block_on(async {
        let world = Arc::new(World::default());
        *world.roles.lock().unwrap() = true;
        let set = set(&world, &[1, 2]);
        let mut write = set.primary().await.unwrap();
        assert_eq!(*write, 0);
        // Failover: 2 is promoted, 0 is now a replica and answers READONLY.
        *world.primary.lock().unwrap() = 2;
        // (The check that a fault asks for is spaced by 50 ms from the last one.)
        async_io::Timer::after(Duration::from_millis(60)).await;
        assert_eq!(
            Lease::report(&mut write, &Failure("readonly")),
            Fault::Server
        );
        drop(write);
        assert_eq!(*set.primary().await.unwrap(), 2);
        assert_eq!(set.primary_key(), 2);
        let mut replicas = set.replica_keys();
        replicas.sort_unstable();
        assert_eq!(replicas, vec![0, 1]);
        assert_eq!(set.failovers(), 1);
    });
}

#[test]
fn discover_asks_the_servers_for_their_roles() {
    futures_lite::future::block_on(async {
        let world = Arc::new(World::default());
        *world.roles.lock().unwrap() = true;
        *world.primary.lock().unwrap() = 1;
        let w = world.clone();
        let pool = KeyedPool::builder()
            .build(move |key: &u32| Node {
                key: *key,
                world: w.clone(),
            })
            .unwrap();
        let set = ReplicaSet::discover(pool, [0, 1, 2]).await.unwrap();
        assert_eq!(set.primary_key(), 1);
        assert_eq!(set.replica_keys(), vec![0, 2]);
    });
}
