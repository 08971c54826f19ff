//! The atomics, locks and reference counts the pool uses, behind one facade so that loom
//! can replace them.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard, Weak,
    atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
};

/// A weak reference that does not keep `T` alive.
#[cfg(not(loom))]
pub(crate) fn downgrade<T>(this: &Arc<T>) -> Weak<T> {
    Arc::downgrade(this)
}

/// loom has no `Weak`: under loom a weak reference is a strong one. No model downgrades
/// a pool (a model that did would see it leak).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Weak<T>(Arc<T>);

#[cfg(loom)]
impl<T> Weak<T> {
    pub(crate) fn upgrade(&self) -> Option<Arc<T>> {
        Some(self.0.clone())
    }
}

#[cfg(loom)]
impl<T> Clone for Weak<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// A weak reference that does not keep `T` alive (a strong one under loom: see [`Weak`]).
#[cfg(loom)]
pub(crate) fn downgrade<T>(this: &Arc<T>) -> Weak<T> {
    Weak(this.clone())
}

/// Locks `m`, ignoring poisoning: every critical section in the pool leaves the data
/// consistent before anything that can panic runs, so a poisoned lock is still valid.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
}
