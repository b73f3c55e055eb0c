//! `AnyConnection` on the local PostgreSQL (127.0.0.1:5432, user `postgres`, database `test`):
//! every type comes back as the `Value` the table in `millpond::any` names, whether it went in
//! as a typed `Value` or as text for the server to read; arrays, NULLs, `timestamptz` in a
//! session time zone of its own, types only the server can print, and the server's complaint
//! about bad text. The tests fail, rather than skip, when the server is not there.
//!
//! Each test works in a transaction it rolls back (types and extensions included), or on
//! tables and types named after the test and the process, dropped at the end.
#![cfg(feature = "postgres")]

mod common;

use millpond::any::{AnyConnection, AnyError, AnyPool};
use millpond::settings::DatabaseSettings;
use millpond::sql::{Date, Time, Timestamp, TimestampTz, Value};

/// A pool of one connection of the test's own.
fn pool() -> AnyPool {
    AnyPool::from_settings(
        &DatabaseSettings::from_url(
            "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&pool_size=1&application_name=mp-any-postgres",
        )
        .unwrap(),
    )
    .expect("the local PostgreSQL server must be running at 127.0.0.1:5432 (user postgres, database test)")
}

/// A name no other test or process uses.
fn unique(what: &str) -> String {
    format!("mp_any_{what}_{}", std::process::id())
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn decimal(s: &str) -> Value {
    Value::decimal(s).unwrap()
}

fn date(s: &str) -> Value {
    Value::Date(s.parse::<Date>().unwrap())
}

fn timestamp(s: &str) -> Value {
    Value::Timestamp(s.parse::<Timestamp>().unwrap())
}

fn timestamptz(s: &str) -> Value {
    Value::TimestampTz(s.parse::<TimestampTz>().unwrap())
}

fn array(items: impl IntoIterator<Item = Value>) -> Value {
    Value::Array(items.into_iter().collect())
}

/// A column type, the values sent to it (typed, or text for the server to read), and the one
/// value each must read back as.
struct Case {
    column: &'static str,
    sent: Vec<Value>,
    read: Value,
}

fn case(column: &'static str, sent: impl IntoIterator<Item = Value>, read: Value) -> Case {
    Case {
        column,
        sent: sent.into_iter().collect(),
        read,
    }
}

/// For each case: a table with one column of its type; every value sent, and a NULL, inserted;
/// each read back as the case says, the NULL as NULL.
fn round_trip(conn: &mut AnyConnection, table: &str, cases: &[Case]) {
    for (n, case) in cases.iter().enumerate() {
        let table = format!("{table}_{n}");
        conn.execute(
            &format!("CREATE TABLE {table} (id int PRIMARY KEY, v {})", case.column),
            (),
        )
        .unwrap_or_else(|e| panic!("{}: {}", case.column, common::chain(&e)));
        for (id, value) in case.sent.iter().chain([&Value::Null]).enumerate() {
            conn.execute(
                &format!("INSERT INTO {table} (id, v) VALUES (?, ?)"),
                [Value::from(id as i64), value.clone()],
            )
            .unwrap_or_else(|e| panic!("{} sent as {value:?}: {}", case.column, common::chain(&e)));
        }
        let rows = conn
            .query(&format!("SELECT v FROM {table} ORDER BY id"), ())
            .unwrap_or_else(|e| panic!("{}: {}", case.column, common::chain(&e)));
        let read: Vec<&Value> = rows.iter().map(|row| &row[0]).collect();
        let mut expected: Vec<&Value> = vec![&case.read; case.sent.len()];
        expected.push(&Value::Null);
        assert_eq!(read, expected, "{} (sent {:?})", case.column, case.sent);
    }
}

#[test]
fn every_type_round_trips_typed_and_as_text() {
    let pool = pool();
    let mut conn = pool.get().unwrap();
    conn.begin().unwrap();
    let cases = [
        case("int2", [Value::Int(-7), text("-7")], Value::Int(-7)),
        case(
            "int4",
            [Value::Int(42), text(" 42 "), decimal("42.000")],
            Value::Int(42),
        ),
        case(
            "int8",
            [Value::Int(1 << 40), text("1099511627776")],
            Value::Int(1 << 40),
        ),
        case(
            "float4",
            [Value::Float(1.5), text("1.5"), decimal("1.5")],
            Value::Float(1.5),
        ),
        case("float4", [Value::Int(3)], Value::Float(3.0)),
        case(
            "float8",
            [Value::Float(0.1), text("0.1"), decimal("0.1")],
            Value::Float(0.1),
        ),
        case(
            "numeric(20, 4)",
            [decimal("-12.34"), text("-12.34"), Value::Float(-12.34)],
            decimal("-12.3400"),
        ),
        case(
            "numeric",
            [
                decimal("123456789012345678901234567890.000100"),
                text("123456789012345678901234567890.000100"),
            ],
            decimal("123456789012345678901234567890.000100"),
        ),
        case("numeric", [text("NaN"), Value::Float(f64::NAN)], text("NaN")),
        case(
            "numeric",
            [text("-Infinity"), Value::Float(f64::NEG_INFINITY)],
            text("-Infinity"),
        ),
        case(
            "bool",
            [Value::Bool(true), text("yes"), text("t")],
            Value::Bool(true),
        ),
        case(
            "text",
            [text("it's a pond"), text("it's a pond")],
            text("it's a pond"),
        ),
        case("varchar(10)", [text("mill")], text("mill")),
        case(
            "varchar(10)",
            [Value::Int(12), decimal("12"), text("12")],
            text("12"),
        ),
        case("char(3)", [text("ab")], text("ab ")),
        case(
            "bytea",
            [Value::Bytes(vec![0, 255]), text("\\x00ff")],
            Value::Bytes(vec![0, 255]),
        ),
        case(
            "date",
            [date("2024-02-29"), text("2024-02-29")],
            date("2024-02-29"),
        ),
        case(
            "date",
            [date("-0043-03-15"), text("0044-03-15 BC")],
            date("-0043-03-15"),
        ),
        case("date", [text("infinity")], text("infinity")),
        case(
            "time",
            [
                Value::Time("23:59:59.000001".parse::<Time>().unwrap()),
                text("23:59:59.000001"),
            ],
            Value::Time("23:59:59.000001".parse::<Time>().unwrap()),
        ),
        case("time", [text("24:00:00")], text("24:00:00")),
        case("timetz", [text("12:00:00.5-05:30")], text("12:00:00.5-05:30")),
        case(
            "timestamp",
            [timestamp("1969-07-20 20:17:40.5"), text("1969-07-20 20:17:40.5")],
            timestamp("1969-07-20 20:17:40.5"),
        ),
        case(
            "timestamp",
            [date("2024-02-29")],
            timestamp("2024-02-29 00:00:00"),
        ),
        case("timestamp", [text("-infinity")], text("-infinity")),
        // The session's time zone is UTC here (see the test of another zone below).
        case(
            "timestamptz",
            [
                timestamptz("2024-07-01 12:00:00+02:00"),
                text("2024-07-01 12:00:00+02"),
                timestamp("2024-07-01 10:00:00"),
            ],
            timestamptz("2024-07-01 10:00:00+00:00"),
        ),
        case("timestamptz", [text("infinity")], text("infinity")),
        case(
            "interval",
            [text("1 year 2 mons 3 days 04:05:06.5"), text("P1Y2M3DT4H5M6.5S")],
            text("1 year 2 mons 3 days 04:05:06.5"),
        ),
        case("interval", [text("-1 day -00:00:01")], text("-1 days -00:00:01")),
        case(
            "uuid",
            [
                text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
                text("a0eebc999c0b4ef8bb6d6bb9bd380a11"),
            ],
            text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ),
        case(
            "json",
            [text(r#"{"b": 1,  "a": [1, 2]}"#)],
            text(r#"{"b": 1,  "a": [1, 2]}"#),
        ),
        case(
            "jsonb",
            [text(r#"{"b": 1,  "a": [1, 2]}"#)],
            text(r#"{"a": [1, 2], "b": 1}"#),
        ),
        case("inet", [text("192.168.0.1/24")], text("192.168.0.1/24")),
        case("inet", [text("::ffff:1.2.3.4")], text("::ffff:1.2.3.4")),
        case("cidr", [text("10.1/16")], text("10.1.0.0/16")),
        case("macaddr", [text("08-00-2B-01-02-03")], text("08:00:2b:01:02:03")),
        case("bit(4)", [text("0101")], text("0101")),
        case("varbit", [text("101")], text("101")),
        case("pg_lsn", [text("16/B374D848")], text("16/B374D848")),
        case("money", [Value::Int(12)], text("$12.00")),
        case("money", [decimal("12.5"), text("12.5")], text("$12.50")),
        case("int4range", [text("[1,10]")], text("[1,11)")),
        case("point", [text("(1.5,2)")], text("(1.5,2)")),
        case("tsvector", [text("a fat cat")], text("'a' 'cat' 'fat'")),
        case(
            "int4[]",
            [
                array([Value::Int(1), Value::Null, Value::Int(3)]),
                text("{1,NULL,3}"),
                array([text("1"), Value::Null, Value::Int(3)]),
            ],
            array([Value::Int(1), Value::Null, Value::Int(3)]),
        ),
        case("int4[]", [array([]), text("{}")], array([])),
        case(
            "int4[][]",
            [
                array([
                    array([Value::Int(1), Value::Int(2)]),
                    array([Value::Int(3), Value::Int(4)]),
                ]),
                text("{{1,2},{3,4}}"),
            ],
            array([
                array([Value::Int(1), Value::Int(2)]),
                array([Value::Int(3), Value::Int(4)]),
            ]),
        ),
        case(
            "int4[]",
            [text("[0:1]={7,8}")],
            array([Value::Int(7), Value::Int(8)]),
        ),
        case(
            "text[]",
            [
                array([text("a b"), Value::Null, text("\"q\\"), text("NULL"), text("")]),
                text(r#"{"a b",NULL,"\"q\\","NULL",""}"#),
            ],
            array([text("a b"), Value::Null, text("\"q\\"), text("NULL"), text("")]),
        ),
        case(
            "numeric[]",
            [array([decimal("1.50"), Value::Null]), text("{1.50,NULL}")],
            array([decimal("1.50"), Value::Null]),
        ),
        case(
            "date[]",
            [
                array([date("2024-01-01"), text("2024-01-02")]),
                text("{2024-01-01,2024-01-02}"),
            ],
            array([date("2024-01-01"), date("2024-01-02")]),
        ),
        case(
            "timestamptz[]",
            [array([timestamptz("2024-07-01 12:00:00+02:00"), Value::Null])],
            array([timestamptz("2024-07-01 10:00:00+00:00"), Value::Null]),
        ),
        case(
            "uuid[]",
            [array([text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")])],
            array([text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]),
        ),
        case(
            "bytea[]",
            [array([Value::Bytes(vec![1]), Value::Null])],
            array([Value::Bytes(vec![1]), Value::Null]),
        ),
        case("jsonb[]", [array([text("[1]")])], array([text("[1]")])),
        case(
            "int4range[]",
            [text("{\"[1,2)\",empty}")],
            array([text("[1,2)"), text("empty")]),
        ),
    ];
    round_trip(&mut conn, &unique("types"), &cases);
    conn.rollback().unwrap();
}

#[test]
fn enums_domains_composites_and_extension_types_round_trip() {
    let pool = pool();
    let mut conn = pool.get().unwrap();
    // Rolled back: the types and extensions leave nothing behind.
    conn.begin().unwrap();
    let mood = unique("mood");
    let positive = unique("positive");
    let pair = unique("pair");
    for ddl in [
        format!("CREATE TYPE {mood} AS ENUM ('sad', 'happy')"),
        format!("CREATE DOMAIN {positive} AS int4 CHECK (VALUE > 0)"),
        format!("CREATE TYPE {pair} AS (a int, b text)"),
        "CREATE EXTENSION IF NOT EXISTS citext".to_owned(),
        "CREATE EXTENSION IF NOT EXISTS hstore".to_owned(),
    ] {
        conn.execute(&ddl, ())
            .unwrap_or_else(|e| panic!("{ddl}: {}", common::chain(&e)));
    }
    let columns: Vec<(String, Vec<Value>, Value)> = vec![
        (mood.clone(), vec![text("happy")], text("happy")),
        (
            format!("{mood}[]"),
            vec![text("{sad,happy}"), array([text("sad"), text("happy")])],
            array([text("sad"), text("happy")]),
        ),
        (positive.clone(), vec![Value::Int(5), text("5")], Value::Int(5)),
        (
            format!("{positive}[]"),
            vec![array([Value::Int(5)]), text("{5}")],
            array([Value::Int(5)]),
        ),
        (pair.clone(), vec![text("(1,\"x y\")")], text("(1,\"x y\")")),
        ("citext".to_owned(), vec![text("MiXed")], text("MiXed")),
        (
            "hstore".to_owned(),
            vec![text("a=>1, b=>NULL")],
            text("\"a\"=>\"1\", \"b\"=>NULL"),
        ),
        (
            "hstore[]".to_owned(),
            vec![array([text("a=>1")])],
            array([text("\"a\"=>\"1\"")]),
        ),
    ];
    let table = unique("extended");
    for (n, (column, sent, read)) in columns.iter().enumerate() {
        let table = format!("{table}_{n}");
        conn.execute(&format!("CREATE TABLE {table} (id int, v {column})"), ())
            .unwrap();
        for (id, value) in sent.iter().chain([&Value::Null]).enumerate() {
            conn.execute(
                &format!("INSERT INTO {table} VALUES (?, ?)"),
                [Value::from(id as i64), value.clone()],
            )
            .unwrap_or_else(|e| panic!("{column} sent as {value:?}: {}", common::chain(&e)));
        }
        let rows = conn
            .query(&format!("SELECT v FROM {table} ORDER BY id"), ())
            .unwrap();
        let got: Vec<&Value> = rows.iter().map(|row| &row[0]).collect();
        let mut expected = vec![read; sent.len()];
        expected.push(&Value::Null);
        assert_eq!(got, expected, "{column}");
    }
    // The domain's check is the server's.
    let err = conn
        .query(&format!("SELECT ?::{positive}"), [Value::Int(-1)])
        .unwrap_err();
    let printed = common::chain(&err);
    assert!(
        printed.contains(&positive) && printed.contains("check constraint"),
        "{printed}"
    );
    conn.rollback().ok();
}

#[test]
fn text_printed_here_is_the_servers_text() {
    let pool = pool();
    let mut conn = pool.get().unwrap();
    // Each value beside the server's own text of it (`format` prints with the type's output
    // function; a cast to text may differ: `inet`'s keeps the `/32`).
    for (ty, inputs) in [
        (
            "interval",
            &[
                "1 year 2 mons 3 days 04:05:06.5",
                "-1 year -2 mons +3 days -04:05:06.000001",
                "1 mon -1 day",
                "-1 mon 1 day",
                "0",
                "-2 hours",
                "100 hours",
                "-178000000 years",
                "1 day -1 second",
            ][..],
        ),
        (
            "inet",
            &[
                "192.168.0.1",
                "10.1.0.0/16",
                "::1.2.3.4",
                "::ffff:1.2.3.4",
                "1:0:0:2:0:0:0:3",
                "1:0:0:0:1:0:0:0",
                "::",
                "::1",
                "fe80::1/64",
                "2001:db8:0:0:1:0:0:1",
            ][..],
        ),
        (
            "cidr",
            &[
                "10.1.2.3/32",
                "10.1.0.0/16",
                "::/0",
                "2001:db8::/32",
                "::ffff:1.2.3.4/128",
            ][..],
        ),
        ("macaddr8", &["08:00:2b:01:02:03:04:05"][..]),
        (
            "timetz",
            &[
                "12:00:00+02",
                "00:00:00.000001-05:30",
                "24:00:00+00",
                "12:00:00+05:53:28",
            ][..],
        ),
        ("\"char\"", &["a", "", "é"][..]),
        ("tid", &["(0,1)", "(4294967295,65535)"][..]),
        ("bit varying", &["", "1", "101010101"][..]),
        // Dates and timestamps the Date and Timestamp values do not hold.
        (
            "date",
            &["infinity", "-infinity", "10000-01-01", "5874897-12-31"][..],
        ),
        (
            "timestamp",
            &[
                "infinity",
                "10000-01-01 00:00:00.5",
                "294276-12-31 23:59:59.999999",
            ][..],
        ),
    ] {
        let list: Vec<String> = inputs
            .iter()
            .map(|s| format!("('{}'::{ty})", s.replace('\'', "''")))
            .collect();
        let rows = conn
            .query(
                &format!("SELECT v, format('%s', v) FROM (VALUES {}) t(v)", list.join(", ")),
                (),
            )
            .unwrap_or_else(|e| panic!("{ty}: {}", common::chain(&e)));
        assert_eq!(rows.len(), inputs.len());
        for row in rows {
            assert!(matches!(row[0], Value::Text(_)), "{ty}: {:?}", row[0]);
            assert_eq!(row[0], row[1], "{ty}");
        }
    }
    // Anonymous records: the row literal the server prints.
    let row = conn
        .query_row(
            "SELECT r, r::text FROM (SELECT ROW(1, 'a b', NULL::int, ''::text, 2.5::float8, 0.1::float4, 1e20::float8, \
             ARRAY['x,y', NULL], true, '\"q\"\\'::text, '2024-01-01'::date, 'NaN'::numeric, '1 day'::interval, \
             ROW(2, 'c')) AS r) s",
            (),
        )
        .unwrap()
        .unwrap();
    assert_eq!(row[0], row[1]);
}

#[test]
fn timestamptz_reads_at_the_session_time_zones_offset() {
    let pool = pool();
    let mut conn = pool.get().unwrap();
    let table = unique("tz");
    conn.execute(&format!("DROP TABLE IF EXISTS {table}"), ())
        .unwrap();
    conn.execute(
        &format!("CREATE TABLE {table} (id int PRIMARY KEY, at timestamptz)"),
        (),
    )
    .unwrap();
    // SET LOCAL: the zone ends with the transaction, and the pooled connection goes back as it was.
    conn.begin().unwrap();
    conn.execute("SET LOCAL TimeZone = 'Europe/Paris'", ()).unwrap();
    let sent = [
        // A Timestamp and text without an offset are the session zone's wall-clock time.
        (1, timestamp("2024-01-15 12:00:00")),
        (2, text("2024-07-15 12:00:00")),
        // With an offset, the instant they name.
        (3, timestamptz("2024-07-15 12:00:00+05:30")),
        (4, text("1900-01-01 12:00:00 Europe/Amsterdam")),
        (5, date("2024-03-31")),
    ];
    for (id, value) in &sent {
        conn.execute(
            &format!("INSERT INTO {table} VALUES (?, ?)"),
            [Value::Int(*id), value.clone()],
        )
        .unwrap();
    }
    let read = |conn: &mut AnyConnection| -> Vec<Value> {
        conn.query(&format!("SELECT at FROM {table} ORDER BY id"), ())
            .unwrap()
            .into_iter()
            .map(|row| row[0].clone())
            .collect()
    };
    assert_eq!(
        read(&mut conn),
        [
            timestamptz("2024-01-15 12:00:00+01:00"),
            timestamptz("2024-07-15 12:00:00+02:00"),
            timestamptz("2024-07-15 08:30:00+02:00"),
            // Paris kept Paris Mean Time (+00:09:21) until 1911.
            timestamptz("1900-01-01 11:49:49+00:09:21"),
            timestamptz("2024-03-31 00:00:00+01:00"),
        ]
    );
    conn.execute("SET LOCAL TimeZone = 'Asia/Kolkata'", ()).unwrap();
    assert_eq!(read(&mut conn)[2], timestamptz("2024-07-15 12:00:00+05:30"));
    conn.commit().unwrap();
    // The session's own zone (UTC) again, outside the transaction.
    assert_eq!(
        read(&mut conn),
        [
            timestamptz("2024-01-15 11:00:00+00:00"),
            timestamptz("2024-07-15 10:00:00+00:00"),
            timestamptz("2024-07-15 06:30:00+00:00"),
            timestamptz("1900-01-01 11:40:28+00:00"),
            timestamptz("2024-03-30 23:00:00+00:00"),
        ]
    );
    // The server's text of the same instants agrees, offset for offset.
    conn.begin().unwrap();
    conn.execute("SET LOCAL TimeZone = 'America/St_Johns'", ())
        .unwrap();
    let rows = conn
        .query(&format!("SELECT at, at::text FROM {table} ORDER BY id"), ())
        .unwrap();
    for row in rows {
        let Value::TimestampTz(at) = row[0] else {
            panic!("{:?}", row[0])
        };
        let server: TimestampTz = row.get::<String>(1).unwrap().parse().unwrap();
        assert_eq!(at, server);
    }
    conn.rollback().unwrap();
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}

#[test]
fn many_values_only_the_server_can_print_are_asked_in_few_statements() {
    let pool = pool();
    let mut conn = pool.get().unwrap();
    conn.begin().unwrap();
    conn.execute("SET LOCAL TimeZone = 'Europe/Paris'", ()).unwrap();
    let rows = conn
        .query(
            "SELECT i, i::money AS m, i::money::text AS m_text, to_timestamp(i * 86400 * 7) AS at, \
             to_timestamp(i * 86400 * 7)::text AS at_text FROM generate_series(1, 2500) i",
            (),
        )
        .unwrap();
    assert_eq!(rows.len(), 2500);
    for row in &rows {
        assert_eq!(row["m"], row["m_text"]);
        let at: TimestampTz = row.get("at").unwrap();
        assert_eq!(
            at,
            row.get::<String>("at_text")
                .unwrap()
                .parse::<TimestampTz>()
                .unwrap()
        );
    }
    let offsets: std::collections::BTreeSet<i32> = rows
        .iter()
        .map(|row| row.get::<TimestampTz>("at").unwrap().offset_seconds)
        .collect();
    assert_eq!(offsets, [3600, 7200].into(), "winter and summer time");
    conn.rollback().unwrap();
    // Catalog names, void, and the server's text of geometric types.
    let row = conn
        .query_row(
            "SELECT 'pg_class'::regclass AS rel, 'int4'::regtype AS ty, pg_sleep(0) AS nothing, \
             circle '((0,0),2)' AS c, '(1,2),(3,4)'::box AS b",
            (),
        )
        .unwrap()
        .unwrap();
    assert_eq!(row["rel"], text("pg_class"));
    assert_eq!(row["ty"], text("integer"));
    assert_eq!(row["nothing"], Value::Null);
    assert_eq!(row["c"], text("<(0,0),2>"));
    assert_eq!(row["b"], text("(3,4),(1,2)"));
    // An anyarray column (catalog browsing) names its element type in its data.
    conn.begin().unwrap();
    let table = unique("stats");
    conn.execute(
        &format!("CREATE TABLE {table} AS SELECT i % 3 AS n FROM generate_series(1, 300) i"),
        (),
    )
    .unwrap();
    conn.execute(&format!("ANALYZE {table}"), ()).unwrap();
    let values = conn
        .query_scalar::<Value>(
            "SELECT most_common_vals FROM pg_stats WHERE tablename = ? AND attname = 'n'",
            [table.as_str()],
        )
        .unwrap();
    let Value::Array(mut values) = values else {
        panic!("{values:?}")
    };
    values.sort_by_key(|v| v.get::<i64>().unwrap());
    assert_eq!(values, [Value::Int(0), Value::Int(1), Value::Int(2)]);
    conn.rollback().unwrap();
}

#[test]
fn bad_text_and_wrong_values_are_errors_that_say_why() {
    let pool = pool();
    let mut conn = pool.get().unwrap();
    let table = unique("bad");
    conn.execute(&format!("DROP TABLE IF EXISTS {table}"), ())
        .unwrap();
    conn.execute(
        &format!("CREATE TABLE {table} (n int, at timestamp, ids int[], u uuid)"),
        (),
    )
    .unwrap();
    let failures: [(&str, Value, &str); 7] = [
        ("n", text("abc"), "invalid input syntax for type integer: \"abc\""),
        (
            "u",
            text("not-a-uuid"),
            "invalid input syntax for type uuid: \"not-a-uuid\"",
        ),
        (
            "ids",
            text("{1,x}"),
            "invalid input syntax for type integer: \"x\"",
        ),
        (
            "n",
            Value::Int(1 << 40),
            "1099511627776 is out of range for PostgreSQL type int4",
        ),
        (
            "n",
            Value::Bytes(vec![1]),
            "a Bytes value cannot be sent as PostgreSQL type int4",
        ),
        (
            "at",
            timestamptz("2024-07-01 12:00:00+02:00"),
            "a TimestampTz value cannot be sent as PostgreSQL type timestamp",
        ),
        (
            "ids",
            array([array([Value::Int(1)]), array([])]),
            "the sub-arrays of a multidimensional array must all have the same lengths",
        ),
    ];
    for (column, value, message) in failures {
        let err = conn
            .execute(
                &format!("INSERT INTO {table} ({column}) VALUES (?)"),
                [value.clone()],
            )
            .unwrap_err();
        assert!(matches!(err, AnyError::Database(_)), "{err:?}");
        let printed = common::chain(&err);
        assert!(printed.contains(message), "{column} given {value:?}: {printed}");
    }
    // The connection is still good.
    let count: i64 = conn
        .query_scalar(&format!("SELECT count(*) FROM {table}"), ())
        .unwrap();
    assert_eq!(count, 0);
    conn.execute(&format!("DROP TABLE {table}"), ()).unwrap();
}
