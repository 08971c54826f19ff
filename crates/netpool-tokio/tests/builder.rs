//! `netpool_tokio::builder()`: a pool of any manager whose `build` starts maintenance, and
//! a build that fails outside a runtime leaves nothing behind (no pool closed, no event).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpool_testkit::{Numbers, eventually};
use netpool_tokio::{BuildError, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_starts_maintenance_for_any_manager() {
    let pool = netpool_tokio::builder()
        .max_size(4)
        .min_idle(Some(2))
        .maintenance_interval(Some(Duration::from_millis(10)))
        .build(Numbers::default())
        .unwrap();
    let p = pool.clone();
    // Generous bound: maintenance runs every 10 ms; a loaded machine may delay it.
    let filled = tokio::task::spawn_blocking(move || {
        eventually(Duration::from_secs(10), || p.stats().idle == 2)
    });
    assert!(filled.await.unwrap(), "{:?}", pool.stats());
    assert_eq!(pool.stats().max_size, 4);
}

/// Records the events a pool reports.
fn recorder() -> (
    Arc<Mutex<Vec<String>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    (seen, move |event: &Event<'_>| {
        record.lock().unwrap().push(format!("{event:?}"));
    })
}

#[test]
fn a_build_outside_a_runtime_fails_and_closes_no_pool() {
    let (seen, handler) = recorder();
    let err = netpool_tokio::builder()
        .event_handler(handler)
        .build(Numbers::default())
        .unwrap_err();
    assert!(
        matches!(err, BuildError::NoRuntime { runtime: "tokio" }),
        "{err:?}"
    );

    let (seen_tcp, handler) = recorder();
    let err = netpool_tokio::tcp("127.0.0.1:1")
        .event_handler(handler)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::NoRuntime { runtime: "tokio" }),
        "{err:?}"
    );
    // No pool was made, so none was closed (the tracing log had a stray "pool closed").
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(
        seen_tcp.lock().unwrap().is_empty(),
        "{:?}",
        seen_tcp.lock().unwrap()
    );
}
