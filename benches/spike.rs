//! The spike: HikariCP's spike-demand test. Opening a connection costs 150 ms (the stub's
//! `connect` sleeps), a request holds its connection for 2 ms (a sleep), the pool may grow to
//! 50 connections and keeps 5 idle. Once the pool has its 5, 50 requests arrive at once (50
//! threads released by a barrier). The 5 connections the pool has serve the 50 requests in
//! about 20 ms, long before a new one could be ready: a pool that opens a connection for every
//! waiter ends with about 50 (5 + 45) it did not need; HikariCP ends with 5 or 6.
//!
//! Peers, one after another within each round, in the same run:
//! - `millpond`: `pool_size(50)`, `max_overflow(0)`, `min_idle(5)`. HikariCP's maximumPoolSize
//!   50 with minimumIdle 5 means: up to 50 connections, at least 5 kept, and the extra ones
//!   stay open until they have been idle for idleTimeout (10 min). millpond's closest
//!   equivalent is a kept pool of 50 with a min idle of 5 (extra connections close after
//!   `idle_timeout`, also 10 min by default).
//! - `millpond-overflow`: `pool_size(5)`, `max_overflow(45)`, `min_idle(5)`, the SQLAlchemy
//!   reading of "5, growing to 50". It is shown beside the other, not instead of it: overflow
//!   connections close as soon as they come back with 5 idle, which hides from "open at the end"
//!   how many were opened; "peak open" and "connects" still show it.
//! - `hikaricp`: HikariCP with maximumPoolSize 50, minimumIdle 5 (Debian's libhikaricp-java,
//!   in a JVM driven over a pipe: benches/hikari/SpikeBench.java, the same load counted the
//!   same way; `--no-hikari` leaves it out, and without Java the program says so and fails).
//! - `r2d2`: `max_size(50)`, `min_idle(Some(5))`.
//!
//! All: timeout 30 s, other options at their defaults. The order of the peers rotates each
//! round.
//!
//! What is measured, by the same ruler for every peer: `open` counts the stub's connections
//! that are established and not yet closed (what the database would see), `connecting` the
//! stub's `connect` calls in progress, `in use` the requests holding a connection, `waiting` the
//! requests inside `get()` (for millpond that includes the ones opening a connection in their
//! own thread; for r2d2 and HikariCP, those waiting for their background opener). A sampler
//! thread records these, and the pool's own count of open connections (`pool.state()`;
//! HikariCP's `getTotalConnections()`), every 250 µs.
//!
//! ```text
//! cargo bench --bench spike                    # 5 rounds; medians
//! cargo bench --bench spike -- --quick         # 1 round
//! cargo bench --bench spike -- --out DIR       # DIR/spike.tsv, DIR/spike_series.tsv
//! cargo bench --bench spike -- --no-hikari     # without HikariCP (no Java needed)
//! ```
//!
//! Rows of `DIR/spike.tsv` (load `spike`, threads 50, pool 50; medians of the rounds unless the
//! metric ends in `_worst`, the round where it was highest): `open_at_end`, `open_at_end_worst`,
//! `connecting_at_end`, `open_after_1s`, `open_after_1s_worst`, `peak_open`,
//! `peak_open_state` (the pool's own count), `peak_connecting`, `peak_waiting`, `peak_in_use`,
//! `connects` (during the spike and the second after it) in `connections` or `threads`;
//! `total_ms`, `arrival_spread_ms` (first to last arrival), `latency_p50_ms`, `latency_max_ms`, `wait_p50_ms`, `wait_max_ms` in `ms`.
//! `DIR/spike_series.tsv` holds the first round's samples: `t_us peer open in_use waiting`, the
//! time from the release of the 50 (negative before it).

#[path = "common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{Jvm, Tsv, median};

const REQUESTS: usize = 50;
const MAX_CONNECTIONS: usize = 50;
const MIN_IDLE: usize = 5;
const CONNECT: Duration = Duration::from_millis(150);
const HOLD: Duration = Duration::from_millis(2);
const SAMPLE_EVERY: Duration = Duration::from_micros(250);
const AFTER: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(30);

