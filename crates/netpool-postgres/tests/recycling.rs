//! Recycling methods, the statement cache and transactions left open, each observed on
//! the live server (`NETPOOL_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`): `pg_stat_activity` shows the last query a
//! session ran and its state, `pg_locks` its advisory locks, `pg_prepared_statements`
//! its prepared statements.
//!
//! Every pool has one connection, so each checkout gets the session the test set up, and
//! its own `application_name`, so the admin session finds it (and only it).
//!
//! Under `CI=true` a missing server fails every test; elsewhere they skip, saying so on
//! stderr.

mod common;

use std::time::Duration;

use netpool_postgres::tokio_postgres::{Client, SimpleQueryMessage};
use netpool_postgres::{CLEAN_SQL, Config, Pool, RecyclingMethod};

use common::{Table, admin_session, bounded, postgres_url, server_available, unique};

const LIMIT: Duration = Duration::from_secs(60);

/// The admin session, or `None` (skip) when the server is not there.
async fn live() -> Option<Client> {
    match admin_session().await {
        Ok(c) => Some(c),
        Err(e) => {
            server_available("PostgreSQL", &postgres_url(), Err(e));
            None
        }
    }
}

/// A one-connection pool named `app`, recycling with `method`.
fn pool(app: &str, method: RecyclingMethod, cache: Option<usize>) -> Pool {
    let mut config = Config::from_url(&postgres_url()).expect("a valid URL");
    config.application_name = Some(app.to_owned());
    config.recycling_method = method;
    config.max_size = Some(1);
    config.statement_cache_size = cache;
    config.create_pool().expect("a valid config")
}

