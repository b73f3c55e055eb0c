//! A pool of Oracle connections: a few threads run queries through it, then the pool's state and
//! stats are printed. Without an Oracle Client library (Instant Client) on the machine, the
//! first checkout fails at once with `DPI-1047`, which is printed, and the program exits with
//! status 1.
//!
//! ```text
//! cargo run --features oracle --example oracle -- --url 'oracle://scott:tiger@//localhost:1521/FREEPDB1'
//! MILLPOND_ORACLE_URL='oracle://scott:tiger@//db:1521/ORCLPDB1' cargo run --features oracle --example oracle
//! ```

#[cfg(feature = "oracle")]
fn main() -> std::process::ExitCode {
    run::main()
}

#[cfg(not(feature = "oracle"))]
fn main() -> std::process::ExitCode {
    eprintln!("this example needs the `oracle` feature: cargo run --features oracle --example oracle");
    std::process::ExitCode::from(2)
}

#[cfg(feature = "oracle")]
mod run {
    use std::process::ExitCode;
    use std::thread;
    use std::time::{Duration, Instant};

    use millpond::oracle::OracleManager;
    use millpond::{Error, Pool};

    const USAGE: &str = "usage: oracle [--url URL] [--threads N] [--queries N]

  --url URL     oracle://user:password@//host:port/service (or host:port/service, or a TNS alias);
                default: $MILLPOND_ORACLE_URL, else oracle://scott:tiger@//localhost:1521/FREEPDB1
  --threads N   threads running queries (default 8)
  --queries N   queries per thread (default 50)";

    const DEFAULT_URL: &str = "oracle://scott:tiger@//localhost:1521/FREEPDB1?connect_timeout=5";

    struct Args {
        url: String,
        threads: usize,
        queries: usize,
    }

    fn parse_args() -> Result<Args, String> {
        let mut url = None;
        let mut threads = 8;
        let mut queries = 50;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(format!("{name} needs a value"))
            };
            match name.as_str() {
                "--url" => url = Some(value()?),
                "--threads" => {
                    threads = value()?
                        .parse()
                        .map_err(|_| "--threads takes a number".to_owned())?
                }
                "--queries" => {
                    queries = value()?
                        .parse()
                        .map_err(|_| "--queries takes a number".to_owned())?
                }
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let url = match url.or_else(|| {
            std::env::var("MILLPOND_ORACLE_URL")
                .ok()
                .filter(|u| !u.is_empty())
        }) {
            Some(url) => url,
            None => {
                println!("no --url and no MILLPOND_ORACLE_URL: trying {DEFAULT_URL}");
                DEFAULT_URL.to_owned()
            }
        };
        Ok(Args {
            url,
            threads: threads.max(1),
            queries,
        })
    }

    pub(super) fn main() -> ExitCode {
        let args = match parse_args() {
            Ok(args) => args,
            Err(message) => {
                if !message.is_empty() {
                    eprintln!("{message}\n");
                }
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        };
        let manager = match OracleManager::from_url(&args.url) {
            Ok(manager) => manager,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::from(2);
            }
        };
        // Display shows user@connect_string, never the password.
        println!("database: {manager}");
        let pool = match Pool::builder()
            .pool_size(4)
            .max_overflow(Some(4))
            .timeout(Duration::from_secs(10))
            .build_unchecked(manager)
        {
            Ok(pool) => pool,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::from(2);
            }
        };

        let started = Instant::now();
        let first = match pool.get() {
            Ok(conn) => conn,
            Err(err) => {
                eprintln!("checkout failed after {:?}: {err}", started.elapsed());
                if let Error::Connect(source) = &err
                    && source.to_string().contains("DPI-1047")
                {
                    eprintln!(
                        "\nNo Oracle Client library was found. Install Oracle Instant Client and point the loader \
                         at it (LD_LIBRARY_PATH on Linux, DYLD_LIBRARY_PATH or ~/lib on macOS, PATH on Windows)."
                    );
                }
                println!("state: {:?}", pool.state());
                println!("stats: {:?}", pool.stats());
                return ExitCode::FAILURE;
            }
        };
        match first.server_version() {
            Ok((version, banner)) => println!("server {version}: {}", banner.lines().next().unwrap_or("")),
            Err(err) => println!("server version unknown: {err}"),
        }
        drop(first);

        let handles: Vec<_> = (0..args.threads)
            .map(|t| {
                let pool = pool.clone();
                let queries = args.queries;
                thread::spawn(move || -> Result<(), String> {
                    for n in 0..queries as i64 {
                        let conn = pool.get().map_err(|e| e.to_string())?;
                        let sum: i64 = conn
                            .query_row_as("SELECT :1 + :2 FROM dual", &[&(t as i64), &n])
                            .map_err(|e| e.to_string())?;
                        assert_eq!(sum, t as i64 + n);
                    }
                    Ok(())
                })
            })
            .collect();
        let mut failed = false;
        for handle in handles {
            if let Err(message) = handle.join().expect("a query thread panicked") {
                eprintln!("a query thread failed: {message}");
                failed = true;
            }
        }
        println!(
            "{} threads x {} queries in {:?}",
            args.threads,
            args.queries,
            started.elapsed()
        );
        println!("state: {:?}", pool.state());
        println!("stats: {:?}", pool.stats());
        if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}
