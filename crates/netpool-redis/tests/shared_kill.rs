//! A killed shared connection costs only its own in-flight requests: 128 tokio tasks send
//! `GET`s through a `SharedPool` of 4 `netpool_redis::shared` connections (32 lends each) on a
//! redis-server this test starts itself; mid-run, `CLIENT KILL ID` kills the connection
//! one task is using. Only requests on that connection may fail, the other connections
//! see no error, the connection is retired once, and a replacement is serving soon after
//! (within one connect; bounded generously here at 2 s because the machine is shared).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpool_core::SharedPool;
use netpool_redis::shared::SharedRedisManager;
use netpool_testkit::RedisServer;

/// Runs `f`, failing the test if it takes longer than `limit` (a hang, not a slow run).
async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

const TASKS: usize = 128;
const CONNECTIONS: usize = 4;
const PER_CONNECTION: usize = 32;
const ROUNDS: usize = 150;

/// One request's outcome: the server's id of the connection it used, and whether it
/// failed, and when.
type Outcome = (i64, bool, Instant);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shared_connection_costs_only_its_own_requests() {
    if !RedisServer::installed() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true and redis-server is not installed"
        );
        eprintln!("\n!!!!! SKIPPING: redis-server is not installed\n");
        return;
    }
    let server = RedisServer::start().expect("redis-server starts");
    assert_eq!(
        server.command(&["SET", "k", "0123456789abcdef"]).unwrap(),
        "+OK"
    );
    bounded(Duration::from_secs(60), async {
        let pool = SharedPool::builder()
            .max_size(CONNECTIONS)
            .max_concurrent_per_connection(PER_CONNECTION)
            .min_idle(Some(CONNECTIONS))
            .wait_timeout(Some(Duration::from_secs(10)))
            .build(SharedRedisManager::new(server.url()).unwrap())
            .unwrap();
        pool.maintain().await;
        assert_eq!(pool.stats().pool.connections, CONNECTIONS);
        let url_port = server.port();
        let done = Arc::new(AtomicU64::new(0));
        let victim = Arc::new(std::sync::Mutex::new(None::<(i64, Instant)>));
        let killed = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (pool, done, victim, killed) =
                    (pool.clone(), done.clone(), victim.clone(), killed.clone());
                tokio::spawn(async move {
                    let mut outcomes: Vec<Outcome> = Vec::with_capacity(ROUNDS);
                    for _ in 0..ROUNDS {
                        let mut conn = pool.get().await.expect("a lend");
                        let id = conn.id();
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        if n == (TASKS * ROUNDS / 4) as u64 && !killed.swap(true, Ordering::SeqCst) {
                            // Kill the connection this task holds a lend of, while the
                            // others keep sending.
                            let at = Instant::now();
                            *victim.lock().unwrap() = Some((id, at));
                            let reply = tokio::task::spawn_blocking(move || {
                                let admin = format!("127.0.0.1:{url_port}");
                                kill(&admin, id)
                            })
                            .await
                            .unwrap();
                            assert_eq!(reply, ":1", "CLIENT KILL ID {id} kills one client");
                        }
                        let got: Result<Vec<u8>, _> =
                            redis::cmd("GET").arg("k").query_async(&mut *conn).await;
                        if let Ok(v) = &got {
                            assert_eq!(v.len(), 16);
                        }
                        drop(conn);
                        outcomes.push((id, got.is_err(), Instant::now()));
                    }
                    outcomes
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("a task panicked"));
        }
        let (victim, killed_at) = victim.lock().unwrap().expect("the kill happened");
        let errors: Vec<_> = all.iter().filter(|o| o.1).collect();
        let stats = pool.stats();
        assert!(
            errors.iter().all(|o| o.0 == victim),
            "only the killed connection's requests fail: {errors:?}"
        );
        assert!(
            errors.len() <= 2 * PER_CONNECTION,
            "{} errors: more than the killed connection's lends in flight",
            errors.len()
        );
        assert_eq!(stats.pool.closed_broken, 1, "{stats:?}");
        assert_eq!(stats.pool.connections_created, CONNECTIONS as u64 + 1);
        // The replacement: a connection id first seen after the kill, serving soon.
        let before: std::collections::HashSet<i64> = all
            .iter()
            .filter(|o| o.2 < killed_at)
            .map(|o| o.0)
            .collect();
        let first_new = all
            .iter()
            .filter(|o| !o.1 && !before.contains(&o.0))
            .map(|o| o.2)
            .min()
            .expect("a replacement served requests");
        let took = first_new.saturating_duration_since(killed_at);
        assert!(took < Duration::from_secs(2), "the replacement served after {took:?}");
        let ok = all.iter().filter(|o| !o.1).count();
        eprintln!(
            "killed connection {victim}: {} errors, {ok} successes, replacement serving after {took:?}",
            errors.len()
        );
    })
    .await;
    drop(server);
}

/// `CLIENT KILL ID <id>` over a plain TCP connection; the first reply line.
fn kill(addr: &str, id: i64) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("admin connection");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let id = id.to_string();
    write!(
        s,
        "*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$2\r\nID\r\n${}\r\n{id}\r\n",
        id.len()
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}
