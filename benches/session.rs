//! Sessions against holding a connection for the whole request, on the local PostgreSQL.
//!
//! 64 threads serve requests; each request runs two short queries (`SELECT 1`, simple query
//! protocol) with 20 ms of work off the database between them (a sleep: a call to another
//! service, rendering). The pool has no overflow.
//!
//! - **session**: `Session::execute` for each query, so the connection goes back during the
//!   20 ms; pool of 4.
//! - **pinned**: `pool.get()` at the start of the request, the guard held to its end (the
//!   usual r2d2 style); pools of 4, 8, 16, 32 and 64, to find the size it needs to serve as
//!   many requests as the session does with 4.
//!
//! Each configuration gets a fresh pool with every connection open, a warm-up, then a timed
//! window; the figure is requests completed in the window per second.
//!
//! ```text
//! cargo bench --features postgres --bench session              # about 30 s
//! cargo bench --features postgres --bench session -- --quick   # a smoke run
//! cargo bench --features postgres --bench session -- --out DIR # default target/bench
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use common::{Tsv, args};
use millpond::postgres::{PostgresManager, SslMode};
use millpond::{Pool, Session};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const THREADS: usize = 64;
const WORK_OFF_DATABASE: Duration = Duration::from_millis(20);
const SESSION_POOL: usize = 4;
const PINNED_POOLS: [usize; 5] = [4, 8, 16, 32, 64];
/// The pinned style "reaches" the session's throughput at 95% of it.
const REACHED: f64 = 0.95;

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Session,
    Pinned,
}

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::Session => "session",
            Style::Pinned => "pinned",
        }
    }
}

struct Figures {
    per_second: f64,
    errors: u64,
}

fn pool(size: usize) -> Pool<PostgresManager> {
    let manager = PostgresManager::from_url(URL)
        .expect("the URL parses")
        .ssl_mode(SslMode::Disable)
        .application_name("millpond-bench-session");
    Pool::builder()
        .pool_size(size)
        .max_overflow(0)
        .min_idle(size)
        .timeout(Duration::from_secs(30))
        .build(manager)
        .unwrap_or_else(|err| panic!("the local PostgreSQL server must be running at {URL}: {err}"))
}

/// One request in the given style; false if it failed.
fn request(style: Style, pool: &Pool<PostgresManager>, session: &Session<PostgresManager>) -> bool {
    match style {
        Style::Session => {
            session.execute("SELECT 1").is_ok() && {
                thread::sleep(WORK_OFF_DATABASE);
                session.execute("SELECT 1").is_ok()
            }
        }
        Style::Pinned => {
            let Ok(mut conn) = pool.get() else {
                return false;
            };
            conn.batch_execute("SELECT 1").is_ok() && {
                thread::sleep(WORK_OFF_DATABASE);
                conn.batch_execute("SELECT 1").is_ok()
            }
        }
    }
}

fn measure(style: Style, size: usize, warm_up: Duration, window: Duration) -> Figures {
    let pool = pool(size);
    let done = AtomicU64::new(0);
    let errors = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let per_second = thread::scope(|s| {
        for _ in 0..THREADS {
            let session = Session::new(&pool);
            let (pool, done, errors, stop) = (&pool, &done, &errors, &stop);
            s.spawn(move || {
                while !stop.load(Relaxed) {
                    if request(style, pool, &session) {
                        done.fetch_add(1, Relaxed);
                    } else {
                        errors.fetch_add(1, Relaxed);
                    }
                }
            });
        }
        thread::sleep(warm_up);
        let (start, before) = (Instant::now(), done.load(Relaxed));
        thread::sleep(window);
        let (elapsed, after) = (start.elapsed(), done.load(Relaxed));
        stop.store(true, Relaxed);
        (after - before) as f64 / elapsed.as_secs_f64()
    });
    Figures {
        per_second,
        errors: errors.load(Relaxed),
    }
}

fn main() {
    let args = args("session", &[]);
    let (warm_up, window) = if args.quick {
        (Duration::from_millis(200), Duration::from_millis(800))
    } else {
        (Duration::from_millis(500), Duration::from_secs(4))
    };
    let mut tsv = Tsv::new("session");
    let mut errors = 0;
    let mut record = |style: Style, size: usize, figures: &Figures| {
        println!(
            "{:<8} pool {size:>2}: {:>7.0} requests/s",
            style.name(),
            figures.per_second
        );
        errors += figures.errors;
        tsv.row(
            "session",
            style.name(),
            THREADS,
            size,
            "requests_per_s",
            figures.per_second,
            "req/s",
        );
    };
    println!(
        "{THREADS} threads; each request: SELECT 1, {} ms off the database, SELECT 1; no overflow",
        WORK_OFF_DATABASE.as_millis()
    );
    let session = measure(Style::Session, SESSION_POOL, warm_up, window);
    record(Style::Session, SESSION_POOL, &session);
    let mut pinned = Vec::new();
    for size in PINNED_POOLS {
        let figures = measure(Style::Pinned, size, warm_up, window);
        record(Style::Pinned, size, &figures);
        pinned.push((size, figures.per_second));
    }
    let pinned_same_pool = pinned[0].1;
    let ratio = session.per_second / pinned_same_pool;
    let needed = pinned
        .iter()
        .find(|(_, per_second)| *per_second >= REACHED * session.per_second)
        .map(|(size, _)| *size);
    println!("session / pinned at pool {SESSION_POOL}: {ratio:.1}x");
    match needed {
        Some(size) => {
            println!("pinned needs a pool of {size} to reach the session's throughput at pool {SESSION_POOL}")
        }
        None => println!("pinned reached the session's throughput at none of the pools measured"),
    }
    // 0 when no measured pool size was enough.
    tsv.row(
        "session",
        "pinned",
        THREADS,
        None,
        "pool_to_match",
        needed.unwrap_or(0) as f64,
        "connections",
    );
    if errors > 0 {
        eprintln!("session: {errors} requests failed");
        tsv.row(
            "session",
            "all",
            THREADS,
            None,
            "failed_requests",
            errors as f64,
            "requests",
        );
    }
    tsv.write(&args);
}
