//! A password rotated on a running pool: `ALTER USER ... PASSWORD` on a PostgreSQL the
//! test starts itself (SCRAM over TCP), `PgManager::set_password` and `refresh()` move
//! every session to it while 16 tasks query, and no query fails.
//!
//! Without `initdb`/`pg_ctl` the test skips loudly; under `CI=true` it fails.

mod common;

use std::time::Duration;

use netpool_testkit::Load;

use netpool_postgres::{Config, Password};

use common::bounded;
use common::server::{Options, start_or_skip};

const OLD: &str = "Old-pg-Secret-5521";
const NEW: &str = "New-pg-Secret-8610";

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_moves_every_session_without_a_failure() {
    let Some(server) = start_or_skip(Options {
        tls: false,
        password: Some(OLD.to_owned()),
    }) else {
        return;
    };
    let url = server.url("127.0.0.1", Some(OLD), "");
    let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
    let load = Load::new();
    let tasks: Vec<_> = load
        .clients(16, &pool, |pool| async move {
            match pool.get().await {
                Ok(client) => client.query_one("SELECT 1", &[]).await.is_ok(),
                Err(_) => false,
            }
        })
        .into_iter()
        .map(tokio::spawn)
        .collect();
    let change = async {
        // The password changes on the server; open sessions stay authenticated.
        let client = pool.get().await.unwrap();
        client
            .batch_execute(&format!("ALTER USER postgres PASSWORD '{NEW}'"))
            .await
            .unwrap();
        drop(client);
        pool.manager().set_password(Some(Password::new(NEW)));
    };
    let clients = netpool_testkit::harness::join_all(tasks);
    bounded(LIMIT, load.refresh_under(&pool, change, clients)).await;
}
