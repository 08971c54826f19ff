//! Against real servers: the shared Redis (`NETPOOL_TEST_REDIS`, default 127.0.0.1:6379)
//! for what only reads and writes keys, and redis-servers of the tests' own for `AUTH`,
//! TLS and a crash. Under `CI=true` every test runs; elsewhere a missing server skips the
//! test with a loud message.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{bounded, certificates, client_config, live_url, own_server, own_tls_server, unique};
use netpool_core::Pooled;
use netpool_redis::{Config, Pool};
use redis::AsyncCommands;

async fn id(pool: &Pool) -> i64 {
    pool.get().await.expect("a connection").id()
}

#[tokio::test]
async fn create_pool_runs_get_and_set() {
    let Some(url) = live_url() else { return };
    bounded(Duration::from_secs(30), async {
        let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
        let key = unique("getset");
        let mut conn = pool.get().await.unwrap();
        let () = conn.set_ex(&key, "hello", 60).await.unwrap();
        let value: String = conn.get(&key).await.unwrap();
        assert_eq!(value, "hello");
        let () = conn.del(&key).await.unwrap();
    })
    .await;
}

#[test]
fn create_pool_runs_on_smol_too() {
    let Some(url) = live_url() else { return };
    smol::block_on(async {
        let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
        let mut conn = pool.get().await.unwrap();
        let pong: String = redis::cmd("PING").query_async(&mut *conn).await.unwrap();
        assert_eq!(pong, "PONG");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_select_and_setname_show_in_client_list() {
    let Some(server) = own_server(&[]) else {
        return;
    };
    for cmd in [
        &[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">app-pw-0451",
            "~*",
            "&*",
            "+@all",
        ][..],
        &["CONFIG", "SET", "requirepass", "default-pw-7720"],
    ] {
        assert_eq!(server.command(cmd).unwrap(), "+OK");
    }
    bounded(Duration::from_secs(30), async {
        let url = format!(
            "redis://app:app-pw-0451@127.0.0.1:{}/4?client_name=np-setup",
            server.port()
        );
        let connects = Arc::new(AtomicUsize::new(0));
        let checkouts = Arc::new(AtomicUsize::new(0));
        let (c, k) = (connects.clone(), checkouts.clone());
        let pool = Config::from_url(&url)
            .unwrap()
            .builder()
            .unwrap()
            .max_size(2)
            .on_connect(move |conn| {
                c.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    // The hook runs after AUTH, SELECT and SETNAME.
                    let db: i64 = redis::cmd("CLIENT")
                        .arg("INFO")
                        .query_async::<String>(conn)
                        .await
                        .map(|info| field(&info, "db").parse().unwrap_or(-1))?;
                    assert_eq!(db, 4);
                    Ok(())
                })
            })
            .on_checkout(move |_, _| {
                k.fetch_add(1, Ordering::SeqCst);
                Box::pin(async { Ok(()) })
            })
            .build()
            .unwrap();
        let mut conn = pool.get().await.unwrap();
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut *conn)
            .await
            .unwrap();
        assert_eq!(field(&info, "name"), "np-setup", "{info}");
        assert_eq!(field(&info, "db"), "4", "{info}");
        assert_eq!(field(&info, "user"), "app", "{info}");
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut *conn)
            .await
            .unwrap();
        assert!(
            list.lines()
                .any(|l| l.contains("name=np-setup") && l.contains("db=4")),
            "{list}"
        );
        drop(conn);
        let _again = pool.get().await.unwrap();
        assert_eq!(connects.load(Ordering::SeqCst), 1);
        assert_eq!(checkouts.load(Ordering::SeqCst), 1);

        // A wrong password is the server's refusal, as a connect error.
        let bad = Config::from_url(&format!("redis://app:wrong@127.0.0.1:{}", server.port()))
            .unwrap()
            .create_pool()
            .unwrap();
        let err = bad.get().await.expect_err("AUTH fails");
        assert!(err.is_connect(), "{err}");
        assert!(format!("{err}").contains("could not connect"), "{err}");
    })
    .await;
}

/// A pool of one connection to `url`, so each checkout gets the one the test used last.
fn one_connection(url: &str) -> Pool {
    let builder = Config::from_url(url).unwrap().builder().unwrap();
    builder.max_size(1).build().unwrap()
}

fn field<'a>(info: &'a str, name: &str) -> &'a str {
    info.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("")
}

