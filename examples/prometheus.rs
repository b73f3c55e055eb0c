//! The main job with a dashboard: the threaded server in miniature (worker threads serving
//! requests through one pool on an embedded SQLite file, as `threaded_server` does) with the
//! pool's metrics on a Prometheus endpoint, served by `metrics-exporter-prometheus` on loopback.
//!
//! One request: check a connection out, run one statement (an `INSERT` one time in four, else
//! a `SELECT count(*)`), hold the connection for `--hold-us` of work, give it back.
//!
//! ```text
//! cargo run --release --features metrics --example prometheus
//! cargo run --release --features metrics --example prometheus -- --listen 127.0.0.1:9464 --seconds 60
//! curl -s http://127.0.0.1:9464/metrics | grep -E '^(db_client|millpond)'
//! ```
//!
//! The wait-time histogram gets the pool's own bucket bounds (`observe::WAIT_BUCKETS`), so its
//! cumulative `_bucket` lines match `Stats::wait_histogram_cumulative`; the other two get
//! bounds for connects and queries.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};
use millpond::observe::WAIT_BUCKETS;
use millpond::sqlite::SqliteManager;
use millpond::{Builder, Pool};

const USAGE: &str = "usage: prometheus [--listen ADDR] [--threads N] [--pool-size N] [--max-overflow N] \
[--seconds N] [--hold-us N]

  --listen ADDR      where /metrics is served (default 127.0.0.1:9464; keep it on loopback)
  --threads N        worker threads (default 16)
  --pool-size N      connections kept (default 4)
  --max-overflow N   extra connections under load (default 2)
  --seconds N        how long to serve requests (default 30), then /metrics stays up 30 s more
  --hold-us N        work per request while holding the connection, in µs (default 200)";

/// Installs the Prometheus exporter as the `metrics` recorder, serving `/metrics` on `listen`
/// from a thread of its own. Histograms get buckets: the pool's own for the wait time.
pub(crate) fn install_exporter(listen: SocketAddr) -> Result<(), BuildError> {
    let waits: Vec<f64> = WAIT_BUCKETS.iter().map(Duration::as_secs_f64).collect();
    PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(Matcher::Suffix("wait_time".into()), &waits)?
        .set_buckets_for_metric(
            Matcher::Suffix("create_time".into()),
            &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
        )?
        .set_buckets_for_metric(
            Matcher::Suffix("use_time".into()),
            &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0],
        )?
        .install()
}

/// The pool of the SQLite file at `path`, built with `builder`, and the table the requests use.
pub(crate) fn sqlite_pool(
    path: &Path,
    builder: Builder<SqliteManager>,
) -> Result<Pool<SqliteManager>, String> {
    let pool = builder
        .build(SqliteManager::file(path))
        .map_err(|e| e.to_string())?;
    pool.get()
        .map_err(|e| e.to_string())?
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, worker INTEGER NOT NULL, request INTEGER NOT NULL)",
        )
        .map_err(|e| e.to_string())?;
    Ok(pool)
}

/// One request (see the module docs).
fn request(pool: &Pool<SqliteManager>, worker: usize, n: usize, hold: Duration) -> Result<(), String> {
    let conn = pool.get().map_err(|e| e.to_string())?;
    let ran = if n.is_multiple_of(4) {
        conn.execute(
            "INSERT INTO hits (worker, request) VALUES (?1, ?2)",
            (worker as i64, n as i64),
        )
        .map(drop)
    } else {
        conn.query_row(
            "SELECT count(*) FROM hits WHERE worker = ?1",
            [worker as i64],
            |row| row.get::<_, i64>(0),
        )
        .map(drop)
    };
    // The request's own work, done while holding the connection (spinning, as
    // `threaded_server` does, so the scheduler is not what is measured).
    let until = Instant::now() + hold;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
    ran.map_err(|e| e.to_string())
}

/// Worker threads serving requests until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<Result<(), String>>>,
}

impl Load {
    /// Starts `threads` workers on `pool`, each request holding its connection for `hold`.
    pub(crate) fn start(pool: &Pool<SqliteManager>, threads: usize, hold: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let workers = (0..threads)
            .map(|worker| {
                let (pool, stop, served) = (pool.clone(), Arc::clone(&stop), Arc::clone(&served));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let n = served.fetch_add(1, Ordering::Relaxed);
                        request(&pool, worker, n, hold)?;
                    }
                    Ok(())
                })
            })
            .collect();
        Load {
            stop,
            served,
            workers,
        }
    }

    /// Requests served so far.
    pub(crate) fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops the workers and waits for them; the first request that failed, if one did.
    pub(crate) fn stop(self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        let mut outcome = Ok(());
        for worker in self.workers {
            let result = worker
                .join()
                .map_err(|_| "a worker panicked".to_owned())
                .and_then(|r| r);
            if outcome.is_ok() {
                outcome = result;
            }
        }
        outcome
    }
}

struct Args {
    listen: SocketAddr,
    threads: usize,
    pool_size: usize,
    max_overflow: usize,
    seconds: u64,
    hold: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        threads: 16,
        pool_size: 4,
        max_overflow: 2,
        seconds: 30,
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
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes a whole number, not `{value}`"))
        };
        match flag.as_str() {
            "--listen" => {
                args.listen = value
                    .parse()
                    .map_err(|_| format!("--listen takes an address such as 127.0.0.1:9464, not `{value}`"))?
            }
            "--threads" => args.threads = number()?.max(1) as usize,
            "--pool-size" => args.pool_size = number()? as usize,
            "--max-overflow" => args.max_overflow = number()? as usize,
            "--seconds" => args.seconds = number()?,
            "--hold-us" => args.hold = Duration::from_micros(number()?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

fn run(args: &Args) -> Result<(), String> {
    install_exporter(args.listen).map_err(|e| format!("starting the exporter: {e}"))?;
    let path = std::env::temp_dir().join(format!("millpond-prometheus-{}.db", std::process::id()));
    let pool = sqlite_pool(
        &path,
        Pool::builder()
            .name("prometheus_example")
            .pool_size(args.pool_size)
            .max_overflow(args.max_overflow),
    )?;
    println!(
        "serving requests from {} threads through a pool of {} + {} overflow for {} s; metrics on http://{}/metrics",
        args.threads, args.pool_size, args.max_overflow, args.seconds, args.listen
    );
    let load = Load::start(&pool, args.threads, args.hold);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        std::thread::sleep(Duration::from_secs(1));
        println!("{:>5} requests | {}", load.served(), pool.state());
    }
    let outcome = load.stop();
    println!("pool stats: {}", pool.stats());
    println!("/metrics stays up for 30 s more (Ctrl-C to stop)");
    std::thread::sleep(Duration::from_secs(30));
    drop(pool);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    outcome
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
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
