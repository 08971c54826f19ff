//! netpool against a real Redis server, through the `redis` crate's manager and the
//! hand-written RESP client (as its own manager, and over netpool-tokio's and
//! netpool-smol's TCP pools), each on tokio and on smol.
//!
//! These tests kill clients (`CLIENT KILL`) and change the server's `timeout`, so they
//! never touch the Redis on 6379: they share a `redis-server` of their own on a free
//! loopback port (`common::own_redis`), started by the first test and stopped when the
//! last one ends, pass, fail or panic. Under `CI=true` a missing `redis-server` fails
//! every test; elsewhere they skip, saying so on stderr.
//!
//! Every test takes [`SERVER_CONFIG`]: shared by the tests that only send commands, and
//! exclusively by the one that changes the server's `timeout`, so that no other test runs
//! while idle clients are being closed.

mod common;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netpool_clients::redis::{RedisManager, RedisSetup};
use netpool_clients::resp::{
    self, Client, RespError, SmolManager, SmolSetup, TokioManager, TokioSetup, Value,
};
use netpool_core::{Manager, Pool, Pooled};
use redis::AsyncCommands;
use tokio::sync::{Notify, RwLock};
use tokio_util::compat::TokioAsyncReadCompatExt;

use common::{BoxFut, bounded, own_redis, own_redis_url, smol_spawn, tokio_spawn, unique, warm};

/// Held shared by command tests, exclusively while the server's `timeout` is changed.
static SERVER_CONFIG: RwLock<()> = RwLock::const_new(());

/// A whole test's time limit.
const LIMIT: Duration = Duration::from_secs(90);

fn addr() -> String {
    resp::addr_from_url(&redis_url())
}

/// The URL of this binary's own redis-server (held by the running test).
fn redis_url() -> String {
    own_redis_url()
}

// ---------------------------------------------------------------------------------------
// The workload harness: runtime-neutral, driven by an `op` per runtime and manager.

/// One INCR through the pool: the new value, or, after an error (the connection was
/// discarded), the identity of the connection that failed.
type Op = Arc<dyn Fn() -> BoxFut<Result<i64, String>> + Send + Sync>;

/// Sends one admin command on a fresh connection (per runtime).
type Admin = fn(Vec<String>) -> BoxFut<Result<Value, RespError>>;

type Spawn = fn(BoxFut<TaskResult>) -> BoxFut<TaskResult>;

#[derive(Default)]
struct TaskResult {
    values: Vec<i64>,
    errors: u64,
}

#[derive(Debug)]
struct Outcome {
    /// Every value INCR returned, sorted.
    values: Vec<i64>,
    /// Operations that failed (and were retried).
    errors: u64,
    /// Connections that failed a caller more than once.
    seen_twice: Vec<String>,
    /// Connections the server killed.
    killed: i64,
}

/// Connections seen by the workload: their kill filters (`ID n` or `ADDR ip:port`).
type Seen = Arc<Mutex<HashSet<String>>>;

