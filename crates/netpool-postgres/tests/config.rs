//! `Config` from a URL, from libpq's environment variables and from serde, without a
//! server: how fields combine, what the errors say, and that the password never shows.

use netpool_postgres::{Config, ConfigError, CreatePoolError, Password, RecyclingMethod, SslMode};

const SECRET: &str = "pa55-w0rd-xyz";

#[test]
fn env_variables_fill_the_libpq_fields() {
    let env = |name: &str| -> Option<String> {
        Some(match name {
            "PGHOST" => "db.example,db2.example".into(),
            "PGPORT" => "6543".into(),
            "PGUSER" => "app".into(),
            "PGPASSWORD" => SECRET.into(),
            "PGDATABASE" => "orders".into(),
            "PGSSLMODE" => "verify-full".into(),
            "PGSSLROOTCERT" => "/etc/ca.pem".into(),
            "PGAPPNAME" => "billing".into(),
            "PGOPTIONS" => "-c statement_timeout=5s".into(),
            "PGCONNECT_TIMEOUT" => "4".into(),
            _ => return None,
        })
    };
    let config = Config::from_env_with(env).unwrap();
    assert_eq!(config.host.as_deref(), Some("db.example,db2.example"));
    assert_eq!(config.port, Some(6543));
    assert_eq!(config.user.as_deref(), Some("app"));
    assert_eq!(config.password, Some(Password::new(SECRET)));
    assert_eq!(config.dbname.as_deref(), Some("orders"));
    assert_eq!(config.ssl_mode, Some(SslMode::VerifyFull));
    assert_eq!(
        config.ssl_root_cert.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(config.application_name.as_deref(), Some("billing"));
    assert_eq!(config.options.as_deref(), Some("-c statement_timeout=5s"));
    assert_eq!(config.connect_timeout, Some(4));
    let shown = format!("{config} {config:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("***"), "{shown}");

    let err = Config::from_env_with(|n| (n == "PGPORT").then(|| "5432x".into())).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Parameter { name, .. } if name == "PGPORT"),
        "{err:?}"
    );
    assert!(Config::from_env_with(|_| None).unwrap() == Config::default());
}

#[test]
fn explicit_fields_win_over_the_url() {
    let mut config = Config::default();
    config.url = Some(format!(
        "postgres://u:{SECRET}@h:1/db?sslmode=require&password={SECRET}"
    ));
    config.port = Some(2);
    config.ssl_mode = Some(SslMode::Disable);
    let shown = format!("{config} {config:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert_eq!(
        config.to_string(),
        "postgres://u:***@h:2/db?sslmode=disable"
    );
    // The manager opens nothing; its Debug hides the password too.
    let manager = config.manager().unwrap();
    assert!(!format!("{manager:?}").contains(SECRET));
}

#[test]
fn serde_fills_any_subset() {
    let config: Config = serde_json::from_str(&format!(
        r#"{{"host": "10.1.2.3", "port": 5433, "user": "svc", "password": "{SECRET}",
            "sslmode": "verify-ca", "sslrootcert": "/ca.pem",
            "recycling_method": {{"custom": "DISCARD ALL"}},
            "statement_cache_size": 16, "max_size": 32}}"#
    ))
    .unwrap();
    assert_eq!(config.host.as_deref(), Some("10.1.2.3"));
    assert_eq!(config.port, Some(5433));
    assert_eq!(config.password.as_ref().map(Password::expose), Some(SECRET));
    assert_eq!(config.ssl_mode, Some(SslMode::VerifyCa));
    assert_eq!(
        config.recycling_method,
        RecyclingMethod::Custom("DISCARD ALL".into())
    );
    assert_eq!(
        (config.statement_cache_size, config.max_size),
        (Some(16), Some(32))
    );
    assert!(!format!("{config:?}").contains(SECRET));

    let config: Config =
        serde_json::from_str(r#"{"url": "postgres://a@b/c", "recycling_method": "clean"}"#)
            .unwrap();
    assert_eq!(config.recycling_method, RecyclingMethod::Clean);
    assert_eq!(config.url.as_deref(), Some("postgres://a@b/c"));
}

