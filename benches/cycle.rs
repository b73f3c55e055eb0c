//! Connection cycle, the load of HikariCP's own benchmark: each thread loops `get` + drop
//! against a stub that does no I/O, so the pool's own cost is all that is measured. Grid:
//! threads 1, 8, 32 × pool 8, 16, 32; no overflow, min idle 0, timeout 8 s.
//!
//! Peers, alternated round by round (the order rotates each round, so no peer always runs on a
//! warmer or quieter machine):
//! - `millpond`: defaults otherwise (pre-ping on, with its 500 ms bypass window);
//! - `hikaricp`: HikariCP (Debian's libhikaricp-java) in one JVM started for the whole run and
//!   driven over a pipe (benches/hikari/CycleBench.java, compiled here with `javac` into
//!   `DIR/hikari/`). Its JIT is warmed before anything is measured (a round at pool 16 for each
//!   thread count), and again by one unmeasured round at each grid point before that point's
//!   rounds; the Rust peers need no warm-up and get none;
//! - `r2d2-no-test`: r2d2 with `test_on_check_out(false)`;
//! - `r2d2-default`: r2d2 with its defaults (`is_valid` on every checkout).
//!
//! Every round builds a fresh pool. The figure is the median of the rounds, in operations
//! (one `get` plus one drop) per second, and the ratios millpond / HikariCP and millpond / r2d2
//! (no test) are of the medians.
//!
//! ```text
//! cargo bench --bench cycle                    # 5 rounds of 0.5 s per peer and grid point
//! cargo bench --bench cycle -- --quick         # pool 16 only, 3 rounds of 0.3 s
//! cargo bench --bench cycle -- --out DIR       # DIR/cycle.tsv (default target/bench)
//! cargo bench --bench cycle -- --no-hikari     # without HikariCP (no Java needed)
//! ```
//!
//! HikariCP needs `java`, `javac`, HikariCP's jar and slf4j-api's (Debian:
//! `apt-get install -y default-jdk-headless libhikaricp-java`); `MILLPOND_HIKARICP_JAR` and
//! `MILLPOND_SLF4J_JAR` name other jars. Without them the program says so and fails, unless
//! `--no-hikari` is given.
//!
//! Rows of `DIR/cycle.tsv` (load `cycle`; peers `millpond`, `hikaricp`, `r2d2-no-test`,
//! `r2d2-default`): `ops_per_s` (median), `ops_per_s_min`, `ops_per_s_max` in `ops/s`; for
//! peer `millpond` also `ratio_vs_hikaricp` and `ratio_vs_r2d2-no-test` in `x`.

#[path = "common/mod.rs"]
mod common;

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Jvm, Stub, Tsv, median, ops};

const THREADS: [usize; 3] = [1, 8, 32];
const TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Millpond,
    Hikari,
    R2d2NoTest,
    R2d2Default,
}

impl Peer {
    /// The peer's name in the TSV file.
    fn id(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::Hikari => "hikaricp",
            Peer::R2d2NoTest => "r2d2-no-test",
            Peer::R2d2Default => "r2d2-default",
        }
    }

    /// The peer's name in the table.
    fn title(self, hikari: Option<&Jvm>) -> String {
        match self {
            Peer::Millpond => "millpond".into(),
            Peer::Hikari => format!("HikariCP {}", hikari.map_or("?", |h| h.hikari_version.as_str())),
            Peer::R2d2NoTest => "r2d2 (no checkout test)".into(),
            Peer::R2d2Default => "r2d2 (defaults)".into(),
        }
    }
}

/// Runs `threads` threads doing `cycle` for `duration`; returns operations per second.
fn run(threads: usize, duration: Duration, cycle: impl Fn() + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start_line = Barrier::new(threads + 1);
    let started = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                start_line.wait();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        cycle();
                    }
                    n += 64;
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        start_line.wait();
        let started = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        started
    });
    // Threads finish their last batch after `stop`; count the time they took to do so.
    let seconds = started.elapsed().as_secs_f64();
    total.load(Ordering::Relaxed) as f64 / seconds
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
        Peer::Hikari => hikari_round(hikari.expect("HikariCP is running"), pool_size, threads, duration),
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
    let args = common::args("cycle", &["--no-hikari"]);
    let quick = args.quick;
    let pools: &[usize] = if quick { &[16] } else { &[8, 16, 32] };
    let rounds = if quick { 3 } else { 5 };
    let duration = Duration::from_millis(if quick { 300 } else { 500 });

    let mut hikari = common::hikari(&args, "cycle", "CycleBench");
    let peers: Vec<Peer> = [Peer::Millpond, Peer::Hikari, Peer::R2d2NoTest, Peer::R2d2Default]
        .into_iter()
        .filter(|&peer| peer != Peer::Hikari || hikari.is_some())
        .collect();

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

    let titles: Vec<String> = peers.iter().map(|p| p.title(hikari.as_ref())).collect();
    let mut ratio_titles = Vec::new();
    if hikari.is_some() {
        ratio_titles.push("millpond / HikariCP");
    }
    ratio_titles.push("millpond / r2d2 (no test)");
    println!(
        "| pool | threads | {} | {} |",
        titles.join(" | "),
        ratio_titles.join(" | ")
    );
    println!("|---:|---:|{}", "---:|".repeat(peers.len() + ratio_titles.len()));

    let mut tsv = Tsv::new("cycle");
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
            for (i, &peer) in peers.iter().enumerate() {
                let min = samples[i].iter().copied().fold(f64::INFINITY, f64::min);
                let max = samples[i].iter().copied().fold(0.0, f64::max);
                row(peer, "ops_per_s", medians[i].round(), "ops/s");
                row(peer, "ops_per_s_min", min.round(), "ops/s");
                row(peer, "ops_per_s_max", max.round(), "ops/s");
            }
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
            let cells: Vec<String> = medians.iter().map(|&m| ops(m)).collect();
            println!(
                "| {pool_size} | {threads} | {} | {} |",
                cells.join(" | "),
                ratios.join(" | ")
            );
        }
    }
    drop(hikari);
    tsv.write(&args);
}
