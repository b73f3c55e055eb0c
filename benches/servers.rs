//! Real servers: `SELECT 1` per checkout against the local PostgreSQL and MariaDB, 16 threads,
//! a pool of 8. Each operation is a checkout, the `SELECT 1` round trip and the return (for
//! connect-per-request: connect, `SELECT 1`, close). The peers run side by side in this process,
//! alternated round by round, and pgbench runs in the same command for scale; the figures are
//! medians of the rounds, in operations per second, and the comparisons are ratios.
//!
//! ```text
//! cargo bench --features postgres,mysql --bench servers              # 5 rounds, 2 s each
//! cargo bench --features postgres,mysql --bench servers -- --quick   # a short smoke run
//! cargo bench --features postgres,mysql --bench servers -- --out DIR # default target/bench
//! ```
//!
//! The peers:
//!
//! - millpond with its defaults, except `pool_size` 8 and `max_overflow` 0 (the peers' cap of
//!   8): pre-ping on with its 500 ms bypass window, rollback on return only when a transaction
//!   is open;
//! - r2d2 (`r2d2_postgres`, `r2d2_mysql`) with its defaults (`test_on_check_out` true) and with
//!   the checkout test off, `max_size` 8;
//! - connect per request, Django's default: the driver opens a connection for each request and
//!   closes it after;
//! - one persistent connection per thread, no pool: the ceiling;
//! - pgbench (PostgreSQL only), 16 clients on 2 threads, a script of `SELECT 1;`, with
//!   persistent connections and with `-C` (a new connection per transaction); its "tps = …"
//!   figure is taken as it prints it.
//!
//! Everything speaks plain TCP to 127.0.0.1 (no TLS: `sslmode=disable` everywhere, pgbench
//! included; MySQL's `prefer_socket` off everywhere, as millpond's manager has it), and
//! PostgreSQL's `SELECT 1` goes through the simple query protocol, as pgbench's does.
//!
//! Writes `DIR/servers.tsv`: `load  peer  threads  pool  metric  value  unit`, one row per load
//! and peer, metric `ops_per_s`, unit `ops/s`, `-` where a column does not apply.

// A PgBouncer of the bench's own, started as the tests start theirs (its own directory, port
// and configuration; killed when dropped, or by a watcher if this process dies).
#[allow(dead_code)]
#[path = "../tests/common/pgbouncer.rs"]
mod pgbouncer;
#[allow(dead_code, unused_imports)]
#[path = "../tests/common/throwaway.rs"]
mod throwaway;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use millpond::mysql::{MySqlConnection, MySqlManager, Queryable};
use millpond::postgres::{PgConnection, PostgresManager};
use r2d2_mysql::MySqlConnectionManager;
use r2d2_mysql::mysql::{Conn, Opts, OptsBuilder};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::postgres::config::SslMode;
use r2d2_postgres::postgres::{Client, Config, NoTls, SimpleQueryMessage};

/// Threads (and pgbench clients) doing the work.
const THREADS: usize = 16;
/// Connections the pools may hold.
const POOL: usize = 8;

const HOST: &str = "127.0.0.1";
const PG_PORT: u16 = 5432;
const PG_USER: &str = "postgres";
const PG_DB: &str = "test";
const MY_PORT: u16 = 3306;
const MY_USER: &str = "root";
const MY_DB: &str = "test";

