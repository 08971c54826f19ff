//! Operations on a running pool: replacing every connection without failing a caller
//! ([`Pool::refresh`]), holding checkouts back ([`Pool::pause`]), and telling the pool that
//! an error is about the server ([`Pooled::report`], [`Fault`]).
//!
//! # Implementation details
//!
//! * A refresh takes a stamp from the clock that stamps connections (`Idle::created`,
//!   unique and increasing in the process): every connection created before it is
//!   *stale*. No field is added to the connection record.
//! * Idle stale connections are closed by the refresh itself (one pass over the idle
//!   queue), and by every maintenance pass after it (a return that raced the refresh's
//!   pass is caught there, within one maintenance interval).
//! * Checked-out ones are closed when they come back. A return already loads the connect
//!   backoff's `suspects` word (to forget suspicion after a healthy return); its top bit
//!   ([`REFRESHING`](crate::shared::REFRESHING)) says a refresh is under way, so a return
//!   outside a refresh pays no extra load, and the stamp is compared only while the bit is
//!   up. The bit comes down when the stale connections counted at the refresh (those with
//!   a record then: `open`) are all closed, or when a maintenance pass finds every
//!   connection idle and none stale (should that count be off by a connection that got
//!   its record in the instant of the refresh).
//! * Until as many connections were opened as were stale (and while the bit is up),
//!   connects take a turn: at most `refresh_connects` run at once, the others wait for a
//!   turn within their own deadline, so replacing a whole pool is not a reconnect storm.
//! * Pause: the semaphore keeps its `SLOW` flag up and hands no permit to waiters (see
//!   [`crate::sema`]); the fast paths already check that flag, so they pay nothing.
//!   `resume` grants the free permits to the queue, oldest first.

use std::fmt;

use event_listener::Event as Notify;

use crate::clock::{self, Nanos};
use crate::events::Event;
use crate::pool::{Inner, Pool};
use crate::pooled::Pooled;
use crate::shared::{Deadline, Refused, Shared};
use crate::stats::Counters;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use crate::types::{CloseReason, Fault};
use crate::{KeyedPool, Manager};

/// A refresh's bookkeeping: the stale stamp, the stale connections left, connect turns.
pub(crate) struct Refresh {
    /// Connections created before this stamp are stale (0: no refresh yet).
    cutoff: AtomicU64,
    /// Stale connections that may still be open: the flag comes down at 0.
    stale: AtomicUsize,
    /// Connections with a record (opened, not closed): what a refresh makes stale.
    open: AtomicUsize,
    /// New connections still to open before the refresh is over: connects take turns
    /// until then (or while stale connections remain).
    replacing: AtomicUsize,
    /// Connects in progress that hold a turn.
    connecting: AtomicUsize,
    /// At most this many connects at once while refreshing.
    limit: usize,
    /// Notified when a turn is given back.
    turn: Notify,
}

/// A connect turn while refreshing: gives the turn back when dropped.
pub(crate) struct Turn<'a>(&'a Refresh);

impl Refresh {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            cutoff: AtomicU64::new(0),
            stale: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            replacing: AtomicUsize::new(0),
            connecting: AtomicUsize::new(0),
            limit: limit.max(1),
            turn: Notify::new(),
        }
    }

    /// Whether a connection created at `created` predates the last refresh.
    #[inline]
    pub(crate) fn is_stale(&self, created: Nanos) -> bool {
        created < self.cutoff.load(Ordering::Acquire)
    }

    /// A connection got its record (opened or added).
    pub(crate) fn born(&self) {
        self.open.fetch_add(1, Ordering::SeqCst);
        if self.replacing.load(Ordering::Acquire) != 0 {
            let _done = self
                .replacing
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.connecting.fetch_sub(1, Ordering::AcqRel);
        self.0.turn.notify_additional(1);
    }
}

