//! A list that checkouts read without a lock: the open connections of a
//! [`SharedPool`](crate::SharedPool).
//!
//! # Implementation details
//!
//! The list is an immutable `Vec` in an `Arc` behind `arc-swap`'s `ArcSwap`: a reader
//! loads the current list (no lock; a thread-local debt slot instead of a shared
//! reference-count increment) and lets go of it when done; a writer (always under the
//! pool's state lock, so writes never race each other) stores a new list, and the old
//! one is dropped as soon as the last reader that loaded it lets go, so a retired
//! connection the old list kept alive closes promptly. The lists are short (one entry
//! per connection) and change only when a connection is opened or retired. No `unsafe`
//! here: the reclamation is arc-swap's.
//!
//! Under loom, which cannot model arc-swap's debts, the list sits behind a mutex: the
//! models then check the lending logic on top of it, not the reclamation.

#[cfg(not(loom))]
mod imp {
    use std::sync::Arc;

    use arc_swap::ArcSwap;

    pub(crate) struct Snapshot<T> {
        current: ArcSwap<Vec<T>>,
    }

    impl<T> Snapshot<T> {
        pub(crate) fn new() -> Self {
            Self {
                current: ArcSwap::from_pointee(Vec::new()),
            }
        }

        /// Runs `f` on the current list.
        #[inline]
        pub(crate) fn read<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
            let list = self.current.load();
            f(&list)
        }

        /// Replaces the list. The caller serialises stores (the pool's state lock).
        pub(crate) fn store(&self, list: Vec<T>) {
            // The old list (which may hold the last reference to a retired connection)
            // is dropped here, or by the last reader still holding it.
            self.current.store(Arc::new(list));
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
