//! The JDBC backend against real drivers: H2, HSQLDB, Derby and SQLite embedded, and the local
//! PostgreSQL and MariaDB through their JDBC drivers. Jars come from Debian's packages
//! (`scripts/jdbc.sh` installs them); a missing jar or JVM fails the tests, never skips them.
//!
//! Tests that need a JVM of their own (other options, a start failure, a fork) run this binary
//! again as a child process, selecting one test with `MILLPOND_JDBC_CHILD`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use millpond::jdbc::{self, JdbcConnection, JdbcErrorKind, JdbcManager, JvmOptions};
use millpond::{
    ManageConnection, Pool, TransactionState,
    sql::{Date, Params, Time, Timestamp, TimestampTz, Value},
};

mod common;

const CHILD: &str = "MILLPOND_JDBC_CHILD";

/// A Debian driver jar, which must exist.
fn jar(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/share/java").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `. scripts/jdbc.sh && ensure_jdbc_drivers` (installs the Debian driver packages)",
        path.display()
    );
    path
}

/// A name no other test uses, for in-memory databases.
fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn h2() -> JdbcManager {
    jdbc::h2(&format!("mem:{};DB_CLOSE_DELAY=-1", unique("h2_"))).jar(jar("h2.jar"))
}

fn postgres() -> JdbcManager {
    jdbc::postgresql("127.0.0.1", 5432, "test")
        .user("postgres")
        .jar(jar("postgresql.jar"))
}

fn mariadb() -> JdbcManager {
    jdbc::mariadb("127.0.0.1", 3306, "test")
        .user("root")
        .jar(jar("mariadb-java-client.jar"))
}

/// Runs this test binary again with only `test` selected and `MILLPOND_JDBC_CHILD=test`.
fn run_child(test: &str, env: &[(&str, &str)]) -> Output {
    run_child_until(test, env, None)
}

/// As [`run_child`], but kills the child as soon as its output shows `stop_at` (then its
/// output ends with that line), and after 60 s in any case.
fn run_child_until(test: &str, env: &[(&str, &str)], stop_at: Option<&str>) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel::<(bool, String)>();
    let readers: Vec<_> = [
        (
            false,
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        ),
        (true, Box::new(child.stderr.take().unwrap())),
    ]
    .into_iter()
    .map(|(is_err, pipe)| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send((is_err, line));
            }
        })
    })
    .collect();
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((is_err, line)) => {
                let stop = stop_at.is_some_and(|marker| line.contains(marker));
                let buf = if is_err { &mut stderr } else { &mut stdout };
                buf.push_str(&line);
                buf.push('\n');
                if stop {
                    let _ = child.kill();
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                let _ = child.kill();
                stderr.push_str("killed: the child ran for over 60 s\n");
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let status = child.wait().unwrap();
    if stop_at.is_none() {
        for r in readers {
            let _ = r.join();
        }
    }
    eprintln!("child {test}: {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    Output {
        status,
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    }
}

fn in_child(test: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(test)
}

// ---------------------------------------------------------------------------------------------
// Round trips of every value type

/// Column types per database for: bool, int, bigint, double, decimal(30,10), text, bytes, date,
/// time, timestamp.
struct Dialect {
    types: [&'static str; 10],
    /// Whether decimals keep every digit (SQLite stores them as REAL).
    exact_decimal: bool,
    /// Sub-second digits timestamps keep (9 = nanoseconds, 6 = micro, 3 = milli).
    fraction_digits: u32,
}

const STANDARD: Dialect = Dialect {
    types: [
        "BOOLEAN",
        "INTEGER",
        "BIGINT",
        "DOUBLE PRECISION",
        "DECIMAL(30,10)",
        "VARCHAR(100)",
        "VARBINARY(100)",
        "DATE",
        "TIME",
        "TIMESTAMP",
    ],
    exact_decimal: true,
    fraction_digits: 6,
};

fn sample_row() -> Vec<Value> {
    vec![
        Value::Bool(true),
        Value::Int(-2_147_483_648),
        Value::Int(9_007_199_254_740_993),
        Value::Float(0.1),
        Value::Decimal("12345678901234567890.1234567890".into()),
        Value::Text("pond ✓ 'quoted' ?".into()),
        Value::Bytes(vec![0, 1, 0xfe, 0xff]),
        Value::Date(Date::new(2024, 2, 29).unwrap()),
        Value::Time(Time::new(13, 45, 7, 0).unwrap()),
        Value::Timestamp(Timestamp::new(
            Date::new(1999, 12, 31).unwrap(),
            Time::new(23, 59, 58, 123_456_000).unwrap(),
        )),
    ]
}

/// `CREATE TABLE table (id INTEGER, c0 types[0], c1 types[1], …)`.
fn create_typed_table(conn: &mut JdbcConnection, table: &str, types: &[&str]) {
    let columns: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("c{i} {t}"))
        .collect();
    conn.execute(
        &format!("CREATE TABLE {table} (id INTEGER, {})", columns.join(", ")),
        (),
    )
    .unwrap();
}

fn round_trip(manager: JdbcManager, dialect: &Dialect) {
    let table = unique("rt_");
    let pool = Pool::builder().pool_size(1).build(manager).unwrap();
    let mut conn = pool.get().unwrap();
    create_typed_table(&mut conn, &table, &dialect.types);
    let placeholders = ["?"; 11].join(", ");
    let insert = format!("INSERT INTO {table} VALUES ({placeholders})");
    let mut values = vec![Value::Int(1)];
    values.extend(sample_row());
    assert_eq!(conn.execute(&insert, values).unwrap(), 1);
    let mut nulls = vec![Value::Int(2)];
    nulls.extend(std::iter::repeat_n(Value::Null, 10));
    assert_eq!(conn.execute(&insert, nulls).unwrap(), 1);

    let rows = conn
        .query(&format!("SELECT * FROM {table} ORDER BY id"), ())
        .unwrap();
    assert_eq!(rows.len(), 2);
    let row = &rows[0];
    assert_eq!(row.len(), 11);
    let expected = sample_row();
    assert!(row.get::<bool>("c0").unwrap(), "{:?}", row[1]);
    assert_eq!(row.get::<i64>("c1").unwrap(), -2_147_483_648);
    assert_eq!(row.get::<i64>("C2").unwrap(), 9_007_199_254_740_993);
    assert_eq!(row.get::<f64>("c3").unwrap(), 0.1);
    if dialect.exact_decimal {
        assert_eq!(
            row.value("c4").unwrap(),
            &expected[4],
            "decimals keep every digit"
        );
    }
    assert_eq!(row.value("c5").unwrap(), &expected[5]);
    assert_eq!(row.get::<Vec<u8>>("c6").unwrap(), [0, 1, 0xfe, 0xff]);
    assert_eq!(row.get::<Date>("c7").unwrap(), Date::new(2024, 2, 29).unwrap());
    assert_eq!(row.get::<Time>("c8").unwrap(), Time::new(13, 45, 7, 0).unwrap());
    let ts = row.get::<Timestamp>("c9").unwrap();
    let scale = 10u32.pow(9 - dialect.fraction_digits);
    assert_eq!(
        ts,
        Timestamp::new(
            Date::new(1999, 12, 31).unwrap(),
            Time::new(23, 59, 58, 123_456_000 / scale * scale).unwrap()
        )
    );
    // NULL in every type comes back as NULL.
    let nulls = &rows[1];
    for i in 1..11 {
        assert_eq!(nulls[i], Value::Null, "column {i} of the NULL row");
    }
    assert_eq!(nulls.get::<Option<i64>>("c1").unwrap(), None);
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

#[test]
fn h2_round_trips_every_value_type() {
    round_trip(h2(), &STANDARD);
}

#[test]
fn hsqldb_round_trips_every_value_type() {
    let manager = jdbc::hsqldb(&format!("mem:{}", unique("hs")))
        .jar(jar("hsqldb1.8.0.jar"))
        .user("sa");
    let dialect = Dialect {
        types: {
            let mut t = STANDARD.types;
            t[3] = "DOUBLE";
            t[6] = "BINARY";
            t
        },
        ..STANDARD
    };
    round_trip(manager, &dialect);
}

#[test]
fn derby_round_trips_every_value_type() {
    let manager = jdbc::derby(&format!("memory:{};create=true", unique("dy"))).jar(jar("derby.jar"));
    let dialect = Dialect {
        types: {
            let mut t = STANDARD.types;
            t[3] = "DOUBLE";
            t[4] = "DECIMAL(30,10)";
            t[6] = "VARCHAR(100) FOR BIT DATA";
            t
        },
        fraction_digits: 9,
        ..STANDARD
    };
    round_trip(manager, &dialect);
}

#[test]
fn sqlite_round_trips_every_value_type() {
    let dir = std::env::temp_dir().join(unique("millpond_sqlite_"));
    let manager = jdbc::sqlite(&dir.to_string_lossy()).jar(jar("sqlite-jdbc.jar"));
    let dialect = Dialect {
        types: {
            let mut t = STANDARD.types;
            t[6] = "BLOB";
            t
        },
        exact_decimal: false,
        fraction_digits: 3,
    };
    round_trip(manager, &dialect);
    let _ = std::fs::remove_file(dir);
}

#[test]
fn postgresql_round_trips_every_value_type() {
    let dialect = Dialect {
        types: {
            let mut t = STANDARD.types;
            t[6] = "BYTEA";
            t
        },
        ..STANDARD
    };
    round_trip(postgres(), &dialect);
}

#[test]
fn mariadb_round_trips_every_value_type() {
    let dialect = Dialect {
        types: {
            let mut t = STANDARD.types;
            t[3] = "DOUBLE";
            t[9] = "DATETIME(6)";
            t
        },
        ..STANDARD
    };
    round_trip(mariadb(), &dialect);
}

// ---------------------------------------------------------------------------------------------
// Parameters, statements, batches

#[test]
fn named_and_positional_parameters_bind_values() {
    let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute("CREATE TABLE p (id INT, name VARCHAR(20), note VARCHAR(20))", ())
        .unwrap();
    conn.execute(
        "INSERT INTO p VALUES (:id, :name, :name)",
        Params::named([("id", Value::from(1)), ("name", Value::from("it's :x ? %s"))]),
    )
    .unwrap();
    conn.execute(
        "INSERT INTO p VALUES (%(id)s, %(n)s, 'a%%b')",
        Params::named([("id", 2)]).and("n", "two"),
    )
    .unwrap();
    conn.execute(
        "INSERT INTO p VALUES (%s, %s, '?')",
        [Value::from(3), Value::from("three")],
    )
    .unwrap();
    let rows = conn
        .query(
            "SELECT id, name, note FROM p WHERE name <> '?' AND id >= ? ORDER BY id",
            [1],
        )
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0].get::<String>("note").unwrap(),
        "it's :x ? %s",
        "a repeated name binds again"
    );
    assert_eq!(
        rows[1].get::<String>("note").unwrap(),
        "a%%b",
        "quoted text is left alone"
    );
    assert_eq!(rows[2].get::<String>("note").unwrap(), "?");
    let n: i64 = conn
        .query_scalar("SELECT 7 %% 4 + :a -- :comment ?\n", Params::named([("a", 10)]))
        .unwrap();
    assert_eq!(n, 13, "%% is a literal percent (modulo); comments are left alone");

    let err = conn
        .query("SELECT :missing", Params::named([("other", 1)]))
        .unwrap_err();
    assert_eq!(err.kind(), JdbcErrorKind::Params);
    assert!(
        err.message().contains("no value for parameter `missing`"),
        "{err}"
    );
    let err = conn.query("SELECT ?, :a", [1]).unwrap_err();
    assert!(err.message().contains("mixes placeholder styles"), "{err}");
    // A parameter error sends nothing: the connection is still clean.
    assert_eq!(conn.transaction_state(), TransactionState::Idle);
}

