//! [`Numbers`]: a manager of in-memory connections, for tests of a pool that need no
//! server.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use netpool_core::Manager;

/// A manager whose connections are numbers, `0, 1, 2, …` in the order they are opened:
/// connecting and checking succeed at once and no connection breaks.
///
/// # Examples
///
/// ```
/// use netpool_testkit::Numbers;
///
/// let pool = netpool_core::Pool::builder().max_size(2).build(Numbers::default())?;
/// let (a, b) = (pool.try_get()?, pool.try_get()?);
/// assert_eq!((*a, *b), (0, 1));
/// assert_eq!(pool.manager().opened(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Numbers {
    next: AtomicU64,
}

impl Numbers {
    /// Connections opened so far.
    pub fn opened(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }
}

impl Manager for Numbers {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(self.next.fetch_add(1, Ordering::SeqCst))
    }

    async fn is_valid(&self, _: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut u64) -> bool {
        false
    }
}