impl fmt::Debug for Refresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresh")
            .field("cutoff", &self.cutoff.load(Ordering::Relaxed))
            .field("stale", &self.stale.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A connection with a record is closed (or detached): counts it out, and brings the
    /// refresh flag down when it was the last stale one.
    pub(crate) fn record_gone(&self, created: Nanos) {
        let refresh = &self.refresh;
        // Saturating: only connections that got a record come here, but a miscount
        // must not wrap.
        let _counted = refresh
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if refresh.is_stale(created) {
            let left = refresh
                .stale
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if left == Ok(1) {
                self.set_refreshing(false);
            }
        }
    }

    /// Ends a refresh whose stale connections are all gone (maintenance saw every
    /// connection idle and none stale), whatever the count says.
    pub(crate) fn refresh_over(&self) {
        self.refresh.stale.store(0, Ordering::SeqCst);
        self.set_refreshing(false);
    }

    /// Starts a refresh: every connection with a record now is stale. Returns how many.
    fn start_refresh(&self) -> usize {
        let refresh = &self.refresh;
        let cutoff = crate::clock::unique_stamp(clock::now());
        refresh.cutoff.fetch_max(cutoff, Ordering::SeqCst);
        let stale = refresh.open.load(Ordering::SeqCst);
        refresh.stale.store(stale, Ordering::SeqCst);
        refresh.replacing.store(stale, Ordering::SeqCst);
        Counters::bump(&self.counters.refreshes);
        if stale > 0 {
            self.set_refreshing(true);
        } else {
            self.set_refreshing(false);
        }
        stale
    }

    /// While a refresh is under way, waits for one of the `refresh_connects` turns to
    /// connect (within the caller's deadline; `wait` false: not at all). `None` outside a
    /// refresh.
    pub(crate) async fn connect_turn(
        &self,
        deadline: &mut Deadline,
        wait: bool,
    ) -> Result<Option<Turn<'_>>, Refused> {
        let refresh = &self.refresh;
        loop {
            if refresh.replacing.load(Ordering::Acquire) == 0 && !self.refreshing() {
                return Ok(None);
            }
            if self.is_closed() {
                return Err(Refused::Closed);
            }
            let cur = refresh.connecting.load(Ordering::Acquire);
            if cur < refresh.limit {
                if refresh
                    .connecting
                    .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(Some(Turn(refresh)));
                }
                continue;
            }
            if !wait {
                return Err(Refused::NotYet);
            }
            let listener = refresh.turn.listen();
            if refresh.connecting.load(Ordering::Acquire) < refresh.limit
                || (refresh.replacing.load(Ordering::Acquire) == 0 && !self.refreshing())
            {
                continue;
            }
            if crate::shared::run_until(deadline.at(), listener)
                .await
                .is_none()
            {
                return Err(Refused::Timeout);
            }
        }
    }
}

impl<M: Manager> Inner<M> {
    /// Closes the idle connections that predate the last refresh; returns how many.
    pub(crate) fn close_stale_idle(&self) -> usize {
        let mut closed = 0;
        let mut pass = crate::maintain::Visit::new(self);
        while let Some(item) = pass.next() {
            if self.shared.refresh.is_stale(item.created) {
                drop(self.live(item, CloseReason::Refreshed));
                closed += 1;
            } else {
                pass.keep(item);
            }
        }
        closed
    }

    /// [`Pool::refresh`] on the insides (a key's pool, from [`Pooled::report`] too).
    pub(crate) fn refresh(&self) {
        if self.shared.is_closed() {
            return;
        }
        let stale = self.shared.start_refresh();
        self.shared.events.emit(|| Event::Refreshed { stale });
        self.close_stale_idle();
    }
}

impl<M: Manager> Pool<M> {
    /// Replaces every connection without failing a caller: idle connections are closed
    /// now, checked-out ones when they come back, and new ones are opened on demand (and
    /// by maintenance, for `min_idle`) with the manager's current settings.
    ///
    /// While stale connections remain, at most
    /// [`refresh_connects`](crate::Builder::refresh_connects) connects run at once; the
    /// other callers that need a connection wait for a turn within their own deadline, so
    /// refreshing a large pool is no reconnect storm against the server. Closes are
    /// reported as [`CloseReason::Refreshed`](crate::CloseReason::Refreshed) and counted
    /// in [`Stats::closed_refreshed`](crate::Stats::closed_refreshed).
    ///
    /// A connect already under way when `refresh` is called counts as new. A
    /// connection that came back in the very instant of the refresh may stay idle until
    /// the next maintenance pass, which closes it.
    ///
    /// Typical uses: after a failover, after the manager's address or credentials
    /// changed, or to drain every connection to a server before maintenance on it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # struct Counter;
    /// # impl netpool_core::Manager for Counter {
    /// #     type Connection = u64;
    /// #     type Error = Infallible;
    /// #     async fn connect(&self) -> Result<u64, Infallible> { Ok(0) }
    /// #     async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> { Ok(()) }
    /// #     fn has_broken(&self, _: &mut u64) -> bool { false }
    /// # }
    /// # futures_lite::future::block_on(async {
    /// let pool = netpool_core::Pool::builder().build(Counter)?;
    /// let busy = pool.get().await?;
    /// drop(pool.get().await?); // one idle
    /// pool.refresh();
    /// assert_eq!(pool.stats().connections, 1); // the idle one is gone now
    /// drop(busy); // the busy one is closed as it comes back
    /// assert_eq!(pool.stats().connections, 0);
    /// assert_eq!(pool.stats().closed_refreshed, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn refresh(&self) {
        self.inner.refresh();
    }

    /// Holds checkouts back: from now on every [`get`](Self::get) waits (within its own
    /// deadline) until [`resume`](Self::resume), and [`try_get`](Self::try_get) fails with
    /// [`Error::Timeout`](crate::Error::Timeout). Connections already checked out are not
    /// affected; maintenance goes on.
    ///
    /// For an operator's switch-over: pause, change what the manager connects to,
    /// [`refresh`](Self::refresh), resume. Costs the get and return paths nothing while
    /// the pool is not paused.
    pub fn pause(&self) {
        self.inner.shared.sema.pause();
        self.inner.shared.events.emit(|| Event::Paused);
    }

    /// Ends a [`pause`](Self::pause): the callers that waited are served first come,
    /// first served, before any newcomer.
    pub fn resume(&self) {
        self.inner.shared.sema.resume();
        self.inner.shared.events.emit(|| Event::Resumed);
    }

    /// Whether the pool is [paused](Self::pause).
    pub fn is_paused(&self) -> bool {
        self.inner.shared.sema.is_paused()
    }
}

