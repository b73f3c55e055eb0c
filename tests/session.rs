//! Sessions against the real servers (PostgreSQL at 127.0.0.1:5432, MariaDB at 127.0.0.1:3306,
//! as in `postgres.rs` and `mysql.rs`) and embedded SQLite: a statement outside a transaction
//! checks a connection out and gives it back before the call returns; a transaction keeps one
//! connection (the same server process) until it ends; on-commit work, nested transactions,
//! panics and lazy reads. The tests fail, rather than skip, when a server is not there.
//!
//! Checkouts and returns are counted by an event handler as well as by `stats()` and `state()`.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use millpond::{
    ManageConnection, Pool, Session,
    observe::{CloseReason, Event, HandleEvent},
    session::SessionError,
};

/// Counts what the pool reports: checkouts, returns, resets on return, closes after a panic.
#[derive(Clone, Default)]
struct Counts(Arc<[AtomicU64; 4]>);

impl Counts {
    fn checkouts(&self) -> u64 {
        self.0[0].load(SeqCst)
    }
    fn checkins(&self) -> u64 {
        self.0[1].load(SeqCst)
    }
    fn resets(&self) -> u64 {
        self.0[2].load(SeqCst)
    }
    fn panic_closes(&self) -> u64 {
        self.0[3].load(SeqCst)
    }
}

impl HandleEvent for Counts {
    fn handle(&self, event: &Event<'_>) {
        let index = match event {
            Event::Checkout { .. } => 0,
            Event::Checkin { .. } => 1,
            Event::Reset { .. } => 2,
            Event::Close {
                reason: CloseReason::Panicked,
                ..
            } => 3,
            _ => return,
        };
        self.0[index].fetch_add(1, SeqCst);
    }
}

/// A pool of `size` connections and no overflow, counted.
fn counted_pool<M: ManageConnection>(manager: M, size: usize) -> (Pool<M>, Counts) {
    let counts = Counts::default();
    let pool = Pool::builder()
        .pool_size(size)
        .max_overflow(0)
        .timeout(Duration::from_secs(5))
        .event_handler(counts.clone())
        .build(manager)
        .unwrap();
    (pool, counts)
}

/// Asserts that nothing is checked out and that every checkout came back.
fn assert_all_back<M: ManageConnection>(pool: &Pool<M>, counts: &Counts, checkouts: u64) {
    assert_eq!(pool.state().in_use, 0, "a connection is still checked out");
    assert_eq!(counts.checkouts(), checkouts, "checkouts");
    assert_eq!(counts.checkins(), checkouts, "returns");
    assert_eq!(pool.stats().checkouts, checkouts, "stats().checkouts");
}

/// Waits up to 5 s for the pool's worker thread to close a connection given back during a panic.
fn wait_for_panic_closes(counts: &Counts, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counts.panic_closes() < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(counts.panic_closes(), n, "connections closed after a panic");
}

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[cfg(feature = "postgres")]
mod postgres_server {
    use super::*;
    use millpond::postgres::{PgConnection, PostgresManager, SslMode};
    use millpond::session::{Rows, Transaction};

    use crate::common::pg::monitor;

    const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    fn tag(test: &str) -> String {
        format!("mps-{test}-{}", std::process::id())
    }

    fn pool(test: &str, size: usize) -> (Pool<PostgresManager>, Counts) {
        let manager = PostgresManager::from_url(URL)
            .unwrap()
            .ssl_mode(SslMode::Disable)
            .application_name(&tag(test));
        counted_pool(manager, size)
    }

    /// A connection outside any pool.
    /// A fresh table `(id int primary key, v int)` named for the test.
    fn table(mon: &mut postgres::Client, test: &str) -> String {
        let name = format!("mps_{test}_{}", std::process::id());
        mon.batch_execute(&format!(
            "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int PRIMARY KEY, v int)"
        ))
        .unwrap();
        name
    }

