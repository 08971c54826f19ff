//! The pool's instruments through the `metrics` facade (feature `metrics`), named as
//! OpenTelemetry's database-client conventions name them, plus netpool's own.
//!
//! # Implementation details
//!
//! Nothing is recorded on the hot path. The instruments are registered when the pool is
//! built (install the recorder before building pools). Maintenance samples the gauges and turns the
//! cumulative [`Stats`] counters into counter increments (the difference since its last
//! sample), so after a pass the recorded counters equal `Stats`. Gauges are applied as
//! differences too (`increment`/`decrement` by the change since the last sample), so the
//! pools of a [`KeyedPool`](crate::KeyedPool)'s keys, which share their labels, add up
//! instead of overwriting each other, and a forgotten key's pool takes its share back
//! when it is dropped: the series stay one per pool name however many keys come and go.
//! Of the histograms, `wait_time` is recorded when a get that waited gets its turn,
//! `create_time` when a connection is opened, and `use_time` when a guard comes back,
//! with holders tracked ([`leak_threshold`](crate::Builder::leak_threshold)) since that
//! is what stamps the checkout time.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Label, Unit};

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

/// A pool's labels, its instruments' handles, and what its last sample exported.
pub(crate) struct Meter {
    labels: Vec<Label>,
    min_idle: f64,
    wait_time: Histogram,
    use_time: Histogram,
    create_time: Histogram,
    /// In [`COUNTERS`]' order.
    counters: Vec<Counter>,
    /// In [`gauges`]' order.
    gauges: Vec<Gauge>,
    last: Mutex<Sample>,
}

/// The values a sample exported: counters as of `stats`, gauges as listed.
#[derive(Default)]
struct Sample {
    stats: Stats,
    gauges: [f64; 6],
}

/// A counter: its name, its `reason` label, and the [`Stats`] field it follows.
type CounterOf = (&'static str, Option<&'static str>, fn(&Stats) -> u64);

/// The counters.
const COUNTERS: [CounterOf; 15] = [
    (TIMEOUTS, None, |s| s.gets_timed_out),
    (CREATED, None, |s| s.connections_created),
    (CONNECT_ERRORS, None, |s| s.connect_errors),
    (UNAVAILABLE, None, |s| s.gets_unavailable),
    (CLOSED, Some("broken"), |s| s.closed_broken),
    (CLOSED, Some("invalid"), |s| s.closed_invalid),
    (CLOSED, Some("idle"), |s| s.closed_idle),
    (CLOSED, Some("lifetime"), |s| s.closed_lifetime),
    (CLOSED, Some("rejected"), |s| s.closed_rejected),
    (CLOSED, Some("retained"), |s| s.closed_retained),
    (CLOSED, Some("shrunk"), |s| s.closed_shrunk),
    (CLOSED, Some("refreshed"), |s| s.closed_refreshed),
    (CLOSED, Some("pool_closed"), |s| s.closed_pool_closed),
    (CLOSED, Some("aborted"), |s| s.closed_aborted),
    (CLOSED, Some("detached"), |s| s.detached),
];

impl Meter {
    /// Registers the pool's instruments with the recorder installed now (so every
    /// instrument shows from the start, and sampling allocates nothing).
    pub(crate) fn new(name: Option<&str>, server: Option<&str>, min_idle: Option<usize>) -> Self {
        let mut labels = vec![Label::new(POOL_NAME, name.unwrap_or("default").to_owned())];
        if let Some(server) = server {
            labels.push(Label::new("server.address", server.to_owned()));
        }
        describe();
        let with = |extra: Option<(&'static str, &'static str)>| {
            let mut labels = labels.clone();
            if let Some((k, v)) = extra {
                labels.push(Label::new(k, v));
            }
            labels
        };
        let counters = COUNTERS
            .iter()
            .map(|(name, reason, _)| metrics::counter!(*name, with(reason.map(|r| ("reason", r)))))
            .collect();
        let gauges = gauges(&Stats::default(), 0.0, false)
            .iter()
            .map(|(name, state, _)| metrics::gauge!(*name, with(state.map(|s| (STATE, s)))))
            .collect();
        Self {
            wait_time: metrics::histogram!(WAIT_TIME, labels.clone()),
            use_time: metrics::histogram!(USE_TIME, labels.clone()),
            create_time: metrics::histogram!(CREATE_TIME, labels.clone()),
            counters,
            gauges,
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
        for ((_, _, of), counter) in COUNTERS.iter().zip(&self.counters) {
            let delta = of(stats).saturating_sub(of(&last.stats));
            if delta > 0 {
                counter.increment(delta);
            }
        }
        let values = gauges(stats, self.min_idle, backing_off);
        for (i, ((_, _, value), gauge)) in values.iter().zip(&self.gauges).enumerate() {
            let change = value - last.gauges[i];
            if change != 0.0 {
                gauge.increment(change);
                last.gauges[i] = *value;
            }
        }
        last.stats = stats.clone();
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
        for (gauge, before) in self.gauges.iter().zip(last.gauges) {
            if before != 0.0 {
                gauge.decrement(before);
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
