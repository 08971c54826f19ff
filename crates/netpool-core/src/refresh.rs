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

use crate::events::Event;
use crate::pool::{Inner, Pool};
use crate::pooled::Pooled;
use crate::types::{CloseReason, Fault};
use crate::{KeyedPool, Manager};

impl<M: Manager> Inner<M> {
    /// Closes the idle connections that predate the last refresh; returns how many.
    pub(crate) fn close_stale_idle(&self) -> usize {
        let mut closed = 0;
        let mut pass = crate::pool::Visit::new(self);
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
