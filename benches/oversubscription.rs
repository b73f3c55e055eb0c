//! Oversubscription: 64 threads share a pool of 8 (no overflow; min idle 0, timeout 8 s)
//! against a stub that does no I/O. Each thread loops: `get`, hold the connection for 100 µs,
//! drop it. The hold is a spin on the clock (busy work, as a request that computes with its
//! connection: a sleep could not be as short as 100 µs, its wake-up alone costs about 60 µs);
//! a holder that is preempted keeps its connection until it has run again and seen the 100 µs
//! pass, as on any machine with fewer cores than busy threads.
//!
//! Every checkout's wait (the time inside `get()`) is recorded, into vectors allocated before
//! the round, large enough that no push reallocates. Reported per peer: throughput, the wait's
//! p50, p99, p99.9 and maximum, and how many checkouts each thread completed (the least, the
//! mean, the most): a thread that completed few while others completed many was starved.
//!
//! Peers, alternated round by round, in the same process: `millpond` (otherwise defaults),
//! `r2d2-no-test` (`test_on_check_out(false)`), `r2d2-default`.
//!
//! ```text
//! cargo bench --bench oversubscription                 # 5 rounds of 2 s per peer; medians
//! cargo bench --bench oversubscription -- --quick      # 1 round of 0.5 s
//! cargo bench --bench oversubscription -- --out DIR    # DIR/oversubscription.tsv
//! ```
//!
//! Rows of `DIR/oversubscription.tsv` (load `oversubscription`, threads 64, pool 8; medians of
//! the rounds, except `_worst`: the worst round's): `ops_per_s` (`ops/s`); `wait_p50_us`,
//! `wait_p99_us`, `wait_p999_us`, `wait_max_us`, `wait_max_us_worst` (`us`);
//! `thread_checkouts_min`, `thread_checkouts_min_worst`, `thread_checkouts_mean`,
//! `thread_checkouts_max` (`checkouts` per thread per round); `timeouts` (`checkouts`).

#[path = "common/mod.rs"]
mod common;

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Stub, Tsv, median, nanos, ops, percentile};

const THREADS: usize = 64;
const POOL: usize = 8;
const HOLD: Duration = Duration::from_micros(100);
const TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Millpond,
    R2d2NoTest,
    R2d2Default,
}

const PEERS: [Peer; 3] = [Peer::Millpond, Peer::R2d2NoTest, Peer::R2d2Default];

impl Peer {
    fn id(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::R2d2NoTest => "r2d2-no-test",
            Peer::R2d2Default => "r2d2-default",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::R2d2NoTest => "r2d2 (no checkout test)",
            Peer::R2d2Default => "r2d2 (defaults)",
        }
    }
}

/// One peer's round.
struct Round {
    ops_per_s: f64,
    /// Every checkout's wait in ns, all threads, sorted.
    waits: Vec<u64>,
    /// Checkouts completed by each thread.
    per_thread: Vec<usize>,
    timeouts: usize,
}

/// Runs the 64 threads for `duration`. `get` checks out (`None` on a timeout); the guard it
/// returns is held for 100 µs and dropped.
fn round<G>(duration: Duration, get: impl Fn() -> Option<G> + Sync) -> Round {
    // No thread can complete more than POOL × duration / HOLD checkouts: each holds one of the
    // POOL connections for at least HOLD. The margin covers the last ones, after `stop`.
    let capacity = (POOL as u128 * duration.as_nanos() / HOLD.as_nanos()) as usize + 1024;
    let stop = AtomicBool::new(false);
    let start_line = Barrier::new(THREADS + 1);
    let (started, results) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let mut waits: Vec<u64> = Vec::with_capacity(capacity);
                    let mut timeouts = 0;
                    start_line.wait();
                    while !stop.load(Ordering::Relaxed) {
                        let asked = Instant::now();
                        let conn = get();
                        let got = Instant::now();
                        match conn {
                            Some(conn) => {
                                waits.push((got - asked).as_nanos() as u64);
                                while got.elapsed() < HOLD {
                                    std::hint::spin_loop();
                                }
                                drop(conn);
                            }
                            None => timeouts += 1,
                        }
                    }
                    (waits, timeouts)
                })
            })
            .collect();
        start_line.wait();
        let started = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let results: Vec<(Vec<u64>, usize)> = workers
            .into_iter()
            .map(|w| w.join().expect("a thread panicked"))
            .collect();
        (started, results)
    });
    let seconds = started.elapsed().as_secs_f64();
    let per_thread: Vec<usize> = results.iter().map(|(w, _)| w.len()).collect();
    let timeouts = results.iter().map(|(_, t)| t).sum();
    let mut waits: Vec<u64> = results.into_iter().flat_map(|(w, _)| w).collect();
    waits.sort_unstable();
    Round {
        ops_per_s: waits.len() as f64 / seconds,
        waits,
        per_thread,
        timeouts,
    }
}