/// Runs `tasks × ops` INCRs through `op` at once; with `kill_rounds > 0`, kills every
/// connection seen so far (via `admin`) after each further `1/(kill_rounds+1)` of the work.
/// Failed INCRs are retried (a few times), so every task finishes its share.
async fn workload(
    spawn: Spawn,
    tasks: usize,
    ops: usize,
    op: Op,
    kill_rounds: usize,
    seen: Seen,
    admin: Admin,
) -> Outcome {
    let done = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Notify::new());
    let failed: Seen = Arc::default();
    let seen_twice = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (op, done, progress) = (op.clone(), done.clone(), progress.clone());
            let (failed, seen_twice) = (failed.clone(), seen_twice.clone());
            spawn(Box::pin(async move {
                let mut out = TaskResult::default();
                for _ in 0..ops {
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        match op().await {
                            Ok(v) => {
                                out.values.push(v);
                                done.fetch_add(1, Ordering::Relaxed);
                                progress.notify_one();
                                break;
                            }
                            Err(conn) => {
                                out.errors += 1;
                                if !failed.lock().expect("not poisoned").insert(conn.clone()) {
                                    seen_twice.lock().expect("not poisoned").push(conn);
                                }
                                assert!(attempts < 10, "an INCR failed {attempts} times in a row");
                            }
                        }
                    }
                }
                out
            }))
        })
        .collect();

    let total = (tasks * ops) as u64;
    let killer = async {
        let mut killed = 0;
        for round in 1..=kill_rounds as u64 {
            let threshold = total * round / (kill_rounds as u64 + 1);
            while done.load(Ordering::Relaxed) < threshold {
                progress.notified().await;
            }
            let targets: Vec<String> = seen.lock().expect("not poisoned").iter().cloned().collect();
            for target in targets {
                let mut args = vec!["CLIENT".to_owned(), "KILL".to_owned()];
                args.extend(target.split(' ').map(str::to_owned));
                match admin(args).await.expect("CLIENT KILL is answered") {
                    Value::Integer(n) => killed += n,
                    other => panic!("CLIENT KILL answered {other:?}"),
                }
            }
        }
        killed
    };
    let (results, killed) = futures_lite::future::zip(
        async {
            let mut results = Vec::new();
            for h in handles {
                results.push(h.await);
            }
            results
        },
        killer,
    )
    .await;
    let mut values: Vec<i64> = results
        .iter()
        .flat_map(|r| r.values.iter().copied())
        .collect();
    values.sort_unstable();
    let seen_twice = seen_twice.lock().expect("not poisoned").clone();
    Outcome {
        values,
        errors: results.iter().map(|r| r.errors).sum(),
        seen_twice,
        killed,
    }
}

/// Checks the outcome of a workload that killed connections: the work completed, no
/// connection failed a caller twice, no more callers failed than connections were killed,
/// and the counter is exact up to INCRs whose reply the kill swallowed.
fn check_kill_outcome(
    outcome: &Outcome,
    total: usize,
    final_value: i64,
    stats: &netpool_core::Stats,
) {
    eprintln!(
        "{} values, {} errors, {} killed, seen twice: {:?}\n{stats:?}",
        outcome.values.len(),
        outcome.errors,
        outcome.killed,
        outcome.seen_twice
    );
    assert_eq!(outcome.values.len(), total, "every task finished its share");
    assert!(
        outcome.seen_twice.is_empty(),
        "a broken connection failed callers twice: {:?}",
        outcome.seen_twice
    );
    assert!(outcome.killed > 0, "the test killed connections");
    assert!(
        outcome.errors <= outcome.killed as u64,
        "{} errors for {} killed connections",
        outcome.errors,
        outcome.killed
    );
    let successes = total as i64;
    assert!(
        (successes..=successes + outcome.errors as i64).contains(&final_value),
        "counter {final_value}: {successes} successes, {} errors",
        outcome.errors
    );
    assert!(
        stats.closed_broken + stats.closed_invalid >= 1,
        "the pool closed the killed connections"
    );
    assert!(
        stats.connections_created as i64 > outcome.killed / 3,
        "the pool replaced them"
    );
}

/// Checks a workload without failures: every INCR answered, values exactly 1..=total.
fn check_exact(outcome: &Outcome, total: usize, final_value: i64) {
    assert_eq!(outcome.errors, 0, "no errors");
    let expected: Vec<i64> = (1..=total as i64).collect();
    assert!(
        outcome.values == expected,
        "INCR returned each of 1..={total} exactly once"
    );
    assert_eq!(final_value, total as i64);
}

// ---------------------------------------------------------------------------------------
// Per-runtime admin connections and ops.

fn admin_tokio(args: Vec<String>) -> BoxFut<Result<Value, RespError>> {
    Box::pin(async move {
        let stream = tokio::net::TcpStream::connect(addr()).await?;
        let mut client = Client::new(stream.compat());
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        client.command(&args).await
    })
}

fn admin_smol(args: Vec<String>) -> BoxFut<Result<Value, RespError>> {
    Box::pin(async move {
        let stream = smol::net::TcpStream::connect(addr()).await?;
        let mut client = Client::new(stream);
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        client.command(&args).await
    })
}

