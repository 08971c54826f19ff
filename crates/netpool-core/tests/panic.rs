//! Semantic 6: a panic in a Manager method leaves the pool consistent.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::{Gate, Gated};
use netpool_core::Pool;

fn pool(manager: &Gated) -> Pool<Gated> {
    Pool::builder()
        .max_size(1)
        .check_idle_after(None)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build(manager.clone())
        .unwrap()
}

#[test]
fn panic_in_connect() {
    let manager = Gated::new();
    let pool = pool(&manager);
    manager.set_connect(Gate::Panic);
    assert!(catch_unwind(AssertUnwindSafe(|| pool.get_blocking())).is_err());
    assert_eq!(pool.stats().connections, 0);
    manager.set_connect(Gate::Ok);
    let conn = pool
        .get_blocking()
        .expect("usable after a panic in connect");
    drop(conn);
    assert_eq!(pool.stats().connections, 1);
}

#[test]
fn panic_in_is_valid() {
    let manager = Gated::new();
    let pool = pool(&manager);
    drop(pool.get_blocking().unwrap());
    manager.set_valid(Gate::Panic);
    assert!(catch_unwind(AssertUnwindSafe(|| pool.get_blocking())).is_err());
    // The connection whose check panicked was closed, and its slot freed.
    assert_eq!(pool.stats().connections, 0);
    assert_eq!(manager.counts.alive(), 0);
    manager.set_valid(Gate::Ok);
    drop(
        pool.get_blocking()
            .expect("usable after a panic in is_valid"),
    );
}

#[test]
fn panic_in_has_broken() {
    let manager = Gated::new();
    let pool = pool(&manager);
    let conn = pool.get_blocking().unwrap();
    manager.set_panic_on_broken(true);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(conn))).is_err());
    manager.set_panic_on_broken(false);
    let stats = pool.stats();
    assert_eq!(stats.connections, 0, "{stats:?}");
    assert_eq!(stats.in_use, 0);
    assert_eq!(manager.counts.alive(), 0);
    drop(pool.get_blocking().expect("the permit came back"));
}

#[test]
fn panic_in_retain_predicate() {
    let manager = Gated::new();
    let pool = pool(&manager);
    drop(pool.get_blocking().unwrap());
    assert!(catch_unwind(AssertUnwindSafe(|| pool.retain(|_, _| panic!("boom")))).is_err());
    assert_eq!(pool.stats().connections, 0);
    drop(pool.get_blocking().expect("usable"));
}
