//! A prefork server in miniature: the parent configures the databases, opens its pool and
//! checks a connection out; it forks workers, each of which serves requests from its own pool
//! (made on its first use of the registry, never touching the parent's connections); when the
//! workers have exited, the parent checks that its own connection still works.
//!
//! ```sh
//! cargo run --features postgres --example prefork -- [workers] [seconds]
//! ```
//!
//! The database is `DATABASE_URL`, else the local test server
//! (`postgres://postgres@127.0.0.1:5432/test?sslmode=disable`); pool options may be added to
//! the URL (`?pool_size=2&max_overflow=2`).

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use millpond::postgres::PostgresManager;
use millpond::settings::{DatabaseSettings, Databases};

const DEFAULT_URL: &str =
    "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&application_name=millpond-prefork";

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(2), |a| a.parse())?;
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());

    // Configure once, in the parent, before forking: every worker inherits the settings, checked
    // here (a mistyped option stops the master with every problem listed, not each worker).
    let mut settings = DatabaseSettings::from_url(&url)?;
    if !url.contains("pool_size") {
        settings = settings
            .pool_option("POOL_SIZE", 2)?
            .pool_option("MAX_OVERFLOW", 2)?;
    }
    millpond::settings::configure(Databases::new().with("default", settings))?;

    let mut parent_conn = millpond::settings::registry().get::<PostgresManager>("default")?;
    let parent_backend = parent_conn.backend_pid()?;
    println!("parent {}: session {parent_backend}", std::process::id());

    let mut pids = Vec::new();
    for n in 0..workers {
        // SAFETY: the parent has no other thread; the child runs `serve` (its own threads,
        // its own pool) and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        if pid == 0 {
            let code = match serve(n, Duration::from_secs(seconds)) {
                Ok(()) => 0,
                Err(err) => {
                    eprintln!("worker {n}: {}", chain(err.as_ref()));
                    1
                }
            };
            // SAFETY: ends the worker without running the parent's exit path twice.
            unsafe { libc::_exit(code) }
        }
        pids.push(pid);
    }

    let mut failed = 0;
    for pid in pids {
        let mut status = 0;
        // SAFETY: waiting on our own child with a valid status pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            failed += 1;
        }
    }

    // The parent's session is still its own and still works.
    let one: i32 = parent_conn.query_one("SELECT 1", &[])?.get(0);
    assert_eq!(one, 1);
    assert_eq!(parent_conn.backend_pid()?, parent_backend);
    drop(parent_conn);
    let pool = millpond::settings::registry().pool::<PostgresManager>("default")?;
    println!(
        "parent: session {parent_backend} still works; pool {}",
        pool.state()
    );
    if failed > 0 {
        return Err(format!("{failed} worker(s) failed").into());
    }
    Ok(())
}

/// A worker: eight request threads for `length`, each asking the registry for a connection per
/// request, as a request handler would. An error if any request failed.
fn serve(n: usize, length: Duration) -> Result<(), Box<dyn Error>> {
    let pool = millpond::settings::registry().pool::<PostgresManager>("default")?;
    let served = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (served, stop) = (served.clone(), stop.clone());
            thread::spawn(move || -> Result<(), String> {
                while !stop.load(Ordering::Relaxed) {
                    let mut conn = millpond::settings::registry()
                        .get::<PostgresManager>("default")
                        .map_err(|e| chain(&e))?;
                    conn.query_one("SELECT pg_sleep(0.001)::text", &[])
                        .map_err(|e| chain(&e))?;
                    served.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    thread::sleep(length);
    stop.store(true, Ordering::Relaxed);
    let mut failed = 0;
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("worker {n}: a request failed: {e}");
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    let served = served.load(Ordering::Relaxed);
    let rate = served as f64 / started.elapsed().as_secs_f64();
    println!(
        "worker {n} (pid {}): {served} requests, {rate:.0}/s; pool {}",
        std::process::id(),
        pool.state()
    );
    if failed > 0 {
        return Err(format!("{failed} of 8 request threads stopped on an error").into());
    }
    Ok(())
}

/// An error and its causes on one line (`db error: ERROR: …`): the driver's own message is
/// only the first link.
fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
