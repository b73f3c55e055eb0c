//! PostgreSQL through PgBouncer in transaction mode, each test with a PgBouncer of its own
//! (`common::pgbouncer`) in front of the shared server (127.0.0.1:5432, user `postgres`,
//! database `test`): every query method, sessions and the dynamic layer give the right answers;
//! forked workers with threads get their own answers and leave no prepared statement on any
//! server connection; a `PAUSE` makes checkouts time out within their deadline without
//! invalidating the pool, and service comes back at `RESUME`; PgBouncer's `query_wait_timeout`
//! is no lost server; what PgBouncer refuses at login is refused when the pool is built. The
//! tests fail, rather than skip, when PgBouncer or the server is not there.
//!
//! In transaction mode every transaction, and every statement outside one, may run on another
//! server connection, shared with other clients: a named prepared statement left behind is met
//! by the next client to use that name there.
#![cfg(feature = "postgres")]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::pg::monitor;
use common::pgbouncer::{PgBouncer, PgBouncerConfig};
use common::{eventually, fork_child, fork_lock, together, wait_child};
use millpond::any::AnyPool;
use millpond::observe::{Event, HandleEvent, InvalidateReason};
use millpond::postgres::{PgConnection, PostgresManager, RowIter, SimpleQueryMessage, Type};
use millpond::settings::DatabaseSettings;
use millpond::sql::Params;
use millpond::{Builder, Error, Pool, Session};
use postgres::fallible_iterator::FallibleIterator;

/// What makes a manager safe behind PgBouncer in transaction mode.
const PGBOUNCER_MODE: &str = "&pgbouncer=true";

/// A tag unique to this test and process, for `application_name` and table names.
fn tag(test: &str) -> String {
    format!("mp_pgb_{test}_{}", std::process::id())
}

/// A manager for the database `test` through `pgbouncer`, in PgBouncer mode.
fn manager(pgbouncer: &PgBouncer, tag: &str) -> PostgresManager {
    PostgresManager::from_url(&format!(
        "{}{PGBOUNCER_MODE}&application_name={tag}",
        pgbouncer.url()
    ))
    .unwrap()
}

/// A pool of `manager(pgbouncer, tag)` with the settings `configure` adds.
fn pool(
    pgbouncer: &PgBouncer,
    tag: &str,
    configure: impl FnOnce(Builder<PostgresManager>) -> Builder<PostgresManager>,
) -> Pool<PostgresManager> {
    configure(Pool::builder()).build(manager(pgbouncer, tag)).unwrap()
}

/// The rows of a simple query, as text.
fn simple_rows(client: &mut postgres::Client, sql: &str) -> Vec<Vec<String>> {
    simple_text(
        client
            .simple_query(sql)
            .unwrap_or_else(|err| panic!("{sql}: {err}")),
    )
}

/// Asks every server connection `pgbouncer` has to `test` how many prepared statements it holds,
/// and requires 0 of each.
///
/// `pg_prepared_statements` shows only the asking session's own statements, so the question
/// must reach every server connection. In transaction mode a client inside a transaction has a
/// server connection to itself, and PgBouncer opens at most `default_pool_size` of them (no
/// reserve pool): `default_pool_size` clients holding a transaction open at once are therefore,
/// between them, on every server connection there is. Each also reports its server process, so
/// that every server connection `SHOW SERVERS` listed before is seen to have been asked (none was
/// closed meanwhile, taking its statements out of sight, and replaced by a fresh one). The
/// question goes by the simple protocol, which prepares nothing itself.
fn assert_no_prepared_statements(pgbouncer: &PgBouncer) {
    let before = pgbouncer.server_pids();
    assert!(!before.is_empty(), "PgBouncer has no server connection to check");
    let size = pgbouncer.config().default_pool_size as usize;
    let mut clients: Vec<postgres::Client> = (0..size).map(|_| pgbouncer.client()).collect();
    // (server pid, statements, their names and text)
    let answers: Vec<(i32, i64, String)> = clients
        .iter_mut()
        .map(|client| {
            let rows = simple_rows(
                client,
                "BEGIN; SELECT pg_backend_pid(), count(*), string_agg(name || ': ' || statement, ' | ') \
                 FROM pg_prepared_statements",
            );
            let row = &rows[0];
            (row[0].parse().unwrap(), row[1].parse().unwrap(), row[2].clone())
        })
        .collect();
    for client in &mut clients {
        client.batch_execute("COMMIT").unwrap();
    }
    let asked: HashSet<i32> = answers.iter().map(|(pid, ..)| *pid).collect();
    assert_eq!(
        asked.len(),
        size,
        "{size} open transactions should hold {size} server connections: {answers:?}"
    );
    assert!(
        before.iter().all(|pid| asked.contains(pid)),
        "server connections listed before ({before:?}) were not all asked ({answers:?})"
    );
    let left: Vec<_> = answers.iter().filter(|(_, count, _)| *count != 0).collect();
    assert!(
        left.is_empty(),
        "prepared statements left on server connections (pid, count, statements): {left:?}"
    );
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

impl Invalidations {
    fn seen(&self) -> Vec<InvalidateReason> {
        self.0.lock().unwrap().clone()
    }
}

/// A table of the test's own on the shared server, made and dropped through a direct connection,
/// so that it goes also when the test fails.
struct Table(String);

impl Table {
    fn create(name: &str, columns: &str) -> Table {
        monitor()
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} ({columns})"
            ))
            .unwrap();
        Table(name.to_owned())
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // Not `monitor()`, which panics: this may run while the test panics.
        if let Ok(mut direct) = postgres::Client::connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5",
            postgres::NoTls,
        ) {
            let _ = direct.batch_execute(&format!("DROP TABLE IF EXISTS {}", self.0));
        }
    }
}

