//! The MySQL backend against a real MariaDB or MySQL server (default
//! `mysql://root@127.0.0.1:3306/test`; set `MILLPOND_MYSQL_URL` to use another one, with a user
//! that may create databases and kill its own sessions). These tests fail, never skip, when the
//! server is down. The test that creates users runs on a throwaway MariaDB of its own.
//!
//! The pool's connections are found on the server by their default database: each test that
//! counts or kills sessions connects to a database of its own (`millpond_cap`, …), and counts
//! `information_schema.processlist` rows with that `DB`. (Connection attributes would be the
//! natural tag, but MariaDB shows them only with `performance_schema` on, which it is not by
//! default.)
//!
//! An unresponsive server is played by a proxy in this file that forwards to the real server and
//! can be frozen (it stops forwarding, holding whatever arrives), and by a listener that accepts
//! and never answers.
#![cfg(feature = "mysql")]

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::throwaway::MariaDb;
use common::{eventually, settle};
use millpond::mysql::{MySqlConnection, MySqlManager, Queryable, TxOpts};
use millpond::{Error, ManageConnection, Pool, ResetAction, TransactionState};

fn base_url() -> String {
    std::env::var("MILLPOND_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// The server URL with another default database (the tag of a test's sessions).
fn url_with_db(db: &str) -> String {
    let base = base_url();
    let (location, query) = base.split_once('?').unwrap_or((&base, ""));
    let (server, _db) = location.rsplit_once('/').expect("the URL names a database");
    if query.is_empty() {
        format!("{server}/{db}")
    } else {
        format!("{server}/{db}?{query}")
    }
}

/// The server's host and port, for the proxy.
fn server_addr() -> String {
    let manager = MySqlManager::from_url(&base_url()).unwrap();
    format!(
        "{}:{}",
        manager.opts().get_ip_or_hostname(),
        manager.opts().get_tcp_port()
    )
}

/// A connection outside any pool, for setting up and watching. Panics (the test fails) when the
/// server is down.
fn admin() -> MySqlConnection {
    MySqlManager::from_url(&base_url())
        .unwrap()
        .connect()
        .unwrap_or_else(|err| panic!("the MySQL server at {} is not reachable: {err}", base_url()))
}

/// A database of the test's own, whose name tags its sessions.
fn tagged_manager(db: &str) -> MySqlManager {
    admin()
        .query_drop(format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .unwrap();
    MySqlManager::from_url(&url_with_db(db)).unwrap()
}

fn sessions_in(admin: &mut MySqlConnection, db: &str) -> usize {
    let n: Option<i64> = admin
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?",
            (db,),
        )
        .unwrap();
    n.unwrap() as usize
}

fn session_ids_in(admin: &mut MySqlConnection, db: &str) -> HashSet<u64> {
    admin
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?",
            (db,),
        )
        .unwrap()
        .into_iter()
        .collect()
}

/// A session status counter of this connection (`Questions`, `Com_rollback`, …).
fn session_status(conn: &mut MySqlConnection, name: &str) -> u64 {
    let row: Option<(String, String)> = conn
        .query_first(format!("SHOW SESSION STATUS LIKE '{name}'"))
        .unwrap();
    row.unwrap().1.parse().unwrap()
}

fn scalar(conn: &mut MySqlConnection, sql: &str) -> Option<i64> {
    conn.query_first::<Option<i64>, _>(sql).unwrap().flatten()
}

#[test]
fn many_threads_share_a_pool_and_transactions_end_cleanly() {
    const THREADS: usize = 8;
    const ROUNDS: i64 = 40;
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(Some(2))
        .timeout(Duration::from_secs(20))
        .build(tagged_manager("millpond_basic"))
        .unwrap();
    {
        let mut conn = pool.get().unwrap();
        conn.query_drop("DROP TABLE IF EXISTS items").unwrap();
        conn.query_drop(
            "CREATE TABLE items (thread INT NOT NULL, n INT NOT NULL, PRIMARY KEY (thread, n)) ENGINE=InnoDB",
        )
        .unwrap();
    }
    common::together(THREADS, |thread| {
        let thread = thread as i64;
        for n in 0..ROUNDS {
            let mut conn = pool.get().unwrap();
            if n % 5 == 0 {
                let mut tx = conn.start_transaction(TxOpts::default()).unwrap();
                tx.exec_drop("INSERT INTO items VALUES (?, ?)", (thread, n))
                    .unwrap();
                tx.commit().unwrap();
            } else if n % 7 == 0 {
                // Dropped without a commit: rolled back at once.
                let mut tx = conn.start_transaction(TxOpts::default()).unwrap();
                tx.exec_drop("INSERT INTO items VALUES (?, ?)", (thread, n))
                    .unwrap();
                drop(tx);
                conn.exec_drop("INSERT INTO items VALUES (?, ?)", (thread, n))
                    .unwrap();
            } else {
                conn.exec_drop("INSERT INTO items VALUES (?, ?)", (thread, n))
                    .unwrap();
            }
            let mine: Option<i64> = conn
                .exec_first("SELECT COUNT(*) FROM items WHERE thread = ?", (thread,))
                .unwrap();
            assert_eq!(mine, Some(n + 1));
            assert_eq!(conn.transaction_state(), TransactionState::Idle);
        }
    });
    let mut conn = pool.get().unwrap();
    assert_eq!(
        scalar(&mut conn, "SELECT COUNT(*) FROM items"),
        Some(THREADS as i64 * ROUNDS)
    );
    conn.query_drop("DROP TABLE items").unwrap();
    drop(conn);
    let stats = pool.stats();
    assert!(stats.connects >= 1 && stats.connects <= 6, "{stats:?}");
    assert_eq!(stats.checkouts, (THREADS as u64) * (ROUNDS as u64) + 2);
    assert_eq!(
        stats.resets, 0,
        "every transaction ended before the connection came back: {stats:?}"
    );
    assert_eq!(
        stats.connect_errors + stats.broken + stats.ping_failures,
        0,
        "{stats:?}"
    );
}

#[test]
fn the_server_never_sees_more_than_pool_size_plus_max_overflow_sessions() {
    const DB: &str = "millpond_cap";
    const THREADS: usize = 32;
    const ROUNDS: usize = 25;
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(Some(4))
        .timeout(Duration::from_secs(20))
        .build(tagged_manager(DB))
        .unwrap();
    let mut monitor = admin();
    assert_eq!(sessions_in(&mut monitor, DB), 0, "sessions left over in {DB}");

    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = Arc::clone(&done);
        let pool = pool.clone();
        thread::spawn(move || {
            let (mut samples, mut most_seen, mut most_open) = (0usize, 0usize, 0usize);
            while !done.load(Ordering::SeqCst) {
                most_seen = most_seen.max(sessions_in(&mut monitor, DB));
                most_open = most_open.max(pool.state().open);
                samples += 1;
            }
            (samples, most_seen, most_open, monitor)
        })
    };
    common::together(THREADS, |_| {
        for _ in 0..ROUNDS {
            let mut conn = pool.get().unwrap();
            let slept: Option<i64> = conn.query_first("SELECT SLEEP(0.003)").unwrap();
            assert_eq!(slept, Some(0));
        }
    });
    done.store(true, Ordering::SeqCst);
    let (samples, most_seen, most_open, mut monitor) = watcher.join().unwrap();
    assert!(samples >= 10, "the monitor sampled only {samples} times");
    assert!(
        most_seen <= 8,
        "the server saw {most_seen} sessions of a pool of 4 + 4"
    );
    assert!(
        most_seen > 4,
        "the load never needed overflow (most seen {most_seen}): the test proves nothing"
    );
    assert!(most_open <= 8, "the pool counted {most_open} open");
    assert_eq!(pool.stats().checkouts, (THREADS * ROUNDS) as u64);

    // The tag counts exactly the pool's sessions: once the overflow has drained, the server
    // and the pool agree.
    settle(&pool);
    let open = pool.state().open;
    assert!(open <= 4, "{:?}", pool.state());
    assert!(
        eventually(Duration::from_secs(10), || sessions_in(&mut monitor, DB) == open),
        "the server lists {} sessions in {DB}, the pool has {open} open",
        sessions_in(&mut monitor, DB)
    );
}

