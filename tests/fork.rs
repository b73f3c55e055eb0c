//! Fork: a pool used in a forked child finds itself fresh and empty there. The child never
//! closes (nor reuses) the parent's connections, idle or checked out, and the parent's pool
//! carries on as if nothing happened. Pools made in the child after the fork work too.
//!
//! Forking a multi-threaded test harness is risky: the tests that fork take the fork lock
//! (`common::fork_lock`) first, so no two forks overlap.
//! The child does its checks without panicking across the fork boundary and reports through its
//! exit code; the parent `waitpid`s for it (`common::fork_child`, `common::wait_child`).
#![cfg(unix)]

mod common;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use millpond::{ManageConnection, Pool};

/// A manager whose connections remember the process that opened them and leave a line in a
/// shared file (opened with `O_APPEND`, so parent and child lines do not overwrite each other)
/// when they are opened and closed: `open <serial> <opener pid>` and
/// `close <serial> <opener pid> <closer pid>`.
#[derive(Clone)]
struct Traced {
    trace: Arc<File>,
    next: Arc<AtomicUsize>,
}

struct TracedConn {
    serial: usize,
    pid: u32,
    trace: Arc<File>,
}

#[derive(Debug)]
struct TracedError;

impl fmt::Display for TracedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("traced error")
    }
}

impl std::error::Error for TracedError {}

fn append(trace: &File, line: &str) {
    // One write(2) on an O_APPEND file: atomic with respect to the other process's lines.
    let _ = (&*trace).write_all(line.as_bytes());
}

impl Drop for TracedConn {
    fn drop(&mut self) {
        append(
            &self.trace,
            &format!("close {} {} {}\n", self.serial, self.pid, std::process::id()),
        );
    }
}

impl ManageConnection for Traced {
    type Connection = TracedConn;
    type Error = TracedError;

    fn connect(&self) -> Result<TracedConn, TracedError> {
        let serial = self.next.fetch_add(1, SeqCst) + 1;
        let pid = std::process::id();
        append(&self.trace, &format!("open {serial} {pid}\n"));
        Ok(TracedConn {
            serial,
            pid,
            trace: Arc::clone(&self.trace),
        })
    }

    fn is_valid(&self, _conn: &mut TracedConn, _timeout: Duration) -> Result<(), TracedError> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut TracedConn) -> bool {
        false
    }
}

/// A line of the trace file.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Open { serial: usize, opener: u32 },
    Close { serial: usize, opener: u32, closer: u32 },
}

fn read_trace(path: &Path) -> Vec<Line> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["open", s, o] => Line::Open {
                    serial: s.parse().unwrap(),
                    opener: o.parse().unwrap(),
                },
                ["close", s, o, c] => Line::Close {
                    serial: s.parse().unwrap(),
                    opener: o.parse().unwrap(),
                    closer: c.parse().unwrap(),
                },
                _ => panic!("garbled trace line {line:?}"),
            }
        })
        .collect()
}

/// Removes the test's directory however the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the child checks, each failure with its own exit code (the parent names it).
const CHILD_FAILURES: &[(i32, &str)] = &[
    (10, "the inherited pool did not look fresh and empty in the child"),
    (11, "pool.get() failed in the child"),
    (12, "the child was handed a connection opened by the parent"),
    (
        13,
        "the child's pool counted the wrong connections after its checkout",
    ),
    (
        14,
        "returning the guard held across the fork changed the child's pool",
    ),
    (
        15,
        "closing the inherited pool in the child did not close exactly its own connection",
    ),
    (16, "a pool made in the child failed"),
    (20, "the inherited SQLite pool was not fresh in the child"),
    (21, "the inherited SQLite pool failed in the child"),
    (22, "the child did not see the parent's committed rows"),
    (23, "a SQLite pool made in the child failed"),
    (30, "a pool closed before the fork was open again in the child"),
    (40, "the child's fresh pool lacked the sizes set in the parent"),
    (41, "the child's fresh pool was not suspended as the parent's was"),
    (42, "resuming the child's pool did not serve a checkout"),
    (common::fork::PANICKED, "the child panicked"),
];

fn meaning(code: i32) -> &'static str {
    let unknown = if code < 0 {
        "the child was killed by a signal (the code is minus its number)"
    } else {
        "unknown exit code"
    };
    CHILD_FAILURES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(unknown, |(_, m)| m)
}

