//! The TLS checks every adapter runs (`tls_tests!`), written once on [`TlsHarness`]: an
//! adapter's TLS chaos [`Harness`] plus the few TLS-specific things a check needs.

use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netpool_core::{Error, Manager, Pool, Pooled};
use rustls::{CertificateError, ClientConfig};

use crate::chaos::scenario::{Client, Harness, Settings};
use crate::eventually;
use crate::tls::{
    ClientIdentity, Close, ServerCert, TlsEchoServer, TlsRedis, TlsServerOptions, client_config,
    client_config_as,
};

/// Bound on every wait in these checks.
const LIMIT: Duration = Duration::from_secs(10);

/// How a check wants its TLS pool built.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct TlsSetup {
    /// The client configuration.
    pub config: Arc<ClientConfig>,
    /// The server name, when not the address's host.
    pub server_name: Option<String>,
    /// The pool settings.
    pub settings: Settings,
    /// The first connect backoff delay (also its cap), when not the default.
    pub backoff: Option<Duration>,
}

impl TlsSetup {
    /// The test CA's client configuration, the issue's settings with every checkout
    /// checked (`check_idle_after` `None`) and a 1 s `connect_timeout`.
    pub fn new() -> Self {
        let mut settings = Settings::issue();
        settings.check_idle_after = None;
        settings.connect_timeout = Duration::from_secs(1);
        Self {
            config: client_config(false, &[]),
            server_name: None,
            settings,
            backoff: None,
        }
    }
}

impl Default for TlsSetup {
    fn default() -> Self {
        Self::new()
    }
}

/// What an adapter supplies for the TLS checks: its TLS chaos [`Harness`] (whose `pool`
/// builds with the adapter's `tls(addr, config)` and the test CA's client configuration)
/// and these.
pub trait TlsHarness: Harness {
    /// Builds a pool with the adapter's `tls(addr, config)` builder, as `setup` says.
    fn tls_pool(&self, addr: String, setup: &TlsSetup) -> Pool<Self::Manager>;

    /// Writes `msg` (and flushes).
    fn send<'a>(
        conn: &'a mut <Self::Manager as Manager>::Connection,
        msg: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;

    /// Reads exactly `buf.len()` bytes.
    fn recv<'a>(
        conn: &'a mut <Self::Manager as Manager>::Connection,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;

    /// The ALPN protocol negotiated.
    fn alpn(conn: &<Self::Manager as Manager>::Connection) -> Option<Vec<u8>>;

    /// The TCP socket under the TLS stream.
    fn socket(conn: &<Self::Manager as Manager>::Connection) -> socket2::SockRef<'_>;

    /// Swaps the pool's `ClientConfig` (`pool.manager().set_config(config)`).
    fn set_config(pool: &Pool<Self::Manager>, config: Arc<ClientConfig>);

    /// Closes the idle connections opened with an older `ClientConfig`
    /// (`pool.retain(|conn, _| pool.manager().is_current(conn))`).
    fn retire_old(pool: &Pool<Self::Manager>);
}

/// 8 clients make 20 round trips each through a TLS pool of 4: at most 4 handshakes,
/// connections reused.
///
/// # Panics
///
/// When the check fails.
pub fn round_trips_reuse_connections<H: TlsHarness>(h: &H) {
    let server = TlsEchoServer::start().expect("a TLS server");
    let mut setup = TlsSetup::new();
    setup.settings.max_size = 4;
    let pool = h.tls_pool(server.addr().to_string(), &setup);
    crate::checks::echo_clients(h, &pool, 8, 20);
    let stats = pool.stats();
    let counts = server.counts();
    assert_eq!(stats.gets, 160);
    assert!(counts.handshakes <= 4, "{counts:?}");
    assert_eq!(stats.connections_created, counts.handshakes, "{stats:?}");
    drop(pool);
    assert!(
        server.wait_until(LIMIT, |c| c.live == 0),
        "dropping the pool closes all"
    );
}

