//! [`Pooled`]: the checked-out guard, and [`Meta`], a connection's bookkeeping.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::ptr::NonNull;

use crate::Manager;
use crate::idle::{Idle, Meta};
use crate::pool::inner::Inner;
use crate::shared::Permit;
use crate::sync::Arc;
use crate::types::CloseReason;

/// A connection checked out of a [`Pool`](crate::Pool); it goes back to the pool when dropped.
///
/// Derefs (mutably) to the connection. Its own operations are associated functions, like
/// [`Arc::strong_count`](std::sync::Arc::strong_count), so they never shadow the
/// connection's methods: [`Pooled::detach`], [`Pooled::discard`], [`Pooled::meta`].
///
/// When it is dropped, `has_broken` runs; a broken connection, or one past its
/// `max_lifetime`, is closed and its slot freed at once.
///
/// A guard keeps the pool's memory alive (not the pool open: dropping the last [`Pool`](crate::Pool)
/// closes it), so a guard leaked with [`std::mem::forget`] leaks the whole pool, its
/// manager included, and holds its slot for good. To keep a connection, use
/// [`Pooled::detach`].
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
/// use netpool_core::{Pool, Pooled};
/// # futures_lite::future::block_on(async {
/// let pool = Pool::builder().build(Counter)?;
/// let conn = pool.get().await?;
/// assert_eq!(Pooled::meta(&conn).use_count, 1);
/// Pooled::discard(conn); // a protocol error, say: close it instead of reusing it
/// assert_eq!(pool.stats().connections, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[must_use = "dropping a Pooled returns the connection at once"]
#[clippy::has_significant_drop]
pub struct Pooled<M: Manager> {
    /// The pool's insides, without a reference count of its own (two atomic
    /// read-modify-writes per checkout saved): the permit this guard holds keeps them
    /// alive, since the pool frees its keep-alive only once it is closed and every permit
    /// is back (see `Semaphore::keep_alive`). A raw pointer, not an `Arc` or a reference:
    /// the guard's last use of the pool is the release of its permit, which may free it
    /// (see [`Pooled::inner`] and the drop). A guard is not a handle, so dropping the last
    /// `Pool` closes the pool even while guards are out.
    pool: NonNull<Inner<M>>,
    /// The connection and its record. (The mark [`Pooled::set_broken`] sets lives in the
    /// record, not here: with a lone `bool` beside the words, the guard had padding, and
    /// every caller's copy of a returned guard read 8 bytes of which the callee had
    /// written 1, a failed store forward that cost S1 about a sixth of its time.)
    item: Option<Idle<M::Connection>>,
    /// Where it was checked out (see [`Pooled::site`]).
    site: &'static Location<'static>,
}

impl<M: Manager> Pooled<M> {
    /// Hands `item` out to a caller at `site`: the one place a checkout is counted in its
    /// `uses`, and stamped in its checkout record when holders are tracked. The caller
    /// holds a permit, which the guard takes over.
    #[inline(always)]
    pub(crate) fn new(
        pool: &Arc<Inner<M>>,
        mut item: Idle<M::Connection>,
        site: &'static Location<'static>,
    ) -> Self {
        item.uses = item.uses.saturating_add(1);
        if item.hold != 0 {
            // A tracked connection (its record was enrolled when it opened).
            stamp(&pool.shared.diag, item.hold, site);
        }
        Self {
            pool: NonNull::from(&**pool),
            item: Some(item),
            site,
        }
    }

