//! The main job: a threaded server in miniature. Worker threads serve simulated requests through
//! one shared pool; at the end it prints throughput, the wait per checkout (percentiles, mean and
//! max, each over checkouts, not summed over threads), and the pool's state and stats.
//!
//! One request: check a connection out, run one statement (an `INSERT` one time in four, else a
//! `SELECT count(*)` by worker; Oracle only reads), hold the connection for `--hold-us` of work
//! (spinning), give it back.
//!
//! ```text
//! cargo run --release --example threaded_server                 # embedded SQLite file
//! cargo run --release --example threaded_server -- --threads 64 --pool-size 4 --max-overflow 0
//! cargo run --release --example threaded_server -- --url sqlite:///tmp/other.db
//! ```

// Built with no backend feature there is nothing to serve, and the serving code goes unused.
#![cfg_attr(
    not(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "oracle"
    )),
    allow(dead_code, unused_imports)
)]

use std::io::Write;
use std::process::ExitCode;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use millpond::{ManageConnection, Pool};

const USAGE: &str = "usage: threaded_server [--url URL] [--threads N] [--pool-size N] [--max-overflow N] \
[--requests N] [--hold-us N]

  --url URL          database to serve from (default: a new SQLite file in the temp dir):
                     sqlite:///path.db, sqlite::memory: or a path; postgres://…, mysql://…
                     and oracle://… when built with those features
  --threads N        worker threads (default 32)
  --pool-size N      connections kept (default 8)
  --max-overflow N   extra connections under load (default 4)
  --requests N       requests to serve in all (default 5000)
  --hold-us N        simulated work per request while holding the connection, in µs (default 200)";

/// The backends this build can serve (`--features postgres,mysql,oracle` adds to the default).
const COMPILED_IN: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "mysql")]
    "mysql",
    #[cfg(feature = "oracle")]
    "oracle",
];

