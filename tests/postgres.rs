//! The PostgreSQL backend against the local server (127.0.0.1:5432, user `postgres`, database
//! `test`, trust authentication): many threads, the connection cap as the server sees it, a
//! server-side kill, the reset on return, connect errors, an unresponsive server, TLS modes and
//! secrets. The tests fail, rather than skip, when the server is not there.
//!
//! Every pool tags its connections with an `application_name` of its own, so the server's
//! `pg_stat_activity` can count them from a separate monitoring connection.
//! The restart test lives in `postgres_restart.rs`; it and the tests that freeze a server process or
//! need a password role run on throwaway servers of their own (`common::throwaway`).
#![cfg(feature = "postgres")]

mod common;

use common::pg::{count_tagged, monitor};
use std::collections::HashSet;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::throwaway::Postgres;
use common::{eventually, settle};
use millpond::postgres::{Config, PgConnection, PostgresError, PostgresManager, SqlState, SslMode};
use millpond::{
    Error, ErrorClass, ManageConnection, Pool, ResetOnReturn, TransactionState,
    observe::{Event, HandleEvent, InvalidateReason},
};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A tag unique to this test and process, at most 63 bytes (the server truncates longer names).
fn tag(test: &str) -> String {
    format!("mp-{test}-{}", std::process::id())
}

/// A plain-TCP manager for the local server whose connections carry `tag`.
fn manager(tag: &str) -> PostgresManager {
    PostgresManager::from_url(URL)
        .unwrap()
        .ssl_mode(SslMode::Disable)
        .application_name(tag)
}

/// What the server shows for one backend: its last statement and its state.
fn last_query(mon: &mut postgres::Client, pid: i32) -> (String, String) {
    let row = mon
        .query_one(
            "SELECT query, state FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// Terminates every backend tagged `tag`, waiting (up to 5 s each) until each has exited.
fn terminate_tagged(mon: &mut postgres::Client, tag: &str) -> i64 {
    mon.query_one(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = $1",
        &[&tag],
    )
    .unwrap()
    .get(0)
}

fn pid_of(conn: &mut PgConnection) -> i32 {
    conn.backend_pid().unwrap()
}

/// Records the pool's invalidations.
#[derive(Clone, Default)]
struct Invalidations(Arc<Mutex<Vec<InvalidateReason>>>);

impl HandleEvent for Invalidations {
    fn handle(&self, event: &Event<'_>) {
        if let Event::Invalidate { reason, .. } = event {
            self.0.lock().unwrap().push((*reason).clone());
        }
    }
}

#[test]
fn queries_statements_and_transactions_from_many_threads() {
    const THREADS: i32 = 16;
    const ROUNDS: i32 = 30;
    let tag = tag("basic");
    let table = format!("mp_basic_{}", std::process::id());
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(4)
        .timeout(Duration::from_secs(20))
        .build(manager(&tag))
        .unwrap();
    pool.get()
        .unwrap()
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (thread int NOT NULL, n int NOT NULL, PRIMARY KEY (thread, n))"
        ))
        .unwrap();

    common::together(THREADS as usize, |t| {
        let t = t as i32;
        for n in 0..ROUNDS {
            let mut conn = pool.get().unwrap();
            match n % 4 {
                0 => {
                    let row = conn.query_one("SELECT $1::int * 2", &[&n]).unwrap();
                    assert_eq!(row.get::<_, i32>(0), n * 2);
                    conn.execute(&format!("INSERT INTO {table} VALUES ($1, $2)"), &[&t, &n])
                        .unwrap();
                }
                1 => {
                    let mut tx = conn.transaction().unwrap();
                    tx.execute(&format!("INSERT INTO {table} VALUES ($1, $2)"), &[&t, &n])
                        .unwrap();
                    tx.commit().unwrap();
                }
                2 => {
                    let insert = conn
                        .prepare(&format!("INSERT INTO {table} VALUES ($1, $2)"))
                        .unwrap();
                    assert_eq!(conn.execute(&insert, &[&t, &n]).unwrap(), 1);
                }
                _ => {
                    conn.batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES ({t}, {n})"))
                        .unwrap();
                    assert_eq!(conn.transaction_state(), TransactionState::Active);
                    conn.batch_execute("COMMIT").unwrap();
                }
            }
            assert_eq!(conn.transaction_state(), TransactionState::Idle);
            let mine: i64 = conn
                .query_one(&format!("SELECT count(*) FROM {table} WHERE thread = $1"), &[&t])
                .unwrap()
                .get(0);
            assert_eq!(mine, i64::from(n) + 1);
        }
    });

    let mut conn = pool.get().unwrap();
    let total: i64 = conn
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0);
    assert_eq!(total, i64::from(THREADS * ROUNDS));
    conn.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    drop(conn);

    let stats = pool.stats();
    assert_eq!(stats.checkouts, (THREADS * ROUNDS + 2) as u64);
    assert!(stats.connects <= 8, "{stats:?}");
    assert_eq!(
        stats.resets, 0,
        "every borrower ended its transactions: {stats:?}"
    );
    assert_eq!(stats.connect_errors, 0);
    settle(&pool);
    let open = pool.state().open as i64;
    assert!(open <= 4, "{}", pool.state());
    let mut mon = monitor();
    assert!(
        eventually(Duration::from_secs(5), || count_tagged(&mut mon, &tag) == open),
        "the server shows {} connections tagged {tag}, the pool {open}",
        count_tagged(&mut mon, &tag)
    );
}

#[test]
fn the_server_never_sees_more_than_pool_size_plus_overflow() {
    const THREADS: usize = 32;
    const ROUNDS: usize = 40;
    let tag = tag("cap");
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(4)
        .timeout(Duration::from_secs(25))
        .build_unchecked(manager(&tag))
        .unwrap();
    let mut mon = monitor();
    let done = Arc::new(AtomicBool::new(false));

    let sampler = {
        let done = Arc::clone(&done);
        let tag = tag.clone();
        let pool = pool.clone();
        thread::spawn(move || {
            let (mut most_seen, mut most_open, mut samples) = (0, 0, 0);
            while !done.load(SeqCst) {
                most_seen = most_seen.max(count_tagged(&mut mon, &tag));
                most_open = most_open.max(pool.state().open);
                samples += 1;
            }
            (most_seen, most_open, samples, mon)
        })
    };
    let began = Instant::now();
    common::together(THREADS, |_| {
        for _ in 0..ROUNDS {
            let mut conn = pool.get().unwrap();
            conn.batch_execute("SELECT pg_sleep(0.002)").unwrap();
        }
    });
    let elapsed = began.elapsed();
    done.store(true, SeqCst);
    let (most_seen, most_open, samples, mut mon) = sampler.join().unwrap();
    let stats = pool.stats();
    println!(
        "{THREADS} threads x {ROUNDS} checkouts in {elapsed:?}: the server showed at most {most_seen} connections in {samples} samples; the pool at most {most_open} open; {stats:?}"
    );
    assert!(
        most_seen <= 8,
        "the server saw {most_seen} connections tagged {tag}"
    );
    assert!(most_open <= 8, "the pool had {most_open} open");
    assert!(
        most_seen >= 5,
        "the overflow was never used under load? {most_seen} in {samples} samples"
    );
    assert!(samples >= 10, "too few samples ({samples}) to say anything");
    assert_eq!(stats.checkouts, (THREADS * ROUNDS) as u64);
    assert!(stats.waits > 0);
    assert_eq!(stats.timeouts, 0);
    assert!(stats.connects <= 8, "{stats:?}");

    // The burst is over: the overflow drains back to pool_size.
    settle(&pool);
    assert!(pool.state().open <= 4, "{}", pool.state());
    assert!(
        eventually(Duration::from_secs(5), || count_tagged(&mut mon, &tag) <= 4),
        "the server still shows {} connections",
        count_tagged(&mut mon, &tag)
    );
}

