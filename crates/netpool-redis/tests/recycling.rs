//! What a checkout does to a pooled connection, as the server sees it (`CLIENT LIST`):
//! the `cmd` field is the last command a connection ran, so a `PING` from the pool's
//! check shows as `cmd=ping`, and a connection the pool closed is gone from the list.
//!
//! The ways a connection is recycled:
//!
//! * default: `PING` only for a connection idle at least `check_idle_after` (1 s);
//! * `check_idle_after(None)`: `PING` on every checkout;
//! * `test_on_check_out(false)`: never a `PING`;
//! * a connection left dirty (`WATCH` without `EXEC`): closed, a new one opened.
//!
//! Each pool has one connection, so every checkout gets the connection the test set up.
//! The tests run a redis-server of their own (skipped loudly without `redis-server`; a
//! failure under `CI=true`).

mod common;

use std::time::Duration;

use common::{bounded, own_server, unique};
use netpool_redis::{Config, Pool, RedisBuilder};
use redis::AsyncCommands;

const LIMIT: Duration = Duration::from_secs(30);

/// How a test pool is set up.
type Setup = Box<dyn Fn(RedisBuilder) -> RedisBuilder>;

/// The line `CLIENT LIST ID id` shows, empty if the server has no such connection.
async fn client_line(admin: &mut redis::aio::MultiplexedConnection, id: i64) -> String {
    redis::cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(id)
        .query_async::<String>(admin)
        .await
        .expect("CLIENT LIST ID")
        .trim()
        .to_owned()
}

/// The `name=value` field `name` of a `CLIENT LIST` line.
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("")
}

/// A one-connection pool on `url`, set up by `f`. Maintenance (which also checks
/// connections idle past `check_idle_after`) waits an hour, so that only checkouts act.
fn pool(url: &str, f: impl FnOnce(RedisBuilder) -> RedisBuilder) -> Pool {
    let builder = Config::from_url(url)
        .unwrap()
        .builder()
        .unwrap()
        .max_size(1)
        .pool_builder(|p| p.maintenance_interval(Some(Duration::from_secs(3600))));
    f(builder).build().unwrap()
}

/// Uses the pool's connection for a `GET`, returns it, checks it out again and says what
/// the server saw last on it: `(id before, id after, cmd after)`.
async fn checkout_after_get(
    pool: &Pool,
    admin: &mut redis::aio::MultiplexedConnection,
    key: &str,
    idle: Duration,
) -> (i64, i64, String) {
    let mut conn = pool.get().await.expect("get");
    let before = conn.id();
    let _: Option<String> = conn.get(key).await.expect("GET");
    drop(conn);
    assert_eq!(
        field(&client_line(admin, before).await, "cmd"),
        "get",
        "the user's GET is the last command"
    );
    if !idle.is_zero() {
        // The connection must sit idle past the pool's threshold: the pool reads the
        // time since its last use, so only real time passing can show this.
        tokio::time::sleep(idle).await;
    }
    let conn = pool.get().await.expect("get again");
    let after = conn.id();
    let line = client_line(admin, after).await;
    (before, after, field(&line, "cmd").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_recycling_way_shows_in_client_list() {
    let Some(server) = own_server(&[]) else {
        return;
    };
    bounded(LIMIT, async {
        let url = server.url();
        let mut admin = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection");
        let key = unique("recycle");
        // Thresholds far from the test's own timing: a check_idle_after of a minute is
        // never reached by a checkout right after a return, and one of 10 ms is always
        // passed by an idle spell of 200 ms.
        let long = Duration::from_secs(60);
        let short = Duration::from_millis(10);
        let idle = Duration::from_millis(200);
        let ways: [(&str, Setup, Duration, &str); 5] = [
            (
                "default, used within check_idle_after",
                Box::new(move |b| b.pool_builder(|p| p.check_idle_after(Some(long)))),
                Duration::ZERO,
                "get",
            ),
            (
                "default, idle past check_idle_after",
                Box::new(move |b| b.pool_builder(|p| p.check_idle_after(Some(short)))),
                idle,
                "ping",
            ),
            (
                "check_idle_after(None)",
                Box::new(|b| b.pool_builder(|p| p.check_idle_after(None))),
                Duration::ZERO,
                "ping",
            ),
            (
                "test_on_check_out(false), idle",
                Box::new(move |b| {
                    b.test_on_check_out(false)
                        .pool_builder(|p| p.check_idle_after(Some(short)))
                }),
                idle,
                "get",
            ),
            ("defaults as built", Box::new(|b| b), Duration::ZERO, "get"),
        ];
        for (what, setup, idle, cmd) in ways {
            let pool = pool(&url, setup);
            let (before, after, seen) = checkout_after_get(&pool, &mut admin, &key, idle).await;
            assert_eq!(before, after, "{what}: the same connection");
            assert_eq!(seen, cmd, "{what}: the last command on the server");
            assert_eq!(pool.stats().connections_created, 1, "{what}");
        }

        // A dirty connection is closed: the server no longer lists it.
        let pool = pool(&url, |b| b);
        let mut conn = pool.get().await.expect("get");
        let dirty = conn.id();
        redis::cmd("WATCH")
            .arg(&key)
            .exec_async(&mut *conn)
            .await
            .expect("WATCH");
        assert!(conn.is_dirty());
        drop(conn);
        let conn = pool.get().await.expect("get after a dirty return");
        let fresh = conn.id();
        assert_ne!(fresh, dirty, "a new connection");
        assert!(
            !client_line(&mut admin, fresh).await.is_empty(),
            "the new connection is listed"
        );
        // The close is sent when the guard drops; the server notices it soon after.
        let mut gone = false;
        for _ in 0..200 {
            if client_line(&mut admin, dirty).await.is_empty() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(gone, "the dirty connection was closed on the server");
    })
    .await;
}
