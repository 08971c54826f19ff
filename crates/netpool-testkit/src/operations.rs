//! Checks of the operations on a running TCP pool that every adapter's tests run, written
//! once over the [`Exec`] harness: a host name re-pointed under load (re-resolution and
//! draining, over TCP and TLS), and `TCP_USER_TIMEOUT` on new connections.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use netpool_core::Pool;
use netpool_net::{Resolver, TlsBuilder};

use crate::chaos::scenario::{Client, Harness};
use crate::harness::{Exec, Tcp, Tls, socket_of};
use crate::{EchoServer, Load, TlsEchoServer, eventually};

/// Bound on every wait in these checks.
const LIMIT: Duration = Duration::from_secs(10);

/// What [`name_move`] measured.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct MoveReport {
    /// Clients using the pool during the move.
    pub clients: usize,
    /// Round trips (a checkout and an echo) that succeeded, in all.
    pub round_trips: u64,
    /// Checkouts or round trips that failed.
    pub failures: u64,
    /// The resolve interval and the drain window of the pool.
    pub interval: Duration,
    /// See `interval`.
    pub drain: Duration,
    /// From the name's move to the last connection to the old server closed (`None`:
    /// not within the checks' bound of 10 s).
    pub moved_in: Option<Duration>,
    /// Connections the old server and the new one accepted.
    pub accepted: (u64, u64),
    /// Round trips after the move.
    pub after_move: u64,
}

impl MoveReport {
    /// Prints the report (to stderr: `--nocapture` shows it), then
    /// [`assert_targets`](Self::assert_targets).
    ///
    /// # Panics
    ///
    /// When a promise is not kept.
    pub fn check(&self) {
        eprintln!("{self:#?}");
        self.assert_targets();
    }

    /// Asserts what the pool promises: no failed checkout or round trip, and every
    /// connection off the old server within the resolve interval plus the drain window
    /// (and a margin for a loaded machine), the new server in use.
    ///
    /// # Panics
    ///
    /// When a promise is not kept.
    pub fn assert_targets(&self) {
        assert_eq!(self.failures, 0, "{self:#?}");
        let moved_in = self.moved_in.expect("every old connection closed");
        let margin = Duration::from_millis(500);
        assert!(
            moved_in <= self.interval + self.drain + margin,
            "moved in {moved_in:?}: {self:#?}"
        );
        assert!(self.accepted.1 > 0 && self.after_move > 0, "{self:#?}");
    }
}

/// A name (`moved.test`, resolved by a [`Resolver`] the check controls) points at one
/// echo server while `clients` clients make round trips through a pool of 8 that
/// resolves it every 100 ms with a drain window of 300 ms; then it is re-pointed to
/// another server. The clients go on until the old server saw its last connection close
/// (or 10 s passed), then stop.
///
/// # Panics
///
/// When a server cannot start.
pub fn name_move<E: Exec>(h: &Tcp<E>, clients: usize) -> MoveReport {
    let server = Server {
        start: EchoServer::start,
        addr: EchoServer::addr,
        accepted: EchoServer::accepted,
        drained: |s, limit| s.wait_until(limit, |c| c.live == 0),
    };
    moved_under_load(h, clients, server, |resolver, (interval, drain), _| {
        h.tcp_pool(NAME.into(), |b| {
            b.max_size(8)
                .wait_timeout(Some(LIMIT))
                .resolver(resolver)
                .resolve_interval(Some(interval))
                .drain_window(drain)
        })
    })
}

/// [`name_move`] over TLS: the TLS manager re-resolves through the TCP manager it wraps,
/// and its `has_broken` drains the old address too.
///
/// # Panics
///
/// When a server cannot start or the settings are invalid.
pub fn tls_name_move<E: Exec>(h: &Tls<E>, clients: usize) -> MoveReport {
    let server = Server {
        start: TlsEchoServer::start,
        addr: TlsEchoServer::addr,
        accepted: |s: &TlsEchoServer| s.counts().accepted,
        drained: |s, limit| s.wait_until(limit, |c| c.live == 0),
    };
    moved_under_load(h, clients, server, |resolver, (interval, drain), old| {
        h.0.build(|| {
            TlsBuilder::<E::Runtime>::new(NAME, old.client_config())
                .server_name("localhost")
                .max_size(8)
                .wait_timeout(Some(LIMIT))
                .resolver(resolver)
                .resolve_interval(Some(interval))
                .drain_window(drain)
                .build()
                .expect("valid settings")
        })
    })
}

/// The name the checks re-point, with a port the resolver ignores.
const NAME: &str = "moved.test:1";