#[test]
fn every_query_method_answers_through_pgbouncer() {
    // Two server connections for two clients, so that they take turns on the same ones: a
    // statement one of them left behind would meet the other's of the same name.
    let pgbouncer = PgBouncer::start_with(PgBouncerConfig {
        default_pool_size: 2,
        ..PgBouncerConfig::default()
    });
    let tag = tag("methods");
    let _table = Table::create(&tag, "id int PRIMARY KEY, name text NOT NULL");
    let pool = pool(&pgbouncer, &tag, |b| b.pool_size(2).max_overflow(0));
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    for round in 0..3i32 {
        for (which, conn) in [(0i32, &mut a), (1, &mut b)] {
            let id = round * 10 + which;
            let name = format!("row-{id}");
            run_every_method(conn, &tag, id, &name);
        }
    }
    drop((a, b));
    let mut conn = pool.get().unwrap();
    let ids: Vec<i32> = conn
        .query(&format!("SELECT id FROM {tag} ORDER BY id") as &str, &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    // Each call of `run_every_method` keeps the row it inserted in its committed transaction.
    assert_eq!(ids, [0, 1, 10, 11, 20, 21]);
    drop(conn);
    assert_eq!(pool.stats().invalidated, 0, "{:?}", pool.stats());
    assert_no_prepared_statements(&pgbouncer);
}

/// Runs every query method of `conn` with SQL text and parameters against `table` (`id int`,
/// `name text`), checking each answer; leaves the row `id` in the table.
fn run_every_method(conn: &mut PgConnection, table: &str, id: i32, name: &str) {
    let sum: i32 = conn
        .query_one("SELECT $1::int + $2::int", &[&id, &1000])
        .unwrap()
        .get(0);
    assert_eq!(sum, id + 1000, "query_one");
    let rows = conn
        .query(
            "SELECT g, $1::text || g FROM generate_series(1, $2::int) g",
            &[&name, &3i32],
        )
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        (1..=3).map(|g| (g, format!("{name}{g}"))).collect::<Vec<_>>(),
        "query"
    );
    let some: Option<String> = conn
        .query_opt("SELECT upper($1::text)", &[&name])
        .unwrap()
        .map(|r| r.get(0));
    assert_eq!(some, Some(name.to_uppercase()), "query_opt, a row");
    let none = conn.query_opt("SELECT 1 WHERE $1::int < 0", &[&id]).unwrap();
    assert!(none.is_none(), "query_opt, no row");
    let raw = first_column(
        conn.query_raw(
            "SELECT g::bigint * $1::bigint FROM generate_series(1, 4) g",
            [i64::from(id)],
        )
        .unwrap(),
    );
    assert_eq!(
        raw,
        (1..=4).map(|g| g * i64::from(id)).collect::<Vec<_>>(),
        "query_raw"
    );

    let inserted = conn
        .execute(
            &format!("INSERT INTO {table} (id, name) VALUES ($1, $2), ($3, $4)") as &str,
            &[&(id + 100), &name, &(id + 200), &name],
        )
        .unwrap();
    assert_eq!(inserted, 2, "execute");
    let deleted = conn
        .execute_typed(
            &format!("DELETE FROM {table} WHERE id = $1 OR id = $2"),
            &[(&(id + 100), Type::INT4), (&(id + 200), Type::INT4)],
        )
        .unwrap();
    assert_eq!(deleted, 2, "execute_typed");
    let typed = conn
        .query_typed(
            "SELECT $1::int * 2, $2::text",
            &[(&id, Type::INT4), (&name, Type::TEXT)],
        )
        .unwrap();
    assert_eq!(
        (typed[0].get::<_, i32>(0), typed[0].get::<_, String>(1)),
        (id * 2, name.to_owned()),
        "query_typed"
    );
    let one: i32 = conn
        .query_typed_one("SELECT $1::int - 1", &[(&id, Type::INT4)])
        .unwrap()
        .get(0);
    assert_eq!(one, id - 1, "query_typed_one");
    let opt = conn
        .query_typed_opt("SELECT 1 WHERE $1::int < 0", &[(&id, Type::INT4)])
        .unwrap();
    assert!(opt.is_none(), "query_typed_opt");
    let typed_raw = first_column(
        conn.query_typed_raw(
            "SELECT g::bigint + $1::bigint FROM generate_series(1, 3) g",
            [(i64::from(id), Type::INT8)],
        )
        .unwrap(),
    );
    assert_eq!(
        typed_raw,
        (1..=3).map(|g| g + i64::from(id)).collect::<Vec<_>>(),
        "query_typed_raw"
    );

    // A transaction: several statements on one server connection, committed.
    let mut tx = conn.transaction().unwrap();
    tx.execute(
        &format!("INSERT INTO {table} (id, name) VALUES ($1, $2)") as &str,
        &[&id, &name],
    )
    .unwrap();
    let seen: String = tx
        .query_one(&format!("SELECT name FROM {table} WHERE id = $1") as &str, &[&id])
        .unwrap()
        .get(0);
    assert_eq!(seen, name, "a query inside the transaction");
    let count: i64 = tx
        .query_typed(
            &format!("SELECT count(*) FROM {table} WHERE id = $1"),
            &[(&id, Type::INT4)],
        )
        .unwrap()[0]
        .get(0);
    assert_eq!(count, 1, "query_typed inside the transaction");
    tx.commit().unwrap();

    conn.batch_execute(&format!(
        "UPDATE {table} SET name = name || '!' WHERE id = {id}; UPDATE {table} SET name = rtrim(name, '!') WHERE id = {id}"
    ))
    .unwrap();
    let simple = simple_text(
        conn.simple_query(&format!("SELECT name, id * 3 FROM {table} WHERE id = {id}"))
            .unwrap(),
    );
    assert_eq!(
        simple,
        vec![vec![name.to_owned(), (id * 3).to_string()]],
        "simple_query"
    );
}