macro_rules! ensure {
    ($cond:expr, $code:expr) => {
        if !$cond {
            return Err($code);
        }
    };
}

/// Everything the parent hands to the child.
struct Inherited {
    pool: Pool<Traced>,
    held: millpond::PooledConnection<Traced>,
    /// A pool with an idle connection that the child drops without ever using it.
    untouched: Pool<Traced>,
    manager: Traced,
    #[cfg(feature = "sqlite")]
    sqlite: Sqlite,
}

#[cfg(feature = "sqlite")]
struct Sqlite {
    pool: Pool<millpond::sqlite::SqliteManager>,
    held: millpond::PooledConnection<millpond::sqlite::SqliteManager>,
    path: PathBuf,
}

/// The child's side. No panic escapes it (the caller catches them); the result becomes the
/// exit code.
fn child(inherited: Inherited) -> Result<(), i32> {
    let me = std::process::id();
    // Dropped in the child without a single use: its connection is the parent's.
    drop(inherited.untouched);
    let pool = inherited.pool;

    // The parent had one idle and one checked out; here the pool starts fresh and empty.
    let s = pool.state();
    ensure!(s.open == 0 && s.idle == 0 && s.in_use == 0 && !s.closed, 10);
    ensure!(pool.stats().checkouts == 0, 10);

    // A fresh connection, not the parent's idle one.
    let conn = pool.get().map_err(|_| 11)?;
    ensure!(conn.pid == me, 12);
    let s = pool.state();
    ensure!(s.open == 1 && s.in_use == 1 && s.idle == 0, 13);
    drop(conn);
    ensure!(pool.state().idle == 1, 13);

    // The guard borrowed before the fork, given back in the child: neither closed nor kept,
    // and the child's counts do not move.
    drop(inherited.held);
    let s = pool.state();
    ensure!(s.open == 1 && s.idle == 1 && s.in_use == 0 && s.closing == 0, 14);

    // Closing the pool in the child closes the child's own connection, at once, and nothing
    // else; then the pool is dropped.
    pool.close();
    let s = pool.state();
    ensure!(s.closed && s.open == 0 && s.closing == 0, 15);
    ensure!(pool.stats().pool_closes == 1, 15);
    drop(pool);

    // A pool made in the child after the fork.
    let fresh = Pool::builder()
        .pool_size(2)
        .build(inherited.manager)
        .map_err(|_| 16)?;
    let a = fresh.get().map_err(|_| 16)?;
    let b = fresh.get().map_err(|_| 16)?;
    ensure!(a.pid == me && b.pid == me && a.serial != b.serial, 16);
    let b_serial = b.serial;
    drop(a);
    drop(b);
    let c = fresh.get().map_err(|_| 16)?;
    ensure!(c.serial == b_serial, 16);
    drop(c);
    fresh.close();
    ensure!(fresh.state().open == 0, 16);
    drop(fresh);

    #[cfg(feature = "sqlite")]
    sqlite_child(inherited.sqlite)?;
    Ok(())
}

#[cfg(feature = "sqlite")]
fn sqlite_child(sqlite: Sqlite) -> Result<(), i32> {
    let count = |conn: &millpond::sqlite::Connection| -> Result<i64, i32> {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .map_err(|_| 22)
    };
    let pool = sqlite.pool;
    let s = pool.state();
    ensure!(s.open == 0 && s.idle == 0, 20);
    let conn = pool.get().map_err(|_| 21)?;
    ensure!(count(&conn)? == 2, 22);
    conn.execute("INSERT INTO t (who) VALUES ('child')", [])
        .map_err(|_| 21)?;
    drop(conn);
    drop(sqlite.held);
    ensure!(pool.state().in_use == 0 && pool.state().idle == 1, 21);
    pool.close();
    drop(pool);

    let fresh = Pool::builder()
        .build(millpond::sqlite::SqliteManager::file(&sqlite.path))
        .map_err(|_| 23)?;
    let conn = fresh.get().map_err(|_| 23)?;
    ensure!(count(&conn).map_err(|_| 23)? == 3, 23);
    drop(conn);
    fresh.close();
    Ok(())
}

/// The child's exit code for what `body` returned: 0 when its checks held, else the code of the
/// first that failed.
fn exit_code(body: impl FnOnce() -> Result<(), i32>) -> i32 {
    body().err().unwrap_or(0)
}

