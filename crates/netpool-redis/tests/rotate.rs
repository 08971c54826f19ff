//! Credentials rotated on a running pool: the password changes on a redis-server of the
//! test's own, `RedisManager::set_credentials` and `refresh()` move every connection to
//! it while 16 tasks send `PING`, and no request fails.

mod common;

use std::time::Duration;

use netpool_testkit::Load;

use common::{bounded, own_server_with_password};
use netpool_redis::{Config, Password};

const OLD: &str = "Old-Secret-4471";
const NEW: &str = "New-Secret-9032";

const LIMIT: Duration = Duration::from_secs(30);

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
    let load = Load::new();
    let tasks: Vec<_> = load
        .clients(16, &pool, |pool| async move {
            match pool.get().await {
                Ok(mut conn) => redis::cmd("PING")
                    .query_async::<String>(&mut *conn)
                    .await
                    .is_ok(),
                Err(_) => false,
            }
        })
        .into_iter()
        .map(tokio::spawn)
        .collect();
    let change = async {
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
    };
    let clients = netpool_testkit::harness::join_all(tasks);
    bounded(LIMIT, load.refresh_under(&pool, change, clients)).await;
    // Only the new password opens a connection now.
    let mut conn = pool.get().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut *conn).await.unwrap();
    assert_eq!(pong, "PONG");
}