/// The rows of a simple query's answer, as text.
fn simple_text(messages: Vec<SimpleQueryMessage>) -> Vec<Vec<String>> {
    messages
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or_default().to_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// The first column of every row, read as the rows arrive.
fn first_column(mut rows: RowIter<'_>) -> Vec<i64> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(row.get(0));
    }
    out
}

#[test]
fn sessions_and_the_dynamic_layer_answer_through_pgbouncer() {
    let pgbouncer = PgBouncer::start_with(PgBouncerConfig {
        default_pool_size: 2,
        ..PgBouncerConfig::default()
    });
    let tag = tag("session");
    let _table = Table::create(&tag, "id int PRIMARY KEY, n int NOT NULL");
    let pool = pool(&pgbouncer, &tag, |b| b.pool_size(2).max_overflow(0));
    let mut session = Session::new(&pool);
    session
        .execute(&format!("INSERT INTO {tag} VALUES (1, 10)"))
        .unwrap();
    let mut tx = session.transaction().unwrap();
    tx.execute(&format!("INSERT INTO {tag} VALUES (2, 20)")).unwrap();
    // The transaction derefs to the connection, for statements with parameters.
    let inserted = (*tx)
        .execute(
            &format!("INSERT INTO {tag} SELECT g, g * $1::int FROM generate_series(3, 300) g") as &str,
            &[&10i32],
        )
        .unwrap();
    assert_eq!(inserted, 298);
    tx.commit().unwrap();
    assert_eq!(pool.state().in_use, 0, "the transaction gave its connection back");

    // More rows than one batch of the cursor (256), so it fetches several times.
    let streamed: Vec<(i32, i32)> = session
        .stream(&format!("SELECT id, n FROM {tag} ORDER BY id"))
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            (row.get(0), row.get(1))
        })
        .collect();
    assert_eq!(streamed, (1..=300).map(|i| (i, i * 10)).collect::<Vec<_>>());
    assert_eq!(pool.state().in_use, 0, "the cursor gave its connection back");

    let total: i64 = session
        .run(|conn| {
            conn.query_one(
                &format!("SELECT sum(n)::bigint FROM {tag} WHERE id <= $1") as &str,
                &[&100i32],
            )
            .map(|row| row.get(0))
        })
        .unwrap();
    assert_eq!(total, (1..=100).map(|i| i64::from(i) * 10).sum::<i64>());

    // The dynamic layer, from settings as configuration-driven code makes it.
    let settings = DatabaseSettings::from_url(&format!(
        "{}{PGBOUNCER_MODE}&application_name={tag}&pool_size=2",
        pgbouncer.url()
    ))
    .unwrap();
    let any = AnyPool::from_settings(&settings).unwrap();
    let mut conn = any.get().unwrap();
    let n: i64 = conn
        .query_scalar(&format!("SELECT n FROM {tag} WHERE id = %s"), [7])
        .unwrap();
    assert_eq!(n, 70);
    conn.begin().unwrap();
    let changed = conn
        .execute(
            &format!("UPDATE {tag} SET n = n + :by WHERE id BETWEEN :low AND :high"),
            Params::named([("by", 1)]).and("low", 1).and("high", 5),
        )
        .unwrap();
    assert_eq!(changed, 5);
    conn.commit().unwrap();
    let rows = conn
        .query(&format!("SELECT id, n FROM {tag} WHERE id <= ? ORDER BY id"), [5])
        .unwrap();
    let got: Vec<(i64, i64)> = rows
        .iter()
        .map(|row| (row.get("id").unwrap(), row.get("n").unwrap()))
        .collect();
    assert_eq!(got, (1..=5).map(|i| (i, i * 10 + 1)).collect::<Vec<_>>());
    drop(conn);

    assert_eq!(pool.stats().invalidated, 0, "{:?}", pool.stats());
    assert_eq!(any.stats().invalidated, 0, "{:?}", any.stats());
    assert_no_prepared_statements(&pgbouncer);
}