#[test]
fn a_timestamp_with_an_offset_binds_as_an_offset_date_time_and_an_array_is_refused() {
    let pool = Pool::builder().pool_size(1).build(postgres()).unwrap();
    let mut conn = pool.get().unwrap();
    let table = unique("mp_jdbc_tz_");
    conn.execute(&format!("CREATE TABLE {table} (at TIMESTAMP WITH TIME ZONE)"), ())
        .unwrap();
    let at: TimestampTz = "2024-07-01 12:00:00.25+02:00".parse().unwrap();
    conn.execute(
        &format!("INSERT INTO {table} VALUES (?)"),
        [Value::TimestampTz(at)],
    )
    .unwrap();
    let utc: String = conn
        .query_scalar(
            &format!("SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') FROM {table}"),
            (),
        )
        .unwrap();
    assert_eq!(utc, "2024-07-01 10:00:00.250");
    // Read back with its offset (pgjdbc gives the instant at UTC).
    let rows = conn.query(&format!("SELECT at FROM {table}"), ()).unwrap();
    let read: TimestampTz = "2024-07-01 10:00:00.25+00:00".parse().unwrap();
    assert_eq!(rows[0].values(), [Value::TimestampTz(read)]);
    // H2 keeps the offset it was given.
    let h2_pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    let rows = h2_pool
        .get()
        .unwrap()
        .query(
            "SELECT TIMESTAMP WITH TIME ZONE '2024-07-01 12:00:00.25+02:00'",
            (),
        )
        .unwrap();
    assert_eq!(rows[0].values(), [Value::TimestampTz(at)]);
    let err = conn
        .query("SELECT ?", [Value::Array(vec![Value::Int(1)])])
        .unwrap_err();
    assert_eq!(err.kind(), JdbcErrorKind::Value);
    assert!(
        err.message().contains("arrays cannot be sent through JDBC"),
        "{err}"
    );
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

#[test]
fn prepared_statements_and_batches() {
    let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute("CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(10))", ())
        .unwrap();
    let counts = conn
        .execute_batch(
            "INSERT INTO b VALUES (:id, :v)",
            (0..100).map(|i| Params::named([("id", Value::from(i)), ("v", Value::from(format!("v{i}")))])),
        )
        .unwrap();
    assert_eq!(counts.len(), 100);
    assert!(counts.iter().all(|&c| c == 1 || c == -2), "{counts:?}");
    let mut stmt = conn.prepare("SELECT v FROM b WHERE id = ?").unwrap();
    assert_eq!(stmt.sql(), "SELECT v FROM b WHERE id = ?");
    for i in [0, 42, 99] {
        let rows = stmt.query([i]).unwrap();
        assert_eq!(rows[0].get::<String>(0).unwrap(), format!("v{i}"));
    }
    drop(stmt);
    let mut update = conn.prepare("UPDATE b SET v = 'x' WHERE id < ?").unwrap();
    assert_eq!(update.execute([10]).unwrap(), 10);
    drop(update);
    let n: i64 = conn
        .query_scalar("SELECT count(*) FROM b WHERE v = 'x'", ())
        .unwrap();
    assert_eq!(n, 10);
}

// ---------------------------------------------------------------------------------------------
// Transactions and the pool

#[test]
fn transactions_are_tracked_and_rolled_back_on_return() {
    let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    {
        let mut conn = pool.get().unwrap();
        conn.execute("CREATE TABLE t (x INT)", ()).unwrap();
        conn.query("SELECT * FROM t", ()).unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }
    assert_eq!(
        pool.stats().resets,
        0,
        "no rollback round trip with no transaction open"
    );

    // Autocommit off, an insert left uncommitted: rolled back on return, autocommit restored.
    {
        let mut conn = pool.get().unwrap();
        conn.set_autocommit(false).unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Unknown);
        conn.execute("INSERT INTO t VALUES (1)", ()).unwrap();
    }
    assert_eq!(pool.stats().resets, 1);
    {
        let mut conn = pool.get().unwrap();
        assert!(conn.autocommit(), "the manager's autocommit is put back");
        assert_eq!(conn.query_scalar::<i64>("SELECT count(*) FROM t", ()).unwrap(), 0);
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
    }

    // A transaction object: dropped rolls back, committed persists.
    {
        let mut conn = pool.get().unwrap();
        {
            let mut tx = conn.transaction().unwrap();
            tx.execute("INSERT INTO t VALUES (2)", ()).unwrap();
            assert_eq!(tx.transaction_state(), TransactionState::Unknown);
        }
        assert!(conn.autocommit());
        let mut tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (3)", ()).unwrap();
        tx.commit().unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
        let xs: Vec<i64> = conn
            .query("SELECT x FROM t", ())
            .unwrap()
            .iter()
            .map(|r| r.get(0).unwrap())
            .collect();
        assert_eq!(xs, [3]);
    }

    // With autocommit off by the manager: any statement opens a transaction.
    let pool = Pool::builder()
        .pool_size(1)
        .build(h2().autocommit(false))
        .unwrap();
    {
        let mut conn = pool.get().unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
        conn.execute("CREATE TABLE u (x INT)", ()).unwrap();
        conn.commit().unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Idle);
        conn.execute("INSERT INTO u VALUES (1)", ()).unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Active);
    }
    let mut conn = pool.get().unwrap();
    assert!(!conn.autocommit());
    assert_eq!(conn.query_scalar::<i64>("SELECT count(*) FROM u", ()).unwrap(), 0);
}

/// Autocommit turned off through `raw()` (behind the connection's back) is found on return and
/// put back: the next borrower's plain write is committed, as it would be on a fresh connection,
/// instead of sitting in a transaction that a later return rolls back.
#[test]
fn autocommit_turned_off_through_raw_is_put_back_on_return() {
    let manager = h2();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .build(manager.clone())
        .unwrap();
    pool.get()
        .unwrap()
        .execute("CREATE TABLE raw_ac (x INT)", ())
        .unwrap();
    {
        let mut conn = pool.get().unwrap();
        let raw = conn.raw().clone();
        let mut env = jdbc::java_vm()
            .unwrap()
            .attach_current_thread_permanently()
            .unwrap();
        env.call_method(
            raw.as_obj(),
            "setAutoCommit",
            "(Z)V",
            &[jdbc::jni::objects::JValue::Bool(0)],
        )
        .unwrap();
        assert!(conn.autocommit(), "the wrapper cannot see what raw() did");
    }
    let id = {
        let mut conn = pool.get().unwrap();
        assert!(conn.autocommit());
        conn.execute("INSERT INTO raw_ac VALUES (1)", ()).unwrap();
        conn.id()
    };
    // A third connection, outside the pool, sees the row: it was committed.
    let mut other = manager.connect().unwrap();
    assert_eq!(
        other
            .query_scalar::<i64>("SELECT count(*) FROM raw_ac", ())
            .unwrap(),
        1,
        "the second borrower's write was left in a transaction"
    );
    let mut conn = pool.get().unwrap();
    assert_eq!(conn.id(), id, "the same pooled connection all along");
    assert_eq!(
        conn.query_scalar::<i64>("SELECT count(*) FROM raw_ac", ())
            .unwrap(),
        1
    );
}