    fn ids(mon: &mut postgres::Client, table: &str) -> Vec<i32> {
        mon.query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    fn pid(conn: &mut PgConnection) -> i32 {
        conn.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
    }

    /// The server's state for the pool's connections (`idle`, `idle in transaction`, …).
    fn states(mon: &mut postgres::Client, test: &str) -> Vec<String> {
        mon.query(
            "SELECT state FROM pg_stat_activity WHERE application_name = $1",
            &[&tag(test)],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
    }

    #[test]
    fn types_are_send_and_sync_as_needed() {
        assert_send_sync::<Session<PostgresManager>>();
        assert_send::<Transaction<'static, PostgresManager>>();
        assert_send::<Rows<PostgresManager>>();
    }

    #[test]
    fn each_statement_checks_out_and_returns() {
        let (pool, counts) = pool("stmt", 2);
        let session = Session::new(&pool);
        assert_eq!(counts.checkouts(), 0, "making a session checks nothing out");
        session.execute("SELECT 1").unwrap();
        assert_all_back(&pool, &counts, 1);
        let two: i32 = session
            .run(|conn| conn.query_one("SELECT 1 + 1", &[]))
            .unwrap()
            .get(0);
        assert_eq!(two, 2);
        assert_all_back(&pool, &counts, 2);
        // Errors too give the connection back, as a database error.
        let err = session.execute("SELECT * FROM no_such_table_here").unwrap_err();
        assert!(matches!(err, SessionError::Database(_)), "{err}");
        let err = session
            .run(|conn| conn.query_one("SELECT 1 / 0", &[]))
            .unwrap_err();
        assert!(err.database().is_some(), "{err}");
        assert_all_back(&pool, &counts, 4);
        // Clean returns cost no rollback round trip.
        assert_eq!(counts.resets(), 0);
        // Many statements from several threads on 2 connections: every one came back.
        std::thread::scope(|s| {
            for _ in 0..4 {
                let session = session.clone();
                s.spawn(move || {
                    for _ in 0..25 {
                        session.execute("SELECT 1").unwrap();
                    }
                });
            }
        });
        assert_all_back(&pool, &counts, 104);
        assert!(pool.state().open <= 2);
    }

    #[test]
    fn a_transaction_keeps_one_connection_and_releases_on_commit_and_rollback() {
        let test = "tx";
        let mut mon = monitor();
        let table = table(&mut mon, test);
        let (pool, counts) = pool(test, 2);
        let mut session = Session::new(&pool);

        let mut tx = session.transaction().unwrap();
        let first = pid(&mut tx);
        tx.execute(&format!("INSERT INTO {table} VALUES (1, 0)")).unwrap();
        for _ in 0..3 {
            assert_eq!(
                pid(&mut tx),
                first,
                "every statement of a transaction runs on one server process"
            );
        }
        assert_eq!(pool.state().in_use, 1);
        assert_eq!(counts.checkouts(), 1);
        assert_eq!(
            counts.checkins(),
            0,
            "the connection stays out during the transaction"
        );
        assert_eq!(states(&mut mon, test), ["idle in transaction"]);
        assert!(ids(&mut mon, &table).is_empty(), "not visible before the commit");
        tx.commit().unwrap();
        assert_all_back(&pool, &counts, 1);
        assert_eq!(ids(&mut mon, &table), [1]);

        let mut tx = session.transaction().unwrap();
        tx.execute(&format!("INSERT INTO {table} VALUES (2, 0)")).unwrap();
        tx.rollback().unwrap();
        assert_all_back(&pool, &counts, 2);

        {
            let mut tx = session.transaction().unwrap();
            tx.execute(&format!("INSERT INTO {table} VALUES (3, 0)")).unwrap();
        } // dropped: rolled back
        assert_all_back(&pool, &counts, 3);
        assert_eq!(ids(&mut mon, &table), [1]);
        assert_eq!(states(&mut mon, test), ["idle"]);
        // The transaction ended itself, so the pool had nothing to reset.
        assert_eq!(counts.resets(), 0);
        mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    }

    #[test]
    fn on_commit_runs_in_order_after_the_commit_before_the_release() {
        let test = "oncommit";
        let mut mon = monitor();
        let table = table(&mut mon, test);
        let (pool, counts) = pool(test, 2);
        let mut session = Session::new(&pool);
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let note = |what: &'static str| {
            let log = Arc::clone(&log);
            move |_: &mut PgConnection| log.lock().unwrap().push(what.to_owned())
        };

        let mut tx = session.transaction().unwrap();
        let tx_pid = pid(&mut tx);
        tx.execute(&format!("INSERT INTO {table} VALUES (1, 0)")).unwrap();
        tx.on_commit(note("a"));
        {
            let mut kept = tx.transaction().unwrap();
            kept.on_commit(note("b"));
            kept.commit().unwrap();
        }
        {
            let mut undone = tx.transaction().unwrap();
            undone.on_commit(note("never"));
            undone.rollback().unwrap();
        }
        // What the work sees when it runs: committed data, its own connection, still checked out.
        let seen = Arc::new(Mutex::new(None));
        let (seen_in, pool_in) = (Arc::clone(&seen), pool.clone());
        tx.on_commit(move |conn| {
            let mut mon = monitor();
            let committed = ids(&mut mon, &format!("mps_{test}_{}", std::process::id()));
            *seen_in.lock().unwrap() = Some((committed, pid(conn), pool_in.state().in_use));
        });
        tx.on_commit(note("d"));
        assert!(log.lock().unwrap().is_empty(), "nothing runs before the commit");
        tx.commit().unwrap();
        assert_eq!(*log.lock().unwrap(), ["a", "b", "d"]);
        assert_eq!(*seen.lock().unwrap(), Some((vec![1], tx_pid, 1)));
        assert_all_back(&pool, &counts, 1);

        // Rolled back, dropped, or failed to commit: the work is dropped.
        let mut tx = session.transaction().unwrap();
        tx.on_commit(note("rolled back"));
        tx.rollback().unwrap();
        let mut tx = session.transaction().unwrap();
        tx.on_commit(note("dropped"));
        drop(tx);
        let mut tx = session.transaction().unwrap();
        tx.on_commit(note("failed"));
        tx.execute(&format!("INSERT INTO {table} VALUES (1, 0)"))
            .unwrap_err();
        // PostgreSQL answers COMMIT in a failed transaction with a rollback: an error here.
        tx.commit().unwrap_err();
        assert_eq!(*log.lock().unwrap(), ["a", "b", "d"]);
        assert_all_back(&pool, &counts, 4);
        mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    }

    #[test]
    fn nested_transactions_use_savepoints_on_the_same_connection() {
        let test = "nested";
        let mut mon = monitor();
        let table = table(&mut mon, test);
        let (pool, counts) = pool(test, 2);
        let mut session = Session::new(&pool);
        let insert = |id: i32| format!("INSERT INTO {table} VALUES ({id}, 0)");

        let mut outer = session.transaction().unwrap();
        let outer_pid = pid(&mut outer);
        outer.execute(&insert(1)).unwrap();
        {
            let mut kept = outer.transaction().unwrap();
            assert_eq!(kept.depth(), 1);
            assert_eq!(pid(&mut kept), outer_pid);
            kept.execute(&insert(2)).unwrap();
            {
                let mut deeper = kept.transaction().unwrap();
                assert_eq!(deeper.depth(), 2);
                assert_eq!(pid(&mut deeper), outer_pid);
                deeper.execute(&insert(3)).unwrap();
                deeper.commit().unwrap();
            }
            kept.commit().unwrap();
        }
        {
            let mut undone = outer.transaction().unwrap();
            undone.execute(&insert(4)).unwrap();
            // A failed statement inside a savepoint spoils only the savepoint.
            undone.execute(&insert(1)).unwrap_err();
        } // dropped: rolled back to its savepoint
        let from_atomic: Result<(), postgres::Error> = outer.atomic(|tx| {
            tx.execute(&insert(5))?;
            tx.execute(&insert(5)) // duplicate: rolled back to the savepoint
        });
        assert!(from_atomic.is_err());
        outer.atomic(|tx| tx.execute(&insert(6))).unwrap();
        assert_eq!(pool.state().in_use, 1);
        assert_eq!(counts.checkouts(), 1, "nesting checks nothing else out");
        outer.commit().unwrap();
        assert_eq!(ids(&mut mon, &table), [1, 2, 3, 6]);
        assert_all_back(&pool, &counts, 1);
        mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    }

    #[test]
    fn a_panic_in_a_transaction_rolls_back_and_releases() {
        let test = "panic";
        let mut mon = monitor();
        let table = table(&mut mon, test);
        mon.batch_execute(&format!("INSERT INTO {table} VALUES (1, 0)"))
            .unwrap();
        let (pool, counts) = pool(test, 1);
        let mut session = Session::new(&pool);
        let update = format!("UPDATE {table} SET v = v + 1 WHERE id = 1");

        // A transaction guard unwound by a panic: rolled back explicitly, then closed by the pool
        // (given back during a panic).
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut tx = session.transaction().unwrap();
            tx.execute(&update).unwrap();
            panic!("boom");
        }));
        assert!(caught.is_err());
        assert_eq!(pool.state().in_use, 0);
        wait_for_panic_closes(&counts, 1);
        // The row lock is free, and the update undone.
        mon.batch_execute(&format!("SET lock_timeout = '2s'; {update}; RESET lock_timeout"))
            .expect("the panicked transaction's lock was released");
        let v: i32 = mon
            .query_one(&format!("SELECT v FROM {table} WHERE id = 1"), &[])
            .unwrap()
            .get(0);
        assert_eq!(v, 1, "the panicked transaction's update was rolled back");

        // `atomic` catches the panic, rolls back, gives the connection back cleanly (kept by
        // the pool), and lets the panic go on.
        let before = session.run(|conn| Ok::<_, postgres::Error>(pid(conn))).unwrap();
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let _: Result<(), SessionError<postgres::Error>> = session.atomic(|tx| {
                tx.execute(&update)?;
                panic!("boom");
            });
        }));
        assert!(caught.is_err(), "the panic goes on");
        assert_eq!(pool.state().in_use, 0);
        mon.batch_execute(&format!("SET lock_timeout = '2s'; {update}; RESET lock_timeout"))
            .unwrap();
        let v: i32 = mon
            .query_one(&format!("SELECT v FROM {table} WHERE id = 1"), &[])
            .unwrap()
            .get(0);
        assert_eq!(v, 2, "only the monitor's updates are there");
        let after = session.run(|conn| Ok::<_, postgres::Error>(pid(conn))).unwrap();
        assert_eq!(
            after, before,
            "the same connection serves the session after the panic"
        );
        // Checked only now: a close would run on the pool's worker thread, after the panic;
        // once the same connection has served again, none can be pending.
        assert_eq!(
            counts.panic_closes(),
            1,
            "a connection rolled back cleanly is kept"
        );
        assert_eq!(pool.state().in_use, 0);

        // A panic caught inside a transaction: the nested transaction it unwound through rolled
        // back to its savepoint, and the outer one goes on, on the same connection.
        let mut tx = session.transaction().unwrap();
        tx.execute(&format!("INSERT INTO {table} VALUES (10, 0)"))
            .unwrap();
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut nested = tx.transaction().unwrap();
            nested
                .execute(&format!("INSERT INTO {table} VALUES (11, 0)"))
                .unwrap();
            panic!("boom");
        }));
        assert!(caught.is_err());
        tx.execute(&format!("INSERT INTO {table} VALUES (12, 0)"))
            .unwrap();
        tx.commit().unwrap();
        assert_eq!(ids(&mut mon, &table), [1, 10, 12]);
        assert_eq!(pool.state().in_use, 0);
        assert_eq!(counts.panic_closes(), 1);
        mon.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    }

    #[test]
    fn a_streaming_read_holds_its_connection_until_read_or_dropped() {
        let test = "stream";
        let mut mon = monitor();
        let (pool, counts) = pool(test, 1);
        let session = Session::new(&pool);
        let sql = "SELECT g FROM generate_series(1, 1000) g";

        let mut rows = session.stream(sql).unwrap();
        let first: i32 = rows.next().unwrap().unwrap().get(0);
        assert_eq!(first, 1);
        assert_eq!(pool.state().in_use, 1, "the cursor holds its connection");
        assert!(pool.try_get().unwrap().is_none(), "and no other is free");
        assert_eq!(states(&mut mon, test), ["idle in transaction"]);
        let rest: Vec<i32> = rows.by_ref().map(|row| row.unwrap().get(0)).collect();
        assert_eq!(rest, (2..=1000).collect::<Vec<_>>());
        assert_all_back(&pool, &counts, 1);
        assert!(rows.next().is_none());
        assert_eq!(states(&mut mon, test), ["idle"], "the cursor's transaction ended");

        // Dropped half-way: the connection goes back, its transaction rolled back.
        let mut rows = session.stream(sql).unwrap();
        assert_eq!(rows.nth(299).unwrap().unwrap().get::<_, i32>(0), 300);
        assert_eq!(pool.state().in_use, 1);
        drop(rows);
        assert_all_back(&pool, &counts, 2);
        assert_eq!(states(&mut mon, test), ["idle"]);

        // An empty result, and bad SQL.
        assert_eq!(session.stream("SELECT 1 WHERE false").unwrap().count(), 0);
        assert!(matches!(
            session.stream("SELECT * FROM no_such_table_here"),
            Err(SessionError::Database(_))
        ));
        assert_all_back(&pool, &counts, 4);
        session.execute("SELECT 1").unwrap();
    }
}

