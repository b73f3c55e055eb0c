//! The Oracle backend: what can be checked without a server (the missing client library is
//! reported at once as a connect error, URLs, lost-connection classification), and, when
//! `MILLPOND_ORACLE_URL` names a server, the pool against it: threads, the rollback on return,
//! no round trip on a clean return, recovery from a killed session, and a reset on return
//! bounded by `reset_timeout`.
//!
//! The real-server tests print a line and pass when `MILLPOND_ORACLE_URL` is not set.
#![cfg(feature = "oracle")]

mod common;

use std::error::Error as _;
use std::io::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use millpond::oracle::{OracleManager, driver, is_lost_connection};
use millpond::{Error, ManageConnection, Pool, ResetOnReturn, TransactionState};

const SECRET: &str = "N0t-In-Any-Message";
const URL_VAR: &str = "MILLPOND_ORACLE_URL";

/// Says that `test` is skipped and why, on the process's stderr itself: `eprintln!` would be
/// captured by the test harness and shown only for failing tests.
fn skip(test: &str, why: &str) {
    // One write, so the line is not split by the harness's own output.
    let line = format!("{test}: skipped: {why}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The real server's URL, or `None` after saying why the test is skipped.
fn real_server(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip(test, &format!("{URL_VAR} is not set"));
            None
        }
    }
}

/// Whether the no-client tests apply: no real server configured and no Oracle Client installed.
fn no_client_expected(test: &str) -> bool {
    if std::env::var_os(URL_VAR).is_some() {
        skip(
            test,
            &format!("{URL_VAR} is set, so an Oracle client and server are expected to exist"),
        );
        return false;
    }
    if let Ok(version) = driver::Version::client() {
        skip(
            test,
            &format!("an Oracle Client library ({version}) is installed on this machine"),
        );
        return false;
    }
    true
}