/// `(query, state)` of the session named `app`, as the server shows it.
async fn activity(admin: &Client, app: &str) -> (String, String) {
    let row = admin
        .query_one(
            "SELECT query, state FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .expect("one session named app");
    (row.get(0), row.get(1))
}

/// The first column of the first row of a simple query (no prepared statement made).
async fn simple_value(client: &Client, sql: &str) -> String {
    client
        .simple_query(sql)
        .await
        .expect("simple query")
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_recycling_method_shows_on_the_server() {
    let Some(admin) = live().await else { return };
    bounded(LIMIT, async {
        let custom = "SELECT 'netpool custom recycle'";
        // The last user's query: session state the methods may or may not reset.
        let last = "SET work_mem = '7MB'; SELECT pg_advisory_lock(4242)";
        for (method, expected_query, kept) in [
            (RecyclingMethod::Fast, last, true),
            (RecyclingMethod::Verified, "", true),
            (RecyclingMethod::Clean, CLEAN_SQL, false),
            (RecyclingMethod::Custom(custom.to_owned()), custom, true),
        ] {
            let app = unique("netpool_method");
            let pool = pool(&app, method.clone(), None);
            let client = pool.get().await.expect("get");
            client.batch_execute(last).await.expect("SET and lock");
            drop(client);
            // The checkout runs the method on the same session.
            let client = pool.get().await.expect("get");
            let (query, state) = activity(&admin, &app).await;
            assert_eq!(
                query, expected_query,
                "{method:?}: the last query on the server"
            );
            assert_eq!(state, "idle", "{method:?}");
            let locks: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE a.application_name = $1 AND l.locktype = 'advisory'",
                    &[&app],
                )
                .await
                .expect("pg_locks")
                .get(0);
            assert_eq!(locks > 0, kept, "{method:?}: advisory lock held: {locks}");
            let work_mem = simple_value(&client, "SHOW work_mem").await;
            assert_eq!(work_mem == "7MB", kept, "{method:?}: work_mem {work_mem}");
            assert_eq!(
                pool.stats().connections_created,
                1,
                "{method:?}: same session"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_cache_counts_hits_and_stays_bounded() {
    let Some(_admin) = live().await else { return };
    bounded(LIMIT, async {
        let pool = pool(&unique("netpool_cache"), RecyclingMethod::Clean, Some(2));
        for i in 0..10i32 {
            // Clean runs between checkouts: the statements survive it.
            let client = pool.get().await.expect("get");
            let statement = client
                .prepare_cached("SELECT $1::int4 * 2")
                .await
                .expect("prepare");
            let row = client.query_one(&statement, &[&i]).await.expect("query");
            assert_eq!(row.get::<_, i32>(0), i * 2);
        }
        let client = pool.get().await.expect("get");
        let cache = client.statement_cache();
        assert_eq!(
            (cache.hits(), cache.misses(), cache.len()),
            (9, 1, 1),
            "{cache:?}"
        );
        let on_server = simple_value(&client, "SELECT count(*) FROM pg_prepared_statements").await;
        assert_eq!(on_server, "1", "one statement prepared on the session");

        // Bounded: a third statement evicts the least recently used one, which is closed
        // on the server too.
        client.prepare_cached("SELECT 2").await.expect("prepare");
        client
            .prepare_cached("SELECT $1::int4 * 2")
            .await
            .expect("prepare");
        client.prepare_cached("SELECT 3").await.expect("prepare");
        assert_eq!(cache.len(), 2, "{cache:?}");
        let on_server = simple_value(&client, "SELECT count(*) FROM pg_prepared_statements").await;
        assert_eq!(on_server, "2", "the evicted statement was closed");
        client
            .prepare_cached("SELECT $1::int4 * 2")
            .await
            .expect("still cached");
        assert_eq!(cache.hits(), 11, "{cache:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_prepared_statements_empties_the_cache() {
    let Some(_admin) = live().await else { return };
    bounded(LIMIT, async {
        // A custom recycle with DISCARD ALL, and a user's DEALLOCATE ALL.
        let method = RecyclingMethod::Custom("DISCARD ALL".to_owned());
        let pool = pool(&unique("netpool_discard"), method, None);
        let client = pool.get().await.expect("get");
        client.prepare_cached("SELECT 1").await.expect("prepare");
        // A type the client looks up with its own cached statement.
        client
            .query_one("SELECT $1::int4[]", &[&vec![1i32]])
            .await
            .expect("array");
        drop(client);
        let client = pool.get().await.expect("get (DISCARD ALL ran)");
        assert_eq!(client.statement_cache().len(), 0, "emptied by the recycle");
        let statement = client
            .prepare_cached("SELECT 1")
            .await
            .expect("prepared again");
        client.query_one(&statement, &[]).await.expect("usable");
        client
            .query_one("SELECT $1::int4[]", &[&vec![2i32]])
            .await
            .expect("the type cache was emptied too");
        client
            .batch_execute("DEALLOCATE ALL")
            .await
            .expect("DEALLOCATE");
        let statement = client
            .prepare_cached("SELECT 1")
            .await
            .expect("prepared again");
        client
            .query_one(&statement, &[])
            .await
            .expect("usable after DEALLOCATE ALL");
        let cache = client.statement_cache();
        assert_eq!((cache.hits(), cache.misses()), (0, 3), "{cache:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_open_never_reaches_the_next_user() {
    let Some(admin) = live().await else { return };
    bounded(LIMIT, async {
        let table = Table::create(&admin, "netpool_tx", "id int").await;
        let t = &table.name;
        let app = unique("netpool_tx");
        // Fast: no round trip of its own, so only the open transaction makes one.
        let pool = pool(&app, RecyclingMethod::Fast, None);
        let begin = format!("BEGIN; INSERT INTO {t} VALUES (1)");
        let failed = format!("{begin}; SELECT 1/0");
        let ways = [
            ("BEGIN by hand", begin.as_str()),
            ("a failed transaction", failed.as_str()),
            ("a dropped Transaction", ""),
            ("a cancelled query", begin.as_str()),
        ];
        for (i, (what, sql)) in ways.into_iter().enumerate() {
            let mut client = pool.get().await.expect("get");
            match i {
                2 => {
                    let tx = client.transaction().await.expect("BEGIN");
                    tx.execute(&format!("INSERT INTO {t} VALUES (1)"), &[])
                        .await
                        .expect("INSERT");
                    drop(tx); // its ROLLBACK is queued, not awaited
                }
                3 => {
                    client.batch_execute(sql).await.expect("BEGIN");
                    let slow = client.batch_execute("SELECT pg_sleep(0.3)");
                    assert!(
                        tokio::time::timeout(Duration::from_millis(20), slow)
                            .await
                            .is_err()
                    );
                }
                _ => {
                    let _ = client.batch_execute(sql).await;
                }
            }
            drop(client);
            if i == 0 {
                let (_, state) = activity(&admin, &app).await;
                assert_eq!(state, "idle in transaction", "{what}: left open");
            }
            let client = pool.get().await.expect("get");
            let (_, state) = activity(&admin, &app).await;
            assert_eq!(state, "idle", "{what}: ended before the checkout");
            client
                .execute(&format!("INSERT INTO {t} VALUES (2)"), &[])
                .await
                .expect("the next user's INSERT");
            drop(client);
            let ids: Vec<i32> = admin
                .query(&format!("SELECT id FROM {t}"), &[])
                .await
                .expect("SELECT")
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(
                ids,
                vec![2],
                "{what}: rolled back, and the next user's row committed"
            );
            admin
                .batch_execute(&format!("DELETE FROM {t}"))
                .await
                .expect("DELETE");
        }
        assert_eq!(
            pool.stats().connections_created,
            1,
            "rolled back, not reconnected"
        );
    })
    .await;
}