/// Connections the pools may hold in the parameterised loads (their goal is stated at 16).
const PARAM_POOL: usize = 16;
/// The table of the one-row load, and how many rows it has.
const ROWS_TABLE: &str = "millpond_bench_rows";
const ROWS: i32 = 1000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Load {
    Postgres,
    MariaDb,
    /// `SELECT $1::int` with `query_one`.
    PgParam,
    /// A one-row `SELECT … WHERE id = $1` on a real table.
    PgRow,
    /// `SELECT $1::int` through a PgBouncer of the bench's own, in transaction mode.
    PgBouncer,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Postgres => "postgres",
            Load::MariaDb => "mariadb",
            Load::PgParam => "postgres, SELECT $1::int",
            Load::PgRow => "postgres, one row by id",
            Load::PgBouncer => "pgbouncer, SELECT $1::int",
        }
    }

    /// What one operation is, for the tables.
    fn operation(self) -> &'static str {
        match self {
            Load::Postgres | Load::MariaDb => "`SELECT 1`",
            Load::PgParam => "`SELECT $1::int` with `query_one`",
            Load::PgRow => "`SELECT id, name, n FROM millpond_bench_rows WHERE id = $1` (1,000 rows)",
            Load::PgBouncer => "`SELECT $1::int` through PgBouncer (transaction mode)",
        }
    }

    /// The pools' size in this load.
    fn pool(self) -> usize {
        match self {
            Load::Postgres | Load::MariaDb => POOL,
            Load::PgParam | Load::PgRow | Load::PgBouncer => PARAM_POOL,
        }
    }

    fn peers(self) -> &'static [Peer] {
        match self {
            Load::Postgres => &[
                Peer::Millpond,
                Peer::R2d2Default,
                Peer::R2d2NoTest,
                Peer::ConnectPerRequest,
                Peer::Persistent,
                Peer::Pgbench,
                Peer::PgbenchConnect,
            ],
            Load::MariaDb => &[
                Peer::Millpond,
                Peer::R2d2Default,
                Peer::R2d2NoTest,
                Peer::ConnectPerRequest,
                Peer::Persistent,
            ],
            Load::PgParam | Load::PgRow => &[
                Peer::Millpond,
                Peer::MillpondCacheOff,
                Peer::R2d2NoTest,
                Peer::RawText,
                Peer::RawPrepared,
            ],
            Load::PgBouncer => &[Peer::Millpond, Peer::MillpondSimple, Peer::RawSimple],
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    Millpond,
    R2d2Default,
    R2d2NoTest,
    ConnectPerRequest,
    Persistent,
    Pgbench,
    PgbenchConnect,
    /// millpond with the statement cache off: the driver prepares every query.
    MillpondCacheOff,
    /// A persistent client per thread, `query_one` with SQL text (a prepare and an execute).
    RawText,
    /// A persistent client per thread, the statement prepared once by hand: the ceiling.
    RawPrepared,
    /// millpond through PgBouncer, the value in the SQL text, the simple protocol.
    MillpondSimple,
    /// A persistent client per thread through PgBouncer, the simple protocol.
    RawSimple,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::MillpondCacheOff => "millpond, statement cache off",
            Peer::RawText => "persistent client, query_one(&str)",
            Peer::RawPrepared => "persistent client, prepared once",
            Peer::MillpondSimple => "millpond, simple protocol",
            Peer::RawSimple => "persistent client, simple protocol",
            Peer::R2d2Default => "r2d2 (defaults)",
            Peer::R2d2NoTest => "r2d2 (no checkout test)",
            Peer::ConnectPerRequest => "connect per request",
            Peer::Persistent => "persistent per thread",
            Peer::Pgbench => "pgbench",
            Peer::PgbenchConnect => "pgbench -C",
        }
    }

    /// The pool size column: only the pools have one.
    fn pool(self, load: Load) -> String {
        match self {
            Peer::Millpond
            | Peer::MillpondCacheOff
            | Peer::MillpondSimple
            | Peer::R2d2Default
            | Peer::R2d2NoTest => load.pool().to_string(),
            _ => "-".to_owned(),
        }
    }

    /// Connecting for every operation is slow: these rounds can be shorter.
    fn connects_per_op(self) -> bool {
        matches!(self, Peer::ConnectPerRequest | Peer::PgbenchConnect)
    }
}

struct Settings {
    rounds: usize,
    /// A measured round.
    duration: Duration,
    /// A measured round of the peers that connect per operation.
    short_duration: Duration,
    /// Run before each measured round, after the pool is built: connections opened, caches warm.
    warmup: Duration,
    /// Pause after each peer, so that sessions it closed are gone before the next one starts.
    settle: Duration,
}

impl Settings {
    fn duration(&self, peer: Peer) -> Duration {
        if peer.connects_per_op() {
            self.short_duration
        } else {
            self.duration
        }
    }
}

/// Everything the peers connect with.
struct Targets {
    pg: Config,
    my: Opts,
    pgbench: PathBuf,
    /// The pgbench script: `SELECT 1;`.
    script: PathBuf,
    /// The bench's own PgBouncer in front of `pg`, once started.
    pgbouncer: Option<Config>,
}

/// One measured run.
struct Sample {
    ops_per_s: f64,
    /// millpond only: its counters over the measured window, and pings over the whole run.
    stats: Option<PoolCounts>,
}

#[derive(Clone, Copy)]
struct PoolCounts {
    checkouts: u64,
    waits: u64,
    pings: u64,
    resets: u64,
    connects: u64,
    pings_whole_run: u64,
    resets_whole_run: u64,
}

impl PoolCounts {
    fn between(before: &millpond::observe::Stats, after: &millpond::observe::Stats) -> Self {
        PoolCounts {
            checkouts: after.checkouts - before.checkouts,
            waits: after.waits - before.waits,
            pings: after.pings - before.pings,
            resets: after.resets - before.resets,
            connects: after.connects - before.connects,
            pings_whole_run: after.pings,
            resets_whole_run: after.resets,
        }
    }
}

type Outcome<T> = Result<T, String>;

/// A per-thread operation counter on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Counter(AtomicU64);