/// Checks that `err` is the oracle crate's DPI-1047 (no client library) as a connect error.
fn assert_no_client_error(err: &Error) {
    let Error::Connect(source) = err else {
        panic!("expected Error::Connect, got {err:?}");
    };
    let oracle_err = source
        .downcast_ref::<driver::Error>()
        .unwrap_or_else(|| panic!("the source is not an oracle::Error: {source:?}"));
    assert_eq!(oracle_err.kind(), driver::ErrorKind::DpiError, "{oracle_err:?}");
    assert_eq!(oracle_err.dpi_code(), Some(1047), "{oracle_err:?}");
    let text = common::chain(err);
    assert!(
        text.contains("DPI-1047: Cannot locate a 64-bit Oracle Client library"),
        "{text}"
    );
    let via_source = err.source().and_then(|s| s.downcast_ref::<driver::Error>());
    assert_eq!(
        via_source.and_then(driver::Error::dpi_code),
        Some(1047),
        "Error::source is the oracle error"
    );
    let shown = format!("{text} {err:?} {source:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!is_lost_connection(oracle_err));
}

fn manager_with_secret() -> OracleManager {
    OracleManager::from_url(&format!(
        "oracle://scott:{SECRET}@//127.0.0.1:1521/FREEPDB1?connect_timeout=2"
    ))
    .unwrap()
}

#[test]
fn without_a_client_get_fails_at_once_with_dpi_1047() {
    if !no_client_expected("without_a_client_get_fails_at_once_with_dpi_1047") {
        return;
    }
    let timeout = Duration::from_secs(20);
    let pool = Pool::builder()
        .timeout(timeout)
        .build_unchecked(manager_with_secret())
        .expect("build_unchecked opens nothing, so it cannot fail to connect");

    for _ in 0..2 {
        let started = Instant::now();
        let err = pool.get().expect_err("there is no Oracle client here");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "took {took:?} of a {timeout:?} timeout"
        );
        assert_no_client_error(&err);
    }
    let state = pool.state();
    assert_eq!((state.open, state.opening, state.in_use), (0, 0, 0), "{state:?}");
    assert_eq!(pool.stats().connect_errors, 2);
    assert_eq!(pool.stats().timeouts, 0);
    let last = pool
        .last_connect_error()
        .expect("the connect error is remembered");
    assert!(last.contains("DPI-1047") && !last.contains(SECRET), "{last}");
    for shown in [
        format!("{pool:?}"),
        format!("{:?}", pool.manager()),
        pool.manager().to_string(),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
    // try_get starts the connect without waiting for it, and the next one reports its error
    // rather than "busy".
    assert!(pool.try_get().expect("nothing reported yet").is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    // Failed and settled: the count goes up before the failure is recorded, under the lock
    // that also ends the opening.
    while (pool.stats().connect_errors < 3 || pool.state().opening > 0) && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_no_client_error(&pool.try_get().expect_err("no client"));
}

#[test]
fn without_a_client_build_with_min_idle_fails_and_build_unchecked_does_not() {
    if !no_client_expected("without_a_client_build_with_min_idle_fails_and_build_unchecked_does_not") {
        return;
    }
    let started = Instant::now();
    let err = Pool::builder()
        .min_idle(1)
        .timeout(Duration::from_secs(20))
        .build(manager_with_secret())
        .expect_err("min_idle 1 needs a connection");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_no_client_error(&err);

    let pool = Pool::builder()
        .min_idle(1)
        .build_unchecked(manager_with_secret())
        .expect("build_unchecked opens nothing");
    assert_eq!(pool.state().open, 0);
}

#[test]
fn without_a_client_the_manager_itself_reports_dpi_1047() {
    if !no_client_expected("without_a_client_the_manager_itself_reports_dpi_1047") {
        return;
    }
    let err = manager_with_secret().connect().expect_err("no client");
    assert_eq!(err.dpi_code(), Some(1047), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(SECRET));
}

#[test]
fn a_connect_timeout_on_a_net_service_name_is_refused_at_connect() {
    // Built from parts, the mistake can only be reported when connecting, before any attempt.
    let manager = OracleManager::new("scott", SECRET, "ORCL").connect_timeout(Duration::from_secs(3));
    let err = manager
        .connect()
        .expect_err("a TNS alias cannot take a connect timeout");
    assert_eq!(err.kind(), driver::ErrorKind::InvalidArgument, "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("connect_timeout") && text.contains("tnsnames.ora"),
        "{text}"
    );
    assert!(!text.contains(SECRET));
}

#[test]
fn urls_are_checked_and_explained() {
    let m = OracleManager::from_url("oracle://scott:tiger@//db.example.com:1521/FREEPDB1?connect_timeout=5&init=ALTER+SESSION+SET+TIME_ZONE%3D%27UTC%27")
        .unwrap();
    assert_eq!(m.username(), "scott");
    assert_eq!(m.connect_string(), "//db.example.com:1521/FREEPDB1");
    assert_eq!(
        m.effective_connect_string().unwrap(),
        "//db.example.com:1521/FREEPDB1?connect_timeout=5"
    );
    assert_eq!(m.init_statements(), ["ALTER SESSION SET TIME_ZONE='UTC'"]);
    assert_eq!(m.to_string(), "scott@//db.example.com:1521/FREEPDB1");
    assert_eq!(
        OracleManager::from_url("oracle://scott:tiger@db:1521/svc")
            .unwrap()
            .connect_string(),
        "db:1521/svc"
    );
    assert_eq!(
        OracleManager::from_url("oracle://scott:tiger@PRODDB")
            .unwrap()
            .connect_string(),
        "PRODDB"
    );

    let err = OracleManager::from_url(&format!("oracle://scott:{SECRET}@//db/svc?pool=5")).unwrap_err();
    assert_eq!(err.option, "url");
    assert!(err.message.contains("`pool`"), "{err}");
    for accepted in [
        "connect_timeout",
        "stmt_cache_size",
        "events",
        "init",
        "autocommit",
    ] {
        assert!(err.message.contains(accepted), "{err}");
    }
    assert!(!format!("{err} {err:?}").contains(SECRET));

    let err =
        OracleManager::from_url(&format!("oracle://scott:{SECRET}@PRODDB?connect_timeout=5")).unwrap_err();
    assert_eq!(err.option, "connect_timeout");
    assert!(!format!("{err} {err:?}").contains(SECRET));
}

#[test]
fn lost_connection_errors_are_classified() {
    let manager = OracleManager::new("u", "p", "//h/s");
    let ora = |m: &str| driver::Error::new(driver::ErrorKind::OciError, m.to_owned());
    let dpi = |m: &str| driver::Error::new(driver::ErrorKind::DpiError, m.to_owned());
    assert!(manager.is_lost_server(&ora("ORA-03113: end-of-file on communication channel")));
    assert!(manager.is_lost_server(&ora("ORA-03114: not connected to ORACLE")));
    assert!(manager.is_lost_server(&ora("ORA-00028: your session has been killed")));
    assert!(manager.is_lost_server(&dpi("DPI-1080: connection was closed by ORA-03113")));
    assert!(manager.is_lost_server(&dpi("DPI-1010: not connected")));
    assert!(!manager.is_lost_server(&ora("ORA-00942: table or view does not exist")));
    assert!(!manager.is_lost_server(&ora("ORA-12541: TNS:no listener")));
    assert!(!manager.is_lost_server(&dpi("DPI-1067: call timeout of 100 ms exceeded with ORA-03156")));
}

// ---------------------------------------------------------------------------------------------
// Against a real server (MILLPOND_ORACLE_URL).

fn real_pool(url: &str, size: usize) -> Pool<OracleManager> {
    Pool::builder()
        .pool_size(size)
        .max_overflow(Some(0))
        .timeout(Duration::from_secs(30))
        .build(OracleManager::from_url(url).expect("MILLPOND_ORACLE_URL is not a valid Oracle URL"))
        .expect("cannot connect to MILLPOND_ORACLE_URL")
}

/// A table of this test's own, dropped when the guard is.
struct Table<'a> {
    pool: &'a Pool<OracleManager>,
    name: String,
}

impl<'a> Table<'a> {
    fn create(pool: &'a Pool<OracleManager>, tag: &str) -> Table<'a> {
        let name = format!("mp_{tag}_{}", std::process::id());
        let conn = pool.get().unwrap();
        let _ = conn.execute(&format!("DROP TABLE {name} PURGE"), &[]);
        conn.execute(&format!("CREATE TABLE {name} (x NUMBER NOT NULL)"), &[])
            .unwrap();
        Table { pool, name }
    }

    fn count(&self, conn: &millpond::oracle::OracleConnection) -> i64 {
        conn.query_row_as::<i64>(&format!("SELECT count(*) FROM {}", self.name), &[])
            .unwrap()
    }
}

impl Drop for Table<'_> {
    fn drop(&mut self) {
        if let Ok(conn) = self.pool.get() {
            let _ = conn.execute(&format!("DROP TABLE {} PURGE", self.name), &[]);
        }
    }
}

#[test]
fn real_server_threads_share_a_small_pool() {
    let Some(url) = real_server("real_server_threads_share_a_small_pool") else {
        return;
    };
    const THREADS: usize = 8;
    const ROUNDS: i64 = 20;
    let pool = real_pool(&url, 4);
    common::together(THREADS, |t| {
        for n in 0..ROUNDS {
            let conn = pool.get().unwrap();
            let got: i64 = conn
                .query_row_as("SELECT :1 + :2 FROM dual", &[&(t as i64), &n])
                .unwrap();
            assert_eq!(got, t as i64 + n);
            assert!(pool.state().open <= 4);
        }
    });
    let stats = pool.stats();
    assert!(stats.checkouts >= (THREADS as u64) * (ROUNDS as u64), "{stats:?}");
    assert!(stats.connects <= 4, "{stats:?}");
    assert_eq!(stats.resets, 0, "queries leave no transaction: {stats:?}");
    println!("state {:?}\nstats {stats:?}", pool.state());
}

#[test]
fn real_server_an_open_transaction_is_rolled_back_on_return() {
    let Some(url) = real_server("real_server_an_open_transaction_is_rolled_back_on_return") else {
        return;
    };
    // One connection, so the next borrower is the same session: it would see its own
    // uncommitted row if the rollback had not happened.
    let pool = real_pool(&url, 1);
    let table = Table::create(&pool, "rb");
    let before = pool.stats().resets;
    {
        let conn = pool.get().unwrap();
        conn.execute(&format!("INSERT INTO {} (x) VALUES (:1)", table.name), &[&1])
            .unwrap();
        assert_eq!(table.count(&conn), 1);
        assert_eq!(conn.transaction_state(), TransactionState::Active);
    }
    assert_eq!(pool.stats().resets, before + 1);
    let conn = pool.get().unwrap();
    assert_eq!(table.count(&conn), 0, "the uncommitted row was rolled back");
    assert_eq!(conn.transaction_state(), TransactionState::Idle);
}

#[test]
fn real_server_a_clean_return_makes_no_round_trip() {
    let Some(url) = real_server("real_server_a_clean_return_makes_no_round_trip") else {
        return;
    };
    let pool = real_pool(&url, 1);
    let table = Table::create(&pool, "cl");
    let resets = pool.stats().resets;
    {
        let conn = pool.get().unwrap();
        let one: i64 = conn.query_row_as("SELECT 1 FROM dual", &[]).unwrap();
        assert_eq!(one, 1);
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }
    {
        let conn = pool.get().unwrap();
        conn.execute(&format!("INSERT INTO {} (x) VALUES (:1)", table.name), &[&2])
            .unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Active);
        conn.commit().unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }
    {
        // Autocommit for this checkout only: DML opens no transaction.
        let mut conn = pool.get().unwrap();
        conn.set_autocommit(true);
        conn.execute(&format!("INSERT INTO {} (x) VALUES (:1)", table.name), &[&3])
            .unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }
    assert_eq!(pool.stats().resets, resets, "{:?}", pool.stats());
    {
        // The manager's autocommit (off) is back for the next borrower.
        let conn = pool.get().unwrap();
        assert!(!conn.autocommit());
        assert_eq!(table.count(&conn), 2);
    }
    // Once the session attribute has reported a transaction (the INSERT above, with an Oracle
    // Client 12.1 or later), it decides: a PL/SQL block that opened none needs no rollback.
    if driver::Version::client().is_ok_and(|v| v.major() >= 12) {
        let conn = pool.get().unwrap();
        conn.execute("BEGIN NULL; END;", &[]).unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }
}

