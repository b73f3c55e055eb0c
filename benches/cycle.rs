//! Connection cycle, the load of HikariCP's own benchmark: each thread loops `get` + drop
//! against a stub that does no I/O, so the pool's own cost is all that is measured. Grid:
//! threads 1, 8, 32, 64 × pool 8, 16, 32; no overflow, min idle 0, timeout 8 s.
//!
//! Peers, alternated round by round (the order rotates each round, so no peer always runs on a
//! warmer or quieter machine):
//! - `millpond`: defaults otherwise (pre-ping on, with its 500 ms bypass window), on a stub
//!   manager that says its connections are idle (`TransactionState::Idle`), as the crate's
//!   backends do;
//! - `millpond-unknown-state`: the same on a stub with the trait's default `transaction_state`
//!   (`Unknown`), as r2d2-adapted managers have: every return goes through `reset`;
//! - `hikaricp`: HikariCP (Debian's libhikaricp-java) in one JVM started for the whole run and
//!   driven over a pipe (benches/hikari/CycleBench.java, compiled here with `javac` into
//!   `DIR/hikari/`). Its JIT is warmed before anything is measured (a round at pool 16 for each
//!   thread count), and again by one unmeasured round at each grid point before that point's
//!   rounds; the Rust peers need no warm-up and get none;
//! - `r2d2-no-test`: r2d2 with `test_on_check_out(false)`;
//! - `r2d2-default`: r2d2 with its defaults (`is_valid` on every checkout).
//!
//! Built with the `metrics` feature, the cost of the features is measured too, by more peers in
//! the same alternation (`scripts/bench` runs the headline peers from a default build, then only
//! these from a build with `metrics,tracing`, `--features-only`): millpond with
//! - `metrics-off`: `metrics_interval(None)`, the pool's metrics turned off at run time (the
//!   baseline of the ratios below: the feature is compiled in, its emission points are not
//!   called);
//! - `metrics-no-recorder`: the defaults, so metrics on (published every second), but no
//!   recorder (what `millpond` measures in such a build, measured again here through the same
//!   code as the others);
//! - `metrics-recorder`: the defaults with `metrics-exporter-prometheus`'s recorder installed
//!   (no HTTP listener; its buffers are drained between rounds, unmeasured);
//! - `metrics-every-checkout`: the same with `metrics_every_checkout(true)`: every checkout
//!   sampled into the wait and use histograms;
//! - `tracing-subscriber` (with the `tracing` feature): a subscriber that takes every span (and
//!   counts them) installed.
//!
//! The recorder and the subscriber are process-wide, so each is installed once behind a switch
//! that only its own peer's rounds turn on; with the switch off they answer as none does (a
//! no-op handle, a span not enabled).
//!
//! Every round builds a fresh pool. The figure is the median of the rounds, in operations
//! (one `get` plus one drop) per second, and the ratios millpond / HikariCP and millpond / r2d2
//! (no test) are of the medians.
//!
//! ```text
//! cargo bench --bench cycle                    # 5 rounds of 0.5 s per peer and grid point
//! cargo bench --bench cycle -- --quick         # pools 8 and 16, 3 rounds of 0.3 s
//! cargo bench --bench cycle -- --out DIR       # DIR/cycle.tsv (default target/bench)
//! cargo bench --bench cycle -- --no-hikari     # without HikariCP (no Java needed)
//! cargo bench --features metrics,tracing --bench cycle -- --features-only
//!                                              # only the features' peers, into
//!                                              # DIR/cycle-features.tsv
//! ```
//!
//! HikariCP needs `java`, `javac`, HikariCP's jar and slf4j-api's (Debian:
//! `apt-get install -y default-jdk-headless libhikaricp-java`); `MILLPOND_HIKARICP_JAR` and
//! `MILLPOND_SLF4J_JAR` name other jars. Without them the program says so and fails, unless
//! `--no-hikari` is given.
//!
//! Rows of `DIR/cycle.tsv` (load `cycle`; peers `millpond`, `hikaricp`, `r2d2-no-test`,
//! `r2d2-default`): `ops_per_s` (median), `ops_per_s_min`, `ops_per_s_max` in `ops/s`; for
//! peer `millpond` also `ratio_vs_hikaricp` and `ratio_vs_r2d2-no-test` in `x`. The features'
//! peers write the same figures under load `cycle-features`, each with `ratio_vs_metrics-off`
//! in `x`.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Jvm, Stub, Tsv, UnknownStateStub, median, ops};

