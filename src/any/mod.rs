//! [`AnyPool`] and [`AnyConnection`]: the same SQL, with `?`, `%s`, `%(name)s` or `:name`
//! parameters, on whichever engine the settings name, returning rows of [`Value`]s.
//!
//! # Types
//!
//! SQLite gives back what it stores: `Int`, `Float`, `Text`, `Bytes` (dates and times are
//! the ISO text they were stored as, a `TimestampTz` with its offset). MySQL and MariaDB give
//! `Int` (an unsigned value past `i64` as `Decimal`), `Float`, `Decimal`, `Text`, `Bytes` for
//! binary strings, `Date`, `Timestamp`, and `Time` (a `TIME` beyond a day as its text); they
//! have no type for a `TimestampTz`, which is refused rather than sent shifted. Through JDBC a
//! `TimestampTz` is bound as an `OffsetDateTime`, and a `TIMESTAMP WITH TIME ZONE` column
//! (pgjdbc's `timestamptz` too) is read as one, with the offset the driver gives (pgjdbc: UTC). An `Array` is for PostgreSQL only; the other
//! engines refuse it.
//!
//! ## PostgreSQL
//!
//! A [`Value::Text`] goes to a parameter of any type as text that the server reads with the
//! type's input function, as psql and psycopg send it: `"42"` for an `int`, `"2024-07-01"` for
//! a `date`, `"{1,2}"` for an `int[]`, a label for an enum, what a user typed on a command line
//! for anything. Text the type does not accept is the server's error (`invalid input syntax
//! for type integer: "abc"`). The other values go where the table below says; anywhere else they
//! are refused, with an error naming the value and the type.
//!
//! | Type | Read as | Takes, besides `Null` and `Text` |
//! |---|---|---|
//! | `boolean` | `Bool` | `Bool` |
//! | `smallint`, `integer`, `bigint` | `Int` | `Int`; a whole `Decimal` (`42.000`) |
//! | `oid`, `xid`, `cid`, `xid8` | `Int` | `Int` (`oid`) |
//! | `real`, `double precision` | `Float` | `Float`, `Int`, `Decimal` (rounded to the nearest) |
//! | `numeric` | `Decimal`, every digit and the scale kept; `NaN` and `±Infinity` as `Text` | `Decimal`, `Int`, `Float` |
//! | `money` | `Text`, the server's (`$12.50`, in its `lc_monetary`) | `Int`, `Decimal` |
//! | `text`, `varchar`, `char(n)`, `name`, `citext`, an enum | `Text` | `Bool`, `Int`, `Float`, `Decimal`, dates and times, as their text |
//! | `"char"` | `Text` | — |
//! | `bytea` | `Bytes` | `Bytes` (`Text` is read as `bytea` input: `\x00ff`) |
//! | `json`, `jsonb`, `jsonpath`, `xml` | `Text` (`jsonb` as the server prints it) | — |
//! | `uuid` | `Text`, `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11` | — |
//! | `date` | `Date`; `infinity`, `-infinity` and years past 9999 as `Text` | `Date` |
//! | `time` | `Time`; `24:00:00` as `Text` | `Time` |
//! | `timetz` | `Text`, `12:00:00+02` | `Time` (at the session's offset) |
//! | `timestamp` | `Timestamp`; `±infinity` and years past 9999 as `Text` | `Timestamp`, `Date` (midnight) |
//! | `timestamptz` | `TimestampTz` at the offset of the session's `TimeZone` at that instant; `±infinity` as `Text` | `TimestampTz`; `Timestamp` and `Date` in the session's time zone |
//! | `interval` | `Text`, `1 year 2 mons 3 days 04:05:06.5` (`IntervalStyle` `postgres`) | — |
//! | `inet`, `cidr` | `Text`, `192.168.0.1`, `10.1.0.0/16` | — |
//! | `macaddr`, `macaddr8`, `bit`, `varbit`, `pg_lsn`, `tid` | `Text`, as the server prints it | — |
//! | arrays of any of these, any dimensions (and the catalog's `anyarray` columns) | `Array`, `Null` for a NULL element, an array of arrays for more dimensions; lower bounds dropped (`[0:1]={7,8}` reads as `[7, 8]`) | `Array` (of the element's values, or `Text` elements) |
//! | a domain | as its base type | as its base type (the server checks the domain's constraints) |
//! | ranges, multiranges, composite types, geometric types, `tsvector`, `tsquery`, `reg*` (the names), `hstore`, other extensions' types | `Text`, the server's own | — |
//! | an anonymous record (`ROW(1, 'a')`) | `Text`, the row literal the server prints (`(1,a)`) | — |
//! | `void` | `Null` | — |
//!
//! Two things only the server knows are asked for after a query, in one more statement (per
//! thousand distinct values): the offset of each `timestamptz` in the session's time zone (so a
//! query returning one costs a second round trip), and the text of the types the table marks as
//! "the server's". A result of other types costs nothing more. Types the server cannot send in binary (`aclitem`) fail the query: cast them to
//! `text` in the SQL. The statistics types (`pg_ndistinct`, `pg_dependencies`, `pg_mcv_list`,
//! the BRIN summaries) come back as `Bytes`, their internal form.