/// A server that accepts TCP connections and never answers the handshake: `get` fails
/// after about `connect_timeout` (300 ms), not a hang, with `Error::Connect` whose
/// message names the phase and the address (`TLS handshake with 127.0.0.1:port (server
/// name localhost): timed out after ...`): the manager enforces the bound itself.
///
/// # Panics
///
/// When the check fails.
pub fn silent_handshake_is_connect_timeout<H: TlsHarness>(h: &H) {
    // Never accepted: the kernel completes the TCP handshake, nobody answers the TLS one.
    let silent = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let addr = silent.local_addr().expect("its address");
    let mut setup = TlsSetup::new();
    setup.settings.connect_timeout = Duration::from_millis(300);
    setup.settings.wait_timeout = Duration::from_secs(5);
    setup.server_name = Some("localhost".into());
    let pool = h.tls_pool(addr.to_string(), &setup);
    let start = Instant::now();
    let got = get_one(h, &pool);
    let took = start.elapsed();
    let text = match &got {
        Err(e @ Error::Connect(_)) => e.to_string(),
        other => panic!("{:?}", other.as_ref().map(|_| ())),
    };
    assert!(
        text.starts_with(&format!(
            "could not connect: TLS handshake with {addr} (server name localhost): timed out after"
        )),
        "{text}"
    );
    assert!(took >= Duration::from_millis(250), "took {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(pool.stats().connect_errors, 1);
}

/// A certificate the client must reject: `get` fails with `Error::Connect` whose source
/// chain holds rustls's reason (`expected` checks it), the pool counts a failed connect,
/// and its backoff answers the next `get` with `Error::Unavailable`.
///
/// # Panics
///
/// When the check fails.
pub fn rejected_certificate<H: TlsHarness>(
    h: &H,
    cert: ServerCert,
    server_name: Option<&str>,
    expected: impl Fn(&CertificateError) -> bool,
    in_message: &str,
) {
    let options = TlsServerOptions {
        cert,
        ..TlsServerOptions::default()
    };
    let server = TlsEchoServer::start_with(options).expect("a TLS server");
    let mut setup = TlsSetup::new();
    setup.server_name = server_name.map(str::to_owned);
    setup.backoff = Some(Duration::from_secs(5));
    let pool = h.tls_pool(server.addr().to_string(), &setup);
    let Err(err) = get_one(h, &pool) else {
        panic!("the certificate was accepted");
    };
    let Error::Connect(source) = &err else {
        panic!("not a connect error: {err:?}");
    };
    let reason = rustls_reason(source).unwrap_or_else(|| panic!("no rustls error in {err:?}"));
    match reason {
        rustls::Error::InvalidCertificate(c) if expected(c) => {}
        other => panic!("unexpected reason {other:?} in {err:?}"),
    }
    // The message names the phase, the address and rustls's reason, once.
    let text = err.to_string();
    let phase = format!("could not connect: TLS handshake with {} ", server.addr());
    assert!(text.starts_with(&phase), "{text}");
    assert!(text.contains(in_message), "{in_message:?} not in {text:?}");
    assert_eq!(text.matches(&reason.to_string()).count(), 1, "{text}");
    assert_eq!(pool.stats().connect_errors, 1);
    assert!(
        server.wait_until(LIMIT, |c| c.failed_handshakes == 1),
        "{:?}",
        server.counts()
    );
    // A failed connect is evidence for the backoff: the next caller does not connect at
    // once, it waits for the next attempt (the probe, 2.5-5 s away), so within its own
    // shorter deadline it times out (or, after more failures, is told `Unavailable`).
    match get_one(h, &pool) {
        Err(Error::Timeout | Error::Unavailable { .. }) => {}
        other => panic!("the backoff did not answer: {:?}", other.map(|_| ())),
    }
    assert_eq!(
        server.counts().accepted,
        1,
        "no second connect while backing off"
    );
}

/// The server closes an idle connection (`how`: a `close_notify` or a reset): the next
/// checkout hands out a new connection, never the dead one.
///
/// # Panics
///
/// When the check fails.
pub fn closed_while_idle_is_replaced<H: TlsHarness>(h: &H, how: Close) {
    let server = TlsEchoServer::start().expect("a TLS server");
    let pool = h.tls_pool(server.addr().to_string(), &TlsSetup::new());
    let first = one_echo(h, &pool, b"one");
    server.close_all(how);
    assert!(server.wait_until(LIMIT, |c| c.live == 0 && c.closed == 1));
    let second = one_echo(h, &pool, b"two");
    assert_ne!(first, second, "a new connection");
    let stats = pool.stats();
    assert_eq!(stats.closed_invalid, 1, "{stats:?}");
    assert_eq!(stats.connections_created, 2, "{stats:?}");
}

/// Data nobody read fails the connection: plaintext already decrypted in rustls (half a
/// reply read) and a reply still on the socket are both caught when the connection
/// comes back (the return check peeks at the socket, as the TCP managers do).
///
/// # Panics
///
/// When the check fails.
pub fn unread_data_fails_the_check<H: TlsHarness>(h: &H) {
    let server = TlsEchoServer::start().expect("a TLS server");
    let pool = h.tls_pool(server.addr().to_string(), &TlsSetup::new());
    let pool2 = pool.clone();
    let half_read = Box::pin(async move {
        let mut conn = H::get(&pool2).await.expect("a connection");
        H::send(&mut conn, b"abcd").await.expect("a write");
        let mut half = [0; 2];
        H::recv(&mut conn, &mut half).await.expect("a read");
        // "cd" stays decrypted inside rustls; the socket is empty.
    }) as Client<()>;
    h.run(vec![half_read]);
    let stats = pool.stats();
    assert_eq!(stats.closed_broken + stats.closed_invalid, 1, "{stats:?}");
    assert_eq!(stats.connections, 0, "{stats:?}");

    let pool2 = pool.clone();
    let unread = Box::pin(async move {
        let mut conn = H::get(&pool2).await.expect("a connection");
        // A round trip first: the session tickets that follow the handshake are read,
        // so what is pending next is the echo.
        H::echo(&mut conn, b"first", LIMIT).await.expect("an echo");
        H::send(&mut conn, b"unread").await.expect("a write");
        let pending = eventually(LIMIT, || pending(H::socket(&conn)));
        assert!(pending, "the echo arrived");
    }) as Client<()>;
    let before = pool.stats();
    h.run(vec![unread]);
    let stats = pool.stats();
    assert_eq!(
        stats.closed_broken,
        before.closed_broken + 1,
        "closed when it came back: {stats:?}"
    );
    let again = one_echo(h, &pool, b"in sync");
    let stats = pool.stats();
    assert_eq!(stats.connections_created, 3, "{stats:?}");
    assert_eq!(
        one_echo(h, &pool, b"kept"),
        again,
        "a clean connection is kept"
    );
}

/// TLS 1.3 session tickets that arrive after the handshake (bytes on the socket nobody
/// asked for) do not fail the check: an unused connection is handed out again.
///
/// # Panics
///
/// When the check fails.
pub fn session_tickets_keep_the_connection<H: TlsHarness>(h: &H) {
    let server = TlsEchoServer::start().expect("a TLS server");
    let pool = h.tls_pool(server.addr().to_string(), &TlsSetup::new());
    let pool2 = pool.clone();
    let fresh = Box::pin(async move {
        let conn = H::get(&pool2).await.expect("a connection");
        eventually(LIMIT, || pending(H::socket(&conn)))
    }) as Client<bool>;
    let tickets = h.run(vec![fresh]).pop().unwrap_or(false);
    assert!(
        tickets,
        "the server's session tickets are pending on the socket"
    );
    let pool2 = pool.clone();
    let reuse = Box::pin(async move {
        let mut conn = H::get(&pool2).await.expect("a connection");
        H::echo(&mut conn, b"after tickets", LIMIT)
            .await
            .expect("an echo");
        Pooled::meta(&conn).use_count
    }) as Client<u64>;
    assert_eq!(h.run(vec![reuse]), vec![2], "the same connection");
    assert_eq!(pool.stats().closed_invalid, 0);
}

/// The server cuts a reply in the middle of its TLS record and closes: the request
/// fails, and the connection, returned without being discarded, is closed and never
/// handed out again.
///
/// # Panics
///
/// When the check fails.
pub fn cut_mid_record_is_never_reused<H: TlsHarness>(h: &H) {
    let server = TlsEchoServer::start().expect("a TLS server");
    let mut setup = TlsSetup::new();
    // Only `has_broken` may notice: the checkout does not check.
    setup.settings.check_idle_after = Some(Duration::from_secs(3600));
    let pool = h.tls_pool(server.addr().to_string(), &setup);
    server.truncate_replies(true);
    let pool2 = pool.clone();
    let cut = Box::pin(async move {
        let mut conn = H::get(&pool2).await.expect("a connection");
        let failed = H::echo(&mut conn, b"a reply cut short", LIMIT)
            .await
            .is_err();
        let addr = H::local_addr(&conn).expect("an address");
        drop(conn); // returned, not discarded
        (failed, addr)
    }) as Client<(bool, std::net::SocketAddr)>;
    let (failed, cut_addr) = h.run(vec![cut]).pop().expect("one client");
    assert!(failed, "the request failed");
    assert_eq!(pool.stats().closed_broken, 1, "{:?}", pool.stats());
    server.truncate_replies(false);
    let next = one_echo(h, &pool, b"whole");
    assert_ne!(next, cut_addr, "a new connection");
}

/// ALPN set in the `ClientConfig` is negotiated.
///
/// # Panics
///
/// When the check fails.
pub fn alpn_is_negotiated<H: TlsHarness>(h: &H) {
    let (_server, pool) = alpn_pool(h, &[b"http/1.1", b"netpool/1"], b"netpool/1");
    let pool2 = pool.clone();
    let client = Box::pin(async move {
        let mut conn = H::get(&pool2).await.expect("a connection");
        H::echo(&mut conn, b"alpn", LIMIT).await.expect("an echo");
        H::alpn(&conn)
    }) as Client<_>;
    assert_eq!(h.run(vec![client]), vec![Some(b"netpool/1".to_vec())]);
}

/// A TLS server that accepts the ALPN `protocols`, and a pool of `h`'s connections to it
/// whose client offers `offered` only.
fn alpn_pool<H: TlsHarness>(
    h: &H,
    protocols: &[&[u8]],
    offered: &[u8],
) -> (TlsEchoServer, Pool<H::Manager>) {
    let options = TlsServerOptions {
        alpn: protocols.iter().map(|p| p.to_vec()).collect(),
        ..TlsServerOptions::default()
    };
    let server = TlsEchoServer::start_with(options).expect("a TLS server");
    let mut setup = TlsSetup::new();
    setup.config = client_config(false, &[offered]);
    let pool = h.tls_pool(server.addr().to_string(), &setup);
    (server, pool)
}

/// A client certificate set in the `ClientConfig` is presented and accepted by a server
/// that requires one; without it the server refuses the client.
///
/// # Panics
///
/// When the check fails.
pub fn client_certificate_is_presented<H: TlsHarness>(h: &H) {
    let options = TlsServerOptions {
        client_auth: true,
        ..TlsServerOptions::default()
    };
    let server = TlsEchoServer::start_with(options).expect("a TLS server");
    let mut setup = TlsSetup::new();
    setup.config = client_config(true, &[]);
    let pool = h.tls_pool(server.addr().to_string(), &setup);
    one_echo(h, &pool, b"with a certificate");
    assert_eq!(server.counts().client_certs, 1);

    // Without one: TLS 1.3 clients finish before the server checks, so the refusal shows
    // at the first request (or at the handshake).
    let pool = h.tls_pool(server.addr().to_string(), &TlsSetup::new());
    let client = Box::pin(async move {
        match H::get(&pool).await {
            Err(_) => true,
            Ok(mut conn) => H::echo(&mut conn, b"without", LIMIT).await.is_err(),
        }
    }) as Client<bool>;
    assert_eq!(
        h.run(vec![client]),
        vec![true],
        "refused without a certificate"
    );
    assert!(server.wait_until(LIMIT, |c| c.failed_handshakes == 1));
}

/// A `ClientConfig` swapped while the pool runs is used by the connections opened after
/// the swap (they negotiate the ALPN protocol only the new one offers), while the open
/// ones keep theirs until retired (`retain` with the manager's `is_current`).
///
/// # Panics
///
/// When the check fails.
pub fn config_swap_takes_effect<H: TlsHarness>(h: &H) {
    let (_server, pool) = alpn_pool(h, &[b"netpool/1", b"netpool/2"], b"netpool/1");
    let pool2 = pool.clone();
    let client = Box::pin(async move {
        let mut old = H::get(&pool2).await.expect("a connection");
        H::echo(&mut old, b"old", LIMIT).await.expect("an echo");
        H::set_config(&pool2, client_config(false, &[b"netpool/2"]));
        // The old connection is checked out: the next get opens a new one.
        let mut new = H::get(&pool2).await.expect("a connection");
        H::echo(&mut new, b"new", LIMIT).await.expect("an echo");
        let alpn = (H::alpn(&old), H::alpn(&new));
        drop((old, new));
        H::retire_old(&pool2);
        alpn
    }) as Client<_>;
    let alpn: (Option<Vec<u8>>, Option<Vec<u8>>) = h.run(vec![client]).pop().expect("one client");
    assert_eq!(alpn.0.as_deref(), Some(&b"netpool/1"[..]));
    assert_eq!(alpn.1.as_deref(), Some(&b"netpool/2"[..]), "the new config");
    let stats = pool.stats();
    assert_eq!(stats.connections, 1, "the old one retired: {stats:?}");
    let pool2 = pool.clone();
    let client = Box::pin(async move {
        let conn = H::get(&pool2).await.expect("a connection");
        H::alpn(&conn)
    }) as Client<_>;
    assert_eq!(h.run(vec![client]), vec![Some(b"netpool/2".to_vec())]);
}

/// A TLS-only `redis-server` of the check's own, or `None` (with a loud message) when
/// redis-server is not installed and `CI` is not `true`.
fn tls_redis(client_auth: bool) -> Option<TlsRedis> {
    if !crate::RedisServer::available() {
        return None;
    }
    Some(TlsRedis::start(client_auth).expect("a TLS redis-server"))
}

/// One PING over `conn`: `Ok` for `+PONG`. Reads are bounded by a socket timeout (for
/// the blocking harness) and a timer (for the async ones).
async fn ping<H: TlsHarness>(conn: &mut <H::Manager as Manager>::Connection) -> io::Result<()> {
    let _ = H::socket(conn).set_read_timeout(Some(LIMIT));
    let exchange = async {
        H::send(conn, b"*1\r\n$4\r\nPING\r\n").await?;
        let mut reply = [0; 7];
        H::recv(conn, &mut reply).await?;
        if &reply != b"+PONG\r\n" {
            return Err(io::Error::other("not +PONG"));
        }
        Ok(())
    };
    let expire = async {
        async_io::Timer::after(LIMIT).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"))
    };
    futures_lite::future::or(exchange, expire).await
}

/// What [`redis_crash_under_load`] counted.
#[derive(Debug, Default)]
struct CrashCounts {
    /// 0 before the kill, 1 from the kill on, 2 after the restart.
    phase: AtomicU8,
    stop: AtomicBool,
    ok_before: AtomicU64,
    ok_after: AtomicU64,
    dead_handouts: AtomicU64,
    get_errors: AtomicU64,
}

/// A TLS `redis-server` killed (SIGKILL: the kernel resets its connections) while 16
/// clients make PING requests through a pool of 8, restarted 300 ms later: at most
/// 2 × `max_size` checkouts hand out a dead connection (the in-flight ones, and the idle
/// ones handed out before a check: each connection dies once, and its failure, recorded
/// by the stream under TLS, closes it when it comes back), then requests succeed again.
///
/// Skipped (with a message) when redis-server is not installed, unless `CI=true`.
///
/// # Panics
///
/// When the check fails.
pub fn redis_crash_under_load<H: TlsHarness>(h: &H) {
    let Some(mut redis) = tls_redis(false) else {
        return;
    };
    let mut setup = TlsSetup::new();
    // The defaults a user has: checkouts of connections idle under 1 s are not checked.
    setup.settings = Settings::issue();
    setup.settings.connect_timeout = Duration::from_secs(2);
    let max_size = setup.settings.max_size;
    let pool = h.tls_pool(redis.addr().to_string(), &setup);
    let counts = Arc::new(CrashCounts::default());
    let clients = (0..2 * max_size)
        .map(|_| {
            let (pool, counts) = (pool.clone(), counts.clone());
            Box::pin(async move {
                let started = Instant::now();
                for _ in 0..1_000_000 {
                    if counts.stop.load(Ordering::Relaxed) || started.elapsed() > 4 * LIMIT {
                        break;
                    }
                    let phase = counts.phase.load(Ordering::SeqCst);
                    let Ok(mut conn) = H::get(&pool).await else {
                        counts.get_errors.fetch_add(1, Ordering::Relaxed);
                        async_io::Timer::after(Duration::from_millis(1)).await;
                        continue;
                    };
                    match ping::<H>(&mut conn).await {
                        Ok(()) if phase == 0 => counts.ok_before.fetch_add(1, Ordering::Relaxed),
                        Ok(()) => counts.ok_after.fetch_add(1, Ordering::Relaxed),
                        Err(_) => counts.dead_handouts.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }) as Client<()>
        })
        .collect();
    let controller = {
        let counts = counts.clone();
        std::thread::spawn(move || {
            let stop = StopOnDrop(&counts.stop);
            let warm = wait_for(|| counts.ok_before.load(Ordering::Relaxed) >= 200);
            counts.phase.store(1, Ordering::SeqCst);
            redis.server().kill();
            // The outage the scenario is about: 300 ms down.
            std::thread::sleep(Duration::from_millis(300));
            let restarted = redis.server().restart();
            counts.phase.store(2, Ordering::SeqCst);
            let recovered = wait_for(|| counts.ok_after.load(Ordering::Relaxed) >= 200);
            drop(stop);
            // The server lives on until the clients are done.
            (warm, restarted.is_ok(), recovered, redis)
        })
    };
    h.run(clients);
    let (warm, restarted, recovered, redis) = controller.join().expect("the controller");
    let stats = pool.stats();
    eprintln!(
        "{counts:?}
{stats:?}"
    );
    assert!(warm && restarted, "the load ran and the server restarted");
    let dead = counts.dead_handouts.load(Ordering::Relaxed);
    assert!(
        dead <= 2 * max_size as u64,
        "{dead} dead connections handed out, more than 2 x {max_size}"
    );
    assert!(recovered, "requests succeed after the restart: {counts:?}");
    drop(redis);
}

/// Sets the flag when dropped, also when the controller panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Polls `done` every millisecond, up to [`LIMIT`].
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > LIMIT {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A TLS `redis-server` that requires client certificates, and a client whose
/// certificate no CA it trusts signed: under TLS 1.3 the refusal (an alert) arrives
/// after the client's handshake, and the manager waits for it, so each attempt is a
/// failed connect whose message names the alert; the pool backs off and tells later
/// callers `Unavailable`, with the alert as the cause, instead of handing out dead
/// connections. A client with the right certificate is served.
///
/// Skipped (with a message) when redis-server is not installed, unless `CI=true`.
///
/// # Panics
///
/// When the check fails.
pub fn refused_client_certificate_backs_off<H: TlsHarness>(h: &H) {
    let Some(redis) = tls_redis(true) else {
        return;
    };
    let mut setup = TlsSetup::new();
    setup.config = client_config_as(ClientIdentity::Rogue, &[]);
    setup.backoff = Some(Duration::from_millis(200));
    let pool = h.tls_pool(redis.addr().to_string(), &setup);
    let pool2 = pool.clone();
    let client = Box::pin(async move {
        let mut outcomes = Vec::new();
        for _ in 0..30 {
            outcomes.push(match H::get(&pool2).await {
                Ok(mut conn) => Ok(ping::<H>(&mut conn).await.is_ok()),
                Err(e) => Err(e),
            });
        }
        outcomes
    }) as Client<_>;
    let outcomes: Vec<Result<bool, Error<<H::Manager as Manager>::Error>>> =
        h.run(vec![client]).pop().expect("one client");
    let stats = pool.stats();
    let handed_out = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(handed_out, 0, "no connection handed out: {stats:?}");
    let first = match &outcomes[0] {
        Err(e @ Error::Connect(source)) => {
            let reason = rustls_reason(source).unwrap_or_else(|| panic!("no rustls error: {e:?}"));
            assert!(
                matches!(reason, rustls::Error::AlertReceived(_)),
                "{reason:?}"
            );
            e.to_string()
        }
        other => panic!("the first get: {:?}", other.as_ref().map(|_| ())),
    };
    assert!(first.contains("received fatal alert"), "{first}");
    let unavailable = outcomes
        .iter()
        .filter_map(|o| match o {
            Err(e @ Error::Unavailable { .. }) => Some(e.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert!(!unavailable.is_empty(), "no Unavailable: {stats:?}");
    assert!(
        unavailable
            .iter()
            .all(|t| t.contains("received fatal alert")),
        "{unavailable:?}"
    );
    assert!(
        stats.connect_errors <= 10,
        "backed off: 30 gets, {} handshakes",
        stats.connect_errors
    );

    // The right certificate is served.
    let mut setup = TlsSetup::new();
    setup.config = client_config_as(ClientIdentity::Trusted, &[]);
    let pool = h.tls_pool(redis.addr().to_string(), &setup);
    let client = Box::pin(async move {
        let mut conn = H::get(&pool).await.expect("a connection");
        ping::<H>(&mut conn).await.expect("a PING");
    }) as Client<()>;
    h.run(vec![client]);
}

/// A pool built with `config` (the adapter's `tls_config(..)`, whose provider its cargo
/// features chose) makes a round trip with the test server. In a test binary, rustls
/// has ring (the test servers') and, with the `tls-aws-lc-rs` feature, aws-lc-rs too:
/// `ClientConfig::builder()` would panic there, a config that names its provider works.
///
/// # Panics
///
/// When the check fails.
pub fn connects_with<H: TlsHarness>(h: &H, config: Arc<ClientConfig>) {
    let server = TlsEchoServer::start().expect("a TLS server");
    let mut setup = TlsSetup::new();
    setup.config = config;
    let pool = h.tls_pool(server.addr().to_string(), &setup);
    one_echo(h, &pool, b"provider");
    assert_eq!(server.counts().handshakes, 1);
}

/// One get and one echo; the connection's local address.
fn one_echo<H: TlsHarness>(
    h: &H,
    pool: &Pool<H::Manager>,
    msg: &'static [u8],
) -> std::net::SocketAddr {
    let pool = pool.clone();
    let client = Box::pin(async move {
        let mut conn = H::get(&pool).await.expect("a connection");
        H::echo(&mut conn, msg, LIMIT).await.expect("an echo");
        H::local_addr(&conn).expect("an address")
    }) as Client<_>;
    h.run(vec![client]).pop().expect("one client")
}

/// One get, its connection dropped at once.
fn get_one<H: TlsHarness>(
    h: &H,
    pool: &Pool<H::Manager>,
) -> Result<(), Error<<H::Manager as Manager>::Error>> {
    let pool = pool.clone();
    let client = Box::pin(async move { H::get(&pool).await.map(drop) }) as Client<_>;
    h.run(vec![client]).pop().expect("one client")
}

/// The rustls error in `e`'s source chain.
fn rustls_reason<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = e.source();
    }
    None
}

/// Whether bytes are pending on the socket (a peek that does not block).
fn pending(socket: socket2::SockRef<'_>) -> bool {
    let blocking = !socket.nonblocking().unwrap_or(true);
    if blocking {
        let _ = socket.set_nonblocking(true);
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let n = socket.peek(&mut buf);
    if blocking {
        let _ = socket.set_nonblocking(false);
    }
    matches!(n, Ok(n) if n > 0)
}

/// Defines the TLS `#[test]` functions for one harness: `tls_tests!(expr)` in an
/// adapter's `tests/tls.rs`, where `expr` builds a
/// [`harness::Tls`](crate::harness::Tls) (evaluated once per test). The last one is the chaos suite's TLS scenario.
#[macro_export]
macro_rules! tls_tests {
    ($harness:expr) => {
        $crate::tls_tests!(@checks $harness;
            tls_types_are_send_sync_and_static => $crate::harness::types_are_send_sync,
            tls_round_trips_reuse_connections => $crate::tls::checks::round_trips_reuse_connections,
            tls_silent_handshake_is_connect_timeout => $crate::tls::checks::silent_handshake_is_connect_timeout,
            tls_unread_data_fails_the_check => $crate::tls::checks::unread_data_fails_the_check,
            tls_session_tickets_keep_the_connection => $crate::tls::checks::session_tickets_keep_the_connection,
            tls_cut_mid_record_is_never_reused => $crate::tls::checks::cut_mid_record_is_never_reused,
            tls_alpn_is_negotiated => $crate::tls::checks::alpn_is_negotiated,
            tls_client_certificate_is_presented => $crate::tls::checks::client_certificate_is_presented,
            tls_config_swap_takes_effect => $crate::tls::checks::config_swap_takes_effect,
            tls_redis_crash_under_load => $crate::tls::checks::redis_crash_under_load,
            tls_refused_client_certificate_backs_off => $crate::tls::checks::refused_client_certificate_backs_off,
        );

        #[test]
        fn tls_wrong_hostname_is_connect_error() {
            use $crate::tls::{ServerCert, checks};
            checks::rejected_certificate(
                &$harness,
                ServerCert::Valid,
                Some("wrong.netpool.test"),
                |e| {
                    matches!(
                        e,
                        $crate::tls::rustls::CertificateError::NotValidForName
                            | $crate::tls::rustls::CertificateError::NotValidForNameContext { .. }
                    )
                },
                "not valid for name \"wrong.netpool.test\"",
            );
        }

        #[test]
        fn tls_untrusted_certificate_is_connect_error() {
            use $crate::tls::{ServerCert, checks};
            checks::rejected_certificate(
                &$harness,
                ServerCert::Untrusted,
                None,
                |e| matches!(e, $crate::tls::rustls::CertificateError::UnknownIssuer),
                "invalid peer certificate: UnknownIssuer",
            );
        }

        #[test]
        fn tls_expired_certificate_is_connect_error() {
            use $crate::tls::{ServerCert, checks};
            checks::rejected_certificate(
                &$harness,
                ServerCert::Expired,
                None,
                |e| {
                    matches!(
                        e,
                        $crate::tls::rustls::CertificateError::Expired
                            | $crate::tls::rustls::CertificateError::ExpiredContext { .. }
                    )
                },
                "certificate expired",
            );
        }

        #[test]
        fn tls_close_notify_while_idle_is_never_handed_out() {
            let close = $crate::tls::Close::Notify;
            $crate::tls::checks::closed_while_idle_is_replaced(&$harness, close);
        }

        #[test]
        fn tls_reset_while_idle_is_never_handed_out() {
            let close = $crate::tls::Close::Reset;
            $crate::tls::checks::closed_while_idle_is_replaced(&$harness, close);
        }

        /// The chaos suite's TLS scenario: the server restarts under load, with the
        /// outage targets.
        #[test]
        fn tls_server_restart_under_load() -> ::std::io::Result<()> {
            use $crate::chaos::scenario::{self, Settings};
            let down_for = ::std::time::Duration::from_millis(1000);
            let report = scenario::tls_restart(&$harness, &Settings::issue(), down_for)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }
    };
    (@checks $harness:expr; $($name:ident => $check:path,)*) => {
        $(
            #[test]
            fn $name() {
                $check(&$harness);
            }
        )*
    };
}
