//! Every public type and every returned future is `Send`/`Sync`/`Unpin` as documented.

mod common;

use std::future::Future;

use common::Gated;
use netpool_core::{
    BuildError, Builder, Config, Error, Fault, KeyedPool, LastConnectError, Lease, Meta, NodeState,
    Pool, Pooled, QueueStrategy, ReplicaSet, Role, Stats, WeakPool,
};

fn send<T: Send>(_: &T) {}
fn send_sync_static<T: Send + Sync + 'static>() {}
fn send_static<T: Send + 'static>() {}
fn unpin<T: Unpin>() {}
fn send_future<F: Future + Send>(_: &F) {}

#[test]
fn public_types() {
    send_sync_static::<Pool<Gated>>();
    send_sync_static::<WeakPool<Gated>>();
    send_static::<Pooled<Gated>>();
    send_sync_static::<Pooled<Gated>>();
    send_sync_static::<Builder>();
    send_sync_static::<Config>();
    send_sync_static::<Stats>();
    send_sync_static::<Meta>();
    send_sync_static::<QueueStrategy>();
    send_sync_static::<BuildError>();
    send_sync_static::<LastConnectError>();
    send_sync_static::<Error<common::GateError>>();
    send_sync_static::<Fault>();
    send_sync_static::<Role>();
    send_sync_static::<ReplicaSet<u32, Gated>>();
    send_sync_static::<Lease<u32, Gated>>();
    send_sync_static::<NodeState<u32>>();
    unpin::<Pool<Gated>>();
    unpin::<Pooled<Gated>>();
    unpin::<Lease<u32, Gated>>();
    // An error the `?` operator can box.
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::<common::GateError>::Closed);
}

#[test]
fn futures_are_send() {
    let pool = Pool::builder().build(Gated::new()).unwrap();
    let get = pool.get();
    send_future(&get);
    let get_timeout = pool.get_timeout(std::time::Duration::from_secs(1));
    send_future(&get_timeout);
    let maintain = pool.maintain();
    send_future(&maintain);
    let wait_closed = pool.wait_closed();
    send_future(&wait_closed);
    send(&pool);
}

#[test]
fn replica_set_futures_are_send() {
    let keys = common::Keys::default();
    let pool: KeyedPool<u32, Gated> = keys.pool(KeyedPool::builder());
    let set = ReplicaSet::new(pool, 0, [1, 2]);
    send_future(&set.primary());
    send_future(&set.replica());
    send_future(&set.check_roles());
    send_future(&ReplicaSet::discover(set.pool().clone(), [0, 1]));
}