/// Forked workers, as many as a prefork server has.
const WORKERS: i32 = 4;
/// Threads per worker: more than its pool holds, so they take turns on its connections.
const WORKER_THREADS: i32 = 4;
/// Rounds per thread; each round is three statements and a transaction.
const ROUNDS: i32 = 100;

#[test]
fn forked_workers_get_their_own_answers_and_leave_no_prepared_statement() {
    // 4 workers × 2 connections share 3 server connections: every statement may land on a
    // server connection another worker used last.
    let pgbouncer = PgBouncer::start_with(PgBouncerConfig {
        default_pool_size: 3,
        ..PgBouncerConfig::default()
    });
    let tag = tag("fork");
    let _table = Table::create(&tag, "worker int PRIMARY KEY, n int NOT NULL");
    let mut mon = monitor();
    mon.batch_execute(&format!(
        "INSERT INTO {tag} SELECT w, 0 FROM generate_series(0, {}) w",
        WORKERS - 1
    ))
    .unwrap();
    // Each worker writes what went wrong here (deleted with the PgBouncer).
    let report = |worker: i32| pgbouncer.dir().join(format!("worker-{worker}.report"));

    let _fork = fork_lock();
    let url = format!("{}{PGBOUNCER_MODE}&application_name={tag}", pgbouncer.url());
    let pids: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (url, tag, report) = (url.clone(), tag.clone(), report(worker));
            fork_child(move || {
                let failures = work(&url, &tag, worker);
                let code = i32::from(!failures.is_empty());
                let _ = std::fs::write(&report, failures.join("\n"));
                code
            })
        })
        .collect();
    let codes: Vec<i32> = pids.into_iter().map(wait_child).collect();
    let failures: Vec<String> = (0..WORKERS)
        .map(|w| std::fs::read_to_string(report(w)).unwrap_or_default())
        .collect();
    assert!(
        codes.iter().all(|&code| code == 0),
        "worker exit codes {codes:?}; their failures:\n{}",
        failures.join("\n")
    );

    // Each worker counted its own row up twice a round per thread: once in a transaction, once
    // on its own.
    let counts: Vec<(i32, i32)> = mon
        .query(
            &format!("SELECT worker, n FROM {tag} ORDER BY worker") as &str,
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        counts,
        (0..WORKERS)
            .map(|w| (w, 2 * WORKER_THREADS * ROUNDS))
            .collect::<Vec<_>>()
    );
    assert_no_prepared_statements(&pgbouncer);
}