/// Runs `THREADS` threads, each made ready with `make` (before the start line) and then looping
/// `op`, for `warmup` and then `duration`. Returns operations per second over the measured
/// window, with what `probe` saw at its start and at its end. The window is cut out of the
/// running load (every thread is busy at both ends), so it has no start-up or wind-down edge.
fn run<S, P>(
    warmup: Duration,
    duration: Duration,
    make: impl Fn() -> Outcome<S> + Sync,
    op: impl Fn(&mut S) -> Outcome<()> + Sync,
    probe: impl Fn() -> P,
) -> Outcome<(f64, P, P)> {
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let record_failure = |err: String| {
        stop.store(true, Ordering::Relaxed);
        failure.lock().unwrap().get_or_insert(err);
    };
    let counters: Vec<Counter> = (0..THREADS).map(|_| Counter::default()).collect();
    let start_line = Barrier::new(THREADS + 1);
    let count = || -> u64 { counters.iter().map(|c| c.0.load(Ordering::Relaxed)).sum() };
    let measured = std::thread::scope(|scope| {
        for counter in &counters {
            let (make, op, record_failure, stop, start_line) =
                (&make, &op, &record_failure, &stop, &start_line);
            scope.spawn(move || {
                let state = make();
                start_line.wait();
                let mut state = match state {
                    Ok(state) => state,
                    Err(err) => return record_failure(err),
                };
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Err(err) = op(&mut state) {
                        return record_failure(err);
                    }
                    n += 1;
                    counter.0.store(n, Ordering::Relaxed);
                }
            });
        }
        start_line.wait();
        std::thread::sleep(warmup);
        let (c0, t0, p0) = (count(), Instant::now(), probe());
        std::thread::sleep(duration);
        let (c1, t1, p1) = (count(), Instant::now(), probe());
        stop.store(true, Ordering::Relaxed);
        ((c1 - c0) as f64 / (t1 - t0).as_secs_f64(), p0, p1)
    });
    match failure.into_inner().unwrap() {
        Some(err) => Err(err),
        None => Ok(measured),
    }
}

fn pg_select_1(messages: Outcome<Vec<SimpleQueryMessage>>) -> Outcome<()> {
    let messages = messages?;
    let first = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row.get(0)),
        _ => None,
    });
    match first {
        Some(Some("1")) => Ok(()),
        other => Err(format!("PostgreSQL: SELECT 1 returned {other:?}")),
    }
}

/// `SELECT 1` on any MariaDB connection: the driver's own or millpond's pooled one.
fn my_select_1(conn: &mut impl Queryable) -> Outcome<()> {
    match conn.query_first::<i64, _>("SELECT 1").map_err(my_err)? {
        Some(1) => Ok(()),
        other => Err(format!("MariaDB: SELECT 1 returned {other:?}")),
    }
}

fn pg_err(e: impl std::fmt::Display) -> String {
    format!("PostgreSQL: {e}")
}

fn my_err(e: impl std::fmt::Display) -> String {
    format!("MariaDB: {e}")
}

/// One server as the in-process peers see it: the managers of the two pools, the driver's own
/// connection (r2d2's, the connect-per-request and the persistent peers'), and `SELECT 1` on
/// each kind of connection. [`measure_on`] runs the same peers on either server through it.
trait Server: Sync {
    /// millpond's manager for this server.
    type Millpond: millpond::ManageConnection;
    /// r2d2's manager, whose connections are the driver's own.
    type R2d2: r2d2::ManageConnection<Connection = Self::Conn>;
    /// The driver's connection.
    type Conn: Send;

    /// An error, prefixed with the server's name.
    fn err(e: impl std::fmt::Display) -> String;
    fn millpond_manager(&self) -> Self::Millpond;
    fn r2d2_manager(&self) -> Self::R2d2;
    fn connect(&self) -> Outcome<Self::Conn>;
    /// Ends a connection the way a connect-per-request client does.
    fn close(conn: Self::Conn) -> Outcome<()>;
    fn select_1(conn: &mut Self::Conn) -> Outcome<()>;
    fn pooled_select_1(conn: &mut <Self::Millpond as millpond::ManageConnection>::Connection) -> Outcome<()>;
}

struct Pg<'a>(&'a Config);

impl Server for Pg<'_> {
    type Millpond = PostgresManager;
    type R2d2 = PostgresConnectionManager<NoTls>;
    type Conn = Client;

    fn err(e: impl std::fmt::Display) -> String {
        pg_err(e)
    }
    fn millpond_manager(&self) -> PostgresManager {
        PostgresManager::new(self.0.clone())
    }
    fn r2d2_manager(&self) -> Self::R2d2 {
        PostgresConnectionManager::new(self.0.clone(), NoTls)
    }
    fn connect(&self) -> Outcome<Client> {
        self.0.connect(NoTls).map_err(pg_err)
    }
    fn close(client: Client) -> Outcome<()> {
        client.close().map_err(pg_err)
    }
    fn select_1(client: &mut Client) -> Outcome<()> {
        pg_select_1(client.simple_query("SELECT 1").map_err(pg_err))
    }
    fn pooled_select_1(conn: &mut PgConnection) -> Outcome<()> {
        pg_select_1(conn.simple_query("SELECT 1").map_err(pg_err))
    }
}

