//! A manager of multiplexed handles, for the `SharedPool` tests.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpool_core::{Manager, SharedPool};

/// A multiplexed handle: counts the callers using it now and the most at once.
#[derive(Clone, Default)]
pub struct Handle(pub Arc<Load>);

/// A handle's counts and flags.
#[derive(Default)]
pub struct Load {
    pub now: AtomicUsize,
    pub max: AtomicUsize,
    pub broken: AtomicBool,
    /// The order its connection was opened in (0 first).
    pub serial: usize,
}

impl Handle {
    /// Marks one caller as using it until the returned guard is dropped.
    pub fn enter(&self) -> Using<'_> {
        let n = self.0.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max.fetch_max(n, Ordering::SeqCst);
        Using(self)
    }
}

/// One caller using a [`Handle`], until dropped.
pub struct Using<'a>(&'a Handle);

impl Drop for Using<'_> {
    fn drop(&mut self) {
        self.0.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The error of a refused connect or a failed check.
#[derive(Debug, thiserror::Error)]
#[error("refused")]
pub struct Refused;

/// Opens numbered [`Handle`]s and keeps them all; connects can be made to fail or to
/// wait, checks to fail.
#[derive(Default)]
pub struct Mux {
    pub opened: Mutex<Vec<Handle>>,
    pub fail: AtomicBool,
    pub invalid: AtomicBool,
    /// Connects wait for this many yields.
    pub slow: AtomicUsize,
}

impl Mux {
    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.lock().unwrap().len()
    }
}

impl Manager for Mux {
    type Connection = Handle;
    type Error = Refused;

    async fn connect(&self) -> Result<Handle, Refused> {
        for _ in 0..self.slow.load(Ordering::SeqCst) {
            futures_lite::future::yield_now().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(Refused);
        }
        let mut opened = self.opened.lock().unwrap();
        let h = Handle(Arc::new(Load {
            serial: opened.len(),
            ..Load::default()
        }));
        opened.push(h.clone());
        Ok(h)
    }
    async fn is_valid(&self, _: &mut Handle) -> Result<(), Refused> {
        if self.invalid.load(Ordering::SeqCst) {
            Err(Refused)
        } else {
            Ok(())
        }
    }
    fn has_broken(&self, conn: &mut Handle) -> bool {
        conn.0.broken.load(Ordering::SeqCst)
    }
}

/// A shared pool of a fresh [`Mux`]: `max_size` connections of `per` lends each, gets
/// waiting at most `wait`.
pub fn mux_pool(max_size: usize, per: usize, wait: Option<Duration>) -> SharedPool<Mux> {
    SharedPool::builder()
        .max_size(max_size)
        .max_concurrent_per_connection(per)
        .wait_timeout(wait)
        .build(Mux::default())
        .expect("a valid test config")
}
