//! Settings end to end: DATABASES from a TOML file, the environment and a URL give registry
//! pools with the options they name, against the local PostgreSQL (127.0.0.1:5432, user
//! `postgres`, database `test`) and MariaDB (127.0.0.1:3306, user `root`, database `test`) and
//! an embedded SQLite; `setup` changes the defaults of pools made afterwards; `AnyConnection`
//! runs the same SQL with named parameters on every engine. The tests fail, rather than skip,
//! when a server is not there.
//!
//! `setup` changes process-wide defaults, so every test here holds `DEFAULTS` while it makes
//! pools (or checks settings, whose pool options start from the defaults).
#![cfg(all(feature = "postgres", feature = "mysql", feature = "toml"))]

mod common;

// The deploy check, run here through its core function.
#[path = "../examples/check_settings.rs"]
#[allow(dead_code)] // its `main`
mod check_settings;

use common::pg::{count_tagged, monitor};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use millpond::mysql::MySqlManager;
use millpond::postgres::PostgresManager;
use millpond::sqlite::SqliteManager;
use millpond::{
    Error, PoolOptions,
    any::{AnyConnection, AnyPool},
    settings::{DatabaseSettings, Databases, Engine, Registry},
    sql::{Params, Value},
};

static DEFAULTS: Mutex<()> = Mutex::new(());

fn defaults_lock() -> MutexGuard<'static, ()> {
    DEFAULTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tag(test: &str) -> String {
    format!("mp-settings-{test}-{}", std::process::id())
}

