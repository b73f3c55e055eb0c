//! The SQLite backend against real files: concurrent writers in WAL mode, the reset on return,
//! pre-ping, the shared in-memory database, URLs, the init statement, the busy timeout and
//! read-only mode.
#![cfg(feature = "sqlite")]

mod common;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use millpond::sqlite::{Connection, SqliteManager};
use millpond::{Error, ManageConnection, Pool, ResetOnReturn};
use rusqlite::ErrorCode;

/// A directory of its own under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("millpond-sqlite-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn pragma_text(conn: &Connection, pragma: &str) -> String {
    conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
        .unwrap()
}

fn pragma_int(conn: &Connection, pragma: &str) -> i64 {
    conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
        .unwrap()
}

fn sqlite_code(err: &rusqlite::Error) -> Option<ErrorCode> {
    err.sqlite_error_code()
}

fn file_url(path: &Path, query: &str) -> String {
    // The temp dir is absolute, so this is sqlite:///abs/path.
    assert!(path.is_absolute());
    format!("sqlite://{}{query}", path.display())
}

#[test]
fn concurrent_writers_through_a_pool_of_four_in_wal_mode() {
    const THREADS: usize = 8;
    const INSERTS: usize = 150;
    let dir = TempDir::new("concurrent");
    let path = dir.file("concurrent.db");
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(Some(0))
        .timeout(Duration::from_secs(30))
        // Commits need not reach the disk for this test; WAL keeps them atomic anyway.
        .build(SqliteManager::file(&path).init("PRAGMA synchronous = NORMAL"))
        .unwrap();
    pool.get()
        .unwrap()
        .execute_batch("CREATE TABLE t (thread INTEGER NOT NULL, n INTEGER NOT NULL, UNIQUE (thread, n))")
        .unwrap();

    common::together(THREADS, |thread| {
        for n in 0..INSERTS {
            let conn = pool.get().unwrap();
            if n % 10 == 0 {
                // Now and then a read in the same checkout.
                assert!(count(&conn, "t") >= 0);
            }
            conn.execute(
                "INSERT INTO t (thread, n) VALUES (?1, ?2)",
                (thread as i64, n as i64),
            )
            .unwrap();
            assert!(pool.state().open <= 4);
        }
    });

    let conn = pool.get().unwrap();
    assert_eq!(count(&conn, "t"), (THREADS * INSERTS) as i64);
    let per_thread: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT thread FROM t GROUP BY thread HAVING count(*) = ?1)",
            [INSERTS as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(per_thread, THREADS as i64);
    assert_eq!(pragma_text(&conn, "journal_mode"), "wal");
    assert_eq!(pragma_text(&conn, "integrity_check"), "ok");
    drop(conn);
    let st = pool.stats();
    assert!(st.connects <= 4 && st.connects >= 1, "{st:?}");
    assert_eq!(st.checkouts, (THREADS * INSERTS + 2) as u64);
    assert_eq!(st.resets, 0, "autocommit inserts need no reset");
    assert!(
        path.with_extension("db-wal").exists(),
        "no WAL file beside the database"
    );
}

#[test]
fn an_open_transaction_is_rolled_back_on_return() {
    let dir = TempDir::new("rollback");
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .build(SqliteManager::file(dir.file("rollback.db")))
        .unwrap();
    let conn = pool.get().unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    let id = conn.id();
    drop(conn);

    let conn = pool.get().unwrap();
    conn.execute_batch("BEGIN; INSERT INTO t VALUES (1);").unwrap();
    assert!(!conn.is_autocommit());
    assert_eq!(count(&conn, "t"), 1, "the borrower sees its own row");
    drop(conn); // no COMMIT

    let conn = pool.get().unwrap();
    assert_eq!(conn.id(), id, "not the same connection: the test proves nothing");
    assert!(conn.is_autocommit(), "the transaction was left open");
    assert_eq!(count(&conn, "t"), 0, "the uncommitted row survived the return");
    drop(conn);
    let st = pool.stats();
    assert_eq!((st.resets, st.reset_failures, st.connects), (1, 0, 1), "{st:?}");
}

