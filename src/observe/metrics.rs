//! The pool's figures through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`), under OpenTelemetry's names for a database client's connection pool, so that any
//! exporter (Prometheus, OpenTelemetry, StatsD…) can show them.
//!
//! Every metric has the label `db.client.connection.pool.name` ([`POOL_NAME`]): the pool's
//! `name` option (a pool the settings registry makes is named after its alias). Pools that share
//! a name add up their counters and overwrite each other's gauges: name them apart.
//!
//! | name | kind | unit | what |
//! |---|---|---|---|
//! | `db.client.connection.count` | gauge | connections | with `db.client.connection.state` = `idle`: [`State::idle`]; = `used`: [`State::in_use`] |
//! | `db.client.connection.idle.max` | gauge | connections | `pool_size`: at most that many stay idle |
//! | `db.client.connection.idle.min` | gauge | connections | `min_idle` |
//! | `db.client.connection.max` | gauge | connections | `pool_size + max_overflow` (4096 when overflow is unlimited) |
//! | `db.client.connection.pending_requests` | gauge | requests | [`State::waiting`]: checkouts waiting for a connection |
//! | `db.client.connection.timeouts` | counter | timeouts | [`Stats::timeouts`] |
//! | `db.client.connection.create_time` | histogram | seconds | one sample per connection opened: how long opening it took |
//! | `db.client.connection.wait_time` | histogram | seconds | one sample per checkout that waited (see below) |
//! | `db.client.connection.use_time` | histogram | seconds | with `metrics_every_checkout`: one sample per checkout, from checkout to return |
//! | `millpond.connection.checkouts` | counter | checkouts | [`Stats::checkouts`] |
//! | `millpond.connection.waits` | counter | checkouts | [`Stats::waits`]: checkouts served after waiting for another thread's connection |
//! | `millpond.connection.connect_errors` | counter | errors | [`Stats::connect_errors`] |
//! | `millpond.connection.pings` | counter | pings | [`Stats::pings`] (pre-ping and keepalive) |
//! | `millpond.connection.ping_failures` | counter | pings | [`Stats::ping_failures`] |
//! | `millpond.connection.resets` | counter | resets | [`Stats::resets`] (those that made a round trip) |
//! | `millpond.connection.reset_failures` | counter | resets | [`Stats::reset_failures`] |
//! | `millpond.connection.closes` | counter | connections | closed, with `reason` = `recycled`, `invalidated`, `broken`, `overflow`, `idle_timeout` or `pool_closed` ([`Stats::recycled`] … [`Stats::pool_closes`]) |
//! | `millpond.connection.leaks` | counter | checkouts | [`Stats::leaks`] |
//! | `millpond.pool.invalidations` | counter | invalidations | [`Pool::invalidate`](crate::Pool::invalidate) calls and lost servers seen |
//! | `millpond.cap.waits` | counter | waits | [`Stats::cap_waits`]: connects that waited for the cap across processes |
//!
//! **When.** Nothing is recorded per checkout unless asked. Gauges and counters are published
//! every `metrics_interval` (default 1 s; `None` turns the pool's metrics off) from
//! [`Pool::state`](crate::Pool::state) and [`Pool::stats`](crate::Pool::stats), on the pool's own
//! worker threads; counters as increments since the last round, so a forked worker publishes
//! its own from zero. The histograms take samples where something slow happened already: a
//! connect, and a checkout that waited, for a connection given back by another thread or for
//! one being opened (its time from the call to the connection in hand). A checkout that found a
//! connection ready waited no time and is sampled only with `metrics_every_checkout`, which also
//! samples `use_time`: a sample through the facade costs more than such a checkout (Prometheus's
//! exporter reads a clock and appends to a shared buffer), so at tens of millions of checkouts
//! a second it would be most of the pool's work, while at a database's pace (a checkout per
//! query) it is lost in the query.
//!
//! With the default settings the wait samples are exactly the waits of [`Stats::waits`] and
//! [`Stats::wait_time_total`] when no connection is being opened; a checkout that waited for a
//! connect is sampled too (OpenTelemetry's "time it took to obtain an open connection").
//!
//! **Prometheus.** `metrics-exporter-prometheus` writes the names with `_` for `.`
//! (`db_client_connection_wait_time`) and renders a histogram as a summary unless it is given
//! buckets, which it then fills cumulatively (`le` counts the samples up to the bound, as
//! [`Stats::wait_histogram_cumulative`] does). With the pool's own bounds ([`WAIT_BUCKETS`]),
//! its wait buckets match [`Stats::wait_histogram_cumulative`]:
//!
//! ```no_run
//! use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
//!
//! let waits: Vec<f64> = millpond::observe::WAIT_BUCKETS.iter().map(|b| b.as_secs_f64()).collect();
//! PrometheusBuilder::new()
//!     .with_http_listener(([127, 0, 0, 1], 9000))
//!     .set_buckets_for_metric(Matcher::Suffix("wait_time".into()), &waits)?
//!     .set_buckets(&[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])?
//!     .install()?;
//! // Pools built from here on are on http://127.0.0.1:9000/metrics.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`State::idle`]: crate::observe::State::idle
//! [`State::in_use`]: crate::observe::State::in_use
//! [`State::waiting`]: crate::observe::State::waiting
//! [`WAIT_BUCKETS`]: crate::observe::WAIT_BUCKETS