/// This session's SID and serial number, if the user may read `v$session`.
fn sid_serial(conn: &millpond::oracle::OracleConnection) -> Result<(i64, i64), driver::Error> {
    conn.query_row_as::<(i64, i64)>(
        "SELECT sid, serial# FROM v$session WHERE sid = SYS_CONTEXT('USERENV', 'SID')",
        &[],
    )
}

/// Kills a session from a connection of its own; `Err` with the reason if not permitted.
fn kill(manager: &OracleManager, (sid, serial): (i64, i64)) -> Result<(), String> {
    let killer = manager.connect().map_err(|err| err.to_string())?;
    match killer.execute(
        &format!("ALTER SYSTEM KILL SESSION '{sid},{serial}' IMMEDIATE"),
        &[],
    ) {
        Ok(_) => Ok(()),
        // ORA-00031: marked for kill, it goes soon. (ODPI-C takes it for the end of the killer's
        // own session, `DPI-1080: connection was closed by ORA-00031`; the killer is dropped
        // here anyway.)
        Err(err) if err.to_string().contains("ORA-00031") => {
            thread::sleep(Duration::from_secs(2));
            Ok(())
        }
        Err(err) => Err(err.to_string()),
    }
}

#[test]
fn real_server_a_killed_session_is_replaced_by_pre_ping() {
    const TEST: &str = "real_server_a_killed_session_is_replaced_by_pre_ping";
    let Some(url) = real_server(TEST) else {
        return;
    };
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .timeout(Duration::from_secs(30))
        .build(OracleManager::from_url(&url).unwrap())
        .unwrap();

    // Killed while idle: the pre-ping notices, and the pool opens a new session.
    let victim = {
        let conn = pool.get().unwrap();
        match sid_serial(&conn) {
            Ok(ids) => ids,
            Err(err) => {
                skip(TEST, &format!("cannot read v$session: {err}"));
                return;
            }
        }
    };
    if let Err(why) = kill(pool.manager(), victim) {
        skip(TEST, &format!("cannot kill a session: {why}"));
        return;
    }
    thread::sleep(Duration::from_millis(500));
    let before = pool.stats();
    let conn = pool.get().expect("pre-ping replaces the killed session");
    let after = pool.stats();
    assert_eq!(after.ping_failures, before.ping_failures + 1, "{after:?}");
    assert_eq!(after.connects, before.connects + 1, "{after:?}");
    let fresh = sid_serial(&conn).unwrap();
    assert_ne!(fresh, victim);

    // Killed while borrowed: the next statement fails as a lost connection, and the connection
    // is discarded on return.
    kill(pool.manager(), fresh).unwrap();
    thread::sleep(Duration::from_millis(500));
    let err = conn
        .query_row_as::<i64>("SELECT 1 FROM dual", &[])
        .expect_err("the session is gone");
    assert!(is_lost_connection(&err), "{err:?}");
    assert!(conn.is_broken());
    let broken = pool.stats().broken;
    drop(conn);
    assert_eq!(pool.stats().broken, broken + 1);
    let conn = pool.get().unwrap();
    assert_eq!(conn.query_row_as::<i64>("SELECT 1 FROM dual", &[]).unwrap(), 1);
}

