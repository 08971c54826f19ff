//! The permit a `get` holds ([`Permit`]) and a hold on the semaphore ([`Hold`]).

use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::sema::Semaphore;

/// A permit held by a `get` in progress; released on drop unless handed to a guard.
///
/// Holds the semaphore by a raw pointer, not a `&'a Semaphore`: the release may be a
/// guard's last use of the pool, which another thread (or the `Keep` the release hands
/// back) may free right after, and a reference in a permit passed by value (to
/// `mem::drop`, or to `release_fast`) would then be an argument pointing to freed memory
/// while that call still runs.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    sema: NonNull<Semaphore>,
    _sema: PhantomData<&'a Semaphore>,
}

// SAFETY: a permit stands for a `&'a Semaphore` (which is `Send` and `Sync`) and the right
// to release it once; the pointer is only used as that reference would be.
#[allow(unsafe_code, reason = "the raw pointer stands for a shared reference")]
unsafe impl Send for Permit<'_> {}
// SAFETY: as for `Send`; `&Permit` allows nothing but `Debug`.
#[allow(unsafe_code, reason = "the raw pointer stands for a shared reference")]
unsafe impl Sync for Permit<'_> {}

impl<'a> Permit<'a> {
    pub(crate) fn new(sema: &'a Semaphore) -> Self {
        Self {
            sema: NonNull::from(sema),
            _sema: PhantomData,
        }
    }

    /// Keeps the permit held: the caller's guard now owns it.
    pub(crate) fn forget(self) {
        std::mem::forget(self);
    }

    /// Gives the permit back with one CAS if no flag is set, else hands it back to the
    /// caller, which settles the pool and then drops it (see
    /// [`Semaphore::release_fast`]).
    #[inline]
    #[allow(unsafe_code, reason = "a release that may free the pool")]
    pub(crate) fn release_fast(self) -> Result<(), Self> {
        let sema = self.sema.as_ptr().cast_const();
        // SAFETY: the pointer came from a `&'a Semaphore` and this permit is held, so
        // the semaphore is alive; the permit is given back at most once (forgotten if it
        // was).
        if unsafe { Semaphore::release_fast(sema) } {
            std::mem::forget(self);
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl Drop for Permit<'_> {
    #[allow(unsafe_code, reason = "a release that may free the pool")]
    fn drop(&mut self) {
        // SAFETY: as in `release_fast`; this is the permit's one release. After it, the
        // pool is not used but through `keep`.
        let keep = unsafe { Semaphore::release(self.sema.as_ptr().cast_const()) };
        // The last use of the pool by a guard: dropping `keep` may free it.
        drop(keep);
    }
}

/// A [`Semaphore::hold`], ended when dropped (also when the holder unwinds).
pub(crate) struct Hold<'a>(&'a Semaphore);

impl<'a> Hold<'a> {
    pub(crate) fn new(sema: &'a Semaphore) -> Self {
        sema.hold();
        Self(sema)
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.0.unhold();
    }
}