struct My<'a>(&'a Opts);

impl Server for My<'_> {
    type Millpond = MySqlManager;
    type R2d2 = MySqlConnectionManager;
    type Conn = Conn;

    fn err(e: impl std::fmt::Display) -> String {
        my_err(e)
    }
    fn millpond_manager(&self) -> MySqlManager {
        MySqlManager::new(self.0.clone())
    }
    fn r2d2_manager(&self) -> MySqlConnectionManager {
        MySqlConnectionManager::new(OptsBuilder::from_opts(self.0.clone()))
    }
    fn connect(&self) -> Outcome<Conn> {
        Conn::new(self.0.clone()).map_err(my_err)
    }
    fn close(conn: Conn) -> Outcome<()> {
        // Dropping a `Conn` says goodbye (COM_QUIT) and closes the socket.
        drop(conn);
        Ok(())
    }
    fn select_1(conn: &mut Conn) -> Outcome<()> {
        my_select_1(conn)
    }
    fn pooled_select_1(conn: &mut MySqlConnection) -> Outcome<()> {
        my_select_1(conn)
    }
}

fn measure(load: Load, peer: Peer, settings: &Settings, targets: &Targets) -> Outcome<Sample> {
    match load {
        Load::Postgres => measure_on(&Pg(&targets.pg), peer, settings, targets),
        Load::MariaDb => measure_on(&My(&targets.my), peer, settings, targets),
        Load::PgParam | Load::PgRow | Load::PgBouncer => measure_params(load, peer, settings, targets),
    }
}

/// The query of a parameterised load and the check of its answer: operation `i` asks for
/// `SELECT $1::int` of `i`, or the row whose id is `i % 1000 + 1`.
struct Param {
    sql: &'static str,
    /// The SQL text with the value in it, for the simple protocol.
    literal: fn(i32) -> String,
    arg: fn(i32) -> i32,
}

impl Param {
    fn of(load: Load) -> Param {
        match load {
            Load::PgRow => Param {
                sql: "SELECT id, name, n FROM millpond_bench_rows WHERE id = $1",
                literal: |i| {
                    format!(
                        "SELECT id, name, n FROM millpond_bench_rows WHERE id = {}",
                        i % ROWS + 1
                    )
                },
                arg: |i| i % ROWS + 1,
            },
            _ => Param {
                sql: "SELECT $1::int",
                literal: |i| format!("SELECT {i}::int"),
                arg: |i| i,
            },
        }
    }

    /// The first column of the answer must be the argument: a wrong result is an error.
    fn check(&self, got: i32, i: i32) -> Outcome<()> {
        let want = (self.arg)(i);
        if got == want {
            Ok(())
        } else {
            Err(format!("PostgreSQL: a wrong result: {got} for {want}"))
        }
    }

    fn check_simple(&self, messages: Vec<SimpleQueryMessage>, i: i32) -> Outcome<()> {
        let got = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse::<i32>().ok()),
            _ => None,
        });
        self.check(got.unwrap_or(i32::MIN), i)
    }
}