#[cfg(feature = "mysql")]
mod mysql_server {
    use super::*;
    use millpond::mysql::{MySqlConnection, MySqlManager, Queryable};
    use millpond::{TransactionState, session::Rows};

    fn url() -> String {
        std::env::var("MILLPOND_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
    }

    fn admin() -> MySqlConnection {
        MySqlManager::from_url(&url())
            .unwrap()
            .connect()
            .unwrap_or_else(|err| panic!("the MySQL server at {} is not reachable: {err}", url()))
    }

    fn table(admin: &mut MySqlConnection, test: &str) -> String {
        let name = format!("mps_{test}_{}", std::process::id());
        admin.query_drop(format!("DROP TABLE IF EXISTS {name}")).unwrap();
        admin
            .query_drop(format!("CREATE TABLE {name} (id int PRIMARY KEY) ENGINE=InnoDB"))
            .unwrap();
        name
    }

    fn ids(admin: &mut MySqlConnection, table: &str) -> Vec<i32> {
        admin
            .query(format!("SELECT id FROM {table} ORDER BY id"))
            .unwrap()
    }

    fn connection_id(conn: &mut MySqlConnection) -> u64 {
        conn.query_first("SELECT CONNECTION_ID()").unwrap().unwrap()
    }

    #[test]
    fn statements_and_transactions_check_out_as_promised() {
        let mut admin = admin();
        let table = table(&mut admin, "all");
        let (pool, counts) = counted_pool(MySqlManager::from_url(&url()).unwrap(), 2);
        let mut session = Session::new(&pool);

        session
            .execute(&format!("INSERT INTO {table} VALUES (1)"))
            .unwrap();
        let n: Option<i64> = session.run(|conn| conn.query_first("SELECT 41 + 1")).unwrap();
        assert_eq!(n, Some(42));
        assert!(session.execute("SELECT * FROM no_such_table_here").is_err());
        assert_all_back(&pool, &counts, 3);

        let mut tx = session.transaction().unwrap();
        let first = connection_id(&mut tx);
        tx.execute(&format!("INSERT INTO {table} VALUES (2)")).unwrap();
        {
            let mut nested = tx.transaction().unwrap();
            assert_eq!(connection_id(&mut nested), first);
            nested
                .execute(&format!("INSERT INTO {table} VALUES (3)"))
                .unwrap();
        } // rolled back to its savepoint
        {
            let mut nested = tx.transaction().unwrap();
            nested
                .execute(&format!("INSERT INTO {table} VALUES (4)"))
                .unwrap();
            nested.commit().unwrap();
        }
        assert_eq!(connection_id(&mut tx), first);
        assert_eq!(pool.state().in_use, 1);
        assert_eq!(ids(&mut admin, &table), [1], "nothing visible before the commit");
        tx.commit().unwrap();
        assert_all_back(&pool, &counts, 4);
        assert_eq!(ids(&mut admin, &table), [1, 2, 4]);

        let mut tx = session.transaction().unwrap();
        tx.execute(&format!("INSERT INTO {table} VALUES (5)")).unwrap();
        tx.rollback().unwrap();
        assert_all_back(&pool, &counts, 5);
        assert_eq!(ids(&mut admin, &table), [1, 2, 4]);
        assert_eq!(counts.resets(), 0, "every return was clean");
        admin.query_drop(format!("DROP TABLE {table}")).unwrap();
    }

    /// 10,000 rows: `n` from 1 (in order when `ordered`) and `width` bytes of padding. Digits
    /// joined rather than a recursive CTE, which MySQL stops at 1,000 levels by default.
    fn numbers(width: usize, ordered: bool) -> String {
        let digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                      UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                      UNION ALL SELECT 8 UNION ALL SELECT 9)";
        format!(
            "SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n, REPEAT('x', {width}) AS pad \
             FROM {digits} a, {digits} b, {digits} c, {digits} e{}",
            if ordered { " ORDER BY n" } else { "" }
        )
    }