#[test]
fn killed_sessions_are_replaced_and_the_pool_invalidated() {
    const DB: &str = "millpond_kill";
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(Some(0))
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .validation_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build(tagged_manager(DB))
        .unwrap();
    // Open four, give them back idle.
    let guards: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    let killed: HashSet<u64> = guards.iter().map(|c| u64::from(c.connection_id())).collect();
    drop(guards);
    let mut admin = admin();
    assert_eq!(session_ids_in(&mut admin, DB), killed);
    for id in &killed {
        admin.query_drop(format!("KILL CONNECTION {id}")).unwrap();
    }
    assert!(
        eventually(Duration::from_secs(10), || session_ids_in(&mut admin, DB)
            .is_empty()),
        "the killed sessions are still listed"
    );

    for round in 0..8 {
        let mut conn = pool
            .get()
            .unwrap_or_else(|err| panic!("checkout {round} after the kill failed: {err}"));
        assert_eq!(scalar(&mut conn, "SELECT 1"), Some(1));
        assert!(!killed.contains(&u64::from(conn.connection_id())));
    }
    settle(&pool);
    let stats = pool.stats();
    // The first checkout's ping met a killed session, which says the server was lost: the
    // pool was invalidated and the three other idle sessions closed without a ping each.
    assert_eq!(stats.ping_failures, 1, "{stats:?}");
    assert_eq!(stats.invalidated, 3, "{stats:?}");
    assert_eq!(stats.connects, 5, "{stats:?}");
    assert_eq!(sessions_in(&mut admin, DB), pool.state().open);
}