#[tokio::test]
async fn state_a_user_leaves_is_never_handed_on() {
    let Some(url) = live_url() else { return };
    bounded(Duration::from_secs(30), async {
        let pool = one_connection(&url);
        let key = unique("state");
        let channel = unique("channel");

        // A clean exchange (a whole transaction included) keeps the connection.
        let first = id(&pool).await;
        {
            let mut conn = pool.get().await.unwrap();
            let (n,): (i64,) = redis::pipe()
                .atomic()
                .incr(&key, 1)
                .query_async(&mut *conn)
                .await
                .unwrap();
            assert_eq!(n, 1);
            redis::cmd("WATCH")
                .arg(&key)
                .exec_async(&mut *conn)
                .await
                .unwrap();
            redis::cmd("MULTI").exec_async(&mut *conn).await.unwrap();
            redis::cmd("INCR")
                .arg(&key)
                .exec_async(&mut *conn)
                .await
                .unwrap();
            let _: Vec<i64> = redis::cmd("EXEC").query_async(&mut *conn).await.unwrap();
            assert!(!conn.is_dirty());
        }
        assert_eq!(id(&pool).await, first, "a clean connection is reused");

        // WATCH without EXEC.
        {
            let mut conn = pool.get().await.unwrap();
            redis::cmd("WATCH")
                .arg(&key)
                .exec_async(&mut *conn)
                .await
                .unwrap();
            assert!(conn.is_dirty());
        }
        let second = id(&pool).await;
        assert_ne!(second, first, "a connection left watching is closed");

        // MULTI without EXEC: the next user would have queued its commands.
        {
            let mut conn = pool.get().await.unwrap();
            redis::cmd("MULTI").exec_async(&mut *conn).await.unwrap();
            let queued: String = redis::cmd("INCR")
                .arg(&key)
                .query_async(&mut *conn)
                .await
                .unwrap();
            assert_eq!(queued, "QUEUED");
        }
        let third = id(&pool).await;
        assert_ne!(third, second, "a connection left in MULTI is closed");
        let n: i64 = pool.get().await.unwrap().get(&key).await.unwrap();
        assert_eq!(n, 2, "the abandoned transaction never ran");

        // Another database.
        {
            let mut conn = pool.get().await.unwrap();
            redis::cmd("SELECT")
                .arg(1)
                .exec_async(&mut *conn)
                .await
                .unwrap();
        }
        let fourth = id(&pool).await;
        assert_ne!(fourth, third, "a connection on another database is closed");

        // A subscription: the server forgets it once the connection is closed.
        {
            let mut conn = pool.get().await.unwrap();
            let _ = redis::cmd("SUBSCRIBE")
                .arg(&channel)
                .query_async::<redis::Value>(&mut *conn)
                .await;
            assert!(conn.is_dirty());
        }
        let fifth = id(&pool).await;
        assert_ne!(fifth, fourth, "a subscribed connection is closed");
        let mut conn = pool.get().await.unwrap();
        let mut subscribers = -1;
        for _ in 0..100 {
            let (_, n): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut *conn)
                .await
                .unwrap();
            subscribers = n;
            if n == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(subscribers, 0, "the subscription ended with its connection");
        drop(conn);

        // A cut exchange: the caller stopped waiting for a reply.
        {
            let mut conn = pool.get().await.unwrap();
            let mut blpop = redis::cmd("BLPOP");
            blpop.arg(unique("empty")).arg(5);
            let blocked = blpop.query_async::<redis::Value>(&mut *conn);
            let cut = tokio::time::timeout(Duration::from_millis(50), blocked).await;
            assert!(cut.is_err(), "BLPOP on an empty list blocks");
            assert!(conn.is_dirty());
        }
        let mut conn = pool.get().await.unwrap();
        assert_ne!(
            conn.id(),
            fifth,
            "a connection with a reply pending is closed"
        );
        let n: i64 = conn.get(&key).await.unwrap();
        assert_eq!(n, 2, "the new connection answers its own command");
        let () = conn.del(&key).await.unwrap();
        assert_eq!(pool.stats().connections, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_against_a_tls_server() {
    let Some((server, ca_pem)) = own_tls_server() else {
        return;
    };
    bounded(Duration::from_secs(30), async {
        let url = format!("rediss://localhost:{}/2", server.port());
        let pool = Config::from_url(&url)
            .unwrap()
            .builder()
            .unwrap()
            .tls_config(client_config(&ca_pem))
            .build()
            .unwrap();
        let mut conn = pool.get().await.unwrap();
        let () = conn.set("tls-key", "over TLS").await.unwrap();
        let got: String = conn.get("tls-key").await.unwrap();
        assert_eq!(got, "over TLS");
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut *conn)
            .await
            .unwrap();
        assert_eq!(field(&info, "db"), "2");
        drop(conn);

        // A CA that did not sign the server's certificate: the handshake fails.
        let (other_ca, _, _) = certificates();
        let mut config = Config::from_url(&url).unwrap();
        config.tls_config = Some(client_config(&other_ca));
        let err = config
            .create_pool()
            .unwrap()
            .get()
            .await
            .expect_err("rejected");
        assert!(err.is_connect(), "{err}");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert!(source.unwrap_or_default().contains("TLS"), "{err:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_costs_at_most_two_errors_per_connection() {
    const MAX_SIZE: usize = 8;
    // One task per connection: each may lose its connection to the kill (one error) and
    // find the server still restarting once (a second).
    const TASKS: usize = MAX_SIZE;
    const ROUNDS: usize = 300;
    let Some(server) = own_server(&[]) else {
        return;
    };
    let server = Arc::new(std::sync::Mutex::new(server));
    bounded(Duration::from_secs(60), async {
        let url = server.lock().unwrap().url();
        let pool = Config::from_url(&url)
            .unwrap()
            .builder()
            .unwrap()
            .max_size(MAX_SIZE)
            .wait_timeout(Some(Duration::from_secs(10)))
            .build()
            .unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let kill_tx = Arc::new(std::sync::Mutex::new(Some(kill_tx)));
        let killer = {
            let server = server.clone();
            tokio::spawn(async move {
                if kill_rx.await.is_ok() {
                    // SIGKILL, then a new server on the same port.
                    tokio::task::spawn_blocking(move || server.lock().unwrap().restart())
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        };
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, done, kill_tx) = (pool.clone(), done.clone(), kill_tx.clone());
                tokio::spawn(async move {
                    let key = unique(&format!("kill:{t}"));
                    let (mut errors, mut last_ok) = (0, false);
                    for _ in 0..ROUNDS {
                        let result: Result<String, Box<dyn std::error::Error + Send + Sync>> =
                            async {
                                let mut conn = pool.get().await?;
                                let () = conn.set(&key, "v").await?;
                                Ok(conn.get(&key).await?)
                            }
                            .await;
                        match result {
                            Ok(v) => {
                                assert_eq!(v, "v");
                                last_ok = true;
                                if done.fetch_add(1, Ordering::SeqCst) + 1 == TASKS * ROUNDS / 4 {
                                    if let Some(tx) = kill_tx.lock().unwrap().take() {
                                        let _ = tx.send(());
                                    }
                                }
                            }
                            Err(e) => {
                                eprintln!("task {t}: {e}");
                                errors += 1;
                                last_ok = false;
                                // Like any client after an error: a pause before trying again.
                                tokio::time::sleep(Duration::from_millis(500)).await;
                            }
                        }
                    }
                    (errors, last_ok)
                })
            })
            .collect();
        let mut errors = 0;
        for t in tasks {
            let (e, last_ok) = t.await.unwrap();
            errors += e;
            assert!(last_ok, "every task ends with a success");
        }
        killer.await.unwrap();
        let stats = pool.stats();
        assert!(errors >= 1, "the kill happened mid-run: {stats:?}");
        assert!(errors <= 2 * MAX_SIZE, "{errors} errors: {stats:?}");
        assert!(stats.connections <= MAX_SIZE);
    })
    .await;
}

#[tokio::test]
async fn a_dropped_get_inside_a_transaction_leaves_nothing_behind() {
    let Some(url) = live_url() else { return };
    bounded(Duration::from_secs(30), async {
        let pool = one_connection(&url);
        let key = unique("discard");
        let mut conn = pool.get().await.unwrap();
        redis::cmd("MULTI").exec_async(&mut *conn).await.unwrap();
        let _: String = redis::cmd("SET")
            .arg(&key)
            .arg("x")
            .query_async(&mut *conn)
            .await
            .unwrap();
        Pooled::discard(conn);
        let mut conn = pool.get().await.unwrap();
        let exists: bool = conn.exists(&key).await.unwrap();
        assert!(!exists, "the discarded transaction never ran");
    })
    .await;
}