/// The parameterised loads: each thread counts its operations and sends the count.
fn measure_params(load: Load, peer: Peer, settings: &Settings, targets: &Targets) -> Outcome<Sample> {
    let param = Param::of(load);
    let param = &param;
    let (duration, warmup) = (settings.duration, settings.warmup);
    let config = match load {
        Load::PgBouncer => targets
            .pgbouncer
            .clone()
            .ok_or_else(|| "the PgBouncer load runs without a PgBouncer".to_owned())?,
        _ => targets.pg.clone(),
    };
    let plain = |(ops_per_s, (), ()): (f64, (), ())| Sample {
        ops_per_s,
        stats: None,
    };
    let sample = match peer {
        Peer::Millpond | Peer::MillpondCacheOff | Peer::MillpondSimple => {
            let manager = PostgresManager::new(config)
                .statement_cache_capacity(if peer == Peer::MillpondCacheOff { 0 } else { 100 })
                .pgbouncer(load == Load::PgBouncer);
            let pool = millpond::Pool::builder()
                .pool_size(load.pool())
                .max_overflow(0)
                .build(manager)
                .map_err(pg_err)?;
            let (ops_per_s, before, after) = run(
                warmup,
                duration,
                || Ok(0i32),
                |i| {
                    *i = i.wrapping_add(1);
                    let mut conn = pool.get().map_err(pg_err)?;
                    if peer == Peer::MillpondSimple {
                        param.check_simple(conn.simple_query(&(param.literal)(*i)).map_err(pg_err)?, *i)
                    } else {
                        let row = conn.query_one(param.sql, &[&(param.arg)(*i)]).map_err(pg_err)?;
                        param.check(row.get(0), *i)
                    }
                },
                || pool.stats(),
            )?;
            Sample {
                ops_per_s,
                stats: Some(PoolCounts::between(&before, &after)),
            }
        }
        Peer::R2d2NoTest => {
            let pool = r2d2::Pool::builder()
                .max_size(load.pool() as u32)
                .test_on_check_out(false)
                .build(PostgresConnectionManager::new(config, NoTls))
                .map_err(pg_err)?;
            plain(run(
                warmup,
                duration,
                || Ok(0i32),
                |i| {
                    *i = i.wrapping_add(1);
                    let mut conn = pool.get().map_err(pg_err)?;
                    let row = conn.query_one(param.sql, &[&(param.arg)(*i)]).map_err(pg_err)?;
                    param.check(row.get(0), *i)
                },
                || (),
            )?)
        }
        Peer::RawText | Peer::RawSimple => plain(run(
            warmup,
            duration,
            || Ok((config.connect(NoTls).map_err(pg_err)?, 0i32)),
            |(client, i)| {
                *i = i.wrapping_add(1);
                if peer == Peer::RawSimple {
                    param.check_simple(client.simple_query(&(param.literal)(*i)).map_err(pg_err)?, *i)
                } else {
                    let row = client.query_one(param.sql, &[&(param.arg)(*i)]).map_err(pg_err)?;
                    param.check(row.get(0), *i)
                }
            },
            || (),
        )?),
        Peer::RawPrepared => plain(run(
            warmup,
            duration,
            || {
                let mut client = config.connect(NoTls).map_err(pg_err)?;
                let statement = client.prepare(param.sql).map_err(pg_err)?;
                Ok((client, statement, 0i32))
            },
            |(client, statement, i)| {
                *i = i.wrapping_add(1);
                let row = client
                    .query_one(&*statement, &[&(param.arg)(*i)])
                    .map_err(pg_err)?;
                param.check(row.get(0), *i)
            },
            || (),
        )?),
        other => return Err(format!("{other:?} does not run the {} load", load.name())),
    };
    Ok(sample)
}

/// Makes the one-row load's table (`ROWS` rows, a primary key) afresh.
fn create_rows_table(pg: &Config) -> Outcome<()> {
    let mut client = pg.connect(NoTls).map_err(pg_err)?;
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {ROWS_TABLE}; \
             CREATE TABLE {ROWS_TABLE} (id int PRIMARY KEY, name text NOT NULL, n int NOT NULL); \
             INSERT INTO {ROWS_TABLE} SELECT g, 'row ' || g, g * 7 FROM generate_series(1, {ROWS}) g; \
             ANALYZE {ROWS_TABLE}"
        ))
        .map_err(pg_err)
}

fn drop_rows_table(pg: &Config) {
    if let Ok(mut client) = pg.connect(NoTls) {
        let _ = client.batch_execute(&format!("DROP TABLE IF EXISTS {ROWS_TABLE}"));
    }
}

fn measure_on<S: Server>(server: &S, peer: Peer, settings: &Settings, targets: &Targets) -> Outcome<Sample> {
    let duration = settings.duration(peer);
    let warmup = settings.warmup;
    let plain = |ops_per_s: f64| Sample {
        ops_per_s,
        stats: None,
    };
    let timed = |(ops_per_s, (), ()): (f64, (), ())| plain(ops_per_s);
    let sample = match peer {
        Peer::Pgbench => plain(pgbench(targets, duration, false)?),
        Peer::PgbenchConnect => plain(pgbench(targets, duration, true)?),
        Peer::Millpond => {
            let pool = millpond_builder()
                .build(server.millpond_manager())
                .map_err(S::err)?;
            let (ops_per_s, before, after) = run(
                warmup,
                duration,
                || Ok(()),
                |_| {
                    let mut conn = pool.get().map_err(S::err)?;
                    S::pooled_select_1(&mut conn)
                },
                || pool.stats(),
            )?;
            Sample {
                ops_per_s,
                stats: Some(PoolCounts::between(&before, &after)),
            }
        }
        Peer::R2d2Default | Peer::R2d2NoTest => {
            let pool = r2d2_builder(peer).build(server.r2d2_manager()).map_err(S::err)?;
            timed(run(
                warmup,
                duration,
                || Ok(()),
                |_| {
                    let mut conn = pool.get().map_err(S::err)?;
                    S::select_1(&mut conn)
                },
                || (),
            )?)
        }
        Peer::ConnectPerRequest => timed(run(
            warmup,
            duration,
            || Ok(()),
            |_| {
                let mut conn = server.connect()?;
                S::select_1(&mut conn)?;
                S::close(conn)
            },
            || (),
        )?),
        Peer::Persistent => timed(run(warmup, duration, || server.connect(), S::select_1, || ())?),
        other => return Err(format!("{other:?} does not run the `SELECT 1` loads")),
    };
    Ok(sample)
}