use std::fmt;

#[cfg(feature = "mysql")]
use crate::backends::mysql::any as mysql;
#[cfg(feature = "postgres")]
use crate::backends::postgres::any as postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite::any as sqlite;
use crate::error::{ConfigError, Error};
use crate::observe::{State, Stats};
use crate::pool::{Builder, Pool, PooledConnection};
use crate::settings::{DatabaseSettings, Engine, FromSettings, Registry};
pub use crate::sql::error::AnyError;
#[allow(unused_imports)]
use crate::sql::{FromValue, Params, Placeholder, Row, Translator, Value};

/// A pool of whichever engine the settings name, for configuration-driven code and
/// command-line tools: its connections run SQL given as text with parameters given apart.
///
/// Get one from the registry ([`Registry::any_pool`], which shares the alias's pool with typed
/// users) or make one from settings ([`AnyPool::from_settings`]).
///
/// ```
/// use millpond::{any::AnyPool, settings::DatabaseSettings, sql::Params};
///
/// let pool = AnyPool::from_settings(&DatabaseSettings::from_url("sqlite::memory:?min_idle=1")?)?;
/// let mut conn = pool.get()?;
/// conn.execute("CREATE TABLE pond (id INTEGER, name TEXT)", ())?;
/// conn.execute("INSERT INTO pond VALUES (:id, :name)", Params::named([("id", 1)]).and("name", "mill"))?;
/// let rows = conn.query("SELECT name FROM pond WHERE id = %s", [1])?;
/// assert_eq!(rows[0].get::<String>("name")?, "mill");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AnyPool {
    pool: Pools,
}

#[derive(Clone)]
enum Pools {
    #[cfg(feature = "sqlite")]
    Sqlite(Pool<crate::backends::sqlite::SqliteManager>),
    #[cfg(feature = "postgres")]
    Postgres(Pool<crate::backends::postgres::PostgresManager>),
    #[cfg(feature = "mysql")]
    Mysql(Pool<crate::backends::mysql::MySqlManager>),
    #[cfg(feature = "jdbc")]
    Jdbc(Engine, Pool<crate::backends::jdbc::JdbcManager>),
}

/// Runs `$body` with `$pool` bound to the typed pool, whatever it is.
macro_rules! each_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            Pools::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            Pools::Postgres($pool) => $body,
            #[cfg(feature = "mysql")]
            Pools::Mysql($pool) => $body,
            #[cfg(feature = "jdbc")]
            Pools::Jdbc(_, $pool) => $body,
        }
    };
}

/// Where an [`AnyPool`]'s typed pool comes from.
trait PoolSource {
    fn pool<M: FromSettings>(&self) -> Result<Pool<M>, Error>;
}

/// A pool of its own, from settings.
struct FromSettingsSource<'s>(&'s DatabaseSettings);

impl PoolSource for FromSettingsSource<'_> {
    fn pool<M: FromSettings>(&self) -> Result<Pool<M>, Error> {
        let manager = M::from_settings(self.0)?;
        let pool = Builder::from_options(self.0.pool_options()).build_unchecked(manager)?;
        pool.fill_min_idle()?;
        Ok(pool)
    }
}

/// The registry's pool of an alias.
struct RegistrySource<'r>(&'r Registry, &'r str);

impl PoolSource for RegistrySource<'_> {
    fn pool<M: FromSettings>(&self) -> Result<Pool<M>, Error> {
        self.0.pool::<M>(self.1)
    }
}

fn unsupported(engine: Engine, why: &str) -> Error {
    Error::Config(ConfigError::new(
        "ENGINE",
        format!("AnyPool cannot serve {engine}: {why}"),
    ))
}

