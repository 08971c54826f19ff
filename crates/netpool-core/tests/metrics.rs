//! The `metrics` feature: after a scripted run and a maintenance pass, the recorded
//! instruments equal `Stats`; a keyed pool's series stay bounded however many keys come
//! and go. Run with `cargo test -p netpool-core --features metrics --test metrics`.

#![cfg(feature = "metrics")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use netpool_core::{KeyedPool, Pool, Pooled, Stats};

use common::{Gate, Keys, gated_pool, maintain};

/// The snapshot as `name{labels sorted}` -> value, for the pool's series.
fn values(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (
                format!("{}{{{}}}", key.key().name(), labels.join(",")),
                value,
            )
        })
        .collect()
}

fn counter(v: &HashMap<String, DebugValue>, name: &str, extra: &str) -> u64 {
    let key = series(name, extra);
    match v.get(&key) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{key}: {other:?}; have {:?}", v.keys().collect::<Vec<_>>()),
    }
}

fn gauge(v: &HashMap<String, DebugValue>, name: &str, extra: &str) -> f64 {
    let key = series(name, extra);
    match v.get(&key) {
        Some(DebugValue::Gauge(n)) => n.0,
        other => panic!("{key}: {other:?}"),
    }
}

fn series(name: &str, extra: &str) -> String {
    let mut labels = vec!["db.client.connection.pool.name=scripted".to_owned()];
    if !extra.is_empty() {
        labels.push(extra.to_owned());
    }
    labels.sort();
    format!("{name}{{{}}}", labels.join(","))
}

#[test]
fn recorded_values_equal_stats_after_a_scripted_run() {
    const N: usize = 20;
    const K: usize = 3;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (stats, v) = metrics::with_local_recorder(&recorder, || {
        let (m, pool) = gated_pool(
            Pool::builder()
                .name("scripted")
                .max_size(3)
                .min_idle(Some(0))
                .leak_threshold(Duration::from_secs(60))
                .test_on_check_out(true)
                .check_idle_after(None),
        );
        // N gets.
        for _ in 0..N {
            drop(pool.get_blocking().unwrap());
        }
        // K timeouts, with every connection held.
        let held: Vec<_> = (0..3).map(|_| pool.get_blocking().unwrap()).collect();
        for _ in 0..K {
            let e = pool
                .get_blocking_timeout(Duration::from_millis(5))
                .unwrap_err();
            assert!(e.is_timeout());
        }
        // Closes by reason: 2 broken, 1 detached, then 1 invalid at checkout.
        let mut held = held.into_iter();
        Pooled::discard(held.next().unwrap());
        Pooled::discard(held.next().unwrap());
        let _gone = Pooled::detach(held.next().unwrap());
        drop(pool.get_blocking().unwrap());
        m.set_valid(Gate::Err);
        assert!(
            pool.get_blocking().is_ok(),
            "the invalid one closed, a new one opened"
        );
        m.set_valid(Gate::Ok);
        // Retained, shrunk, and closed with the pool.
        let three: Vec<_> = (0..3).map(|_| pool.get_blocking().unwrap()).collect();
        drop(three);
        assert_eq!(pool.retain(|_, meta| meta.use_count > 1), 2);
        let two: Vec<_> = (0..3).map(|_| pool.get_blocking().unwrap()).collect();
        drop(two);
        pool.resize(1);
        // A connect error.
        let busy = pool.get_blocking().unwrap();
        pool.resize(2);
        m.set_connect(Gate::Err);
        assert!(pool.get_blocking().unwrap_err().is_connect());
        m.set_connect(Gate::Ok);
        drop(busy);
        pool.close();
        maintain(&pool);
        (pool.stats(), values(&snapshotter))
    });

    assert_eq!(stats.gets_timed_out, K as u64);
    assert!(stats.closed_broken == 2 && stats.detached == 1 && stats.closed_invalid >= 1);
    assert!(stats.closed_retained == 2 && stats.closed_shrunk >= 1);
    assert!(stats.closed_pool_closed >= 1 && stats.connect_errors == 1);
    let c = |name: &str, extra: &str| counter(&v, name, extra);
    assert_eq!(c("db.client.connection.timeouts", ""), stats.gets_timed_out);
    assert_eq!(
        c("netpool.connection.created", ""),
        stats.connections_created
    );
    assert_eq!(c("netpool.connect.errors", ""), stats.connect_errors);
    assert_eq!(c("netpool.gets.unavailable", ""), stats.gets_unavailable);
    let closed = |reason: &str| c("netpool.connection.closed", &format!("reason={reason}"));
    type Field = fn(&Stats) -> u64;
    let by_reason: [(&str, Field); 10] = [
        ("broken", |s| s.closed_broken),
        ("invalid", |s| s.closed_invalid),
        ("idle", |s| s.closed_idle),
        ("lifetime", |s| s.closed_lifetime),
        ("rejected", |s| s.closed_rejected),
        ("retained", |s| s.closed_retained),
        ("shrunk", |s| s.closed_shrunk),
        ("pool_closed", |s| s.closed_pool_closed),
        ("aborted", |s| s.closed_aborted),
        ("detached", |s| s.detached),
    ];
    for (reason, of) in by_reason {
        assert_eq!(closed(reason), of(&stats), "closed for {reason}");
    }
    let g = |name: &str, extra: &str| gauge(&v, name, extra);
    let state = "db.client.connection.state";
    assert_eq!(
        g("db.client.connection.count", &format!("{state}=idle")),
        stats.idle as f64
    );
    assert_eq!(
        g("db.client.connection.count", &format!("{state}=used")),
        stats.in_use as f64
    );
    assert_eq!(g("db.client.connection.max", ""), stats.max_size as f64);
    assert_eq!(g("db.client.connection.idle.min", ""), 0.0);
    assert_eq!(g("db.client.connection.pending_requests", ""), 0.0);
    assert_eq!(g("netpool.backoff.active", ""), 1.0, "the connect failed");
    let h = |name: &str| match v.get(&series(name, "")) {
        Some(DebugValue::Histogram(samples)) => samples.len(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        h("db.client.connection.wait_time"),
        K,
        "the gets that waited"
    );
    assert_eq!(
        h("db.client.connection.create_time") as u64,
        stats.connections_created
    );
    assert!(
        h("db.client.connection.use_time") >= N,
        "every tracked return"
    );
}

#[test]
fn a_hundred_thousand_keys_used_once_leave_bounded_series() {
    const KEYS: u32 = 100_000;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let keys = Keys::default();
    let v = metrics::with_local_recorder(&recorder, || {
        let pool = keys.pool(KeyedPool::builder().name("scripted").max_size(2));
        for key in 0..KEYS {
            let conn = pool.get_blocking(&key).unwrap();
            Pooled::discard(conn);
            if key % 10_000 == 9_999 {
                futures_lite::future::block_on(pool.maintain());
            }
        }
        futures_lite::future::block_on(pool.maintain());
        assert_eq!(pool.stats().keys, 0, "every key forgotten");
        values(&snapshotter)
    });
    // One series per instrument (and per state or reason), not per key.
    assert!(v.len() <= 30, "{} series", v.len());
    assert_eq!(
        gauge(
            &v,
            "db.client.connection.count",
            "db.client.connection.state=used"
        ),
        0.0,
        "the forgotten keys' pools took their share back"
    );
    assert_eq!(
        counter(&v, "netpool.connection.closed", "reason=broken"),
        u64::from(KEYS)
    );
}