/// r2d2's defaults (`test_on_check_out` true, `min_idle` = `max_size`) at 8 connections, with
/// the checkout test off for the "no checkout test" peer.
fn r2d2_builder<M: r2d2::ManageConnection>(peer: Peer) -> r2d2::Builder<M> {
    r2d2::Pool::builder()
        .max_size(POOL as u32)
        .test_on_check_out(peer == Peer::R2d2Default)
}

/// millpond's defaults, capped at the peers' 8 connections.
fn millpond_builder<M: millpond::ManageConnection>() -> millpond::Builder<M> {
    millpond::Pool::builder().pool_size(POOL).max_overflow(0)
}

/// Runs pgbench for `duration` (whole seconds, at least one) and returns its tps.
fn pgbench(targets: &Targets, duration: Duration, reconnect: bool) -> Outcome<f64> {
    let secs = duration.as_secs().max(1).to_string();
    let clients = THREADS.to_string();
    let port = PG_PORT.to_string();
    let mut command = Command::new(&targets.pgbench);
    command
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "5")
        .arg("-n")
        .arg("-f")
        .arg(&targets.script)
        .args(["-c", &clients, "-j", "2", "-T", &secs])
        .args(["-h", HOST, "-p", &port, "-U", PG_USER]);
    if reconnect {
        command.arg("-C");
    }
    command.arg(PG_DB);
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", targets.pgbench.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    // "tps = 70827.583319 (without initial connection time)", or with -C
    // "tps = 367.274732 (including reconnection times)".
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .ok_or_else(|| format!("no \"tps = …\" line in pgbench's output:\n{stdout}"))
}