#[test]
fn a_toml_file_configures_pools_for_three_engines() {
    let _defaults = defaults_lock();
    let tag = tag("toml");
    let dir = std::env::temp_dir().join(format!("millpond-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("databases.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[server]
workers = 4

[DATABASES.default]
ENGINE = "dj_db_conn_pool.backends.postgresql"
NAME = "test"
USER = "postgres"
PASSWORD = "s3cr3t-unused"
HOST = "127.0.0.1"
PORT = 5432
CONN_MAX_AGE = 0
OPTIONS = {{ sslmode = "disable", application_name = "{tag}" }}
POOL_OPTIONS = {{ POOL_SIZE = 2, MAX_OVERFLOW = 1, TIMEOUT = 2.5, RECYCLE = 3600, PRE_PING = false, MIN_IDLE = 2 }}

[DATABASES.mariadb]
ENGINE = "millpond.backends.mysql"
NAME = "test"
USER = "root"
HOST = "127.0.0.1"
PORT = "3306"
POOL_OPTIONS = {{ POOL_SIZE = 3, MAX_OVERFLOW = -1, NAME = "shop" }}

[DATABASES.local]
ENGINE = "millpond.backends.sqlite"
NAME = "{}"
OPTIONS = {{ busy_timeout_ms = "250" }}
"#,
            dir.join("local.db").display()
        ),
    )
    .unwrap();
    let databases = Databases::from_toml_file(&file).unwrap();
    assert_eq!(
        databases.aliases().collect::<Vec<_>>(),
        ["default", "local", "mariadb"]
    );
    let registry = Registry::new(databases);
    assert!(!format!("{registry:?}").contains("s3cr3t"), "{registry:?}");

    // PostgreSQL: the options apply, and min_idle connections are open as soon as the pool is made.
    let pool = registry.pool::<PostgresManager>("default").unwrap();
    let o = pool.options();
    assert_eq!((o.pool_size, o.max_overflow, o.min_idle), (2, Some(1), 2));
    assert_eq!(o.timeout, Duration::from_millis(2500));
    assert_eq!(o.recycle, Some(Duration::from_secs(3600)));
    assert!(!o.pre_ping);
    assert_eq!(o.name, "default", "the pool is named after its alias");
    let mut mon = monitor();
    assert_eq!(count_tagged(&mut mon, &tag), 2);
    let mut conn = registry.get::<PostgresManager>("default").unwrap();
    let one: i32 = conn.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    // The same pool on every call.
    assert_eq!(
        registry
            .pool::<PostgresManager>("default")
            .unwrap()
            .state()
            .in_use,
        1
    );
    drop(conn);

    // MariaDB.
    let pool = registry.pool::<MySqlManager>("mariadb").unwrap();
    assert_eq!((pool.options().pool_size, pool.options().max_overflow), (3, None));
    assert_eq!(pool.options().name, "shop");
    let n: Option<i64> =
        millpond::mysql::Queryable::query_first(&mut *pool.get().unwrap(), "SELECT 41 + 1").unwrap();
    assert_eq!(n, Some(42));

    // SQLite, with its driver option.
    let pool = registry.pool::<SqliteManager>("local").unwrap();
    let conn = pool.get().unwrap();
    let timeout: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!(timeout, 250);
    drop(conn);

    // Asking for the wrong manager, or an alias that is not there, says so.
    let err = registry.pool::<SqliteManager>("default").unwrap_err().to_string();
    assert!(
        err.contains("millpond.backends.postgresql") && err.contains("SqliteManager"),
        "{err}"
    );
    let err = registry.pool::<SqliteManager>("nope").unwrap_err().to_string();
    assert!(
        err.contains("`nope`") && err.contains("default, local, mariadb"),
        "{err}"
    );

    registry.close_all();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_name_the_key_and_what_is_accepted_without_the_password() {
    let err = Databases::from_toml_str(
        r#"
[default]
ENGINE = "millpond.backends.postgresql"
PASSWORD = "s3cr3t"
CONN_MAX_AGE = 600
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("CONN_MAX_AGE") && err.contains("must be 0"), "{err}");
    let err = Databases::from_toml_str("[default]\nENGINE = \"millpond.backends.mssql\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`millpond.backends.mssql`"), "{err}");
    assert!(err.contains("millpond.backends.jdbc.oceanbase"), "{err}");
    let err = Databases::from_toml_str(
        "[default]\nENGINE = \"millpond.backends.mysql\"\n[default.POOL_OPTIONS]\nPOOL_SIZ = 3\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`default.POOL_OPTIONS.POOL_SIZ`"), "{err}");
    assert!(
        err.contains("POOL_SIZE") && err.contains("MAX_TOTAL_CONNECTIONS"),
        "{err}"
    );
    let err = Databases::from_toml_str(
        "[default]\nENGINE = \"millpond.backends.mysql\"\nPASSWORD = 7\nTIME_ZONE = \"UTC\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`default.TIME_ZONE` is not accepted"), "{err}");

    // A driver option the backend does not know is refused when the pool is made, by the
    // backend's own list; the password stays out of it.
    let _defaults = defaults_lock();
    let registry = Registry::new(
        Databases::from_toml_str(
            "[default]\nENGINE = \"millpond.backends.postgresql\"\nUSER = \"u\"\nPASSWORD = \"s3cr3t\"\n\
             OPTIONS = { colour = \"blue\" }\n",
        )
        .unwrap(),
    );
    let err = registry
        .pool::<PostgresManager>("default")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("database `default`") && err.contains("`default.OPTIONS.colour` is not a driver option"),
        "{err}"
    );
    assert!(err.contains("sslmode") && !err.contains("s3cr3t"), "{err}");
    // A refused pool option combination names the alias.
    let registry = Registry::new(Databases::new().with(
        "tiny",
        DatabaseSettings::from_url("sqlite::memory:?pool_size=0").unwrap(),
    ));
    let err = registry.pool::<SqliteManager>("tiny").unwrap_err().to_string();
    assert!(
        err.contains("database `tiny`") && err.contains("pool_size"),
        "{err}"
    );
    // A checkout timeout names the pool by its alias, and its time rounded.
    let registry = Registry::new(Databases::new().with(
        "reports",
        DatabaseSettings::from_url("sqlite::memory:?pool_size=1&max_overflow=0&timeout=0.05").unwrap(),
    ));
    let pool = registry.pool::<SqliteManager>("reports").unwrap();
    let held = pool.get().unwrap();
    let err = pool.get().map(|_| ()).unwrap_err().to_string();
    assert!(
        err.starts_with("pool `reports`: timed out after ") && err.contains(" ms waiting"),
        "{err}"
    );
    drop(held);
}