#[test]
fn backends_killed_by_the_server_are_replaced_and_the_pool_invalidated() {
    let tag = tag("kill");
    let invalidations = Invalidations::default();
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(0)
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO) // every checkout pings
        .timeout(Duration::from_secs(10))
        .event_handler(invalidations.clone())
        .build(manager(&tag))
        .unwrap();
    let mut held: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    let old: HashSet<i32> = held.iter_mut().map(|c| pid_of(c)).collect();
    assert_eq!(old.len(), 4);
    drop(held);

    let mut mon = monitor();
    assert_eq!(
        terminate_tagged(&mut mon, &tag),
        4,
        "every idle backend is terminated"
    );
    assert_eq!(count_tagged(&mut mon, &tag), 0);

    for i in 0..8 {
        let mut conn = pool
            .get()
            .unwrap_or_else(|e| panic!("checkout {i} after the kill failed: {e}"));
        let pid = pid_of(&mut conn);
        assert!(!old.contains(&pid), "checkout {i} got a killed backend");
        let one: i32 = conn.query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
    }
    let stats = pool.stats();
    println!("after the kill: {stats:?}");
    assert!(stats.ping_failures >= 1, "{stats:?}");
    assert!(
        stats.invalidated >= 1,
        "the other killed connections go as invalidated: {stats:?}"
    );
    assert_eq!(stats.connect_errors, 0);
    let seen = invalidations.0.lock().unwrap().clone();
    // The reason is the server's FATAL 57P01 ("terminating connection due to administrator
    // command") when the ping is the first to read it, or "connection closed" when the driver
    // had a statement close queued that took the FATAL as its reply (after any query).
    println!("invalidations: {seen:?}");
    assert!(
        seen.iter().any(|r| matches!(r, InvalidateReason::LostServer(_))),
        "no lost-server invalidation: {seen:?}"
    );
}

#[test]
fn a_terminated_connection_is_a_lost_server_and_a_query_error_is_not() {
    let tag = tag("lost");
    let m = manager(&tag);
    let mut conn = m.connect().unwrap();
    let err = conn.query_one("SELECT 1 / 0", &[]).unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert!(!m.is_lost_server(&PostgresError::from(err)));
    assert!(!m.has_broken(&mut conn));

    let mut mon = monitor();
    assert_eq!(terminate_tagged(&mut mon, &tag), 1);
    let err = m.is_valid(&mut conn, Duration::from_secs(5)).unwrap_err();
    assert!(m.is_lost_server(&err), "{err}");
    assert!(!err.is_timeout());
    assert!(m.has_broken(&mut conn), "the driver saw the connection close");
}

#[test]
fn an_open_transaction_is_rolled_back_before_the_next_borrower_and_an_idle_return_costs_nothing() {
    let tag = tag("reset");
    let table = format!("mp_reset_{}", std::process::id());
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .pre_ping(false) // no validation queries to blur pg_stat_activity.query
        .build(manager(&tag))
        .unwrap();
    let mut mon = monitor();
    let default_work_mem: String = mon.query_one("SHOW work_mem", &[]).unwrap().get(0);
    mon.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int)"
    ))
    .unwrap();
    let count = |conn: &mut PgConnection| -> i64 {
        conn.query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    };

    // A borrower leaves a transaction open, with an uncommitted row and settings made inside it.
    let pid = {
        let mut conn = pool.get().unwrap();
        conn.batch_execute("BEGIN").unwrap();
        conn.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
            .unwrap();
        conn.batch_execute("SET LOCAL statement_timeout = '4321ms'; SET work_mem = '7MB'")
            .unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Active);
        pid_of(&mut conn)
    };
    assert_eq!(pool.stats().resets, 1);
    assert_eq!(
        last_query(&mut mon, pid),
        ("ROLLBACK".to_owned(), "idle".to_owned()),
        "the pool rolled back before the connection went back"
    );
    {
        let mut conn = pool.get().unwrap();
        assert_eq!(
            pid_of(&mut conn),
            pid,
            "a pool of one hands out the same connection"
        );
        assert_eq!(count(&mut conn), 0, "the uncommitted row is gone");
        let timeout: String = conn.query_one("SHOW statement_timeout", &[]).unwrap().get(0);
        assert_eq!(timeout, "0");
        let work_mem: String = conn.query_one("SHOW work_mem", &[]).unwrap().get(0);
        assert_eq!(
            work_mem, default_work_mem,
            "a SET inside the transaction is undone too"
        );
        conn.query_one("SELECT 'mp-last-before-return'", &[]).unwrap();
    }
    // No transaction was open: the return made no round trip, so the server's last statement
    // on that backend is still the borrower's.
    assert_eq!(pool.stats().resets, 1);
    assert_eq!(
        last_query(&mut mon, pid),
        ("SELECT 'mp-last-before-return'".to_owned(), "idle".to_owned())
    );

    // The transaction API: dropped uncommitted, it rolls back itself; no reset needed.
    {
        let mut conn = pool.get().unwrap();
        let mut tx = conn.transaction().unwrap();
        tx.execute(&format!("INSERT INTO {table} VALUES (2)"), &[])
            .unwrap();
        drop(tx);
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
        let mut tx = conn.transaction().unwrap();
        tx.execute(&format!("INSERT INTO {table} VALUES (3)"), &[])
            .unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&mut conn), 1);
    }
    assert_eq!(pool.stats().resets, 1);

    // A failed statement inside a transaction leaves it aborted: rolled back on return, and the
    // next borrower can work.
    {
        let mut conn = pool.get().unwrap();
        conn.batch_execute("BEGIN").unwrap();
        assert!(conn.query_one("SELECT 1 / 0", &[]).is_err());
    }
    assert_eq!(pool.stats().resets, 2);
    assert_eq!(count(&mut pool.get().unwrap()), 1);

    // A prepared statement run once a transaction-control one was prepared: the state is
    // unknown, so the return rolls back.
    {
        let mut conn = pool.get().unwrap();
        let begin = conn.prepare("BEGIN").unwrap();
        conn.execute(&begin, &[]).unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Unknown);
    }
    assert_eq!(pool.stats().resets, 3);
    assert_eq!(last_query(&mut mon, pid).0, "ROLLBACK");

    assert_eq!(pool.stats().reset_failures, 0);
    assert_eq!(pool.stats().connects, 1, "one connection served every borrower");
    mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn a_reset_statement_runs_after_a_rollback_when_a_transaction_is_open() {
    let tag = tag("discard");
    let table = format!("mp_discard_{}", std::process::id());
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .pre_ping(false)
        .reset_on_return(ResetOnReturn::Statement("DISCARD ALL".to_owned()))
        .build(manager(&tag))
        .unwrap();
    let mut mon = monitor();
    let default_work_mem: String = mon.query_one("SHOW work_mem", &[]).unwrap().get(0);
    mon.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int)"
    ))
    .unwrap();
    {
        let mut conn = pool.get().unwrap();
        conn.batch_execute("SET work_mem = '9MB'").unwrap(); // a session setting
        conn.batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES (1)"))
            .unwrap();
    }
    {
        let mut conn = pool.get().unwrap();
        let work_mem: String = conn.query_one("SHOW work_mem", &[]).unwrap().get(0);
        assert_eq!(work_mem, default_work_mem, "DISCARD ALL reset the session");
        let n: i64 = conn
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.resets, stats.reset_failures, stats.connects),
        (2, 0, 1),
        "{stats:?}"
    );
    mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn the_init_statement_runs_on_every_new_connection() {
    let tag = tag("init");
    let pool = Pool::builder()
        .pool_size(2)
        .build(manager(&tag).init("SET statement_timeout = '7s'; SET TIME ZONE 'UTC'"))
        .unwrap();
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    for conn in [&mut a, &mut b] {
        let timeout: String = conn.query_one("SHOW statement_timeout", &[]).unwrap().get(0);
        let zone: String = conn.query_one("SHOW TimeZone", &[]).unwrap().get(0);
        assert_eq!((timeout.as_str(), zone.as_str()), ("7s", "UTC"));
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }
    let err = manager(&tag)
        .init("SELECT no_such_function()")
        .connect()
        .unwrap_err();
    assert!(err.to_string().contains("init statement"), "{err}");
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_FUNCTION));
}

fn connect_error(pool: &Pool<PostgresManager>) -> (String, Duration, Option<SqlState>) {
    let started = Instant::now();
    let err = pool.get().expect_err("the connection must fail");
    let elapsed = started.elapsed();
    let Error::Connect(source) = &err else {
        panic!("expected Error::Connect, got {err:?}");
    };
    let pg = source
        .downcast_ref::<PostgresError>()
        .expect("the source is the backend's error");
    (common::chain(&err), elapsed, pg.code().cloned())
}

