//! Prefork: a parent configures the registry, uses its pool, and forks workers; each worker's
//! first use makes a pool of its own, and the parent's connections are neither used nor closed
//! by them. Against the local PostgreSQL (127.0.0.1:5432, user `postgres`, database `test`,
//! trust authentication); the test fails, rather than skips, when the server is not there.
//!
//! Every connection carries an `application_name` unique to the test, so `pg_stat_activity`,
//! read from a monitoring connection of the test's own, counts the workers' and the parent's.
//! Workers end with `_exit`, so nothing of the test harness runs twice.
#![cfg(feature = "postgres")]

mod common;

use common::pg::{count_tagged, monitor};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use millpond::postgres::PostgresManager;
use millpond::{
    ManageConnection,
    settings::{DatabaseSettings, Databases, FromSettings, Registry},
};

const WORKERS: usize = 4;
const POOL_SIZE: usize = 2;
const MAX_OVERFLOW: usize = 2;
/// Threads per worker: more than its pool may open, so the workers run at their cap.
const THREADS: usize = 8;
/// How long each worker serves requests.
const LOAD: Duration = Duration::from_millis(1500);

fn tag(test: &str) -> String {
    format!("mp-prefork-{test}-{}", std::process::id())
}

fn registry(tag: &str) -> Registry {
    let url = format!(
        "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&application_name={tag}\
         &pool_size={POOL_SIZE}&max_overflow={MAX_OVERFLOW}&timeout=20"
    );
    Registry::new(Databases::new().with("default", DatabaseSettings::from_url(&url).unwrap()))
}

/// The child's exit code for what it did, whose summary or error goes to `report`: 0 when it
/// went well, 1 when it returned an error (`common::fork_child` makes a panic 99).
fn reported(report: &Path, body: impl FnOnce() -> Result<String, String>) -> i32 {
    match body() {
        Ok(summary) => {
            let _ = fs::write(report, summary);
            0
        }
        Err(why) => {
            let _ = fs::write(report, why);
            1
        }
    }
}