    fn n(row: Result<millpond::mysql::driver::Row, millpond::mysql::driver::Error>) -> i64 {
        row.unwrap().get(0).unwrap()
    }

    /// The id of the connection a session statement gets, and that it is idle and in step.
    fn checked_out_id(session: &Session<MySqlManager>) -> u64 {
        session
            .run(|conn| {
                assert_eq!(conn.transaction_state(), TransactionState::Idle);
                let answer: Option<i64> = conn.query_first("SELECT 42")?;
                assert_eq!(answer, Some(42), "no rows left over from an earlier result");
                Ok::<_, millpond::mysql::driver::Error>(connection_id(conn))
            })
            .unwrap()
    }

    #[test]
    fn a_streaming_read_holds_its_connection_until_read_or_dropped() {
        assert_send::<Rows<MySqlManager>>();
        let (pool, counts) = counted_pool(MySqlManager::from_url(&url()).unwrap(), 1);
        let session = Session::new(&pool);
        let id = checked_out_id(&session);
        let sql = numbers(10, true);

        let mut rows = session.stream(&sql).unwrap();
        let first = rows.next().unwrap().unwrap();
        assert_eq!(first.get::<i64, _>(0), Some(1));
        assert_eq!(first.get::<String, _>("pad").unwrap(), "x".repeat(10));
        assert_eq!(pool.state().in_use, 1, "the cursor holds its connection");
        assert!(pool.try_get().unwrap().is_none(), "and no other is free");
        let rest: Vec<i64> = rows.by_ref().map(n).collect();
        assert_eq!(rest, (2..=10_000).collect::<Vec<_>>());
        assert_all_back(&pool, &counts, 2);
        assert!(rows.next().is_none());

        // Dropped half-way: the rest is read and discarded, and the same connection goes back,
        // idle and in step.
        let mut rows = session.stream(&sql).unwrap();
        assert_eq!(n(rows.nth(299).unwrap()), 300);
        assert_eq!(pool.state().in_use, 1);
        drop(rows);
        assert_all_back(&pool, &counts, 3);
        assert_eq!(checked_out_id(&session), id, "the connection was kept");

        // An empty result, and bad SQL.
        assert_eq!(
            session.stream("SELECT 1 FROM DUAL WHERE 1 = 0").unwrap().count(),
            0
        );
        assert!(matches!(
            session.stream("SELECT * FROM no_such_table_here"),
            Err(SessionError::Database(_))
        ));
        assert_all_back(&pool, &counts, 6);

        // A server error after the first result set ends the read; the connection is kept.
        let items: Vec<_> = session
            .stream("SELECT 7; SELECT * FROM no_such_table_here; SELECT 8")
            .unwrap()
            .collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().get::<i64, _>(0), Some(7));
        assert!(matches!(&items[1], Err(millpond::mysql::driver::Error::MySqlError(e)) if e.code == 1146));
        assert_all_back(&pool, &counts, 7);
        assert_eq!(checked_out_id(&session), id);
        assert_eq!(counts.resets(), 0, "every return was clean");
    }

    #[test]
    fn a_stream_whose_connection_dies_gives_it_back_to_be_closed() {
        let mut admin = admin();
        let (pool, counts) = counted_pool(MySqlManager::from_url(&url()).unwrap(), 1);
        let session = Session::new(&pool);
        let id = checked_out_id(&session);

        // 100 MB: far more than the socket buffers hold, so the server is still sending.
        let mut rows = session.stream(&numbers(10_000, false)).unwrap();
        rows.next().unwrap().unwrap();
        admin.query_drop(format!("KILL {id}")).unwrap();
        let last = rows.by_ref().last().unwrap();
        assert!(last.is_err(), "the read ended with the connection's death");
        assert_all_back(&pool, &counts, 2);
        assert_ne!(
            checked_out_id(&session),
            id,
            "the dead connection was closed, not kept"
        );
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_embedded {
    use super::*;
    use millpond::sqlite::SqliteManager;
    use millpond::{Error, session::Rows};

    /// A shared in-memory database, kept alive by one idle connection.
    fn pool(size: usize) -> (Pool<SqliteManager>, Counts) {
        let counts = Counts::default();
        let pool = Pool::builder()
            .pool_size(size)
            .max_overflow(0)
            .min_idle(1)
            .event_handler(counts.clone())
            .build(SqliteManager::memory())
            .unwrap();
        (pool, counts)
    }

    #[test]
    fn a_streaming_read_holds_its_connection_until_read_or_dropped() {
        assert_send::<Rows<SqliteManager>>();
        let (pool, counts) = pool(1);
        let session = Session::new(&pool);
        let sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000) SELECT x, 'row' FROM n";

        let mut rows = session.stream(sql).unwrap();
        let first = rows.next().unwrap().unwrap();
        assert_eq!(first.get::<i64>(0).unwrap(), 1);
        assert_eq!(first.get::<String>(1).unwrap(), "row");
        assert!(first.get::<i64>(2).is_err());
        assert_eq!(pool.state().in_use, 1, "the cursor holds its connection");
        assert!(pool.try_get().unwrap().is_none());
        let rest: Vec<i64> = rows.by_ref().map(|row| row.unwrap().get(0).unwrap()).collect();
        assert_eq!(rest, (2..=1000).collect::<Vec<_>>());
        assert_all_back(&pool, &counts, 1);

        let mut rows = session.stream(sql).unwrap();
        assert_eq!(rows.nth(9).unwrap().unwrap().get::<i64>(0).unwrap(), 10);
        assert_eq!(pool.state().in_use, 1);
        drop(rows);
        assert_all_back(&pool, &counts, 2);

        assert!(matches!(
            session.stream("SELECT nothing FROM nowhere"),
            Err(SessionError::Database(_))
        ));
        assert_all_back(&pool, &counts, 3);
    }

    #[test]
    fn transactions_panics_and_a_closed_pool() {
        // A file: the connection closed after the panic may be the in-memory database's last.
        let path = std::env::temp_dir().join(format!("millpond-session-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let counts = Counts::default();
        let pool = Pool::builder()
            .pool_size(2)
            .max_overflow(0)
            .event_handler(counts.clone())
            .build(SqliteManager::file(&path))
            .unwrap();
        let mut session = Session::new(&pool);
        session.execute("CREATE TABLE t (x INTEGER)").unwrap();
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut tx = session.transaction().unwrap();
            tx.execute("INSERT INTO t VALUES (1)").unwrap();
            panic!("boom");
        }));
        assert!(caught.is_err());
        wait_for_panic_closes(&counts, 1);
        let mut tx = session.transaction().unwrap();
        tx.execute("INSERT INTO t VALUES (2)").unwrap();
        tx.commit().unwrap();
        let xs: Vec<i64> = session
            .run(|conn| {
                conn.prepare("SELECT x FROM t")?
                    .query_map([], |row| row.get(0))?
                    .collect()
            })
            .unwrap();
        assert_eq!(xs, [2]);
        assert_all_back(&pool, &counts, 4);

        // `atomic`: committed on Ok, rolled back on Err, with the work's own error type.
        let ran_after_commit = Arc::new(AtomicU64::new(0));
        let flag = Arc::clone(&ran_after_commit);
        session
            .atomic(|tx| {
                tx.execute("INSERT INTO t VALUES (3)")?;
                tx.on_commit(move |_| {
                    flag.fetch_add(1, SeqCst);
                });
                Ok::<_, rusqlite::Error>(())
            })
            .unwrap();
        let failed = session.atomic(|tx| {
            tx.execute("INSERT INTO t VALUES (4)")?;
            tx.execute("INSERT INTO no_such_table VALUES (5)")
        });
        assert!(matches!(failed, Err(SessionError::Database(_))));
        let count: i64 = session
            .run(|conn| conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0)))
            .unwrap();
        assert_eq!(count, 2, "the Ok one committed, the Err one rolled back");
        assert_eq!(ran_after_commit.load(SeqCst), 1);
        assert_all_back(&pool, &counts, 7);

        pool.close();
        assert!(matches!(
            session.execute("SELECT 1"),
            Err(SessionError::Checkout(Error::Closed))
        ));
        assert!(matches!(
            session.transaction(),
            Err(SessionError::Checkout(Error::Closed))
        ));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

