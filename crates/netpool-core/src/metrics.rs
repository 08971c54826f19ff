//! The pool's instruments through the `metrics` facade (feature `metrics`), named as
//! OpenTelemetry's database-client conventions name them, plus netpool's own.
//!
//! # Implementation details
//!
//! Nothing is recorded on the hot path. Maintenance samples the gauges and turns the
//! cumulative [`Stats`] counters into counter increments (the difference since its last
//! sample), so after a pass the recorded counters equal `Stats`. Gauges are applied as
//! differences too (`increment`/`decrement` by the change since the last sample), so the
//! pools of a [`KeyedPool`](crate::KeyedPool)'s keys, which share their labels, add up
//! instead of overwriting each other, and a forgotten key's pool takes its share back
//! when it is dropped: the series stay one per pool name however many keys come and go.
//! The histograms are handles registered when the pool is built (install the recorder
//! before building pools): `wait_time` is recorded when a get that waited gets its turn,
//! `create_time` when a connection is opened, and `use_time` when a guard comes back,
//! with holders tracked ([`leak_threshold`](crate::Builder::leak_threshold)) since that
//! is what stamps the checkout time.

use std::time::Duration;

use metrics::{Histogram, Label, Unit};

use crate::Stats;
use crate::sync::{Mutex, lock};

/// `db.client.connection.count`, with `db.client.connection.state` = `idle` | `used`.
pub(crate) const COUNT: &str = "db.client.connection.count";
/// `db.client.connection.max`: the pool's `max_size`.
pub(crate) const MAX: &str = "db.client.connection.max";
/// `db.client.connection.idle.min`: the pool's `min_idle`.
pub(crate) const IDLE_MIN: &str = "db.client.connection.idle.min";
/// `db.client.connection.pending_requests`: callers waiting.
pub(crate) const PENDING: &str = "db.client.connection.pending_requests";
/// `db.client.connection.timeouts`: gets that timed out.
pub(crate) const TIMEOUTS: &str = "db.client.connection.timeouts";
/// `db.client.connection.wait_time`: how long gets that waited waited (seconds).
pub(crate) const WAIT_TIME: &str = "db.client.connection.wait_time";
/// `db.client.connection.use_time`: how long connections were checked out (seconds).
pub(crate) const USE_TIME: &str = "db.client.connection.use_time";
/// `db.client.connection.create_time`: how long opening a connection took (seconds).
pub(crate) const CREATE_TIME: &str = "db.client.connection.create_time";
/// `netpool.connection.created`: connections opened.
pub(crate) const CREATED: &str = "netpool.connection.created";
/// `netpool.connection.closed`, with `reason`.
pub(crate) const CLOSED: &str = "netpool.connection.closed";
/// `netpool.connect.errors`: connect attempts that failed or timed out.
pub(crate) const CONNECT_ERRORS: &str = "netpool.connect.errors";
/// `netpool.gets.unavailable`: gets that failed fast while the server was down.
pub(crate) const UNAVAILABLE: &str = "netpool.gets.unavailable";
/// `netpool.backoff.active`: 1 while connects back off, else 0.
pub(crate) const BACKOFF: &str = "netpool.backoff.active";

/// Label of the pool's name.
const POOL_NAME: &str = "db.client.connection.pool.name";
/// Label of the connection state in [`COUNT`].
const STATE: &str = "db.client.connection.state";

/// A pool's labels, histogram handles, and what its last sample exported.
pub(crate) struct Meter {
    labels: Vec<Label>,
    min_idle: f64,
    wait_time: Histogram,
    use_time: Histogram,
    create_time: Histogram,
    last: Mutex<Sample>,
}

/// The values a sample exported: counters as of `stats`, gauges as listed.
#[derive(Default)]
struct Sample {
    stats: Stats,
    gauges: [f64; 6],
}

impl Meter {
    pub(crate) fn new(name: Option<&str>, server: Option<&str>, min_idle: Option<usize>) -> Self {
        let mut labels = vec![Label::new(POOL_NAME, name.unwrap_or("default").to_owned())];
        if let Some(server) = server {
            labels.push(Label::new("server.address", server.to_owned()));
        }
        describe();
        Self {
            wait_time: metrics::histogram!(WAIT_TIME, labels.clone()),
            use_time: metrics::histogram!(USE_TIME, labels.clone()),
            create_time: metrics::histogram!(CREATE_TIME, labels.clone()),
            labels,
            min_idle: min_idle.unwrap_or(0) as f64,
            last: Mutex::new(Sample::default()),
        }
    }

    /// A get waited `d` for its turn.
    pub(crate) fn waited(&self, d: Duration) {
        self.wait_time.record(d);
    }

    /// A connection was checked out for `d`.
    pub(crate) fn used(&self, d: Duration) {
        self.use_time.record(d);
    }

    /// Opening a connection took `d`.
    pub(crate) fn created(&self, d: Duration) {
        self.create_time.record(d);
    }