/// GET and DEL of a counter through a fresh admin connection.
async fn take_counter(admin: Admin, key: &str) -> i64 {
    let value = admin(vec!["GET".into(), key.into()]).await.expect("GET");
    admin(vec!["DEL".into(), key.into()]).await.expect("DEL");
    match value {
        Value::Bulk(Some(v)) => String::from_utf8_lossy(&v).parse().expect("a number"),
        other => panic!("GET {key} answered {other:?}"),
    }
}

/// An [`Op`] that calls `incr` with its own clones of the pool, the key and the seen set.
fn make_op<P, F>(pool: &P, key: &str, seen: &Seen, incr: F) -> Op
where
    P: Clone + Send + Sync + 'static,
    F: Fn(P, String, Seen) -> BoxFut<Result<i64, String>> + Send + Sync + 'static,
{
    let (pool, key, seen) = (pool.clone(), key.to_owned(), seen.clone());
    Arc::new(move || incr(pool.clone(), key.clone(), seen.clone()))
}

/// Adds a connection's kill filter (`ID n` or `ADDR ip:port`) to `seen`, and returns it.
fn see(seen: &Seen, target: String) -> String {
    seen.lock().expect("not poisoned").insert(target.clone());
    target
}

/// A socket's address as text (or why there is none).
fn addr_text(addr: std::io::Result<std::net::SocketAddr>) -> String {
    addr.map_or_else(|e| e.to_string(), |a| a.to_string())
}

/// After an INCR on a RESP client failed: only the connection may break, so the error is
/// fatal; discards the connection and names it by its address and its opening time (a
/// later connection that reuses the local port is not the same connection).
fn resp_failed<M: Manager>(conn: Pooled<M>, target: &str, e: RespError) -> String {
    eprintln!("INCR on {target}: {e}");
    assert!(e.is_fatal(), "only the connection breaks: {e}");
    let created = Pooled::meta(&conn).created_at;
    Pooled::discard(conn);
    format!("{target} opened at {created:?}")
}

fn redis_crate_op(pool: &Pool<RedisManager>, key: &str, seen: &Seen) -> Op {
    make_op(pool, key, seen, |pool, key, seen| {
        Box::pin(async move {
            let mut conn = pool.get().await.expect("the pool serves every caller");
            let id = see(&seen, format!("ID {}", conn.id()));
            match conn.incr::<_, _, i64>(&key, 1).await {
                Ok(v) => Ok(v),
                Err(e) => {
                    eprintln!("INCR on {id}: {e}");
                    Pooled::discard(conn);
                    Err(id)
                }
            }
        })
    })
}

/// An op for a pool whose connection is a RESP [`Client`]; `local` gives the stream's
/// local address (the `addr` Redis reports for it).
fn resp_op<M, S>(pool: &Pool<M>, key: &str, seen: &Seen, local: fn(&mut Client<S>) -> String) -> Op
where
    M: Manager<Connection = Client<S>, Error = RespError>,
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    make_op(pool, key, seen, move |pool, key, seen| {
        Box::pin(async move {
            let mut conn = pool.get().await.expect("the pool serves every caller");
            let target = see(&seen, format!("ADDR {}", local(&mut conn)));
            let result = conn.incr(key.as_bytes()).await;
            result.map_err(|e| resp_failed(conn, &target, e))
        })
    })
}

fn resp_tokio_op(pool: &Pool<TokioManager>, key: &str, seen: &Seen) -> Op {
    resp_op(pool, key, seen, tokio_local)
}

fn resp_smol_op(pool: &Pool<SmolManager>, key: &str, seen: &Seen) -> Op {
    resp_op(pool, key, seen, smol_local)
}

/// An op over `netpool_tokio::tcp`: the RESP client borrows the pooled `TcpStream`.
fn adapter_tokio_op(pool: &netpool_tokio::Pool, key: &str, seen: &Seen) -> Op {
    make_op(pool, key, seen, |pool, key, seen| {
        Box::pin(async move {
            let mut conn = pool.get().await.expect("the pool serves every caller");
            let target = see(&seen, format!("ADDR {}", addr_text(conn.local_addr())));
            let result = Client::new((&mut *conn).compat())
                .incr(key.as_bytes())
                .await;
            result.map_err(|e| resp_failed(conn, &target, e))
        })
    })
}

