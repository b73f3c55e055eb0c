//! The PostgreSQL backend across a server restart: threads keep running `SELECT 1` through the
//! pool while the server is restarted with `pg_ctl restart` (fast mode, as an operator would).
//! Operations may fail while the server is down; every checkout begun after it is back must
//! succeed.
//!
//! The server is a throwaway of the test's own (`common::throwaway`): the machine's PostgreSQL,
//! which other tests and people use, is never restarted.
#![cfg(feature = "postgres")]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::eventually;
use common::throwaway::Postgres;
use millpond::postgres::{PostgresManager, SslMode};
use millpond::{
    Pool,
    observe::{Event, HandleEvent, InvalidateReason},
};

/// The driver's `Display` stops at "db error"; the server's words are in the sources.
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out = format!("{out}: {cause}");
        source = cause.source();
    }
    out
}

/// Counts the pool's lost-server invalidations.
#[derive(Clone, Default)]
struct LostServer(Arc<AtomicU64>);

impl HandleEvent for LostServer {
    fn handle(&self, event: &Event<'_>) {
        if let Event::Invalidate {
            reason: InvalidateReason::LostServer(_),
            ..
        } = event
        {
            self.0.fetch_add(1, SeqCst);
        }
    }
}

#[derive(Default)]
struct Tally {
    ok_before: AtomicU64,
    failed_during: AtomicU64,
    ok_after: AtomicU64,
    failed_after: AtomicU64,
    /// Failure messages (their first 160 characters) and how often each came.
    messages: Mutex<BTreeMap<String, u64>>,
}

#[test]
fn the_pool_recovers_from_a_server_restart() {
    const THREADS: usize = 8;
    let server = Postgres::start();
    let tag = format!("mp-restart-{}", std::process::id());
    let lost = LostServer::default();
    let pool = Pool::builder()
        .event_handler(lost.clone())
        .pool_size(4)
        .max_overflow(4)
        .pre_ping(true)
        // Every checkout pings, so "after the restart" means exactly that. With the default
        // window a connection given back less than 500 ms before the server died could be handed
        // out unchecked (and fail), as in HikariCP.
        .pre_ping_bypass(Duration::ZERO)
        .timeout(Duration::from_secs(10))
        .build(
            PostgresManager::from_url(&server.url())
                .unwrap()
                .ssl_mode(SslMode::Disable)
                .application_name(&tag)
                .connect_timeout(Duration::from_secs(5)),
        )
        .expect("the throwaway PostgreSQL server is running");

    let tally = Arc::new(Tally::default());
    let back_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let restarting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (pool, tally, back_at, restarting, stop) = (
                pool.clone(),
                Arc::clone(&tally),
                Arc::clone(&back_at),
                Arc::clone(&restarting),
                Arc::clone(&stop),
            );
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let began = Instant::now();
                    let after = back_at.get().is_some_and(|back| began >= *back);
                    let result = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                        conn.query_one("SELECT 1", &[])
                            .map(|row| assert_eq!(row.get::<_, i32>(0), 1))
                            .map_err(|e| with_sources(&e))
                    });
                    // Read after the operation: one begun just before the restart may fail by it.
                    let during = restarting.load(SeqCst);
                    match (&result, after) {
                        (Ok(()), true) => tally.ok_after.fetch_add(1, SeqCst),
                        (Ok(()), false) => tally.ok_before.fetch_add(1, SeqCst),
                        (Err(_), true) => tally.failed_after.fetch_add(1, SeqCst),
                        (Err(message), false) => {
                            assert!(during, "an operation failed before the restart began: {message}");
                            tally.failed_during.fetch_add(1, SeqCst)
                        }
                    };
                    if let Err(message) = result {
                        let key: String = message.chars().take(160).collect();
                        *tally.messages.lock().unwrap().entry(key).or_default() += 1;
                    }
                }
            })
        })
        .collect();

    assert!(
        eventually(Duration::from_secs(10), || tally.ok_before.load(SeqCst) >= 200),
        "the workers are not getting through before the restart"
    );
    restarting.store(true, SeqCst);
    let postmaster = server.postmaster_pid();
    let started = Instant::now();
    server.restart();
    let took = started.elapsed();
    assert_ne!(server.postmaster_pid(), postmaster, "the server was restarted");
    back_at.set(Instant::now()).unwrap();

    let enough = eventually(Duration::from_secs(15), || tally.ok_after.load(SeqCst) >= 400);
    stop.store(true, SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let stats = pool.stats();
    let failed_during = tally.failed_during.load(SeqCst);
    println!(
        "restart took {took:?}; {} operations before it, {failed_during} failed while the server was away, {} succeeded after it ({} failed)",
        tally.ok_before.load(SeqCst),
        tally.ok_after.load(SeqCst),
        tally.failed_after.load(SeqCst),
    );
    println!("failures: {:#?}", tally.messages.lock().unwrap());
    println!(
        "{}; lost-server invalidations: {}; {stats:?}",
        pool.state(),
        lost.0.load(SeqCst)
    );

    assert_eq!(
        tally.failed_after.load(SeqCst),
        0,
        "checkouts begun after the server was back failed: {:?}",
        tally.messages.lock().unwrap()
    );
    assert!(
        enough,
        "too few operations after the restart: {}",
        tally.ok_after.load(SeqCst)
    );
    assert!(
        stats.ping_failures + stats.broken + stats.connect_errors > 0,
        "the pool never noticed the restart: {stats:?}"
    );
    // Failures are bounded by the outage: none before it began (asserted by the workers), none
    // after it ended; while the server is away every attempt fails at once (refused, or
    // "shutting down" / "starting up"), never by waiting for the checkout timeout.
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert!(pool.state().open <= 8);
}