fn make(engine: Engine, source: &impl PoolSource) -> Result<AnyPool, Error> {
    let _ = source;
    let pool = match engine {
        #[cfg(feature = "sqlite")]
        Engine::Sqlite => Pools::Sqlite(source.pool()?),
        #[cfg(feature = "postgres")]
        Engine::Postgresql => Pools::Postgres(source.pool()?),
        #[cfg(feature = "mysql")]
        Engine::Mysql => Pools::Mysql(source.pool()?),
        #[cfg(feature = "jdbc")]
        jdbc if jdbc.is_jdbc() => Pools::Jdbc(jdbc, source.pool()?),
        Engine::Oracle => {
            return Err(unsupported(
                engine,
                "not yet supported by the dynamic layer; use Pool<OracleManager>",
            ));
        }
        other => {
            return Err(unsupported(
                other,
                &format!("millpond was built without feature {}", other.feature()),
            ));
        }
    };
    Ok(AnyPool { pool })
}

impl AnyPool {
    /// A pool of its own for `settings` (options as [`DatabaseSettings::pool_options`] says);
    /// `min_idle` connections are opened first.
    pub fn from_settings(settings: &DatabaseSettings) -> Result<AnyPool, Error> {
        make(settings.engine, &FromSettingsSource(settings))
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        match &self.pool {
            #[cfg(feature = "sqlite")]
            Pools::Sqlite(_) => Engine::Sqlite,
            #[cfg(feature = "postgres")]
            Pools::Postgres(_) => Engine::Postgresql,
            #[cfg(feature = "mysql")]
            Pools::Mysql(_) => Engine::Mysql,
            #[cfg(feature = "jdbc")]
            Pools::Jdbc(engine, _) => *engine,
        }
    }

    /// Checks out a connection, waiting up to the pool's `timeout`.
    pub fn get(&self) -> Result<AnyConnection, Error> {
        let conn = match &self.pool {
            #[cfg(feature = "sqlite")]
            Pools::Sqlite(pool) => Conn::Sqlite(pool.get()?),
            #[cfg(feature = "postgres")]
            Pools::Postgres(pool) => Conn::Postgres(pool.get()?),
            #[cfg(feature = "mysql")]
            Pools::Mysql(pool) => Conn::Mysql(pool.get()?),
            #[cfg(feature = "jdbc")]
            Pools::Jdbc(_, pool) => Conn::Jdbc(pool.get()?),
        };
        Ok(AnyConnection {
            engine: self.engine(),
            conn,
        })
    }

    /// The pool's counts now.
    pub fn state(&self) -> State {
        each_pool!(&self.pool, pool => pool.state())
    }

    /// The pool's cumulative counters.
    pub fn stats(&self) -> Stats {
        each_pool!(&self.pool, pool => pool.stats())
    }

    /// Closes the pool (see [`Pool::close`]).
    pub fn close(&self) {
        each_pool!(&self.pool, pool => pool.close())
    }
}

impl fmt::Debug for AnyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyPool")
            .field("engine", &self.engine())
            .field("state", &self.state())
            .finish()
    }
}

impl Registry {
    /// The pool of `alias` as an [`AnyPool`]: the same pool [`Registry::pool`] gives for the
    /// engine's manager, made on first use in this process.
    #[cfg_attr(
        docsrs,
        doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql", feature = "jdbc")))
    )]
    pub fn any_pool(&self, alias: &str) -> Result<AnyPool, Error> {
        let engine = self.settings(alias)?.engine;
        make(engine, &RegistrySource(self, alias))
    }
}

/// A connection checked out of an [`AnyPool`]; dropping it gives it back.
pub struct AnyConnection {
    engine: Engine,
    conn: Conn,
}

enum Conn {
    #[cfg(feature = "sqlite")]
    Sqlite(PooledConnection<crate::backends::sqlite::SqliteManager>),
    #[cfg(feature = "postgres")]
    Postgres(PooledConnection<crate::backends::postgres::PostgresManager>),
    #[cfg(feature = "mysql")]
    Mysql(PooledConnection<crate::backends::mysql::MySqlManager>),
    #[cfg(feature = "jdbc")]
    Jdbc(PooledConnection<crate::backends::jdbc::JdbcManager>),
}

impl fmt::Debug for AnyConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyConnection")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// The SQL rewritten for `placeholder`, and the values to bind, in order.
#[allow(dead_code)]
fn translate(translator: Translator, sql: &str, params: &Params) -> Result<(String, Vec<Value>), AnyError> {
    let translated = translator.translate(sql)?;
    let values = translated.values(params)?;
    Ok((translated.sql().to_owned(), values))
}