#[test]
fn a_session_killed_while_borrowed_is_marked_broken_and_closed_on_return() {
    const DB: &str = "millpond_kill_borrowed";
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .pre_ping(false)
        .build(tagged_manager(DB))
        .unwrap();
    let mut admin = admin();
    let mut conn = pool.get().unwrap();
    let id = conn.connection_id();
    admin.query_drop(format!("KILL CONNECTION {id}")).unwrap();
    assert!(eventually(Duration::from_secs(10), || sessions_in(
        &mut admin, DB
    ) == 0));
    let err = conn.query_drop("SELECT 1").unwrap_err();
    assert!(conn.is_broken(), "not marked broken after {err}");
    assert!(
        pool.manager().is_lost_server(&err),
        "{err} should mean a lost session"
    );
    drop(conn);
    settle(&pool);
    assert_eq!(pool.stats().broken, 1);
    // No pre-ping: only the broken flag kept the dead session from the next borrower.
    let mut conn = pool.get().unwrap();
    assert_ne!(conn.connection_id(), id);
    assert_eq!(scalar(&mut conn, "SELECT 1"), Some(1));
}

#[test]
fn an_open_transaction_is_rolled_back_before_the_next_borrower_and_a_clean_return_costs_nothing() {
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        // No pings: the server's statement counters then see only what the reset sends.
        .pre_ping(false)
        .build(tagged_manager("millpond_reset"))
        .unwrap();
    let mut conn = pool.get().unwrap();
    let id = conn.connection_id();
    conn.query_drop("DROP TABLE IF EXISTS ledger").unwrap();
    conn.query_drop("CREATE TABLE ledger (x INT) ENGINE=InnoDB")
        .unwrap();
    conn.query_drop("START TRANSACTION").unwrap();
    conn.exec_drop("INSERT INTO ledger VALUES (?)", (1,)).unwrap();
    conn.query_drop("SET @leftover = 42").unwrap();
    assert_eq!(conn.transaction_state(), TransactionState::Active);
    assert_eq!(
        scalar(&mut conn, "SELECT COUNT(*) FROM ledger"),
        Some(1),
        "the borrower sees its own row"
    );
    drop(conn); // no COMMIT

    let mut conn = pool.get().unwrap();
    assert_eq!(conn.connection_id(), id, "the same session");
    assert_eq!(scalar(&mut conn, "SELECT @@in_transaction"), Some(0));
    assert_eq!(
        scalar(&mut conn, "SELECT COUNT(*) FROM ledger"),
        Some(0),
        "the row was rolled back"
    );
    // What the pool promises is the rollback: a user variable, even one set inside the
    // transaction, is session state that ROLLBACK does not undo.
    assert_eq!(scalar(&mut conn, "SELECT @leftover"), Some(42));
    assert_eq!(pool.stats().resets, 1);

    // A clean return makes no round trip. First, what reading the counter costs by itself.
    let a = session_status(&mut conn, "Questions");
    let b = session_status(&mut conn, "Questions");
    let per_read = b - a;
    let questions = session_status(&mut conn, "Questions");
    let rollbacks = session_status(&mut conn, "Com_rollback");
    drop(conn);
    let mut conn = pool.get().unwrap();
    assert_eq!(conn.connection_id(), id);
    assert_eq!(
        session_status(&mut conn, "Com_rollback"),
        rollbacks,
        "a clean return rolled back"
    );
    assert_eq!(
        session_status(&mut conn, "Questions") - questions,
        3 * per_read,
        "a clean return sent a statement"
    );
    assert_eq!(pool.stats().resets, 1);

    // The same measure sees the rollback when there is one: a transaction forgotten open.
    let questions = session_status(&mut conn, "Questions");
    let tx = conn.start_transaction(TxOpts::default()).unwrap();
    std::mem::forget(tx);
    assert_eq!(conn.transaction_state(), TransactionState::Active);
    drop(conn);
    let mut conn = pool.get().unwrap();
    assert_eq!(session_status(&mut conn, "Com_rollback"), rollbacks + 1);
    // START TRANSACTION, ROLLBACK, and the two counter reads.
    assert_eq!(
        session_status(&mut conn, "Questions") - questions,
        2 + 2 * per_read
    );
    assert_eq!(pool.stats().resets, 2);
    conn.query_drop("DROP TABLE ledger").unwrap();
}