/// An op over `netpool_smol::tcp`: the RESP client borrows the pooled `TcpStream`, which
/// implements the futures-io traits itself.
fn adapter_smol_op(pool: &netpool_smol::Pool, key: &str, seen: &Seen) -> Op {
    make_op(pool, key, seen, |pool, key, seen| {
        Box::pin(async move {
            let mut conn = pool.get().await.expect("the pool serves every caller");
            let target = see(&seen, format!("ADDR {}", addr_text(conn.local_addr())));
            let result = Client::new(&mut *conn).incr(key.as_bytes()).await;
            result.map_err(|e| resp_failed(conn, &target, e))
        })
    })
}

fn adapter_smol_pool() -> netpool_smol::Pool {
    netpool_smol::tcp(addr())
        .max_size(8)
        .wait_timeout(Some(Duration::from_secs(10)))
        .check_idle_after(Some(Duration::from_millis(50)))
        .build()
        .expect("a valid config")
}

fn adapter_tokio_pool() -> netpool_tokio::Pool {
    netpool_tokio::tcp(addr())
        .max_size(8)
        .wait_timeout(Some(Duration::from_secs(10)))
        .check_idle_after(Some(Duration::from_millis(50)))
        .build()
        .expect("a valid config")
}

fn tokio_local(c: &mut Client<tokio_util::compat::Compat<tokio::net::TcpStream>>) -> String {
    addr_text(c.stream_mut().get_ref().local_addr())
}

fn smol_local(c: &mut Client<smol::net::TcpStream>) -> String {
    addr_text(c.stream_mut().local_addr())
}

/// The pools' common settings: 8 connections, checked after 50 ms idle.
fn builder() -> netpool_core::Builder {
    Pool::builder()
        .max_size(8)
        .wait_timeout(Some(Duration::from_secs(10)))
        .check_idle_after(Some(Duration::from_millis(50)))
}

fn redis_pool(name: &str) -> Pool<RedisManager> {
    let manager = RedisManager::new(redis_url())
        .expect("a valid Redis URL")
        .client_name(name);
    builder().build(manager).expect("a valid config")
}

fn resp_tokio_pool() -> Pool<TokioManager> {
    builder().build(TokioManager::new(addr())).expect("config")
}

fn resp_smol_pool() -> Pool<SmolManager> {
    builder().build(SmolManager::new(addr())).expect("config")
}

// ---------------------------------------------------------------------------------------
// The tests' shared bodies: every INCR test runs one of them on tokio and on smol.

/// What a test needs of its runtime: how to spawn, and an admin connection.
#[derive(Clone, Copy)]
struct Rt {
    spawn: Spawn,
    admin: Admin,
}

const TOKIO: Rt = Rt {
    spawn: tokio_spawn,
    admin: admin_tokio,
};

const SMOL: Rt = Rt {
    spawn: smol_spawn,
    admin: admin_smol,
};

/// Runs `test` if the server is there, holding [`SERVER_CONFIG`] shared, within [`LIMIT`].
async fn shared(test: impl Future<Output = ()>) {
    let Some(_server) = own_redis() else { return };
    let _shared = SERVER_CONFIG.read().await;
    bounded(LIMIT, test).await;
}

/// `TASKS × OPS` INCRs of a fresh key (named after `name`) through `op(pool)`, killing
/// every connection seen `kill_rounds` times on the way; returns the outcome and the
/// counter's final value.
async fn incr<P>(
    rt: Rt,
    name: &str,
    pool: &P,
    op: fn(&P, &str, &Seen) -> Op,
    kill_rounds: usize,
) -> (Outcome, i64) {
    let key = unique(&format!("netpool:test:{name}"));
    let seen = Seen::default();
    let op = op(pool, &key, &seen);
    let out = workload(rt.spawn, TASKS, OPS, op, kill_rounds, seen, rt.admin).await;
    let value = take_counter(rt.admin, &key).await;
    (out, value)
}

