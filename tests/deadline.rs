//! The checkout deadline against real drivers and a server that accepts TCP connections and
//! never answers (a raw listener in this test: no real server is touched). Whatever the
//! backend's own connect timeout, `get`, `get_timeout` and `try_get` return within the
//! caller's timeout (plus scheduling slack), with a timeout, never a disguised connect error.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::silent::SilentServer;
use millpond::jdbc;
use millpond::mysql::MySqlManager;
use millpond::postgres::PostgresManager;
use millpond::{Error, ManageConnection, Pool};

/// How late a call may return past its timeout.
const SLACK: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(300);

/// A server that accepts and never answers, on a port of its own.
fn silent_server() -> u16 {
    SilentServer::start().port
}

/// Runs `call`, asserts it returned within `limit` and returns what it returned.
fn within<T>(limit: Duration, what: &str, call: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = call();
    let took = started.elapsed();
    assert!(took <= limit + SLACK, "{what} took {took:?}, past its {limit:?}");
    result
}

fn expect_timeout<T>(what: &str, result: Result<T, Error>) {
    match result {
        Err(err @ Error::Timeout(_)) => {
            let shown = err.to_string();
            assert!(shown.contains("timed out after"), "{what}: {shown}");
        }
        Err(other) => panic!("{what}: expected a timeout, got {other:?}"),
        Ok(_) => panic!("{what}: a connection from a server that never answers"),
    }
}

/// A cold pool on a silent server: every kind of checkout keeps its own deadline, and none of
/// them loses a slot (the connects still running are counted as opening, and end in time).
fn cold_pool_keeps_every_deadline<M: ManageConnection>(manager: M) {
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .timeout(TIMEOUT)
        .build(manager)
        .expect("no connection is opened at build");
    expect_timeout("get", within(TIMEOUT, "get()", || pool.get()));
    let short = Duration::from_millis(150);
    expect_timeout(
        "get_timeout",
        within(short, "get_timeout(150 ms)", || pool.get_timeout(short)),
    );
    let got = within(Duration::ZERO, "try_get()", || pool.try_get());
    assert!(
        matches!(got, Ok(None)),
        "try_get on a silent server: {:?}",
        got.map(|conn| conn.is_some())
    );
    let zero = within(Duration::ZERO, "get_timeout(0)", || {
        pool.get_timeout(Duration::ZERO)
    });
    expect_timeout("get_timeout(0)", zero);
    let state = pool.state();
    assert!(state.opening <= 2 && state.open <= 2, "{state:?}");
    assert_eq!((state.in_use, state.waiting), (0, 0), "{state:?}");
    let stats = pool.stats();
    assert_eq!(stats.timeouts, 3, "{stats:?}");
}

#[test]
fn postgres_on_a_silent_server() {
    let port = silent_server();
    let manager = PostgresManager::from_url(&format!(
        "postgres://postgres@127.0.0.1:{port}/test?sslmode=disable&connect_timeout=10"
    ))
    .unwrap();
    cold_pool_keeps_every_deadline(manager);
}

#[test]
fn mysql_on_a_silent_server() {
    let port = silent_server();
    let manager = MySqlManager::from_url(&format!(
        "mysql://root@127.0.0.1:{port}/test?connect_timeout_ms=10000"
    ))
    .unwrap();
    cold_pool_keeps_every_deadline(manager);
}

#[test]
fn jdbc_on_a_silent_server() {
    let jar = std::path::PathBuf::from("/usr/share/java/postgresql.jar");
    assert!(
        jar.is_file(),
        "{} is missing: run scripts/test once",
        jar.display()
    );
    let port = silent_server();
    let manager = jdbc::postgresql("127.0.0.1", port, "test")
        .user("postgres")
        .jar(jar);
    cold_pool_keeps_every_deadline(manager);
}

/// `build` with `min_idle` opens its connections within the pool's timeout too: on a silent
/// server it fails with a timeout in time instead of the backend's connect timeout.
#[test]
fn build_with_min_idle_keeps_the_timeout() {
    let port = silent_server();
    let manager = PostgresManager::from_url(&format!(
        "postgres://postgres@127.0.0.1:{port}/test?sslmode=disable&connect_timeout=10"
    ))
    .unwrap();
    let built = within(TIMEOUT, "build() with min_idle 2", || {
        Pool::builder()
            .pool_size(2)
            .min_idle(2)
            .timeout(TIMEOUT)
            .build(manager)
    });
    expect_timeout("build", built);
}

/// A warm pool whose network goes silent (a proxy that stops forwarding and closes nothing):
/// the idle connections fail their pre-pings, each within what is left of the deadline, and the
/// connect that follows is bounded by it too. Four threads at once, each within its timeout
/// (on an idle pool of 4 one call took 14 s: four pre-pings of a second, then a 10 s connect).
fn warm_pool_on_a_silent_network_keeps_every_deadline<M: ManageConnection>(proxy: &Proxy, manager: M) {
    const THREADS: usize = 4;
    let timeout = Duration::from_millis(600);
    let pool = Pool::builder()
        .pool_size(THREADS)
        .max_overflow(Some(0))
        .timeout(timeout)
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .validation_timeout(Duration::from_secs(1))
        .build(manager)
        .unwrap();
    let warm: Vec<_> = (0..THREADS)
        .map(|_| pool.get().expect("the server answers"))
        .collect();
    drop(warm);
    assert!(
        proxy.wait_connections(Duration::from_secs(10), |n| n == THREADS),
        "{THREADS} connections through the proxy"
    );
    proxy.freeze();
    let callers: Vec<_> = (0..THREADS)
        .map(|k| {
            let pool = pool.clone();
            thread::spawn(move || {
                let result = within(timeout, &format!("get() in thread {k}"), || pool.get());
                expect_timeout("get on a silent network", result);
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    let single = within(timeout, "get() once more", || pool.get());
    expect_timeout("get once more", single);
    let state = pool.state();
    assert_eq!((state.in_use, state.waiting), (0, 0), "{state:?}");
    assert!(state.open <= THREADS, "{state:?}");
    proxy.thaw();
}

#[test]
fn postgres_on_a_silent_network() {
    let proxy = Proxy::start("127.0.0.1:5432");
    let manager = PostgresManager::from_url(&format!(
        "postgres://postgres@127.0.0.1:{}/test?sslmode=disable&connect_timeout=10",
        proxy.port()
    ))
    .unwrap();
    warm_pool_on_a_silent_network_keeps_every_deadline(&proxy, manager);
}

#[test]
fn mysql_on_a_silent_network() {
    let proxy = Proxy::start("127.0.0.1:3306");
    let manager = MySqlManager::from_url(&format!(
        "mysql://root@127.0.0.1:{}/test?connect_timeout_ms=10000",
        proxy.port()
    ))
    .unwrap();
    warm_pool_on_a_silent_network_keeps_every_deadline(&proxy, manager);
}
