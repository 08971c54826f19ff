//! Checks that every adapter's tests run against a misbehaving [`EchoServer`], written
//! once on the chaos suite's [`Harness`]: the adapter builds the pool (each check needs
//! its own settings) and the harness runs the clients.

use std::io;
use std::time::{Duration, Instant};

use netpool_core::{Error, Manager, Pool, Pooled};
use netpool_net::{NetError, TcpManager, TcpOptions};

use crate::chaos::scenario::{self, Client, Harness, RestartReport, Settings};
use crate::harness::{Exec, Tcp};
use crate::{Blackhole, EchoServer, eventually};

/// Bound on every wait in these checks.
const LIMIT: Duration = Duration::from_secs(10);

/// 8 clients make 50 round trips each through `pool`, a pool of 4 that `build()` just
/// made: it opened nothing until then, and reuses at most 4 connections, which have
/// `TCP_NODELAY` set (`nodelay` reads it); dropping the pool closes them all.
///
/// # Panics
///
/// When the check fails.
pub fn round_trips_reuse_connections<H: Harness>(
    h: &H,
    server: &EchoServer,
    pool: Pool<H::Manager>,
    nodelay: impl FnOnce(&<H::Manager as Manager>::Connection) -> bool,
) {
    assert_eq!(server.accepted(), 0, "build() opens nothing");
    echo_clients(h, &pool, 8, 50);
    let stats = pool.stats();
    assert_eq!(stats.gets, 400);
    assert!(server.accepted() <= 4, "accepted {}", server.accepted());
    assert_eq!(stats.connections_created, server.accepted());
    assert_eq!(stats.in_use, 0);
    let one = {
        let pool = pool.clone();
        Box::pin(async move { H::get(&pool).await.expect("a connection") }) as Client<_>
    };
    let conn: Pooled<H::Manager> = h.run(vec![one]).pop().expect("one connection");
    assert!(Pooled::meta(&conn).use_count > 1, "a reused connection");
    assert!(nodelay(&conn), "TCP_NODELAY is set");
    drop(conn);
    drop(pool);
    assert!(
        server.wait_until(LIMIT, |c| c.live == 0),
        "dropping the pool closes all"
    );
}

/// The server closes the pool's idle connection; the next checkout (its pool checks
/// connections idle for more than 1 ms, and its maintenance stays out of the way) notices
/// and hands out a fresh connection instead of an error.
///
/// `pool` is connected to `server`, with `check_idle_after` 1 ms and a long
/// `maintenance_interval`.
///
/// # Panics
///
/// When the check fails.
pub fn closed_by_server_is_replaced<H: Harness>(
    h: &H,
    server: &EchoServer,
    pool: &Pool<H::Manager>,
) {
    one_echo(h, pool, b"one");
    server.close_idle_after(Some(Duration::from_millis(20)));
    assert!(server.wait_until(LIMIT, |c| c.live == 0 && c.closed == 1));
    server.close_idle_after(None);
    one_echo(h, pool, b"two");
    assert_eq!(server.accepted(), 2);
    let stats = pool.stats();
    assert_eq!((stats.closed_invalid, stats.connections_created), (1, 2));
}

/// Maintenance opens `min_idle` by itself, reaps idle connections and replaces old ones.
///
/// `pool` is connected to `server`, with `min_idle` 1, `idle_timeout` 50 ms and
/// `max_lifetime` 300 ms.
///
/// # Panics
///
/// When the check fails.
pub fn maintenance_reaps_and_keeps_min_idle<H: Harness>(
    h: &H,
    server: &EchoServer,
    pool: &Pool<H::Manager>,
) {
    assert!(
        server.wait_until(LIMIT, |c| c.live == 1),
        "min_idle opened by itself"
    );
    let three = {
        let pool = pool.clone();
        Box::pin(async move {
            let mut conns = Vec::new();
            for _ in 0..3 {
                conns.push(H::get(&pool).await.expect("a connection"));
            }
            drop(conns);
        }) as Client<()>
    };
    h.run(vec![three]);
    assert!(
        eventually(LIMIT, || pool.stats().closed_idle >= 2),
        "idle reaped"
    );
    assert!(
        eventually(LIMIT, || pool.stats().closed_lifetime >= 1),
        "old replaced"
    );
    let stats = pool.stats();
    assert!(
        stats.connections >= 1 && stats.connections <= 2,
        "{stats:?}"
    );
    // The pass that closed the old connection opens its replacement right after.
    assert!(
        eventually(LIMIT, || server.accepted() >= 4),
        "a replacement was opened"
    );
}

/// One get and one echo round trip of `msg`, which must succeed.
fn one_echo<H: Harness>(h: &H, pool: &Pool<H::Manager>, msg: &'static [u8]) {
    let pool = pool.clone();
    let client = Box::pin(async move {
        let mut conn = H::get(&pool).await.expect("a connection, not an error");
        H::echo(&mut conn, msg, LIMIT).await.expect("an echo");
        drop(conn);
    }) as Client<()>;
    h.run(vec![client]);
}