#[test]
fn the_transaction_state_follows_every_path() {
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .pre_ping(false)
        .build(tagged_manager("millpond_state"))
        .unwrap();
    let mut conn = pool.get().unwrap();
    let state = |c: &MySqlConnection| c.transaction_state();
    assert_eq!(state(&conn), TransactionState::Idle);
    conn.query_drop("BEGIN").unwrap();
    assert_eq!(state(&conn), TransactionState::Active);
    conn.query_drop("COMMIT").unwrap();
    assert_eq!(state(&conn), TransactionState::Idle);
    // Prepared transaction control (MariaDB prepares START TRANSACTION and COMMIT).
    let begin = conn.prep("START TRANSACTION").unwrap();
    conn.exec_drop(&begin, ()).unwrap();
    assert_eq!(state(&conn), TransactionState::Active);
    assert_eq!(scalar(&mut conn, "SELECT @@in_transaction"), Some(1));
    conn.exec_drop("COMMIT", ()).unwrap();
    assert_eq!(state(&conn), TransactionState::Idle);
    assert_eq!(scalar(&mut conn, "SELECT @@in_transaction"), Some(0));
    // A batch that may stop half-way leaves the state in doubt.
    conn.query_drop("START TRANSACTION; SELECT 1; COMMIT").unwrap();
    assert_eq!(state(&conn), TransactionState::Unknown);
    conn.query_drop("ROLLBACK").unwrap();
    assert_eq!(state(&conn), TransactionState::Idle);
    // The transaction object: committed, rolled back, dropped.
    let tx = conn.start_transaction(TxOpts::default()).unwrap();
    tx.rollback().unwrap();
    assert_eq!(state(&conn), TransactionState::Idle);
    drop(conn.start_transaction(TxOpts::default()).unwrap());
    assert_eq!(state(&conn), TransactionState::Idle);
    assert_eq!(scalar(&mut conn, "SELECT @@in_transaction"), Some(0));
    drop(conn);
    assert_eq!(pool.stats().resets, 0);

    // The raw connection: unknown for the rest of the session's life, so rolled back on every
    // return.
    let mut conn = pool.get().unwrap();
    conn.conn_mut().query_drop("SELECT 1").unwrap();
    assert_eq!(state(&conn), TransactionState::Unknown);
    conn.query_drop("ROLLBACK").unwrap();
    assert_eq!(state(&conn), TransactionState::Unknown);
    drop(conn);
    let conn = pool.get().unwrap();
    assert_eq!(pool.stats().resets, 1);
    drop(conn);
    assert_eq!(pool.stats().resets, 2);
}