/// A worker's load: threads sharing a pool of its own, each asking for values that name the
/// worker, the thread and the round, and counting up the worker's row. Returns what went wrong.
fn work(url: &str, table: &str, worker: i32) -> Vec<String> {
    let pool = match Pool::builder()
        .pool_size(2)
        .max_overflow(0)
        .timeout(Duration::from_secs(20))
        .build(PostgresManager::from_url(url).unwrap())
    {
        Ok(pool) => pool,
        Err(err) => return vec![format!("worker {worker}: building its pool: {err}")],
    };
    let failures = Mutex::new(Vec::new());
    let fail = |what: String| failures.lock().unwrap().push(format!("worker {worker}: {what}"));
    thread::scope(|scope| {
        for thread in 0..WORKER_THREADS {
            let (pool, fail) = (&pool, &fail);
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let value = worker * 1_000_000 + thread * 10_000 + round;
                    if let Err(what) = one_round(pool, table, worker, value) {
                        fail(format!("thread {thread} round {round}: {what}"));
                    }
                }
            });
        }
    });
    drop(pool);
    failures.into_inner().unwrap()
}

/// One round of a worker's thread: the answers must be `value`'s own.
fn one_round(pool: &Pool<PostgresManager>, table: &str, worker: i32, value: i32) -> Result<(), String> {
    let mut conn = pool.get().map_err(|err| format!("checkout: {err}"))?;
    let check = |what: &str, got: i32, want: i32| {
        if got == want {
            Ok(())
        } else {
            Err(format!("{what}: got {got}, sent {want}"))
        }
    };
    let db = |err: postgres::Error| common::chain(&err);
    let got: i32 = conn
        .query_one("SELECT $1::int + 0", &[&value])
        .map_err(db)?
        .get(0);
    check("query_one", got, value)?;
    let got: i32 = conn
        .query_typed_one("SELECT $1::int - 1", &[(&value, Type::INT4)])
        .map_err(db)?
        .get(0);
    check("query_typed_one", got, value - 1)?;
    let update = format!("UPDATE {table} SET n = n + 1 WHERE worker = $1");
    let changed = conn.execute(&update as &str, &[&worker]).map_err(db)?;
    check("execute", changed as i32, 1)?;
    let mut tx = conn.transaction().map_err(db)?;
    let changed = tx.execute(&update as &str, &[&worker]).map_err(db)?;
    check("execute in a transaction", changed as i32, 1)?;
    let got: i32 = tx.query_one("SELECT $1::int * 2", &[&value]).map_err(db)?.get(0);
    check("query_one in a transaction", got, value * 2)?;
    tx.commit().map_err(db)?;
    Ok(())
}

/// How long a checkout may wait in the PAUSE tests.
const CHECKOUT: Duration = Duration::from_millis(300);
/// How much later than its deadline a timed-out checkout may return.
const SLACK: Duration = Duration::from_millis(150);