#[test]
fn with_reset_on_return_commit_the_row_persists() {
    let dir = TempDir::new("commit");
    let path = dir.file("commit.db");
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .reset_on_return(ResetOnReturn::Commit)
        .build(SqliteManager::file(&path))
        .unwrap();
    let conn = pool.get().unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER); BEGIN; INSERT INTO t VALUES (7);")
        .unwrap();
    drop(conn);

    let conn = pool.get().unwrap();
    assert!(conn.is_autocommit());
    assert_eq!(count(&conn, "t"), 1);
    drop(conn);
    assert_eq!(pool.stats().resets, 1);
    // Committed for real: another connection, outside the pool, sees it.
    let other = Connection::open(&path).unwrap();
    assert_eq!(count(&other, "t"), 1);
}

#[test]
fn a_custom_reset_statement_runs_on_every_return() {
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .min_idle(1)
        .reset_on_return(ResetOnReturn::Statement("DELETE FROM scratch".to_owned()))
        .build(SqliteManager::memory().init("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)"))
        .unwrap();
    for i in 0..3 {
        let conn = pool.get().unwrap();
        assert_eq!(
            count(&conn, "scratch"),
            0,
            "round {i}: the reset statement did not run"
        );
        conn.execute("INSERT INTO scratch VALUES (?1)", [i]).unwrap();
    }
    assert_eq!(pool.stats().resets, 3);
}

#[test]
fn clean_returns_make_no_reset() {
    let dir = TempDir::new("noreset");
    let pool = Pool::builder()
        .pool_size(2)
        .build(SqliteManager::file(dir.file("noreset.db")))
        .unwrap();
    pool.get()
        .unwrap()
        .execute_batch("CREATE TABLE t (x INTEGER)")
        .unwrap();
    for i in 0..50 {
        let conn = pool.get().unwrap();
        if i % 2 == 0 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        } else {
            // A transaction ended by the borrower leaves nothing to reset either.
            conn.execute_batch("BEGIN; INSERT INTO t VALUES (0); COMMIT;")
                .unwrap();
        }
    }
    let st = pool.stats();
    assert_eq!(st.checkouts, 51);
    assert_eq!(
        st.resets, 0,
        "a return without an open transaction made a round trip: {st:?}"
    );
    assert_eq!(count(&pool.get().unwrap(), "t"), 50);
}

#[test]
fn pre_ping_runs_select_1_once_the_bypass_window_has_passed() {
    let dir = TempDir::new("preping");
    let path = dir.file("preping.db");

    // The backend's check itself: SELECT 1 on a working connection.
    let manager = SqliteManager::file(&path);
    let mut raw = manager.connect().unwrap();
    manager.is_valid(&mut raw, Duration::from_secs(1)).unwrap();
    assert!(!manager.has_broken(&mut raw));
    drop(raw);

    // Within a window that never passes: no ping.
    let pool = Pool::builder()
        .pre_ping_bypass(Duration::from_secs(3600))
        .build(SqliteManager::file(&path))
        .unwrap();
    for _ in 0..5 {
        drop(pool.get().unwrap());
    }
    assert_eq!(pool.stats().pings, 0);

    // Once it has passed: one ping per checkout of an idle connection, and it succeeds.
    let window = Duration::from_millis(30);
    let pool = Pool::builder()
        .pre_ping_bypass(window)
        .build(SqliteManager::file(&path))
        .unwrap();
    drop(pool.get().unwrap()); // opened fresh: no ping
    assert_eq!(pool.stats().pings, 0);
    for round in 1..=3 {
        let returned = Instant::now();
        // Waiting out the window is what is tested, not a stand-in for synchronisation.
        thread::sleep(window + Duration::from_millis(5));
        assert!(returned.elapsed() > window);
        let conn = pool.get().unwrap();
        let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(one, 1);
        drop(conn);
        let st = pool.stats();
        assert_eq!((st.pings, st.ping_failures), (round, 0), "{st:?}");
    }
    assert_eq!(
        pool.stats().connects,
        1,
        "a ping that succeeded must not replace the connection"
    );
}

