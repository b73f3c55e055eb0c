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

#[path = "common/mod.rs"]
mod common;

use common::Stub;
use millpond::Pool;

fn main() {
    let cycles: u64 = std::env::args()
        .nth(1)
        .filter(|arg| !arg.starts_with('-'))
        .map_or(100_000, |n| n.parse().expect("a number of cycles"));
    let pool = Pool::builder().pool_size(8).build(Stub).expect("a stub pool");
    drop(pool.get().expect("the first connection"));
    for _ in 0..cycles {
        drop(std::hint::black_box(pool.get().expect("an idle connection")));
    }
    println!("{cycles} cycles");
}