fn median(samples: &[f64]) -> f64 {
    let mut xs = samples.to_vec();
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn min_max(samples: &[f64]) -> (f64, f64) {
    samples
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn rate(ops: f64) -> String {
    if ops >= 1e4 {
        format!("{:.1} k/s", ops / 1e3)
    } else if ops >= 1e3 {
        format!("{:.2} k/s", ops / 1e3)
    } else {
        format!("{ops:.0} /s")
    }
}

/// The results of one load: per peer, one sample per round.
struct Results {
    load: Load,
    samples: Vec<Vec<f64>>,
    millpond: Vec<(f64, PoolCounts)>,
}

impl Results {
    fn median(&self, peer: Peer) -> Option<f64> {
        let i = self.load.peers().iter().position(|&p| p == peer)?;
        Some(median(&self.samples[i]))
    }
}

fn bench_load(load: Load, settings: &Settings, targets: &Targets) -> Outcome<Results> {
    let peers = load.peers();
    let mut results = Results {
        load,
        samples: vec![Vec::new(); peers.len()],
        millpond: Vec::new(),
    };
    for round in 0..settings.rounds {
        let mut line = format!("{} round {}/{}:", load.name(), round + 1, settings.rounds);
        // Alternate the order each round so no peer always runs on a warmer (or busier) machine.
        for k in 0..peers.len() {
            let i = (k + round) % peers.len();
            let sample = measure(load, peers[i], settings, targets)?;
            std::thread::sleep(settings.settle);
            write!(line, " {} {:.0}", peers[i].name(), sample.ops_per_s).unwrap();
            if let Some(stats) = sample.stats.filter(|_| peers[i] == Peer::Millpond) {
                write!(line, " (pings {}, resets {})", stats.pings, stats.resets).unwrap();
                results.millpond.push((sample.ops_per_s, stats));
            }
            line.push(';');
            results.samples[i].push(sample.ops_per_s);
        }
        eprintln!("{}", line.trim_end_matches(';'));
    }
    Ok(results)
}

fn print_load(results: &Results, settings: &Settings, version: &str) {
    let load = results.load;
    let peers = load.peers();
    let millpond = results.median(Peer::Millpond).unwrap_or(f64::NAN);
    println!(
        "### {} — {version}\n\n{} per operation, {THREADS} threads, pool {}; medians of {} rounds.\n",
        load.name(),
        load.operation(),
        load.pool(),
        settings.rounds
    );
    println!("| peer | ops/s | rounds (min – max) | millpond / peer |");
    println!("|---|---:|---:|---:|");
    for (i, &peer) in peers.iter().enumerate() {
        let m = median(&results.samples[i]);
        let (lo, hi) = min_max(&results.samples[i]);
        println!(
            "| {} | {} | {} – {} | {:.2}× |",
            peer.name(),
            rate(m),
            rate(lo),
            rate(hi),
            millpond / m
        );
    }
    println!(
        "\nmillpond's pool in each measured window (pings and resets are round trips it added; \
         \"whole run\" includes the warm-up, where the connections were opened):\n"
    );
    println!("| run | ops/s | checkouts | waits | connects | pings | resets | pings, resets (whole run) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (k, (ops, s)) in results.millpond.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {}, {} |",
            k + 1,
            rate(*ops),
            s.checkouts,
            s.waits,
            s.connects,
            s.pings,
            s.resets,
            s.pings_whole_run,
            s.resets_whole_run
        );
    }
    if load == Load::MariaDb {
        println!(
            "\nr2d2_mysql's `has_broken` pings, so r2d2 sends a `COM_PING` on every return even with \
             the checkout test off (and two per operation with it on)."
        );
    }
    println!();
}

fn print_goals(all: &[Results]) {
    println!("### Goals\n");
    println!("| load | goal | target | measured | |");
    println!("|---|---|---:|---:|---|");
    for results in all {
        let Some(millpond) = results.median(Peer::Millpond) else {
            continue;
        };
        let goals = [
            (Peer::R2d2Default, "millpond / r2d2 (defaults)", 1.9),
            (Peer::ConnectPerRequest, "millpond / connect per request", 20.0),
            (Peer::Persistent, "millpond / persistent per thread", 0.97),
            (Peer::Pgbench, "millpond / pgbench", 0.90),
            (Peer::RawText, "millpond / persistent query_one(&str)", 2.0),
            (Peer::RawPrepared, "millpond / persistent, prepared once", 0.90),
            (
                Peer::MillpondSimple,
                "millpond (pgbouncer=true) / simple protocol",
                0.90,
            ),
        ];
        for (peer, goal, target) in goals {
            let Some(other) = results.median(peer) else {
                continue;
            };
            let ratio = millpond / other;
            println!(
                "| {} | {goal} | ≥ {target:.2}× | {ratio:.2}× | {} |",
                results.load.name(),
                if ratio >= target { "met" } else { "not met" }
            );
        }
    }
    println!();
}

fn write_tsv(path: &Path, all: &[Results]) -> std::io::Result<()> {
    let mut tsv = String::from("load\tpeer\tthreads\tpool\tmetric\tvalue\tunit\n");
    for results in all {
        for (i, &peer) in results.load.peers().iter().enumerate() {
            writeln!(
                tsv,
                "{}\t{}\t{THREADS}\t{}\tops_per_s\t{:.1}\tops/s",
                results.load.name(),
                peer.name(),
                peer.pool(results.load),
                median(&results.samples[i])
            )
            .unwrap();
        }
    }
    std::fs::write(path, tsv)
}

/// Checks that both servers answer and pgbench runs; returns the servers' versions.
fn check(targets: &Targets) -> Outcome<(String, String)> {
    let mut pg = targets.pg.clone();
    pg.connect_timeout(Duration::from_secs(3));
    let pg_version = pg
        .connect(NoTls)
        .and_then(|mut c| c.query_one("SELECT version()", &[]))
        .map(|row| row.get::<_, String>(0))
        .map_err(|e| {
            format!(
                "PostgreSQL is not reachable at {HOST}:{PG_PORT} (user {PG_USER}, database {PG_DB}): {e}\n\
                 Start the local servers (scripts/test starts them when they are down) and run again."
            )
        })?;
    let my = OptsBuilder::from_opts(targets.my.clone()).tcp_connect_timeout(Some(Duration::from_secs(3)));
    let my_version = Conn::new(my)
        .and_then(|mut c| c.query_first::<String, _>("SELECT VERSION()"))
        .map(|v| v.unwrap_or_default())
        .map_err(|e| {
            format!(
                "MariaDB is not reachable at {HOST}:{MY_PORT} (user {MY_USER}, database {MY_DB}): {e}\n\
                 Start the local servers (scripts/test starts them when they are down) and run again."
            )
        })?;
    let pgbench = Command::new(&targets.pgbench)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run pgbench ({}): {e}", targets.pgbench.display()))?;
    if !pgbench.status.success() {
        return Err(format!("{} --version failed", targets.pgbench.display()));
    }
    let pg_version = pg_version.split(" on ").next().unwrap_or(&pg_version).to_owned();
    Ok((pg_version, format!("MariaDB {my_version}")))
}

/// "PgBouncer 1.18.0, in front of PostgreSQL …", from its admin console.
fn pgbouncer_version(bouncer: &pgbouncer::PgBouncer) -> String {
    let version = bouncer
        .admin("SHOW VERSION")
        .first()
        .and_then(|row| row.get(0).map(str::to_owned))
        .unwrap_or_else(|| "PgBouncer".to_owned());
    format!("{version}, transaction mode, default_pool_size 8")
}

fn find_pgbench() -> PathBuf {
    if let Some(path) = std::env::var_os("PGBENCH") {
        return path.into();
    }
    let usual = Path::new("/usr/bin/pgbench");
    if usual.exists() {
        usual.to_owned()
    } else {
        PathBuf::from("pgbench")
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("servers bench: {problem}\nusage: servers [--quick] [--out DIR] [--only LOAD]");
    std::process::exit(2);
}

fn fail(problem: &str) -> ! {
    eprintln!("servers bench: {problem}");
    std::process::exit(1);
}

fn main() {
    let mut quick = false;
    let mut only: Option<String> = None;
    let mut out = PathBuf::from("target/bench");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--out" => match args.next() {
                Some(dir) => out = dir.into(),
                None => usage("--out needs a directory"),
            },
            "--only" => match args.next() {
                Some(load) => only = Some(load),
                None => usage("--only needs (part of) a load's name"),
            },
            // `cargo bench` passes this to every bench program.
            "--bench" => {}
            _ => match arg.strip_prefix("--out=") {
                Some(dir) => out = dir.into(),
                None => usage(&format!("unknown argument {arg:?}")),
            },
        }
    }
    let settings = if quick {
        Settings {
            rounds: 3,
            duration: Duration::from_millis(500),
            short_duration: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            settle: Duration::from_millis(50),
        }
    } else {
        Settings {
            rounds: 5,
            duration: Duration::from_secs(2),
            short_duration: Duration::from_secs(1),
            warmup: Duration::from_millis(300),
            settle: Duration::from_millis(100),
        }
    };

    let mut pg = Config::new();
    pg.host(HOST)
        .port(PG_PORT)
        .user(PG_USER)
        .dbname(PG_DB)
        .ssl_mode(SslMode::Disable);
    let my: Opts = OptsBuilder::new()
        .ip_or_hostname(Some(HOST))
        .tcp_port(MY_PORT)
        .user(Some(MY_USER))
        .db_name(Some(MY_DB))
        // The driver's default reconnects through the Unix socket after a first TCP connection;
        // millpond's manager turns that off, and so does every peer here.
        .prefer_socket(false)
        .into();
    let script = std::env::temp_dir().join(format!("millpond-servers-{}.sql", std::process::id()));
    let targets = Targets {
        pg,
        my,
        pgbench: find_pgbench(),
        script,
        pgbouncer: None,
    };
    let (pg_version, my_version) = check(&targets).unwrap_or_else(|e| fail(&e));
    std::fs::write(&targets.script, "SELECT 1;\n")
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", targets.script.display())));

    let started = Instant::now();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "## Real servers: `SELECT 1` per checkout{}\n",
        if quick { " (quick run)" } else { "" }
    );
    println!(
        "{} cores; load average at start {}; rounds of {:?} ({:?} for connect-per-request and pgbench -C; pgbench in whole seconds), {:?} warm-up.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        settings.duration,
        settings.short_duration,
        settings.warmup
    );
    create_rows_table(&targets.pg).unwrap_or_else(|e| fail(&e));
    let wanted = |load: Load| {
        only.as_ref()
            .is_none_or(|only| load.name().contains(only.as_str()))
    };
    // PgBouncer's pool: 8 server connections for the 16 threads' pools of 16 (its own default
    // is 20; fewer than the threads, as in front of a server sized for many workers).
    let bouncer = wanted(Load::PgBouncer).then(|| {
        pgbouncer::PgBouncer::start_with(pgbouncer::PgBouncerConfig {
            default_pool_size: 8,
            ..pgbouncer::PgBouncerConfig::default()
        })
    });
    let bouncer_version = bouncer.as_ref().map(pgbouncer_version).unwrap_or_default();
    let mut targets = targets;
    targets.pgbouncer = bouncer.as_ref().map(|b| {
        let mut config = Config::new();
        config
            .host(HOST)
            .port(b.port())
            .user(PG_USER)
            .dbname(PG_DB)
            .ssl_mode(SslMode::Disable);
        config
    });
    let outcome = [
        (Load::Postgres, &pg_version),
        (Load::MariaDb, &my_version),
        (Load::PgParam, &pg_version),
        (Load::PgRow, &pg_version),
        (Load::PgBouncer, &bouncer_version),
    ]
    .into_iter()
    .filter(|(load, _)| wanted(*load))
    .map(|(load, version)| {
        let results = bench_load(load, &settings, &targets)?;
        print_load(&results, &settings, version);
        Ok(results)
    })
    .collect::<Outcome<Vec<Results>>>();
    drop_rows_table(&targets.pg);
    drop(bouncer);
    let _ = std::fs::remove_file(&targets.script);
    let all = outcome.unwrap_or_else(|e| fail(&e));
    print_goals(&all);

    std::fs::create_dir_all(&out).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", out.display())));
    let tsv = out.join("servers.tsv");
    write_tsv(&tsv, &all).unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", tsv.display())));
    println!(
        "Written {} in {:.0} s.",
        tsv.display(),
        started.elapsed().as_secs_f64()
    );
}