/// [`incr`] without kills: the counter is exact and the pool opened at most 8
/// connections. Returns the pool's stats.
async fn incr_adds_up<M: Manager>(
    rt: Rt,
    name: &str,
    pool: &Pool<M>,
    op: fn(&Pool<M>, &str, &Seen) -> Op,
) -> netpool_core::Stats {
    let (out, value) = incr(rt, name, pool, op, 0).await;
    check_exact(&out, TASKS * OPS, value);
    let stats = pool.stats();
    assert!(stats.connections_created <= 8, "{stats:?}");
    stats
}

/// [`incr`] with three rounds of kills: see [`check_kill_outcome`].
async fn killed_are_replaced<M: Manager>(
    rt: Rt,
    name: &str,
    pool: &Pool<M>,
    op: fn(&Pool<M>, &str, &Seen) -> Op,
) {
    let (out, value) = incr(rt, name, pool, op, 3).await;
    check_kill_outcome(&out, TASKS * OPS, value, &pool.stats());
}

// ---------------------------------------------------------------------------------------
// Round trips: many tasks at once, exact results.

const TASKS: usize = 32;
const OPS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_incr_adds_up_on_tokio() {
    shared(async {
        let pool = redis_pool(&unique("netpool-test"));
        let stats = incr_adds_up(TOKIO, "redis_crate_incr", &pool, redis_crate_op).await;
        assert!(stats.connections <= 8, "{stats:?}");
        assert_eq!(stats.gets, (TASKS * OPS) as u64);
    })
    .await;
}