use std::time::Duration;

use ::metrics::{Key, KeyName, Label, Level, Metadata, SharedString, Unit, with_recorder};

use super::{State, Stats};

/// The label every metric carries: the pool's name.
pub const POOL_NAME: &str = "db.client.connection.pool.name";
/// The label of [`CONNECTION_COUNT`]: `idle` or `used`.
pub const STATE: &str = "db.client.connection.state";
/// The label of [`CLOSES`]: why the connections were closed.
pub const REASON: &str = "reason";

/// Connections idle or in use (gauge; label [`STATE`]).
pub const CONNECTION_COUNT: &str = "db.client.connection.count";
/// The most connections that stay idle: `pool_size` (gauge).
pub const IDLE_MAX: &str = "db.client.connection.idle.max";
/// The idle connections the reaper keeps open: `min_idle` (gauge).
pub const IDLE_MIN: &str = "db.client.connection.idle.min";
/// The most connections open at once (gauge).
pub const MAX: &str = "db.client.connection.max";
/// Checkouts waiting for a connection (gauge).
pub const PENDING_REQUESTS: &str = "db.client.connection.pending_requests";
/// Checkouts that timed out (counter).
pub const TIMEOUTS: &str = "db.client.connection.timeouts";
/// How long opening a connection took, in seconds (histogram).
pub const CREATE_TIME: &str = "db.client.connection.create_time";
/// How long a checkout waited for its connection, in seconds (histogram).
pub const WAIT_TIME: &str = "db.client.connection.wait_time";
/// How long a connection was held, from checkout to return, in seconds (histogram; with
/// `metrics_every_checkout`).
pub const USE_TIME: &str = "db.client.connection.use_time";
/// Successful checkouts (counter).
pub const CHECKOUTS: &str = "millpond.connection.checkouts";
/// Checkouts served after waiting for another thread's connection (counter).
pub const WAITS: &str = "millpond.connection.waits";
/// Connection attempts that failed (counter).
pub const CONNECT_ERRORS: &str = "millpond.connection.connect_errors";
/// Validations run: pre-ping and keepalive (counter).
pub const PINGS: &str = "millpond.connection.pings";
/// Validations that failed (counter).
pub const PING_FAILURES: &str = "millpond.connection.ping_failures";
/// Resets on return that made a round trip (counter).
pub const RESETS: &str = "millpond.connection.resets";
/// Resets that failed (counter).
pub const RESET_FAILURES: &str = "millpond.connection.reset_failures";
/// Connections closed, by [`REASON`] (counter).
pub const CLOSES: &str = "millpond.connection.closes";
/// Checkouts held past `leak_threshold` (counter).
pub const LEAKS: &str = "millpond.connection.leaks";
/// Invalidations of the pool (counter).
pub const INVALIDATIONS: &str = "millpond.pool.invalidations";
/// Connects that waited for the cap across processes (counter).
pub const CAP_WAITS: &str = "millpond.cap.waits";