#[test]
fn the_memory_url_shares_one_database_among_the_pools_connections() {
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .build(SqliteManager::from_url("sqlite::memory:").unwrap())
        .unwrap();
    assert_eq!(pool.manager().path(), None);
    let a = pool.get().unwrap();
    a.execute_batch("CREATE TABLE shared (x TEXT); INSERT INTO shared VALUES ('from a');")
        .unwrap();
    let b = pool.get().unwrap();
    assert_ne!(a.id(), b.id(), "two connections are needed to show sharing");
    let seen: String = b.query_row("SELECT x FROM shared", [], |r| r.get(0)).unwrap();
    assert_eq!(seen, "from a");
    b.execute("INSERT INTO shared VALUES ('from b')", []).unwrap();
    assert_eq!(count(&a, "shared"), 2);
    drop((a, b));

    // Another manager, another database.
    let other = Pool::builder()
        .build(SqliteManager::from_url(":memory:").unwrap())
        .unwrap();
    let c = other.get().unwrap();
    let err = c.query_row("SELECT count(*) FROM shared", [], |r| r.get::<_, i64>(0));
    assert!(err.is_err(), "two memory managers share a database");
}

/// Waits until every connection `pool` opened is closed (closes may run on its worker threads).
fn wait_all_closed(pool: &Pool<SqliteManager>) {
    assert!(
        common::eventually(Duration::from_secs(10), || pool.state().open == 0),
        "connections still open after 10 s: {:?}",
        pool.state()
    );
}

/// The in-memory database lives as long as its manager: the pool closing its last connection
/// (a borrower's invalidate, a panic, a recycle, `pool.invalidate()`) loses nothing.
#[test]
fn the_memory_database_outlives_every_pooled_connection() {
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .min_idle(0)
        .idle_timeout(None)
        .build(SqliteManager::memory())
        .unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute_batch("CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (1);")
        .unwrap();
    let first = conn.id();
    conn.invalidate();
    drop(conn);
    wait_all_closed(&pool);
    let conn = pool.get().unwrap();
    assert_ne!(conn.id(), first, "a new connection");
    assert_eq!(
        count(&conn, "kept"),
        1,
        "the table survived a borrower's invalidate"
    );
    drop(conn);

    // A panic while holding the only connection closes it.
    let panicking = pool.clone();
    let joined = thread::spawn(move || {
        let conn = panicking.get().unwrap();
        conn.execute("INSERT INTO kept VALUES (2)", []).unwrap();
        panic!("the borrower panics");
    })
    .join();
    assert!(joined.is_err());
    wait_all_closed(&pool);
    assert_eq!(
        count(&pool.get().unwrap(), "kept"),
        2,
        "the table survived a panic"
    );

    // pool.invalidate() closes the idle connection.
    pool.invalidate();
    wait_all_closed(&pool);
    assert_eq!(
        count(&pool.get().unwrap(), "kept"),
        2,
        "the table survived pool.invalidate()"
    );

    // The reaper closes the idle connection past its lifetime.
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .recycle(Duration::from_millis(1))
        .reaper_rate(Duration::from_millis(10))
        .build(SqliteManager::memory())
        .unwrap();
    let conn = pool.get().unwrap();
    conn.execute_batch("CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (1);")
        .unwrap();
    let first = conn.id();
    drop(conn);
    wait_all_closed(&pool);
    let conn = pool.get().unwrap();
    assert_ne!(conn.id(), first, "the first connection was recycled");
    assert_eq!(count(&conn, "kept"), 1, "the table survived a recycle");
}