#[test]
fn redis_crate_incr_adds_up_on_smol() {
    smol::block_on(shared(async {
        let pool = redis_pool(&unique("netpool-test"));
        incr_adds_up(SMOL, "redis_crate_smol_incr", &pool, redis_crate_op).await;
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_incr_adds_up_on_tokio() {
    shared(async {
        incr_adds_up(TOKIO, "resp_tokio_incr", &resp_tokio_pool(), resp_tokio_op).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_over_netpool_tokio_incr_adds_up() {
    shared(async {
        let pool = adapter_tokio_pool();
        incr_adds_up(TOKIO, "adapter_tokio_incr", &pool, adapter_tokio_op).await;
    })
    .await;
}

#[test]
fn resp_incr_adds_up_on_smol() {
    smol::block_on(shared(async {
        incr_adds_up(SMOL, "resp_smol_incr", &resp_smol_pool(), resp_smol_op).await;
    }));
}

#[test]
fn resp_over_netpool_smol_incr_adds_up() {
    smol::block_on(shared(async {
        let pool = adapter_smol_pool();
        incr_adds_up(SMOL, "adapter_smol_incr", &pool, adapter_smol_op).await;
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_set_get_round_trips() {
    shared(async {
        let prefix = unique("netpool:test:set_get");
        let pool = redis_pool(&unique("netpool-test"));
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, key) = (pool.clone(), format!("{prefix}:{t}"));
                tokio::spawn(async move {
                    for n in 0..OPS {
                        let mut conn = pool.get().await.expect("get");
                        let value = format!("{t}-{n}");
                        let () = conn.set(&key, &value).await.expect("SET");
                        let got: String = conn.get(&key).await.expect("GET");
                        assert_eq!(got, value);
                    }
                    let mut conn = pool.get().await.expect("get");
                    let () = conn.del(&key).await.expect("DEL");
                })
            })
            .collect();
        for h in handles {
            h.await.expect("no task panics");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Connections killed by the server (CLIENT KILL) are detected and replaced.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_replaced_redis_crate_tokio() {
    shared(async {
        let pool = redis_pool(&unique("netpool-test"));
        killed_are_replaced(TOKIO, "kill_redis_crate", &pool, redis_crate_op).await;
    })
    .await;
}

#[test]
fn killed_connections_are_replaced_redis_crate_smol() {
    smol::block_on(shared(async {
        let pool = redis_pool(&unique("netpool-test"));
        killed_are_replaced(SMOL, "kill_redis_crate_smol", &pool, redis_crate_op).await;
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_replaced_resp_tokio() {
    shared(async {
        killed_are_replaced(TOKIO, "kill_resp_tokio", &resp_tokio_pool(), resp_tokio_op).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_replaced_resp_over_netpool_tokio() {
    shared(async {
        let pool = adapter_tokio_pool();
        killed_are_replaced(TOKIO, "kill_adapter_tokio", &pool, adapter_tokio_op).await;
    })
    .await;
}

#[test]
fn killed_connections_are_replaced_resp_smol() {
    smol::block_on(shared(async {
        killed_are_replaced(SMOL, "kill_resp_smol", &resp_smol_pool(), resp_smol_op).await;
    }));
}

#[test]
fn killed_connections_are_replaced_resp_over_netpool_smol() {
    smol::block_on(shared(async {
        let pool = adapter_smol_pool();
        killed_are_replaced(SMOL, "kill_adapter_smol", &pool, adapter_smol_op).await;
    }));
}

// ---------------------------------------------------------------------------------------
// A server-side idle timeout does not surface as errors to callers.

/// Sets the server's `timeout` and puts the old value back when dropped, even if the test
/// fails. Uses the `redis` crate's blocking connection, so it needs no runtime.
struct ServerTimeout {
    url: String,
    old: String,
}

impl ServerTimeout {
    fn set(seconds: u32) -> Self {
        let url = redis_url();
        let mut con = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .expect("an admin connection");
        let (_, old): (String, String) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("timeout")
            .query(&mut con)
            .expect("CONFIG GET timeout");
        let guard = Self { url, old };
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("timeout")
            .arg(seconds)
            .query(&mut con)
            .expect("CONFIG SET timeout");
        guard
    }
}

impl Drop for ServerTimeout {
    fn drop(&mut self) {
        let restored = redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut con| {
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("timeout")
                    .arg(&self.old)
                    .query::<()>(&mut con)
            });
        if let Err(e) = restored {
            eprintln!(
                "!!!!! could not restore the Redis timeout to {}: {e}",
                self.old
            );
        }
    }
}

/// The `CLIENT LIST` lines, through a fresh admin connection.
async fn client_list() -> String {
    match admin_tokio(vec!["CLIENT".into(), "LIST".into()]).await {
        Ok(Value::Bulk(Some(list))) => String::from_utf8_lossy(&list).into_owned(),
        other => panic!("CLIENT LIST answered {other:?}"),
    }
}

/// Opens `n` connections in `pool` (all checked out at once) and returns them idle, with
/// what `id` says of each.
async fn warm_ids<M: Manager>(
    pool: &Pool<M>,
    n: usize,
    id: impl Fn(&mut M::Connection) -> String,
) -> Vec<String> {
    let mut held = warm(pool, n).await;
    assert_eq!(pool.stats().connections, n);
    held.iter_mut().map(|c| id(c)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_idle_timeout_is_invisible_to_callers() {
    let Some(_server) = own_redis() else { return };
    // Exclusive: while `timeout` is 1 s, no other test's connections may sit idle.
    let _exclusive = SERVER_CONFIG.write().await;
    bounded(LIMIT, async {
        let redis_crate = redis_pool(&unique("netpool-idle"));
        let resp_tokio = resp_tokio_pool();
        let resp_smol = resp_smol_pool();
        let adapter_tokio = adapter_tokio_pool();
        let adapter_smol = adapter_smol_pool();
        let mut ours = warm_ids(&redis_crate, 4, |c| format!("id={} ", c.id())).await;
        let addrs = [
            warm_ids(&resp_tokio, 4, tokio_local).await,
            warm_ids(&resp_smol, 4, smol_local).await,
            warm_ids(&adapter_tokio, 4, |c| addr_text(c.local_addr())).await,
            warm_ids(&adapter_smol, 4, |c| addr_text(c.local_addr())).await,
        ];
        ours.extend(addrs.iter().flatten().map(|a| format!("addr={a} ")));

        let _timeout = ServerTimeout::set(1);
        // Wait for the server to close our idle connections. Redis compares whole seconds
        // and checks clients from its 10 Hz cron, so a client idle for 1 s goes after 1 to
        // about 2.1 s; poll CLIENT LIST (every 100 ms) instead of guessing, up to 15 s.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let list = client_list().await;
            // CLIENT LIST lines start with "id=N " and hold "addr=ip:port ".
            let alive = ours
                .iter()
                .filter(|o| {
                    list.lines()
                        .any(|l| l.starts_with(o.as_str()) || l.contains(o.as_str()))
                })
                .count();
            if alive == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not close idle clients:\n{list}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // Every pooled connection is now dead; callers must not notice.
        let seen = Seen::default();
        let key = unique("netpool:test:idle");
        let ops: [(&str, Op, Spawn); 5] = [
            (
                "redis crate",
                redis_crate_op(&redis_crate, &key, &seen),
                tokio_spawn,
            ),
            (
                "resp tokio",
                resp_tokio_op(&resp_tokio, &key, &seen),
                tokio_spawn,
            ),
            (
                "resp smol",
                resp_smol_op(&resp_smol, &key, &seen),
                smol_spawn,
            ),
            (
                "resp over netpool-tokio",
                adapter_tokio_op(&adapter_tokio, &key, &seen),
                tokio_spawn,
            ),
            (
                "resp over netpool-smol",
                adapter_smol_op(&adapter_smol, &key, &seen),
                smol_spawn,
            ),
        ];
        for (what, op, spawn) in ops {
            let out = workload(spawn, 8, 10, op, 0, seen.clone(), admin_tokio).await;
            assert_eq!(out.errors, 0, "{what}: a caller saw a dead connection");
        }
        for (what, stats) in [
            ("redis crate", redis_crate.stats()),
            ("resp tokio", resp_tokio.stats()),
            ("resp smol", resp_smol.stats()),
            ("resp over netpool-tokio", adapter_tokio.stats()),
            ("resp over netpool-smol", adapter_smol.stats()),
        ] {
            eprintln!("{what}: {stats:?}");
            assert!(
                stats.closed_invalid >= 4,
                "{what}: the idle check caught them: {stats:?}"
            );
        }
        assert_eq!(take_counter(admin_tokio, &key).await, 5 * 8 * 10);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Garbage from the peer is an error, never a panic, and the connection is not reused.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_the_peer_is_an_error_and_closes_the_connection() {
    // A fake server on loopback: answers every read with something that is not RESP
    // (no real Redis needed).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut accepted = 0;
        while accepted < 2 {
            let (mut s, _) = listener.accept().await.expect("accept");
            accepted += 1;
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
                    if s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    bounded(LIMIT, async {
        let pool = Pool::builder()
            .max_size(1)
            .test_on_check_out(false)
            .build(TokioManager::new(addr))
            .expect("config");
        for _ in 0..2 {
            let mut conn = pool.get().await.expect("connect");
            let err = conn.incr(b"k").await.expect_err("garbage is an error");
            assert!(
                matches!(err, RespError::Protocol(_)) && err.is_fatal(),
                "{err:?}"
            );
            assert!(conn.is_broken());
            drop(conn); // has_broken closes it, without an explicit discard
        }
        let stats = pool.stats();
        assert_eq!(stats.closed_broken, 2, "{stats:?}");
        assert_eq!(
            stats.connections_created, 2,
            "a new connection each time: {stats:?}"
        );
    })
    .await;
    server.await.expect("fake server");
}

// ---------------------------------------------------------------------------------------
// Setup hooks: SELECT and CLIENT SETNAME on every new connection, SELECT again on
// checkout; a database that does not exist rejects connections; a hook that hangs.

/// The `db=` and `name=` fields of `CLIENT INFO` for one connection.
fn db_and_name(info: &str) -> (String, String) {
    let field = |key: &str| {
        info.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .unwrap_or_default()
            .to_owned()
    };
    (field("db="), field("name="))
}

fn hooked_builder() -> netpool_core::Builder {
    Pool::builder()
        .max_size(1)
        .connect_timeout(Some(Duration::from_secs(5)))
        .wait_timeout(Some(Duration::from_secs(10)))
        .connect_backoff(Duration::from_millis(1), Duration::from_millis(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_setup_hooks_select_and_name() {
    shared(async {
        let name = unique("netpool-hooks");
        let pool = hooked_builder()
            .hooks(
                RedisSetup::new(3)
                    .client_name(&name)
                    .reselect_on_checkout(true),
            )
            .build(RedisManager::new(redis_url()).expect("a valid URL"))
            .expect("a valid config");
        let mut conn = pool.get().await.expect("get");
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut *conn)
            .await
            .expect("CLIENT INFO");
        assert_eq!(db_and_name(&info), ("3".to_owned(), name.clone()), "{info}");
        // A user switches databases...
        let () = redis::cmd("SELECT")
            .arg(5)
            .query_async(&mut *conn)
            .await
            .expect("SELECT 5");
        let id = conn.id();
        drop(conn);
        // ...and the next user of the same connection is back on database 3.
        let mut conn = pool.get().await.expect("get");
        assert_eq!(conn.id(), id, "the same connection");
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut *conn)
            .await
            .expect("CLIENT INFO");
        assert_eq!(db_and_name(&info), ("3".to_owned(), name), "{info}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_setup_hook_rejects_a_missing_database() {
    shared(async {
        let pool = hooked_builder()
            .hooks(RedisSetup::new(1_000_000))
            .build(RedisManager::new(redis_url()).expect("a valid URL"))
            .expect("a valid config");
        let err = pool.get().await.expect_err("rejected by on_connect");
        let message = err
            .connect_error()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(message.contains("DB index is out of range"), "{err:?}");
        let stats = pool.stats();
        assert_eq!(
            (stats.connections, stats.connect_errors),
            (0, 1),
            "{stats:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_setup_hooks_select_and_name_on_tokio() {
    shared(async {
        let name = unique("netpool-resp-hooks");
        let pool = hooked_builder()
            .hooks(
                TokioSetup::new(4)
                    .client_name(&name)
                    .reselect_on_checkout(true),
            )
            .build(TokioManager::new(addr()))
            .expect("a valid config");
        let mut conn = pool.get().await.expect("get");
        let info = |v: Value| match v {
            Value::Bulk(Some(bytes)) => String::from_utf8(bytes).expect("utf-8"),
            other => panic!("CLIENT INFO answered {other:?}"),
        };
        let got = info(
            conn.command(&[b"CLIENT".as_slice(), b"INFO"])
                .await
                .expect("CLIENT INFO"),
        );
        assert_eq!(db_and_name(&got), ("4".to_owned(), name.clone()), "{got}");
        conn.select(6).await.expect("SELECT 6");
        drop(conn);
        let mut conn = pool.get().await.expect("get");
        let got = info(
            conn.command(&[b"CLIENT".as_slice(), b"INFO"])
                .await
                .expect("CLIENT INFO"),
        );
        assert_eq!(db_and_name(&got), ("4".to_owned(), name), "{got}");
        assert_eq!(pool.stats().connections_created, 1);
    })
    .await;
}

#[test]
fn resp_setup_hook_rejects_and_is_cut_by_the_deadline_on_smol() {
    smol::block_on(shared(async {
        let pool = hooked_builder()
            .hooks(SmolSetup::new(1_000_000))
            .build(SmolManager::new(addr()))
            .expect("a valid config");
        let err = pool.get().await.expect_err("rejected by on_connect");
        assert!(
            matches!(err.connect_error(), Some(RespError::Server(m)) if m.contains("DB index is out of range")),
            "{err:?}"
        );
        assert_eq!(pool.stats().connections, 0);

        // A setup that blocks on the server (BLPOP with no timeout) is cut by the
        // caller's deadline, and its connection closed.
        let pool = Pool::builder()
            .connect_timeout(None)
            .hooks(Blocking)
            .build(SmolManager::new(addr()))
            .expect("a valid config");
        let err = pool
            .get_timeout(Duration::from_millis(300))
            .await
            .expect_err("cut by the deadline");
        assert!(err.is_connect_timeout(), "{err:?}");
        let stats = pool.stats();
        assert_eq!((stats.connections, stats.in_use), (0, 0), "{stats:?}");
    }));
}

/// A setup hook that blocks on the server until the test's deadline cuts it.
struct Blocking;

impl netpool_core::Hooks for Blocking {
    type Manager = SmolManager;

    async fn on_connect(&self, conn: &mut Client<smol::net::TcpStream>) -> Result<(), RespError> {
        let key = unique("netpool:test:never");
        conn.command(&[b"BLPOP", key.as_bytes(), b"0"])
            .await
            .map(drop)
    }
}
