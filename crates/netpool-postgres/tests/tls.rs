//! TLS and secrets against a PostgreSQL the test starts itself (`initdb` into a temporary
//! directory, a free loopback port, `ssl = on` with rcgen certificates, TCP allowed only
//! over TLS, SCRAM passwords), stopped when the test ends, also when it fails.
//!
//! Without `initdb`/`pg_ctl` the tests skip loudly; under `CI=true` they fail.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpool_postgres::{Config, ConfigError, CreatePoolError, SslMode};

use common::bounded;
use common::server::{Options, PgServer, start_or_skip};

const PASSWORD: &str = "Zq9-sekrit-p4ss";
const LIMIT: Duration = Duration::from_secs(90);

fn tls_server() -> Option<PgServer> {
    start_or_skip(Options {
        tls: true,
        password: Some(PASSWORD.to_owned()),
    })
}

/// Whether the pooled session runs over TLS, as the server sees it.
async fn ssl_in_use(pool: &netpool_postgres::Pool) -> bool {
    let client = pool.get().await.expect("get");
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmodes_against_a_tls_only_server() {
    let Some(server) = tls_server() else { return };
    bounded(LIMIT, async {
        let ca = server.ca_file().display().to_string();
        // verify-full: the chain and the name (localhost and 127.0.0.1 are in the cert).
        for host in ["localhost", "127.0.0.1"] {
            let url = server.url(
                host,
                Some(PASSWORD),
                &format!("sslmode=verify-full&sslrootcert={ca}"),
            );
            let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
            assert!(ssl_in_use(&pool).await, "verify-full via {host}");
        }
        // verify-ca, require (no verification), prefer: TLS too.
        for extra in [
            format!("sslmode=verify-ca&sslrootcert={ca}"),
            "sslmode=require".into(),
            "sslmode=prefer".into(),
        ] {
            let url = server.url("127.0.0.1", Some(PASSWORD), &extra);
            let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
            assert!(ssl_in_use(&pool).await, "{extra}");
        }
        // disable: the server takes TCP only over TLS.
        let url = server.url("127.0.0.1", Some(PASSWORD), "sslmode=disable");
        let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
        let err = pool.get().await.expect_err("plain TCP is refused");
        assert!(err.to_string().contains("no encryption"), "{err}");

        // verify-full against another CA: the handshake fails, saying why.
        let other = std::env::temp_dir().join(common::unique("netpool-other-ca"));
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        std::fs::File::create(&other)
            .unwrap()
            .write_all(params.self_signed(&ca_key).unwrap().pem().as_bytes())
            .unwrap();
        let url = server.url(
            "localhost",
            Some(PASSWORD),
            &format!("sslmode=verify-full&sslrootcert={}", other.display()),
        );
        let pool = Config::from_url(&url).unwrap().create_pool().unwrap();
        let err = pool.get().await.expect_err("an unknown issuer");
        let _ = std::fs::remove_file(&other);
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");

        // verify-full without a root certificate is a configuration error, at once.
        let url = server.url("localhost", None, "sslmode=verify-full");
        let err = Config::from_url(&url)
            .unwrap()
            .create_pool()
            .expect_err("no root");
        assert!(
            matches!(
                err,
                CreatePoolError::Config(ConfigError::MissingRootCert {
                    mode: SslMode::VerifyFull
                })
            ),
            "{err:?}"
        );
    })
    .await;
}

/// Everything the pool and its errors said, as text.
#[derive(Clone, Default)]
struct Transcript(Arc<Mutex<String>>);

impl Transcript {
    fn push(&self, text: &str) {
        let mut all = self.0.lock().unwrap();
        all.push_str(text);
        all.push('\n');
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

impl Write for Transcript {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_shows() {
    let Some(server) = tls_server() else { return };
    let transcript = Transcript::default();
    // Every log line of the run, at every level, into the transcript.
    let writer = transcript.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Global: the pool logs from the runtime's worker threads. No other test in this
    // binary sets one.
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let ca = server.ca_file().display().to_string();
    bounded(LIMIT, async {
        let runs = [
            // Right password: connects and queries.
            (
                server.url(
                    "localhost",
                    Some(PASSWORD),
                    &format!("sslmode=verify-full&sslrootcert={ca}"),
                ),
                true,
            ),
            // Wrong password (the right one's prefix): an authentication error.
            (
                server.url("localhost", Some(&PASSWORD[..8]), "sslmode=require"),
                false,
            ),
            // Right password, wrong port: a failed connect.
            (
                format!(
                    "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres",
                    common::server::free_port().unwrap()
                ),
                false,
            ),
            // The password as a parameter, TLS refused: sslmode=disable on a TLS-only server.
            (
                format!(
                    "postgres://postgres@127.0.0.1:{}/postgres?password={PASSWORD}&sslmode=disable",
                    server.port()
                ),
                false,
            ),
        ];
        for (url, ok) in runs {
            let config = Config::from_url(&url).unwrap();
            transcript.push(&format!("{config}\n{config:?}"));
            let mut env_config = Config::default();
            env_config.url = Some(url.clone());
            transcript.push(&format!("{env_config}\n{env_config:?}"));
            let manager = config.manager().unwrap();
            transcript.push(&format!("{manager:?}"));
            let events = transcript.clone();
            let pool = config
                .builder()
                .connect_backoff(Duration::from_millis(1), Duration::from_millis(2))
                .event_handler(move |e: &netpool_core::Event<'_>| events.push(&format!("{e:?}")))
                .build(manager)
                .unwrap();
            for _ in 0..3 {
                match pool.get().await {
                    Ok(client) => {
                        assert!(ok, "{config} connected");
                        transcript.push(&format!("{client:?}"));
                        let e = client
                            .batch_execute("SELECT no_such_column")
                            .await
                            .expect_err("a query error");
                        transcript.push(&format!("{e}\n{e:?}"));
                    }
                    Err(e) => {
                        assert!(!ok, "{config}: {e}");
                        transcript.push(&format!("{e}\n{e:?}\n{e:#?}"));
                        let mut source = std::error::Error::source(&e);
                        while let Some(s) = source {
                            transcript.push(&format!("{s}\n{s:?}"));
                            source = s.source();
                        }
                    }
                }
            }
            transcript.push(&format!("{:?}\n{pool:?}", pool.stats()));
        }
    })
    .await;
    let text = transcript.text();
    assert!(
        text.contains("password authentication failed"),
        "the auth error is in: {text}"
    );
    assert!(text.contains("ConnectionOpened"), "events are in: {text}");
    assert!(text.contains("netpool"), "log lines are in: {text}");
    assert!(!text.contains(PASSWORD), "the password leaked:\n{text}");
    assert!(
        !text.contains(&PASSWORD[..8]),
        "the wrong password leaked:\n{text}"
    );
}