/// A worker: its first use of the registry must find a fresh pool; then `THREADS` threads
/// serve requests for `LOAD`. Returns "max_open checkouts backends" or what went wrong.
fn worker(registry: &Registry, parent_backends: &HashSet<i32>) -> Result<String, String> {
    let pool = registry
        .pool::<PostgresManager>("default")
        .map_err(|e| format!("no pool: {e}"))?;
    let state = pool.state();
    if state.open != 0 {
        return Err(format!("the worker's first pool was not fresh: {state:?}"));
    }
    let max_open = Arc::new(AtomicUsize::new(0));
    let backends = Arc::new(Mutex::new(HashSet::new()));
    let failure = Arc::new(Mutex::new(None::<String>));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (max_open, backends, failure, stop) =
                (max_open.clone(), backends.clone(), failure.clone(), stop.clone());
            // Each thread asks the registry, as request handlers would.
            let pool = registry.pool::<PostgresManager>("default").unwrap();
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let result = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                        max_open.fetch_max(pool.state().open, SeqCst);
                        let row = conn
                            .query_one("SELECT pg_backend_pid(), pg_sleep(0.002)::text", &[])
                            .map_err(|e| e.to_string())?;
                        backends.lock().unwrap().insert(row.get::<_, i32>(0));
                        Ok(())
                    });
                    if let Err(e) = result {
                        failure.lock().unwrap().get_or_insert(e);
                        return;
                    }
                }
            })
        })
        .collect();
    thread::sleep(LOAD);
    stop.store(true, SeqCst);
    for t in threads {
        t.join().map_err(|_| "a request thread panicked".to_owned())?;
    }
    if let Some(e) = failure.lock().unwrap().take() {
        return Err(format!("a request failed: {e}"));
    }
    let backends = backends.lock().unwrap();
    if let Some(shared) = backends.iter().find(|pid| parent_backends.contains(pid)) {
        return Err(format!("the worker used the parent's session (backend {shared})"));
    }
    let checkouts = pool.stats().checkouts;
    Ok(format!(
        "{} {checkouts} {}",
        max_open.load(SeqCst),
        backends.len()
    ))
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn forked_workers_get_their_own_pools_within_their_caps_and_the_parent_session_survives() {
    let tag = tag("load");
    let dir = std::env::temp_dir().join(format!("millpond-prefork-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let mut mon = monitor();
    let registry = registry(&tag);

    // The parent uses its pool before forking: one session held across the fork, one idle.
    let pool = registry.pool::<PostgresManager>("default").unwrap();
    let mut held = pool.get().unwrap();
    let mut idle = pool.get().unwrap();
    let held_backend = held.backend_pid().unwrap();
    let parent_backends: HashSet<i32> = [held_backend, idle.backend_pid().unwrap()].into();
    drop(idle);
    assert_eq!(count_tagged(&mut mon, &tag), 2);

    let _forking = common::fork_lock();
    let mut children = Vec::new();
    for n in 0..WORKERS {
        let report = dir.join(format!("worker-{n}"));
        // The child does pool work and threads of its own.
        let pid = common::fork_child(|| reported(&report, || worker(&registry, &parent_backends)));
        children.push((pid, report));
    }

    // While the workers run: the server never shows more than their caps plus the parent's.
    let cap = WORKERS * (POOL_SIZE + MAX_OVERFLOW) + 2;
    let mut most = 0;
    let until = Instant::now() + LOAD;
    while Instant::now() < until {
        let seen = usize::try_from(count_tagged(&mut mon, &tag)).expect("a count");
        assert!(seen <= cap, "{seen} connections tagged {tag}, more than {cap}");
        most = most.max(seen);
        thread::sleep(Duration::from_millis(10));
    }

    let mut max_opens = Vec::new();
    for (pid, report) in children {
        let code = common::wait_child(pid);
        let summary = fs::read_to_string(&report).unwrap_or_default();
        assert_eq!(code, 0, "worker {pid} failed: {summary}");
        let fields: Vec<usize> = summary.split(' ').map(|f| f.parse().unwrap()).collect();
        let [max_open, checkouts, backends] = fields[..] else {
            panic!("bad report: {summary}")
        };
        assert!(
            max_open <= POOL_SIZE + MAX_OVERFLOW,
            "worker {pid}: {max_open} open"
        );
        assert!(
            checkouts > 50 && backends >= 1,
            "worker {pid} hardly worked: {summary}"
        );
        max_opens.push(max_open);
    }
    // Under this load the workers ran at their caps, overflow included.
    assert!(
        max_opens.iter().any(|&m| m > POOL_SIZE),
        "no worker used its overflow: {max_opens:?}"
    );
    assert!(
        most > 2 + WORKERS * POOL_SIZE,
        "the workers' connections never showed: {most}"
    );
    eprintln!("most connections seen: {most} (cap {cap}); workers' most open: {max_opens:?}");

    // The parent's session survived the workers' exits, and its pool is as it left it.
    assert_eq!(held.backend_pid().unwrap(), held_backend);
    let one: i32 = held.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 1, 1), "{s:?}");
    let mut again = pool.get().unwrap();
    assert!(parent_backends.contains(&again.backend_pid().unwrap()));
    drop(again);
    // The workers' sessions end with their processes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_tagged(&mut mon, &tag) > 2 {
        assert!(Instant::now() < deadline, "the workers' sessions outlived them");
        thread::sleep(Duration::from_millis(20));
    }
    drop(held);
    registry.close_all();
}