#[test]
fn environment_variables_and_database_url_configure_pools() {
    let _defaults = defaults_lock();
    let tag = tag("env");
    let databases = Databases::from_vars([
        ("DATABASE_URL".to_owned(), format!("postgres://postgres@127.0.0.1:5432/test?sslmode=disable&application_name={tag}&pool_size=1&max_overflow=0")),
        ("MILLPOND_DATABASES__MARIADB__ENGINE".to_owned(), "millpond.backends.mysql".to_owned()),
        ("MILLPOND_DATABASES__MARIADB__NAME".to_owned(), "test".to_owned()),
        ("MILLPOND_DATABASES__MARIADB__USER".to_owned(), "root".to_owned()),
        ("MILLPOND_DATABASES__MARIADB__HOST".to_owned(), "127.0.0.1".to_owned()),
        ("MILLPOND_DATABASES__MARIADB__OPTIONS__CONNECT_TIMEOUT_MS".to_owned(), "2000".to_owned()),
        ("MILLPOND_DATABASES__MARIADB__POOL_OPTIONS__POOL_SIZE".to_owned(), "2".to_owned()),
        ("MILLPOND_DATABASES__MARIADB__POOL_OPTIONS__PRE_PING".to_owned(), "off".to_owned()),
        ("HOME".to_owned(), "/root".to_owned()),
    ])
    .unwrap();
    let registry = Registry::new(databases);
    let pool = registry.pool::<PostgresManager>("default").unwrap();
    assert_eq!(pool.options().max_connections(), Some(1));
    let held = pool.get().unwrap();
    // The cap of one holds: a second checkout times out rather than opening another.
    assert!(
        pool.get_timeout(Duration::from_millis(50))
            .unwrap_err()
            .is_timeout()
    );
    assert_eq!(count_tagged(&mut monitor(), &tag), 1);
    drop(held);
    let pool = registry.pool::<MySqlManager>("mariadb").unwrap();
    assert_eq!(pool.options().pool_size, 2);
    assert!(!pool.options().pre_ping);
    assert!(pool.get().is_ok());
    registry.close_all();
}

#[test]
fn setup_sets_the_defaults_of_pools_made_afterwards() {
    let _defaults = defaults_lock();
    let mut defaults = PoolOptions::default();
    defaults.pool_size = 3;
    defaults.max_overflow = Some(1);
    defaults.timeout = Duration::from_secs(4);
    let mut refused = defaults.clone();
    refused.pool_size = 0;
    assert!(millpond::settings::setup(refused).is_err());
    assert_eq!(
        millpond::settings::pool_defaults().pool_size,
        10,
        "a refused setup changes nothing"
    );

    let before = millpond::Pool::builder().build(SqliteManager::memory()).unwrap();
    millpond::settings::setup(defaults).unwrap();
    let after = millpond::Pool::builder().build(SqliteManager::memory()).unwrap();
    let registry = Registry::new(
        Databases::new()
            .with("plain", DatabaseSettings::from_url("sqlite::memory:").unwrap())
            .with(
                "own",
                DatabaseSettings::from_url("sqlite::memory:?pool_size=5").unwrap(),
            ),
    );
    let plain = registry.pool::<SqliteManager>("plain").unwrap();
    let own = registry.pool::<SqliteManager>("own").unwrap();
    millpond::settings::reset_pool_defaults();
    let reset = millpond::Pool::new(SqliteManager::memory()).unwrap();

    assert_eq!(
        before.options().pool_size,
        10,
        "pools made before keep their options"
    );
    assert_eq!(
        (after.options().pool_size, after.options().max_overflow),
        (3, Some(1))
    );
    assert_eq!(after.options().timeout, Duration::from_secs(4));
    assert_eq!(
        (plain.options().pool_size, plain.options().timeout),
        (3, Duration::from_secs(4))
    );
    assert_eq!(
        (own.options().pool_size, own.options().max_overflow),
        (5, Some(1)),
        "POOL_OPTIONS win"
    );
    assert_eq!(reset.options().pool_size, 10);
}

