//! The embedded SQLite backend (feature `sqlite`, on by default): rusqlite with its bundled
//! SQLite, so nothing needs to be installed or running.

pub(crate) mod any;
mod session;
mod settings;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub use rusqlite::{Connection, OpenFlags};
pub use session::{SqliteCursor, SqliteRow};

use super::url::{Unit, not_accepted, pairs, parse_bool, parse_duration, split_query, unknown_parameter};
use crate::error::ConfigError;
use crate::manage::{ManageConnection, ResetAction, TransactionState};

/// Where the connections lead.
#[derive(Debug, Clone)]
enum Target {
    /// An in-memory database shared by every connection of this manager (and its clones),
    /// under a name unique to it. SQLite frees it when its last connection closes, so the
    /// manager keeps one of its own, opened with the first connect and closed with the last
    /// clone of the manager: the database lives as long as the manager, whatever the pool
    /// closes.
    Memory {
        name: String,
        keeper: Arc<OnceLock<Keeper>>,
    },
    File(PathBuf),
}

/// The manager's own connection to its in-memory database: only held, never used (the mutex
/// makes it `Sync`, and is never locked).
struct Keeper {
    _conn: Mutex<Connection>,
}

impl fmt::Debug for Keeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keeper")
    }
}

/// Opens SQLite connections to one database file, or to one in-memory database.
///
/// Files are opened read-write (created if missing) in WAL mode with a 5 s busy timeout, so
/// pooled readers and a writer do not block one another.
#[derive(Clone)]
pub struct SqliteManager {
    target: Target,
    flags: OpenFlags,
    busy_timeout: Duration,
    wal: bool,
    init: Option<String>,
}

impl fmt::Debug for SqliteManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteManager")
            .field("target", &self.target)
            .field("flags", &self.flags)
            .field("busy_timeout", &self.busy_timeout)
            .field("wal", &self.wal)
            .field("init", &self.init)
            .finish()
    }
}

/// The query parameters [`SqliteManager::from_url`] accepts.
const URL_PARAMS: &[&str] = &["mode", "busy_timeout_ms", "wal"];

impl SqliteManager {
    fn with_target(target: Target) -> Self {
        SqliteManager {
            target,
            flags: OpenFlags::default(),
            busy_timeout: Duration::from_secs(5),
            wal: true,
            init: None,
        }
    }

    /// A database file (created if missing, unless the flags say otherwise).
    pub fn file(path: impl AsRef<Path>) -> Self {
        SqliteManager::with_target(Target::File(path.as_ref().to_path_buf()))
    }

    /// An in-memory database shared by all of this manager's connections (and its clones'),
    /// and by no other manager's.
    ///
    /// It lives as long as the manager: the manager keeps a connection of its own to it, opened
    /// with the first connect, outside the pool's count and never lent out, so the database
    /// survives whatever the pool closes (connections past `recycle` or idle past
    /// `idle_timeout`, a failed reset, a panic while one is held, `invalidate`). It is freed
    /// when the pool (and every clone of the manager) is dropped.
    pub fn memory() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "file:millpond-memory-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        SqliteManager::with_target(Target::Memory {
            name,
            keeper: Arc::new(OnceLock::new()),
        })
    }

    /// A manager from a URL or a path:
    ///
    /// - `sqlite::memory:` (or `:memory:`): [`SqliteManager::memory`];
    /// - `sqlite:///abs/path.db`: an absolute path; `sqlite://rel/path.db` and `sqlite:rel.db`:
    ///   relative paths; anything else is a plain path;
    /// - query parameters: `mode=ro|rw|rwc` (read-only, read-write, read-write-create, the
    ///   default), `busy_timeout_ms=N`, `wal=true|false`.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let (location, query) = split_query(url);
        let mut manager = match location {
            "sqlite::memory:" | ":memory:" | "sqlite://:memory:" => SqliteManager::memory(),
            _ => {
                let path = location
                    .strip_prefix("sqlite://")
                    .or_else(|| location.strip_prefix("sqlite:"))
                    .unwrap_or(location);
                if path.is_empty() {
                    return Err(ConfigError::new(
                        "url",
                        format!(
                            "`{url}` names no database; use sqlite::memory:, sqlite:///absolute/path.db or a plain path"
                        ),
                    ));
                }
                SqliteManager::file(path)
            }
        };
        for pair in pairs(query) {
            let (key, value) = (pair.key, pair.value);
            manager = match key {
                "mode" => {
                    let base = OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    manager.flags(match value {
                        "ro" => base | OpenFlags::SQLITE_OPEN_READ_ONLY,
                        "rw" => base | OpenFlags::SQLITE_OPEN_READ_WRITE,
                        "rwc" => base | OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
                        _ => return Err(not_accepted("url", key, value, "ro, rw or rwc")),
                    })
                }
                "busy_timeout_ms" => {
                    manager.busy_timeout(parse_duration("url", key, value, Unit::Millis)?.unwrap_or_default())
                }
                "wal" => manager.wal(parse_bool("url", key, value)?),
                _ => return Err(unknown_parameter(key, &[URL_PARAMS])),
            };
        }
        Ok(manager)
    }

    /// The open flags (default: read-write, create, URI file names, no internal mutex).
    pub fn flags(mut self, flags: OpenFlags) -> Self {
        self.flags = flags;
        self
    }

    /// How long a statement waits on a locked database before failing with `SQLITE_BUSY`
    /// (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Whether file databases are switched to WAL journaling (default `true`; ignored for
    /// in-memory databases and read-only connections).
    pub fn wal(mut self, on: bool) -> Self {
        self.wal = on;
        self
    }

    /// SQL run on every new connection (for example `PRAGMA foreign_keys = ON`).
    pub fn init(mut self, sql: impl Into<String>) -> Self {
        self.init = Some(sql.into());
        self
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        match &self.target {
            Target::File(path) => Some(path),
            Target::Memory { .. } => None,
        }
    }
}