#[test]
fn autocommit_off_is_noticed_and_every_return_rolls_back() {
    let manager = tagged_manager("millpond_autocommit").init("SET autocommit = 0");
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .pre_ping(false)
        .build(manager)
        .unwrap();
    let mut conn = pool.get().unwrap();
    conn.query_drop("CREATE TABLE IF NOT EXISTS implicit (x INT) ENGINE=InnoDB")
        .unwrap();
    conn.query_drop("DELETE FROM implicit").unwrap();
    conn.query_drop("COMMIT").unwrap();
    assert_eq!(conn.transaction_state(), TransactionState::Unknown);
    // No BEGIN: with autocommit off the INSERT opens a transaction by itself.
    conn.query_drop("INSERT INTO implicit VALUES (1)").unwrap();
    drop(conn);
    let mut conn = pool.get().unwrap();
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) FROM implicit"), Some(0));
    assert_eq!(scalar(&mut conn, "SELECT @@autocommit"), Some(0));
    conn.query_drop("DROP TABLE implicit").unwrap();
    drop(conn);
    assert_eq!(pool.stats().resets, 2);
}

#[test]
fn init_statements_run_on_every_new_connection() {
    let manager = tagged_manager("millpond_init")
        .init("SET @millpond_init = 7")
        .init("SET SESSION sql_mode = 'ANSI_QUOTES'")
        .program_name("millpond-tests");
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .build(manager)
        .unwrap();
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    for conn in [&mut a, &mut b] {
        assert_eq!(scalar(conn, "SELECT @millpond_init"), Some(7));
        let mode: Option<String> = conn.query_first("SELECT @@sql_mode").unwrap();
        assert_eq!(mode.as_deref(), Some("ANSI_QUOTES"));
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }
}

#[test]
fn a_dead_port_or_a_wrong_password_fails_at_once_with_the_servers_words() {
    const PASSWORD: &str = "hunter2-millpond";
    // Port 1 of the loopback, where nothing listens. (Not a port bound and let go: the
    // ephemeral range is where the other tests' proxies and throwaway servers take theirs, and
    // one took such a port between its release and this connect, once in ten runs.)
    let port = 1;
    let pool = Pool::builder()
        .timeout(Duration::from_secs(10))
        .build_unchecked(
            MySqlManager::from_url(&format!("mysql://app:{PASSWORD}@127.0.0.1:{port}/test")).unwrap(),
        )
        .unwrap();
    let started = Instant::now();
    let err = pool.get().unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let text = common::chain(&err);
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert!(!pool.last_connect_error().unwrap().contains(PASSWORD));

    // A real server, a real user, the wrong password. The server is a throwaway of the test's
    // own: users are created there, never on the shared server.
    let server = MariaDb::start();
    let mut admin = MySqlManager::from_url(&server.url()).unwrap().connect().unwrap();
    admin
        .query_drop("CREATE USER 'millpond_pw'@'%' IDENTIFIED BY 'secret'")
        .unwrap();
    let host = server.addr();
    for (user, password) in [("millpond_pw", PASSWORD), ("millpond_nobody", PASSWORD)] {
        let pool = Pool::builder()
            .timeout(Duration::from_secs(10))
            .build_unchecked(MySqlManager::from_url(&format!("mysql://{user}:{password}@{host}/")).unwrap())
            .unwrap();
        let started = Instant::now();
        let err = pool.get().unwrap_err();
        let elapsed = started.elapsed();
        let text = common::chain(&err);
        assert!(matches!(err, Error::Connect(_)), "{err:?}");
        assert!(
            text.contains(&format!("Access denied for user '{user}'")),
            "{text}"
        );
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
        assert_eq!(pool.stats().connect_errors, 1);
        assert_eq!(pool.stats().timeouts, 0);
    }
    // The right password works: the refusal above was about the password.
    let pool = Pool::builder()
        .build(MySqlManager::from_url(&format!("mysql://millpond_pw:secret@{host}/")).unwrap())
        .unwrap();
    let mut conn = pool.get().unwrap();
    let me: Option<String> = conn.query_first("SELECT CURRENT_USER()").unwrap();
    assert_eq!(me.as_deref(), Some("millpond_pw@%"));
}