/// The same statements on every engine: a table, rows inserted with named parameters in both
/// styles, read back with positional ones.
fn exercise(conn: &mut AnyConnection, create: &str) -> Vec<millpond::sql::Row> {
    conn.execute("DROP TABLE IF EXISTS mp_any_pond", ()).unwrap();
    conn.execute(create, ()).unwrap();
    let inserted = conn
        .execute(
            "INSERT INTO mp_any_pond (id, name, weight, note) VALUES (%(id)s, %(name)s, %(weight)s, %(note)s)",
            Params::named([("id", Value::from(1)), ("name", "mill".into())])
                .and("weight", Value::decimal("12.50").unwrap())
                .and("note", None::<String>),
        )
        .unwrap();
    assert_eq!(inserted, 1);
    conn.begin().unwrap();
    conn.execute(
        "INSERT INTO mp_any_pond (id, name, weight, note) VALUES (:id, :name, :weight, :note)",
        Params::named([("id", Value::from(2)), ("name", "it's a pond".into())])
            .and("weight", 0.25)
            .and("note", "a%b"),
    )
    .unwrap();
    conn.commit().unwrap();
    conn.begin().unwrap();
    conn.execute(
        "INSERT INTO mp_any_pond (id, name) VALUES (?, ?)",
        [Value::from(3), "gone".into()],
    )
    .unwrap();
    conn.rollback().unwrap();
    let count: i64 = conn.query_scalar("SELECT COUNT(*) FROM mp_any_pond", ()).unwrap();
    assert_eq!(count, 2, "the rolled-back row is not there");
    let rows = conn
        .query(
            "SELECT id, name, weight, note FROM mp_any_pond WHERE id >= %s ORDER BY id",
            [1],
        )
        .unwrap();
    assert_eq!(rows.len(), 2);
    let columns: Vec<String> = rows[0].columns().iter().map(|c| c.to_ascii_lowercase()).collect();
    assert_eq!(columns, ["id", "name", "weight", "note"]);
    assert_eq!(rows[0].get::<i64>("id").unwrap(), 1);
    assert_eq!(rows[1].get::<String>("name").unwrap(), "it's a pond");
    assert!(rows[0]["note"].is_null());
    assert_eq!(rows[1].get::<String>("note").unwrap(), "a%b");
    let err = conn
        .query("SELECT id FROM mp_any_pond WHERE id = :id", ())
        .unwrap_err();
    assert!(matches!(err, millpond::any::AnyError::Params(_)), "{err}");
    let err = conn
        .query_scalar::<i64>("SELECT id FROM mp_any_pond WHERE id = %s", [99])
        .unwrap_err();
    assert!(matches!(err, millpond::any::AnyError::NoRows), "{err}");
    conn.execute("DROP TABLE mp_any_pond", ()).unwrap();
    rows
}

