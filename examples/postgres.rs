//! The PostgreSQL backend in a few lines: a pool made from a URL, a few queries from several
//! threads (plain, prepared, and in a read-only transaction), then the pool's state and stats.
//! It only reads, so it is safe against any database.
//!
//! ```text
//! cargo run --features postgres --example postgres
//! cargo run --features postgres --example postgres -- --url postgres://app:secret@db.internal/app?sslmode=verify-full
//! DATABASE_URL=postgres://postgres@127.0.0.1/test cargo run --features postgres --example postgres -- --threads 16
//! ```
//!
//! The URL comes from `--url`, else `DATABASE_URL`, else `postgres://postgres@127.0.0.1/test`.

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant};

use millpond::Pool;
use millpond::postgres::PostgresManager;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("postgres example: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: postgres [--url URL] [--threads N]

  --url URL      database to use (default: $DATABASE_URL, else postgres://postgres@127.0.0.1/test)
  --threads N    threads sharing the pool (default 8)";

struct Args {
    url: String,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".to_owned()),
        threads: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value\n\n{USAGE}"));
        match arg.as_str() {
            "--url" => args.url = value()?,
            "--threads" => {
                args.threads = value()?
                    .parse()
                    .map_err(|_| format!("--threads takes a whole number\n\n{USAGE}"))?
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
        }
    }
    Ok(args)
}

fn run() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let manager = PostgresManager::from_url(&args.url)?
        .application_name("millpond-example")
        .connect_timeout(Duration::from_secs(5));
    println!("pool for {manager}"); // never shows the password
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(4)
        .timeout(Duration::from_secs(10))
        .build(manager)?;

    let started = Instant::now();
    let workers: Vec<_> = (0..args.threads)
        .map(|n| {
            let pool = pool.clone();
            thread::spawn(move || -> Result<String, String> {
                let mut conn = pool.get().map_err(|e| e.to_string())?;
                let row = conn
                    .query_one("SELECT pg_backend_pid(), version()", &[])
                    .map_err(|e| e.to_string())?;
                let (pid, version): (i32, String) = (row.get(0), row.get(1));

                let square = conn
                    .prepare("SELECT $1::int * $1::int")
                    .map_err(|e| e.to_string())?;
                let n = i32::try_from(n).unwrap_or(0);
                let squared: i32 = conn.query_one(&square, &[&n]).map_err(|e| e.to_string())?.get(0);

                let mut tx = conn
                    .build_transaction()
                    .read_only(true)
                    .start()
                    .map_err(|e| e.to_string())?;
                let ours: i64 = tx
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'millpond-example'",
                        &[],
                    )
                    .map_err(|e| e.to_string())?
                    .get(0);
                tx.commit().map_err(|e| e.to_string())?;
                let short = version.split(' ').take(2).collect::<Vec<_>>().join(" ");
                Ok(format!(
                    "thread {n:>2}: backend {pid} ({short}), {n}² = {squared}, {ours} of our connections open"
                ))
            })
        })
        .collect();
    let mut failures = 0;
    for w in workers {
        match w.join().map_err(|_| "a thread panicked")? {
            Ok(line) => println!("{line}"),
            Err(err) => {
                failures += 1;
                eprintln!("{err}");
            }
        }
    }
    println!("{} threads in {:?}", args.threads, started.elapsed());
    println!("state: {}", pool.state());
    let stats = pool.stats();
    println!(
        "stats: {} connects, {} checkouts ({} waited, longest {:?}), {} pings, {} resets",
        stats.connects, stats.checkouts, stats.waits, stats.wait_time_max, stats.pings, stats.resets
    );
    if failures > 0 {
        return Err(format!("{failures} threads failed").into());
    }
    Ok(())
}