#[test]
fn from_url_refuses_bad_parameters_and_says_what_is_accepted() {
    let cases: [(&str, &[&str]); 7] = [
        (
            "sqlite:///tmp/x.db?color=blue",
            &["`color`", "mode, busy_timeout_ms and wal"],
        ),
        ("sqlite:///tmp/x.db?mode=rwx", &["`rwx`", "ro, rw or rwc"]),
        ("sqlite:///tmp/x.db?mode=", &["ro, rw or rwc"]),
        (
            "sqlite:///tmp/x.db?busy_timeout_ms=soon",
            &["`soon`", "whole number of milliseconds"],
        ),
        ("sqlite:///tmp/x.db?busy_timeout_ms=-5", &["`-5`", "whole number"]),
        ("sqlite:///tmp/x.db?wal=maybe", &["`maybe`", "true or false"]),
        ("sqlite:", &["names no database", "sqlite::memory:"]),
    ];
    for (url, needles) in cases {
        let err = SqliteManager::from_url(url).expect_err(url);
        assert_eq!(err.option, "url", "{url}: {err}");
        for needle in needles {
            assert!(
                err.message.contains(needle),
                "{url}: {err} should contain {needle:?}"
            );
        }
    }
    for url in ["sqlite://", "sqlite:?mode=ro"] {
        assert!(SqliteManager::from_url(url).is_err(), "{url} was accepted");
    }
    // And the good ones parse.
    for url in [
        "sqlite::memory:",
        ":memory:",
        "sqlite://:memory:",
        "sqlite:///tmp/x.db?mode=ro&busy_timeout_ms=10&wal=off",
        "sqlite:///tmp/x.db?mode=rwc&wal=1&",
    ] {
        SqliteManager::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

#[test]
fn the_init_statement_runs_on_each_connection() {
    let dir = TempDir::new("init");
    let path = dir.file("init.db");
    let pool = Pool::builder()
        .pool_size(3)
        .max_overflow(Some(0))
        .build(SqliteManager::file(&path).init("PRAGMA foreign_keys = ON; PRAGMA cache_size = -1234;"))
        .unwrap();
    let conns: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    assert_eq!(pool.stats().connects, 3);
    conns[0]
        .execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER NOT NULL REFERENCES parent (id));",
        )
        .unwrap();
    for conn in &conns {
        assert_eq!(pragma_int(conn, "foreign_keys"), 1);
        assert_eq!(pragma_int(conn, "cache_size"), -1234);
        let err = conn.execute("INSERT INTO child VALUES (42)", []).unwrap_err();
        assert_eq!(sqlite_code(&err), Some(ErrorCode::ConstraintViolation), "{err}");
    }
    drop(conns);

    // Without init, the connection-level setting is SQLite's own default: it came from init.
    let plain = Pool::builder().build(SqliteManager::file(&path)).unwrap();
    assert_ne!(pragma_int(&plain.get().unwrap(), "cache_size"), -1234);
    // And init decides foreign_keys either way (the bundled SQLite may default it to on).
    let off = Pool::builder()
        .build(SqliteManager::file(&path).init("PRAGMA foreign_keys = OFF"))
        .unwrap();
    let conn = off.get().unwrap();
    assert_eq!(pragma_int(&conn, "foreign_keys"), 0);
    conn.execute("INSERT INTO child VALUES (42)", []).unwrap();
    drop(conn);

    // A failing init statement is a connect error.
    let bad = Pool::builder()
        .build(SqliteManager::file(&path).init("THIS IS NOT SQL"))
        .unwrap();
    match bad.get() {
        Err(Error::Connect(source)) => {
            assert!(source.downcast_ref::<rusqlite::Error>().is_some(), "{source}")
        }
        other => panic!("expected Error::Connect, got {other:?}"),
    }
    assert_eq!(bad.state().open, 0);
}

