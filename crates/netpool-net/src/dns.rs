//! [`Resolver`]: how the TCP and TLS managers turn a host name into addresses, and the
//! re-resolution that drains connections whose address left the answer.
//!
//! # Implementation details
//!
//! * Every connect resolves the name (with the [`Resolver`], or the runtime's), so new
//!   connections follow a name that moved without any of this.
//! * With a resolve interval set, a task of the builder's (`Watch::run`, started with
//!   [`Runtime::spawn`]) resolves the name every interval and keeps the answer. An
//!   address that was in the last answer and is missing from this one has *departed*;
//!   one that is back before its drain window passed is kept. A failed or empty
//!   resolution changes nothing (a DNS outage drains nothing).
//! * An address departed for a whole drain window is *retired*: the task closes the idle
//!   connections to it at once ([`Pool::retain`]), and the managers' `has_broken` (on
//!   return) and `is_valid` (on checkout) close the ones that were checked out. Only
//!   while some address is retired do they read the connection's peer address
//!   (`getpeername`) and the retired set; otherwise they pay one atomic load. Retiring
//!   ends at a pass that finds no connection checked out after its own `retain` (every
//!   connection was then checked), or once `max_lifetime` has passed since the address
//!   was retired.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use netpool_core::{Manager, Pool, WeakPool};

use crate::Address;

/// The default drain window: how long an address must stay out of the answer before the
/// connections to it are closed.
pub(crate) const DRAIN_WINDOW: Duration = Duration::from_secs(10);

/// A resolution under way: the addresses of a name.
type Resolving = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// How a TCP or TLS manager turns a host name into socket addresses, in place of the
/// runtime's resolver (the system's, through `getaddrinfo`): a resolver of your own
/// (hickory-resolver, a service registry), or a table a test controls.
///
/// It is asked for names only (an IP literal is connected to as it is), on every connect
/// and, with a resolve interval set (`TcpBuilder::resolve_interval`), by the re-resolution
/// task. It gets the host and the port of the address and returns socket addresses
/// (normally with that port), tried in order.
///
/// # Examples
///
/// A name a test re-points:
///
/// ```
/// # let (a, b) = (netpool_testkit::EchoServer::start()?, netpool_testkit::EchoServer::start()?);
/// use std::sync::{Arc, Mutex};
/// use netpool_net::Resolver;
///
/// let target = Arc::new(Mutex::new(a.addr()));
/// let table = target.clone();
/// let resolver = Resolver::new(move |host, _port| match host {
///     "db.test" => Ok(vec![*table.lock().unwrap()]),
///     _ => Err(std::io::ErrorKind::NotFound.into()),
/// });
/// let pool = netpool_std::tcp("db.test:5432").resolver(resolver).build()?;
/// assert_eq!(pool.get_blocking()?.peer_addr()?, a.addr());
/// *target.lock().unwrap() = b.addr(); // the name moves
/// pool.refresh(); // (or let `resolve_interval` drain the old address)
/// assert_eq!(pool.get_blocking()?.peer_addr()?, b.addr());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Resolver {
    resolve: Arc<dyn Fn(String, u16) -> Resolving + Send + Sync>,
}

impl Resolver {
    /// A resolver from a synchronous function of the host and the port. It runs on the
    /// connecting task (or thread), so it must not block: a table, a cache; for DNS over
    /// the network, use [`new_async`](Self::new_async).
    pub fn new(
        resolve: impl Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        Self::new_async(move |host: String, port| std::future::ready(resolve(&host, port)))
    }

    /// A resolver from an async function of the host and the port.
    pub fn new_async<F, Fut>(resolve: F) -> Self
    where
        F: Fn(String, u16) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'static,
    {
        Self {
            resolve: Arc::new(move |host, port| Box::pin(resolve(host, port))),
        }
    }

