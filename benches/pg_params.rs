//! Parameterised queries on the local PostgreSQL: `SELECT $1::int` with `query_one`, 16
//! threads. The peers run side by side in this process, alternated round by round; the figures
//! are medians of the rounds in operations per second, and the comparisons ratios.
//!
//! ```text
//! cargo bench --features postgres --bench pg_params              # 5 rounds, 2 s each
//! cargo bench --features postgres --bench pg_params -- --quick   # a short smoke run
//! ```
//!
//! The peers:
//!
//! - millpond, a pool of 16, a checkout per query, SQL text (the statement cache on, its
//!   default);
//! - the same with `statement_cache_capacity(0)`: the driver prepares every query afresh;
//! - r2d2 (`r2d2_postgres`), a pool of 16, a checkout per query, SQL text, its checkout test off;
//! - one persistent `postgres::Client` per thread, `query_one` with SQL text (what the driver
//!   does alone: a prepare and an execute per query);
//! - one persistent client per thread with the statement prepared once by hand: the ceiling.
//!
//! Plain TCP to 127.0.0.1 (`sslmode=disable`) everywhere.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use millpond::Pool;
use millpond::postgres::{PostgresManager, SslMode};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::{Client, Config, NoTls};

const THREADS: usize = 16;
const URL: &str = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable";
const SQL: &str = "SELECT $1::int";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Millpond,
    MillpondNoCache,
    R2d2,
    RawText,
    RawPrepared,
}

impl Peer {
    const ALL: [Peer; 5] = [
        Peer::Millpond,
        Peer::MillpondNoCache,
        Peer::R2d2,
        Peer::RawText,
        Peer::RawPrepared,
    ];

    fn name(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond (statement cache)",
            Peer::MillpondNoCache => "millpond, cache off",
            Peer::R2d2 => "r2d2_postgres",
            Peer::RawText => "raw client, query_one(&str)",
            Peer::RawPrepared => "raw client, prepared once",
        }
    }
}

fn config() -> Config {
    URL.parse().expect("a valid URL")
}

/// Runs `work(thread, i)` on `THREADS` threads for `duration`; operations per second.
fn drive(duration: Duration, work: impl Fn(usize) -> Box<dyn FnMut(i32) + Send> + Sync) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let start = Barrier::new(THREADS + 1);
    let elapsed = std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (stop, done, start, work) = (&stop, &done, &start, &work);
            scope.spawn(move || {
                let mut op = work(thread);
                start.wait();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    op(n as i32);
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            });
        }
        start.wait();
        let began = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        began.elapsed()
    });
    done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

fn check(row_value: i32, sent: i32) {
    assert_eq!(row_value, sent, "a wrong result");
}

fn measure(peer: Peer, duration: Duration) -> f64 {
    match peer {
        Peer::Millpond | Peer::MillpondNoCache => {
            let mut manager = PostgresManager::from_url(URL).unwrap().ssl_mode(SslMode::Disable);
            if peer == Peer::MillpondNoCache {
                manager = manager.statement_cache_capacity(0);
            }
            let pool = Pool::builder()
                .pool_size(THREADS)
                .max_overflow(0)
                .min_idle(THREADS)
                .build(manager)
                .unwrap();
            drive(duration, |_| {
                let pool = pool.clone();
                Box::new(move |i| {
                    let mut conn = pool.get().unwrap();
                    check(conn.query_one(SQL, &[&i]).unwrap().get(0), i);
                })
            })
        }
        Peer::R2d2 => {
            let pool = Arc::new(
                r2d2::Pool::builder()
                    .max_size(THREADS as u32)
                    .min_idle(Some(THREADS as u32))
                    .test_on_check_out(false)
                    .build(PostgresConnectionManager::new(config(), NoTls))
                    .unwrap(),
            );
            drive(duration, |_| {
                let pool = Arc::clone(&pool);
                Box::new(move |i| {
                    let mut conn = pool.get().unwrap();
                    check(conn.query_one(SQL, &[&i]).unwrap().get(0), i);
                })
            })
        }
        Peer::RawText => drive(duration, |_| {
            let mut client: Client = config().connect(NoTls).unwrap();
            Box::new(move |i| check(client.query_one(SQL, &[&i]).unwrap().get(0), i))
        }),
        Peer::RawPrepared => drive(duration, |_| {
            let mut client: Client = config().connect(NoTls).unwrap();
            let statement = client.prepare(SQL).unwrap();
            Box::new(move |i| check(client.query_one(&statement, &[&i]).unwrap().get(0), i))
        }),
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, duration) = if quick {
        (1, Duration::from_millis(300))
    } else {
        (5, Duration::from_secs(2))
    };
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Peer::ALL.len()];
    for round in 0..rounds {
        for (i, peer) in Peer::ALL.iter().enumerate() {
            let rate = measure(*peer, duration);
            eprintln!("round {}: {:<28} {:>9.0} ops/s", round + 1, peer.name(), rate);
            samples[i].push(rate);
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    let of = |peer: Peer| medians[Peer::ALL.iter().position(|p| *p == peer).unwrap()];
    println!("\n`{SQL}` with query_one, {THREADS} threads, median of {rounds} rounds of {duration:?}:\n");
    println!("| peer | ops/s | millpond ÷ peer |");
    println!("|---|---|---|");
    for peer in Peer::ALL {
        println!(
            "| {} | {:.0} | {:.2} |",
            peer.name(),
            of(peer),
            of(Peer::Millpond) / of(peer)
        );
    }
}