impl AnyConnection {
    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Runs a statement; the number of rows it changed. Parameters are positional (`?`, `%s`)
    /// or named (`%(name)s`, `:name`), whatever the engine's own style.
    pub fn execute(&mut self, sql: &str, params: impl Into<Params>) -> Result<u64, AnyError> {
        let params = params.into();
        match &mut self.conn {
            #[cfg(feature = "sqlite")]
            Conn::Sqlite(conn) => {
                let (sql, values) = translate(Translator::new(Placeholder::Question), sql, &params)?;
                sqlite::execute(conn, &sql, values)
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => {
                let (sql, values) = translate(Translator::new(Placeholder::Dollar), sql, &params)?;
                postgres::execute(conn, &sql, values)
            }
            #[cfg(feature = "mysql")]
            Conn::Mysql(conn) => {
                let translator = Translator::new(Placeholder::Question).backslash_escapes(true);
                let (sql, values) = translate(translator, sql, &params)?;
                mysql::execute(conn, &sql, values)
            }
            #[cfg(feature = "jdbc")]
            Conn::Jdbc(conn) => {
                // Checked here too, so a parameter mistake is AnyError::Params on every engine.
                translate(Translator::new(Placeholder::Question), sql, &params)?;
                conn.execute(sql, params).map_err(AnyError::database)
            }
        }
    }

    /// Runs a query; every row it returns.
    pub fn query(&mut self, sql: &str, params: impl Into<Params>) -> Result<Vec<Row>, AnyError> {
        let params = params.into();
        match &mut self.conn {
            #[cfg(feature = "sqlite")]
            Conn::Sqlite(conn) => {
                let (sql, values) = translate(Translator::new(Placeholder::Question), sql, &params)?;
                sqlite::query(conn, &sql, values)
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => {
                let (sql, values) = translate(Translator::new(Placeholder::Dollar), sql, &params)?;
                postgres::query(conn, &sql, values)
            }
            #[cfg(feature = "mysql")]
            Conn::Mysql(conn) => {
                let translator = Translator::new(Placeholder::Question).backslash_escapes(true);
                let (sql, values) = translate(translator, sql, &params)?;
                mysql::query(conn, &sql, values)
            }
            #[cfg(feature = "jdbc")]
            Conn::Jdbc(conn) => {
                // Checked here too, so a parameter mistake is AnyError::Params on every engine.
                translate(Translator::new(Placeholder::Question), sql, &params)?;
                conn.query(sql, params).map_err(AnyError::database)
            }
        }
    }

    /// The first row a query returns, if any.
    pub fn query_row(&mut self, sql: &str, params: impl Into<Params>) -> Result<Option<Row>, AnyError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first column of the first row, converted; an error when there is no row.
    pub fn query_scalar<T: FromValue>(
        &mut self,
        sql: &str,
        params: impl Into<Params>,
    ) -> Result<T, AnyError> {
        match self.query_row(sql, params)? {
            Some(row) => Ok(row.get(0)?),
            None => Err(AnyError::NoRows),
        }
    }

    /// Starts a transaction; it ends with [`commit`](Self::commit) or
    /// [`rollback`](Self::rollback), and one left open is rolled back when the connection goes
    /// back to the pool.
    pub fn begin(&mut self) -> Result<(), AnyError> {
        match &mut self.conn {
            #[cfg(feature = "jdbc")]
            Conn::Jdbc(conn) => conn.set_autocommit(false).map_err(AnyError::database),
            #[allow(unreachable_patterns)]
            _ => self.execute("BEGIN", ()).map(drop),
        }
    }

    /// Commits the transaction.
    pub fn commit(&mut self) -> Result<(), AnyError> {
        match &mut self.conn {
            #[cfg(feature = "jdbc")]
            Conn::Jdbc(conn) => {
                conn.commit().map_err(AnyError::database)?;
                conn.set_autocommit(true).map_err(AnyError::database)
            }
            #[allow(unreachable_patterns)]
            _ => self.execute("COMMIT", ()).map(drop),
        }
    }

    /// Rolls the transaction back.
    pub fn rollback(&mut self) -> Result<(), AnyError> {
        match &mut self.conn {
            #[cfg(feature = "jdbc")]
            Conn::Jdbc(conn) => {
                conn.rollback().map_err(AnyError::database)?;
                conn.set_autocommit(true).map_err(AnyError::database)
            }
            #[allow(unreachable_patterns)]
            _ => self.execute("ROLLBACK", ()).map(drop),
        }
    }
}