    /// Resolves `host`.
    pub(crate) fn resolve(&self, host: &str, port: u16) -> Resolving {
        (self.resolve)(host.to_owned(), port)
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

/// A manager whose name the re-resolution task watches: the TCP manager and the TLS
/// manager over it.
pub(crate) trait Watched: Manager {
    /// The watch settings and state.
    fn watch(&self) -> &Watch;

    /// The address now (the one set last).
    fn address(&self) -> Option<Address>;

    /// Resolves a name as connects do.
    fn resolve(
        &self,
        address: &Address,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// The address a connection is connected to.
    fn peer(conn: &Self::Connection) -> Option<SocketAddr>;
}

/// A manager's re-resolution: its settings, the last answer, the addresses departed and
/// retired.
#[derive(Debug)]
pub(crate) struct Watch {
    /// How often the name is resolved again (`None`: never).
    pub(crate) interval: Option<Duration>,
    /// How long an address must stay out of the answer before its connections close.
    pub(crate) drain: Duration,
    /// Up while `retired` is not empty: the only thing returns and checks read otherwise.
    retiring: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The last non-empty answer.
    answer: Vec<SocketAddr>,
    /// Addresses of an earlier answer missing since the instant given.
    departed: Vec<(SocketAddr, Instant)>,
    /// Addresses departed for a whole drain window: their connections are closed.
    retired: Vec<SocketAddr>,
    /// When the last address was retired.
    retired_at: Option<Instant>,
}

impl Watch {
    /// No re-resolution, the default drain window.
    pub(crate) fn new() -> Self {
        Self::with(None, DRAIN_WINDOW)
    }

    pub(crate) fn with(interval: Option<Duration>, drain: Duration) -> Self {
        Self {
            interval,
            drain,
            retiring: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    /// Whether a connection to `peer` is to be closed: its address is retired. One
    /// atomic load unless some address is.
    pub(crate) fn is_retired(&self, peer: impl FnOnce() -> Option<SocketAddr>) -> bool {
        // Acquire: pairs with the Release that raised the flag after `retired` was filled.
        if !self.retiring.load(Ordering::Acquire) {
            return false;
        }
        peer().is_some_and(|peer| self.lock().retired.contains(&peer))
    }

    /// Runs the re-resolution of the manager of the pool behind `pool` until the pool is
    /// dropped or closed.
    pub(crate) async fn run<M: Watched>(pool: WeakPool<M>) {
        crate::maintain::every_interval(
            || {
                let pool = pool.upgrade().filter(|p| !p.is_closed())?;
                Some(async move { Self::pass(&pool).await })
            },
            async_io::Timer::after,
        )
        .await;
    }

    /// One pass: resolves, retires what departed a drain window ago, closes the idle
    /// connections to retired addresses; returns how long to sleep.
    async fn pass<M: Watched>(pool: &Pool<M>) -> Duration {
        let manager = pool.manager();
        let watch = manager.watch();
        let Some(interval) = watch.interval else {
            return Duration::from_secs(3600);
        };
        if let Some(address) = manager.address() {
            let answer = match address.socket_addr() {
                Some(literal) => Ok(vec![literal]),
                None => manager.resolve(&address).await,
            };
            if let Ok(answer) = answer {
                watch.update(answer, Instant::now());
            }
        }
        let now = Instant::now();
        watch.retire_due(now);
        if watch.retiring.load(Ordering::Acquire) {
            pool.retain(|conn, _| !watch.is_retired(|| M::peer(conn)));
            let lifetime_over = pool.config().max_lifetime.is_some_and(|life| {
                watch
                    .lock()
                    .retired_at
                    .is_some_and(|at| now.duration_since(at) >= life)
            });
            if pool.stats().in_use == 0 || lifetime_over {
                watch.end_retiring();
            }
        }
        watch.next_pass(interval, Instant::now())
    }

    /// Takes a new answer: addresses missing from it depart, addresses back in it are
    /// kept. An empty answer changes nothing.
    fn update(&self, answer: Vec<SocketAddr>, now: Instant) {
        if answer.is_empty() {
            return;
        }
        let mut state = self.lock();
        let state = &mut *state;
        state.departed.retain(|(addr, _)| !answer.contains(addr));
        let back: Vec<_> = state
            .retired
            .iter()
            .filter(|addr| answer.contains(addr))
            .copied()
            .collect();
        if !back.is_empty() {
            state.retired.retain(|addr| !back.contains(addr));
            if state.retired.is_empty() {
                self.retiring.store(false, Ordering::Release);
            }
        }
        for &addr in &state.answer {
            let known = state.departed.iter().any(|(a, _)| *a == addr);
            if !answer.contains(&addr) && !known && !state.retired.contains(&addr) {
                state.departed.push((addr, now));
            }
        }
        state.answer = answer;
    }

    /// Retires the addresses departed for a drain window by `now`.
    fn retire_due(&self, now: Instant) {
        let mut state = self.lock();
        let state = &mut *state;
        let drain = self.drain;
        let mut retired = false;
        state.departed.retain(|&(addr, since)| {
            let due = now.duration_since(since) >= drain;
            if due {
                state.retired.push(addr);
                retired = true;
            }
            !due
        });
        if retired {
            state.retired_at = Some(now);
            // Release: a return that sees the flag sees `retired` filled.
            self.retiring.store(true, Ordering::Release);
        }
    }

    /// Forgets the retired addresses: no connection to them is left.
    fn end_retiring(&self) {
        let mut state = self.lock();
        state.retired.clear();
        state.retired_at = None;
        self.retiring.store(false, Ordering::Release);
    }

    /// How long until the next pass: the interval, or less when a drain window ends
    /// sooner.
    fn next_pass(&self, interval: Duration, now: Instant) -> Duration {
        let state = self.lock();
        let drained = state
            .departed
            .iter()
            .map(|&(_, since)| (since + self.drain).saturating_duration_since(now));
        drained.fold(interval, Duration::min)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clone for Watch {
    /// The same settings, none of the state.
    fn clone(&self) -> Self {
        Self::with(self.interval, self.drain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn an_address_retires_after_a_whole_drain_window_out_of_the_answer() {
        let drain = Duration::from_secs(10);
        let watch = Watch::with(Some(Duration::from_secs(1)), drain);
        let t0 = Instant::now();
        let second = |s| t0 + Duration::from_secs(s);
        watch.update(vec![addr(1), addr(2)], t0);
        watch.update(vec![addr(2)], second(1)); // 1 departs
        assert_eq!(watch.next_pass(Duration::from_secs(60), second(1)), drain);
        watch.update(vec![], second(2)); // a failed lookup changes nothing
        watch.retire_due(second(10));
        assert!(!watch.is_retired(|| Some(addr(1))));
        watch.retire_due(second(11));
        assert!(watch.is_retired(|| Some(addr(1))));
        assert!(!watch.is_retired(|| Some(addr(2))));

        watch.update(vec![addr(1)], second(12)); // back: kept again; 2 departs
        assert!(!watch.is_retired(|| Some(addr(1))));
        watch.update(vec![addr(1), addr(2)], second(13)); // 2 back within the window
        watch.retire_due(second(30));
        assert!(!watch.is_retired(|| Some(addr(2))));
    }

    #[test]
    fn no_peer_lookup_unless_an_address_is_retired() {
        let watch = Watch::new();
        assert!(!watch.is_retired(|| unreachable!("not read while nothing is retired")));
        watch.update(vec![addr(1)], Instant::now());
        watch.update(vec![addr(2)], Instant::now());
        watch.retire_due(Instant::now() + DRAIN_WINDOW);
        assert!(watch.is_retired(|| Some(addr(1))));
        watch.end_retiring();
        assert!(!watch.is_retired(|| unreachable!("retiring is over")));
    }
}
