//! Checks of the operations on a running TCP pool that every adapter's tests run, written
//! once over the [`Exec`] harness: a host name re-pointed under load (re-resolution and
//! draining), and `TCP_USER_TIMEOUT` on new connections.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use netpool_net::Resolver;

use crate::chaos::scenario::Client;
use crate::harness::{Exec, Tcp, echo_once, socket_of};
use crate::{EchoServer, eventually};

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
    let (old, new) = (
        Arc::new(EchoServer::start().expect("a server")),
        Arc::new(EchoServer::start().expect("a server")),
    );
    let (interval, drain) = (Duration::from_millis(100), Duration::from_millis(300));
    let target = Arc::new(Mutex::new(old.addr()));
    let table = target.clone();
    let resolver = Resolver::new(move |host, _port| match host {
        "moved.test" => Ok(vec![*table.lock().unwrap_or_else(PoisonError::into_inner)]),
        _ => Err(std::io::ErrorKind::NotFound.into()),
    });
    let pool = h.tcp_pool("moved.test:1".into(), |b| {
        b.max_size(8)
            .wait_timeout(Some(LIMIT))
            .resolver(resolver)
            .resolve_interval(Some(interval))
            .drain_window(drain)
    });
    let round_trips = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let control = {
        let (old, next) = (old.clone(), new.addr());
        let (round_trips, stop) = (round_trips.clone(), stop.clone());
        std::thread::spawn(move || {
            let warm = eventually(LIMIT, || round_trips.load(Ordering::SeqCst) >= 500);
            let before = round_trips.load(Ordering::SeqCst);
            *target.lock().unwrap_or_else(PoisonError::into_inner) = next;
            let moved = Instant::now();
            let done = warm && old.wait_until(LIMIT, |c| c.live == 0);
            let moved_in = done.then(|| moved.elapsed());
            // A few more round trips on the new server, then stop.
            let after = round_trips.load(Ordering::SeqCst);
            eventually(LIMIT, || round_trips.load(Ordering::SeqCst) >= after + 100);
            stop.store(true, Ordering::SeqCst);
            (moved_in, before)
        })
    };
    let work = (0..clients)
        .map(|c| {
            let (pool, round_trips, failures, stop) = (
                pool.clone(),
                round_trips.clone(),
                failures.clone(),
                stop.clone(),
            );
            Box::pin(async move {
                let msg = [u8::try_from(c % 256).unwrap_or(0), b'\n'];
                // Bounded in count and time.
                for _ in 0..100_000 {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > 3 * LIMIT {
                        break;
                    }
                    let done = match pool.get().await {
                        Ok(mut conn) => echo_once::<E>(&mut conn, &msg).await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if done { &round_trips } else { &failures };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }) as Client<()>
        })
        .collect();
    h.0.run(work);
    let (moved_in, before) = control.join().expect("the control thread");
    let total = round_trips.load(Ordering::SeqCst);
    MoveReport {
        clients,
        round_trips: total,
        failures: failures.load(Ordering::SeqCst),
        interval,
        drain,
        moved_in,
        accepted: (old.accepted(), new.accepted()),
        after_move: total - before,
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

/// Defines the `#[test]` functions of the operations on a running TCP pool for one
/// harness: `operations_tests!(expr, clients)`, where `expr` builds a
/// [`harness::Tcp`](crate::harness::Tcp) (evaluated once per test) and `clients` is how
/// many clients use the pool while a name moves.
#[macro_export]
macro_rules! operations_tests {
    ($harness:expr, $clients:expr) => {
        /// A name re-pointed under load moves every connection within the resolve
        /// interval plus the drain window, and no checkout fails.
        #[test]
        fn a_re_pointed_name_moves_every_connection() {
            let report = $crate::operations::name_move(&$harness, $clients);
            eprintln!("{report:#?}");
            report.assert_targets();
        }

        #[test]
        fn user_timeout_is_set_on_new_connections() {
            $crate::operations::user_timeout_is_set(&$harness);
        }
    };
}
