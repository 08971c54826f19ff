//! Credentials rotated on a running pool: the password changes on a redis-server of the
//! test's own, `RedisManager::set_credentials` and `refresh()` move every connection to
//! it while 16 tasks send `PING`, and no request fails.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{bounded, own_server_with_password};
use netpool_redis::{Config, Password};

const OLD: &str = "Old-Secret-4471";
const NEW: &str = "New-Secret-9032";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_moves_every_connection_without_a_failure() {
    let Some(server) = own_server_with_password(OLD) else {
        return;
    };
    let url = format!("redis://:{OLD}@127.0.0.1:{}", server.port());
    let pool = Config::from_url(&url)
        .unwrap()
        .builder()
        .unwrap()
        .max_size(4)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let (pings, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (pool, pings, failures, stop) =
                (pool.clone(), pings.clone(), failures.clone(), stop.clone());
            tokio::spawn(async move {
                for _ in 0..100_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let ponged = match pool.get().await {
                        Ok(mut conn) => redis::cmd("PING")
                            .query_async::<String>(&mut *conn)
                            .await
                            .is_ok(),
                        Err(_) => false,
                    };
                    let counter = if ponged { &pings } else { &failures };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    bounded(Duration::from_secs(30), async {
        let wait_pings = |n: u64| {
            let pings = pings.clone();
            async move {
                while pings.load(Ordering::SeqCst) < n {
                    tokio::task::yield_now().await;
                }
            }
        };
        wait_pings(200).await;
        let created = pool.stats().connections_created;
        // The server's password changes (sent on an authenticated connection); the open
        // connections stay authenticated.
        let mut conn = pool.get().await.unwrap();
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg(NEW)
            .query_async(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        pool.manager()
            .set_credentials(None, Some(Password::new(NEW)));
        pool.refresh();
        let after = pings.load(Ordering::SeqCst);
        wait_pings(after + 500).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        let stats = pool.stats();
        assert_eq!(failures.load(Ordering::SeqCst), 0, "{stats:?}");
        assert!(stats.closed_refreshed >= 1, "{stats:?}");
        assert!(stats.connections_created > created, "{stats:?}");
        eprintln!(
            "{} PINGs, 0 failed; {} connections replaced ({stats:?})",
            pings.load(Ordering::SeqCst),
            stats.closed_refreshed
        );
    })
    .await;
    // Only the new password opens a connection now.
    let mut conn = pool.get().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut *conn).await.unwrap();
    assert_eq!(pong, "PONG");
}