#[test]
fn a_frozen_server_cannot_hold_a_checkout_or_a_validation_past_its_time() {
    let proxy = Proxy::start(&server_addr());
    let manager = MySqlManager::from_url(&format!("mysql://root@127.0.0.1:{}/test", proxy.port))
        .unwrap()
        .connect_timeout(Duration::from_millis(500));
    let validation = Duration::from_millis(300);
    let checkout = Duration::from_secs(5);
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .validation_timeout(validation)
        .timeout(checkout)
        .build(manager)
        .unwrap();
    let first = pool.get().unwrap().connection_id();
    assert_eq!(proxy.links(), 1);

    // The pooled session's path freezes; new paths still work.
    proxy.freeze_existing();
    let started = Instant::now();
    let mut conn = pool.get().expect("a fresh connection through an unfrozen path");
    let elapsed = started.elapsed();
    assert_ne!(conn.connection_id(), first);
    assert_eq!(scalar(&mut conn, "SELECT 1"), Some(1));
    assert!(
        elapsed >= validation,
        "the frozen session was not pinged? {elapsed:?}"
    );
    assert!(elapsed < checkout, "took {elapsed:?}");
    assert!(elapsed < validation + Duration::from_secs(2), "took {elapsed:?}");
    let stats = pool.stats();
    assert_eq!((stats.pings, stats.ping_failures), (1, 1), "{stats:?}");
    assert_eq!(
        stats.invalidated, 0,
        "a slow answer is not a lost server: {stats:?}"
    );

    // Validation itself, measured: it gives up on time and leaves the session broken.
    proxy.freeze_existing();
    let budget = Duration::from_millis(200);
    let started = Instant::now();
    let err = pool.manager().is_valid(&mut conn, budget).unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= budget && elapsed < budget + Duration::from_secs(1),
        "took {elapsed:?}: {err}"
    );
    assert!(err.to_string().contains("within 200ms"), "{err}");
    assert!(conn.is_broken());
    drop(conn);
    settle(&pool);
    // Broken: the session that failed its pre-ping, and this one.
    assert_eq!(pool.stats().broken, 2);

    // Everything frozen, new paths too: the connect gives up within its own timeout, and the
    // checkout reports that as a connect error, not as a timeout.
    proxy.freeze_new(true);
    let started = Instant::now();
    let err = pool.get().unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let text = common::chain(&err);
    assert!(text.contains("within the connect timeout (500ms)"), "{text}");
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < checkout,
        "took {elapsed:?}"
    );

    // Thawed, the pool serves again.
    proxy.thaw();
    let mut conn = pool.get().unwrap();
    assert_eq!(scalar(&mut conn, "SELECT 1"), Some(1));
}

#[test]
fn a_listener_that_never_answers_fails_the_connect_within_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acceptor = {
        let accepted = Arc::clone(&accepted);
        thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            accepted.fetch_add(1, Ordering::SeqCst);
            // Hold the connection, silent, until the test is done.
            let _ = released.recv();
            drop(stream);
        })
    };
    let connect_timeout = Duration::from_millis(400);
    let checkout = Duration::from_secs(10);
    let pool = Pool::builder()
        .timeout(checkout)
        .build_unchecked(
            MySqlManager::from_url(&format!("mysql://root:pw-never-shown@127.0.0.1:{port}/test"))
                .unwrap()
                .connect_timeout(connect_timeout),
        )
        .unwrap();
    let started = Instant::now();
    let err = pool.get().unwrap_err();
    let elapsed = started.elapsed();
    drop(release);
    acceptor.join().unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let text = common::chain(&err);
    assert!(
        text.contains(&format!("127.0.0.1:{port} within the connect timeout")),
        "{text}"
    );
    assert!(!text.contains("pw-never-shown"));
    assert!(
        elapsed >= connect_timeout && elapsed < connect_timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
}

#[test]
fn bounded_connects_and_validations_leave_long_statements_alone() {
    let manager = MySqlManager::from_url(&base_url())
        .unwrap()
        .connect_timeout(Duration::from_millis(200));
    let mut conn = manager.connect().unwrap();
    // Longer than the connect bound: the handshake's socket timeouts were replaced.
    let started = Instant::now();
    assert_eq!(scalar(&mut conn, "SELECT SLEEP(0.4)"), Some(0));
    // MariaDB's SLEEP may end a hair early; what matters is that 200 ms did not cut it.
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    manager.is_valid(&mut conn, Duration::from_millis(100)).unwrap();
    // Longer than the validation bound: the socket's timeouts were put back.
    assert_eq!(scalar(&mut conn, "SELECT SLEEP(0.4)"), Some(0));
    assert!(!conn.is_broken());
    // A failed reset statement that leaves the session usable puts them back too.
    assert!(
        manager
            .reset(&mut conn, ResetAction::Statement("SELEKT 1"))
            .is_err()
    );
    assert!(!conn.is_broken());
    assert_eq!(scalar(&mut conn, "SELECT SLEEP(0.4)"), Some(0));
    // A zero budget fails without touching the connection.
    assert!(manager.is_valid(&mut conn, Duration::ZERO).is_err());
    assert!(!conn.is_broken());
    manager.is_valid(&mut conn, Duration::from_secs(1)).unwrap();
}

