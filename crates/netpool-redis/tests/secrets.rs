//! A password from a URL never shows: not in `Display`/`Debug` of the config, the
//! manager, the builder, the errors (a wrong password, a server that is down, a rejected
//! setup), the pool's events, nor its `tracing` log. One run with passwords set against a
//! redis-server of the test's own, then a scan of everything that was printed.
//!
//! Its own test binary: it installs the global `tracing` subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bounded, own_server_with_password};
use netpool_redis::Config;

const GOOD: &str = "Good-Secret-8812";
const WRONG: &str = "Wrong-Secret-3307";
const ELSEWHERE: &str = "Down-Secret-5140";

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_in_any_output() {
    let log = Log::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let Some(server) = own_server_with_password(GOOD) else {
        return;
    };
    let port = server.port();
    let down = netpool_testkit::free_port().unwrap();
    let printed = Arc::new(Mutex::new(Vec::<String>::new()));

    bounded(Duration::from_secs(60), async {
        let urls = [
            format!("redis://:{GOOD}@127.0.0.1:{port}/1"),
            format!("redis://default:{WRONG}@127.0.0.1:{port}"),
            format!("redis://:{ELSEWHERE}@127.0.0.1:{down}"),
            // The setup fails after AUTH: no database 999999.
            format!("redis://:{GOOD}@127.0.0.1:{port}/999999"),
        ];
        for (i, url) in urls.iter().enumerate() {
            let config = Config::from_url(url).unwrap();
            let events = printed.clone();
            let builder = config
                .builder()
                .unwrap()
                .max_size(2)
                .wait_timeout(Some(Duration::from_secs(3)))
                .event_handler(move |e: &netpool_core::Event<'_>| {
                    events.lock().unwrap().push(format!("{e:?}"));
                });
            let mut out = vec![
                config.to_string(),
                format!("{config:?}"),
                format!("{:?}", config.manager().unwrap()),
                format!("{builder:?}"),
            ];
            let pool = builder.build().unwrap();
            out.push(format!("{pool:?}"));
            for _ in 0..3 {
                match pool.get().await {
                    Ok(mut conn) => {
                        assert_eq!(i, 0, "only the right password connects");
                        let pong: String =
                            redis::cmd("PING").query_async(&mut *conn).await.unwrap();
                        assert_eq!(pong, "PONG");
                        out.push(format!("{conn:?}"));
                        // A command error on a good connection.
                        let err = redis::cmd("AUTH")
                            .arg("default")
                            .arg(WRONG)
                            .exec_async(&mut *conn)
                            .await
                            .expect_err("a wrong password");
                        out.push(format!("{err} {err:?}"));
                        netpool_core::Pooled::discard(conn);
                    }
                    Err(err) => {
                        assert_ne!(i, 0, "{err}");
                        let mut source: Option<&dyn std::error::Error> = Some(&err);
                        while let Some(e) = source {
                            out.push(format!("{e} / {e:?}"));
                            source = e.source();
                        }
                    }
                }
            }
            printed.lock().unwrap().extend(out);
        }
    })
    .await;

    let mut everything = printed.lock().unwrap().join("\n");
    everything.push_str(&String::from_utf8_lossy(&log.0.lock().unwrap()));
    let _ = writeln!(std::io::stderr(), "scanned {} bytes", everything.len());
    assert!(
        everything.contains("WRONGPASS"),
        "the auth error was printed: {everything}"
    );
    assert!(everything.contains("could not connect"), "{everything}");
    for secret in [GOOD, WRONG, ELSEWHERE] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
}