#[test]
fn connect_errors_come_at_once_with_the_servers_own_words() {
    let pool_for = |url: &str| {
        Pool::builder()
            .timeout(Duration::from_secs(10))
            .build_unchecked(PostgresManager::from_url(url).unwrap())
            .unwrap()
    };

    // Nothing listens on port 1 of the loopback: refused at once.
    let pool = pool_for("postgres://postgres@127.0.0.1:1/test?sslmode=disable");
    let (message, elapsed, code) = connect_error(&pool);
    println!("closed port: {elapsed:?}: {message}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(message.contains("Connection refused"), "{message}");
    assert!(
        message.contains("127.0.0.1:1"),
        "the message names the server: {message}"
    );
    assert_eq!(code, None);
    assert_eq!(pool.stats().connect_errors, 1);
    assert_eq!(pool.state().open, 0, "the slot is freed");
    assert!(pool.last_connect_error().unwrap().contains("Connection refused"));

    // A throwaway server of the test's own has `millpond_pw` (password `secret`), a role that
    // must give its password: a wrong one is the server's own authentication error, at once,
    // without the password. (The shared server's roles and pg_hba.conf are left alone.)
    let server = Postgres::start();
    let pool = pool_for(&format!("{}?sslmode=disable", server.password_url("wrong-horse")));
    let (message, elapsed, code) = connect_error(&pool);
    println!("wrong password: {elapsed:?}: {message}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(
        message.contains(r#"password authentication failed for user "millpond_pw""#),
        "{message}"
    );
    assert!(!message.contains("wrong-horse"), "the password leaked: {message}");
    assert_eq!(code, Some(SqlState::INVALID_PASSWORD));
    assert_eq!(pool.stats().timeouts, 0);
    let right = pool_for(&format!("{}?sslmode=disable", server.password_url("secret")));
    assert_eq!(
        right
            .get()
            .unwrap()
            .query_one("SELECT 1", &[])
            .unwrap()
            .get::<_, i32>(0),
        1
    );

    // A database or a role that does not exist is the server's error too.
    let pool = pool_for("postgres://postgres@127.0.0.1:5432/nope?sslmode=disable");
    let (message, elapsed, code) = connect_error(&pool);
    println!("missing database: {elapsed:?}: {message}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(message.contains(r#"database "nope" does not exist"#), "{message}");
    assert_eq!(code, Some(SqlState::INVALID_CATALOG_NAME));

    let pool = pool_for("postgres://nobody@127.0.0.1:5432/test");
    let (message, elapsed, code) = connect_error(&pool);
    println!("missing role: {elapsed:?}: {message}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(message.contains(r#"role "nobody" does not exist"#), "{message}");
    assert_eq!(code, Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION));

    // `build` opens min_idle connections and reports the failure itself.
    let err = Pool::builder()
        .min_idle(1)
        .build(PostgresManager::from_url("postgres://postgres@127.0.0.1:1/test").unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}

/// `kill -STOP` on a process of a throwaway server, undone (and the process terminated) when
/// dropped. Never on the shared server: a stopped backend there could hold locks others wait on,
/// and would stay stopped if the test process died.
struct Stopped<'a> {
    pid: i32,
    server: &'a Postgres,
}

impl<'a> Stopped<'a> {
    fn new(server: &'a Postgres, pid: i32) -> Stopped<'a> {
        // SAFETY: kill(2) with a valid signal number; the pid is a server process of this test.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0, "kill -STOP {pid}");
        let stopped = Stopped { pid, server };
        assert!(
            eventually(Duration::from_secs(5), || process_state(pid) == Some('T')),
            "process {pid} did not stop"
        );
        stopped
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.pid, libc::SIGCONT) };
        let mut mon = self.server.client();
        mon.query_one("SELECT pg_terminate_backend($1, 5000)", &[&self.pid])
            .unwrap();
    }
}

/// The state letter from /proc/PID/stat (`T` for stopped).
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn an_unresponsive_server_process_cannot_hang_a_checkout_or_a_validation() {
    let server = Postgres::start();
    let tag = tag("stop");
    let validation = Duration::from_millis(300);
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(2)
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .validation_timeout(validation)
        .timeout(Duration::from_secs(5))
        .build(
            PostgresManager::from_url(&server.url())
                .unwrap()
                .ssl_mode(SslMode::Disable)
                .application_name(&tag),
        )
        .unwrap();
    let stuck_pid = pid_of(&mut pool.get().unwrap());
    let _stopped = Stopped::new(&server, stuck_pid);

    let started = Instant::now();
    let mut conn = pool
        .get_timeout(Duration::from_secs(3))
        .expect("a fresh connection replaces the unresponsive one");
    let elapsed = started.elapsed();
    println!("checkout past a stopped backend: {elapsed:?}");
    assert!(
        elapsed >= validation,
        "the pre-ping waited for its timeout: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_ne!(pid_of(&mut conn), stuck_pid);
    assert_eq!(conn.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0), 1);
    drop(conn);
    let stats = pool.stats();
    assert_eq!((stats.pings, stats.ping_failures), (1, 1), "{stats:?}");
    assert_eq!(
        stats.invalidated, 0,
        "one stuck process is not a lost server: {stats:?}"
    );
    // The failed connection is closed in the background without waiting for the stopped
    // process, so its slot comes back while the process is still stopped.
    settle(&pool);
    assert_eq!(process_state(stuck_pid), Some('T'));
    assert!(pool.state().open <= 2, "{}", pool.state());

    // The same at the manager's level, timed.
    let m = pool.manager();
    let mut raw = m.connect().unwrap();
    let _stopped_too = Stopped::new(&server, pid_of(&mut raw));
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let err = m.is_valid(&mut raw, timeout).unwrap_err();
    let elapsed = started.elapsed();
    println!("is_valid on a stopped backend: {elapsed:?}: {err}");
    assert!(err.is_timeout(), "{err}");
    assert!(!m.is_lost_server(&err));
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_millis(500),
        "{elapsed:?}"
    );
    assert!(
        m.has_broken(&mut raw),
        "a connection that owes a reply cannot be reused"
    );
    let started = Instant::now();
    let err = m.is_valid(&mut raw, timeout).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "a second validation fails at once"
    );
    assert!(err.is_timeout());
    let started = Instant::now();
    drop(raw);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "closing it does not wait for the stopped process: {:?}",
        started.elapsed()
    );
}

/// A loopback listener that accepts connections and never says a word.
struct Silent {
    port: u16,
    held: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        {
            let held = Arc::clone(&held);
            let accepted = Arc::clone(&accepted);
            thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    accepted.fetch_add(1, SeqCst);
                    held.lock().unwrap().push(stream);
                }
            });
        }
        Silent { port, held, accepted }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        // Hanging up lets the abandoned connection attempts finish.
        self.held.lock().unwrap().clear();
    }
}

#[test]
fn a_server_that_accepts_and_never_answers_fails_within_connect_timeout() {
    let silent = Silent::start();
    let connect_timeout = Duration::from_millis(500);
    for mode in [SslMode::Disable, SslMode::Prefer] {
        let mut config = Config::new();
        config
            .host("127.0.0.1")
            .port(silent.port)
            .user("postgres")
            .dbname("test");
        let pool = Pool::builder()
            .timeout(Duration::from_secs(5))
            .build_unchecked(
                PostgresManager::new(config)
                    .ssl_mode(mode)
                    .connect_timeout(connect_timeout),
            )
            .unwrap();
        let started = Instant::now();
        let err = pool.get().expect_err("nothing answers");
        let elapsed = started.elapsed();
        println!("silent server, sslmode={mode}: {elapsed:?}: {err}");
        let Error::Connect(source) = &err else {
            panic!("expected Error::Connect, got {err:?}");
        };
        assert!(source.downcast_ref::<PostgresError>().unwrap().is_timeout());
        assert!(elapsed >= connect_timeout, "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        let message = common::chain(&err);
        assert!(message.contains("connect_timeout"), "{message}");
        assert!(
            message.contains(&format!("127.0.0.1:{}", silent.port)),
            "{message}"
        );
    }
    assert!(
        silent.accepted.load(SeqCst) >= 2,
        "the TCP connections were accepted"
    );
    // And the listener really was silent: it never wrote, and the client's startup bytes are there.
    let mut first = silent.held.lock().unwrap().remove(0);
    first.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 8];
    first.read_exact(&mut buf).unwrap();
}