struct Args {
    url: Option<String>,
    threads: usize,
    pool_size: usize,
    max_overflow: usize,
    requests: usize,
    hold: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: None,
        threads: 32,
        pool_size: 8,
        max_overflow: 4,
        requests: 5000,
        hold: Duration::from_micros(200),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag} takes a whole number, not `{value}`"))
        };
        match flag.as_str() {
            "--url" => args.url = Some(value.clone()),
            "--threads" => args.threads = number()?.max(1),
            "--pool-size" => args.pool_size = number()?,
            "--max-overflow" => args.max_overflow = number()?,
            "--requests" => args.requests = number()?,
            "--hold-us" => args.hold = Duration::from_micros(number()? as u64),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let url = args.url.clone().unwrap_or_else(|| {
        let path = std::env::temp_dir().join(format!("millpond-threaded-server-{}.db", std::process::id()));
        format!("sqlite://{}", path.display())
    });
    let scheme = url.split(':').next().unwrap_or_default();
    let result = match scheme {
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => postgres::run(&url, &args),
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => mysql::run(&url, &args),
        #[cfg(feature = "oracle")]
        "oracle" => oracle::run(&url, &args),
        #[cfg(feature = "sqlite")]
        _ if scheme == "sqlite" || !url.contains("://") => sqlite::run(&url, &args),
        _ => Err(format!(
            "no compiled-in backend serves `{scheme}:` URLs; compiled in: {}",
            COMPILED_IN.join(", ")
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use millpond::sqlite::SqliteManager;

    use super::*;

    pub(super) fn run(url: &str, args: &Args) -> Result<(), String> {
        let manager = SqliteManager::from_url(url).map_err(|e| e.to_string())?;
        let created = manager.path().filter(|p| !p.exists()).map(|p| p.to_path_buf());
        let pool = builder(args).build(manager).map_err(|e| e.to_string())?;
        pool.get()
            .map_err(|e| e.to_string())?
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, worker INTEGER NOT NULL, request INTEGER NOT NULL)",
            )
            .map_err(|e| e.to_string())?;
        let outcome = serve(&pool, args, url, |conn, worker, request| {
            // One request in four writes; the rest read, as a typical web workload.
            if request % 4 == 0 {
                conn.execute(
                    "INSERT INTO hits (worker, request) VALUES (?1, ?2)",
                    (worker as i64, request as i64),
                )
                .map(drop)
            } else {
                conn.query_row(
                    "SELECT count(*) FROM hits WHERE worker = ?1",
                    [worker as i64],
                    |row| row.get::<_, i64>(0),
                )
                .map(drop)
            }
        });
        if let Some(path) = created {
            drop(pool);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        outcome
    }
}

/// The pool options the command line sets, for every backend.
fn builder<M: ManageConnection>(args: &Args) -> millpond::Builder<M> {
    Pool::builder()
        .pool_size(args.pool_size)
        .max_overflow(args.max_overflow)
        .name("threaded_server")
}

#[cfg(feature = "postgres")]
mod postgres {
    use millpond::postgres::PostgresManager;

    use super::*;

    pub(super) fn run(url: &str, args: &Args) -> Result<(), String> {
        let manager = PostgresManager::from_url(url).map_err(|e| e.to_string())?;
        let pool = builder(args).build(manager).map_err(|e| e.to_string())?;
        pool.get()
            .map_err(|e| e.to_string())?
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS millpond_hits \
                 (id bigserial PRIMARY KEY, worker bigint NOT NULL, request bigint NOT NULL)",
            )
            .map_err(|e| e.to_string())?;
        serve(&pool, args, url, |conn, worker, request| {
            let (worker, request) = (worker as i64, request as i64);
            if request % 4 == 0 {
                conn.execute(
                    "INSERT INTO millpond_hits (worker, request) VALUES ($1, $2)",
                    &[&worker, &request],
                )
                .map(drop)
            } else {
                conn.query_one("SELECT count(*) FROM millpond_hits WHERE worker = $1", &[&worker])
                    .map(drop)
            }
        })
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use millpond::mysql::{MySqlManager, Queryable};

    use super::*;

    pub(super) fn run(url: &str, args: &Args) -> Result<(), String> {
        let manager = MySqlManager::from_url(url).map_err(|e| e.to_string())?;
        let pool = builder(args).build(manager).map_err(|e| e.to_string())?;
        pool.get()
            .map_err(|e| e.to_string())?
            .query_drop(
                "CREATE TABLE IF NOT EXISTS millpond_hits \
                 (id BIGINT AUTO_INCREMENT PRIMARY KEY, worker BIGINT NOT NULL, request BIGINT NOT NULL)",
            )
            .map_err(|e| e.to_string())?;
        serve(&pool, args, url, |conn, worker, request| {
            let (worker, request) = (worker as i64, request as i64);
            if request % 4 == 0 {
                conn.exec_drop(
                    "INSERT INTO millpond_hits (worker, request) VALUES (?, ?)",
                    (worker, request),
                )
            } else {
                conn.exec_first::<i64, _, _>("SELECT count(*) FROM millpond_hits WHERE worker = ?", (worker,))
                    .map(drop)
            }
        })
    }
}

#[cfg(feature = "oracle")]
mod oracle {
    use millpond::oracle::OracleManager;

    use super::*;

    /// Oracle serves reads only here: `CREATE TABLE IF NOT EXISTS` needs 23ai.
    pub(super) fn run(url: &str, args: &Args) -> Result<(), String> {
        let manager = OracleManager::from_url(url).map_err(|e| e.to_string())?;
        let pool = builder(args).build(manager).map_err(|e| e.to_string())?;
        serve(&pool, args, url, |conn, worker, _request| {
            conn.query_row_as::<i64>("SELECT :1 FROM dual", &[&(worker as i64)])
                .map(drop)
        })
    }
}

/// Serves `args.requests` requests from `args.threads` threads through `pool`, then reports.
fn serve<M, E>(
    pool: &Pool<M>,
    args: &Args,
    url: &str,
    request: impl Fn(&mut M::Connection, usize, usize) -> Result<(), E> + Sync,
) -> Result<(), String>
where
    M: ManageConnection,
    E: std::fmt::Display,
{
    println!(
        "serving {} requests from {} threads through a pool of {} + {} overflow on {url}",
        args.requests, args.threads, args.pool_size, args.max_overflow
    );
    println!(
        "one request: a checkout, one statement (an INSERT one time in four, else a SELECT), {} of work holding the connection, the return",
        human(args.hold)
    );
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let finished = AtomicBool::new(false);
    let start_line = Barrier::new(args.threads + 1);
    let mut waits: Vec<Duration> = Vec::with_capacity(args.requests);
    let mut first_error = None;
    let elapsed;
    {
        let (next, done, failed, finished, start_line, request) =
            (&next, &done, &failed, &finished, &start_line, &request);
        let outcome = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..args.threads)
                .map(|worker| {
                    scope.spawn(move || {
                        let mut waits = Vec::new();
                        let mut error = None;
                        start_line.wait();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= args.requests {
                                break;
                            }
                            let asked = Instant::now();
                            let result = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                                waits.push(asked.elapsed());
                                let result = request(&mut conn, worker, i).map_err(|e| e.to_string());
                                spin_for(args.hold);
                                result
                            });
                            if let Err(e) = result {
                                failed.fetch_add(1, Ordering::Relaxed);
                                error.get_or_insert(e);
                            }
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        (waits, error)
                    })
                })
                .collect();
            let progress = scope.spawn(move || show_progress(pool, args.requests, done, failed, finished));
            start_line.wait();
            let started = Instant::now();
            let results: Vec<_> = workers
                .into_iter()
                .map(|w| w.join().expect("worker panicked"))
                .collect();
            let elapsed = started.elapsed();
            finished.store(true, Ordering::Relaxed);
            progress.join().expect("progress thread panicked");
            (elapsed, results)
        });
        elapsed = outcome.0;
        for (w, e) in outcome.1 {
            waits.extend(w);
            if first_error.is_none() {
                first_error = e;
            }
        }
    }
    waits.sort_unstable();
    let served = done.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    println!();
    println!(
        "throughput: {:.0} requests/s ({served} served, {failed} failed, in {:.2} s)",
        served as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    let mean = waits
        .iter()
        .sum::<Duration>()
        .checked_div(waits.len() as u32)
        .unwrap_or_default();
    println!(
        "wait per checkout ({} checkouts, as each caller timed its own): mean {}, p50 {}, p99 {}, max {}",
        waits.len(),
        human(mean),
        human(percentile(&waits, 0.50)),
        human(percentile(&waits, 0.99)),
        human(waits.last().copied().unwrap_or_default())
    );
    let s = pool.stats();
    println!(
        "as the pool counts it: {} of {} checkouts waited for another thread's connection, {} each on average \
(max {}); over every checkout, {} on average",
        s.waits,
        s.checkouts,
        human(s.mean_wait()),
        human(s.wait_time_max),
        human(
            s.wait_time_total
                .checked_div(u32::try_from(s.checkouts).unwrap_or(u32::MAX))
                .unwrap_or_default()
        )
    );
    println!("pool state: {}", pool.state());
    println!("pool stats: {s}");
    match first_error {
        Some(e) => Err(format!("{failed} requests failed; the first: {e}")),
        None => Ok(()),
    }
}

