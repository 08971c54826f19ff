//! A netpool manager over `tokio-postgres`, with a recycling choice like
//! deadpool-postgres's.
//!
//! `connect` opens a session and spawns its connection task on tokio; `has_broken` is
//! [`Client::is_closed`] (the task ended: the server went away or closed the session);
//! `is_valid` depends on the [`RecyclingMethod`].
//!
//! netpool calls `is_valid` when `test_on_check_out` is on and the connection sat idle at
//! least `check_idle_after`; with `check_idle_after(None)` it runs on every checkout, which
//! is what deadpool-postgres does with its `recycle`.
//!
//! # Examples
//!
//! ```no_run
//! use netpool_core::Pool;
//! use netpool_clients::postgres::{PgManager, RecyclingMethod};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = PgManager::from_url("postgres://postgres@127.0.0.1:5432/test")?
//!     .recycling_method(RecyclingMethod::Verified);
//! let pool = Pool::builder().max_size(8).build(manager)?;
//! let client = pool.get().await?;
//! let row = client.query_one("SELECT $1::int4 + 1", &[&41i32]).await?;
//! assert_eq!(row.get::<_, i32>(0), 42);
//! # Ok(())
//! # }
//! ```

use tokio_postgres::{Client, Config, Error, NoTls};

use netpool_core::{Hooks, Manager, Meta};

/// The default PostgreSQL URL for examples and tests: `NETPOOL_TEST_POSTGRES`, or
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn postgres_url() -> String {
    std::env::var("NETPOOL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// What `is_valid` does with a connection that is about to be reused, as in
/// deadpool-postgres.
#[non_exhaustive]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum RecyclingMethod {
    /// Only checks [`Client::is_closed`]: no round trip. A session the server dropped
    /// while it sat idle is noticed only if its connection task has seen the EOF.
    Fast,
    /// Also runs an empty simple query: one round trip that proves the session answers.
    #[default]
    Verified,
    /// Runs `DISCARD ALL`: one round trip that also resets the session (temporary tables,
    /// prepared statements, `SET`s, advisory locks, `LISTEN`s), so no state leaks from one
    /// user of the connection to the next. `Statement`s prepared earlier on the client
    /// become invalid.
    Clean,
}

/// Opens `tokio-postgres` sessions to one server. Requires a tokio runtime (the
/// connection task is spawned with `tokio::spawn`).
#[derive(Debug, Clone)]
pub struct PgManager {
    config: Config,
    method: RecyclingMethod,
}

impl PgManager {
    /// A manager with `config` and [`RecyclingMethod::Verified`]. Opens nothing yet.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            method: RecyclingMethod::default(),
        }
    }

    /// A manager for a `postgres://` URL (or a key-value connection string).
    ///
    /// # Errors
    ///
    /// An [`Error`] if the URL does not parse.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        Ok(Self::new(url.parse()?))
    }

    /// Sets what `is_valid` does (default [`RecyclingMethod::Verified`]).
    #[must_use]
    pub fn recycling_method(mut self, method: RecyclingMethod) -> Self {
        self.method = method;
        self
    }

    /// The connection settings.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Manager for PgManager {
    type Connection = Client;
    type Error = Error;

    async fn connect(&self) -> Result<Client, Error> {
        let (client, connection) = self.config.connect(NoTls).await?;
        // The task ends when the session ends; the client then reports is_closed(), and
        // its pending and later queries fail with the error, so the task drops it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    async fn is_valid(&self, client: &mut Client) -> Result<(), Error> {
        match self.method {
            RecyclingMethod::Fast if client.is_closed() => {
                // Make the error the real one: a query on a closed client fails at once.
                client.simple_query("").await.map(drop)
            }
            RecyclingMethod::Fast => Ok(()),
            RecyclingMethod::Verified => client.simple_query("").await.map(drop),
            RecyclingMethod::Clean => client.batch_execute("DISCARD ALL").await,
        }
    }

    fn has_broken(&self, client: &mut Client) -> bool {
        client.is_closed()
    }
}

/// Setup hooks for [`PgManager`] sessions: on every new session, `SET application_name`
/// (shown in `pg_stat_activity`) and `PREPARE` for each named statement (SQL-level prepared
/// statements, run with `EXECUTE name(args)`); and, if asked for, `RESET ALL` on every
/// checkout (undoing the `SET`s a previous user made), followed by the
/// `application_name` again.
///
/// A statement that does not prepare rejects every new session: `get` returns
/// [`Error::Connect`](netpool_core::Error::Connect) with the server's error.
///
/// ```no_run
/// use netpool_core::Pool;
/// use netpool_clients::postgres::{PgManager, PgSetup};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let setup = PgSetup::new("billing")
///     .prepare("add_one", "SELECT $1::int4 + 1")
///     .reset_on_checkout(true);
/// let pool = Pool::builder()
///     .hooks(setup)
///     .build(PgManager::from_url("postgres://postgres@127.0.0.1:5432/test")?)?;
/// let client = pool.get().await?;
/// client.batch_execute("EXECUTE add_one(41)").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PgSetup {
    application_name: String,
    statements: Vec<(String, String)>,
    reset: bool,
}

impl PgSetup {
    /// Hooks that set `application_name` on every new session.
    pub fn new(application_name: impl Into<String>) -> Self {
        Self {
            application_name: application_name.into(),
            statements: Vec::new(),
            reset: false,
        }
    }

    /// Also prepares `sql` as statement `name` (an SQL identifier) on every new session.
    #[must_use]
    pub fn prepare(mut self, name: impl Into<String>, sql: impl Into<String>) -> Self {
        self.statements.push((name.into(), sql.into()));
        self
    }

    /// Also runs `RESET ALL` (then sets `application_name` again) on every checkout: one
    /// round trip per checkout.
    #[must_use]
    pub fn reset_on_checkout(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }

    fn set_name(&self) -> String {
        format!(
            "SET application_name = '{}'",
            self.application_name.replace('\'', "''")
        )
    }
}

impl Hooks for PgSetup {
    type Manager = PgManager;

    async fn on_connect(&self, client: &mut Client) -> Result<(), Error> {
        let mut batch = self.set_name();
        for (name, sql) in &self.statements {
            batch.push_str(&format!(
                "; PREPARE \"{}\" AS {sql}",
                name.replace('"', "\"\"")
            ));
        }
        client.batch_execute(&batch).await
    }

    fn runs_on_checkout(&self) -> bool {
        self.reset
    }

    async fn on_checkout(&self, client: &mut Client, _meta: Meta) -> Result<(), Error> {
        client
            .batch_execute(&format!("RESET ALL; {}", self.set_name()))
            .await
    }
}