    /// Maintenance's sample: the gauges, and the counters' increments since the last one.
    pub(crate) fn sample(&self, stats: &Stats, backing_off: bool) {
        let mut last = lock(&self.last);
        let prev = &last.stats;
        let counters: [(&str, Option<&str>, u64, u64); 14] = [
            (TIMEOUTS, None, stats.gets_timed_out, prev.gets_timed_out),
            (
                CREATED,
                None,
                stats.connections_created,
                prev.connections_created,
            ),
            (
                CONNECT_ERRORS,
                None,
                stats.connect_errors,
                prev.connect_errors,
            ),
            (
                UNAVAILABLE,
                None,
                stats.gets_unavailable,
                prev.gets_unavailable,
            ),
            (
                CLOSED,
                Some("broken"),
                stats.closed_broken,
                prev.closed_broken,
            ),
            (
                CLOSED,
                Some("invalid"),
                stats.closed_invalid,
                prev.closed_invalid,
            ),
            (CLOSED, Some("idle"), stats.closed_idle, prev.closed_idle),
            (
                CLOSED,
                Some("lifetime"),
                stats.closed_lifetime,
                prev.closed_lifetime,
            ),
            (
                CLOSED,
                Some("rejected"),
                stats.closed_rejected,
                prev.closed_rejected,
            ),
            (
                CLOSED,
                Some("retained"),
                stats.closed_retained,
                prev.closed_retained,
            ),
            (
                CLOSED,
                Some("shrunk"),
                stats.closed_shrunk,
                prev.closed_shrunk,
            ),
            (
                CLOSED,
                Some("pool_closed"),
                stats.closed_pool_closed,
                prev.closed_pool_closed,
            ),
            (
                CLOSED,
                Some("aborted"),
                stats.closed_aborted,
                prev.closed_aborted,
            ),
            (CLOSED, Some("detached"), stats.detached, prev.detached),
        ];
        for (name, reason, now, before) in counters {
            let labels = self.with(reason.map(|r| ("reason", r)));
            // Registered even when unchanged, so every instrument shows from the start.
            metrics::counter!(name, labels).increment(now.saturating_sub(before));
        }
        let gauges = gauges(stats, self.min_idle, backing_off);
        for ((i, (name, state, value)), before) in gauges.iter().enumerate().zip(last.gauges) {
            let labels = self.with(state.map(|s| (STATE, s)));
            metrics::gauge!(*name, labels).increment(value - before);
            last.gauges[i] = *value;
        }
        last.stats = stats.clone();
    }

    /// The pool's labels and `extra`.
    fn with(&self, extra: Option<(&'static str, &'static str)>) -> Vec<Label> {
        let mut labels = self.labels.clone();
        if let Some((k, v)) = extra {
            labels.push(Label::new(k, v));
        }
        labels
    }
}

/// The gauges' names, `state` labels and values, in [`Sample::gauges`]' order.
fn gauges(
    stats: &Stats,
    min_idle: f64,
    backing_off: bool,
) -> [(&'static str, Option<&'static str>, f64); 6] {
    [
        (COUNT, Some("idle"), stats.idle as f64),
        (COUNT, Some("used"), stats.in_use as f64),
        (MAX, None, stats.max_size as f64),
        (IDLE_MIN, None, min_idle),
        (PENDING, None, stats.waiting as f64),
        (BACKOFF, None, f64::from(u8::from(backing_off))),
    ]
}

impl Drop for Meter {
    /// Takes this pool's share out of the gauges (a keyed pool's forgotten key).
    fn drop(&mut self) {
        let last = lock(&self.last);
        let names = gauges(&Stats::default(), 0.0, false);
        for ((name, state, _), before) in names.iter().zip(last.gauges) {
            if before != 0.0 {
                let labels = self.with(state.map(|s| (STATE, s)));
                metrics::gauge!(*name, labels).decrement(before);
            }
        }
    }
}

/// Units and descriptions, for exporters that show them.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        COUNT,
        "Connections by state: idle or used (checked out, opening, checking)"
    );
    describe_gauge!(MAX, "The pool's max_size");
    describe_gauge!(IDLE_MIN, "The pool's min_idle");
    describe_gauge!(PENDING, "Callers waiting for a connection");
    describe_counter!(TIMEOUTS, "Gets that timed out waiting for a connection");
    describe_histogram!(
        WAIT_TIME,
        Unit::Seconds,
        "Time a get that waited took to get a connection"
    );
    describe_histogram!(USE_TIME, Unit::Seconds, "Time connections were checked out");
    describe_histogram!(CREATE_TIME, Unit::Seconds, "Time opening a connection took");
    describe_counter!(CREATED, "Connections opened");
    describe_counter!(CLOSED, "Connections closed, by reason");
    describe_counter!(CONNECT_ERRORS, "Connect attempts that failed or timed out");
    describe_counter!(
        UNAVAILABLE,
        "Gets that failed fast while the server was down"
    );
    describe_gauge!(BACKOFF, "1 while connects back off after failures");
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}
