//! A `metrics` recorder that keeps every figure in memory, by series (name and labels).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata};
use metrics::{Recorder, SharedString, Unit};
use millpond::observe::metrics::POOL_NAME;

/// What was recorded, by series: `name{label=value,…}`, labels in the order the key has them.
#[derive(Default)]
pub struct Figures {
    counters: Mutex<BTreeMap<String, u64>>,
    gauges: Mutex<BTreeMap<String, f64>>,
    gauge_sets: Mutex<BTreeMap<String, u64>>,
    histograms: Mutex<BTreeMap<String, Vec<f64>>>,
}

fn series(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

/// The series of `metric` for the pool `pool` with the `extra` labels after the pool's.
fn series_of(metric: &str, pool: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![format!("{POOL_NAME}={pool}")];
    labels.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    format!("{metric}{{{}}}", labels.join(","))
}

impl Figures {
    pub fn counter(&self, metric: &str, pool: &str, extra: &[(&str, &str)]) -> Option<u64> {
        self.counters
            .lock()
            .unwrap()
            .get(&series_of(metric, pool, extra))
            .copied()
    }

    pub fn gauge(&self, metric: &str, pool: &str, extra: &[(&str, &str)]) -> Option<f64> {
        self.gauges
            .lock()
            .unwrap()
            .get(&series_of(metric, pool, extra))
            .copied()
    }

    /// Every sample of the histogram `metric` of the pool, in the order recorded.
    pub fn samples(&self, metric: &str, pool: &str) -> Vec<f64> {
        self.histograms
            .lock()
            .unwrap()
            .get(&series_of(metric, pool, &[]))
            .cloned()
            .unwrap_or_default()
    }

    /// How many rounds published the pool's figures (counted by one gauge every round sets).
    pub fn publishes(&self, pool: &str) -> u64 {
        let key = series_of(millpond::observe::metrics::IDLE_MAX, pool, &[]);
        self.gauge_sets.lock().unwrap().get(&key).copied().unwrap_or(0)
    }

    /// Every series of the pool, one a line (empty when there is none).
    pub fn dump(&self, pool: &str) -> String {
        let label = format!("{POOL_NAME}={pool}");
        let mine = |series: &String| {
            series
                .split_once('{')
                .is_some_and(|(_, labels)| labels.trim_end_matches('}').split(',').any(|l| l == label))
        };
        let mut out = Vec::new();
        for (s, v) in self.counters.lock().unwrap().iter().filter(|(s, _)| mine(s)) {
            out.push(format!("counter {s} {v}"));
        }
        for (s, v) in self.gauges.lock().unwrap().iter().filter(|(s, _)| mine(s)) {
            out.push(format!("gauge {s} {v}"));
        }
        for (s, v) in self.histograms.lock().unwrap().iter().filter(|(s, _)| mine(s)) {
            out.push(format!("histogram {s} {v:?}"));
        }
        out.join("\n")
    }
}

struct Series {
    figures: &'static Figures,
    series: String,
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        *self
            .figures
            .counters
            .lock()
            .unwrap()
            .entry(self.series.clone())
            .or_default() += value;
    }
    fn absolute(&self, value: u64) {
        let mut counters = self.figures.counters.lock().unwrap();
        let entry = counters.entry(self.series.clone()).or_default();
        *entry = (*entry).max(value);
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        *self
            .figures
            .gauges
            .lock()
            .unwrap()
            .entry(self.series.clone())
            .or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self
            .figures
            .gauges
            .lock()
            .unwrap()
            .entry(self.series.clone())
            .or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.figures
            .gauges
            .lock()
            .unwrap()
            .insert(self.series.clone(), value);
        *self
            .figures
            .gauge_sets
            .lock()
            .unwrap()
            .entry(self.series.clone())
            .or_default() += 1;
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.figures
            .histograms
            .lock()
            .unwrap()
            .entry(self.series.clone())
            .or_default()
            .push(value);
    }
}

struct Capture(&'static Figures);

impl Capture {
    fn series(&self, key: &Key) -> Arc<Series> {
        Arc::new(Series {
            figures: self.0,
            series: series(key),
        })
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key))
    }
}

/// Installs the capturing recorder (once per test binary) and returns what it keeps.
pub fn recorder() -> &'static Figures {
    static FIGURES: OnceLock<&'static Figures> = OnceLock::new();
    FIGURES.get_or_init(|| {
        let figures: &'static Figures = Box::leak(Box::default());
        metrics::set_global_recorder(Capture(figures)).expect("no other recorder in this binary");
        figures
    })
}
