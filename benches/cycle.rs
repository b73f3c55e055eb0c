//! Connection cycle, the load of HikariCP's own benchmark: each thread loops `get` + drop
//! against a stub manager that does no I/O. millpond and r2d2 run side by side in this process,
//! alternated round by round; the figures are medians of the rounds, in operations per second.
//!
//! ```text
//! cargo bench --bench cycle                    # the grid: threads 1, 8, 32 × pool 8, 16, 32
//! cargo bench --bench cycle -- --quick         # pool 16 only, shorter rounds
//! ```

use std::convert::Infallible;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A connection that is nothing at all: the pool's own cost is all that is measured.
struct StubConnection;

#[derive(Clone, Copy)]
struct Stub;

impl millpond::ManageConnection for Stub {
    type Connection = StubConnection;
    type Error = Infallible;
    fn connect(&self) -> Result<StubConnection, Infallible> {
        Ok(StubConnection)
    }
    fn is_valid(&self, _: &mut StubConnection, _: Duration) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut StubConnection) -> bool {
        false
    }
    // A real backend tracks its transaction state; the stub never opens one.
    fn transaction_state(&self, _: &mut StubConnection) -> millpond::TransactionState {
        millpond::TransactionState::Idle
    }
}

impl r2d2::ManageConnection for Stub {
    type Connection = StubConnection;
    type Error = Infallible;
    fn connect(&self) -> Result<StubConnection, Infallible> {
        Ok(StubConnection)
    }
    fn is_valid(&self, _: &mut StubConnection) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut StubConnection) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug)]
enum Peer {
    Millpond,
    R2d2NoTest,
    R2d2Default,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::R2d2NoTest => "r2d2 (test_on_check_out false)",
            Peer::R2d2Default => "r2d2 (defaults)",
        }
    }
}

/// Runs `threads` threads doing `cycle` for `duration`; returns operations per second.
fn run(threads: usize, duration: Duration, cycle: impl Fn() + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start_line = Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
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
    let seconds = elapsed.elapsed().as_secs_f64();
    total.load(Ordering::Relaxed) as f64 / seconds
}

fn measure(peer: Peer, threads: usize, pool_size: usize, duration: Duration) -> f64 {
    let timeout = Duration::from_secs(8);
    match peer {
        Peer::Millpond => {
            let pool = millpond::Pool::builder()
                .pool_size(pool_size)
                .max_overflow(0)
                .min_idle(0)
                .timeout(timeout)
                .build(Stub)
                .expect("pool");
            let ops = run(threads, duration, || drop(pool.get().expect("checkout")));
            if std::env::var_os("MILLPOND_BENCH_STATS").is_some() {
                eprintln!("threads {threads} pool {pool_size}: {:?}", pool.stats());
            }
            ops
        }
        Peer::R2d2NoTest | Peer::R2d2Default => {
            let pool = r2d2::Pool::builder()
                .max_size(pool_size as u32)
                .min_idle(Some(0))
                .connection_timeout(timeout)
                .test_on_check_out(matches!(peer, Peer::R2d2Default))
                .build(Stub)
                .expect("pool");
            run(threads, duration, || drop(pool.get().expect("checkout")))
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let pools: &[usize] = if quick { &[16] } else { &[8, 16, 32] };
    let threads_grid = [1usize, 8, 32];
    let rounds = if quick { 3 } else { 5 };
    let duration = Duration::from_millis(if quick { 300 } else { 500 });
    let peers = [Peer::Millpond, Peer::R2d2NoTest, Peer::R2d2Default];

    println!(
        "| pool | threads | {} | millpond / r2d2 (no test) |",
        peers.map(Peer::name).join(" | ")
    );
    println!("|---:|---:|{}---:|", "---:|".repeat(peers.len()));
    for &pool_size in pools {
        for &threads in &threads_grid {
            let mut samples = vec![Vec::new(); peers.len()];
            for round in 0..rounds {
                // Alternate the order each round so no peer always runs on a warmer machine.
                for k in 0..peers.len() {
                    let i = (k + round) % peers.len();
                    samples[i].push(measure(peers[i], threads, pool_size, duration));
                }
            }
            let medians: Vec<f64> = samples.into_iter().map(median).collect();
            let cells: Vec<String> = medians
                .iter()
                .map(|ops| format!("{:.2} M/s", ops / 1e6))
                .collect();
            println!(
                "| {pool_size} | {threads} | {} | {:.2}× |",
                cells.join(" | "),
                medians[0] / medians[1]
            );
        }
    }
}
