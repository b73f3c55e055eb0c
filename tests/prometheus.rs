//! The `prometheus` example's `/metrics`, scraped over real HTTP (a plain `GET` on a
//! `TcpStream`) while its threaded server is under load: the figures move, and once the load
//! stops they agree with `Pool::state` and `Pool::stats`, the wait histogram's cumulative
//! buckets included. Its own binary: the exporter is the process's one recorder.

#[path = "../examples/prometheus.rs"]
#[allow(dead_code)]
mod example;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use millpond::Pool;
use millpond::observe::WAIT_BUCKETS;

const POOL: &str = "prometheus_test";
const LIMIT: Duration = Duration::from_secs(20);

/// A loopback address nothing listens on now.
fn free_address() -> SocketAddr {
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

/// `GET /metrics`, or why not.
fn scrape(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no body")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(head.to_owned());
    }
    Ok(body.to_owned())
}

/// One scrape, read: the value of each series of the test's pool, by name and labels (the
/// pool's own label left out).
struct Scrape(BTreeMap<(String, BTreeMap<String, String>), f64>);

impl Scrape {
    fn parse(body: &str) -> Scrape {
        let mut series = BTreeMap::new();
        for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (key, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match key.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (key, ""),
            };
            let mut labels: BTreeMap<String, String> = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            if labels.remove("db_client_connection_pool_name").as_deref() != Some(POOL) {
                continue;
            }
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().expect("a number"),
            };
            series.insert((name.to_owned(), labels), value);
        }
        Scrape(series)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0.get(&(name.to_owned(), labels)).copied()
    }

    /// A counter, zero when it never grew (and so was never written).
    fn count(&self, name: &str) -> u64 {
        self.get(name, &[]).unwrap_or(0.0) as u64
    }

    /// The histogram's cumulative bucket counts at the pool's own bounds, then `+Inf`.
    fn wait_buckets(&self) -> Vec<u64> {
        let mut counts = BTreeMap::new();
        for ((name, labels), value) in &self.0 {
            if name == "db_client_connection_wait_time_bucket" {
                let le = &labels["le"];
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse::<f64>().unwrap()
                };
                counts.insert(bound.to_bits(), (bound, *value as u64));
            }
        }
        let mut counts: Vec<(f64, u64)> = counts.into_values().collect();
        counts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let bounds: Vec<f64> = counts.iter().map(|c| c.0).collect();
        let expected: Vec<f64> = WAIT_BUCKETS
            .iter()
            .map(Duration::as_secs_f64)
            .chain([f64::INFINITY])
            .collect();
        assert_eq!(bounds, expected, "the exporter's wait buckets are the pool's");
        counts.into_iter().map(|c| c.1).collect()
    }
}

/// Scrapes until `good` holds of a scrape or `LIMIT` passes; returns the last scrape.
fn scrape_until(addr: SocketAddr, what: &str, mut good: impl FnMut(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + LIMIT;
    let mut last: Result<String, String> = Err("not scraped yet".into());
    loop {
        if let Ok(body) = &last {
            let scrape = Scrape::parse(body);
            if good(&scrape) {
                return scrape;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never within {LIMIT:?}; last scrape: {last:?}"
        );
        // The pool publishes every 50 ms: look again shortly.
        std::thread::sleep(Duration::from_millis(20));
        last = scrape(addr);
    }
}

#[test]
fn scraped_figures_move_under_load_and_then_agree_with_state_and_stats() {
    // A free port can be taken by another test between the probe and the exporter's bind;
    // a failed bind sets no recorder, so another port can be tried.
    let addr = (0..5)
        .find_map(|_| {
            let addr = free_address();
            example::install_exporter(addr).ok().map(|()| addr)
        })
        .expect("the exporter starts on one of five free ports");
    let path = std::env::temp_dir().join(format!("millpond-prometheus-test-{}.db", std::process::id()));
    // Both connections opened at build: every wait under the load is one for another thread's
    // connection, so the wait histogram is exactly `Stats`'s.
    let pool = example::sqlite_pool(
        &path,
        Pool::builder()
            .name(POOL)
            .pool_size(2)
            .max_overflow(0)
            .min_idle(2)
            .metrics_interval(Duration::from_millis(50)),
    )
    .expect("the pool");
    let load = example::Load::start(&pool, 6, Duration::from_micros(200));

    let first = scrape_until(addr, "checkouts published", |s| {
        s.count("millpond_connection_checkouts") > 0
    });
    let checkouts = first.count("millpond_connection_checkouts");
    let moved = scrape_until(addr, "checkouts and waits moving, connections in use", |s| {
        s.count("millpond_connection_checkouts") > checkouts
            && s.count("millpond_connection_waits") > 0
            && s.get("db_client_connection_wait_time_count", &[]).unwrap_or(0.0) > 0.0
            && s.get(
                "db_client_connection_count",
                &[("db_client_connection_state", "used")],
            ) > Some(0.0)
    });
    assert!(load.served() > 0);
    load.stop().expect("every request served");
    assert!(moved.count("millpond_connection_checkouts") <= pool.stats().checkouts);

    let (state, stats) = (pool.state(), pool.stats());
    let agreed = scrape_until(addr, "the figures agreeing with state() and stats()", |s| {
        // Every published counter, not one of them only: a round can publish the last
        // checkout before the last wait is counted.
        s.count("millpond_connection_checkouts") == stats.checkouts
            && s.count("millpond_connection_waits") == stats.waits
            && s.count("db_client_connection_timeouts") == stats.timeouts
            && s.get("db_client_connection_wait_time_count", &[]) == Some(stats.waits as f64)
            && s.get(
                "db_client_connection_count",
                &[("db_client_connection_state", "used")],
            ) == Some(0.0)
    });
    let gauge = |name: &str| agreed.get(name, &[]);
    assert_eq!(
        agreed.get(
            "db_client_connection_count",
            &[("db_client_connection_state", "idle")]
        ),
        Some(state.idle as f64)
    );
    assert_eq!((state.idle, state.in_use, state.waiting), (2, 0, 0), "{state}");
    assert_eq!(gauge("db_client_connection_pending_requests"), Some(0.0));
    assert_eq!(gauge("db_client_connection_max"), Some(2.0));
    assert_eq!(gauge("db_client_connection_idle_max"), Some(2.0));
    assert_eq!(gauge("db_client_connection_idle_min"), Some(2.0));
    assert_eq!(agreed.count("millpond_connection_waits"), stats.waits);
    assert_eq!(agreed.count("db_client_connection_timeouts"), stats.timeouts);
    assert_eq!(agreed.count("millpond_connection_connect_errors"), 0);
    assert_eq!(
        gauge("db_client_connection_create_time_count"),
        Some(stats.connects as f64),
        "one create_time sample per connect"
    );
    let sum = gauge("db_client_connection_wait_time_sum").expect("a sum");
    let total = stats.wait_time_total.as_secs_f64();
    assert!(
        (sum - total).abs() <= 1e-9 * stats.waits as f64 + 1e-12,
        "sum {sum} vs {total}"
    );
    let cumulative: Vec<u64> = stats.wait_histogram_cumulative().to_vec();
    assert_eq!(agreed.wait_buckets(), cumulative, "{stats}");
    assert!(stats.waits > 0 && *cumulative.last().unwrap() == stats.waits);

    drop(pool);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