/// Busy-waits: a request's CPU work while it holds the connection (sleeping would hand the core
/// to another thread and measure the scheduler instead).
fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// A duration with a unit a person reads at a glance.
fn human(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    match micros {
        m if m < 1000.0 => format!("{m:.1} µs"),
        m if m < 1e6 => format!("{:.2} ms", m / 1e3),
        m => format!("{:.2} s", m / 1e6),
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn show_progress<M: ManageConnection>(
    pool: &Pool<M>,
    total: usize,
    done: &AtomicUsize,
    failed: &AtomicUsize,
    finished: &AtomicBool,
) {
    let mut err = std::io::stderr();
    loop {
        let n = done.load(Ordering::Relaxed).min(total);
        let width = 30;
        let filled = (n * width).checked_div(total).unwrap_or(width);
        let state = pool.state();
        let _ = write!(
            err,
            "\r[{}{}] {n}/{total} requests, {} failed | open {}, in use {}, idle {}, waiting {}   ",
            "=".repeat(filled),
            " ".repeat(width - filled),
            failed.load(Ordering::Relaxed),
            state.open,
            state.in_use,
            state.idle,
            state.waiting
        );
        let _ = err.flush();
        if finished.load(Ordering::Relaxed) {
            let _ = writeln!(err);
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