#[test]
fn the_busy_timeout_is_applied() {
    let dir = TempDir::new("busy");
    let path = dir.file("busy.db");
    // The default is 5 s.
    let pool = Pool::builder().build(SqliteManager::file(&path)).unwrap();
    assert_eq!(pragma_int(&pool.get().unwrap(), "busy_timeout"), 5000);
    let pool = Pool::builder()
        .build(SqliteManager::from_url(&file_url(&path, "?busy_timeout_ms=1234")).unwrap())
        .unwrap();
    assert_eq!(pragma_int(&pool.get().unwrap(), "busy_timeout"), 1234);

    // A writer blocked by another waits about that long, then gets SQLITE_BUSY.
    let timeout = Duration::from_millis(200);
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .build(SqliteManager::file(&path).busy_timeout(timeout))
        .unwrap();
    let holder = pool.get().unwrap();
    holder
        .execute_batch("CREATE TABLE IF NOT EXISTS t (x INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
        .unwrap();
    let blocked = pool.get().unwrap();
    assert_eq!(pragma_int(&blocked, "busy_timeout"), 200);
    let started = Instant::now();
    let err = blocked.execute("INSERT INTO t VALUES (2)", []).unwrap_err();
    let waited = started.elapsed();
    assert_eq!(sqlite_code(&err), Some(ErrorCode::DatabaseBusy), "{err}");
    assert!(
        waited >= timeout.mul_f64(0.8),
        "gave up after {waited:?}, before the busy timeout"
    );
    holder.execute_batch("COMMIT").unwrap();
    blocked.execute("INSERT INTO t VALUES (2)", []).unwrap();
    assert_eq!(count(&blocked, "t"), 2);
}

#[test]
fn read_only_mode_refuses_writes() {
    let dir = TempDir::new("readonly");
    let path = dir.file("ro.db");
    {
        let rw = Pool::builder()
            .build(SqliteManager::from_url(&file_url(&path, "?mode=rwc&wal=false")).unwrap())
            .unwrap();
        let conn = rw.get().unwrap();
        assert_eq!(
            pragma_text(&conn, "journal_mode"),
            "delete",
            "wal=false was ignored"
        );
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
    }

    let ro = Pool::builder()
        .build(SqliteManager::from_url(&file_url(&path, "?mode=ro")).unwrap())
        .unwrap();
    let conn = ro.get().unwrap();
    assert_eq!(count(&conn, "t"), 1, "reads work read-only");
    let err = conn.execute("INSERT INTO t VALUES (2)", []).unwrap_err();
    assert_eq!(sqlite_code(&err), Some(ErrorCode::ReadOnly), "{err}");
    let err = conn.execute_batch("CREATE TABLE u (x INTEGER)").unwrap_err();
    assert_eq!(sqlite_code(&err), Some(ErrorCode::ReadOnly), "{err}");
    assert_eq!(count(&conn, "t"), 1);
    drop(conn);

    // Read-only or read-write without create: a missing file is a connect error, and no file
    // appears.
    let missing = dir.file("missing.db");
    for mode in ["ro", "rw"] {
        let pool = Pool::builder()
            .build(SqliteManager::from_url(&file_url(&missing, &format!("?mode={mode}"))).unwrap())
            .unwrap();
        match pool.get() {
            Err(Error::Connect(source)) => {
                let err = source
                    .downcast_ref::<rusqlite::Error>()
                    .expect("rusqlite's error");
                assert_eq!(sqlite_code(err), Some(ErrorCode::CannotOpen), "{err}");
            }
            other => panic!("mode={mode}: expected Error::Connect, got {other:?}"),
        }
        assert!(!missing.exists(), "mode={mode} created the file");
    }
}

#[test]
fn connections_opening_a_new_file_at_once_all_switch_it_to_wal() {
    // Two connections switching a new file to WAL at once: SQLite answers one of them "busy"
    // at once (its busy handler would deadlock), which failed a pool's first connects about one
    // time in ten. Each round is a new file opened by four connections together.
    let dir = TempDir::new("wal-race");
    for round in 0..20 {
        let path = dir.file(&format!("new-{round}.db"));
        let pool = Pool::builder()
            .pool_size(4)
            .min_idle(4)
            .build(SqliteManager::file(&path))
            .unwrap_or_else(|err| panic!("round {round}: {}", common_chain(&err)));
        let conn = pool.get().unwrap();
        assert_eq!(pragma_text(&conn, "journal_mode"), "wal");
    }
}

/// An error and its causes on one line.
fn common_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