#[test]
fn a_forked_child_gets_a_fresh_pool_and_leaves_the_parents_connections_alone() {
    let parent = std::process::id();
    let dir = std::env::temp_dir().join(format!("millpond-fork-{parent}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let trace_path = dir.join("trace");
    let trace = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&trace_path)
        .unwrap();
    let manager = Traced {
        trace: Arc::new(trace),
        next: Arc::new(AtomicUsize::new(0)),
    };

    // One connection checked out across the fork, one idle.
    let pool = Pool::builder()
        .pool_size(3)
        .max_overflow(Some(0))
        .build(manager.clone())
        .unwrap();
    let held = pool.get().unwrap();
    let idle = pool.get().unwrap();
    let (held_serial, idle_serial) = (held.serial, idle.serial);
    assert_ne!(held_serial, idle_serial);
    drop(idle);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 1, 1), "{s:?}");
    let untouched = Pool::builder().build(manager.clone()).unwrap();
    let untouched_serial = untouched.get().unwrap().serial;
    assert_eq!(untouched.state().idle, 1);

    #[cfg(feature = "sqlite")]
    let (sqlite, sqlite_idle_id) = {
        let path = dir.join("fork.db");
        let pool = Pool::builder()
            .pool_size(2)
            .max_overflow(Some(0))
            .build(millpond::sqlite::SqliteManager::file(&path))
            .unwrap();
        let held = pool.get().unwrap();
        held.execute_batch("CREATE TABLE t (who TEXT); INSERT INTO t VALUES ('parent'), ('parent');")
            .unwrap();
        let idle = pool.get().unwrap();
        let idle_id = idle.id();
        assert_ne!(idle_id, held.id());
        let rows: i64 = idle
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        drop(idle);
        (Sqlite { pool, held, path }, idle_id)
    };

    let inherited = Inherited {
        pool,
        held,
        untouched,
        manager,
        #[cfg(feature = "sqlite")]
        sqlite,
    };

    let _forking = common::fork_lock();
    // The child only runs the checks in `child` (pool work, no locks held by other threads of
    // the parent are needed), on what it inherited; the parent keeps its own.
    let mut inherited = Some(inherited);
    let pid = common::fork_child(|| exit_code(|| child(inherited.take().expect("inherited"))));

    // The parent.
    let inherited = inherited.expect("the parent's own");
    let Inherited {
        pool,
        held,
        untouched,
        manager,
        ..
    } = inherited;
    let code = common::wait_child(pid);
    assert_eq!(code, 0, "the child failed: {}", meaning(code));

    // What the child opened and closed.
    let child_pid = pid as u32;
    let lines = read_trace(&trace_path);
    let child_opens: Vec<usize> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Open { serial, opener } if *opener == child_pid => Some(*serial),
            _ => None,
        })
        .collect();
    assert_eq!(
        child_opens.len(),
        3,
        "the child opened one connection per checkout it needed: {lines:?}"
    );
    for line in &lines {
        if let Line::Close {
            serial,
            opener,
            closer,
        } = line
        {
            assert_eq!(
                (*opener, *closer),
                (child_pid, child_pid),
                "connection {serial} opened by {opener} was closed by {closer}: {lines:?}"
            );
        }
    }
    let child_closes = lines.iter().filter(|l| matches!(l, Line::Close { .. })).count();
    assert_eq!(
        child_closes, 3,
        "the child's own connections were not all closed: {lines:?}"
    );

    // The parent's pool is as it was: its idle connection comes out, not closed, and the held
    // one goes back normally.
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use, s.closed), (2, 1, 1, false), "{s:?}");
    let again = pool.get().unwrap();
    assert_eq!(again.serial, idle_serial);
    assert_eq!(again.pid, parent);
    drop(again);
    assert_eq!(held.pid, parent);
    drop(held);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 2, 0), "{s:?}");
    let st = pool.stats();
    assert_eq!((st.connects, st.checkouts), (2, 3), "{st:?}");
    // The pool the child dropped unused still has its idle connection here.
    let conn = untouched.get().unwrap();
    assert_eq!((conn.serial, conn.pid), (untouched_serial, parent));
    drop(conn);
    let parent_closes = read_trace(&trace_path)
        .iter()
        .filter(|l| matches!(l, Line::Close { closer, .. } if *closer == parent))
        .count();
    assert_eq!(parent_closes, 0);

    // A pool made in the parent after the fork works as well (dropping it closes its
    // connection, in the parent).
    let later = Pool::builder().build(manager).unwrap();
    let conn = later.get().unwrap();
    assert_eq!(conn.pid, parent);
    let later_serial = conn.serial;
    drop(conn);
    drop(later);

    // Closing in the parent closes its connections, in the parent.
    pool.close();
    untouched.close();
    let mut closed: Vec<usize> = read_trace(&trace_path)
        .iter()
        .filter_map(|l| match l {
            Line::Close {
                serial,
                opener,
                closer,
            } if *closer == parent => {
                assert_eq!(*opener, parent, "the parent closed a connection it did not open");
                Some(*serial)
            }
            _ => None,
        })
        .collect();
    closed.sort_unstable();
    let mut expected = vec![held_serial, idle_serial, untouched_serial, later_serial];
    expected.sort_unstable();
    assert_eq!(closed, expected);

    // SQLite: the parent's idle connection comes out and works, and sees the child's row; the
    // one held across the fork works too.
    #[cfg(feature = "sqlite")]
    {
        let Sqlite { pool, held, .. } = inherited.sqlite;
        let count = |conn: &millpond::sqlite::Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };
        let s = pool.state();
        assert_eq!((s.open, s.idle, s.in_use), (2, 1, 1), "{s:?}");
        let conn = pool.get().unwrap();
        assert_eq!(conn.id(), sqlite_idle_id, "not the parent's idle connection");
        assert_eq!(count(&conn), 3, "the child's committed row is missing");
        conn.execute("INSERT INTO t (who) VALUES ('parent after fork')", [])
            .unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);
        assert_eq!(count(&held), 4);
        held.execute("INSERT INTO t (who) VALUES ('held across the fork')", [])
            .unwrap();
        drop(held);
        let s = pool.state();
        assert_eq!((s.open, s.idle, s.in_use), (2, 2, 0), "{s:?}");
        assert_eq!(count(&pool.get().unwrap()), 5);
        assert_eq!(pool.stats().connects, 2);
    }
}