const THREADS: [usize; 4] = [1, 8, 32, 64];
const TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Millpond,
    /// millpond on a manager with the trait's default `transaction_state` (`Unknown`).
    MillpondUnknownState,
    Hikari,
    R2d2NoTest,
    R2d2Default,
    /// millpond with the features' peers (see the module docs); absent from a build without them.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    Features(Feature),
}

/// The features' peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
enum Feature {
    MetricsOff,
    NoRecorder,
    Recorder,
    EveryCheckout,
    Subscriber,
}

impl Feature {
    /// The peer's name under load `cycle-features`.
    fn id(self) -> &'static str {
        match self {
            Feature::MetricsOff => "metrics-off",
            Feature::NoRecorder => "metrics-no-recorder",
            Feature::Recorder => "metrics-recorder",
            Feature::EveryCheckout => "metrics-every-checkout",
            Feature::Subscriber => "tracing-subscriber",
        }
    }

    /// The peers this build measures.
    fn compiled() -> Vec<Feature> {
        let mut peers = Vec::new();
        if cfg!(feature = "metrics") {
            peers.extend([
                Feature::MetricsOff,
                Feature::NoRecorder,
                Feature::Recorder,
                Feature::EveryCheckout,
            ]);
            if cfg!(feature = "tracing") {
                peers.push(Feature::Subscriber);
            }
        }
        peers
    }
}

impl Peer {
    /// The peer's name in the TSV file.
    fn id(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::MillpondUnknownState => "millpond-unknown-state",
            Peer::Hikari => "hikaricp",
            Peer::R2d2NoTest => "r2d2-no-test",
            Peer::R2d2Default => "r2d2-default",
            Peer::Features(feature) => feature.id(),
        }
    }

    /// The peer's name in the table.
    fn title(self, hikari: Option<&Jvm>) -> String {
        match self {
            Peer::Millpond => "millpond".into(),
            Peer::MillpondUnknownState => "millpond (state `Unknown`)".into(),
            Peer::Hikari => format!("HikariCP {}", hikari.map_or("?", |h| h.hikari_version.as_str())),
            Peer::R2d2NoTest => "r2d2 (no checkout test)".into(),
            Peer::R2d2Default => "r2d2 (defaults)".into(),
            Peer::Features(feature) => feature.id().into(),
        }
    }
}

/// Runs `threads` threads doing `cycle` for `duration`; returns operations per second.
fn run(threads: usize, duration: Duration, cycle: impl Fn() + Sync) -> f64 {
    let (ops, seconds) = common::run_for(threads, duration, |_, _| cycle());
    ops as f64 / seconds
}