#[tokio::test]
async fn create_pool_checks_before_it_connects() {
    // A missing root certificate, a bad URL, max_size 0: errors at once, nothing opened.
    let no_root = Config::from_url("postgres://u@localhost/db?sslmode=verify-ca").unwrap();
    assert!(matches!(
        no_root.create_pool(),
        Err(CreatePoolError::Config(ConfigError::MissingRootCert {
            mode: SslMode::VerifyCa
        }))
    ));
    let missing_file = Config::from_url(
        "postgres://u@localhost/db?sslmode=verify-full&sslrootcert=/nonexistent.pem",
    )
    .unwrap();
    let err = missing_file.create_pool().unwrap_err();
    assert!(err.to_string().contains("/nonexistent.pem"), "{err}");
    let mut bad_url = Config::default();
    bad_url.url = Some(format!("postgres://u:{SECRET}@h:x/db"));
    let err = bad_url.create_pool().unwrap_err();
    assert!(!format!("{err} {err:?}").contains(SECRET), "{err:?}");
    let mut zero = Config::default();
    zero.max_size = Some(0);
    assert!(matches!(zero.create_pool(), Err(CreatePoolError::Build(_))));
    // Lazy: a closed port is an error at get, not at create_pool.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pool = Config::from_url(&format!("postgres://u:{SECRET}@127.0.0.1:{port}/db"))
        .unwrap()
        .create_pool()
        .unwrap();
    let err = pool.get().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("could not reach the server at 127.0.0.1"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(SECRET));
}

#[test]
fn create_pool_needs_a_runtime() {
    let err = Config::default().create_pool().unwrap_err();
    assert!(err.to_string().contains("no tokio runtime"), "{err}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<netpool_postgres::Pool>();
    send_sync::<netpool_postgres::Client>();
    send_sync::<netpool_postgres::PgManager>();
    send_sync::<Config>();
    send_sync::<netpool_postgres::Error>();
    send_sync::<netpool_postgres::PoolError>();
    send_sync::<netpool_core::Pooled<netpool_postgres::PgManager>>();
    let pool = netpool_core::Pool::builder()
        .build(Config::default().manager().unwrap())
        .unwrap();
    send(&pool.get());
    let client_fut = async {
        let client = pool.get().await.unwrap();
        client.prepare_cached("SELECT 1").await.unwrap();
    };
    send(&client_fut);
}

/// A connection that is only a number, and futures that are only their value
/// (`Ready`, the smallest a manager's can be): the pool's own share of a `get` future.
struct Trivial;

impl netpool_core::Manager for Trivial {
    type Connection = u64;
    type Error = std::convert::Infallible;

    fn connect(&self) -> impl Future<Output = Result<u64, Self::Error>> + Send {
        std::future::ready(Ok(0))
    }
    fn is_valid(&self, _: &mut u64) -> impl Future<Output = Result<(), Self::Error>> + Send {
        std::future::ready(Ok(()))
    }
    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}

/// `get` futures are copied whenever the future awaiting them moves (boxed, spawned),
/// once per checkout in many programs: the manager must not make them much larger than
/// the pool's own (tokio-postgres's connect and query futures, held inline, once made
/// them 13 KB against deadpool-postgres's 1.6 KB, and that copy cost more than the rest
/// of the client's work per statement).
#[test]
fn the_get_future_stays_small() {
    let pool = netpool_core::Pool::builder()
        .build(Config::default().manager().unwrap())
        .unwrap();
    let trivial = netpool_core::Pool::builder().build(Trivial).unwrap();
    let (ours, floor) = (size_of_val(&pool.get()), size_of_val(&trivial.get()));
    assert!(
        ours <= floor + 256,
        "get() is {ours} bytes with PgManager, {floor} with a trivial manager"
    );
    assert_eq!(size_of::<netpool_postgres::Client>(), size_of::<usize>());
}

/// The workspace README's PostgreSQL example is this crate's README example, which the
/// crate's doc tests compile.
#[test]
fn the_readme_example_is_the_compiled_one() {
    let root = include_str!("../../../README.md");
    let ours = include_str!("../README.md");
    // The workspace README marks it `ignore` (the package that compiles the workspace
    // README's examples does not depend on this crate); this crate's README compiles it.
    let section = root
        .split("\n## PostgreSQL\n")
        .nth(1)
        .expect("a PostgreSQL section in the workspace README")
        .replacen("```rust,ignore\n", "```rust,no_run\n", 1);
    let section = section.as_str();
    let block = |text: &str| -> String {
        let start = text.find("```rust,no_run\n").expect("a Rust example");
        let end = text[start..].find("\n```\n").expect("its end") + start;
        text[start..end].to_owned()
    };
    assert_eq!(block(section), block(ours));
    let toml = |text: &str| -> String {
        let start = text.find("```toml\n").expect("a dependency block");
        let end = text[start..].find("\n```\n").expect("its end") + start;
        text[start..end].to_owned()
    };
    assert_eq!(toml(section), toml(ours));
}