#[test]
fn any_connection_runs_the_same_sql_on_sqlite_postgresql_and_mariadb() {
    let _defaults = defaults_lock();
    let dir = std::env::temp_dir().join(format!("millpond-any-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let registry = Registry::new(
        Databases::new()
            .with(
                "sqlite",
                DatabaseSettings::new(Engine::Sqlite).name(dir.join("any.db").display().to_string()),
            )
            .with(
                "postgres",
                DatabaseSettings::from_url(
                    "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&application_name=mp-any",
                )
                .unwrap(),
            )
            .with(
                "mariadb",
                DatabaseSettings::from_url("mysql://root@127.0.0.1:3306/test?pool_size=2").unwrap(),
            ),
    );
    let create = "CREATE TABLE mp_any_pond (id INT PRIMARY KEY, name VARCHAR(20), weight DECIMAL(10, 2), note VARCHAR(20))";
    for alias in ["sqlite", "postgres", "mariadb"] {
        let pool = registry.any_pool(alias).unwrap();
        let mut conn = pool.get().unwrap();
        let rows = exercise(&mut conn, create);
        let weights: Vec<&Value> = rows.iter().map(|r| &r["weight"]).collect();
        match conn.engine() {
            // SQLite's NUMERIC affinity stores numbers.
            Engine::Sqlite => assert_eq!(weights, [&Value::Float(12.5), &Value::Float(0.25)]),
            // The servers keep decimals exact.
            _ => assert_eq!(
                weights,
                [&Value::Decimal("12.50".into()), &Value::Decimal("0.25".into())],
                "{alias}"
            ),
        }
        drop(conn);
        assert_eq!(pool.state().in_use, 0);
    }
    // The registry's typed pool and the AnyPool are one pool.
    let any = registry.any_pool("postgres").unwrap();
    let _held = any.get().unwrap();
    assert_eq!(
        registry
            .pool::<PostgresManager>("postgres")
            .unwrap()
            .state()
            .in_use,
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn any_connection_on_postgresql_prepares_each_statement_once_per_connection() {
    let _defaults = defaults_lock();
    let pool = AnyPool::from_settings(
        &DatabaseSettings::from_url("postgres://postgres@127.0.0.1:5432/test?sslmode=disable&pool_size=1")
            .unwrap(),
    )
    .unwrap();
    let mut conn = pool.get().unwrap();
    for i in 0..3 {
        let rows = conn.query("SELECT %s::int8 AS n", [Value::Int(i)]).unwrap();
        assert_eq!(rows[0].get::<i64>(0).unwrap(), i);
    }
    // This statement and the one above, each prepared once.
    let rows = conn
        .query("SELECT count(*) AS n FROM pg_prepared_statements", ())
        .unwrap();
    assert_eq!(rows[0].get::<i64>(0).unwrap(), 2);
}

#[test]
fn any_connection_reads_postgresql_types() {
    let _defaults = defaults_lock();
    let pool = AnyPool::from_settings(
        &DatabaseSettings::from_url("postgres://postgres@127.0.0.1:5432/test?sslmode=disable&pool_size=1")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pool.engine(), Engine::Postgresql);
    let mut conn = pool.get().unwrap();
    let row = conn
        .query_row(
            "SELECT %(small)s::int2 AS small, %(big)s::int8 AS big, %(f)s::float8 AS f, %(n)s::numeric AS n, \
             %(d)s::date AS d, %(ts)s::timestamp AS ts, %(t)s::time AS t, %(b)s::bytea AS b, %(ok)s::bool AS ok, \
             '-0.000120'::numeric AS tiny, 'NaN'::numeric AS nan, '{\"a\": 1}'::jsonb AS j",
            Params::named([
                ("small", Value::from(7)),
                ("big", Value::Int(1 << 40)),
                ("f", Value::Float(1.5)),
                ("n", Value::decimal("-123456789.000100").unwrap()),
                ("d", "2024-02-29".parse::<millpond::sql::Date>().unwrap().into()),
                ("ts", "1969-07-20T20:17:40.5".parse::<millpond::sql::Timestamp>().unwrap().into()),
                ("t", "23:59:59.000001".parse::<millpond::sql::Time>().unwrap().into()),
                ("b", Value::Bytes(vec![0, 255])),
                ("ok", Value::Bool(true)),
            ]),
        )
        .unwrap()
        .unwrap();
    assert_eq!(row["small"], Value::Int(7));
    assert_eq!(row["big"], Value::Int(1 << 40));
    assert_eq!(row["f"], Value::Float(1.5));
    assert_eq!(row["n"], Value::Decimal("-123456789.000100".into()));
    assert_eq!(row["d"], Value::Date("2024-02-29".parse().unwrap()));
    assert_eq!(
        row["ts"],
        Value::Timestamp("1969-07-20T20:17:40.5".parse().unwrap())
    );
    assert_eq!(row["t"], Value::Time("23:59:59.000001".parse().unwrap()));
    assert_eq!(row["b"], Value::Bytes(vec![0, 255]));
    assert_eq!(row["ok"], Value::Bool(true));
    assert_eq!(row["tiny"], Value::Decimal("-0.000120".into()));
    assert_eq!(row["nan"], Value::Text("NaN".into()));
    assert_eq!(row["j"], Value::Text("{\"a\": 1}".into()));
    // A value that cannot be sent as the type the server wants is an error, not a guess.
    let err = conn
        .query("SELECT %s::int4 + 1", [Value::Bytes(vec![1])])
        .unwrap_err();
    let printed = common::chain(&err);
    assert!(printed.contains("int4"), "{printed}");
}

#[test]
fn the_global_registry_is_configured_once_and_shared() {
    let _defaults = defaults_lock();
    millpond::settings::configure(Databases::new().with(
        "default",
        DatabaseSettings::from_url("sqlite::memory:?min_idle=1").unwrap(),
    ))
    .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let mut conn = millpond::settings::registry()
                    .any_pool("default")
                    .unwrap()
                    .get()
                    .unwrap();
                conn.query_scalar::<i64>("SELECT 1", ()).unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 1);
    }
    let pool = millpond::settings::registry()
        .pool::<SqliteManager>("default")
        .unwrap();
    assert!(pool.stats().checkouts >= 4);
    let err: Error = millpond::settings::registry()
        .pool::<PostgresManager>("default")
        .unwrap_err();
    assert!(err.to_string().contains("PostgresManager"), "{err}");
}

/// JDBC through H2 (`/usr/share/java/h2.jar`), with the same statements as the other engines.
#[cfg(feature = "jdbc")]
#[test]
fn any_connection_runs_the_same_sql_on_jdbc_h2() {
    let _defaults = defaults_lock();
    let databases = Databases::from_toml_str(
        r#"
[h2]
ENGINE = "millpond.backends.jdbc.generic"
NAME = "jdbc:h2:mem:mp_settings;DB_CLOSE_DELAY=-1"
USER = "sa"
OPTIONS = { jar = "/usr/share/java/h2.jar" }
POOL_OPTIONS = { POOL_SIZE = 2, MAX_OVERFLOW = 0 }
"#,
    )
    .unwrap();
    let registry = Registry::new(databases);
    let pool = registry.any_pool("h2").unwrap();
    assert_eq!(pool.engine(), Engine::JdbcGeneric);
    let mut conn = pool.get().unwrap();
    let rows = exercise(
        &mut conn,
        "CREATE TABLE mp_any_pond (id INT PRIMARY KEY, name VARCHAR(20), weight DECIMAL(10, 2), note VARCHAR(20))",
    );
    assert_eq!(rows[0]["weight"], Value::Decimal("12.50".into()));
    drop(conn);
    registry.close_all();
}

#[test]
fn pgbouncer_and_the_statement_cache_are_options_of_a_postgresql_database() {
    use millpond::settings::FromSettings;
    let databases = Databases::from_toml_str(
        r#"
[bouncer]
ENGINE = "millpond.backends.postgresql"
NAME = "test"
USER = "postgres"
HOST = "127.0.0.1"
PORT = 6432
OPTIONS = { pgbouncer = "true", statement_cache_capacity = "7" }

[bouncer_with_init]
ENGINE = "millpond.backends.postgresql"
NAME = "test"
USER = "postgres"
OPTIONS = { pgbouncer = "true", options = "-c statement_timeout=5s" }
"#,
    )
    .unwrap();
    let manager = PostgresManager::from_settings(databases.get("bouncer").unwrap()).unwrap();
    assert!(manager.get_pgbouncer());
    assert_eq!(manager.get_statement_cache_capacity(), 7);
    let err = PostgresManager::from_settings(databases.get("bouncer_with_init").unwrap()).unwrap_err();
    assert!(
        err.message.contains("pgbouncer=true") && err.message.contains("options"),
        "{err}"
    );
}

/// The lines of a `SettingsError`, one per problem.
fn problem_lines(err: &millpond::settings::SettingsError) -> Vec<String> {
    err.problems().iter().map(ToString::to_string).collect()
}

#[test]
fn configure_reports_every_problem_of_every_alias_before_any_pool_is_made() {
    let _defaults = defaults_lock();
    let tag = tag("check");
    millpond::settings::configure(
        Databases::new().with("kept", DatabaseSettings::from_url("sqlite::memory:").unwrap()),
    )
    .unwrap();
    // Each of these used to be accepted here and refused only by the first pool of each alias,
    // in every worker; a URL's mistyped pool option with a list that left the pool options out.
    let databases = Databases::from_toml_str(&format!(
        r#"
[default]
URL = "postgres://postgres:s3cr3t-unused@127.0.0.1:5432/test?sslmode=disable&application_name={tag}&pool_sise=3"

[mariadb]
ENGINE = "millpond.backends.mysql"
NAME = "test"
USER = "root"
PASSWORD = "s3cr3t-unused"
HOST = "127.0.0.1"
OPTIONS = {{ ssl = "false", colour = "blue", pool_size = "3" }}
POOL_OPTIONS = {{ POOL_SIZE = 2, MIN_IDLE = 3 }}

[bouncer]
ENGINE = "millpond.backends.postgresql"
NAME = "test"
USER = "postgres"
OPTIONS = {{ pgbouncer = "true", sslmod = "disable" }}
POOL_OPTIONS = {{ RESET_ON_RETURN = "sql:DISCARD ALL" }}

[fine]
URL = "mysql://root@127.0.0.1:3306/test?pool_size=2"
"#
    ))
    .unwrap();
    let err = millpond::settings::configure(databases.clone()).unwrap_err();
    assert_eq!(
        databases.validate().unwrap_err(),
        err,
        "configure checks as validate does"
    );
    let lines = problem_lines(&err);
    let expected = [
        "bouncer: `bouncer.OPTIONS.sslmod` is not a driver option of millpond.backends.postgresql (did you mean `sslmode`?); the accepted ones are sslmode, sslrootcert,",
        "bouncer: with pgbouncer=true a reset statement is refused",
        "default: the URL's `?pool_sise=` is not accepted (did you mean `pool_size`?); the accepted ones are the pool options (pool_size, max_overflow, min_idle,",
        "mariadb: the pool option `min_idle` must be at most pool_size (2) (got 3)",
        "mariadb: `mariadb.OPTIONS.colour` is not a driver option of millpond.backends.mysql; the accepted ones are connect_timeout_ms,",
        "mariadb: `mariadb.OPTIONS.pool_size` is a pool option, not a driver option: give it in POOL_OPTIONS as POOL_SIZE",
    ];
    assert_eq!(lines.len(), expected.len(), "{err}");
    for (line, expected) in lines.iter().zip(expected) {
        assert!(line.starts_with(expected), "{line}\n  is not\n{expected}…");
    }
    assert!(
        lines[2].contains("and the driver parameters of millpond.backends.postgresql (sslmode,"),
        "{err}"
    );
    let shown = format!("{err}\n{err:?}\n{}", millpond::ConfigError::from(err.clone()));
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(
        shown.starts_with("invalid database settings: 6 problems:\n  bouncer: "),
        "{shown}"
    );

    // Nothing was connected, and the registry kept what it had.
    assert_eq!(count_tagged(&mut monitor(), &tag), 0);
    assert_eq!(
        millpond::settings::registry()
            .databases()
            .unwrap()
            .aliases()
            .collect::<Vec<_>>(),
        ["kept"]
    );
    // A first use without the check explains the same way, alias by alias.
    let registry = Registry::new(databases);
    let err = registry
        .pool::<PostgresManager>("default")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "database `default`: the URL's `?pool_sise=` is not accepted (did you mean `pool_size`?)"
        ) && err.contains("pool_size, max_overflow")
            && !err.contains("s3cr3t"),
        "{err}"
    );
    assert!(registry.pool::<MySqlManager>("fine").is_ok());
}