#[test]
fn errors_the_driver_ignores_while_draining_a_result_still_mark_the_connection_broken() {
    let manager = MySqlManager::from_url(&base_url())
        .unwrap()
        .read_timeout(Some(Duration::from_millis(200)));
    let mut conn = manager.connect().unwrap();
    // A later statement of a batch failing on the server: ignored, as the driver does, and
    // harmless.
    conn.query_drop("SELECT 1; SELEKT 2").unwrap();
    assert!(!conn.is_broken());
    assert_eq!(scalar(&mut conn, "SELECT 3"), Some(3));
    // The second result times out while the driver drains it: still ignored by the driver's
    // rules, but the session is out of step and must not be handed out again.
    conn.query_drop("SELECT 1; SELECT SLEEP(1)").unwrap();
    assert!(conn.is_broken());
    assert!(manager.has_broken(&mut conn));
}

/// A TCP proxy to the server whose paths can be frozen: a frozen path holds what arrives, in
/// both directions, until thawed. Dropping it closes every path.
struct Proxy {
    port: u16,
    shared: Arc<ProxyShared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

struct ProxyShared {
    state: Mutex<ProxyState>,
    thawed: Condvar,
}

#[derive(Default)]
struct ProxyState {
    /// Per path: frozen or not, and its two sockets (to shut them down at the end).
    links: Vec<(bool, TcpStream, TcpStream)>,
    freeze_new: bool,
    closed: bool,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(ProxyShared {
            state: Mutex::new(ProxyState::default()),
            thawed: Condvar::new(),
        });
        let upstream = upstream.to_owned();
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for client in listener.incoming() {
                    let Ok(client) = client else { continue };
                    if shared.state.lock().unwrap().closed {
                        return;
                    }
                    let server = TcpStream::connect(&upstream).unwrap();
                    let index = {
                        let mut state = shared.state.lock().unwrap();
                        let frozen = state.freeze_new;
                        state
                            .links
                            .push((frozen, client.try_clone().unwrap(), server.try_clone().unwrap()));
                        state.links.len() - 1
                    };
                    for (from, to) in [
                        (client.try_clone().unwrap(), server.try_clone().unwrap()),
                        (server.try_clone().unwrap(), client.try_clone().unwrap()),
                    ] {
                        let shared = Arc::clone(&shared);
                        thread::spawn(move || pump(&shared, index, from, to));
                    }
                }
            })
        };
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    fn links(&self) -> usize {
        self.shared.state.lock().unwrap().links.len()
    }

    fn freeze_existing(&self) {
        for link in &mut self.shared.state.lock().unwrap().links {
            link.0 = true;
        }
    }

    fn freeze_new(&self, on: bool) {
        self.shared.state.lock().unwrap().freeze_new = on;
    }

    fn thaw(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.freeze_new = false;
        for link in &mut state.links {
            link.0 = false;
        }
        self.shared.thawed.notify_all();
    }
}

