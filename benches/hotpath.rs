//! Instructions per checkout on the hot path, for `valgrind --tool=callgrind`, which counts
//! instructions and so is not moved by the machine's noise. One thread, a pool of 8 on a stub
//! manager that does no I/O, defaults otherwise (pre-ping on, inside its bypass window): every
//! cycle is the fast path, one `get` and one drop. Run it twice, with N and with 2N cycles; the
//! difference of the totals over N is the cost of one cycle, warm-up and setup cancelled out.
//!
//! ```text
//! cargo bench --bench hotpath --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/hotpath-* 100000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/hotpath-* 200000
//! ```
//! Each run prints "Collected : <instructions>" on stderr (valgrind's summary).
//!
//! For a sampling profiler (`perf record -e cpu-clock`), the same cycle on more threads:
//! `hotpath N --threads T --pool P --overflow O [--unknown-state]` runs T threads of N cycles
//! each on a pool of P (overflow O, default 10, as the pool's), on the stub whose manager reports
//! its transaction state or (`--unknown-state`) on one with the trait's default, and prints the
//! rate. `hotpath N --r2d2` runs the one-thread cycle through r2d2 (no checkout test), for its
//! count beside millpond's. `scripts/bench` runs the counts and writes them to `hotpath.tsv`.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Stub, UnknownStateStub};
use millpond::{ManageConnection, Pool};

fn main() {
    let mut cycles: u64 = 100_000;
    let mut threads = 1;
    let mut pool_size = 8;
    let mut max_overflow = 10;
    let mut unknown_state = false;
    let mut r2d2 = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> usize {
            args.next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number of {what}"))
        };
        match arg.as_str() {
            "--threads" => threads = number("threads"),
            "--pool" => pool_size = number("connections"),
            "--overflow" => max_overflow = number("connections"),
            "--unknown-state" => unknown_state = true,
            "--r2d2" => r2d2 = true,
            "--bench" => {}
            n => cycles = n.parse().expect("a number of cycles"),
        }
    }
    if r2d2 {
        cycle_r2d2(cycles, pool_size);
    } else if unknown_state {
        cycle(UnknownStateStub, cycles, threads, pool_size, max_overflow);
    } else {
        cycle(Stub, cycles, threads, pool_size, max_overflow);
    }
}

fn cycle<M: ManageConnection>(
    manager: M,
    cycles: u64,
    threads: usize,
    pool_size: usize,
    max_overflow: usize,
) {
    let pool = Pool::builder()
        .pool_size(pool_size)
        .max_overflow(max_overflow)
        .build(manager)
        .expect("a stub pool");
    drop(pool.get().expect("the first connection"));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..cycles {
                    drop(std::hint::black_box(pool.get().expect("a connection")));
                }
            });
        }
    });
    let rate = (cycles * threads as u64) as f64 / started.elapsed().as_secs_f64();
    let stats = pool.stats();
    println!(
        "{cycles} cycles × {threads} threads, pool {pool_size} + {max_overflow}: {:.2} M/s \
         ({} connects, {} waits)",
        rate / 1e6,
        stats.connects,
        stats.waits
    );
}

/// The same cycle through r2d2 (its checkout test off), on one thread, for its instruction count.
fn cycle_r2d2(cycles: u64, pool_size: usize) {
    let pool = r2d2::Pool::builder()
        .max_size(pool_size as u32)
        .test_on_check_out(false)
        .build(Stub)
        .expect("a stub pool");
    drop(pool.get().expect("the first connection"));
    for _ in 0..cycles {
        drop(std::hint::black_box(pool.get().expect("a connection")));
    }
    println!("{cycles} cycles through r2d2, pool {pool_size}");
}