fn measure(
    peer: Peer,
    threads: usize,
    pool_size: usize,
    duration: Duration,
    hikari: Option<&mut Jvm>,
) -> f64 {
    match peer {
        Peer::Millpond => {
            let pool = millpond::Pool::builder()
                .pool_size(pool_size)
                .max_overflow(0)
                .min_idle(0)
                .timeout(TIMEOUT)
                .build(Stub)
                .expect("pool");
            let ops = run(threads, duration, || drop(pool.get().expect("checkout")));
            if std::env::var_os("MILLPOND_BENCH_STATS").is_some() {
                eprintln!("threads {threads} pool {pool_size}: {:?}", pool.stats());
            }
            ops
        }
        Peer::MillpondUnknownState => {
            let pool = millpond::Pool::builder()
                .pool_size(pool_size)
                .max_overflow(0)
                .min_idle(0)
                .timeout(TIMEOUT)
                .build(UnknownStateStub)
                .expect("pool");
            run(threads, duration, || drop(pool.get().expect("checkout")))
        }
        Peer::Hikari => hikari_round(hikari.expect("HikariCP is running"), pool_size, threads, duration),
        Peer::Features(feature) => features::measure(feature, threads, pool_size, duration),
        Peer::R2d2NoTest | Peer::R2d2Default => {
            let pool = r2d2::Pool::builder()
                .max_size(pool_size as u32)
                .min_idle(Some(0))
                .connection_timeout(TIMEOUT)
                .test_on_check_out(peer == Peer::R2d2Default)
                .build(Stub)
                .expect("pool");
            run(threads, duration, || drop(pool.get().expect("checkout")))
        }
    }
}

/// One HikariCP round in the JVM, with a fresh HikariDataSource; returns operations per second.
fn hikari_round(jvm: &mut Jvm, pool_size: usize, threads: usize, duration: Duration) -> f64 {
    jvm.send(&format!("run {pool_size} {threads} {}", duration.as_millis()));
    let reply = jvm.reply("ops");
    let value = reply
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse::<f64>().ok());
    value.unwrap_or_else(|| panic!("unexpected reply from the HikariCP JVM: `ops {reply}`"))
}