impl ManageConnection for SqliteManager {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = match &self.target {
            Target::File(path) => Connection::open_with_flags(path, self.flags)?,
            Target::Memory { name, keeper } => {
                let flags = self.flags | OpenFlags::SQLITE_OPEN_URI;
                if keeper.get().is_none() {
                    // Two first connects may race: the loser's connection closes at once, which
                    // is harmless while the winner's stays open.
                    let own = Connection::open_with_flags(name, flags)?;
                    let _ = keeper.set(Keeper {
                        _conn: Mutex::new(own),
                    });
                }
                Connection::open_with_flags(name, flags)?
            }
        };
        conn.busy_timeout(self.busy_timeout)?;
        let read_only = self.flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY);
        if self.wal && !read_only && matches!(self.target, Target::File(_)) {
            // WAL is a property of the file: once set, later connections only read it. Setting it
            // again would wait for the writers' lock, which made opening a connection under load
            // take up to hundreds of milliseconds.
            let mode = switch_to_wal(&conn, self.busy_timeout)?;
            if !mode.eq_ignore_ascii_case("wal") {
                log::debug!(target: "millpond::sqlite", "journal_mode stays {mode} (WAL not available here)");
            }
        }
        if let Some(sql) = &self.init {
            conn.execute_batch(sql)?;
        }
        Ok(conn)
    }

    /// `SELECT 1`: SQLite is in-process, so it cannot hang on a network; the timeout is not
    /// needed.
    fn is_valid(&self, conn: &mut Connection, _timeout: Duration) -> Result<(), rusqlite::Error> {
        conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
            .map(drop)
    }

    /// An SQLite connection does not break underneath its owner.
    fn has_broken(&self, _conn: &mut Connection) -> bool {
        false
    }

    fn transaction_state(&self, conn: &mut Connection) -> TransactionState {
        if conn.is_autocommit() {
            TransactionState::Idle
        } else {
            TransactionState::Active
        }
    }

    fn reset(&self, conn: &mut Connection, action: ResetAction<'_>) -> Result<(), rusqlite::Error> {
        match action {
            ResetAction::Rollback => conn.execute_batch("ROLLBACK"),
            ResetAction::Commit => conn.execute_batch("COMMIT"),
            ResetAction::Statement(sql) => conn.execute_batch(sql),
        }
    }
}

/// Puts a file database in WAL mode unless it is already, and says the mode it is in. Two
/// connections opening a new file at once can each hold the lock the other needs to switch;
/// SQLite then answers "busy" at once, without waiting in its busy handler (waiting could
/// deadlock). The loser looks again (the winner may have switched the file already) and tries
/// again, for at most `limit` (the busy timeout), as the busy handler would have.
fn switch_to_wal(conn: &Connection, limit: Duration) -> Result<String, rusqlite::Error> {
    let started = std::time::Instant::now();
    loop {
        let attempt = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get::<_, String>(0))
            .and_then(|current| {
                if current.eq_ignore_ascii_case("wal") {
                    Ok(current)
                } else {
                    conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0))
                }
            });
        match attempt {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < limit =>
            {
                // Backs off as SQLite's own busy handler does, briefly.
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_files_and_memory() {
        assert_eq!(
            SqliteManager::from_url("sqlite:///tmp/a.db").unwrap().path(),
            Some(Path::new("/tmp/a.db"))
        );
        assert_eq!(
            SqliteManager::from_url("sqlite://rel/a.db").unwrap().path(),
            Some(Path::new("rel/a.db"))
        );
        assert_eq!(
            SqliteManager::from_url("sqlite:rel.db").unwrap().path(),
            Some(Path::new("rel.db"))
        );
        assert_eq!(
            SqliteManager::from_url("plain.db").unwrap().path(),
            Some(Path::new("plain.db"))
        );
        assert_eq!(SqliteManager::from_url("sqlite::memory:").unwrap().path(), None);
        let m = SqliteManager::from_url("sqlite:///tmp/b.db?mode=ro&busy_timeout_ms=250&wal=false").unwrap();
        assert!(m.flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY));
        assert_eq!(m.busy_timeout, Duration::from_millis(250));
        assert!(!m.wal);
    }

    #[test]
    fn bad_urls_say_what_is_accepted() {
        let err = SqliteManager::from_url("sqlite:///tmp/a.db?color=blue").unwrap_err();
        assert!(
            err.message.contains("`color`") && err.message.contains("mode, busy_timeout_ms and wal"),
            "{err}"
        );
        let err = SqliteManager::from_url("sqlite:///tmp/a.db?mode=x").unwrap_err();
        assert!(err.message.contains("ro, rw or rwc"), "{err}");
        let err = SqliteManager::from_url("sqlite:").unwrap_err();
        assert!(err.message.contains("names no database"), "{err}");
    }

    #[test]
    fn two_managers_get_two_memory_databases() {
        let name = |m: SqliteManager| match m.target {
            Target::Memory { name, .. } => name,
            Target::File(_) => unreachable!(),
        };
        assert_ne!(name(SqliteManager::memory()), name(SqliteManager::memory()));
    }
}