// No Oracle server here: this only checks that the backend takes part in sessions.
#[cfg(feature = "oracle")]
const _: fn() = || {
    fn is_session_connection<C: millpond::session::SessionConnection>() {}
    is_session_connection::<millpond::oracle::OracleConnection>();
};

#[cfg(feature = "jdbc")]
mod jdbc_h2 {
    use super::*;
    use millpond::jdbc::{self, JdbcConnection};

    fn session_id(conn: &mut JdbcConnection) -> i64 {
        conn.query_scalar("SELECT SESSION_ID()", ()).unwrap()
    }

    fn count(conn: &mut JdbcConnection) -> i64 {
        conn.query_scalar("SELECT count(*) FROM jobs", ()).unwrap()
    }

    /// A stream holds its connection until read to the end or dropped, reads 5 000 rows in
    /// order, leaves the connection usable after an early drop, and reports a bad statement
    /// from `stream` itself.
    #[test]
    fn a_streaming_read_holds_its_connection_until_read_or_dropped() {
        use millpond::session::Rows;
        assert_send::<Rows<jdbc::JdbcManager>>();
        let name = format!("mem:stream_{};DB_CLOSE_DELAY=-1", std::process::id());
        let manager = jdbc::h2(&name).jar("/usr/share/java/h2.jar").user("sa");
        let (pool, counts) = counted_pool(manager, 1);
        let session = pool.session();
        let sql = "SELECT X, 'row' FROM SYSTEM_RANGE(1, 5000) ORDER BY X";

        let mut rows = session.stream(sql).unwrap();
        let first = rows.next().unwrap().unwrap();
        assert_eq!(first.get::<i64>(0).unwrap(), 1);
        assert_eq!(first.get::<String>(1).unwrap(), "row");
        assert_eq!(pool.state().in_use, 1, "the cursor holds its connection");
        assert!(pool.try_get().unwrap().is_none());
        let rest: Vec<i64> = rows.by_ref().map(|row| row.unwrap().get(0).unwrap()).collect();
        assert_eq!(rest, (2..=5000).collect::<Vec<_>>());
        assert_all_back(&pool, &counts, 1);

        let mut rows = session.stream(sql).unwrap();
        assert_eq!(rows.nth(299).unwrap().unwrap().get::<i64>(0).unwrap(), 300);
        assert_eq!(pool.state().in_use, 1);
        drop(rows);
        assert_all_back(&pool, &counts, 2);
        let answer: i64 = session.run(|conn| conn.query_scalar("SELECT 42", ())).unwrap();
        assert_eq!(answer, 42, "the connection works after an early drop");
        assert_eq!(
            pool.stats().broken,
            0,
            "an early drop does not break the connection"
        );
        assert_all_back(&pool, &counts, 3);

        assert_eq!(
            session
                .stream("SELECT X FROM SYSTEM_RANGE(1, 0)")
                .unwrap()
                .count(),
            0
        );
        assert_all_back(&pool, &counts, 4);
        assert!(matches!(
            session.stream("SELECT nothing FROM nowhere"),
            Err(SessionError::Database(_))
        ));
        assert_all_back(&pool, &counts, 5);
        assert_eq!(pool.state().open, 1, "one connection served every stream");
    }