#[test]
fn a_child_that_only_inherits_the_registry_leaves_the_parents_pool_alone() {
    let tag = tag("idle");
    let dir = std::env::temp_dir().join(format!("millpond-prefork-idle-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let mut mon = monitor();
    let registry = registry(&tag);
    let pool = registry.pool::<PostgresManager>("default").unwrap();
    let backend = pool.get().unwrap().backend_pid().unwrap();

    let report = dir.join("child");
    let _forking = common::fork_lock();
    // The child only reconfigures and closes the registry.
    let code = common::in_child(|| {
        reported(&report, || {
            // Closing everything in the child closes only what the child made.
            let mine = registry
                .pool::<PostgresManager>("default")
                .map_err(|e| e.to_string())?;
            let opened = mine
                .get()
                .map_err(|e| e.to_string())?
                .backend_pid()
                .map_err(|e| e.to_string())?;
            registry.close_all();
            registry.configure(Databases::new());
            Ok(opened.to_string())
        })
    });
    assert_eq!(code, 0, "{}", fs::read_to_string(&report).unwrap_or_default());
    let child_backend: i32 = fs::read_to_string(&report).unwrap().parse().unwrap();
    assert_ne!(child_backend, backend);

    // The parent's idle connection is the one it had, still open and working.
    let mut conn = pool.get().unwrap();
    assert_eq!(conn.backend_pid().unwrap(), backend);
    assert_eq!(pool.stats().connects, 1);
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_tagged(&mut mon, &tag) != 1 {
        assert!(Instant::now() < deadline, "expected only the parent's session");
        thread::sleep(Duration::from_millis(20));
    }
    registry.close_all();
}

/// Set by [`Slow::from_settings`] as it starts sleeping.
static SLOW_ENTERED: AtomicBool = AtomicBool::new(false);
/// Set by [`Slow::from_settings`] as it is about to return.
static SLOW_LEFT: AtomicBool = AtomicBool::new(false);
/// How long [`Slow::from_settings`] keeps the registry's `pools` lock.
const SLOW: Duration = Duration::from_millis(500);

/// A manager of no database whose `from_settings` takes [`SLOW`], as the registry holds its
/// `pools` lock across it.
struct Slow;

/// A manager of no database, made at once.
struct Quick;

macro_rules! fake_manager {
    ($($manager:ident),*) => {$(
        impl ManageConnection for $manager {
            type Connection = ();
            type Error = std::io::Error;

            fn connect(&self) -> Result<(), std::io::Error> {
                Ok(())
            }

            fn is_valid(&self, _: &mut (), _: Duration) -> Result<(), std::io::Error> {
                Ok(())
            }

            fn has_broken(&self, _: &mut ()) -> bool {
                false
            }
        }
    )*};
}

fake_manager!(Slow, Quick);

impl FromSettings for Slow {
    fn from_settings(_: &DatabaseSettings) -> Result<Self, millpond::ConfigError> {
        SLOW_ENTERED.store(true, SeqCst);
        thread::sleep(SLOW);
        SLOW_LEFT.store(true, SeqCst);
        Ok(Slow)
    }
}

impl FromSettings for Quick {
    fn from_settings(_: &DatabaseSettings) -> Result<Self, millpond::ConfigError> {
        Ok(Quick)
    }
}

/// The only test here that uses the global registry, with aliases of its own.
#[test]
fn a_fork_while_another_thread_makes_a_global_pool_leaves_the_child_a_usable_registry() {
    let settings = || DatabaseSettings::from_url("sqlite::memory:").unwrap();
    millpond::settings::configure(
        Databases::new()
            .with("atfork_slow", settings())
            .with("atfork_quick", settings()),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("millpond-prefork-atfork-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let report = dir.join("child");

    let _forking = common::fork_lock();
    // This thread holds the registry's `pools` lock for SLOW while it makes the pool.
    let maker = thread::spawn(|| {
        millpond::settings::registry()
            .pool::<Slow>("atfork_slow")
            .map(|_| ())
    });
    while !SLOW_ENTERED.load(SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
    assert!(
        !SLOW_LEFT.load(SeqCst),
        "the test forked too late to race the pool being made"
    );
    let forking = Instant::now();
    // The child only uses the registry.
    let pid = common::fork_child(|| {
        reported(&report, || {
            let pool = millpond::settings::registry()
                .pool::<Quick>("atfork_quick")
                .map_err(|e| e.to_string())?;
            drop(pool.get().map_err(|e| e.to_string())?);
            Ok(format!(
                "forked once the slow pool was made: {}",
                SLOW_LEFT.load(SeqCst)
            ))
        })
    });
    let fork_took = forking.elapsed();
    let waited_for_the_maker = SLOW_LEFT.load(SeqCst);
    let Some(code) = common::wait_child_within(pid, Duration::from_secs(10)) else {
        panic!("the child deadlocked on the registry lock it inherited held (killed after 10 s)");
    };
    let summary = fs::read_to_string(&report).unwrap_or_default();
    assert_eq!(code, 0, "the child failed: {summary}");
    eprintln!("fork took {fork_took:?}; child: {summary}");
    // The fork waited for the other thread to leave the registry.
    assert!(
        waited_for_the_maker,
        "the fork did not wait for the pool being made"
    );
    maker.join().unwrap().unwrap();
    // The parent's registry works on.
    millpond::settings::registry()
        .pool::<Quick>("atfork_quick")
        .unwrap();
    millpond::settings::registry().close_all();
}