fn measure(peer: Peer, duration: Duration) -> Round {
    match peer {
        Peer::Millpond => {
            let pool = millpond::Pool::builder()
                .pool_size(POOL)
                .max_overflow(0)
                .min_idle(0)
                .timeout(TIMEOUT)
                .build(Stub)
                .expect("pool");
            round(duration, || match pool.get() {
                Ok(conn) => Some(conn),
                Err(err) if err.is_timeout() => None,
                Err(err) => panic!("checkout: {err}"),
            })
        }
        Peer::R2d2NoTest | Peer::R2d2Default => {
            let pool = r2d2::Pool::builder()
                .max_size(POOL as u32)
                .min_idle(Some(0))
                .connection_timeout(TIMEOUT)
                .test_on_check_out(peer == Peer::R2d2Default)
                .build(Stub)
                .expect("pool");
            // r2d2's only checkout error is its timeout.
            round(duration, || pool.get().ok())
        }
    }
}

fn main() {
    let args = common::args("oversubscription", &[]);
    let rounds = if args.quick { 1 } else { 5 };
    let duration = Duration::from_millis(if args.quick { 500 } else { 2000 });

    let mut results: Vec<Vec<Round>> = PEERS.iter().map(|_| Vec::new()).collect();
    for r in 0..rounds {
        for k in 0..PEERS.len() {
            let i = (k + r) % PEERS.len();
            results[i].push(measure(PEERS[i], duration));
        }
    }

    println!(
        "Oversubscription: {THREADS} threads, pool {POOL} (no overflow), each loops get, hold 100 µs \
         (spinning on the clock), drop; stub connections. Medians of {rounds} alternated round(s) of {} s; \
         worst round in brackets.\n",
        duration.as_secs_f64()
    );
    println!(
        "| peer | throughput | wait p50 | wait p99 | wait p99.9 | wait max | checkouts per thread: min | mean | max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut tsv = Tsv::new("oversubscription");
    for (i, peer) in PEERS.iter().enumerate() {
        let rs = &results[i];
        let of = |f: &dyn Fn(&Round) -> f64| -> Vec<f64> { rs.iter().map(f).collect() };
        let throughput = median(&of(&|r| r.ops_per_s));
        let p = |q: f64| median(&of(&|r| percentile(&r.waits, q) as f64));
        let (p50, p99, p999, max) = (p(50.0), p(99.0), p(99.9), p(100.0));
        let max_worst = of(&|r| percentile(&r.waits, 100.0) as f64)
            .into_iter()
            .fold(0.0, f64::max);
        let mins = of(&|r| *r.per_thread.iter().min().expect("threads") as f64);
        let min = median(&mins);
        let min_worst = mins.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = median(&of(&|r| {
            r.per_thread.iter().sum::<usize>() as f64 / THREADS as f64
        }));
        let most = median(&of(&|r| *r.per_thread.iter().max().expect("threads") as f64));
        let timeouts: usize = rs.iter().map(|r| r.timeouts).sum();

        let row = |tsv: &mut Tsv, metric: &str, value: f64, unit: &str| {
            tsv.row("oversubscription", peer.id(), THREADS, POOL, metric, value, unit);
        };
        let us = |ns: f64| (ns / 10.0).round() / 100.0;
        row(&mut tsv, "ops_per_s", throughput.round(), "ops/s");
        row(&mut tsv, "wait_p50_us", us(p50), "us");
        row(&mut tsv, "wait_p99_us", us(p99), "us");
        row(&mut tsv, "wait_p999_us", us(p999), "us");
        row(&mut tsv, "wait_max_us", us(max), "us");
        row(&mut tsv, "wait_max_us_worst", us(max_worst), "us");
        row(&mut tsv, "thread_checkouts_min", min, "checkouts");
        row(&mut tsv, "thread_checkouts_min_worst", min_worst, "checkouts");
        row(&mut tsv, "thread_checkouts_mean", mean.round(), "checkouts");
        row(&mut tsv, "thread_checkouts_max", most, "checkouts");
        row(&mut tsv, "timeouts", timeouts as f64, "checkouts");

        println!(
            "| {} | {} | {} | {} | {} | {} ({}) | {min:.0} ({min_worst:.0}) | {mean:.0} | {most:.0} |",
            peer.title(),
            ops(throughput),
            nanos(p50),
            nanos(p99),
            nanos(p999),
            nanos(max),
            nanos(max_worst),
        );
        if timeouts > 0 {
            println!("({}: {timeouts} checkouts timed out after 8 s)", peer.title());
        }
    }
    tsv.write(&args);
}