/// Where the pool's metrics say they come from.
const METADATA: Metadata<'static> = Metadata::new("millpond::pool", Level::INFO, Some(module_path!()));

/// The gauges: name, state label, description, value.
type GaugeRow = (
    &'static str,
    Option<&'static str>,
    &'static str,
    fn(&Figures) -> f64,
);

const GAUGES: [GaugeRow; 6] = [
    (
        CONNECTION_COUNT,
        Some("idle"),
        "The number of connections that are currently in state described by the state attribute",
        |f| f.state.idle as f64,
    ),
    (
        CONNECTION_COUNT,
        Some("used"),
        "The number of connections that are currently in state described by the state attribute",
        |f| f.state.in_use as f64,
    ),
    (
        IDLE_MAX,
        None,
        "The maximum number of idle open connections allowed",
        |f| f.state.pool_size as f64,
    ),
    (
        IDLE_MIN,
        None,
        "The minimum number of idle open connections allowed",
        |f| f.min_idle as f64,
    ),
    (MAX, None, "The maximum number of open connections allowed", |f| {
        f.max_connections as f64
    }),
    (
        PENDING_REQUESTS,
        None,
        "The number of current pending requests for an open connection",
        |f| f.state.waiting as f64,
    ),
];

/// The counters: name, reason label, description, value.
type CounterRow = (
    &'static str,
    Option<&'static str>,
    &'static str,
    fn(&Figures) -> u64,
);

const COUNTERS: [CounterRow; 17] = [
    (
        TIMEOUTS,
        None,
        "The number of connection timeouts that have occurred trying to obtain a connection from the pool",
        |f| f.stats.timeouts,
    ),
    (CHECKOUTS, None, "Successful checkouts", |f| f.stats.checkouts),
    (
        WAITS,
        None,
        "Checkouts served after waiting for another thread's connection",
        |f| f.stats.waits,
    ),
    (CONNECT_ERRORS, None, "Connection attempts that failed", |f| {
        f.stats.connect_errors
    }),
    (PINGS, None, "Validations run (pre-ping and keepalive)", |f| {
        f.stats.pings
    }),
    (PING_FAILURES, None, "Validations that failed", |f| {
        f.stats.ping_failures
    }),
    (RESETS, None, "Resets on return that made a round trip", |f| {
        f.stats.resets
    }),
    (RESET_FAILURES, None, "Resets on return that failed", |f| {
        f.stats.reset_failures
    }),
    (CLOSES, Some("recycled"), CLOSES_HELP, |f| f.stats.recycled),
    (CLOSES, Some("invalidated"), CLOSES_HELP, |f| f.stats.invalidated),
    (CLOSES, Some("broken"), CLOSES_HELP, |f| f.stats.broken),
    (CLOSES, Some("overflow"), CLOSES_HELP, |f| f.stats.overflow_closes),
    (CLOSES, Some("idle_timeout"), CLOSES_HELP, |f| f.stats.idle_closes),
    (CLOSES, Some("pool_closed"), CLOSES_HELP, |f| f.stats.pool_closes),
    (LEAKS, None, "Checkouts held longer than leak_threshold", |f| {
        f.stats.leaks
    }),
    (INVALIDATIONS, None, "Invalidations of the pool", |f| {
        f.invalidations
    }),
    (
        CAP_WAITS,
        None,
        "Connects that waited for the cap across processes",
        |f| f.stats.cap_waits,
    ),
];

const CLOSES_HELP: &str = "Connections closed, by reason";

/// The histograms: name, description.
const HISTOGRAMS: [(&str, &str); 3] = [
    (CREATE_TIME, "The time it took to create a new connection"),
    (
        WAIT_TIME,
        "The time it took to obtain an open connection from the pool",
    ),
    (
        USE_TIME,
        "The time between borrowing a connection and returning it to the pool",
    ),
];

