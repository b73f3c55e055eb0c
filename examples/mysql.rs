//! The MySQL backend in a few lines: a pool shared by threads that each check out connections,
//! run a query and a transaction, then the pool's state and stats.
//!
//! ```text
//! cargo run --features mysql --example mysql
//! cargo run --features mysql --example mysql -- --url mysql://app:secret@db.example:3306/shop
//! DATABASE_URL=mariadb://root@127.0.0.1/test cargo run --features mysql --example mysql
//! ```

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use millpond::Pool;
use millpond::mysql::{MySqlManager, Queryable, TxOpts};

const THREADS: usize = 8;
const ROUNDS: usize = 25;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = match (args.next().as_deref(), args.next()) {
        (Some("--url"), Some(url)) => url,
        (None, _) => {
            std::env::var("DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
        }
        _ => return Err("usage: mysql [--url mysql://user:password@host:port/database]".into()),
    };
    let manager = MySqlManager::from_url(&url)?.program_name("millpond-example");
    println!("pool of {manager}"); // Display never shows the password
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(Some(2))
        .timeout(Duration::from_secs(10))
        .build(manager)?;

    let mut conn = pool.get()?;
    let version: Option<String> = conn.query_first("SELECT VERSION()")?;
    println!("server {}", version.unwrap_or_default());
    drop(conn);

    // Which server session served how many checkouts.
    let served: Mutex<BTreeMap<u32, usize>> = Mutex::new(BTreeMap::new());
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error>> {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (pool, served) = (&pool, &served);
                scope.spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                    for round in 0..ROUNDS {
                        let mut conn = pool.get()?;
                        let sum: Option<i64> =
                            conn.exec_first("SELECT ? + ?", (thread as i64, round as i64))?;
                        assert_eq!(sum, Some((thread + round) as i64));
                        if round % 5 == 0 {
                            // A transaction; dropped without a commit it would roll back.
                            let mut tx = conn.start_transaction(TxOpts::default())?;
                            let _: Option<i64> = tx.query_first("SELECT CONNECTION_ID()")?;
                            tx.commit()?;
                        }
                        *served.lock().unwrap().entry(conn.connection_id()).or_default() += 1;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .expect("a worker panicked")
                .map_err(|err| err.to_string())?;
        }
        Ok(())
    })?;
    let elapsed = started.elapsed();

    println!(
        "{} checkouts from {THREADS} threads in {elapsed:?}",
        THREADS * ROUNDS
    );
    for (id, count) in served.into_inner().unwrap() {
        println!("  session {id}: {count} checkouts");
    }
    println!("state: {:?}", pool.state());
    println!("stats: {:?}", pool.stats());
    Ok(())
}