/// What the move needs of an echo server (plain or TLS): start one, its address, the
/// connections it accepted, and a wait (up to a bound) until none is open.
struct Server<S> {
    start: fn() -> std::io::Result<S>,
    addr: fn(&S) -> SocketAddr,
    accepted: fn(&S) -> u64,
    drained: fn(&S, Duration) -> bool,
}

/// Starts two servers, builds the pool with `build` (from the resolver of the name, the
/// resolve interval and drain window, and the old server), moves the name from the old
/// server to the new one while `clients` clients make round trips, and reports.
fn moved_under_load<H: Harness, S: Send + Sync + 'static>(
    h: &H,
    clients: usize,
    server: Server<S>,
    build: impl FnOnce(Resolver, (Duration, Duration), &S) -> Pool<H::Manager>,
) -> MoveReport {
    let start = || Arc::new((server.start)().expect("a server"));
    let (old, new) = (start(), start());
    let (interval, drain) = (Duration::from_millis(100), Duration::from_millis(300));
    let target = Arc::new(Mutex::new((server.addr)(&old)));
    let table = target.clone();
    let resolver = Resolver::new(move |host, _port| match host {
        "moved.test" => Ok(vec![*table.lock().unwrap_or_else(PoisonError::into_inner)]),
        _ => Err(std::io::ErrorKind::NotFound.into()),
    });
    let pool = build(resolver, (interval, drain), &old);
    let load = Load::new();
    let control = {
        let (old, next, drained) = (old.clone(), (server.addr)(&new), server.drained);
        let load = load.clone();
        std::thread::spawn(move || {
            let warm = eventually(LIMIT, || load.ok() >= 500);
            let before = load.ok();
            *target.lock().unwrap_or_else(PoisonError::into_inner) = next;
            let moved = Instant::now();
            let done = warm && drained(&old, LIMIT);
            let moved_in = done.then(|| moved.elapsed());
            // A few more round trips on the new server, then stop.
            let after = load.ok();
            eventually(LIMIT, || load.ok() >= after + 100);
            load.stop();
            (moved_in, before)
        })
    };
    let work = load.clients(clients, &pool, |pool| async move {
        match H::get(&pool).await {
            Ok(mut conn) => H::echo(&mut conn, b"moved\n", LIMIT).await.is_ok(),
            Err(_) => false,
        }
    });
    h.run(work);
    let (moved_in, before) = control.join().expect("the control thread");
    MoveReport {
        clients,
        round_trips: load.ok(),
        failures: load.failed(),
        interval,
        drain,
        moved_in,
        accepted: ((server.accepted)(&old), (server.accepted)(&new)),
        after_move: load.ok() - before,
    }
}

/// New connections of a pool built with `user_timeout(1.5 s)` have `TCP_USER_TIMEOUT`
/// set to it (on Linux, Android and Fuchsia; elsewhere the option does nothing and this
/// checks only that a connection opens).
///
/// # Panics
///
/// When the check fails.
pub fn user_timeout_is_set<E: Exec>(h: &Tcp<E>) {
    let server = EchoServer::start().expect("a server");
    let limit = Duration::from_millis(1500);
    let pool = h.tcp_pool(server.addr().to_string(), |b| b.user_timeout(Some(limit)));
    let check = Box::pin(async move {
        let conn = pool.get().await.expect("a connection");
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
        assert_eq!(
            socket_of(&*conn).tcp_user_timeout().expect("getsockopt"),
            Some(limit)
        );
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
        let _ = socket_of(&*conn);
    }) as Client<()>;
    h.0.run(vec![check]);
}

/// Defines the `#[test]` functions of the operations on a running pool for one runtime:
/// `operations_tests!(exec, clients)`, where `exec` builds the adapter's
/// [`Exec`](crate::harness::Exec) (evaluated once per test) and `clients` is how many
/// clients use the pool while a name moves.
#[macro_export]
macro_rules! operations_tests {
    ($exec:expr, $clients:expr) => {
        /// A name re-pointed under load moves every connection within the resolve
        /// interval plus the drain window, and no checkout fails.
        #[test]
        fn a_re_pointed_name_moves_every_connection() {
            $crate::operations::name_move(&$crate::harness::Tcp($exec), $clients).check();
        }

        /// The same over TLS.
        #[test]
        fn a_re_pointed_name_moves_every_tls_connection() {
            $crate::operations::tls_name_move(&$crate::harness::Tls($exec), $clients).check();
        }

        #[test]
        fn user_timeout_is_set_on_new_connections() {
            $crate::operations::user_timeout_is_set(&$crate::harness::Tcp($exec));
        }
    };
}
