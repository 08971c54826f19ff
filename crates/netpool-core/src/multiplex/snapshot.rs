//! A list that checkouts read without a lock: the open connections of a
//! [`SharedPool`](crate::SharedPool).
//!
//! # Implementation details
//!
//! The list is an immutable `Vec` behind an epoch-managed pointer (`crossbeam-epoch`): a
//! reader pins the epoch (a thread-local step, no shared write), reads the current list
//! and unpins; a writer (always under the pool's state lock, so writes never race each
//! other) swaps in a new list and hands the old one to the epoch collector, which drops
//! it once every reader that could have seen it has unpinned. The lists are short (one
//! entry per connection) and change only when a connection is opened or retired; a store
//! flushes the collector, so that a retired connection the old list kept alive is closed
//! promptly (when no other thread holds an old pin).
//!
//! Under loom, which cannot model the epoch collector, the list sits behind a mutex: the
//! models then check the lending logic on top of it, not the reclamation.

#[cfg(not(loom))]
mod imp {
    use crossbeam_epoch::{Atomic, Owned};
    use std::sync::atomic::Ordering;

    pub(crate) struct Snapshot<T> {
        current: Atomic<Vec<T>>,
    }

    impl<T> Snapshot<T> {
        pub(crate) fn new() -> Self {
            Self {
                current: Atomic::new(Vec::new()),
            }
        }

        /// Runs `f` on the current list.
        #[inline]
        #[allow(unsafe_code, reason = "reads an epoch-protected pointer")]
        pub(crate) fn read<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
            let guard = crossbeam_epoch::pin();
            let current = self.current.load(Ordering::Acquire, &guard);
            // SAFETY: `current` is never null (set in `new` and `store`), and the list it
            // points to is destroyed only after every guard pinned while it was current
            // is dropped (`store` defers its destruction); `guard` lives until `f`
            // returns, and `f` cannot keep the borrow.
            let list = unsafe { current.deref() };
            f(list)
        }

        /// Replaces the list. The caller serialises stores (the pool's state lock).
        #[allow(unsafe_code, reason = "defers the destruction of the replaced list")]
        pub(crate) fn store(&self, list: Vec<T>) {
            let guard = crossbeam_epoch::pin();
            let old = self
                .current
                .swap(Owned::new(list), Ordering::AcqRel, &guard);
            // SAFETY: `old` is unreachable from now on; readers that loaded it before the
            // swap hold guards, and the collector destroys it only after they are gone.
            // Its destructor may run on another thread: it drops `Arc`s of entries whose
            // connections are `Send` (the `Manager` trait requires it), which a `Lent`
            // dropped on another thread does as well.
            unsafe { guard.defer_destroy(old) };
            // The old list may hold the last reference to a retired connection: hand it
            // to the collector now and let it advance, so that the connection is closed
            // promptly even if no checkout pins the epoch afterwards (an idle pool). A
            // pin still held elsewhere only delays it to that thread's next pins.
            guard.flush();
            drop(guard);
            for _ in 0..2 {
                crossbeam_epoch::pin().flush();
            }
        }
    }

    impl<T> Drop for Snapshot<T> {
        #[allow(unsafe_code, reason = "frees the last list")]
        fn drop(&mut self) {
            // SAFETY: `&mut self`: no reader or writer is left, so the current list can be
            // taken back without the epoch; it is not null (see `read`).
            unsafe {
                let guard = crossbeam_epoch::unprotected();
                let current = self.current.load(Ordering::Relaxed, guard);
                drop(current.into_owned());
            }
        }
    }
}

#[cfg(loom)]
mod imp {
    use crate::sync::{Mutex, lock};

    pub(crate) struct Snapshot<T> {
        current: Mutex<std::sync::Arc<Vec<T>>>,
    }

    impl<T> Snapshot<T> {
        pub(crate) fn new() -> Self {
            Self {
                current: Mutex::new(std::sync::Arc::new(Vec::new())),
            }
        }

        pub(crate) fn read<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
            let list = lock(&self.current).clone();
            f(&list)
        }

        pub(crate) fn store(&self, list: Vec<T>) {
            *lock(&self.current) = std::sync::Arc::new(list);
        }
    }
}

pub(crate) use imp::Snapshot;