/// What the stub's connections do, counted where the database would see it.
#[derive(Default)]
struct Server {
    /// Connections established and not yet closed.
    live: AtomicUsize,
    /// `connect` calls in progress.
    connecting: AtomicUsize,
    /// Connections established in all.
    connects: AtomicUsize,
}

struct SlowConnection(Arc<Server>);

impl Drop for SlowConnection {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A manager whose `connect` takes 150 ms; everything else is free.
#[derive(Clone)]
struct SlowStub(Arc<Server>);

impl SlowStub {
    fn open(&self) -> SlowConnection {
        self.0.connecting.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(CONNECT);
        self.0.live.fetch_add(1, Ordering::SeqCst);
        self.0.connects.fetch_add(1, Ordering::SeqCst);
        self.0.connecting.fetch_sub(1, Ordering::SeqCst);
        SlowConnection(Arc::clone(&self.0))
    }
}

impl millpond::ManageConnection for SlowStub {
    type Connection = SlowConnection;
    type Error = Infallible;
    fn connect(&self) -> Result<SlowConnection, Infallible> {
        Ok(self.open())
    }
    fn is_valid(&self, _: &mut SlowConnection, _: Duration) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut SlowConnection) -> bool {
        false
    }
    fn transaction_state(&self, _: &mut SlowConnection) -> millpond::TransactionState {
        millpond::TransactionState::Idle
    }
}

impl r2d2::ManageConnection for SlowStub {
    type Connection = SlowConnection;
    type Error = Infallible;
    fn connect(&self) -> Result<SlowConnection, Infallible> {
        Ok(self.open())
    }
    fn is_valid(&self, _: &mut SlowConnection) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut SlowConnection) -> bool {
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Millpond,
    MillpondOverflow,
    Hikari,
    R2d2,
}

impl Peer {
    fn id(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::MillpondOverflow => "millpond-overflow",
            Peer::Hikari => "hikaricp",
            Peer::R2d2 => "r2d2",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond (50, min idle 5)",
            Peer::MillpondOverflow => "millpond (5 + 45 overflow, min idle 5)",
            Peer::Hikari => "HikariCP (max 50, min idle 5)",
            Peer::R2d2 => "r2d2 (max 50, min idle 5)",
        }
    }
}

/// One sample of the sampler thread.
#[derive(Clone, Copy)]
struct Sample {
    t_us: i64,
    open: usize,
    connecting: usize,
    in_use: usize,
    waiting: usize,
    /// The pool's own count of open connections (`state().open`, r2d2's `state().connections`).
    pool_open: usize,
}

/// The requests' side of the count.
#[derive(Default)]
struct Requests {
    in_get: AtomicUsize,
    in_use: AtomicUsize,
}

/// One peer's round.
struct Round {
    samples: Vec<Sample>,
    open_at_end: usize,
    connecting_at_end: usize,
    open_after: usize,
    connects: usize,
    total: Duration,
    /// From the first request's arrival to the last's: how close to "at once" they came.
    spread: Duration,
    latencies: Vec<Duration>,
    waits: Vec<Duration>,
}