#[test]
fn passwords_never_show() {
    const SECRET: &str = "s3cr3t-PgPw";
    let log = common::capture_log();
    let m = PostgresManager::from_url(&format!(
        "postgres://postgres:{SECRET}@127.0.0.1:1/test?sslmode=disable"
    ))
    .unwrap();
    assert!(!format!("{m:?}").contains(SECRET), "{m:?}");
    assert!(!m.to_string().contains(SECRET), "{m}");
    let pool = Pool::builder()
        .echo(true)
        .timeout(Duration::from_secs(5))
        .build_unchecked(m)
        .unwrap();
    let err = pool.get().unwrap_err();
    assert!(!common::chain(&err).contains(SECRET), "{err}");
    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
    assert!(!pool.last_connect_error().unwrap().contains(SECRET));
    assert!(!format!("{pool:?}").contains(SECRET));

    // A server-side error with a password given (trust authentication never asks for it).
    let tag = tag("secret");
    let m = manager(&tag).password(SECRET).dbname("nope");
    let err = m.connect().unwrap_err();
    let printed = common::chain(&err);
    assert!(
        printed.contains("does not exist") && !printed.contains(SECRET),
        "{printed}"
    );
    let mut conn = manager(&tag).password(SECRET).connect().unwrap();
    assert!(!format!("{conn:?}").contains(SECRET));
    conn.query_one("SELECT 1", &[]).unwrap();
    assert!(log.lines_with(SECRET).is_empty(), "{:?}", log.lines_with(SECRET));
}

#[test]
fn tls_modes_against_the_local_server() {
    let mut mon = monitor();
    let ssl: String = mon.query_one("SHOW ssl", &[]).unwrap().get(0);
    assert_eq!(ssl, "on", "these tests need the local server to offer TLS");
    let cert: String = mon.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
    let tag = tag("tls");
    let uses_tls = |url: &str| -> Result<bool, PostgresError> {
        let mut conn = PostgresManager::from_url(url)
            .unwrap()
            .application_name(&tag)
            .connect()?;
        Ok(conn
            .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .unwrap()
            .get(0))
    };
    assert!(!uses_tls(&format!("{URL}?sslmode=disable")).unwrap());
    assert!(
        uses_tls(URL).unwrap(),
        "prefer (the default) takes the TLS offered"
    );
    assert!(uses_tls(&format!("{URL}?sslmode=require")).unwrap());

    // The server's certificate is self-signed for `localhost`.
    let err = uses_tls(&format!("{URL}?sslmode=verify-full")).unwrap_err();
    let printed = common::chain(&err);
    println!("verify-full with the Mozilla roots: {printed}");
    assert!(printed.contains("certificate"), "{printed}");
    let root = format!("sslrootcert={}", cert.replace('/', "%2F"));
    assert!(uses_tls(&format!("{URL}?sslmode=verify-ca&{root}")).unwrap());
    let err = uses_tls(&format!("{URL}?sslmode=verify-full&{root}")).unwrap_err();
    let printed = common::chain(&err);
    println!("verify-full for 127.0.0.1 with the right root: {printed}");
    assert!(printed.contains("certificate"), "{printed}");
    assert!(
        uses_tls(&format!(
            "postgres://postgres@localhost:5432/test?hostaddr=127.0.0.1&sslmode=verify-full&{root}"
        ))
        .unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// A silent network (through `common::proxy`, so the shared server itself is never frozen): the
// reset on return and the pre-ping are bounded, and a connection whose reset timed out is
// closed, never kept. And no commit reports `Ok` when the server rolled back.

use common::proxy::Proxy;
use millpond::postgres::DEFAULT_RESET_TIMEOUT;

/// A plain-TCP manager whose connections go through `proxy` and carry `tag`.
fn proxied(proxy: &Proxy, tag: &str) -> PostgresManager {
    PostgresManager::from_url(&format!(
        "postgres://postgres@127.0.0.1:{}/test?sslmode=disable",
        proxy.port()
    ))
    .unwrap()
    .application_name(tag)
}

#[test]
fn a_reset_on_a_silent_network_returns_within_reset_timeout_and_the_connection_is_closed() {
    let proxy = Proxy::start("127.0.0.1:5432");
    let reset = Duration::from_millis(400);
    let tag = tag("reset-silent");
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .pre_ping(false)
        .build(proxied(&proxy, &tag).reset_timeout(reset))
        .unwrap();
    assert_eq!(proxied(&proxy, &tag).get_reset_timeout(), DEFAULT_RESET_TIMEOUT);
    {
        // A healthy reset through the same path: the connection is kept.
        let mut conn = pool.get().unwrap();
        conn.batch_execute("BEGIN").unwrap();
    }
    assert_eq!(pool.stats().resets, 1);
    assert_eq!(
        pool.state().idle,
        1,
        "a reset that succeeded keeps the connection"
    );

    let mut conn = pool.get().unwrap();
    conn.batch_execute("BEGIN").unwrap();
    conn.query_one("SELECT 1", &[]).unwrap();
    assert_eq!(proxy.connections().len(), 1);
    proxy.freeze();
    let started = Instant::now();
    drop(conn);
    let took = started.elapsed();
    println!("drop with a transaction open on a silent network: {took:?} (reset_timeout {reset:?})");
    assert!(
        took >= reset && took < reset + Duration::from_millis(100),
        "the borrower's drop took {took:?}"
    );
    // Closed, not kept, and the close itself did not wait on the silent network.
    settle(&pool);
    let state = pool.state();
    assert_eq!((state.open, state.idle, state.in_use), (0, 0, 0), "{state:?}");
    let stats = pool.stats();
    assert_eq!((stats.resets, stats.reset_failures), (2, 1), "{stats:?}");

    // The connection is closed by the reset's own thread once the network answers again.
    proxy.thaw();
    assert!(
        proxy.wait_connections(Duration::from_secs(10), |n| n == 0),
        "the given-up connection was closed"
    );
    // And the pool opens a fresh one.
    let mut conn = pool.get().unwrap();
    conn.query_one("SELECT 1", &[]).unwrap();
}

#[test]
fn a_pre_ping_on_a_silent_network_returns_within_its_budget() {
    let proxy = Proxy::start("127.0.0.1:5432");
    let manager = proxied(&proxy, &tag("ping-silent"));
    let mut conn = manager.connect().unwrap();
    let budget = Duration::from_millis(300);
    manager.is_valid(&mut conn, budget).unwrap();
    proxy.freeze();
    let started = Instant::now();
    let err = manager.is_valid(&mut conn, budget).unwrap_err();
    let took = started.elapsed();
    println!("pre-ping on a silent network: {took:?}: {err}");
    assert!(took < budget + Duration::from_millis(100), "{took:?}");
    assert!(err.is_timeout(), "{err}");
    assert!(manager.has_broken(&mut conn));
    let started = Instant::now();
    drop(conn);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "closing a connection that still owes a reply does not wait for it"
    );
    proxy.thaw();
    assert!(proxy.wait_connections(Duration::from_secs(10), |n| n == 0));
}

/// A fresh table for one test, dropped by the caller.
fn commit_table(mon: &mut postgres::Client, test: &str) -> String {
    let table = format!("mp_commit_{test}_{}", std::process::id());
    mon.batch_execute(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int)"
    ))
    .unwrap();
    table
}

fn rows(mon: &mut postgres::Client, table: &str, id: i32) -> i64 {
    mon.query_one(&format!("SELECT count(*) FROM {table} WHERE id = $1"), &[&id])
        .unwrap()
        .get(0)
}

/// Whether `err` is the server's refusal in a failed transaction (25P02).
fn is_failed_transaction(err: &postgres::Error) -> bool {
    err.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION)
}