impl<M: Manager> Pooled<M> {
    /// Tells the pool about an error this connection returned: the manager's
    /// [`classify`](crate::Manager::classify) decides what it says, and the pool acts on
    /// the verdict, which is returned.
    ///
    /// * For [`Fault::Connection`] the connection is closed when the guard is dropped.
    /// * For [`Fault::Server`] the same, and the pool (for a [`KeyedPool`], this key's
    ///   pool) is [refreshed](Pool::refresh) at once, so every other connection to the
    ///   changed server is replaced without failing a caller.
    /// * For [`Fault::None`] nothing happens.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # struct Counter;
    /// # impl netpool_core::Manager for Counter {
    /// #     type Connection = u64;
    /// #     type Error = Infallible;
    /// #     async fn connect(&self) -> Result<u64, Infallible> { Ok(0) }
    /// #     async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> { Ok(()) }
    /// #     fn has_broken(&self, _: &mut u64) -> bool { false }
    /// # }
    /// use netpool_core::{Fault, Pool, Pooled};
    /// # futures_lite::future::block_on(async {
    /// let pool = Pool::builder().build(Counter)?;
    /// let mut conn = pool.get().await?;
    /// let err = std::io::Error::other("connection reset");
    /// // The default `classify` blames the connection.
    /// assert_eq!(Pooled::report(&mut conn, &err), Fault::Connection);
    /// drop(conn);
    /// assert_eq!(pool.stats().connections, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn report(this: &mut Self, err: &(dyn std::error::Error + 'static)) -> Fault {
        let fault = this.inner().manager.classify(err);
        match fault {
            Fault::Connection => Self::set_broken(this, true),
            Fault::Server => {
                Self::set_broken(this, true);
                this.inner().refresh();
            }
            Fault::None => {}
        }
        fault
    }
}

impl<K, M> KeyedPool<K, M>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    M: Manager,
{
    /// [`Pool::refresh`] for every key.
    pub fn refresh(&self) {
        for (_, pool) in self.pools() {
            pool.refresh();
        }
    }

    /// [`Pool::refresh`] for `key`'s pool; `false` if the key has none.
    pub fn refresh_key(&self, key: &K) -> bool {
        match self.pool_of(key) {
            Some(pool) => {
                pool.refresh();
                true
            }
            None => false,
        }
    }

    /// [`Pool::pause`] for every key, and for keys first used while paused.
    pub fn pause(&self) {
        self.set_paused(true);
    }

    /// [`Pool::resume`] for every key.
    pub fn resume(&self) {
        self.set_paused(false);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use crate::shared::STALE;
    use crate::sync::Ordering;
    use crate::{Manager, Pool};

    struct Unit;

    impl Manager for Unit {
        type Connection = ();
        type Error = Infallible;

        async fn connect(&self) -> Result<(), Infallible> {
            Ok(())
        }

        async fn is_valid(&self, _: &mut ()) -> Result<(), Infallible> {
            Ok(())
        }

        fn has_broken(&self, _: &mut ()) -> bool {
            false
        }
    }

    #[test]
    fn the_refresh_flags_come_down_once_the_old_connections_are_gone() {
        let pool = Pool::builder()
            .max_size(2)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .build(Unit)
            .unwrap();
        let shared = &pool.inner.shared;
        let held = [pool.try_get().unwrap(), pool.try_get().unwrap()];
        assert_eq!(shared.timed.load(Ordering::Relaxed), 0, "an untimed pool");
        pool.refresh();
        assert!(shared.refreshing());
        assert_eq!(shared.timed.load(Ordering::Relaxed), STALE);
        drop(held);
        assert!(
            !shared.refreshing(),
            "the returns and checkouts pay nothing again"
        );
        assert_eq!(shared.timed.load(Ordering::Relaxed), 0);
        // An empty pool's refresh raises nothing.
        pool.refresh();
        assert!(!shared.refreshing());
    }

    #[test]
    fn maintenance_ends_a_refresh_whose_count_was_off() {
        let pool = Pool::builder().max_size(2).build(Unit).unwrap();
        let shared = &pool.inner.shared;
        drop(pool.try_get().unwrap());
        pool.refresh();
        // As if a connection counted at the refresh had been made just after it.
        shared.refresh.stale.store(1, Ordering::SeqCst);
        shared.set_refreshing(true);
        drop(pool.try_get().unwrap());
        futures_lite::future::block_on(pool.maintain());
        assert!(!shared.refreshing());
    }
}