/// Waits until the stub's counts satisfy `done`, for at most `limit`; false if they never did.
fn settle(server: &Server, limit: Duration, done: impl Fn(usize, usize) -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done(
            server.live.load(Ordering::SeqCst),
            server.connecting.load(Ordering::SeqCst),
        ) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Holds a checked-out connection for 2 ms and gives it back, keeping the request counts;
/// returns when the connection was obtained.
fn hold<C>(conn: C, requests: &Requests) -> Instant {
    let got = Instant::now();
    requests.in_get.fetch_sub(1, Ordering::SeqCst);
    requests.in_use.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(HOLD);
    requests.in_use.fetch_sub(1, Ordering::SeqCst);
    drop(conn);
    got
}

/// The spike against a pool that already has its 5. `request` checks out a connection and
/// passes it to [`hold`]; `pool_open` reads the pool's own count of open connections.
fn spike(
    server: &Server,
    request: impl Fn(&Requests) -> Instant + Sync,
    pool_open: impl Fn() -> usize + Sync,
) -> Round {
    let requests = Requests::default();
    let stop = AtomicBool::new(false);
    let start_line = Barrier::new(REQUESTS + 1);
    let origin = Instant::now();
    let us = |at: Instant| at.saturating_duration_since(origin).as_micros() as i64;
    let connects_before = server.connects.load(Ordering::SeqCst);

    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut samples = Vec::with_capacity(16_384);
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let pool_open = pool_open();
                samples.push(Sample {
                    t_us: us(Instant::now()),
                    open: server.live.load(Ordering::SeqCst),
                    connecting: server.connecting.load(Ordering::SeqCst),
                    in_use: requests.in_use.load(Ordering::SeqCst),
                    waiting: requests.in_get.load(Ordering::SeqCst),
                    pool_open,
                });
                next += SAMPLE_EVERY;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now; // fell behind (a busy machine): no burst of catch-up samples
                }
            }
            samples
        });
        let workers: Vec<_> = (0..REQUESTS)
            .map(|_| {
                scope.spawn(|| {
                    start_line.wait();
                    let arrived = Instant::now();
                    requests.in_get.fetch_add(1, Ordering::SeqCst);
                    let got = request(&requests);
                    (arrived, got, Instant::now())
                })
            })
            .collect();
        // Let the sampler see the calm before the spike.
        std::thread::sleep(Duration::from_millis(5));
        start_line.wait();
        let times: Vec<(Instant, Instant, Instant)> = workers
            .into_iter()
            .map(|w| w.join().expect("a request panicked"))
            .collect();
        let open_at_end = server.live.load(Ordering::SeqCst);
        let connecting_at_end = server.connecting.load(Ordering::SeqCst);
        std::thread::sleep(AFTER);
        let open_after = server.live.load(Ordering::SeqCst);
        let connects = server.connects.load(Ordering::SeqCst) - connects_before;
        stop.store(true, Ordering::Relaxed);
        let mut samples = sampler.join().expect("the sampler panicked");

        let first = times.iter().map(|t| t.0).min().expect("requests");
        let last = times.iter().map(|t| t.2).max().expect("requests");
        let start_us = us(first);
        for s in &mut samples {
            s.t_us -= start_us;
        }
        Round {
            samples,
            open_at_end,
            connecting_at_end,
            open_after,
            connects,
            total: last - first,
            spread: times.iter().map(|t| t.0).max().expect("requests") - first,
            latencies: times.iter().map(|t| t.2 - t.0).collect(),
            waits: times.iter().map(|t| t.1 - t.0).collect(),
        }
    })
}

/// Builds the peer's pool on a fresh stub server, waits for its 5, runs the spike, drops the
/// pool and waits for its connections to close.
fn run_peer(peer: Peer, hikari: Option<&mut Jvm>) -> Round {
    if peer == Peer::Hikari {
        return hikari_round(hikari.expect("HikariCP is running"));
    }
    let server = Arc::new(Server::default());
    let stub = SlowStub(Arc::clone(&server));
    let filled = |server: &Server| {
        let ok = settle(server, Duration::from_secs(10), |live, connecting| {
            live >= MIN_IDLE && connecting == 0
        });
        assert!(
            ok,
            "{}: the pool did not open its {MIN_IDLE} connections",
            peer.id()
        );
    };
    let round = match peer {
        Peer::Millpond | Peer::MillpondOverflow => {
            let (size, overflow) = if peer == Peer::Millpond {
                (MAX_CONNECTIONS, 0)
            } else {
                (MIN_IDLE, MAX_CONNECTIONS - MIN_IDLE)
            };
            let pool = millpond::Pool::builder()
                .pool_size(size)
                .max_overflow(overflow)
                .min_idle(MIN_IDLE)
                .timeout(TIMEOUT)
                .build(stub)
                .expect("pool");
            filled(&server);
            spike(
                &server,
                |r| hold(pool.get().expect("checkout"), r),
                || pool.state().open,
            )
        }
        Peer::Hikari => unreachable!("run in the JVM"),
        Peer::R2d2 => {
            let pool = r2d2::Pool::builder()
                .max_size(MAX_CONNECTIONS as u32)
                .min_idle(Some(MIN_IDLE as u32))
                .connection_timeout(TIMEOUT)
                .build(stub)
                .expect("pool");
            filled(&server);
            spike(
                &server,
                |r| hold(pool.get().expect("checkout"), r),
                || pool.state().connections as usize,
            )
        }
    };
    // The pool is dropped; r2d2 may still be finishing connects it had started.
    if !settle(&server, Duration::from_secs(3), |live, connecting| {
        live == 0 && connecting == 0
    }) {
        eprintln!(
            "note: {}: {} connections still open 3 s after the pool was dropped",
            peer.id(),
            server.live.load(Ordering::SeqCst)
        );
    }
    round
}