#[test]
fn every_commit_of_a_failed_transaction_is_an_error_and_writes_nothing() {
    let mut mon = monitor();
    let table = commit_table(&mut mon, "paths");
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .build(manager(&tag("commit-paths")))
        .unwrap();
    let insert = |id: i32| format!("INSERT INTO {table} VALUES ({id})");
    let mut conn = pool.get().unwrap();

    // After each failed commit the transaction is over: the connection works on, idle.
    let after = |conn: &mut PgConnection, path: &str| {
        assert_eq!(conn.transaction_state(), TransactionState::Idle, "{path}");
        conn.query_one("SELECT 1", &[])
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    };

    // 1. The transaction object.
    let mut tx = conn.transaction().unwrap();
    tx.execute(&insert(1), &[]).unwrap();
    assert!(tx.query_one("SELECT 1 / 0", &[]).is_err());
    let err = tx.commit().unwrap_err();
    assert!(is_failed_transaction(&err), "{err}");
    after(&mut conn, "transaction().commit()");

    // 2. The transaction builder.
    let mut tx = conn.build_transaction().read_only(false).start().unwrap();
    tx.execute(&insert(2), &[]).unwrap();
    assert!(tx.batch_execute("SELECT 1 / 0").is_err());
    let err = tx.commit().unwrap_err();
    assert!(is_failed_transaction(&err), "{err}");
    after(&mut conn, "build_transaction().start().commit()");

    // 3. COMMIT or END as text, through each method that sends text; and as a prepared
    //    statement.
    type Commit<'a> = &'a dyn Fn(&mut PgConnection) -> Result<(), postgres::Error>;
    let commit_statement = conn.prepare("COMMIT").unwrap();
    let paths: [(&str, Commit<'_>); 7] = [
        ("batch_execute(COMMIT)", &|c| c.batch_execute("COMMIT")),
        ("batch_execute(end; select)", &|c| {
            c.batch_execute("end; SELECT 1")
        }),
        ("execute(COMMIT)", &|c| c.execute("COMMIT", &[]).map(drop)),
        ("query(COMMIT)", &|c| c.query("commit", &[]).map(drop)),
        ("simple_query(END)", &|c| c.simple_query("END").map(drop)),
        ("execute(prepared COMMIT)", &|c| {
            c.execute(&commit_statement, &[]).map(drop)
        }),
        ("query_typed(COMMIT)", &|c| c.query_typed("COMMIT", &[]).map(drop)),
    ];
    for (id, (path, commit)) in (3..).zip(paths) {
        conn.batch_execute("BEGIN").unwrap();
        conn.execute(&insert(id), &[]).unwrap();
        assert!(conn.execute("SELECT 1 / 0", &[]).is_err());
        let err = commit(&mut conn).expect_err(path);
        assert!(is_failed_transaction(&err), "{path}: {err}");
        after(&mut conn, path);
        assert_eq!(rows(&mut mon, &table, id), 0, "{path}");
    }

    // 4. COMMIT sent as text through the transaction object.
    let mut tx = conn.transaction().unwrap();
    tx.execute(&insert(20), &[]).unwrap();
    assert!(tx.execute("SELECT 1 / 0", &[]).is_err());
    let err = tx.batch_execute("COMMIT").unwrap_err();
    assert!(is_failed_transaction(&err), "{err}");
    drop(tx);
    after(&mut conn, "transaction().batch_execute(COMMIT)");

    // 5. A savepoint's commit in a failed transaction, then the outer commit.
    let mut tx = conn.transaction().unwrap();
    tx.execute(&insert(21), &[]).unwrap();
    let mut inner = tx.transaction().unwrap();
    assert!(inner.execute("SELECT 1 / 0", &[]).is_err());
    assert!(is_failed_transaction(&inner.commit().unwrap_err()));
    let err = tx.commit().unwrap_err();
    assert!(is_failed_transaction(&err), "{err}");
    after(&mut conn, "savepoint then commit");

    for id in [1, 2, 20, 21] {
        assert_eq!(rows(&mut mon, &table, id), 0, "row {id}");
    }

    // Healthy transactions still commit, through every path, in as many round trips as before
    // for the transaction object.
    let mut tx = conn.transaction().unwrap();
    tx.execute(&insert(100), &[]).unwrap();
    tx.commit().unwrap();
    let mut tx = conn.transaction().unwrap();
    tx.execute(&insert(101), &[]).unwrap();
    let mut inner = tx.savepoint("kept").unwrap();
    inner.execute(&insert(102), &[]).unwrap();
    inner.commit().unwrap();
    tx.commit().unwrap();
    for (id, commit) in [(103, "COMMIT"), (104, "END")] {
        conn.batch_execute("BEGIN").unwrap();
        conn.execute(&insert(id), &[]).unwrap();
        conn.batch_execute(commit).unwrap();
    }
    conn.batch_execute("BEGIN").unwrap();
    conn.execute(&insert(105), &[]).unwrap();
    conn.execute(&commit_statement, &[]).unwrap();
    // A savepoint rolled back mends the transaction: its commit is a commit.
    conn.batch_execute("BEGIN; SAVEPOINT a").unwrap();
    conn.execute(&insert(106), &[]).unwrap();
    conn.batch_execute("RELEASE a; SAVEPOINT b").unwrap();
    assert!(conn.execute("SELECT 1 / 0", &[]).is_err());
    conn.batch_execute("ROLLBACK TO SAVEPOINT b; COMMIT").unwrap();
    for id in 100..=106 {
        assert_eq!(rows(&mut mon, &table, id), 1, "row {id}");
    }
    assert_eq!(conn.transaction_state(), TransactionState::Idle);
    drop(conn);
    assert_eq!(
        pool.stats().resets,
        0,
        "every transaction was ended by its borrower"
    );
    mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn a_session_commit_of_a_failed_transaction_is_an_error_and_writes_nothing() {
    let mut mon = monitor();
    let table = commit_table(&mut mon, "session");
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .build(manager(&tag("commit-session")))
        .unwrap();
    let mut session = pool.session();
    let mut tx = session.transaction().unwrap();
    tx.execute(&format!("INSERT INTO {table} VALUES (1)")).unwrap();
    assert!(tx.execute("SELECT 1 / 0").is_err());
    assert!(tx.commit().is_err());
    let mut tx = session.transaction().unwrap();
    tx.execute(&format!("INSERT INTO {table} VALUES (2)")).unwrap();
    assert!(tx.execute("SELECT 1 / 0").is_err());
    assert!(tx.execute("COMMIT").is_err(), "COMMIT as text in a session");
    drop(tx);
    assert_eq!(rows(&mut mon, &table, 1) + rows(&mut mon, &table, 2), 0);
    let mut tx = session.transaction().unwrap();
    tx.execute(&format!("INSERT INTO {table} VALUES (3)")).unwrap();
    tx.commit().unwrap();
    assert_eq!(rows(&mut mon, &table, 3), 1);
    mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

#[test]
fn a_commit_on_return_of_a_failed_transaction_is_a_failed_reset_and_writes_nothing() {
    let mut mon = monitor();
    let table = commit_table(&mut mon, "onreturn");
    for (name, reset) in [
        ("commit", ResetOnReturn::Commit),
        ("statement", ResetOnReturn::Statement("COMMIT".to_owned())),
    ] {
        let pool = Pool::builder()
            .pool_size(1)
            .max_overflow(0)
            .reset_on_return(reset)
            .build(manager(&tag(&format!("commit-return-{name}"))))
            .unwrap();
        {
            let mut conn = pool.get().unwrap();
            conn.batch_execute("BEGIN").unwrap();
            conn.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
                .unwrap();
            assert!(conn.execute("SELECT 1 / 0", &[]).is_err());
        }
        let stats = pool.stats();
        assert_eq!((stats.resets, stats.reset_failures), (1, 1), "{name}: {stats:?}");
        settle(&pool);
        assert_eq!(pool.state().open, 0, "{name}: the connection is closed");
        assert_eq!(rows(&mut mon, &table, 1), 0, "{name}");
        {
            let mut conn = pool.get().unwrap();
            conn.batch_execute("BEGIN").unwrap();
            conn.execute(&format!("INSERT INTO {table} VALUES (2)"), &[])
                .unwrap();
        }
        assert_eq!(pool.stats().reset_failures, 1, "{name}");
        assert_eq!(rows(&mut mon, &table, 2), 1, "{name}: a healthy commit on return");
        mon.batch_execute(&format!("DELETE FROM {table}")).unwrap();
    }
    mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
}

/// A wrong password, printed as anyhow's `{:#}` prints a chain, names the server's refusal
/// once: the pool's message, `PostgresError`'s context, the driver's "db error" and the server's
/// own words each appear once, through a session too; the chain still reaches the driver's error.
#[test]
fn a_wrong_password_prints_each_message_once() {
    let server = Postgres::start();
    let url = format!("{}?sslmode=disable", server.password_url("wrong-horse"));
    let pool = Pool::builder()
        .timeout(Duration::from_secs(10))
        .build_unchecked(PostgresManager::from_url(&url).unwrap())
        .unwrap();
    let err = pool.get().unwrap_err();
    let printed = common::assert_prints_once(&err);
    println!("{printed}");
    assert!(
        printed.starts_with(&format!(
            "could not open a database connection: connecting to millpond_pw@127.0.0.1:{}/test",
            server.port()
        )),
        "{printed}"
    );
    assert!(
        printed.contains(r#"password authentication failed for user "millpond_pw""#),
        "{printed}"
    );
    assert!(!printed.contains("wrong-horse"), "the password leaked: {printed}");
    // The chain goes through the backend's error to the driver's, for downcasting.
    let pg = std::error::Error::source(&err).expect("the backend's error");
    let pg = pg.downcast_ref::<PostgresError>().expect("a PostgresError");
    assert_eq!(pg.code(), Some(&SqlState::INVALID_PASSWORD));
    let driver = std::error::Error::source(pg).expect("the driver's error");
    assert!(driver.downcast_ref::<postgres::Error>().is_some(), "{driver:?}");
    // What the pool keeps as the last connect error has the server's words too.
    let last = pool.last_connect_error().unwrap();
    assert!(last.contains("password authentication failed"), "{last}");

    // Through a session: one more level, each message still once.
    let err = pool.session().execute("SELECT 1").unwrap_err();
    let printed = common::assert_prints_once(&err);
    assert!(
        printed.starts_with("no connection for the session: could not open a database connection: "),
        "{printed}"
    );
    assert!(printed.contains("password authentication failed"), "{printed}");
}

/// The statements the server holds for this connection (`pg_prepared_statements`), asked
/// through the simple protocol, which prepares nothing.
fn prepared_on_server(conn: &mut PgConnection) -> Vec<String> {
    let mut statements: Vec<String> = conn
        .simple_query("SELECT statement FROM pg_prepared_statements")
        .unwrap()
        .into_iter()
        .filter_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    statements.sort();
    statements
}

#[test]
fn sql_text_is_prepared_once_per_connection_and_the_least_recently_used_goes_first() {
    let tag = tag("stmt-cache");
    let pool = Pool::builder()
        .pool_size(1)
        .build(manager(&tag).statement_cache_capacity(2))
        .unwrap();
    let mut conn = pool.get().unwrap();
    let (a, b, c) = ("SELECT $1::int + 1", "SELECT $1::int + 2", "SELECT $1::int + 3");
    for i in 0..3 {
        let row = conn.query_one(a, &[&i]).unwrap();
        assert_eq!(row.get::<_, i32>(0), i + 1);
    }
    assert_eq!(prepared_on_server(&mut conn), [a], "prepared once, kept");
    assert_eq!(conn.cached_statements(), 1);

    // Through every method that takes SQL text.
    assert_eq!(conn.execute(b, &[&0]).unwrap(), 1);
    assert_eq!(conn.query(b, &[&1]).unwrap()[0].get::<_, i32>(0), 3);
    assert_eq!(conn.query_opt(b, &[&2]).unwrap().unwrap().get::<_, i32>(0), 4);
    let rows: Vec<i32> = {
        use postgres::fallible_iterator::FallibleIterator;
        conn.query_raw(b, [5])
            .unwrap()
            .map(|row| row.try_get(0))
            .collect()
            .unwrap()
    };
    assert_eq!(rows, [7]);
    assert_eq!(prepared_on_server(&mut conn), [a, b]);

    // Full: `a` was used before `b`, so `a` goes.
    assert_eq!(conn.query_one(c, &[&0]).unwrap().get::<_, i32>(0), 3);
    assert_eq!(
        prepared_on_server(&mut conn),
        [b, c],
        "the least recently used is closed"
    );
    assert_eq!(conn.cached_statements(), 2);
    // A transaction uses the same statements.
    let mut tx = conn.transaction().unwrap();
    assert_eq!(tx.query_one(b, &[&0]).unwrap().get::<_, i32>(0), 2);
    tx.commit().unwrap();
    assert_eq!(prepared_on_server(&mut conn), [b, c]);
    drop(conn);

    // The connection keeps them across checkouts; a clean return costs no reset.
    let mut conn = pool.get().unwrap();
    assert_eq!(prepared_on_server(&mut conn), [b, c]);
    assert_eq!(pool.stats().resets, 0, "{:?}", pool.stats());
}

#[test]
fn with_the_cache_off_nothing_is_kept() {
    let tag = tag("stmt-cache-off");
    let pool = Pool::builder()
        .pool_size(1)
        .build(manager(&tag).statement_cache_capacity(0))
        .unwrap();
    let mut conn = pool.get().unwrap();
    for i in 0..3 {
        assert_eq!(
            conn.query_one("SELECT $1::int", &[&i]).unwrap().get::<_, i32>(0),
            i
        );
    }
    assert_eq!(conn.cached_statements(), 0);
    assert!(prepared_on_server(&mut conn).is_empty());
}

#[test]
fn a_stale_statement_is_prepared_again_outside_a_transaction_and_an_error_inside_one() {
    let tag = tag("stmt-stale");
    let pool = Pool::builder().pool_size(1).build(manager(&tag)).unwrap();
    let mut conn = pool.get().unwrap();
    conn.batch_execute("CREATE TEMP TABLE stale (a int); INSERT INTO stale VALUES (1)")
        .unwrap();
    let select = "SELECT * FROM stale";
    assert_eq!(conn.query(select, &[]).unwrap()[0].len(), 1);
    conn.batch_execute("ALTER TABLE stale ADD COLUMN b text").unwrap();
    // The kept plan returns one column; the server refuses it (0A000), and outside a
    // transaction it is prepared again and run once more.
    let rows = conn.query(select, &[]).expect("prepared again");
    assert_eq!(rows[0].len(), 2);
    assert_eq!(conn.transaction_state(), TransactionState::Idle);

    // Inside a transaction the error stands, and the statement is forgotten.
    let mut tx = conn.transaction().unwrap();
    tx.batch_execute("ALTER TABLE stale ADD COLUMN c text").unwrap();
    let err = tx.query(select, &[]).unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED), "{err}");
    drop(tx);
    assert_eq!(
        conn.query(select, &[]).unwrap()[0].len(),
        2,
        "rolled back, prepared afresh"
    );
}

#[test]
fn a_statement_dropped_on_the_server_is_prepared_again() {
    let tag = tag("stmt-gone");
    let pool = Pool::builder().pool_size(1).build(manager(&tag)).unwrap();
    let mut conn = pool.get().unwrap();
    let sql = "SELECT $1::text";
    assert_eq!(conn.query_one(sql, &[&"x"]).unwrap().get::<_, String>(0), "x");
    // Seen: the cache is emptied before it runs.
    conn.batch_execute("DEALLOCATE ALL").unwrap();
    assert_eq!(conn.cached_statements(), 0);
    assert_eq!(conn.query_one(sql, &[&"y"]).unwrap().get::<_, String>(0), "y");
    // Unseen (inside a function): the server says 26000, and the statement is prepared again.
    conn.batch_execute("DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$")
        .unwrap();
    assert_eq!(conn.cached_statements(), 1, "the cache cannot know");
    assert_eq!(conn.query_one(sql, &[&"z"]).unwrap().get::<_, String>(0), "z");
    assert_eq!(prepared_on_server(&mut conn), [sql]);
}

#[test]
fn a_session_stream_prepares_its_fetch_once_per_connection() {
    let tag = tag("stmt-fetch");
    let pool = Pool::builder().pool_size(1).build(manager(&tag)).unwrap();
    let session = millpond::Session::new(&pool);
    for _ in 0..3 {
        let n = session
            .stream("SELECT generate_series(1, 250)")
            .unwrap()
            .map(Result::unwrap)
            .count();
        assert_eq!(n, 250);
    }
    let mut conn = pool.get().unwrap();
    assert_eq!(
        prepared_on_server(&mut conn).len(),
        1,
        "{:?}",
        prepared_on_server(&mut conn)
    );
}

/// A manager as for PgBouncer's transaction mode, against the server itself: what it sends can
/// be watched on one server session, which PgBouncer would hide.
fn unnamed_manager(tag: &str) -> PostgresManager {
    manager(tag).pgbouncer(true)
}

#[test]
fn with_pgbouncer_true_sql_text_runs_unnamed_and_no_statement_is_left_on_the_server() {
    use postgres::fallible_iterator::FallibleIterator;
    let tag = tag("unnamed");
    let pool = Pool::builder().pool_size(1).build(unnamed_manager(&tag)).unwrap();
    let mut conn = pool.get().unwrap();
    let (add, concat) = ("SELECT $1::int + 1", "SELECT $1::text || $2::text");
    for i in 0..3 {
        assert_eq!(conn.query_one(add, &[&i]).unwrap().get::<_, i32>(0), i + 1);
    }
    assert_eq!(conn.execute(add, &[&5]).unwrap(), 1);
    assert_eq!(conn.query(add, &[&6]).unwrap()[0].get::<_, i32>(0), 7);
    assert_eq!(conn.query_opt(add, &[&7]).unwrap().unwrap().get::<_, i32>(0), 8);
    let raw: Vec<i32> = conn
        .query_raw(add, [8])
        .unwrap()
        .map(|row| row.try_get(0))
        .collect()
        .unwrap();
    assert_eq!(raw, [9]);
    let row = conn.query_one(concat, &[&"a", &"b"]).unwrap();
    assert_eq!(row.get::<_, String>(0), "ab");
    assert_eq!(
        conn.query_typed_one("SELECT $1::int8 * 2", &[(&21_i64, postgres::types::Type::INT8)])
            .unwrap()
            .get::<_, i64>(0),
        42
    );
    assert!(
        prepared_on_server(&mut conn).is_empty(),
        "no statement outlives its use"
    );
    // The parameter types of each text are kept, not statements.
    assert_eq!(conn.cached_statements(), 3);

    // In a transaction: the types are learned inside it; nothing is left after it.
    let mut tx = conn.transaction().unwrap();
    assert_eq!(
        tx.query_one("SELECT $1::int * 3", &[&3])
            .unwrap()
            .get::<_, i32>(0),
        9
    );
    let raw: Vec<i32> = tx
        .query_raw(add, [1])
        .unwrap()
        .map(|row| row.try_get(0))
        .collect()
        .unwrap();
    assert_eq!(raw, [2]);
    tx.commit().unwrap();
    assert!(prepared_on_server(&mut conn).is_empty());
    assert_eq!(conn.transaction_state(), TransactionState::Idle);

    // The server's own checks stand: a parameter too many, a wrong Rust type.
    let err = conn.query_one(add, &[&1, &2]).unwrap_err();
    assert!(
        err.to_string().contains("error serializing parameter 1") || err.code().is_some(),
        "{err}"
    );
    let err = conn.query_one(add, &[&"1"]).unwrap_err();
    assert!(err.to_string().contains("error serializing parameter 0"), "{err}");
    let err = conn.query_one("SELECT $1::int + $2::int", &[&1]).unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::PROTOCOL_VIOLATION), "{err}");
    assert!(prepared_on_server(&mut conn).is_empty());

    // The kept types go stale when a column changes type; the next run learns them again.
    conn.batch_execute("CREATE TEMP TABLE retyped (a int); INSERT INTO retyped VALUES (1)")
        .unwrap();
    let by_a = "SELECT count(*) FROM retyped WHERE a = $1";
    assert_eq!(conn.query_one(by_a, &[&1]).unwrap().get::<_, i64>(0), 1);
    conn.batch_execute("ALTER TABLE retyped ALTER a TYPE text")
        .unwrap();
    conn.query_one(by_a, &[&"1"])
        .expect_err("a text value for the int the kept types declare");
    assert_eq!(
        conn.query_one(by_a, &[&"1"]).unwrap().get::<_, i64>(0),
        1,
        "learned again"
    );
    drop(conn);

    // Sessions: statements and a stream, whose fetches are unnamed too.
    let session = pool.session();
    let counted: Vec<i32> = session
        .stream("SELECT g FROM generate_series(1, 600) g")
        .unwrap()
        .map(|row| row.unwrap().get::<_, i32>(0))
        .collect();
    assert_eq!(counted.len(), 600);
    assert_eq!(counted.iter().sum::<i32>(), 600 * 601 / 2);
    let left = session
        .run(|conn| Ok::<_, postgres::Error>(prepared_on_server(conn)))
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(
        pool.stats().resets,
        0,
        "clean returns cost nothing: {:?}",
        pool.stats()
    );
}

