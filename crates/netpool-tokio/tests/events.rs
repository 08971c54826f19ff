//! The pool's events on tokio, through a real TCP server: the `tracing` log lines (target
//! `netpool`) and the event handler set on `tcp(..)`'s builder, for each event kind.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpool_core::{CloseReason, Event, Pooled};
use netpool_testkit::EchoServer;
use tracing_subscriber::fmt::MakeWriter;

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// The lines logged since the last call.
    fn lines(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// The one line that contains every one of `parts`.
#[track_caller]
fn line_with(lines: &[String], parts: &[&str]) -> String {
    let found: Vec<_> = lines
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect();
    assert_eq!(found.len(), 1, "one line with {parts:?} in {lines:#?}");
    found[0].clone()
}

/// What the handler saw, as (kind, connection id or count, detail).
type Seen = Arc<Mutex<Vec<(String, u64, String)>>>;

fn handler(seen: &Seen) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
    let seen = seen.clone();
    move |event: &Event<'_>| {
        let entry = match *event {
            Event::ConnectionOpened { id, .. } => ("opened", id, String::new()),
            Event::ConnectionClosed { id, reason, .. } => ("closed", id, format!("{reason:?}")),
            Event::ConnectFailed { error, .. } => ("connect_failed", 0, error.to_string()),
            Event::CheckFailed { id, error, .. } => ("check_failed", id, error.to_string()),
            Event::BackoffEntered { failures, .. } => {
                ("backoff", u64::from(failures), String::new())
            }
            Event::BackoffLeft { failures } => ("backoff_left", u64::from(failures), String::new()),
            Event::GetTimedOut { .. } => ("get_timed_out", 0, String::new()),
            Event::Resized { to, .. } => ("resized", to as u64, String::new()),
            Event::Closed => ("pool_closed", 0, String::new()),
            _ => ("other", 0, String::new()),
        };
        seen.lock()
            .unwrap()
            .push((entry.0.to_owned(), entry.1, entry.2));
    }
}

#[tokio::test]
async fn every_event_is_logged_and_handled() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_ansi(false)
        .without_time()
        .with_env_filter("netpool=debug")
        .finish();
    // The test runs on tokio's current-thread runtime, so maintenance and every connect
    // log on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = EchoServer::start().unwrap();
    let seen = Seen::default();
    let pool = netpool_tokio::tcp(server.addr().to_string())
        .max_size(2)
        .check_idle_after(None)
        .connect_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .wait_timeout(Some(Duration::from_secs(5)))
        .event_handler(handler(&seen))
        .build()
        .unwrap();

    // Opened, then closed as broken.
    let conn = pool.get().await.unwrap();
    let id = Pooled::meta(&conn).id;
    Pooled::discard(conn);
    let lines = capture.lines();
    let opened = line_with(&lines, &["connection opened", &format!("id={id} ")]);
    assert!(
        opened.contains("DEBUG netpool") && opened.contains("took="),
        "{opened}"
    );
    let closed = line_with(&lines, &["connection closed", &format!("id={id} ")]);
    assert!(
        closed.contains("reason=Broken") && closed.contains("uses=1"),
        "{closed}"
    );
    assert!(closed.contains("age="), "{closed}");

    // A connect refused: the error with its source, then the backoff.
    server.stop();
    let err = pool.get().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let lines = capture.lines();
    let failed = line_with(&lines, &["connect failed"]);
    assert!(
        failed.contains(" WARN netpool") && failed.contains("failure=Error"),
        "{failed}"
    );
    assert!(
        failed.to_lowercase().contains("refused"),
        "the source is logged: {failed}"
    );
    let backoff = line_with(&lines, &["backing off"]);
    assert!(
        backoff.contains("failures=1") && backoff.contains("retry_in="),
        "{backoff}"
    );
    assert!(backoff.to_lowercase().contains("refused"), "{backoff}");

    // Recovery: the backoff is left once a new connection comes back healthy.
    server.restart().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let conn = pool.get().await.unwrap();
    let id = Pooled::meta(&conn).id;
    drop(conn);
    let lines = capture.lines();
    line_with(&lines, &["connection opened", &format!("id={id} ")]);
    let left = line_with(&lines, &["backoff over"]);
    assert!(
        left.contains(" INFO netpool") && left.contains("failures=1"),
        "{left}"
    );

    // A check that fails: the server closed the idle connection. The server's accept
    // thread registers a connection a moment after the client's connect returns (later
    // on a loaded machine): wait for it, or `close_all` would miss it.
    assert!(server.wait_until(Duration::from_secs(5), |c| c.live == 1));
    server.close_all();
    assert!(server.wait_until(Duration::from_secs(5), |c| c.live == 0));
    // The server's FIN is on its way: on a loaded machine the kernel may deliver it on
    // loopback well after the shutdown. Wait (up to 5 s, a bound no healthy machine
    // nears) until the idle connection reads end-of-stream, peeking without consuming.
    let mut eof = false;
    for _ in 0..500 {
        // Lets the runtime's reactor see the socket's readiness.
        tokio::time::sleep(Duration::from_millis(10)).await;
        pool.retain(|conn, _| {
            let mut byte = [0u8; 1];
            let mut buf = tokio::io::ReadBuf::new(&mut byte);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            eof = matches!(
                conn.poll_peek(&mut cx, &mut buf),
                std::task::Poll::Ready(Ok(0))
            );
            true
        });
        if eof {
            break;
        }
    }
    assert!(eof, "the client side saw the server's FIN");
    let conn = pool.get().await.unwrap();
    let lines = capture.lines();
    let check = line_with(&lines, &["check failed", &format!("id={id} ")]);
    assert!(
        check.contains("check=IsValid") && check.contains("error="),
        "{check}"
    );
    line_with(
        &lines,
        &["connection closed", &format!("id={id} "), "reason=Invalid"],
    );

    // A get that times out, a resize, a close.
    let other = pool.get().await.unwrap();
    let err = pool
        .get_timeout(Duration::from_millis(30))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    line_with(&capture.lines(), &["get timed out", "waited="]);
    drop((conn, other));
    pool.resize(1);
    let lines = capture.lines();
    line_with(&lines, &["pool resized", "from=2", "to=1"]);
    line_with(&lines, &["connection closed", "reason=Shrunk"]);
    pool.close();
    let lines = capture.lines();
    line_with(&lines, &["pool closed"]);
    line_with(&lines, &["connection closed", "reason=PoolClosed"]);

    // The handler saw the same events, with the same ids.
    let seen = seen.lock().unwrap().clone();
    let kinds: Vec<&str> = seen.iter().map(|(k, _, _)| k.as_str()).collect();
    for kind in [
        "opened",
        "closed",
        "connect_failed",
        "backoff",
        "backoff_left",
        "check_failed",
        "get_timed_out",
        "resized",
        "pool_closed",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {seen:?}");
    }
    assert!(seen.contains(&(
        "closed".to_owned(),
        id,
        format!("{:?}", CloseReason::Invalid)
    )));
}
