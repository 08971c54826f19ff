//! The PostgreSQL pools and workloads the `postgres` bench and the `pg_driver` example
//! share: netpool-postgres, deadpool-postgres and bb8-postgres as their users build them,
//! each of 16 tokio-postgres sessions over plain TCP, opened before they are measured.

use std::future::Future;

use tokio_postgres::{Client, NoTls, Statement};

use super::live::{One, one};

/// Sessions per pool.
pub(crate) const MAX_SIZE: usize = 16;

/// The prepared workload's statement.
pub(crate) const PREPARED: &str = "SELECT $1::int8 + 1";

/// bb8's pool of tokio-postgres sessions.
pub(crate) type Bb8Pool = bb8::Pool<bb8_postgres::PostgresConnectionManager<NoTls>>;

/// The server: `NETPOOL_TEST_POSTGRES`, or `postgres://postgres@127.0.0.1:5432/test`.
pub(crate) fn url() -> String {
    std::env::var("NETPOOL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `SELECT 1` on a fresh session (through netpool-postgres), within 3 s.
pub(crate) async fn probe(url: &str) -> Result<(), String> {
    let mut config = netpool_postgres::Config::from_url(url).map_err(|e| e.to_string())?;
    config.max_size = Some(1);
    config.ssl_mode = Some(netpool_postgres::SslMode::Disable);
    let pool = config.create_pool().map_err(|e| e.to_string())?;
    let session = tokio::time::timeout(std::time::Duration::from_secs(3), pool.get())
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    session
        .simple_query("SELECT 1")
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Checks out every one of `$pool`'s `MAX_SIZE` sessions at once (so that each is open)
/// and puts [`PREPARED`] in each one's statement cache.
macro_rules! open_and_prepare {
    ($pool:expr, $what:literal) => {{
        let mut held = Vec::with_capacity(MAX_SIZE);
        for _ in 0..MAX_SIZE {
            held.push($pool.get().await.expect($what));
        }
        for session in &held {
            session.prepare_cached(PREPARED).await.expect("prepare");
        }
    }};
}

/// netpool-postgres with its defaults (`RecyclingMethod::Fast`), every session open and
/// [`PREPARED`] in each one's statement cache.
pub(crate) async fn netpool(url: &str) -> netpool_postgres::Pool {
    let mut config = netpool_postgres::Config::from_url(url).expect("URL");
    config.max_size = Some(MAX_SIZE);
    config.ssl_mode = Some(netpool_postgres::SslMode::Disable);
    let pool = config.create_pool().expect("netpool-postgres pool");
    open_and_prepare!(pool, "netpool get");
    pool
}

/// deadpool-postgres with its defaults (`RecyclingMethod::Fast`), every session open and
/// [`PREPARED`] in each one's statement cache.
pub(crate) async fn deadpool(url: &str) -> deadpool_postgres::Pool {
    let mut config = deadpool_postgres::Config::new();
    config.url = Some(url.to_owned());
    config.pool = Some(deadpool_postgres::PoolConfig::new(MAX_SIZE));
    let pool = config
        .create_pool(Some(deadpool_postgres::Runtime::Tokio1), NoTls)
        .expect("deadpool-postgres pool");
    open_and_prepare!(pool, "deadpool get");
    pool
}

/// bb8-postgres, testing sessions on checkout (its default) or not, every session open.
pub(crate) async fn bb8(url: &str, test_on_check_out: bool) -> Bb8Pool {
    let config: tokio_postgres::Config = url.parse().expect("URL");
    let pool = bb8::Pool::builder()
        .max_size(MAX_SIZE as u32)
        .test_on_check_out(test_on_check_out)
        .build(bb8_postgres::PostgresConnectionManager::new(config, NoTls))
        .await
        .expect("bb8 pool");
    let mut held = Vec::with_capacity(MAX_SIZE);
    for _ in 0..MAX_SIZE {
        held.push(pool.get().await.expect("bb8 get"));
    }
    drop(held);
    pool
}

/// What one operation runs on its session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Workload {
    /// `SELECT 1` (the simple query protocol: one round trip).
    Select1,
    /// [`PREPARED`] with an int8 parameter, prepared as the pool's users would: through
    /// the statement cache where the pool has one (a hit, then one round trip), else
    /// prepared on every use (two round trips).
    Prepared,
}

impl Workload {
    /// Runs the workload on `client`, with `n` as the parameter; `prepare` gives the
    /// prepared statement (called by `Prepared` only: a future held unpolled would make
    /// every operation's future larger, and larger futures cost copies).
    async fn run<F>(self, client: &Client, prepare: impl FnOnce() -> F, n: u64)
    where
        F: Future<Output = Result<Statement, tokio_postgres::Error>>,
    {
        match self {
            Self::Select1 => {
                client.simple_query("SELECT 1").await.expect("SELECT 1");
            }
            Self::Prepared => {
                let statement = prepare().await.expect("prepare");
                let n = n as i64;
                let row = client.query_one(&statement, &[&n]).await.expect("query");
                assert_eq!(row.get::<_, i64>(0), n + 1);
            }
        }
    }
}

/// The workload through netpool-postgres (`prepare_cached`).
pub(crate) fn netpool_one(pool: &netpool_postgres::Pool, workload: Workload) -> One {
    one(pool.clone(), move |pool, n| async move {
        let session = pool.get().await.expect("netpool get");
        workload
            .run(&session, || session.prepare_cached(PREPARED), n)
            .await;
    })
}

/// The workload through deadpool-postgres (`prepare_cached`).
pub(crate) fn deadpool_one(pool: &deadpool_postgres::Pool, workload: Workload) -> One {
    one(pool.clone(), move |pool, n| async move {
        let session = pool.get().await.expect("deadpool get");
        workload
            .run(&session, || session.prepare_cached(PREPARED), n)
            .await;
    })
}

/// The workload through bb8-postgres (no statement cache: `prepare` on every use).
pub(crate) fn bb8_one(pool: &Bb8Pool, workload: Workload) -> One {
    one(pool.clone(), move |pool, n| async move {
        let session = pool.get().await.expect("bb8 get");
        workload
            .run(&session, || session.prepare(PREPARED), n)
            .await;
    })
}