    /// The pool. Only for uses before the guard's permit is released: the reference must
    /// not outlive the statement that uses it in `drop`, `detach` and `discard`.
    #[inline(always)]
    #[allow(
        unsafe_code,
        reason = "a reference-count-free handle: 2 of the hot path's 7 atomic RMWs"
    )]
    pub(crate) fn inner(&self) -> &Inner<M> {
        // SAFETY: the pointer came from a live `Arc` in `new`. The pool stays allocated
        // while this guard holds its permit: its keep-alive (`Semaphore::keep_alive`) is
        // dropped only once it is closed and every permit is back. The permit is released
        // only in `drop`, `detach` and `discard`, which consume the guard and call this
        // only before that release (no reference from it is live across the release).
        unsafe { self.pool.as_ref() }
    }

    /// Where the connection was checked out: the file and line of the `get` (or
    /// `get_blocking`, `try_get`, ...) call that returned this guard.
    pub fn site(this: &Self) -> &'static Location<'static> {
        this.site
    }

    /// Takes the connection out of the pool for good, freeing its slot.
    pub fn detach(mut this: Self) -> M::Connection {
        let item = this.take();
        (this.inner().shared.diag).release(item.hold, &this.inner().shared.events);
        crate::stats::Counters::bump(&this.inner().shared.counters.detached);
        this.inner().shared.record_gone(item.created);
        let permit = Permit::new(&this.inner().shared.sema);
        this.inner().shared.slot_freed();
        (this.inner().shared.events).closed(&item, crate::events::CloseReason::Detached);
        // The guard's last use of the pool, which may free it.
        drop(permit);
        item.conn
    }

    /// Closes the connection instead of returning it (after an I/O or protocol error),
    /// freeing its slot at once. Counted as `closed_broken`.
    ///
    /// A new connection discarded on its first use counts, after a second one in a row,
    /// as a failed connect for the backoff (a server that accepts and then drops every
    /// connection is down).
    pub fn discard(mut this: Self) {
        let item = this.take();
        let permit = Permit::new(&this.inner().shared.sema);
        this.inner().close_broken(item);
        // The guard's last use of the pool, which may free it.
        drop(permit);
    }

    /// Marks the connection broken (or not): a broken one is closed when the guard is
    /// dropped instead of going back to the pool.
    ///
    /// For protocols whose exchanges must not be cut in half: mark the connection broken
    /// before an exchange and clear the mark after it, so that if the future doing the
    /// exchange is dropped half way, the out-of-sync connection is closed, not reused.
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
    /// use netpool_core::{Pool, Pooled};
    /// # futures_lite::future::block_on(async {
    /// let pool = Pool::builder().build(Counter)?;
    /// let mut conn = pool.get().await?;
    /// Pooled::set_broken(&mut conn, true);
    /// // ... send a request and read its reply; if this future is dropped here, the
    /// // connection is closed ...
    /// Pooled::set_broken(&mut conn, false);
    /// drop(conn);
    /// assert_eq!(pool.stats().idle, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn set_broken(this: &mut Self, broken: bool) {
        if let Some(item) = &mut this.item {
            item.broken = broken;
        }
    }

    /// The connection's bookkeeping.
    pub fn meta(this: &Self) -> Meta {
        match &this.item {
            Some(item) => Meta::from_idle(item, this.inner().shared.epoch),
            None => Meta::from_raw(0, 0, 0, 0, this.inner().shared.epoch),
        }
    }

    fn take(&mut self) -> Idle<M::Connection> {
        match self.item.take() {
            Some(item) => item,
            // `item` is only taken by detach/discard, which consume the guard.
            None => unreachable!("Pooled used after its connection was taken"),
        }
    }

    fn conn(&self) -> &M::Connection {
        match &self.item {
            Some(item) => &item.conn,
            // `item` is only None inside detach/discard/drop.
            None => unreachable!("Pooled used after its connection was taken"),
        }
    }
}

/// Stamps the checkout record `number` with a checkout from `site`. Inline, behind the
/// number's test: a call here (it was out of line) made the item being handed out take a
/// detour through memory around it: S1 with leak detection on took 1.2-1.3x the time
/// with it off on an AMD EPYC, and takes 0.94-1.03x now, with the changes to the return
/// in `Inner::put_back` and `Diag::untrack` (`cargo bench --bench uncontended`).
///
/// The checkout is dated without a clock reading of its own (a third of tracking's cost):
/// with the pool's latest tracked open or return, or maintenance pass (`Diag::recent`).
/// In a busy pool that is the time of the get to a few microseconds; after a quiet spell
/// it may be up to one maintenance interval early. With the `metrics` feature, whose
/// use-time histogram wants exact holds, the clock is read.
#[inline(always)]
fn stamp(diag: &crate::holders::Diag, number: u16, site: &'static Location<'static>) {
    if let Some(hold) = diag.held(number) {
        let since = if cfg!(feature = "metrics") {
            crate::clock::now().max(1)
        } else {
            // Never 0 (see `Diag::recent`).
            diag.recent.load(crate::sync::Ordering::Relaxed)
        };
        hold.checked_out(site, since);
    }
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        self.conn()
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        match &mut self.item {
            Some(item) => &mut item.conn,
            // `item` is only None inside detach/discard/drop.
            None => unreachable!("Pooled used after its connection was taken"),
        }
    }
}

impl<M: Manager> Drop for Pooled<M> {
    #[inline]
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            // Released after the connection is back (or closed), even if has_broken
            // panics: the release is the guard's last use of the pool, which may be freed
            // right after it (see `pool`). So every reference into the pool below is a
            // temporary of one statement, never live across the release (`Permit`
            // releases through a raw pointer: see its drop).
            let permit = Permit::new(&self.inner().shared.sema);
            if item.broken {
                drop(self.inner().live(item, CloseReason::Broken));
                drop(permit);
            } else {
                // (`put_back` clears the checkout record, if any.)
                self.inner().put_back(item);
                // With no flag on the permit word (no waiter, no resize, not closed),
                // the release is all: the push happened before whatever sets a flag
                // next. Otherwise settle first (see `Inner::settle`).
                if let Err(permit) = permit.release_fast() {
                    self.inner().settle();
                    drop(permit);
                }
            }
        }
    }
}

// SAFETY: `pool` stands for a shared reference to the pool's insides (`Inner<M>` is `Send`
// and `Sync`: its manager is, and its idle queue holds `Send` connections); the guard
// otherwise owns its connection. So it may move to another thread as an `Arc<Inner<M>>`
// and its connection may, and be shared when its connection may be.
#[allow(unsafe_code, reason = "the raw pointer stands for a shared reference")]
unsafe impl<M: Manager> Send for Pooled<M> where M::Connection: Send {}
// SAFETY: as for `Send`; `&Pooled` gives `&Inner<M>` (`Sync`) and `&M::Connection`.
#[allow(unsafe_code, reason = "the raw pointer stands for a shared reference")]
unsafe impl<M: Manager> Sync for Pooled<M> where M::Connection: Sync {}

impl<M: Manager> fmt::Debug for Pooled<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("meta", &Self::meta(self))
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}