    /// A JDBC connection takes part like any other: statements return at once, a transaction
    /// keeps one connection (H2's session id) until it ends, savepoints stay on it, and
    /// `on_commit` work runs after the commit only.
    #[test]
    fn statements_transactions_and_savepoints_through_jdbc() {
        let name = format!("mem:session_{};DB_CLOSE_DELAY=-1", std::process::id());
        let manager = jdbc::h2(&name).jar("/usr/share/java/h2.jar").user("sa");
        let (pool, counts) = counted_pool(manager, 2);
        let mut session = pool.session();
        session.execute("CREATE TABLE jobs (id INT PRIMARY KEY)").unwrap();
        session.execute("INSERT INTO jobs VALUES (1)").unwrap();
        assert_all_back(&pool, &counts, 2);

        let ran = Arc::new(Mutex::new(Vec::new()));
        let mut tx = session.transaction().unwrap();
        let pinned = session_id(&mut tx);
        tx.execute("INSERT INTO jobs VALUES (2)").unwrap();
        {
            let mut inner = tx.transaction().unwrap();
            assert_eq!(session_id(&mut inner), pinned, "a savepoint keeps the connection");
            inner.execute("INSERT INTO jobs VALUES (3)").unwrap();
            inner.rollback().unwrap();
        }
        let seen = Arc::clone(&ran);
        tx.on_commit(move |conn| seen.lock().unwrap().push(count(conn)));
        assert_eq!(
            session_id(&mut tx),
            pinned,
            "one connection for the whole transaction"
        );
        assert_eq!(pool.state().in_use, 1);
        // Another connection does not see the uncommitted row.
        let other: i64 = pool.get().map(|mut c| count(&mut c)).unwrap();
        assert_eq!(other, 1);
        tx.commit().unwrap();
        assert_eq!(
            *ran.lock().unwrap(),
            vec![2],
            "on_commit ran after the commit, on the same connection"
        );
        assert_all_back(&pool, &counts, 4);

        let mut tx = session.transaction().unwrap();
        tx.execute("INSERT INTO jobs VALUES (4)").unwrap();
        let discarded = Arc::clone(&ran);
        tx.on_commit(move |_| discarded.lock().unwrap().push(-1));
        drop(tx);
        assert_eq!(
            *ran.lock().unwrap(),
            vec![2],
            "on_commit work of a rolled-back transaction is dropped"
        );
        let rows: i64 = session
            .run(|conn| conn.query_scalar("SELECT count(*) FROM jobs", ()))
            .unwrap();
        assert_eq!(rows, 2);
        assert_all_back(&pool, &counts, 6);
        assert_eq!(
            counts.resets(),
            0,
            "every connection came back with autocommit restored and nothing open"
        );
    }
}