#[test]
fn with_pgbouncer_true_a_type_the_driver_looks_up_retires_the_connection_and_leaves_nothing() {
    let tag = tag("unnamed-enum");
    let mood = format!("mood_{}", std::process::id());
    let mut mon = monitor();
    mon.batch_execute(&format!(
        "DROP TYPE IF EXISTS {mood}; CREATE TYPE {mood} AS ENUM ('sad', 'ok')"
    ))
    .unwrap();
    let pool = Pool::builder().pool_size(1).build(unnamed_manager(&tag)).unwrap();
    let mut conn = pool.get().unwrap();
    let first_pid = pid_of(&mut conn);
    let row = conn
        .query_one(&format!("SELECT 'ok'::{mood}::text, $1::int"), &[&1])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ok");
    assert!(!conn.is_broken(), "text casts keep the connection pooled");
    // A column of the enum type itself: the driver looks the type up.
    let rows = conn
        .simple_query(&format!("SELECT 1 FROM pg_type WHERE typname = '{mood}'"))
        .unwrap();
    assert!(rows.len() > 1, "the type exists");
    let row = conn.query_one(&format!("SELECT 'sad'::{mood}"), &[]).unwrap();
    assert_eq!(row.columns()[0].type_().name(), mood);
    assert!(
        prepared_on_server(&mut conn).is_empty(),
        "the driver's lookups are dropped"
    );
    assert!(conn.is_broken(), "the connection is not pooled again");
    drop(conn);
    let mut conn = pool.get().unwrap();
    assert_ne!(pid_of(&mut conn), first_pid, "a new connection");
    drop(conn);
    drop(pool);
    mon.batch_execute(&format!("DROP TYPE {mood}")).unwrap();
}