/// A reset on return that stalls on the server (its statement waits on a row lock another
/// session holds) ends within `reset_timeout` (plus the client's clean-up), and the connection
/// is closed, not kept; a reset that succeeds puts the manager's call timeout back.
#[test]
fn real_server_a_stalled_reset_ends_within_reset_timeout_and_closes_the_connection() {
    const TEST: &str = "real_server_a_stalled_reset_ends_within_reset_timeout_and_closes_the_connection";
    let Some(url) = real_server(TEST) else {
        return;
    };
    const RESET_TIMEOUT: Duration = Duration::from_secs(1);
    let manager = || {
        OracleManager::from_url(&url)
            .unwrap()
            .reset_timeout(RESET_TIMEOUT)
    };

    // A reset that succeeds: the call timeout it used is put back to the manager's.
    let call_timeout = Duration::from_secs(7);
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .build(manager().call_timeout(call_timeout))
        .unwrap();
    let table = Table::create(&pool, "rt");
    {
        let conn = pool.get().unwrap();
        conn.execute(&format!("INSERT INTO {} (x) VALUES (1)", table.name), &[])
            .unwrap();
        conn.commit().unwrap();
        conn.execute(&format!("INSERT INTO {} (x) VALUES (2)", table.name), &[])
            .unwrap();
    }
    assert_eq!(pool.stats().reset_failures, 0);
    {
        let conn = pool.get().unwrap();
        assert_eq!(conn.call_timeout().unwrap(), Some(call_timeout));
        assert_eq!(table.count(&conn), 1, "the uncommitted row was rolled back");
    }

    // Another session holds the row's lock; the reset statement waits for it.
    let holder = pool.get().unwrap();
    holder
        .execute(&format!("UPDATE {} SET x = 3", table.name), &[])
        .unwrap();
    let stalled = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .reset_on_return(ResetOnReturn::Statement(format!(
            "SELECT x FROM {} FOR UPDATE",
            table.name
        )))
        .build(manager())
        .unwrap();
    let conn = stalled.get().unwrap();
    assert_eq!(stalled.state().open, 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let began = Instant::now();
    thread::spawn(move || {
        drop(conn);
        let _ = tx.send(began.elapsed());
    });
    // Bounded, so that a reset that never ends fails the test instead of hanging it.
    let took = rx
        .recv_timeout(RESET_TIMEOUT + Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("the drop still blocks after {:?}", began.elapsed()));
    println!("a reset stalled on a row lock: the drop took {took:?}");
    assert!(
        took <= RESET_TIMEOUT + Duration::from_millis(500),
        "the drop took {took:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while stalled.state().open > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        stalled.state().open,
        0,
        "the connection was kept: {:?}",
        stalled.state()
    );
    assert_eq!(stalled.stats().reset_failures, 1);
    holder.rollback().unwrap();
}
