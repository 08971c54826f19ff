//! The README's own code against a real Redis that kills its clients: 50 tokio tasks on 8
//! pooled TCP connections (`netpool_tokio::tcp`) loop PING/SET/GET with `?`, so a failed
//! exchange simply drops its guard; `CLIENT KILL TYPE normal` kills every connection of
//! the pool mid-run. The kill must cost at most about one error per killed connection
//! (at most 2 x `max_size`), then every request succeeds again: a connection that died
//! while it was checked out is closed when it comes back (the TCP manager's `has_broken`
//! peeks), not handed out again and again.
//!
//! Its own test binary and its own `redis-server` (a free loopback port, stopped when
//! the test ends, pass, fail or panic): `CLIENT KILL TYPE normal` would cut every other
//! client of a shared server.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use netpool_clients::resp::{self, Client, RespError, Value};
use tokio_util::compat::TokioAsyncReadCompatExt;

use common::{bounded, own_redis, own_redis_url, unique};

const TASKS: usize = 50;
const MAX_SIZE: usize = 8;
const ROUNDS: usize = 200;

/// The address of the test's own redis-server (held by the test).
fn addr() -> String {
    resp::addr_from_url(&own_redis_url())
}

/// One PING/SET/GET exchange, written as a new user writes it: `?` on every step.
async fn exchange(
    pool: &netpool_tokio::Pool,
    key: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = pool.get().await?;
    let mut client = Client::new((&mut *conn).compat());
    client.ping().await?;
    client.set(key.as_bytes(), b"v").await?;
    let got = client.get(key.as_bytes()).await?;
    if got.as_deref() != Some(&b"v"[..]) {
        return Err("GET returned something else".into());
    }
    Ok(())
}

/// `CLIENT KILL TYPE normal` on an admin connection of its own (which it skips).
async fn kill_all() -> Result<i64, RespError> {
    let stream = tokio::net::TcpStream::connect(addr())
        .await
        .map_err(RespError::Io)?;
    let mut admin = Client::new(stream.compat());
    match admin
        .command(&[b"CLIENT", b"KILL", b"TYPE", b"normal"])
        .await?
    {
        Value::Integer(n) => Ok(n),
        reply => Err(RespError::Unexpected {
            command: "CLIENT KILL",
            reply,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_of_every_connection_costs_one_error_each() {
    // `CLIENT KILL TYPE normal` on a redis-server of the test's own, never on 6379.
    let Some(_server) = own_redis() else { return };
    bounded(Duration::from_secs(60), async {
        let pool = netpool_tokio::tcp(addr())
            .max_size(MAX_SIZE)
            .wait_timeout(Some(Duration::from_secs(10)))
            .build()
            .expect("a valid config");
        let done = Arc::new(AtomicU64::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, done, killed) = (pool.clone(), done.clone(), killed.clone());
                tokio::spawn(async move {
                    let key = unique(&format!("netpool:test:kill:{t}"));
                    let (mut errors, mut last_error) = (0usize, None);
                    for round in 0..ROUNDS {
                        match exchange(&pool, &key).await {
                            Ok(()) => {
                                if done.fetch_add(1, Ordering::SeqCst) + 1
                                    == (TASKS * ROUNDS / 4) as u64
                                {
                                    let n = kill_all().await.expect("CLIENT KILL is answered");
                                    assert!(n >= 1, "CLIENT KILL killed {n}");
                                    killed.store(true, Ordering::SeqCst);
                                }
                            }
                            Err(_) => {
                                errors += 1;
                                last_error = Some(round);
                            }
                        }
                    }
                    let _ = exchange_del(&pool, &key).await;
                    (errors, last_error)
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.expect("a task panicked"));
        }
        assert!(killed.load(Ordering::SeqCst), "the kill happened mid-run");
        let errors: usize = results.iter().map(|r| r.0).sum();
        let stats = pool.stats();
        assert!(
            errors <= 2 * MAX_SIZE,
            "{errors} errors after killing {MAX_SIZE} connections: {stats:?}"
        );
        for (errors, last) in &results {
            if let Some(last) = last {
                assert!(
                    *last < ROUNDS - 20,
                    "{errors} errors, the last in round {last}: requests succeed again after"
                );
            }
        }
        assert!(stats.closed_broken >= 1, "{stats:?}");
    })
    .await;
}

/// Deletes the test's key.
async fn exchange_del(
    pool: &netpool_tokio::Pool,
    key: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = pool.get().await?;
    Client::new((&mut *conn).compat())
        .command(&[b"DEL", key.as_bytes()])
        .await?;
    Ok(())
}