#[test]
fn with_pgbouncer_true_init_options_and_a_reset_statement_are_refused_with_what_to_do() {
    let err =
        PostgresManager::from_url(&format!("{URL}?pgbouncer=true&options=-c%20work_mem%3D64MB")).unwrap_err();
    assert!(
        err.message.contains("options") && err.message.contains("ALTER ROLE"),
        "{err}"
    );
    let err = PostgresManager::from_url(&format!("{URL}?pgbouncer=maybe")).unwrap_err();
    assert!(err.message.contains("true or false"), "{err}");
    assert!(
        PostgresManager::from_url(&format!("{URL}?pgbouncer=true"))
            .unwrap()
            .get_pgbouncer()
    );

    let err = Pool::builder()
        .build_unchecked(unnamed_manager("x").init("SET statement_timeout = '5s'"))
        .unwrap_err();
    let printed = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        printed.contains("SET LOCAL") && printed.contains("init"),
        "{printed}"
    );
    // The order of the setters does not matter: the check is at build.
    let err = Pool::builder()
        .build_unchecked(manager("x").init("SET x = 1").pgbouncer(true))
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");

    let err = Pool::builder()
        .reset_on_return(ResetOnReturn::Statement("DISCARD ALL".into()))
        .build_unchecked(unnamed_manager("x"))
        .unwrap_err();
    assert!(err.to_string().contains("reset_on_return"), "{err}");
    // Without pgbouncer the same settings build.
    Pool::builder()
        .reset_on_return(ResetOnReturn::Statement("DISCARD ALL".into()))
        .build_unchecked(manager("x").init("SET x = 1"))
        .unwrap();
}

/// What `SHOW statement_timeout` says on `conn`.
fn statement_timeout(conn: &mut PgConnection) -> String {
    conn.query_one("SHOW statement_timeout", &[]).unwrap().get(0)
}

/// The hooks on real sessions: `after_connect` sets every new session up, `before_checkout`
/// refuses a connection used three times (it is closed on the server and the checkout gets a
/// new one), `after_checkin` asks the server whether a borrower changed the session and closes
/// it if so.
#[test]
fn hooks_set_sessions_up_and_judge_them_on_the_server() {
    let tag = tag("hooks");
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(0)
        .timeout(Duration::from_secs(10))
        .after_connect(|conn: &mut PgConnection| {
            conn.batch_execute("SET statement_timeout = '4321ms'")?;
            Ok(())
        })
        .before_checkout(|_conn: &mut PgConnection, info| {
            if info.uses >= 3 {
                return Err(format!("used {} times", info.uses).into());
            }
            Ok(())
        })
        .after_checkin(|conn: &mut PgConnection, _| {
            conn.query_one("SHOW statement_timeout", &[])
                .is_ok_and(|row| row.get::<_, String>(0) == "4321ms")
        })
        .build(manager(&tag))
        .unwrap();
    let mut mon = monitor();

    let mut conn = pool.get().unwrap();
    assert_eq!(statement_timeout(&mut conn), "4321ms");
    let first = pid_of(&mut conn);
    drop(conn);
    for _ in 0..2 {
        assert_eq!(pid_of(&mut pool.get().unwrap()), first);
    }
    // Its fourth checkout: refused, closed, replaced within the same call.
    let mut conn = pool.get().unwrap();
    let second = pid_of(&mut conn);
    assert_ne!(second, first);
    assert_eq!(statement_timeout(&mut conn), "4321ms");
    assert!(
        eventually(Duration::from_secs(5), || count_tagged(&mut mon, &tag) == 1),
        "the refused connection was closed on the server"
    );

    // A borrower changes the session: the connection does not come back.
    conn.batch_execute("SET statement_timeout = 0").unwrap();
    drop(conn);
    settle(&pool);
    assert!(eventually(Duration::from_secs(5), || count_tagged(
        &mut mon, &tag
    ) == 0));
    assert_eq!(pool.stats().discarded, 2);
    assert_eq!(pool.state().open, 0);
}