#[test]
fn environment_variables_are_checked_with_near_misses_named() {
    let _defaults = defaults_lock();
    let err = Databases::from_vars([
        (
            "MILLPOND_DATABASES__DEFAULT__ENGINE",
            "millpond.backends.postgresql",
        ),
        ("MILLPOND_DATABASES__DEFAULT__PASSWORD", "s3cr3t"),
        ("MILLPOND_DATABASES__DEFAULT__POOL_OPTIONS__POOL_SIZ", "3"),
        (
            "MILLPOND_DATABASES__REPLICA__ENGIN",
            "millpond.backends.postgresql",
        ),
    ])
    .unwrap_err();
    let lines = problem_lines(&err);
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(
            "default: `default.POOL_OPTIONS.POOL_SIZ` is not a pool option (did you mean `POOL_SIZE`?)"
        ),
        "{err}"
    );
    assert!(
        lines[1].starts_with("replica: `replica.ENGIN` is not accepted (did you mean `ENGINE`?)"),
        "{err}"
    );
    assert!(lines[2].starts_with("replica: `replica` has no ENGINE"), "{err}");
    assert!(err.to_string().contains("problems in the environment"), "{err}");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");

    let databases = Databases::from_vars([
        (
            "DATABASE_URL",
            "mysql://root:s3cr3t@127.0.0.1:3306/test?conect_timeout_ms=2000&pool_size=2",
        ),
        (
            "MILLPOND_DATABASES__REPLICA__URL",
            "postgres://postgres@127.0.0.1/test",
        ),
        ("MILLPOND_DATABASES__REPLICA__OPTIONS__SSLMODE", "sometimes"),
    ])
    .unwrap();
    let err = databases.validate().unwrap_err();
    let lines = problem_lines(&err);
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(
            "default: the URL's `?conect_timeout_ms=` is not accepted (did you mean `connect_timeout_ms`?)"
        ),
        "{err}"
    );
    assert!(
        lines[1].starts_with("replica: sslmode `sometimes` is not accepted; use disable, prefer"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err}");
}