#[test]
fn a_pause_longer_than_the_checkout_timeout_times_out_without_invalidating() {
    const CALLERS: usize = 3;
    let pgbouncer = PgBouncer::start();
    let tag = tag("pause");
    let invalidations = Invalidations::default();
    let pool = pool(&pgbouncer, &tag, |b| {
        b.pool_size(CALLERS)
            .max_overflow(0)
            .timeout(CHECKOUT)
            .pre_ping(true)
            .pre_ping_bypass(Duration::ZERO) // every checkout pings
            // Longer than the checkout: the ping gets what is left of the checkout's deadline.
            .validation_timeout(Duration::from_secs(5))
            .event_handler(invalidations.clone())
    });
    let mut held: Vec<_> = (0..CALLERS).map(|_| pool.get().unwrap()).collect();
    for conn in &mut held {
        conn.query_typed_one("SELECT 1", &[]).unwrap();
    }
    drop(held);

    pgbouncer.admin("PAUSE test");
    // Each caller pings an idle connection, which PgBouncer holds until RESUME.
    let outcomes = together(CALLERS, |_| {
        let started = Instant::now();
        let result = pool.get().map(drop);
        (started.elapsed(), result)
    });
    for (took, result) in &outcomes {
        assert!(
            matches!(result, Err(Error::Timeout(_))),
            "a checkout during the PAUSE gave {result:?} after {took:?}"
        );
        assert!(
            *took >= CHECKOUT && *took <= CHECKOUT + SLACK,
            "a checkout timed out after {took:?}, not within {CHECKOUT:?} + {SLACK:?}"
        );
    }

    pgbouncer.admin("RESUME test");
    let started = Instant::now();
    let mut conn = pool.get().expect("a checkout after RESUME");
    let answer: i32 = conn.query_one("SELECT $1::int + 1", &[&41i32]).unwrap().get(0);
    let took = started.elapsed();
    assert_eq!(answer, 42);
    assert!(
        took < Duration::from_secs(1),
        "the first checkout and query after RESUME took {took:?}"
    );
    drop(conn);
    let stats = pool.stats();
    assert_eq!(stats.timeouts, CALLERS as u64, "{stats:?}");
    assert_eq!(stats.ping_failures, CALLERS as u64, "{stats:?}");
    assert_eq!(stats.invalidated, 0, "{stats:?}");
    assert_eq!(invalidations.seen(), [], "a PAUSE is no lost server");
}

#[test]
fn a_checkout_during_a_pause_is_served_at_resume() {
    let pgbouncer = PgBouncer::start();
    let tag = tag("resume");
    let invalidations = Invalidations::default();
    let pool = pool(&pgbouncer, &tag, |b| {
        b.pool_size(1)
            .max_overflow(0)
            .timeout(Duration::from_secs(20))
            .event_handler(invalidations.clone())
    });
    // PgBouncer has met the server once, as it has in service.
    pgbouncer.client().batch_execute("SELECT 1").unwrap();

    pgbouncer.admin("PAUSE test");
    let (answer, ()) = common::race(
        || {
            let started = Instant::now();
            let mut conn = pool.get().unwrap();
            let connected = started.elapsed();
            let answer: i32 = conn.query_one("SELECT $1::int * 2", &[&21i32]).unwrap().get(0);
            println!(
                "connected during the PAUSE in {connected:?}, answered after {:?}",
                started.elapsed()
            );
            answer
        },
        || {
            // RESUME once PgBouncer holds the client: its login or its query waits.
            assert!(
                eventually(Duration::from_secs(10), || pgbouncer
                    .show_column("POOLS", "cl_waiting")
                    .iter()
                    .any(|n| n != "0")),
                "no client waited in PgBouncer: {:?}",
                pgbouncer.admin("SHOW POOLS").len()
            );
            pgbouncer.admin("RESUME test");
        },
    );
    assert_eq!(answer, 42);
    assert_eq!(pool.stats().invalidated, 0, "{:?}", pool.stats());
    assert_eq!(invalidations.seen(), []);
}