/// `close` says every later checkout gets `Error::Closed`. A pool closed before a fork comes
/// back to life in the child instead: the child's first use makes a fresh core that is not
/// closed, starts a reaper and opens connections.
#[test]
fn a_pool_closed_before_the_fork_stays_closed_in_the_child() {
    let dir = std::env::temp_dir().join(format!("millpond-fork-closed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let trace = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("trace"))
        .unwrap();
    let manager = Traced {
        trace: Arc::new(trace),
        next: Arc::new(AtomicUsize::new(0)),
    };
    let pool = Pool::builder().build(manager).unwrap();
    drop(pool.get().unwrap());
    pool.close();
    assert!(matches!(pool.get(), Err(millpond::Error::Closed)));

    let _forking = common::fork_lock();
    let code = common::in_child(|| {
        exit_code(|| {
            ensure!(pool.is_closed(), 30);
            ensure!(matches!(pool.try_get(), Err(millpond::Error::Closed)), 30);
            ensure!(pool.state().closed && pool.state().open == 0, 30);
            Ok(())
        })
    });
    assert_eq!(code, 0, "the child failed: {}", meaning(code));
    assert!(pool.is_closed());
}

/// The sizes a pool was resized to before a fork, and its suspension, hold in the child's fresh
/// pool too: they are the pool's, not one process's.
#[test]
fn a_resized_and_suspended_pool_stays_so_in_the_child() {
    let dir = std::env::temp_dir().join(format!("millpond-fork-resized-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let trace = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("trace"))
        .unwrap();
    let manager = Traced {
        trace: Arc::new(trace),
        next: Arc::new(AtomicUsize::new(0)),
    };
    let pool = Pool::builder().pool_size(4).build(manager).unwrap();
    drop(pool.get().unwrap());
    pool.resize(2, 1).unwrap();
    pool.suspend();

    let _forking = common::fork_lock();
    let code = common::in_child(|| {
        exit_code(|| {
            let s = pool.state();
            ensure!(s.pool_size == 2 && s.max_overflow == Some(1), 40);
            ensure!(s.suspended && s.open == 0, 41);
            ensure!(matches!(pool.try_get(), Ok(None)), 41);
            pool.resume();
            ensure!(pool.get_timeout(Duration::from_secs(5)).is_ok(), 42);
            Ok(())
        })
    });
    assert_eq!(code, 0, "the child failed: {}", meaning(code));
    let s = pool.state();
    assert!(
        s.suspended && s.pool_size == 2,
        "the parent's pool is as it was: {s:?}"
    );
}