#[test]
fn the_deploy_check_connects_once_per_alias_and_says_how_long_each_took() {
    let _defaults = defaults_lock();
    let dir = std::env::temp_dir().join(format!("millpond-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sound = dir.join("sound.toml");
    std::fs::write(
        &sound,
        format!(
            r#"
[DATABASES.default]
ENGINE = "millpond.backends.postgresql"
NAME = "test"
USER = "postgres"
PASSWORD = "s3cr3t-unused"
HOST = "127.0.0.1"
OPTIONS = {{ sslmode = "disable" }}
POOL_OPTIONS = {{ MIN_IDLE = 3 }}

[DATABASES.shop]
URL = "mariadb://root@127.0.0.1:3306/test"

[DATABASES.cache]
ENGINE = "millpond.backends.sqlite"
NAME = "{}"
"#,
            dir.join("cache.db").display()
        ),
    )
    .unwrap();
    let no_vars = Vec::<(std::ffi::OsString, std::ffi::OsString)>::new;
    let run = |args: &[&str], vars| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut out = Vec::new();
        let code = check_settings::run(&args, vars, &mut out);
        (code, String::from_utf8(out).unwrap())
    };
    let file = |path: &std::path::Path| path.display().to_string();

    let (code, out) = run(&[&file(&sound)], no_vars());
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, (alias, engine)) in lines.iter().zip([
        ("cache  ", "sqlite    "),
        ("default", "postgresql"),
        ("shop   ", "mysql     "),
    ]) {
        let prefix = format!("{alias}  {engine}  ok  ");
        assert!(
            line.starts_with(&prefix) && line.ends_with(" ms"),
            "{line:?} in\n{out}"
        );
        let ms: f64 = line[prefix.len()..line.len() - 3].parse().unwrap();
        assert!((0.0..30_000.0).contains(&ms), "{line}");
    }

    // From DATABASE_URL when no file is given.
    let vars = vec![(
        "DATABASE_URL".into(),
        "mysql://root@127.0.0.1:3306/test?pool_size=1".into(),
    )];
    let (code, out) = run(&[], vars);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("default  mysql  ok  "), "{out}");

    // A typo: every problem, nothing connected, a failing status.
    let typo = dir.join("typo.toml");
    std::fs::write(
        &typo,
        r#"
[default]
URL = "postgres://postgres:s3cr3t@127.0.0.1:5432/test?sslmode=disable&pool_sise=3"

[cache]
ENGINE = "millpond.backends.sqlite"
NAME = ":memory:"
OPTIONS = { busy_timeout = "250" }
POOL_OPTIONS = { MAX_OVERFLO = 1 }
"#,
    )
    .unwrap();
    let (code, out) = run(&[&file(&typo)], no_vars());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("in {}", typo.display())), "{out}");
    assert!(
        out.contains(
            "cache: `cache.POOL_OPTIONS.MAX_OVERFLO` is not a pool option (did you mean `MAX_OVERFLOW`?)"
        ),
        "{out}"
    );
    assert!(!out.contains(" ok ") && !out.contains("s3cr3t"), "{out}");
    // With that fixed, the driver's parameters are checked.
    std::fs::write(
        &typo,
        std::fs::read_to_string(&typo)
            .unwrap()
            .replace("MAX_OVERFLO =", "MAX_OVERFLOW ="),
    )
    .unwrap();
    let (code, out) = run(&[&file(&typo)], no_vars());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("invalid database settings: 2 problems:\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  cache: `cache.OPTIONS.busy_timeout` is not a driver option of millpond.backends.sqlite (did you mean `busy_timeout_ms`?)"),
        "{out}"
    );
    assert!(
        out.contains("\n  default: the URL's `?pool_sise=` is not accepted (did you mean `pool_size`?)"),
        "{out}"
    );
    assert!(!out.contains(" ok ") && !out.contains("s3cr3t"), "{out}");

    // A server that does not answer fails its line, and the status; the others still pass.
    let down = dir.join("down.toml");
    std::fs::write(
        &down,
        format!(
            "[up]\nURL = \"sqlite://{}\"\n\n[down]\nURL = \"postgres://postgres:s3cr3t@127.0.0.1:1/test?sslmode=disable&timeout=5\"\n",
            dir.join("up.db").display()
        ),
    )
    .unwrap();
    let (code, out) = run(&[&file(&down)], no_vars());
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("down  postgresql  failed  could not open a database connection: "),
        "{out}"
    );
    assert!(lines[1].starts_with("up    sqlite      ok  "), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");

    // Called wrongly, or with nothing to check.
    assert_eq!(run(&["a.toml", "b.toml"], no_vars()).0, 2);
    let (code, out) = run(&[], no_vars());
    assert_eq!(code, 1);
    assert!(out.starts_with("no database is configured"), "{out}");
    let (code, out) = run(&[&file(&dir.join("missing.toml"))], no_vars());
    assert_eq!(code, 1);
    assert!(out.contains("missing.toml could not be read"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