/// Copies one direction of a path, holding each chunk while the path is frozen.
fn pump(shared: &ProxyShared, index: usize, mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut state = shared.state.lock().unwrap();
            while state.links[index].0 && !state.closed {
                state = shared.thawed.wait(state).unwrap();
            }
            if state.closed {
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for Proxy {
    fn drop(&mut self) {
        {
            let mut state = self.shared.state.lock().unwrap();
            state.closed = true;
            for (_, client, server) in &state.links {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            }
            self.shared.thawed.notify_all();
        }
        // Wake the acceptor so it sees `closed`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A refused connect (nothing listens on 127.0.0.1:1), printed as anyhow's `{:#}` prints a
/// chain, names the refusal once, through a session too; the driver's error is the source.
#[test]
fn a_refused_connect_prints_each_message_once() {
    let pool = Pool::builder()
        .timeout(Duration::from_secs(10))
        .build_unchecked(MySqlManager::from_url("mysql://root@127.0.0.1:1/test").unwrap())
        .unwrap();
    let err = pool.get().unwrap_err();
    let printed = common::assert_prints_once(&err);
    println!("{printed}");
    assert!(
        printed.starts_with("could not open a database connection: "),
        "{printed}"
    );
    assert!(printed.contains("Connection refused"), "{printed}");
    let source = std::error::Error::source(&err).expect("the driver's error");
    assert!(
        source.downcast_ref::<millpond::mysql::driver::Error>().is_some(),
        "{source:?}"
    );

    let err = pool.session().execute("SELECT 1").unwrap_err();
    let printed = common::assert_prints_once(&err);
    assert!(
        printed.starts_with("no connection for the session: could not open a database connection: "),
        "{printed}"
    );
    assert!(printed.contains("Connection refused"), "{printed}");
}

/// Credentials rotation on a MariaDB of the test's own: each connect logs in with what the
/// provider gives then, the user included (a Vault lease names its own). A changed password
/// leaves open connections working and fails new connects until the provider gives it; a new
/// user from the provider is who new connections are. A failing provider fails the connect,
/// saying so.
#[test]
fn credentials_rotate_without_a_new_pool() {
    use millpond::mysql::Credentials;

    let server = MariaDb::start();
    let mut admin = MySqlManager::from_url(&server.url()).unwrap().connect().unwrap();
    admin
        .query_drop("CREATE USER 'millpond_rot'@'%' IDENTIFIED BY 'first-Pa55'")
        .unwrap();
    let current = Arc::new(Mutex::new(("millpond_rot", "first-Pa55")));
    let manager = MySqlManager::from_url(&format!("mysql://nobody@{}/", server.addr()))
        .unwrap()
        .credentials_provider({
            let current = Arc::clone(&current);
            move || {
                let (user, password) = *current.lock().unwrap();
                Ok(Credentials::password(password).with_user(user))
            }
        });
    let shown = format!("{manager:?}");
    assert!(
        shown.contains("credentials_provider: true") && !shown.contains("first-Pa55"),
        "{shown}"
    );
    let pool = Pool::builder()
        .pool_size(3)
        .max_overflow(Some(0))
        .timeout(Duration::from_secs(10))
        .build(manager)
        .unwrap();
    let who = |conn: &mut MySqlConnection| -> String {
        conn.query_first::<String, _>("SELECT CURRENT_USER()")
            .unwrap()
            .unwrap()
    };
    let mut old = pool.get().unwrap();
    assert_eq!(who(&mut old), "millpond_rot@%");

    admin
        .query_drop("ALTER USER 'millpond_rot'@'%' IDENTIFIED BY 'second-Pa55'")
        .unwrap();
    let err = pool.get().unwrap_err();
    let text = common::chain(&err);
    assert!(text.contains("Access denied for user 'millpond_rot'"), "{text}");
    assert!(!text.contains("Pa55"), "{text}");
    assert_eq!(
        who(&mut old),
        "millpond_rot@%",
        "an open connection keeps working"
    );

    *current.lock().unwrap() = ("millpond_rot", "second-Pa55");
    assert_eq!(who(&mut pool.get().unwrap()), "millpond_rot@%");

    // A lease for another user: new connections are that user.
    admin
        .query_drop("CREATE USER 'millpond_lease'@'%' IDENTIFIED BY 'lease-Pa55'")
        .unwrap();
    *current.lock().unwrap() = ("millpond_lease", "lease-Pa55");
    let _busy = pool.get().unwrap();
    assert_eq!(who(&mut pool.get().unwrap()), "millpond_lease@%");
    assert_eq!(who(&mut old), "millpond_rot@%");

    let failing = MySqlManager::from_url(&format!("mysql://nobody@{}/", server.addr()))
        .unwrap()
        .credentials_provider(|| Err("vault is sealed".into()));
    let err = Pool::builder().build(failing).unwrap().get().unwrap_err();
    let text = common::chain(&err);
    assert!(
        text.contains("the credentials provider failed: vault is sealed"),
        "{text}"
    );
}