/// The server cuts every connection while 32 clients make round trips through `pool` (a
/// pool of `max_size` 8) and, as a new user writes it, drop the guard on an I/O error:
/// the cut costs at most about one error per connection (at most 2 x `max_size` in all),
/// the dead connections are closed as broken when they come back instead of going round
/// to the next caller, and then every request succeeds again.
///
/// # Panics
///
/// When the check fails.
pub fn killed_busy_connections_cost_one_error_each<H: Harness>(
    h: &H,
    server: &EchoServer,
    pool: &Pool<H::Manager>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const ROUNDS: usize = 150;
    const CUT_AFTER: u64 = 600;
    let max_size = pool.stats().max_size;
    let served = Arc::new(AtomicU64::new(0));
    let cut_done = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(server.closer());
    let clients = (0..32u8)
        .map(|t| {
            let (pool, served, cut_done, cut) =
                (pool.clone(), served.clone(), cut_done.clone(), cut.clone());
            Box::pin(async move {
                let mut errors = 0usize;
                let mut last_error = None;
                for i in 0..ROUNDS {
                    // The README's way: `?` on every step, the guard dropped on error.
                    let result: std::io::Result<()> = async {
                        let mut conn = H::get(&pool).await.map_err(std::io::Error::other)?;
                        H::echo(&mut conn, &[t, i as u8, b'\n'], LIMIT).await
                    }
                    .await;
                    match result {
                        Ok(()) => {
                            if served.fetch_add(1, Ordering::SeqCst) + 1 == CUT_AFTER {
                                cut();
                                cut_done.store(true, Ordering::SeqCst);
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            last_error = Some(i);
                        }
                    }
                }
                (errors, last_error)
            }) as Client<(usize, Option<usize>)>
        })
        .collect();
    let results = h.run(clients);
    assert!(cut_done.load(Ordering::SeqCst), "the cut happened mid-run");
    let errors: usize = results.iter().map(|r| r.0).sum();
    assert!(
        errors <= 2 * max_size,
        "{errors} errors for {max_size} killed connections: {:?}",
        pool.stats()
    );
    for (errors, last) in &results {
        if let Some(last) = last {
            assert!(
                *last < ROUNDS - 20,
                "{errors} errors, the last at round {last}: requests succeed again after"
            );
        }
    }
    let stats = pool.stats();
    assert!(stats.closed_broken >= 1, "{stats:?}");
    assert!(stats.connections <= max_size);
}

/// A `get` of a loopback port nothing listens on fails at once with the refused connect
/// (one address tried), and the next `get` finds the pool backing off (or fails to
/// connect again); nothing is left open or out.
///
/// # Panics
///
/// When the check fails.
pub fn closed_port_is_a_connect_error_fast<E: Exec>(h: &Tcp<E>) {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address")
    };
    let pool = h.tcp_pool(addr.to_string(), |b| b);
    let (err, took) = one_failed_get(h, &pool);
    assert!(took < Duration::from_secs(2), "{took:?}");
    match &err {
        Error::Connect(NetError::Connect {
            source, tried: 1, ..
        }) => assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused),
        other => panic!("expected a refused connect, got {other:?}"),
    }
    // Right after, the pool backs off instead of connecting again.
    let (err, _) = one_failed_get(h, &pool);
    assert!(err.is_unavailable() || err.is_connect(), "{err:?}");
    let stats = pool.stats();
    assert_eq!((stats.connections, stats.in_use), (0, 0));
}

/// A `get` for a host name that does not resolve fails (within 30 s) with a
/// [`NetError::Resolve`] that names the host.
///
/// # Panics
///
/// When the check fails.
pub fn unresolvable_name_is_a_clear_error<E: Exec>(h: &Tcp<E>) {
    let pool = h.tcp_pool("netpool-test.invalid:80".to_owned(), |b| b);
    let (err, took) = one_failed_get(h, &pool);
    assert!(
        took < Duration::from_secs(30),
        "resolution failed after {took:?}"
    );
    match err.connect_error() {
        Some(e @ NetError::Resolve { host, .. }) => {
            assert_eq!(host, "netpool-test.invalid");
            assert!(e.to_string().contains("could not resolve"), "{e}");
        }
        other => panic!("expected a resolve error, got {other:?}"),
    }
}

/// A connect to a [`Blackhole`] is cut by the pool's 100 ms `connect_timeout` even when
/// attempts may take 30 s: the manager enforces it itself, so the error names the
/// address and the phase; nothing is left open.
///
/// # Panics
///
/// When the check fails.
pub fn never_completing_connect_times_out<E: Exec>(h: &Tcp<E>) {
    let hole = Blackhole::bind().expect("a blackhole");
    let pool = h.tcp_pool(hole.addr().to_string(), |b| {
        b.connect_timeout(Some(Duration::from_millis(100)))
            .tcp_options(TcpOptions::new().connect_timeout(Some(Duration::from_secs(30))))
    });
    let (err, took) = one_failed_get(h, &pool);
    assert!(
        err.connect_error().is_some_and(NetError::is_timeout),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "could not connect: TCP connect to {}: timed out after 100ms",
            hole.addr()
        )
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(pool.stats().connections, 0);
}