#[test]
fn explicit_begin_under_autocommit_is_rolled_back_on_return_postgresql() {
    let table = unique("tx_");
    let pool = Pool::builder().pool_size(1).build(postgres()).unwrap();
    {
        let mut conn = pool.get().unwrap();
        conn.execute(&format!("CREATE TABLE {table} (x INT)"), ())
            .unwrap();
        conn.execute("BEGIN", ()).unwrap();
        conn.execute(&format!("INSERT INTO {table} VALUES (1)"), ())
            .unwrap();
        assert_eq!(conn.transaction_state(), TransactionState::Active);
    }
    let mut conn = pool.get().unwrap();
    assert_eq!(
        conn.query_scalar::<i64>(&format!("SELECT count(*) FROM {table}"), ())
            .unwrap(),
        0
    );
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

/// 16 threads share a pool of 4 on `manager`; every insert is counted exactly once.
fn sixteen_threads_share_four(manager: JdbcManager, rounds: i64) {
    let table = unique("mt_");
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(0)
        .timeout(Duration::from_secs(30))
        .build(manager)
        .unwrap();
    pool.get()
        .unwrap()
        .execute(&format!("CREATE TABLE {table} (t INT, i INT)"), ())
        .unwrap();
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let pool = pool.clone();
            let table = table.clone();
            std::thread::spawn(move || {
                for i in 0..rounds {
                    let mut conn = pool.get().unwrap();
                    conn.execute(
                        &format!("INSERT INTO {table} VALUES (:t, :i)"),
                        Params::named([("t", t), ("i", i)]),
                    )
                    .unwrap();
                    let sum: i64 = conn
                        .query_scalar(&format!("SELECT sum(i) FROM {table} WHERE t = ?"), [t])
                        .unwrap();
                    assert_eq!(sum, i * (i + 1) / 2, "thread {t} sees its own rows");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let state = pool.state();
    assert!(state.open <= 4, "{state}");
    let mut conn = pool.get().unwrap();
    let n: i64 = conn
        .query_scalar(&format!("SELECT count(*) FROM {table}"), ())
        .unwrap();
    assert_eq!(n, 16 * rounds);
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

#[test]
fn sixteen_threads_share_a_pool_of_four_h2() {
    sixteen_threads_share_four(h2(), 50);
}

#[test]
fn sixteen_threads_share_a_pool_of_four_postgresql() {
    sixteen_threads_share_four(postgres(), 10);
}

#[test]
fn sixteen_threads_share_a_pool_of_four_mariadb() {
    sixteen_threads_share_four(mariadb(), 10);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn exceptions_carry_sqlstate_vendor_code_and_message() {
    let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute("CREATE TABLE present (x INT)", ()).unwrap();
    let err = conn.query("SELECT * FROM no_such_table", ()).unwrap_err();
    assert_eq!(err.kind(), JdbcErrorKind::Sql);
    assert_eq!(err.sql_state(), Some("42S02"), "{err}");
    assert_eq!(err.vendor_code(), 42102);
    assert!(err.message().contains("NO_SUCH_TABLE"), "{err}");
    assert!(err.java_class().unwrap().starts_with("org.h2.jdbc."), "{err}");
    // The exception was cleared: the connection goes on working.
    assert_eq!(conn.query_scalar::<i64>("SELECT 1", ()).unwrap(), 1);
    assert!(!pool.manager().is_lost_server(&err));

    let pool = Pool::builder().pool_size(1).build(postgres()).unwrap();
    let mut conn = pool.get().unwrap();
    let err = conn.query("SELECT * FROM no_such_table", ()).unwrap_err();
    assert_eq!(err.sql_state(), Some("42P01"), "{err}");
    let err = conn.query("SELECT 1/0", ()).unwrap_err();
    assert_eq!(err.sql_state(), Some("22012"), "{err}");

    let pool = Pool::builder().pool_size(1).build(mariadb()).unwrap();
    let mut conn = pool.get().unwrap();
    let err = conn.query("SELECT * FROM no_such_table", ()).unwrap_err();
    assert_eq!(
        (err.sql_state(), err.vendor_code()),
        (Some("42S02"), 1146),
        "{err}"
    );
}

#[test]
fn a_killed_postgresql_session_is_a_lost_server_and_broken() {
    let pool = Pool::builder().pool_size(2).build(postgres()).unwrap();
    let mut victim = pool.get().unwrap();
    let pid: i64 = victim.query_scalar("SELECT pg_backend_pid()", ()).unwrap();
    let mut killer = pool.get().unwrap();
    assert!(
        killer
            .query_scalar::<bool>("SELECT pg_terminate_backend(?::int)", [pid])
            .unwrap()
    );
    let err = victim.query("SELECT 1", ()).unwrap_err();
    assert!(pool.manager().is_lost_server(&err), "{err}");
    assert!(victim.is_broken());
    assert!(
        pool.manager()
            .is_valid(&mut killer, Duration::from_millis(1500))
            .is_ok()
    );
}

/// `is_valid` on a PostgreSQL JDBC connection whose network went silent returns false within
/// its timeout, even a sub-second one (JDBC's `isValid` counts whole seconds).
#[test]
fn a_sub_second_validation_timeout_is_honoured_on_a_silent_network() {
    let proxy = common::proxy::Proxy::start("127.0.0.1:5432");
    let manager = jdbc::postgresql("127.0.0.1", proxy.port(), "test")
        .user("postgres")
        .jar(jar("postgresql.jar"));
    let mut conn = manager.connect().unwrap();
    // The connection works (a generous budget: a cold JVM on a loaded machine can take longer
    // than 200 ms for its first isValid, and this only checks the connection).
    assert!(manager.is_valid(&mut conn, Duration::from_secs(10)).is_ok());
    proxy.freeze();
    let began = Instant::now();
    let result = manager.is_valid(&mut conn, Duration::from_millis(200));
    let took = began.elapsed();
    println!("is_valid(200 ms) on a silent network: {result:?} after {took:?}");
    assert!(result.is_err());
    // Well under the whole second `isValid` would round 200 ms up to (it took 2 s before),
    // with room for a loaded machine.
    assert!(took < Duration::from_millis(600), "took {took:?}");
}

#[test]
fn passwords_never_appear_in_errors() {
    let secret = "s3cr3t-Pa55";
    let manager = mariadb().password(secret);
    let err = manager.connect().unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(err.message().contains("Access denied"), "{err}");
    let manager = jdbc::generic(&format!("jdbc:nosuchdb://root:{secret}@h/db"), None);
    let err = Pool::builder()
        .pool_size(1)
        .build(manager)
        .unwrap()
        .get()
        .unwrap_err();
    let shown = format!("{} {err:?}", common::chain(&err));
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("No suitable driver"), "{shown}");
}

// ---------------------------------------------------------------------------------------------
// Presets, Oracle and OceanBase

#[test]
fn oracle_and_oceanbase_presets_say_clearly_when_the_jar_is_absent() {
    for (manager, class, jar_hint) in [
        (
            jdbc::oracle("db.example", 1521, "FREEPDB1"),
            "oracle.jdbc.OracleDriver",
            "ojdbc",
        ),
        (
            jdbc::oceanbase("ob.example", 2881, "test"),
            "com.oceanbase.jdbc.Driver",
            "oceanbase-client.jar",
        ),
    ] {
        let pool = Pool::builder()
            .pool_size(1)
            .build(manager.user("scott").password("tiger"))
            .unwrap();
        let err = pool.get().unwrap_err();
        let source = err.connect_source().expect("a connect error").to_string();
        assert!(
            source.contains(&format!("the JDBC driver class {class} was not found")),
            "{source}"
        );
        assert!(source.contains(jar_hint) && source.contains(".jar("), "{source}");
        assert!(!source.contains("tiger"), "{source}");
    }
    let missing = jdbc::oracle("h", 1521, "s").jar("/nonexistent/ojdbc11.jar");
    let err = missing.connect().unwrap_err();
    assert_eq!(err.kind(), JdbcErrorKind::Config);
    assert!(
        err.message().contains("/nonexistent/ojdbc11.jar does not exist"),
        "{err}"
    );
}

/// `MILLPOND_JDBC_<NAME>_URL` names a real server (a JDBC URL, credentials included), and
/// `MILLPOND_JDBC_<NAME>_JAR` its driver's jar.
fn real_server(name: &str, class: &str, probe: &str) {
    let Ok(url) = std::env::var(format!("MILLPOND_JDBC_{name}_URL")) else {
        println!(
            "skipped: MILLPOND_JDBC_{name}_URL is not set (a JDBC URL of a {name} server to test against)"
        );
        return;
    };
    let mut manager = jdbc::generic(&url, Some(class));
    if let Ok(jar) = std::env::var(format!("MILLPOND_JDBC_{name}_JAR")) {
        manager = manager.jar(jar);
    }
    let pool = Pool::builder().pool_size(2).build(manager).unwrap();
    let mut conn = pool.get().unwrap();
    assert_eq!(
        conn.query_scalar::<i64>(probe, Params::named([("n", 41)]))
            .unwrap(),
        42
    );
    let mut tx = conn.transaction().unwrap();
    assert_eq!(
        tx.query_scalar::<i64>(probe, Params::named([("n", 1)])).unwrap(),
        2
    );
    tx.rollback().unwrap();
    assert!(pool.manager().is_valid(&mut conn, Duration::from_secs(5)).is_ok());
}

#[test]
fn oracle_real_server_when_named() {
    real_server("ORACLE", "oracle.jdbc.OracleDriver", "SELECT :n + 1 FROM dual");
}

#[test]
fn oceanbase_real_server_when_named() {
    real_server("OCEANBASE", "com.oceanbase.jdbc.Driver", "SELECT :n + 1");
}

// ---------------------------------------------------------------------------------------------
// The JVM: local references, threads, start failures, fork

/// Reads 100 000 rows under `-Xcheck:jni`, which warns as soon as local references outgrow
/// their frame; a control run creates references without a frame and must be warned about, so
/// the check is known to be awake.
#[test]
fn local_references_stay_bounded_over_100_000_rows() {
    const TEST: &str = "local_references_stay_bounded_over_100_000_rows";
    if in_child(TEST) {
        let leak = std::env::var("MILLPOND_JDBC_LEAK").is_ok();
        let took = jdbc::start_jvm(&JvmOptions::new().option("-Xcheck:jni")).unwrap();
        println!("JVM started in {took:?}");
        if leak {
            // The control: 1 000 local references in the thread's base frame, none freed.
            let vm = jdbc::java_vm().unwrap();
            let mut env = vm.attach_current_thread_permanently().unwrap();
            for i in 0..1000 {
                // JString has no Drop: the reference lives until the thread detaches.
                let _leaked = env.new_string(format!("leak {i}")).unwrap();
            }
            env.call_static_method("java/lang/System", "gc", "()V", &[])
                .unwrap();
            println!("leaked");
            return;
        }
        // The jar was not on the class path at start: it is loaded by a class loader of its own.
        let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
        let mut conn = pool.get().unwrap();
        let began = Instant::now();
        let mut n = 0u64;
        let mut sum = 0i64;
        conn.query_each(
            // Parameters too: -Xcheck:jni also checks every call's arguments (setLong, setString).
            "SELECT x, CAST(x AS VARCHAR) FROM SYSTEM_RANGE(:first, :last) WHERE CAST(x AS VARCHAR) <> :text",
            Params::named([
                ("first", Value::from(1)),
                ("last", Value::from(100_000)),
                ("text", Value::from("none")),
            ]),
            |row| {
                n += 1;
                sum += row.get::<i64>(0)?;
                assert_eq!(row.get::<String>(1)?, row.get::<i64>(0)?.to_string());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!((n, sum), (100_000, 5_000_050_000));
        println!("read 100000 rows in {:?}", began.elapsed());
        return;
    }
    let warning = "JNI local refs";
    let control = run_child_until(TEST, &[("MILLPOND_JDBC_LEAK", "1")], Some(warning));
    let control_text =
        String::from_utf8_lossy(&control.stdout).into_owned() + &String::from_utf8_lossy(&control.stderr);
    assert!(control_text.contains("JVM started"), "the control child ran");
    assert!(
        control_text.contains("JNI local refs"),
        "-Xcheck:jni must warn about references made without a frame"
    );
    let out = run_child_until(TEST, &[], Some(warning));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("JNI local refs"),
        "local references outgrew their frame"
    );
    assert!(out.status.success());
    assert!(text.contains("read 100000 rows"), "the child read the rows");
    assert!(!text.contains("WARNING"), "-Xcheck:jni warned");
}

/// `DriverManager` (no driver class named) finds a driver from every thread: each attached
/// thread gets the system class loader as its context class loader.
#[test]
fn driver_manager_finds_drivers_on_every_thread() {
    const TEST: &str = "driver_manager_finds_drivers_on_every_thread";
    if in_child(TEST) {
        jdbc::start_jvm(&JvmOptions::new().jar(jar("h2.jar"))).unwrap();
        let manager = jdbc::generic(&format!("jdbc:h2:mem:{};DB_CLOSE_DELAY=-1", unique("dm")), None);
        let pool = Pool::builder().pool_size(4).build(manager).unwrap();
        let all_hold = std::sync::Barrier::new(4);
        common::together(4, |i| {
            let i = i as i64;
            // All four hold a connection at once, so each opened its own.
            let mut conn = pool.get().unwrap();
            all_hold.wait();
            assert_eq!(conn.query_scalar::<i64>("SELECT ?", [i]).unwrap(), i);
        });
        assert_eq!(pool.stats().connect_errors, 0);
        assert_eq!(pool.stats().connects, 4, "each thread opened a connection");
        println!("all threads connected");
        return;
    }
    let out = run_child(TEST, &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("all threads connected"));
}

/// No JVM to be found: a clear `Error::Connect` saying where libjvm was looked for, and the
/// same error again on the next connect (the failure is remembered). Every place the lookup
/// goes is hidden: `JAVA_HOME` is unset, `PATH` holds no `java`, and the fallback homes
/// (`/usr/lib/jvm/default-java` by default, which `default-jre-headless` installs) are replaced
/// by one that does not exist.
#[test]
fn a_missing_jvm_is_a_clear_connect_error() {
    const TEST: &str = "a_missing_jvm_is_a_clear_connect_error";
    if in_child(TEST) {
        let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
        let first = common::chain(&pool.get().unwrap_err());
        assert!(
            first.starts_with("could not open a database connection: "),
            "{first}"
        );
        assert!(first.contains("could not find a JVM"), "{first}");
        assert!(first.contains("JAVA_HOME is not set"), "{first}");
        assert!(first.contains("no `java` is on PATH"), "{first}");
        assert!(first.contains("/nonexistent-jdk/lib/server/libjvm.so"), "{first}");
        assert!(
            !first.contains("/usr/lib/jvm/default-java"),
            "the default fallback is replaced: {first}"
        );
        let second = common::chain(&pool.get().unwrap_err());
        assert_eq!(first, second);
        let explicit = jdbc::h2("mem:").libjvm("/nope/libjvm.so");
        assert_eq!(explicit.connect().unwrap_err().kind(), JdbcErrorKind::Jvm);
        println!("clear: {first}");
        return;
    }
    let out = run_child(
        TEST,
        &[
            ("JAVA_HOME", ""),
            ("PATH", "/nonexistent-bin"),
            ("MILLPOND_JAVA_FALLBACK", "/nonexistent-jdk"),
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("clear: "));
}

/// The home of the `java` on `PATH` (which the other tests start), which must exist.
fn java_home_on_path() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let java = std::env::split_paths(&path)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
        .expect("no `java` on PATH: install default-jre-headless");
    let real = java.canonicalize().unwrap();
    real.parent().unwrap().parent().unwrap().to_path_buf()
}

/// A `JAVA_HOME` that holds no JVM is an error naming it and what was looked for there, even
/// though a JVM is reachable through `PATH` and the fallback homes: no silent replacement.
#[test]
fn a_wrong_java_home_is_a_clear_error_naming_it() {
    const TEST: &str = "a_wrong_java_home_is_a_clear_error_naming_it";
    if in_child(TEST) {
        let home = std::env::var("JAVA_HOME").unwrap();
        let err = h2().connect().unwrap_err();
        assert_eq!(err.kind(), JdbcErrorKind::Jvm, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("JAVA_HOME is set to {home}, but no JVM is there")),
            "{text}"
        );
        assert!(text.contains(&format!("{home}/lib/server/libjvm.so")), "{text}");
        assert!(text.contains("unset it"), "{text}");
        let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
        let through_pool = pool.get().unwrap_err();
        assert!(through_pool.connect_source().is_some(), "{through_pool}");
        println!("clear: {text}");
        return;
    }
    let empty = std::env::temp_dir().join(unique("millpond_no_jdk_"));
    std::fs::create_dir_all(&empty).unwrap();
    let real = java_home_on_path();
    let out = run_child(
        TEST,
        &[
            ("JAVA_HOME", empty.to_str().unwrap()),
            // A working JVM stands where the fallback would look.
            ("MILLPOND_JAVA_FALLBACK", real.to_str().unwrap()),
        ],
    );
    let _ = std::fs::remove_dir(&empty);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("clear: "));
}

/// A forked child must not touch the parent's JVM (it would hang): connects and calls on
/// inherited connections return a clear error at once.
#[cfg(unix)]
#[test]
fn a_forked_child_gets_a_clear_error_instead_of_hanging() {
    const TEST: &str = "a_forked_child_gets_a_clear_error_instead_of_hanging";
    if in_child(TEST) {
        let manager = h2();
        let pool = Pool::builder().pool_size(1).build(manager.clone()).unwrap();
        let mut conn = pool.get().unwrap();
        assert_eq!(conn.query_scalar::<i64>("SELECT 1", ()).unwrap(), 1);
        let mut inherited: JdbcConnection = manager.connect().unwrap();
        // The child only calls into millpond, which returns at its fork check. It drops nothing
        // it inherited (its results are forgotten too): no destructor touches the parent's JVM.
        let pid = common::fork_child(|| {
            let call = inherited.query("SELECT 1", ());
            let connect = manager.connect();
            let ok = matches!(&call, Err(e) if e.kind() == JdbcErrorKind::Forked && e.message().contains("fork"))
                && matches!(&connect, Err(e) if e.kind() == JdbcErrorKind::Forked);
            std::mem::forget((call, connect));
            if ok { 0 } else { 3 }
        });
        let code = common::wait_child_within(pid, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("the forked child hung touching the JVM"));
        assert_eq!(code, 0, "the child's exit code (minus the signal that ended it)");
        // The parent's JVM and connections are unharmed.
        assert_eq!(conn.query_scalar::<i64>("SELECT 2", ()).unwrap(), 2);
        assert_eq!(inherited.query_scalar::<i64>("SELECT 3", ()).unwrap(), 3);
        println!("fork refused cleanly");
        return;
    }
    let out = run_child(TEST, &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("fork refused cleanly"));
}

#[test]
fn jvm_start_and_query_round_trip_figures() {
    let took = jdbc::start_jvm(&JvmOptions::new()).unwrap();
    let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    let mut conn = pool.get().unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    for i in 0..2000 {
        let n: i64 = conn.query_scalar("SELECT ?", [i]).unwrap();
        counter.fetch_add(u64::try_from(n).unwrap(), Ordering::Relaxed);
    }
    let per_query = began.elapsed() / 2000;
    let began = Instant::now();
    let mut rows = 0u64;
    conn.query_each("SELECT x FROM SYSTEM_RANGE(1, 20000)", (), |row| {
        rows += u64::try_from(row.get::<i64>(0)?).map_or(0, |_| 1);
        Ok(())
    })
    .unwrap();
    assert_eq!(rows, 20_000);
    println!(
        "read 20000 one-column rows: {:?} per row",
        began.elapsed() / 20_000
    );
    assert_eq!(counter.load(Ordering::Relaxed), 1999 * 2000 / 2);
    println!("JVM start (if this test started it): {took:?}; H2 `SELECT ?` round trip: {per_query:?}");
    assert!(conn.server_version().unwrap().starts_with("H2 "));
}

// ---------------------------------------------------------------------------------------------
// Connect and reset timeouts on a server that stops answering

/// A password that must never show.
const TIMEOUT_SECRET: &str = "N0t-In-Any-Timeout-Msg";

/// The drivers that must give up on a silent server: PgJDBC without SSL (with the default
/// sslmode it gives up on its own after its 5 s SSL response timeout) and MariaDB Connector/J.
fn silent_managers(port: u16) -> [(&'static str, JdbcManager); 2] {
    [
        (
            "PgJDBC sslmode=disable",
            jdbc::postgresql("127.0.0.1", port, "test")
                .user("postgres")
                .password(TIMEOUT_SECRET)
                .property("sslmode", "disable")
                .jar(jar("postgresql.jar")),
        ),
        (
            "MariaDB Connector/J",
            jdbc::mariadb("127.0.0.1", port, "test")
                .user("root")
                .password(TIMEOUT_SECRET)
                .jar(jar("mariadb-java-client.jar")),
        ),
    ]
}

/// `connect()` on a server that accepts and never answers returns a timeout error within
/// `connect_timeout` (plus 500 ms), saying so and for how long, without the password; and the
/// attempt given up on ends too: the driver closes its socket soon after.
#[test]
fn a_connect_to_a_silent_server_ends_within_connect_timeout() {
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    jdbc::start_jvm(&JvmOptions::new()).unwrap();
    let server = common::silent::SilentServer::start();
    for (name, manager) in silent_managers(server.port) {
        let manager = manager.connect_timeout(CONNECT_TIMEOUT);
        let (tx, rx) = mpsc::channel();
        let began = Instant::now();
        std::thread::spawn(move || {
            let _ = tx.send(manager.connect().map(drop));
        });
        // Bounded, so that a connect that never ends fails the test instead of hanging it.
        let result = rx
            .recv_timeout(CONNECT_TIMEOUT + Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{name}: connect() still running after {:?}", began.elapsed()));
        let took = began.elapsed();
        println!("{name}: connect() on a silent server: {result:?} after {took:?}");
        let err = result.expect_err("a connection from a server that never answers");
        assert!(
            took <= CONNECT_TIMEOUT + Duration::from_millis(500),
            "{name}: took {took:?}"
        );
        assert_eq!(err.kind(), JdbcErrorKind::Timeout, "{name}: {err}");
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("timed out after 1.0 s") && shown.contains("connect_timeout"),
            "{name}: {shown}"
        );
        assert!(!shown.contains(TIMEOUT_SECRET), "{name}: {shown}");
        // The driver's own timeouts end the abandoned attempt: its socket is closed.
        let closed = server
            .closed
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{name}: the abandoned attempt still holds its socket"));
        println!(
            "{name}: the abandoned attempt closed its socket {:?} after the connect began",
            closed - began
        );
    }
}

/// Through a pool: the checkout times out at the caller's timeout, and the connect behind it
/// gives its slot back within `connect_timeout` (no `opening` held for good).
#[test]
fn a_pool_on_a_silent_server_gets_its_connect_slots_back() {
    const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
    jdbc::start_jvm(&JvmOptions::new()).unwrap();
    let server = common::silent::SilentServer::start();
    for (name, manager) in silent_managers(server.port) {
        let pool = Pool::builder()
            .pool_size(2)
            .max_overflow(Some(0))
            .timeout(Duration::from_millis(300))
            .build(manager.connect_timeout(CONNECT_TIMEOUT))
            .unwrap();
        let began = Instant::now();
        let got = pool.get();
        let took = began.elapsed();
        assert!(
            matches!(got, Err(millpond::Error::Timeout(_))),
            "{name}: {:?}",
            got.map(drop)
        );
        assert!(
            took < Duration::from_millis(300 + 100),
            "{name}: get() took {took:?}"
        );
        assert!(pool.state().opening > 0, "{name}: {:?}", pool.state());
        let released = common::eventually(CONNECT_TIMEOUT + Duration::from_secs(1), || {
            pool.state().opening == 0
        });
        println!(
            "{name}: opening back to 0: {released} after {:?}; {:?}",
            began.elapsed(),
            pool.state()
        );
        assert!(
            released,
            "{name}: a connect slot still held {:?} after the checkout: {:?}",
            began.elapsed(),
            pool.state()
        );
        let stats = pool.stats();
        assert!(stats.connect_errors >= 1, "{name}: {stats:?}");
    }
}

/// A connection given back with a transaction open while its network is silent (a proxy that
/// stops forwarding and closes nothing): the borrower's drop returns within `reset_timeout`
/// (plus 300 ms), and the connection is closed, not kept. PgJDBC with and without TLS, and
/// MariaDB Connector/J (whose abort would hang too: it first connects again to KILL the
/// session).
#[test]
fn a_reset_on_a_silent_network_ends_within_reset_timeout_and_closes_the_connection() {
    const RESET_TIMEOUT: Duration = Duration::from_secs(1);
    /// A name, the server to proxy, the manager for the proxy's port, the statements that
    /// open a transaction.
    type Case = (
        &'static str,
        &'static str,
        fn(u16) -> JdbcManager,
        &'static [&'static str],
    );
    let cases: [Case; 3] = [
        (
            // TLS when the server offers it (PgJDBC's network timeout then does not end the
            // read: the watchdog's abort does).
            "PgJDBC",
            "127.0.0.1:5432",
            |port| {
                jdbc::postgresql("127.0.0.1", port, "test")
                    .user("postgres")
                    .jar(jar("postgresql.jar"))
            },
            // A transaction id is assigned: the session has a transaction open on the server.
            &["SELECT txid_current()"],
        ),
        (
            "PgJDBC sslmode=disable",
            "127.0.0.1:5432",
            |port| {
                jdbc::postgresql("127.0.0.1", port, "test")
                    .user("postgres")
                    .property("sslmode", "disable")
                    .jar(jar("postgresql.jar"))
            },
            &["SELECT txid_current()"],
        ),
        (
            "MariaDB Connector/J",
            "127.0.0.1:3306",
            |port| {
                jdbc::mariadb("127.0.0.1", port, "test")
                    .user("root")
                    .jar(jar("mariadb-java-client.jar"))
            },
            // A write in an InnoDB table: the server reports a transaction open.
            &[
                "CREATE TEMPORARY TABLE mp_reset_t (x INT) ENGINE=InnoDB",
                "INSERT INTO mp_reset_t VALUES (1)",
            ],
        ),
    ];
    for (name, server, manager, statements) in cases {
        let proxy = common::proxy::Proxy::start(server);
        let manager = manager(proxy.port()).reset_timeout(RESET_TIMEOUT);
        let pool = Pool::builder().pool_size(1).build(manager).unwrap();
        let mut conn = pool.get().unwrap();
        conn.set_autocommit(false).unwrap();
        for sql in statements {
            conn.execute_unprepared(sql).unwrap();
        }
        assert_ne!(conn.transaction_state(), TransactionState::Idle);
        assert_eq!(pool.state().open, 1);
        proxy.freeze();
        let (tx, rx) = mpsc::channel();
        let began = Instant::now();
        std::thread::spawn(move || {
            drop(conn);
            let _ = tx.send(began.elapsed());
        });
        // Bounded, so that a reset that never ends fails the test instead of hanging it.
        let took = rx
            .recv_timeout(RESET_TIMEOUT + Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{name}: the drop still blocks after {:?}", began.elapsed()));
        println!("{name}: drop with a transaction open on a silent network: {took:?}");
        assert!(
            took <= RESET_TIMEOUT + Duration::from_millis(300),
            "{name}: the drop took {took:?}"
        );
        assert!(
            common::eventually(Duration::from_secs(5), || {
                let state = pool.state();
                state.open == 0 && state.idle == 0 && state.closing == 0
            }),
            "{name}: the connection was kept: {:?}",
            pool.state()
        );
        let stats = pool.stats();
        assert_eq!((stats.resets, stats.reset_failures), (1, 1), "{name}: {stats:?}");
    }
}

/// The driver's socket timeout, given only for the login, is taken off once the connection is
/// open: a query may run longer than the connect timeout plus the driver's margin (1 s + 1 s).
#[test]
fn a_query_may_run_longer_than_the_connect_timeout() {
    let queries = [
        ("PgJDBC", postgres(), "SELECT 1 FROM pg_sleep(3)"),
        (
            "MariaDB Connector/J",
            mariadb(),
            "SELECT 1 FROM (SELECT SLEEP(3)) AS s",
        ),
    ];
    let threads: Vec<_> = queries
        .into_iter()
        .map(|(name, manager, sql)| {
            std::thread::spawn(move || {
                // A first connect loads the driver's classes.
                drop(manager.connect().unwrap());
                let manager = manager.connect_timeout(Duration::from_secs(1));
                // On a loaded machine a connect once took longer than the second it is given
                // here; what this test is about is the query, so such a connect is tried again.
                let mut conn = (0..3)
                    .find_map(|_| match manager.connect() {
                        Ok(conn) => Some(conn),
                        Err(err) if err.kind() == JdbcErrorKind::Timeout => None,
                        Err(err) => panic!("{name}: {err}"),
                    })
                    .unwrap_or_else(|| panic!("{name}: three connects in a row took over 1 s"));
                let began = Instant::now();
                let n: i64 = conn
                    .query_scalar(sql, ())
                    .unwrap_or_else(|err| panic!("{name}: {err}"));
                assert_eq!(n, 1);
                assert!(began.elapsed() >= Duration::from_secs(3), "{name}");
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// Settings set the JDBC timeouts through OPTIONS or the URL's query (taken out of the URL the
/// driver sees), and the connect keeps them.
#[test]
fn settings_set_the_jdbc_timeouts() {
    use millpond::settings::{DatabaseSettings, Engine, FromSettings};
    jdbc::start_jvm(&JvmOptions::new()).unwrap();
    let server = common::silent::SilentServer::start();
    let url = format!(
        "jdbc:postgresql://127.0.0.1:{}/test?connect_timeout_ms=700&sslmode=disable&reset_timeout_ms=300",
        server.port
    );
    let manager = JdbcManager::from_settings(&DatabaseSettings::from_url(&url).unwrap()).unwrap();
    assert_eq!(
        manager.url(),
        format!("jdbc:postgresql://127.0.0.1:{}/test?sslmode=disable", server.port)
    );
    assert_eq!(manager.get_connect_timeout(), Duration::from_millis(700));
    assert_eq!(manager.get_reset_timeout(), Duration::from_millis(300));
    let manager = manager
        .jar(jar("postgresql.jar"))
        .driver_class("org.postgresql.Driver");
    let began = Instant::now();
    let err = manager.connect().map(drop).unwrap_err();
    let took = began.elapsed();
    assert!(took <= Duration::from_millis(700 + 500), "took {took:?}: {err}");
    assert!(err.to_string().contains("timed out after 700 ms"), "{err}");

    let settings = DatabaseSettings::new(Engine::JdbcPostgresql)
        .name("test")
        .option("connect_timeout_ms", "1200")
        .option("reset_timeout_ms", "2500");
    let manager = JdbcManager::from_settings(&settings).unwrap();
    assert_eq!(manager.get_connect_timeout(), Duration::from_millis(1200));
    assert_eq!(manager.get_reset_timeout(), Duration::from_millis(2500));
    let err = JdbcManager::from_settings(&settings.option("connect_timeout_ms", "0"))
        .map(drop)
        .unwrap_err();
    assert!(err.to_string().contains("connect_timeout_ms"), "{err}");
}

/// A connection whose login completes after `connect_timeout` (the network was silent, then
/// came back) is closed, not leaked: the proxy sees its socket closed.
#[test]
fn a_connection_arriving_after_connect_timeout_is_closed() {
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    jdbc::start_jvm(&JvmOptions::new()).unwrap();
    let proxy = common::proxy::Proxy::start("127.0.0.1:5432");
    let manager = jdbc::postgresql("127.0.0.1", proxy.port(), "test")
        .user("postgres")
        .property("sslmode", "disable")
        .jar(jar("postgresql.jar"))
        .connect_timeout(CONNECT_TIMEOUT);
    // The driver's classes are loaded by a first connect, through the live network.
    drop(manager.connect().unwrap());
    assert!(proxy.wait_connections(Duration::from_secs(5), |n| n == 0));
    proxy.freeze();
    let err = manager.connect().map(drop).unwrap_err();
    assert_eq!(err.kind(), JdbcErrorKind::Timeout, "{err}");
    assert_eq!(proxy.connections().len(), 1);
    // The server's answer now reaches the driver (before its own socket timeout, 2 s): the
    // login completes on the connecting thread, and the connection nobody waits for is closed.
    proxy.thaw();
    assert!(
        proxy.wait_connections(Duration::from_secs(5), |n| n == 0),
        "the late connection is still open: {:?}",
        proxy.connections()
    );
}

/// The longest timeouts are accepted: a connect and a reset with `Duration::MAX` work as with
/// none (no overflow, no panic).
#[test]
fn the_longest_connect_and_reset_timeouts_are_accepted() {
    for manager in [h2(), postgres()] {
        let manager = manager
            .connect_timeout(Duration::MAX)
            .reset_timeout(Duration::MAX);
        let pool = Pool::builder().pool_size(1).build(manager).unwrap();
        {
            let mut conn = pool.get().unwrap();
            conn.set_autocommit(false).unwrap();
            conn.query("SELECT 1", ()).unwrap();
        }
        let stats = pool.stats();
        assert_eq!((stats.resets, stats.reset_failures), (1, 0), "{stats:?}");
        let mut conn = pool.get().unwrap();
        assert!(conn.autocommit());
        assert_eq!(conn.query_scalar::<i64>("SELECT 2", ()).unwrap(), 2);
    }
}

/// JDBC errors, printed as anyhow's `{:#}` prints a chain, show each message once: a connect
/// error through the pool (and a session), and a statement's `SQLException` through a session.
#[test]
fn jdbc_errors_print_each_message_once() {
    let manager = jdbc::generic("jdbc:nosuchdb://h/db", None);
    let pool = Pool::builder().pool_size(1).build(manager).unwrap();
    let err = pool.get().unwrap_err();
    let printed = common::assert_prints_once(&err);
    println!("{printed}");
    assert!(
        printed.starts_with("could not open a database connection: "),
        "{printed}"
    );
    assert!(printed.contains("No suitable driver"), "{printed}");
    let jdbc = err
        .connect_source()
        .and_then(|source| source.downcast_ref::<jdbc::JdbcError>())
        .unwrap_or_else(|| panic!("the source is the JdbcError: {err:?}"));
    assert!(jdbc.message().contains("No suitable driver"), "{jdbc}");
    let err = pool.session().execute("SELECT 1").unwrap_err();
    let printed = common::assert_prints_once(&err);
    assert!(
        printed.starts_with("no connection for the session: could not open a database connection: "),
        "{printed}"
    );

    let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    let err = pool.session().execute("SELECT * FROM NO_SUCH_TABLE").unwrap_err();
    let printed = common::assert_prints_once(&err);
    assert!(
        printed.contains("NO_SUCH_TABLE") && printed.contains("SQLState 42S"),
        "{printed}"
    );
}

/// A validation on a silent network (a proxy that stops forwarding and closes nothing) ends
/// within its sub-second budget plus 150 ms, and leaves the connection broken; through a pool
/// with a pre-ping on every checkout, `get()` ends within its timeout plus 100 ms. PgJDBC with
/// and without TLS, and MariaDB Connector/J, whose abort alone would take about a second (it
/// first connects again to KILL the session): each read of the validation is bounded by the
/// network timeout too.
#[test]
fn a_validation_on_a_silent_network_ends_within_its_budget_and_breaks_the_connection() {
    const BUDGET: Duration = Duration::from_millis(200);
    const CHECKOUT: Duration = Duration::from_millis(400);
    /// A name, the server to proxy, the manager for the proxy's port.
    type Case = (&'static str, &'static str, fn(u16) -> JdbcManager);
    let cases: [Case; 3] = [
        ("PgJDBC", "127.0.0.1:5432", |port| {
            jdbc::postgresql("127.0.0.1", port, "test")
                .user("postgres")
                .jar(jar("postgresql.jar"))
        }),
        ("PgJDBC sslmode=disable", "127.0.0.1:5432", |port| {
            jdbc::postgresql("127.0.0.1", port, "test")
                .user("postgres")
                .property("sslmode", "disable")
                .jar(jar("postgresql.jar"))
        }),
        ("MariaDB Connector/J", "127.0.0.1:3306", |port| {
            jdbc::mariadb("127.0.0.1", port, "test")
                .user("root")
                .jar(jar("mariadb-java-client.jar"))
        }),
    ];
    for (name, server, make) in cases {
        // Straight through the manager.
        let proxy = common::proxy::Proxy::start(server);
        let manager = make(proxy.port());
        let mut conn = manager.connect().unwrap();
        // A generous budget: this only checks the connection works (a cold JVM on a loaded
        // machine can take longer than 200 ms).
        manager
            .is_valid(&mut conn, Duration::from_secs(10))
            .unwrap_or_else(|err| panic!("{name}: a healthy validation failed: {err}"));
        assert!(!manager.has_broken(&mut conn), "{name}");
        proxy.freeze();
        let began = Instant::now();
        let result = manager.is_valid(&mut conn, BUDGET);
        let took = began.elapsed();
        println!("{name}: is_valid(200 ms) on a silent network: {result:?} after {took:?}");
        assert!(result.is_err(), "{name}: {result:?}");
        assert!(
            took <= BUDGET + Duration::from_millis(150),
            "{name}: took {took:?}"
        );
        assert!(
            manager.has_broken(&mut conn),
            "{name}: the connection is not broken"
        );
        drop(proxy);

        // Through a pool that pre-pings every checkout: the pre-ping gets what is left of the
        // checkout's deadline, and the replacement's connect is bounded by it too.
        let proxy = common::proxy::Proxy::start(server);
        let pool = Pool::builder()
            .pool_size(1)
            .pre_ping(true)
            .pre_ping_bypass(Duration::ZERO)
            .timeout(CHECKOUT)
            .build(make(proxy.port()))
            .unwrap();
        // The first checkout connects, then it goes back idle (a generous wait: a connect).
        drop(pool.get_timeout(Duration::from_secs(10)).unwrap());
        assert!(
            common::eventually(Duration::from_secs(5), || pool.state().idle == 1),
            "{name}: {:?}",
            pool.state()
        );
        proxy.freeze();
        let began = Instant::now();
        let result = pool.get();
        let took = began.elapsed();
        println!(
            "{name}: pool.get() (timeout 400 ms) on a silent network: {:?} after {took:?}",
            result.as_ref().map(drop)
        );
        assert!(result.is_err(), "{name}: a connection through a silent network");
        assert!(
            took <= CHECKOUT + Duration::from_millis(100),
            "{name}: get() took {took:?}"
        );
        assert!(pool.stats().ping_failures >= 1, "{name}: {:?}", pool.stats());
    }
}

/// A validation bounds each read by the network timeout only while it runs: a query longer
/// than that bound works afterwards (the previous network timeout, none, is put back).
#[test]
fn a_validation_puts_the_network_timeout_back() {
    for (name, manager, sleep) in [
        ("PgJDBC", postgres(), "SELECT 1 FROM pg_sleep(0.6)"),
        ("MariaDB Connector/J", mariadb(), "SELECT SLEEP(0.6)"),
    ] {
        let mut conn = manager.connect().unwrap();
        // A short budget (a bound of 180 ms) that a loaded machine may miss: retried until one
        // validation passes, which is the state the query below needs.
        let passed = (0..50).any(|_| {
            if manager.has_broken(&mut conn) {
                conn = manager.connect().unwrap();
            }
            manager.is_valid(&mut conn, Duration::from_millis(200)).is_ok()
        });
        assert!(passed, "{name}: no validation passed within 200 ms in 50 tries");
        conn.query(sleep, ())
            .unwrap_or_else(|err| panic!("{name}: a 600 ms query after a validation: {err}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Kept statements, columns read once, and a return without a JNI call

/// PgJDBC made to show its statements on the server: each `PreparedStatement` is prepared there
/// on its first run (`prepareThreshold=1`) and deallocated when it is closed (no driver cache of
/// its own, `preparedStatementCacheQueries=0`), so `pg_prepared_statements` lists exactly the
/// statements millpond keeps open.
fn postgres_showing_statements() -> JdbcManager {
    postgres()
        .property("prepareThreshold", "1")
        .property("preparedStatementCacheQueries", "0")
}

/// The server-side statements of this session whose text contains `marker`.
fn server_statements(conn: &mut JdbcConnection, marker: &str) -> Vec<String> {
    let mut texts: Vec<String> = conn
        .query(
            "SELECT statement FROM pg_prepared_statements WHERE strpos(statement, ?) > 0",
            [marker],
        )
        .unwrap()
        .iter()
        .map(|row| row.get::<String>(0).unwrap())
        .collect();
    texts.sort();
    texts
}

#[test]
fn a_query_run_again_on_a_connection_reuses_its_kept_statement() {
    let marker = unique("kept_");
    let pool = Pool::builder()
        .pool_size(1)
        .build(postgres_showing_statements())
        .unwrap();
    let mut conn = pool.get().unwrap();
    let sql = format!("SELECT ?::int + 1 AS {marker}");
    for i in 0..5 {
        assert_eq!(conn.query_scalar::<i64>(&sql, [i]).unwrap(), i + 1);
    }
    // One statement on the server for five runs: the same PreparedStatement each time.
    let listed = server_statements(&mut conn, &marker);
    assert_eq!(listed, [format!("SELECT $1::int + 1 AS {marker}")], "{listed:?}");
    assert!(conn.cached_statement_sql().contains(&sql.as_str()));
    // Kept across checkouts too: the statement belongs to the connection.
    drop(conn);
    let mut conn = pool.get().unwrap();
    let kept = conn.cached_statements();
    assert_eq!(conn.query_scalar::<i64>(&sql, [41]).unwrap(), 42);
    assert_eq!(
        conn.cached_statements(),
        kept,
        "no new statement for a query run before"
    );
    assert_eq!(server_statements(&mut conn, &marker).len(), 1);
}

#[test]
fn the_least_recently_used_statement_is_closed_when_the_cache_is_full() {
    let marker = unique("lru_");
    let manager = postgres_showing_statements().statement_cache_capacity(3);
    let pool = Pool::builder().pool_size(1).build(manager).unwrap();
    let mut conn = pool.get().unwrap();
    // The listing query is kept too: with it, three statements fit.
    let one = format!("SELECT 1 AS {marker}_one");
    let two = format!("SELECT 2 AS {marker}_two");
    let three = format!("SELECT 3 AS {marker}_three");
    conn.query(&one, ()).unwrap();
    assert_eq!(server_statements(&mut conn, &marker), [one.as_str()]);
    conn.query(&two, ()).unwrap();
    // Full (one, listing, two): running three puts out `one`, the least recently used, and
    // the driver deallocates it on the server.
    conn.query(&three, ()).unwrap();
    assert_eq!(conn.cached_statements(), 3);
    let listed = server_statements(&mut conn, &marker);
    assert_eq!(listed, [two.as_str(), three.as_str()], "{listed:?}");
    assert!(!conn.cached_statement_sql().contains(&one.as_str()));
    // Run again, `one` is prepared afresh and works.
    assert_eq!(conn.query_scalar::<i64>(&one, ()).unwrap(), 1);
}

#[test]
fn a_statement_cache_of_zero_keeps_nothing() {
    let marker = unique("off_");
    let manager = postgres_showing_statements().statement_cache_capacity(0);
    assert_eq!(manager.get_statement_cache_capacity(), 0);
    let pool = Pool::builder().pool_size(1).build(manager).unwrap();
    let mut conn = pool.get().unwrap();
    let sql = format!("SELECT ?::int AS {marker}");
    for i in 0..3 {
        assert_eq!(conn.query_scalar::<i64>(&sql, [i]).unwrap(), i);
    }
    assert_eq!(conn.cached_statements(), 0);
    // Each run's statement was closed (deallocated on the server) after it.
    assert!(server_statements(&mut conn, &marker).is_empty());
    assert_eq!(h2().get_statement_cache_capacity(), 100, "the default");
    assert_eq!(jdbc::oracle("h", 1521, "s").get_statement_cache_capacity(), 20);
}

/// The columns of a kept statement's result are read on its first run only: rows of later runs
/// share the first run's column names (the same allocation). DDL through millpond, on any
/// connection, makes every kept statement read them again. (In a process of its own: the other
/// tests' DDL would make them read again at any time.)
#[test]
fn result_columns_are_read_once_per_kept_statement_until_ddl_runs() {
    const TEST: &str = "result_columns_are_read_once_per_kept_statement_until_ddl_runs";
    if in_child(TEST) {
        let pool = Pool::builder().pool_size(2).build(h2()).unwrap();
        let mut conn = pool.get().unwrap();
        conn.execute("CREATE TABLE shape (id INT PRIMARY KEY, name VARCHAR(10))", ())
            .unwrap();
        conn.execute("INSERT INTO shape VALUES (1, 'one'), (2, 'two')", ())
            .unwrap();
        let sql = "SELECT * FROM shape WHERE id = ?";
        let first = conn.query_row(sql, [1]).unwrap().unwrap();
        let second = conn.query_row(sql, [2]).unwrap().unwrap();
        assert_eq!(second.get::<String>("name").unwrap(), "two");
        assert_eq!(
            first.columns().as_ptr(),
            second.columns().as_ptr(),
            "the second run read the columns again"
        );
        // Another connection of the pool changes the table's shape.
        pool.get()
            .unwrap()
            .execute("ALTER TABLE shape ADD COLUMN note VARCHAR(10) DEFAULT 'new'", ())
            .unwrap();
        let third = conn.query_row(sql, [2]).unwrap().unwrap();
        assert_eq!(third.columns(), ["ID", "NAME", "NOTE"]);
        assert_eq!(third.get::<String>("note").unwrap(), "new");
        let fourth = conn.query_row(sql, [1]).unwrap().unwrap();
        assert_eq!(third.columns().as_ptr(), fourth.columns().as_ptr());
        println!("columns read once");
        return;
    }
    let out = run_child(TEST, &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("columns read once"));
}

/// A kept statement whose table was dropped fails (the driver says so) and is forgotten; once
/// the table is back, with another shape, the query is prepared afresh and reads it right.
#[test]
fn a_kept_statement_on_a_dropped_table_is_forgotten_and_prepared_afresh() {
    let pool = Pool::builder().pool_size(2).build(h2()).unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute("CREATE TABLE gone (x INT)", ()).unwrap();
    conn.execute("INSERT INTO gone VALUES (1)", ()).unwrap();
    let sql = "SELECT * FROM gone";
    assert_eq!(conn.query(sql, ()).unwrap()[0].values(), [Value::Int(1)]);
    assert!(conn.cached_statement_sql().contains(&sql));
    pool.get().unwrap().execute("DROP TABLE gone", ()).unwrap();
    let err = conn.query(sql, ()).unwrap_err();
    assert!(err.message().contains("\"GONE\" not found"), "{err}");
    assert!(
        !conn.cached_statement_sql().contains(&sql),
        "a statement whose run failed is not kept"
    );
    assert!(!conn.is_broken(), "a missing table breaks nothing");
    pool.get()
        .unwrap()
        .execute("CREATE TABLE gone (label VARCHAR(5), x INT)", ())
        .unwrap();
    conn.execute("INSERT INTO gone VALUES ('b', 2)", ()).unwrap();
    let rows = conn.query(sql, ()).unwrap();
    assert_eq!(rows[0].columns(), ["LABEL", "X"]);
    assert_eq!(rows[0].values(), [Value::Text("b".into()), Value::Int(2)]);
}

/// Runs `sql` on `conn`'s Java connection through JNI calls of the test's own, unseen by
/// millpond.
fn behind_millponds_back(conn: &mut JdbcConnection, sql: &str) {
    let raw = conn.raw().clone();
    let mut env = jdbc::java_vm()
        .unwrap()
        .attach_current_thread_permanently()
        .unwrap();
    env.with_local_frame(8, |env| {
        let stmt = env
            .call_method(raw.as_obj(), "createStatement", "()Ljava/sql/Statement;", &[])?
            .l()?;
        let text = env.new_string(sql)?;
        env.call_method(&stmt, "execute", "(Ljava/lang/String;)Z", &[(&text).into()])?;
        env.call_method(&stmt, "close", "()V", &[])?;
        Ok::<_, jdbc::jni::errors::Error>(())
    })
    .unwrap();
}

/// A table changed behind millpond's back (by another process, say): PgJDBC prepares its
/// statement on the server again without a word, and `SELECT *` now returns another set of
/// columns, which the column count shows: they are read again.
#[test]
fn a_select_star_sees_a_table_changed_behind_millponds_back() {
    let table = unique("behind_");
    let pool = Pool::builder()
        .pool_size(1)
        .build(postgres().property("prepareThreshold", "1"))
        .unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute(&format!("CREATE TABLE {table} (id INT)"), ())
        .unwrap();
    conn.execute(&format!("INSERT INTO {table} VALUES (1)"), ())
        .unwrap();
    let sql = format!("SELECT * FROM {table} WHERE id = ?");
    for _ in 0..2 {
        assert_eq!(conn.query(&sql, [1]).unwrap()[0].len(), 1);
    }
    let mut other = postgres().connect().unwrap();
    behind_millponds_back(
        &mut other,
        &format!("ALTER TABLE {table} ADD COLUMN extra TEXT DEFAULT 'x'"),
    );
    let rows = conn.query(&sql, [1]).unwrap();
    assert_eq!(rows[0].columns(), ["id", "extra"]);
    assert_eq!(rows[0].get::<String>("extra").unwrap(), "x");
    behind_millponds_back(&mut other, &format!("ALTER TABLE {table} DROP COLUMN extra"));
    assert_eq!(conn.query(&sql, [1]).unwrap()[0].columns(), ["id"]);
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

/// PostgreSQL refuses to run a statement prepared on the server once a table it reads changed
/// shape ("cached plan must not change result type"). PgJDBC prepares it again by itself for
/// most SQL, but not for SQL of several statements: there millpond does, outside a transaction
/// (the kept statement is forgotten, prepared again and run once more); inside one the error
/// stands (the transaction has failed), and the statement is forgotten all the same.
#[test]
fn a_stale_kept_statement_is_prepared_again_and_run_once_more_outside_a_transaction() {
    let table = unique("stale_");
    let pool = Pool::builder()
        .pool_size(1)
        .build(postgres().property("prepareThreshold", "1"))
        .unwrap();
    let mut conn = pool.get().unwrap();
    conn.execute(&format!("CREATE TABLE {table} (id INT)"), ())
        .unwrap();
    conn.execute(&format!("INSERT INTO {table} VALUES (1)"), ())
        .unwrap();
    let sql = format!("SELECT * FROM {table}; SELECT 1");
    for _ in 0..2 {
        assert_eq!(conn.query(&sql, ()).unwrap()[0].len(), 1);
    }
    let mut other = postgres().connect().unwrap();
    behind_millponds_back(
        &mut other,
        &format!("ALTER TABLE {table} ADD COLUMN extra TEXT DEFAULT 'x'"),
    );
    let rows = conn.query(&sql, ()).unwrap();
    assert_eq!(rows[0].columns(), ["id", "extra"], "prepared again, read again");

    for _ in 0..2 {
        conn.query(&sql, ()).unwrap();
    }
    behind_millponds_back(&mut other, &format!("ALTER TABLE {table} DROP COLUMN extra"));
    {
        let mut tx = conn.transaction().unwrap();
        let err = tx.query(&sql, ()).unwrap_err();
        assert_eq!(err.sql_state(), Some("0A000"), "{err}");
        assert!(!tx.cached_statement_sql().contains(&sql.as_str()));
    }
    assert_eq!(conn.query(&sql, ()).unwrap()[0].columns(), ["id"]);
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

/// A connection whose JDBC connection was closed behind millpond's back still looks healthy
/// to the pool (no call into the JVM on return tells it otherwise); the first operation that
/// fails on it marks it broken, and the pool replaces it.
#[test]
fn a_connection_closed_behind_the_pools_back_is_found_by_the_next_failure_and_replaced() {
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .build(h2())
        .unwrap();
    let (id, raw) = {
        let mut conn = pool.get().unwrap();
        assert_eq!(conn.query_scalar::<i64>("SELECT 1", ()).unwrap(), 1);
        (conn.id(), conn.raw().clone())
    };
    // The return after raw() was reset (autocommit read back): the state is known again.
    let mut env = jdbc::java_vm()
        .unwrap()
        .attach_current_thread_permanently()
        .unwrap();
    env.call_method(raw.as_obj(), "close", "()V", &[]).unwrap();
    let mut conn = pool.get().unwrap();
    assert_eq!(conn.id(), id, "the same pooled connection");
    assert!(
        !conn.is_broken(),
        "is_broken asked the driver: a clean connection must cost no JNI call"
    );
    let broken_before = pool.stats().broken;
    assert!(conn.query_scalar::<i64>("SELECT 1", ()).is_err());
    assert!(conn.is_broken(), "the failure marked it broken");
    drop(conn);
    // The pool closes it on a thread of its own: wait for that.
    assert!(common::eventually(Duration::from_secs(10), || pool
        .stats()
        .broken
        == broken_before + 1));
    let mut conn = pool.get().unwrap();
    assert_ne!(conn.id(), id, "replaced by a new connection");
    assert_eq!(conn.query_scalar::<i64>("SELECT 2", ()).unwrap(), 2);
}

/// A connection given back clean makes no call into the JVM: the return is as cheap as with
/// any manager, so the pool resets nothing and counts nothing broken, connection after
/// connection, while the queries go on working.
#[test]
fn a_clean_return_resets_nothing() {
    let pool = Pool::builder().pool_size(2).build(h2()).unwrap();
    for i in 0..100 {
        let mut conn = pool.get().unwrap();
        assert_eq!(conn.query_scalar::<i64>("SELECT ?", [i]).unwrap(), i);
    }
    let stats = pool.stats();
    assert_eq!((stats.resets, stats.broken), (0, 0), "{stats:?}");
}

/// Kept statements under `-Xcheck:jni`: every value type bound and read, statements evicted and
/// prepared again, a failure forgetting one, thousands of runs: no warning.
#[test]
fn kept_statements_stay_clean_under_check_jni() {
    const TEST: &str = "kept_statements_stay_clean_under_check_jni";
    if in_child(TEST) {
        jdbc::start_jvm(&JvmOptions::new().option("-Xcheck:jni")).unwrap();
        let pool = Pool::builder()
            .pool_size(1)
            .build(h2().statement_cache_capacity(2))
            .unwrap();
        let mut conn = pool.get().unwrap();
        conn.execute(
            "CREATE TABLE every (id INT, b BOOLEAN, f DOUBLE PRECISION, d DECIMAL(30,10), t VARCHAR(40), \
             y VARBINARY(10), dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMP WITH TIME ZONE)",
            (),
        )
        .unwrap();
        let mut row = vec![Value::Int(0)];
        row.extend(sample_row().into_iter().filter(|v| !matches!(v, Value::Int(_))));
        row.push(Value::TimestampTz(
            "2024-07-01 12:00:00.25+02:00".parse().unwrap(),
        ));
        let insert = "INSERT INTO every VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        for id in 0..200 {
            row[0] = Value::Int(id);
            conn.execute(insert, row.clone()).unwrap();
        }
        let mut read = 0u64;
        for i in 0..3000i64 {
            // Three statements through a cache of two: evictions all along.
            match i % 3 {
                0 => {
                    let got = conn
                        .query_row("SELECT * FROM every WHERE id = ?", [i % 200])
                        .unwrap()
                        .unwrap();
                    assert_eq!(got.len(), 10);
                    read += 1;
                }
                1 => {
                    let n: i64 = conn
                        .query_scalar(
                            "SELECT count(*) FROM every WHERE t = ? AND id < ?",
                            [Value::from("pond ✓ 'quoted' ?"), Value::Int(i % 200)],
                        )
                        .unwrap();
                    assert_eq!(n, i % 200);
                }
                _ => {
                    conn.execute(
                        "UPDATE every SET f = ? WHERE id = ?",
                        [Value::Float(i as f64), Value::Int(i % 200)],
                    )
                    .unwrap();
                }
            }
            if i % 500 == 0 {
                // A failed run forgets its statement.
                assert!(
                    conn.query("SELECT * FROM no_such_table WHERE x = ?", [i])
                        .is_err()
                );
            }
        }
        assert_eq!(read, 1000);
        println!("ran 3000 kept statements");
        return;
    }
    let out = run_child(TEST, &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(text.contains("ran 3000 kept statements"), "the child ran");
    assert!(!text.contains("WARNING"), "-Xcheck:jni warned");
}

/// DDL run in a transaction makes the other connections read their kept statements' columns
/// again once it commits (PostgreSQL's DDL is transactional): a column whose type changed is
/// read as its new type. Through a transaction object, and through `BEGIN` and `COMMIT` sent
/// as SQL.
#[test]
fn ddl_committed_in_a_transaction_makes_kept_columns_read_again() {
    let table = unique("ddl_tx_");
    let pool = Pool::builder().pool_size(2).build(postgres()).unwrap();
    let mut reader = pool.get().unwrap();
    let mut writer = pool.get().unwrap();
    writer
        .execute(&format!("CREATE TABLE {table} (id INT, v INT)"), ())
        .unwrap();
    writer
        .execute(&format!("INSERT INTO {table} VALUES (1, 7)"), ())
        .unwrap();
    let sql = format!("SELECT v FROM {table} WHERE id = ?");
    let read = |conn: &mut JdbcConnection| conn.query_row(&sql, [1]).unwrap().unwrap()[0].clone();
    assert_eq!(read(&mut reader), Value::Int(7));
    {
        let mut tx = writer.transaction().unwrap();
        tx.execute(
            &format!("ALTER TABLE {table} ALTER COLUMN v TYPE TEXT USING 'seven'"),
            (),
        )
        .unwrap();
        tx.commit().unwrap();
    }
    assert_eq!(read(&mut reader), Value::Text("seven".into()));
    writer.execute("BEGIN", ()).unwrap();
    writer
        .execute(
            &format!("ALTER TABLE {table} ALTER COLUMN v TYPE BIGINT USING 8"),
            (),
        )
        .unwrap();
    writer.execute("COMMIT", ()).unwrap();
    assert_eq!(read(&mut reader), Value::Int(8));
    writer.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

#[test]
fn a_credentials_provider_is_asked_at_each_connect_and_its_secrets_never_show() {
    use std::sync::{Arc, RwLock};
    let secret = Arc::new(RwLock::new(String::from("first-s3cret")));
    let provider_secret = Arc::clone(&secret);
    // An H2 database in memory takes the first connect's user and password as its own.
    let manager = h2().user("nobody").credentials_provider(move || {
        Ok(jdbc::Credentials::password(provider_secret.read().unwrap().clone()).with_user("sa"))
    });
    assert!(!format!("{manager:?}").contains("first-s3cret"), "{manager:?}");
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(0)
        .build(manager)
        .unwrap();
    let mut first = pool.get().unwrap();
    let user: String = first.query_scalar("SELECT CURRENT_USER", ()).unwrap();
    assert_eq!(user.to_uppercase(), "SA", "the provider's user");

    // Rotated to a password the database does not know: a new connect fails, with no secret in
    // the error; the open connection keeps working.
    *secret.write().unwrap() = String::from("wrong-s3cret");
    let err = pool.get().expect_err("the database refuses the rotated password");
    let printed = format!("{err} {err:?} {}", millpond_chain(&err));
    assert!(!printed.contains("s3cret"), "{printed}");
    let one: i64 = first.query_scalar("SELECT 1", ()).unwrap();
    assert_eq!(one, 1);
    *secret.write().unwrap() = String::from("first-s3cret");
    let mut second = pool.get().unwrap();
    let one: i64 = second.query_scalar("SELECT 1", ()).unwrap();
    assert_eq!(one, 1);
}

/// An error and its causes on one line.
fn millpond_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The query bridge: a kept statement's query in one call into the JVM (src/backends/jdbc/bridge)

/// A table of every value type (plus `id`), with the sample row at id 1 and NULLs at id 2, and
/// the SQL that reads it by name (no `*`, so a kept statement's columns are trusted and its
/// runs after the first go through the bridge).
fn every_type_table(conn: &mut JdbcConnection, tz: bool) -> (String, String) {
    let table = unique("bridge_");
    let postgres = conn.server_version().unwrap().starts_with("PostgreSQL");
    let mut types = STANDARD.types.to_vec();
    if postgres {
        types[6] = "BYTEA";
    }
    if tz {
        types.push("TIMESTAMP WITH TIME ZONE");
    }
    create_typed_table(conn, &table, &types);
    let insert = format!(
        "INSERT INTO {table} VALUES ({})",
        vec!["?"; types.len() + 1].join(", ")
    );
    let mut values = vec![Value::Int(1)];
    values.extend(sample_row());
    if tz {
        values.push(Value::TimestampTz(
            "2024-07-01 12:00:00.25+00:00".parse().unwrap(),
        ));
    }
    conn.execute(&insert, values).unwrap();
    let mut nulls = vec![Value::Int(2)];
    nulls.extend(std::iter::repeat_n(Value::Null, types.len()));
    conn.execute(&insert, nulls).unwrap();
    let names: Vec<String> = (0..types.len()).map(|i| format!("c{i}")).collect();
    let select = format!(
        "SELECT id, {} FROM {table} WHERE id >= ? ORDER BY id",
        names.join(", ")
    );
    (table, select)
}

/// Every value type read and bound the same through the bridge (runs after the first) as call
/// by call (the first run, which reads the columns): H2 and PostgreSQL (its `timestamptz` too).
#[test]
fn the_bridge_reads_and_binds_every_value_type_as_the_first_run_does() {
    for (manager, tz) in [(h2(), false), (postgres(), true)] {
        let pool = Pool::builder().pool_size(1).build(manager).unwrap();
        let mut conn = pool.get().unwrap();
        let (table, select) = every_type_table(&mut conn, tz);
        let first = conn.query(&select, [0]).unwrap();
        assert_eq!(first.len(), 2);
        for _ in 0..3 {
            assert_eq!(conn.query(&select, [0]).unwrap(), first);
            assert_eq!(conn.query_row(&select, [0]).unwrap().as_ref(), Some(&first[0]));
        }
        // Every type as a parameter: the sample row is found by each of its values.
        let sample = first[0].values()[1..].to_vec();
        let wheres: Vec<String> = (0..sample.len()).map(|i| format!("c{i} = ?")).collect();
        let by_value = format!("SELECT id FROM {table} WHERE {}", wheres.join(" AND "));
        for run in 0..3 {
            let found = conn.query_scalar::<i64>(&by_value, sample.clone());
            assert_eq!(found, Ok(1), "run {run}");
        }
        // Updates through the bridge, every type bound: their counts, and rows a query sees.
        let sets: Vec<String> = (0..sample.len()).map(|i| format!("c{i} = ?")).collect();
        let update = format!("UPDATE {table} SET {} WHERE id >= ?", sets.join(", "));
        let mut params = sample.clone();
        params.push(Value::Int(1));
        for _ in 0..3 {
            assert_eq!(conn.execute(&update, params.clone()).unwrap(), 2);
        }
        let after = conn.query(&select, [0]).unwrap();
        assert_eq!(
            after[1].values()[1..],
            first[0].values()[1..],
            "the NULL row updated"
        );
        // A query run by `execute`: its result set closed unread, no count.
        for _ in 0..3 {
            assert_eq!(conn.execute(&select, [0]).unwrap(), 0);
        }
        params[sample.len()] = Value::Int(2);
        params
            .iter_mut()
            .take(sample.len())
            .for_each(|v| *v = Value::Null);
        assert_eq!(conn.execute(&update, params).unwrap(), 1);
        // NULL as a parameter, through the bridge after the first run.
        let null_row = format!("SELECT id FROM {table} WHERE c5 IS NOT DISTINCT FROM ?");
        for _ in 0..3 {
            assert_eq!(conn.query_scalar::<i64>(&null_row, [Value::Null]).unwrap(), 2);
        }
        conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
    }
}

/// Results larger than one answer (many rows, rows of megabytes), a first row only, and a
/// caller's error part way through: every row arrives once and in order, and the connection
/// goes on as if nothing had been left open.
#[test]
fn the_bridge_reads_large_results_in_parts_and_stops_cleanly() {
    let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
    let mut conn = pool.get().unwrap();
    let many = "SELECT x, CAST(x AS VARCHAR) || ? FROM SYSTEM_RANGE(1, ?)";
    for _ in 0..3 {
        let rows = conn
            .query(many, [Value::from(" é ✓"), Value::Int(20_000)])
            .unwrap();
        assert_eq!(rows.len(), 20_000);
        for (i, row) in rows.iter().enumerate() {
            let n = i as i64 + 1;
            assert_eq!(row.get::<i64>(0).unwrap(), n);
            assert_eq!(row.get::<String>(1).unwrap(), format!("{n} é ✓"));
        }
        // Only the first row is asked for.
        let first = conn
            .query_row(many, [Value::from("!"), Value::Int(20_000)])
            .unwrap()
            .unwrap();
        assert_eq!(first.get::<String>(1).unwrap(), "1!");
        // The caller's error stops the query; the next runs whole.
        let mut seen = 0;
        let err = conn
            .query_each(many, [Value::from(""), Value::Int(20_000)], |_| {
                seen += 1;
                if seen == 5_000 {
                    return Err(jdbc::JdbcError::from(millpond::sql::ValueError::Invalid {
                        target: "row",
                        reason: "enough rows".into(),
                    }));
                }
                Ok(())
            })
            .unwrap_err();
        assert_eq!(seen, 5_000, "{err}");
    }
    // A driver's error part way through (H2 computes rows as they are read when asked to):
    // the rows before it arrive first, as call by call.
    let lazy = jdbc::h2(&format!(
        "mem:{};DB_CLOSE_DELAY=-1;LAZY_QUERY_EXECUTION=TRUE",
        unique("lazy_")
    ))
    .jar(jar("h2.jar"));
    let lazy_pool = Pool::builder().pool_size(1).build(lazy).unwrap();
    let mut lazy = lazy_pool.get().unwrap();
    let failing = "SELECT x, 10 / (x - ?) FROM SYSTEM_RANGE(1, 5)";
    // Never the same divisor twice in a row: H2 may answer a repeated query from its last result.
    for divisor in [100, 3, 101, 3, 102, 3] {
        let mut seen = Vec::new();
        let result = lazy.query_each(failing, [divisor], |row| {
            seen.push(row.get::<i64>(0)?);
            Ok(())
        });
        if divisor == 3 {
            let err = result.unwrap_err();
            assert_eq!(err.sql_state(), Some("22012"), "{err}");
            assert_eq!(seen, [1, 2], "the rows before the division by zero");
        } else {
            result.unwrap();
            assert_eq!(seen, [1, 2, 3, 4, 5]);
        }
    }
    // Rows far larger than the bridge's buffer: it grows, then goes back to its size.
    let big = "SELECT x, REPEAT(?, ?) FROM SYSTEM_RANGE(1, 3)";
    for size in [3_000_000, 10, 3_000_000, 10] {
        for _ in 0..2 {
            let rows = conn.query(big, [Value::from("ü"), Value::Int(size)]).unwrap();
            assert_eq!(rows.len(), 3);
            for row in &rows {
                let text = row.get::<String>(1).unwrap();
                assert_eq!(text.chars().count(), size as usize);
                assert!(text.chars().all(|c| c == 'ü'));
            }
        }
    }
    let bytes = "SELECT CAST(? AS VARBINARY(4000000)) FROM SYSTEM_RANGE(1, 2)";
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    for _ in 0..3 {
        let rows = conn.query(bytes, [Value::Bytes(blob.clone())]).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|row| row.get::<Vec<u8>>(0).unwrap() == blob));
    }
    assert!(!conn.is_broken());
    let stats = pool.stats();
    assert_eq!(stats.broken, 0, "{stats:?}");
}

/// A `SELECT *` goes through the bridge with its column count checked there: a table changed
/// behind millpond's back (H2 prepares the statement again without a word) gives a result of
/// another count, which is read call by call, its columns read again and kept; a count that
/// did not change is read through the bridge again. On PostgreSQL, an `INSERT … RETURNING *`
/// whose columns changed is read from its one run: the row is inserted once.
#[test]
fn a_select_star_through_the_bridge_reads_its_columns_again_when_the_count_changes() {
    // H2 names columns in capitals.
    let names = |row: &millpond::sql::Row| -> Vec<String> {
        row.columns().iter().map(|c| c.to_lowercase()).collect()
    };
    for manager in [h2(), postgres().property("prepareThreshold", "1")] {
        let pool = Pool::builder().pool_size(1).build(manager).unwrap();
        let mut conn = pool.get().unwrap();
        let postgres = conn.server_version().unwrap().starts_with("PostgreSQL");
        let table = unique("star_");
        conn.execute(&format!("CREATE TABLE {table} (id INT)"), ())
            .unwrap();
        conn.execute(&format!("INSERT INTO {table} VALUES (1), (2)"), ())
            .unwrap();
        let sql = format!("SELECT * FROM {table} WHERE id >= ? ORDER BY id");
        for _ in 0..3 {
            let rows = conn.query(&sql, [1]).unwrap();
            assert_eq!(rows.len(), 2);
            assert_eq!(names(&rows[0]), ["id"]);
        }
        behind_millponds_back(
            &mut conn,
            &format!("ALTER TABLE {table} ADD COLUMN extra VARCHAR(10) DEFAULT 'x'"),
        );
        for run in 0..3 {
            let rows = conn.query(&sql, [1]).unwrap();
            assert_eq!(rows.len(), 2, "run {run}");
            assert_eq!(names(&rows[1]), ["id", "extra"], "run {run}");
            assert_eq!(rows[1].get::<String>(1).unwrap(), "x", "run {run}");
            assert_eq!(rows[1].get::<i64>(0).unwrap(), 2, "run {run}");
        }
        behind_millponds_back(&mut conn, &format!("ALTER TABLE {table} DROP COLUMN extra"));
        assert_eq!(names(&conn.query(&sql, [1]).unwrap()[0]), ["id"]);
        if postgres {
            let insert = format!("INSERT INTO {table} VALUES (?) RETURNING *");
            for id in 10..13 {
                assert_eq!(names(&conn.query(&insert, [id]).unwrap()[0]), ["id"]);
            }
            behind_millponds_back(
                &mut conn,
                &format!("ALTER TABLE {table} ADD COLUMN extra VARCHAR(10) DEFAULT 'y'"),
            );
            let rows = conn.query(&insert, [20]).unwrap();
            assert_eq!(names(&rows[0]), ["id", "extra"]);
            assert_eq!(rows[0].get::<String>(1).unwrap(), "y");
            let inserted: i64 = conn
                .query_scalar(&format!("SELECT count(*) FROM {table} WHERE id = 20"), ())
                .unwrap();
            assert_eq!(inserted, 1, "run once, not again for its new columns");
        }
        assert_eq!(pool.state().open, 1);
        conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
    }
}

/// A `JdbcStatement` run again (a query, an update, each entry of a batch) goes through the
/// bridge, with every value type bound and read as its first run does.
#[test]
fn a_prepared_statement_runs_through_the_bridge_as_its_first_run_does() {
    for (manager, tz) in [(h2(), false), (postgres(), true)] {
        let pool = Pool::builder().pool_size(1).build(manager).unwrap();
        let mut conn = pool.get().unwrap();
        let (table, select) = every_type_table(&mut conn, tz);
        let mut query = conn.prepare(&select).unwrap();
        let first = query.query([0]).unwrap();
        assert_eq!(first.len(), 2);
        for run in 0..3 {
            assert_eq!(query.query([0]).unwrap(), first, "run {run}");
        }
        drop(query);
        let sample = first[0].values()[1..].to_vec();
        // Every type bound in a batch, added through the bridge.
        let places = vec!["?"; sample.len() + 1].join(", ");
        let mut insert = conn
            .prepare(&format!("INSERT INTO {table} VALUES ({places})"))
            .unwrap();
        for id in 10..14 {
            let mut row = vec![Value::Int(id)];
            row.extend(sample.iter().cloned());
            insert.add_batch(row).unwrap();
        }
        let counts = insert.execute_batch().unwrap();
        assert_eq!(counts.len(), 4);
        assert!(counts.iter().all(|&c| c == 1 || c == -2), "{counts:?}");
        drop(insert);
        let batched = conn.query(&select, [10]).unwrap();
        assert_eq!(batched.len(), 4);
        for row in &batched {
            assert_eq!(row.values()[1..], sample[..]);
        }
        // Every type bound in an update run again.
        let sets: Vec<String> = (0..sample.len()).map(|i| format!("c{i} = ?")).collect();
        let mut update = conn
            .prepare(&format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", ")))
            .unwrap();
        let mut params = sample.clone();
        params.push(Value::Int(2));
        for run in 0..3 {
            assert_eq!(update.execute(params.clone()).unwrap(), 1, "run {run}");
        }
        drop(update);
        assert_eq!(conn.query(&select, [0]).unwrap()[1].values()[1..], sample[..]);
        conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
    }
}

/// 100 000 rows of every value type through the bridge (and parameters of every type), under
/// `-Xcheck:jni`: no warning.
#[test]
fn the_bridge_stays_clean_under_check_jni_over_100_000_rows() {
    const TEST: &str = "the_bridge_stays_clean_under_check_jni_over_100_000_rows";
    if in_child(TEST) {
        jdbc::start_jvm(&JvmOptions::new().option("-Xcheck:jni")).unwrap();
        let pool = Pool::builder().pool_size(1).build(h2()).unwrap();
        let mut conn = pool.get().unwrap();
        let (table, select) = every_type_table(&mut conn, true);
        let first = conn.query(&select, [0]).unwrap();
        let wide = format!(
            "SELECT x, {} FROM SYSTEM_RANGE(1, 100000) CROSS JOIN {table} WHERE id = ?",
            (0..11).map(|i| format!("c{i}")).collect::<Vec<_>>().join(", ")
        );
        for run in 0..2 {
            let mut n = 0i64;
            conn.query_each(&wide, [1], |row| {
                n += 1;
                assert_eq!(row.get::<i64>(0)?, n);
                assert_eq!(&row.values()[1..], &first[0].values()[1..]);
                Ok(())
            })
            .unwrap();
            assert_eq!(n, 100_000, "run {run}");
        }
        let sample = first[0].values()[1..].to_vec();
        let wheres: Vec<String> = (0..sample.len()).map(|i| format!("c{i} = ?")).collect();
        let by_value = format!("SELECT id FROM {table} WHERE {}", wheres.join(" AND "));
        let sets: Vec<String> = (0..sample.len()).map(|i| format!("c{i} = ?")).collect();
        let update = format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", "));
        let mut params = sample.clone();
        params.push(Value::Int(1));
        for _ in 0..1000 {
            assert_eq!(conn.query_scalar::<i64>(&by_value, sample.clone()).unwrap(), 1);
            assert_eq!(conn.execute(&update, params.clone()).unwrap(), 1);
        }
        // A `*` whose column count changes (the result detached and read call by call), and a
        // batch added through the bridge.
        let star = format!("SELECT * FROM {table} WHERE id = ?");
        for _ in 0..2 {
            conn.query(&star, [1]).unwrap();
        }
        behind_millponds_back(&mut conn, &format!("ALTER TABLE {table} ADD COLUMN extra INT"));
        assert_eq!(conn.query(&star, [1]).unwrap()[0].len(), sample.len() + 2);
        let places = vec!["?"; sample.len() + 2].join(", ");
        let mut insert = conn
            .prepare(&format!("INSERT INTO {table} VALUES ({places})"))
            .unwrap();
        for id in 10..110 {
            let mut row = vec![Value::Int(id)];
            row.extend(sample.iter().cloned());
            row.push(Value::Int(id));
            insert.add_batch(row).unwrap();
        }
        assert_eq!(insert.execute_batch().unwrap().len(), 100);
        drop(insert);
        println!("read 200000 rows");
        return;
    }
    let out = run_child(TEST, &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("read 200000 rows"), "the child ran");
    assert!(!text.contains("WARNING"), "-Xcheck:jni warned: {text}");
}

/// The class millpond embeds is its source compiled (see the header of Bridge.java for how to
/// compile it again). Needs `javac` (scripts/test installs a JDK where there is none).
#[test]
fn the_embedded_bridge_class_is_its_source_compiled() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/backends/jdbc/bridge");
    let out = std::env::temp_dir().join(unique("bridge_class_"));
    let compiled = Command::new("javac")
        .args(["--release", "8", "-d"])
        .arg(&out)
        .arg(root.join("Bridge.java"))
        .output();
    let compiled = compiled.unwrap_or_else(|err| {
        panic!("cannot run javac ({err}): install a JDK (Debian: default-jdk-headless) to compare the embedded class with its source")
    });
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let fresh_path = out.join("millpond/jdbc/Bridge.class");
    let embedded_path = root.join("Bridge.class");
    let (fresh, embedded) = (
        std::fs::read(&fresh_path).unwrap(),
        std::fs::read(&embedded_path).unwrap(),
    );
    // Another JDK's javac may lay the constant pool out otherwise: then the code, its
    // instructions and what they refer to, must be the same.
    let same = fresh == embedded || disassembled(&fresh_path) == disassembled(&embedded_path);
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        same,
        "src/backends/jdbc/bridge/Bridge.class is not Bridge.java compiled: compile it again as \
         the header of Bridge.java says"
    );
}

/// `javap -c -p` of a class file, constant pool indices left out (`#12` and `#12.#34`), which
/// differ between compilers where the code does not.
fn disassembled(class: &std::path::Path) -> String {
    let out = Command::new("javap")
        .args(["-c", "-p"])
        .arg(class)
        .output()
        .expect("javap, which comes with javac");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|word| !word.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ")
}