/// The classifier on a real server's errors: a terminated backend is a lost server by the
/// backend's rules, which invalidates the pool and replaces every connection; classified
/// `Broken`, only the terminated one goes, and the other idle connection is kept.
#[test]
fn a_classifier_can_keep_one_terminated_backend_from_invalidating_the_pool() {
    for classified in [false, true] {
        let tag = tag(if classified { "classified" } else { "unclassified" });
        let invalidations = Invalidations::default();
        let mut builder = Pool::builder()
            .pool_size(2)
            .max_overflow(0)
            .pre_ping(true)
            .pre_ping_bypass(Duration::ZERO)
            .lifo(true)
            .timeout(Duration::from_secs(10))
            .event_handler(invalidations.clone());
        if classified {
            builder = builder.classify_errors(|err: &PostgresError| {
                if err.is_lost_server() {
                    ErrorClass::Broken
                } else {
                    ErrorClass::Backend
                }
            });
        }
        let pool = builder.build(manager(&tag)).unwrap();
        let (mut a, mut b) = (pool.get().unwrap(), pool.get().unwrap());
        let (pid_a, pid_b) = (pid_of(&mut a), pid_of(&mut b));
        drop(b);
        drop(a);
        // This thread gave `a` back last: its next checkout pings `a` first.
        let mut mon = monitor();
        mon.query_one("SELECT pg_terminate_backend($1, 5000)", &[&pid_a])
            .unwrap();
        let mut conn = pool.get().unwrap();
        let pid = pid_of(&mut conn);
        assert_ne!(pid, pid_a, "the terminated backend failed its ping");
        drop(conn);
        settle(&pool);
        let seen = invalidations.0.lock().unwrap().clone();
        if classified {
            assert_eq!(seen, [], "classified Broken: no invalidation");
            assert_eq!(pid, pid_b, "the other idle connection was kept and served");
        } else {
            assert_eq!(seen.len(), 1, "{seen:?}");
            assert_ne!(pid, pid_b, "invalidated: the other connection was replaced too");
        }
    }
}

/// `resize` and `suspend` on a real server: a smaller pool closes its surplus sessions on the
/// server; a suspended pool makes checkouts wait, and times them out by their deadline; a
/// larger one opens a session for a waiter at once.
#[test]
fn resize_and_suspend_act_on_the_servers_sessions() {
    let tag = tag("resize");
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(0)
        .timeout(Duration::from_secs(10))
        .build(manager(&tag))
        .unwrap();
    let mut mon = monitor();
    drop((0..4).map(|_| pool.get().unwrap()).collect::<Vec<_>>());
    settle(&pool);
    assert_eq!(count_tagged(&mut mon, &tag), 4);

    pool.resize(1, 0).unwrap();
    assert!(eventually(Duration::from_secs(5), || count_tagged(
        &mut mon, &tag
    ) == 1));

    pool.suspend();
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let err = pool.get_timeout(timeout).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
        "{elapsed:?}"
    );
    assert!(
        matches!(&err, Error::Timeout(details) if details.suspended),
        "{err:?}"
    );
    pool.resume();

    let mut held = pool.get().unwrap();
    let held_pid = pid_of(&mut held);
    thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let mut conn = pool.get().unwrap();
            let one: i32 = conn.query_one("SELECT 1", &[]).unwrap().get(0);
            (pid_of(&mut conn), one)
        });
        assert!(eventually(Duration::from_secs(5), || pool.state().waiting == 1));
        pool.resize(2, 0).unwrap();
        let (pid, one) = waiter.join().unwrap();
        assert_ne!(pid, held_pid, "a new session, for the waiter");
        assert_eq!(one, 1);
    });
    drop(held);
    settle(&pool);
    assert_eq!(count_tagged(&mut mon, &tag), 2);
}

/// Credentials rotation on a server of the test's own: the pool's connections log in with what
/// the provider gives at each connect. The role's password changes on the server: connections
/// already open keep working, a new connect with the old password fails (with the server's own
/// words and no password in them), and once the provider gives the new one, new connections
/// log in; invalidated, the old ones are replaced by connections that work. No new pool.
#[test]
fn credentials_rotate_without_a_new_pool() {
    use common::throwaway::{PG_PASSWORD, PG_PASSWORD_ROLE};
    use millpond::postgres::Credentials;

    const ROTATED: &str = "rotated-Pa55-word";
    let server = Postgres::start();
    let current = Arc::new(Mutex::new(PG_PASSWORD.to_owned()));
    let asked = Arc::new(AtomicUsize::new(0));
    let manager = PostgresManager::from_url(&format!(
        "postgres://{PG_PASSWORD_ROLE}@127.0.0.1:{}/test?sslmode=disable",
        server.port()
    ))
    .unwrap()
    .application_name("mp-rotation")
    .credentials_provider({
        let (current, asked) = (Arc::clone(&current), Arc::clone(&asked));
        move || {
            asked.fetch_add(1, SeqCst);
            Ok(Credentials::password(current.lock().unwrap().clone()))
        }
    });
    let shown = format!("{manager:?}");
    assert!(shown.contains("credentials_provider: true"), "{shown}");
    assert!(!shown.contains(PG_PASSWORD), "{shown}");
    let pool = Pool::builder()
        .pool_size(3)
        .max_overflow(0)
        .timeout(Duration::from_secs(10))
        .build(manager)
        .unwrap();
    let query = |conn: &mut PgConnection| -> String {
        conn.query_one("SELECT current_user::text", &[]).unwrap().get(0)
    };
    let mut old = pool.get().unwrap();
    let mut idle = pool.get().unwrap();
    assert_eq!(query(&mut old), PG_PASSWORD_ROLE);
    let idle_pid = pid_of(&mut idle);
    drop(idle);
    assert_eq!(asked.load(SeqCst), 2, "asked once per connect");

    let mut admin = server.client();
    admin
        .batch_execute(&format!("ALTER ROLE {PG_PASSWORD_ROLE} PASSWORD '{ROTATED}'"))
        .unwrap();

    // Open connections are not affected by the change; a new one with the old password fails.
    assert_eq!(query(&mut old), PG_PASSWORD_ROLE);
    let third = pool.get().unwrap(); // the idle one, opened before
    let mut third = third;
    assert_eq!(pid_of(&mut third), idle_pid);
    let err = pool.get().unwrap_err();
    let message = common::chain(&err);
    assert!(
        message.contains(&format!(
            r#"password authentication failed for user "{PG_PASSWORD_ROLE}""#
        )),
        "{message}"
    );
    assert!(
        !message.contains(PG_PASSWORD) && !message.contains(ROTATED),
        "{message}"
    );

    // The provider gives the new password: new connections log in, old ones keep working.
    *current.lock().unwrap() = ROTATED.to_owned();
    let mut fresh = pool.get().unwrap();
    assert_eq!(query(&mut fresh), PG_PASSWORD_ROLE);
    assert_eq!(query(&mut old), PG_PASSWORD_ROLE);
    assert_eq!(query(&mut third), PG_PASSWORD_ROLE);
    let fresh_pid = pid_of(&mut fresh);
    let old_pids = [pid_of(&mut old), pid_of(&mut third)];
    drop((old, third, fresh));
    settle(&pool);

    // Replaced when next touched: every connection now logs in with the new password.
    pool.invalidate();
    let mut all: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    for conn in &mut all {
        assert_eq!(query(conn), PG_PASSWORD_ROLE);
        let pid = pid_of(conn);
        assert!(
            !old_pids.contains(&pid) && pid != fresh_pid,
            "{pid} was opened before"
        );
    }
    drop(all);
    assert_eq!(pool.stats().connect_errors, 1);

    // A provider that fails fails the connect, saying so, with its own error as the cause.
    let failing = PostgresManager::from_url(&format!(
        "postgres://{PG_PASSWORD_ROLE}@127.0.0.1:{}/test?sslmode=disable",
        server.port()
    ))
    .unwrap()
    .credentials_provider(|| Err("vault is sealed".into()));
    let pool = Pool::builder().build(failing).unwrap();
    let err = pool.get().unwrap_err();
    assert_eq!(
        common::assert_prints_once(&err),
        format!(
            "could not open a database connection: connecting to {PG_PASSWORD_ROLE}@127.0.0.1:{}/test: the credentials provider failed: vault is sealed",
            server.port()
        )
    );
}