/// One `get` of `pool` run on the harness, which must fail: its error and how long it
/// took.
fn one_failed_get<E: Exec>(
    h: &Tcp<E>,
    pool: &Pool<TcpManager<E::Runtime>>,
) -> (Error<NetError>, Duration) {
    let pool = pool.clone();
    let get = Box::pin(async move {
        let started = Instant::now();
        let Err(err) = pool.get().await else {
            panic!("the get should fail")
        };
        (err, started.elapsed())
    }) as Client<_>;
    h.run(vec![get]).pop().expect("one client")
}

/// Defines the TCP `#[test]` functions every adapter runs, for one harness:
/// `tcp_tests!(expr)` in an adapter's fault tests, where `expr` builds a
/// [`harness::Tcp`](crate::harness::Tcp) (evaluated once per test). The pools come from
/// the runtime's generic `tcp(addr)` builder; the checks are this module's.
#[macro_export]
macro_rules! tcp_tests {
    ($harness:expr) => {
        #[test]
        fn round_trips_reuse_connections() {
            let (h, server) = ($harness, $crate::EchoServer::start().unwrap());
            let pool = h.tcp_pool(server.addr().to_string(), |b| b.max_size(4));
            $crate::checks::round_trips_reuse_connections(&h, &server, pool, |c| {
                $crate::harness::socket_of(c).tcp_nodelay().unwrap()
            });
        }

        #[test]
        fn a_connection_closed_by_the_server_is_replaced_on_checkout() {
            use ::std::time::Duration;
            let (h, server) = ($harness, $crate::EchoServer::start().unwrap());
            let pool = h.tcp_pool(server.addr().to_string(), |b| {
                b.check_idle_after(Some(Duration::from_millis(1)))
                    // Only the checkout may notice: maintenance stays out of the way.
                    .maintenance_interval(Some(Duration::from_secs(60)))
            });
            $crate::checks::closed_by_server_is_replaced(&h, &server, &pool);
        }

        #[test]
        fn maintenance_reaps_idle_and_old_connections_and_keeps_min_idle() {
            use ::std::time::Duration;
            let (h, server) = ($harness, $crate::EchoServer::start().unwrap());
            let pool = h.tcp_pool(server.addr().to_string(), |b| {
                b.min_idle(Some(1))
                    .idle_timeout(Some(Duration::from_millis(50)))
                    .max_lifetime(Some(Duration::from_millis(300)))
            });
            $crate::checks::maintenance_reaps_and_keeps_min_idle(&h, &server, &pool);
        }

        /// Connections cut by the server while busy are closed when they come back (the
        /// TCP manager's `has_broken` peeks), not handed out again and again.
        #[test]
        fn killed_busy_connections_cost_one_error_each() {
            let (h, server) = ($harness, $crate::EchoServer::start().unwrap());
            let pool = h.tcp_pool(server.addr().to_string(), |b| b.max_size(8));
            $crate::checks::killed_busy_connections_cost_one_error_each(&h, &server, &pool);
        }

        #[test]
        fn the_pool_rides_out_a_server_restart() -> ::std::io::Result<()> {
            let h = $harness;
            let report = $crate::checks::server_restart(&h)?;
            eprintln!("{report:#?}");
            report.assert_targets();
            Ok(())
        }
    };
}

/// The chaos suite's [`restart`](crate::chaos::scenario::restart) scenario as the
/// adapters' fault tests run it: 500 ms down, a 5 s `wait_timeout`, and on the blocking
/// runtime a 1 s `connect_timeout` (a blocking connect cannot be interrupted).
///
/// # Errors
///
/// When the server cannot be restarted on its port.
pub fn server_restart<E: Exec>(h: &Tcp<E>) -> io::Result<RestartReport> {
    let mut settings = Settings::issue();
    settings.wait_timeout = Duration::from_secs(5);
    if <E::Runtime as netpool_net::Runtime>::BLOCKING {
        settings.connect_timeout = Duration::from_secs(1);
    }
    scenario::restart(h, &settings, Duration::from_millis(500))
}

/// `clients` clients make `rounds` echo round trips each through `pool`, one checkout
/// per round trip, and all succeed.
///
/// # Panics
///
/// When a checkout or a round trip fails.
pub(crate) fn echo_clients<H: Harness>(h: &H, pool: &Pool<H::Manager>, clients: u8, rounds: u8) {
    let clients = (0..clients)
        .map(|t| {
            let pool = pool.clone();
            Box::pin(async move {
                for i in 0..rounds {
                    let mut conn = H::get(&pool).await.expect("a connection");
                    H::echo(&mut conn, &[t, i, b'\n'], LIMIT)
                        .await
                        .expect("an echo");
                }
            }) as Client<()>
        })
        .collect();
    h.run(clients);
}