/// What one round publishes: the pool's counts and counters now.
#[derive(Debug)]
pub(crate) struct Figures {
    pub(crate) state: State,
    pub(crate) stats: Stats,
    /// The pool's invalidation generation: how many invalidations there were.
    pub(crate) invalidations: u64,
    pub(crate) min_idle: usize,
    /// The most connections the pool may open at once.
    pub(crate) max_connections: usize,
}

/// The counters a process's rounds published last, so that the next publishes increments.
#[derive(Debug, Default)]
pub(crate) struct Published([u64; COUNTERS.len()]);

/// One pool's metric keys, made once (with its name as a label) and registered with whatever
/// recorder is installed when a figure is recorded, so a recorder installed after the pool was
/// built is found too.
#[derive(Debug)]
pub(crate) struct PoolMetrics {
    pub(crate) interval: Duration,
    gauges: Vec<Key>,
    counters: Vec<Key>,
    create_time: Key,
    wait_time: Key,
    use_time: Key,
}

impl PoolMetrics {
    pub(crate) fn new(pool: &str, interval: Duration) -> Self {
        let pool = Label::new(POOL_NAME, pool.to_owned());
        let key = |name: &'static str, extra: Option<(&'static str, &'static str)>| {
            let mut labels = vec![pool.clone()];
            labels.extend(extra.map(|(k, v)| Label::new(k, v)));
            Key::from_parts(name, labels)
        };
        PoolMetrics {
            interval,
            gauges: GAUGES
                .iter()
                .map(|(name, state, ..)| key(name, state.map(|s| (STATE, s))))
                .collect(),
            counters: COUNTERS
                .iter()
                .map(|(name, reason, ..)| key(name, reason.map(|r| (REASON, r))))
                .collect(),
            create_time: key(CREATE_TIME, None),
            wait_time: key(WAIT_TIME, None),
            use_time: key(USE_TIME, None),
        }
    }

    /// Publishes one round: every gauge set, every counter raised by what it grew since
    /// `last`. Descriptions go with every round, for a recorder installed since the last.
    pub(crate) fn publish(&self, figures: &Figures, last: &mut Published) {
        with_recorder(|recorder| {
            for (name, _, help, _) in GAUGES {
                recorder.describe_gauge(KeyName::from(name), Some(Unit::Count), SharedString::from(help));
            }
            for (name, _, help, _) in COUNTERS {
                recorder.describe_counter(KeyName::from(name), Some(Unit::Count), SharedString::from(help));
            }
            for (name, help) in HISTOGRAMS {
                recorder.describe_histogram(
                    KeyName::from(name),
                    Some(Unit::Seconds),
                    SharedString::from(help),
                );
            }
            for ((_, _, _, value), key) in GAUGES.iter().zip(&self.gauges) {
                recorder.register_gauge(key, &METADATA).set(value(figures));
            }
            for (((_, _, _, value), key), last) in COUNTERS.iter().zip(&self.counters).zip(&mut last.0) {
                let now = value(figures);
                // A figure never goes down within a process; should one, it is published again
                // from there.
                let grown = now.saturating_sub(*last);
                if grown > 0 {
                    recorder.register_counter(key, &METADATA).increment(grown);
                }
                *last = now;
            }
        });
    }

    /// A connection was opened in `took`.
    pub(crate) fn connected(&self, took: Duration) {
        record(&self.create_time, took);
    }

    /// A checkout waited `waited` for its connection.
    pub(crate) fn waited(&self, waited: Duration) {
        record(&self.wait_time, waited);
    }

    /// A connection was held `held`, from checkout to return.
    pub(crate) fn used(&self, held: Duration) {
        record(&self.use_time, held);
    }
}

fn record(key: &Key, value: Duration) {
    with_recorder(|recorder| {
        recorder
            .register_histogram(key, &METADATA)
            .record(value.as_secs_f64())
    });
}
