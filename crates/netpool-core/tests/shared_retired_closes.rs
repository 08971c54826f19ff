//! A connection a `SharedPool` retires is closed (its handle dropped) once its last lend
//! is back, even when nothing else happens in the pool afterwards: the lock-free list of
//! connections that checkouts read does not keep it open.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, Weak};

use netpool_core::{Manager, SharedPool};

#[derive(Clone)]
struct Handle(#[allow(dead_code, reason = "only counted")] Arc<()>);

#[derive(Default)]
struct Mux {
    opened: Mutex<Vec<Weak<()>>>,
}

impl Manager for Mux {
    type Connection = Handle;
    type Error = Infallible;

    async fn connect(&self) -> Result<Handle, Infallible> {
        let h = Arc::new(());
        self.opened.lock().unwrap().push(Arc::downgrade(&h));
        Ok(Handle(h))
    }
    async fn is_valid(&self, _: &mut Handle) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut Handle) -> bool {
        false
    }
}

#[test]
fn a_retired_connection_is_closed_when_its_last_lend_is_back() {
    let pool = SharedPool::builder()
        .max_size(2)
        .max_concurrent_per_connection(1)
        .build(Mux::default())
        .unwrap();
    let (a, b) = (pool.try_get().unwrap(), pool.try_get().unwrap());
    let first = netpool_core::Lent::id(&a);
    drop(a);
    // Retire the first connection while it has no lend out, and the second while its
    // lend is out.
    assert_eq!(pool.retain(|_, meta| meta.id != first), 1);
    let alive = |i: usize| pool.manager().opened.lock().unwrap()[i].strong_count();
    assert_eq!(alive(0), 0, "closed at once: no lend out");
    assert_eq!(pool.retain(|_, _| false), 1);
    assert!(alive(1) >= 1, "its lend keeps the handle");
    drop(b);
    assert_eq!(alive(1), 0, "closed when its last lend came back");
    assert_eq!(pool.stats().pool.connections, 0);
}