/// PgBouncer ends a client that waited longer than `query_wait_timeout` with a FATAL 08P01
/// `query_wait_timeout` and closes its connection. The `postgres` crate mostly reports only the
/// close (`connection closed`: it reads the error and the end of the stream together, and its
/// blocking client returns the connection's end before the query's answer; 17 pings and 19
/// queries in 20 here), sometimes the error. Either way the server is fine: neither the query's
/// connection going back nor a pre-ping may invalidate the pool.
#[test]
fn pgbouncer_s_query_wait_timeout_does_not_invalidate_the_pool() {
    let pgbouncer = PgBouncer::start_with(PgBouncerConfig {
        query_wait_timeout: Duration::from_millis(500),
        ..PgBouncerConfig::default()
    });
    let tag = tag("qwait");
    let invalidations = Invalidations::default();
    let log = common::capture_log();
    let pool = pool(&pgbouncer, &tag, |b| {
        b.name(&tag)
            .pool_size(2)
            .max_overflow(0)
            .timeout(Duration::from_secs(20))
            .pre_ping(true)
            .pre_ping_bypass(Duration::ZERO)
            // Longer than query_wait_timeout: PgBouncer's error ends the ping, not our bound.
            .validation_timeout(Duration::from_secs(10))
            .event_handler(invalidations.clone())
    });
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    a.query_typed_one("SELECT 1", &[]).unwrap();
    b.query_typed_one("SELECT 1", &[]).unwrap();
    drop(b);

    pgbouncer.admin("PAUSE test");
    // A borrower's query waits past query_wait_timeout.
    let started = Instant::now();
    let err = a
        .query_one("SELECT $1::int", &[&1i32])
        .expect_err("a query past query_wait_timeout");
    let took = started.elapsed();
    let query_error = format!("after {took:?}: {}", common::chain(&err));
    println!("the query during the PAUSE failed {query_error}");
    assert!(
        took >= pgbouncer.config().query_wait_timeout,
        "the query failed before query_wait_timeout: {query_error}"
    );
    assert!(
        is_query_wait_timeout(&err) || err.is_closed(),
        "not PgBouncer's query_wait_timeout: {query_error}"
    );
    drop(a);

    // The next checkout pings what is idle: `a`, if it went back as if healthy, then `b`, whose
    // ping waits past query_wait_timeout in turn; then it opens a connection (PgBouncer logs
    // clients in while paused). RESUME once a ping has failed.
    let (checkout, ()) = common::race(
        || pool.get().map(drop),
        || {
            assert!(
                eventually(Duration::from_secs(10), || pool.stats().ping_failures >= 1),
                "no pre-ping failed: {:?}",
                pool.stats()
            );
            pgbouncer.admin("RESUME test");
        },
    );
    checkout.expect("the checkout after the failed pre-ping");
    let pings = log.lines_with(&format!("[{tag}] connection"));
    println!("what the pool logged of its pings: {pings:?}");
    let stats = pool.stats();
    assert!(stats.ping_failures >= 1, "{stats:?}");
    assert_eq!(
        invalidations.seen(),
        [],
        "PgBouncer's query_wait_timeout is no lost server; the query failed {query_error}, \
         the pool logged: {pings:?}"
    );
    assert_eq!(stats.invalidated, 0, "{stats:?}");
}

/// PgBouncer's answer to a client that waited longer than `query_wait_timeout`: FATAL, SQLSTATE
/// 08P01, "query_wait_timeout".
fn is_query_wait_timeout(err: &postgres::Error) -> bool {
    err.as_db_error()
        .is_some_and(|db| db.code().code() == "08P01" && db.message() == "query_wait_timeout")
}

#[test]
fn what_pgbouncer_refuses_at_startup_is_refused_when_the_pool_is_built() {
    let pgbouncer = PgBouncer::start();
    // PgBouncer itself: the `options` startup parameter ends the login, the parameters the
    // driver always sends (client_encoding, application_name) pass.
    let refused = postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname=test options='-c statement_timeout=5s'",
            pgbouncer.port()
        ),
        postgres::NoTls,
    )
    .map(drop)
    .expect_err("PgBouncer takes no options");
    let db = refused.as_db_error().expect("PgBouncer's own error");
    assert_eq!(
        (db.severity(), db.code().code(), db.message()),
        ("FATAL", "08P01", "unsupported startup parameter: options")
    );
    let tag = tag("startup");
    let answer: i32 = pool(&pgbouncer, &tag, |b| b.pool_size(1))
        .get()
        .unwrap()
        .query_one("SELECT current_setting('application_name') = $1", &[&tag])
        .map(|row| i32::from(row.get::<_, bool>(0)))
        .unwrap();
    assert_eq!(answer, 1, "application_name reaches the server through PgBouncer");

    // millpond refuses them before any connection: in the URL, and at build for an init
    // statement set on the manager.
    let err = PostgresManager::from_url(&format!(
        "{}{PGBOUNCER_MODE}&options=-c%20statement_timeout%3D5s",
        pgbouncer.url()
    ))
    .expect_err("options with pgbouncer=true");
    assert_eq!(err.option, "options", "{err}");
    let built = Pool::builder()
        .pool_size(1)
        .build(manager(&pgbouncer, &tag).init("SET statement_timeout = '5s'"));
    match built {
        Err(Error::Config(err)) => assert_eq!(err.option, "init", "{err}"),
        Err(other) => panic!("an init statement with pgbouncer=true: {other}"),
        Ok(_) => panic!("an init statement with pgbouncer=true was accepted"),
    }
}