fn main() {
    let args = common::args("cycle", &["--no-hikari", "--features-only"]);
    // Only the features' peers: the headline table comes from a default build (see
    // scripts/bench), this run adds the features' cost from a build with them.
    let features_only = args.has("--features-only");
    if features_only && Feature::compiled().is_empty() {
        eprintln!("cycle: --features-only needs a build with `--features metrics` (and `tracing`)");
        std::process::exit(2);
    }
    let quick = args.quick;
    let pools: &[usize] = if quick { &[8, 16] } else { &[8, 16, 32] };
    let rounds = if quick { 3 } else { 5 };
    let duration = Duration::from_millis(if quick { 300 } else { 500 });

    let mut hikari = if features_only {
        None
    } else {
        common::hikari(&args, "cycle", "CycleBench")
    };
    let peers: Vec<Peer> = [
        Peer::Millpond,
        Peer::MillpondUnknownState,
        Peer::Hikari,
        Peer::R2d2NoTest,
        Peer::R2d2Default,
    ]
    .into_iter()
    .filter(|_| !features_only)
    .filter(|&peer| peer != Peer::Hikari || hikari.is_some())
    .chain(Feature::compiled().into_iter().map(Peer::Features))
    .collect();
    // The features' peers get a table of their own.
    let headline = peers.iter().filter(|p| !matches!(p, Peer::Features(_))).count();

    println!(
        "Connection cycle (get + drop, stub connections): median ops/s of {rounds} alternated rounds of {} ms, \
         fresh pool per round, no overflow, min idle 0, timeout 8 s.",
        duration.as_millis()
    );
    if let Some(h) = &mut hikari {
        println!(
            "HikariCP {} on Java {}: one JVM for the run, warmed up before measuring and by one unmeasured \
             round per grid point.",
            h.hikari_version, h.java_version
        );
        let warm_up = Duration::from_millis(if quick { 300 } else { 700 });
        for threads in THREADS {
            hikari_round(h, 16, threads, warm_up);
        }
    }
    println!();

    let titles: Vec<String> = peers[..headline]
        .iter()
        .map(|p| p.title(hikari.as_ref()))
        .collect();
    let mut ratio_titles = Vec::new();
    if hikari.is_some() {
        ratio_titles.push("millpond / HikariCP");
    }
    ratio_titles.push("millpond / r2d2 (no test)");
    if features_only {
        println!("| pool | threads | the features, vs metrics off |\n|---:|---:|---|");
    } else {
        println!(
            "| pool | threads | {} | {} |",
            titles.join(" | "),
            ratio_titles.join(" | ")
        );
        println!("|---:|---:|{}", "---:|".repeat(headline + ratio_titles.len()));
    }

    let mut tsv = Tsv::new(if features_only { "cycle-features" } else { "cycle" });
    for &pool_size in pools {
        for threads in THREADS {
            if let Some(h) = &mut hikari {
                hikari_round(h, pool_size, threads, duration);
            }
            let mut samples = vec![Vec::new(); peers.len()];
            for round in 0..rounds {
                for k in 0..peers.len() {
                    let i = (k + round) % peers.len();
                    samples[i].push(measure(peers[i], threads, pool_size, duration, hikari.as_mut()));
                }
            }
            let medians: Vec<f64> = samples.iter().map(|s| median(s)).collect();
            let mut row = |peer: Peer, metric: &str, value: f64, unit: &str| {
                tsv.row("cycle", peer.id(), threads, pool_size, metric, value, unit);
            };
            for (i, &peer) in peers[..headline].iter().enumerate() {
                let min = samples[i].iter().copied().fold(f64::INFINITY, f64::min);
                let max = samples[i].iter().copied().fold(0.0, f64::max);
                row(peer, "ops_per_s", medians[i].round(), "ops/s");
                row(peer, "ops_per_s_min", min.round(), "ops/s");
                row(peer, "ops_per_s_max", max.round(), "ops/s");
            }
            let mut costs = Vec::new();
            if let Some(off) = peers
                .iter()
                .position(|&p| p == Peer::Features(Feature::MetricsOff))
            {
                let of = |i: usize| medians[i] / medians[off];
                let mut cost = |id: &str, i: usize| {
                    tsv.row(
                        "cycle-features",
                        id,
                        threads,
                        pool_size,
                        "ops_per_s",
                        medians[i].round(),
                        "ops/s",
                    );
                    let ratio = (of(i) * 1000.0).round() / 1000.0;
                    tsv.row(
                        "cycle-features",
                        id,
                        threads,
                        pool_size,
                        "ratio_vs_metrics-off",
                        ratio,
                        "x",
                    );
                    costs.push(format!("{id} {:.2}×", of(i)));
                };
                for (i, peer) in peers.iter().enumerate() {
                    if let Peer::Features(feature) = peer {
                        cost(feature.id(), i);
                    }
                }
            }
            let mut row = |peer: Peer, metric: &str, value: f64, unit: &str| {
                tsv.row("cycle", peer.id(), threads, pool_size, metric, value, unit);
            };
            let of = |peer: Peer| medians[peers.iter().position(|&p| p == peer).expect("peer")];
            let mut ratios = Vec::new();
            for other in [Peer::Hikari, Peer::R2d2NoTest] {
                if peers.contains(&other) {
                    let ratio = of(Peer::Millpond) / of(other);
                    let metric = format!("ratio_vs_{}", other.id());
                    row(Peer::Millpond, &metric, (ratio * 1000.0).round() / 1000.0, "x");
                    ratios.push(format!("{ratio:.2}×"));
                }
            }
            if features_only {
                println!("| {pool_size} | {threads} | {} |", costs.join(", "));
                continue;
            }
            let cells: Vec<String> = medians[..headline].iter().map(|&m| ops(m)).collect();
            println!(
                "| {pool_size} | {threads} | {} | {} |",
                cells.join(" | "),
                ratios.join(" | ")
            );
            if !costs.is_empty() {
                println!("|   | features, vs metrics off: {} |", costs.join(", "));
            }
        }
    }
    drop(hikari);
    tsv.write(&args);
}

/// The features' peers: a recorder and a subscriber installed once, behind switches.
#[cfg(feature = "metrics")]
mod features {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

    use super::{Feature, Stub, TIMEOUT, run};

    /// Whether the recorder takes figures (only in its peers' rounds).
    static RECORDING: AtomicBool = AtomicBool::new(false);

    /// Prometheus's recorder behind the switch: off, it hands out no-op handles, as the facade
    /// does with no recorder installed.
    struct Switched(PrometheusRecorder);

