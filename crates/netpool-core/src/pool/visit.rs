//! One pass over the idle connections, for maintenance and `retain`.

use super::inner::Inner;
use crate::Manager;
use crate::idle::Idle;
use crate::sync::Ordering;

/// One pass over the connections idle when it starts (maintenance, `retain`): each is
/// visited once, under FIFO and LIFO alike, while gets and returns go on; the ones kept go
/// back where the strategy wants them (LIFO: in their old order, so the least recently
/// used stay at the bottom and can reach `idle_timeout`).
pub(crate) struct Visit<'a, M: Manager> {
    inner: &'a Inner<M>,
    pass: u16,
    kept: usize,
    /// At most this many more takes: the queue's length when the pass started.
    left: usize,
}

impl<'a, M: Manager> Visit<'a, M> {
    pub(crate) fn new(inner: &'a Inner<M>) -> Self {
        // The low 16 bits (see `Idle::pass`).
        let pass = (inner
            .shared
            .passes
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
            & 0xffff) as u16;
        Self {
            inner,
            pass,
            kept: 0,
            left: inner.idle.len(),
        }
    }

    /// The next connection to visit, out of the queue; `None` when the pass is over.
    pub(crate) fn next(&mut self) -> Option<Idle<M::Connection>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = self.inner.idle.visit(self.kept)?;
        if item.pass == self.pass {
            // Wrapped around to one this pass already kept (gets took the others). It
            // was out of the queue for a moment: settle as every put-back does, or a
            // caller that started waiting for room meanwhile, or a shrink that trimmed
            // meanwhile, would miss it.
            self.inner.idle.put_visited(item, self.kept);
            self.inner.settle();
            self.left = 0;
            return None;
        }
        Some(item)
    }

    /// Puts a visited connection back, idle.
    pub(crate) fn keep(&mut self, mut item: Idle<M::Connection>) {
        item.pass = self.pass;
        self.inner.idle.put_visited(item, self.kept);
        self.kept += 1;
        self.inner.settle();
        if self.inner.shared.global.is_some() {
            self.inner.went_idle(false);
        }
    }
}