/// One round in the HikariCP JVM (benches/hikari/SpikeBench.java): the same load, counted the
/// same way, reported as `sample` lines and one `result` line.
fn hikari_round(jvm: &mut Jvm) -> Round {
    fn num<T: std::str::FromStr>(word: Option<&str>, line: &str) -> T {
        word.and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line from the HikariCP JVM: `{line}`"))
    }
    fn durations(word: Option<&str>, line: &str) -> Vec<Duration> {
        let list = word.unwrap_or_else(|| panic!("unexpected line from the HikariCP JVM: `{line}`"));
        list.split(',')
            .map(|ns| Duration::from_nanos(num(Some(ns), line)))
            .collect()
    }
    jvm.send("run");
    let mut samples = Vec::with_capacity(16_384);
    loop {
        let line = jvm.line();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("sample") => samples.push(Sample {
                t_us: num(words.next(), &line),
                open: num(words.next(), &line),
                connecting: num(words.next(), &line),
                in_use: num(words.next(), &line),
                waiting: num(words.next(), &line),
                pool_open: num(words.next(), &line),
            }),
            Some("result") => {
                return Round {
                    samples,
                    open_at_end: num(words.next(), &line),
                    connecting_at_end: num(words.next(), &line),
                    open_after: num(words.next(), &line),
                    connects: num(words.next(), &line),
                    total: Duration::from_nanos(num(words.next(), &line)),
                    spread: Duration::from_nanos(num(words.next(), &line)),
                    latencies: durations(words.next(), &line),
                    waits: durations(words.next(), &line),
                };
            }
            _ => {} // anything else the JVM prints is not ours
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The nearest-rank percentile of durations, in ms.
fn pct_ms(durations: &[Duration], p: f64) -> f64 {
    let mut nanos: Vec<u64> = durations.iter().map(|d| d.as_nanos() as u64).collect();
    nanos.sort_unstable();
    common::percentile(&nanos, p) as f64 / 1e6
}

/// One figure per round; the table shows the median, the file the median and maybe the worst.
struct Metric {
    id: &'static str,
    label: &'static str,
    unit: &'static str,
    worst: bool,
    of: fn(&Round) -> f64,
}

const fn metric(
    id: &'static str,
    label: &'static str,
    unit: &'static str,
    worst: bool,
    of: fn(&Round) -> f64,
) -> Metric {
    Metric {
        id,
        label,
        unit,
        worst,
        of,
    }
}

#[rustfmt::skip]
const METRICS: [Metric; 15] = [
    metric("open_at_end", "open when the 50 are served", "connections", true, |r| r.open_at_end as f64),
    metric("connecting_at_end", "still connecting then", "connections", false, |r| r.connecting_at_end as f64),
    metric("open_after_1s", "open 1 s later", "connections", true, |r| r.open_after as f64),
    metric("connects", "connects (spike and 1 s after)", "connections", false, |r| r.connects as f64),
    metric("peak_open", "peak open", "connections", false, |r| peak(r, |s| s.open)),
    metric("peak_open_state", "peak open (pool's own count)", "connections", false, |r| peak(r, |s| s.pool_open)),
    metric("peak_connecting", "peak connecting", "connections", false, |r| peak(r, |s| s.connecting)),
    metric("peak_waiting", "peak waiting (in get())", "threads", false, |r| peak(r, |s| s.waiting)),
    metric("peak_in_use", "peak in use", "connections", false, |r| peak(r, |s| s.in_use)),
    metric("total_ms", "time to serve the 50", "ms", false, |r| ms(r.total)),
    metric("arrival_spread_ms", "arrivals spread over", "ms", false, |r| ms(r.spread)),
    metric("latency_p50_ms", "request latency p50", "ms", false, |r| pct_ms(&r.latencies, 50.0)),
    metric("latency_max_ms", "request latency max", "ms", false, |r| pct_ms(&r.latencies, 100.0)),
    metric("wait_p50_ms", "checkout wait p50", "ms", false, |r| pct_ms(&r.waits, 50.0)),
    metric("wait_max_ms", "checkout wait max", "ms", false, |r| pct_ms(&r.waits, 100.0)),
];

fn peak(round: &Round, field: fn(&Sample) -> usize) -> f64 {
    round.samples.iter().map(field).max().unwrap_or(0) as f64
}

fn main() {
    let args = common::args("spike", &["--no-hikari"]);
    let rounds = if args.quick { 1 } else { 5 };
    let mut hikari = common::hikari(&args, "spike", "SpikeBench");
    let peers: Vec<Peer> = [Peer::Millpond, Peer::MillpondOverflow, Peer::Hikari, Peer::R2d2]
        .into_iter()
        .filter(|&peer| peer != Peer::Hikari || hikari.is_some())
        .collect();

    // One unmeasured round warms the JVM (class loading, the JIT): the first round in a fresh
    // JVM serves the 50 about three times slower than later ones.
    if let Some(jvm) = &mut hikari {
        hikari_round(jvm);
    }
    let mut results: Vec<Vec<Round>> = peers.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..peers.len() {
            let i = (k + round) % peers.len();
            results[i].push(run_peer(peers[i], hikari.as_mut()));
        }
    }

    println!(
        "Spike: connect 150 ms, hold 2 ms, 50 requests at once on a pool of at most 50 that keeps 5; \
         medians of {rounds} round(s), samples every 250 µs."
    );
    println!(
        "millpond maps HikariCP's maximumPoolSize 50 + minimumIdle 5 to pool_size 50, max_overflow 0, \
         min_idle 5; the 5 + 45 overflow reading is shown beside it."
    );
    match &hikari {
        Some(jvm) => println!(
            "HikariCP {} on Java {}, in its own JVM, warmed up by one unmeasured round.\n",
            jvm.hikari_version, jvm.java_version
        ),
        None => println!("HikariCP left out (--no-hikari); it ends this test with 5 to 6 connections.\n"),
    }
    drop(hikari);
    let titles: Vec<&str> = peers.iter().map(|p| p.title()).collect();
    println!("| | {} |", titles.join(" | "));
    println!("|---|{}", "---:|".repeat(peers.len()));
    let mut tsv = Tsv::new("spike");
    for metric in &METRICS {
        let mut cells = Vec::new();
        for (i, peer) in peers.iter().enumerate() {
            let values: Vec<f64> = results[i].iter().map(metric.of).collect();
            let mid = median(&values);
            let worst = values.iter().copied().fold(f64::MIN, f64::max);
            let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
            tsv.row(
                "spike",
                peer.id(),
                REQUESTS,
                MAX_CONNECTIONS,
                metric.id,
                round3(mid),
                metric.unit,
            );
            if metric.worst {
                let id = format!("{}_worst", metric.id);
                tsv.row(
                    "spike",
                    peer.id(),
                    REQUESTS,
                    MAX_CONNECTIONS,
                    &id,
                    round3(worst),
                    metric.unit,
                );
            }
            cells.push(if metric.unit == "ms" {
                format!("{mid:.1} ms")
            } else if metric.worst && rounds > 1 {
                format!("{mid:.0} (worst {worst:.0})")
            } else {
                format!("{mid:.0}")
            });
        }
        println!("| {} | {} |", metric.label, cells.join(" | "));
    }
    tsv.write(&args);

    let mut series = String::from("t_us\tpeer\topen\tin_use\twaiting\n");
    for (i, peer) in peers.iter().enumerate() {
        for s in &results[i][0].samples {
            writeln!(
                series,
                "{}\t{}\t{}\t{}\t{}",
                s.t_us,
                peer.id(),
                s.open,
                s.in_use,
                s.waiting
            )
            .unwrap();
        }
    }
    common::write_file(&args, "spike_series.tsv", &series);
}