    impl Recorder for Switched {
        fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
            if RECORDING.load(Ordering::Relaxed) {
                self.0.describe_counter(key, unit, description);
            }
        }
        fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
            if RECORDING.load(Ordering::Relaxed) {
                self.0.describe_gauge(key, unit, description);
            }
        }
        fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
            if RECORDING.load(Ordering::Relaxed) {
                self.0.describe_histogram(key, unit, description);
            }
        }
        fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
            if RECORDING.load(Ordering::Relaxed) {
                self.0.register_counter(key, metadata)
            } else {
                Counter::noop()
            }
        }
        fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
            if RECORDING.load(Ordering::Relaxed) {
                self.0.register_gauge(key, metadata)
            } else {
                Gauge::noop()
            }
        }
        fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
            if RECORDING.load(Ordering::Relaxed) {
                self.0.register_histogram(key, metadata)
            } else {
                Histogram::noop()
            }
        }
    }

    /// Installs the switched recorder (and subscriber), once; returns the handle that drains it.
    fn installed() -> &'static PrometheusHandle {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        HANDLE.get_or_init(|| {
            let buckets: Vec<f64> = millpond::observe::WAIT_BUCKETS
                .iter()
                .map(|b| b.as_secs_f64())
                .collect();
            let recorder = PrometheusBuilder::new()
                .set_buckets(&buckets)
                .expect("buckets")
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(Switched(recorder)).expect("no other recorder");
            #[cfg(feature = "tracing")]
            subscriber::install();
            handle
        })
    }

    pub(super) fn measure(feature: Feature, threads: usize, pool_size: usize, duration: Duration) -> f64 {
        let handle = installed();
        let builder = millpond::Pool::builder()
            .pool_size(pool_size)
            .max_overflow(0)
            .min_idle(0)
            .timeout(TIMEOUT);
        let builder = match feature {
            Feature::MetricsOff => builder.metrics_interval(None),
            Feature::EveryCheckout => builder.metrics_every_checkout(true),
            Feature::NoRecorder | Feature::Recorder | Feature::Subscriber => builder,
        };
        let pool = builder.build(Stub).expect("pool");
        let recording = matches!(feature, Feature::Recorder | Feature::EveryCheckout);
        RECORDING.store(recording, Ordering::SeqCst);
        #[cfg(feature = "tracing")]
        subscriber::TRACING.store(feature == Feature::Subscriber, Ordering::SeqCst);
        let ops = run(threads, duration, || drop(pool.get().expect("checkout")));
        RECORDING.store(false, Ordering::SeqCst);
        #[cfg(feature = "tracing")]
        subscriber::TRACING.store(false, Ordering::SeqCst);
        drop(pool);
        // The samples of the round, out of the exporter's buffers before the next one.
        handle.run_upkeep();
        ops
    }

    /// A subscriber that takes every span and counts it, behind a switch.
    #[cfg(feature = "tracing")]
    pub(super) mod subscriber {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

        use tracing::span::{Attributes, Id, Record};
        use tracing::subscriber::Interest;
        use tracing::{Event, Metadata, Subscriber};

        pub(in super::super) static TRACING: AtomicBool = AtomicBool::new(false);
        static SPANS: AtomicU64 = AtomicU64::new(0);

        struct Counting;

        impl Subscriber for Counting {
            fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
                // Asked again at every span, so that the switch is read each time.
                Interest::sometimes()
            }
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                TRACING.load(Ordering::Relaxed)
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(SPANS.fetch_add(1, Ordering::Relaxed) + 1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, _: &Event<'_>) {}
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }

        pub(in super::super) fn install() {
            tracing::subscriber::set_global_default(Counting).expect("no other subscriber");
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod features {
    use std::time::Duration;

    use super::Feature;

    pub(super) fn measure(_: Feature, _: usize, _: usize, _: Duration) -> f64 {
        unreachable!("the features' peers are measured only in a build with them")
    }
}
