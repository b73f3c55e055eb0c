//! [`JdbcConnection`]: statements, queries, batches and transactions on one `java.sql.Connection`,
//! with the transaction state kept for the pool.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use jni::JNIEnv;
use jni::objects::{GlobalRef, JObject, JValue};

use super::error::{JavaResult, JdbcError, Vendor, is_lost_connection, take_exception};
use super::jvm::{FRAME_CAPACITY, JavaRef, Jvm};
use super::methods;
use super::statement::JdbcStatement;
use super::values::{Reader, bind, read, rust_string};
use crate::backends::txn::{Dialect, TxTracker};
use crate::manage::{ResetAction, TransactionState};
use crate::sql::{FromValue, Params, Row, Translated, Translator, Value};

/// A pooled JDBC connection.
///
/// SQL takes parameters in any one of the styles `?`, `%s`, `%(name)s` and `:name` (see
/// [`crate::sql::translate`]); values are always bound, never spliced in. Rows come back as
/// [`Row`]s of [`Value`]s.
///
/// The transaction state is known without asking the server: with autocommit off, any
/// statement since the last commit or rollback leaves a transaction open; with autocommit on,
/// only an explicit `BEGIN` or `START TRANSACTION` does. The pool rolls back only connections
/// with a transaction open, and puts autocommit back as the manager set it.
pub struct JdbcConnection {
    pub(super) jvm: &'static Jvm,
    pub(super) conn: JavaRef,
    pub(super) translator: Translator,
    pub(super) vendor: Vendor,
    autocommit: bool,
    default_autocommit: bool,
    /// Autocommit off: a statement ran since the last commit or rollback.
    dirty: bool,
    /// Autocommit on: explicit `BEGIN`/`COMMIT` seen in the SQL.
    tracker: TxTracker,
    /// The raw connection was lent out: nothing is certain.
    lost_track: bool,
    /// An operation failed with a lost-connection error.
    broken: bool,
    /// The driver has `get`/`setNetworkTimeout` (until one fails: then it is not asked again).
    network_timeouts: bool,
    /// The network timeout as last set or read, while only this type can have changed it
    /// (`None` after [`JdbcConnection::raw`]): saves a `getNetworkTimeout` per bounded call.
    network_timeout: Option<i32>,
}

impl fmt::Debug for JdbcConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcConnection")
            .field("vendor", &self.vendor)
            .field("autocommit", &self.autocommit)
            .field("transaction_state", &self.transaction_state())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// Closes a JDBC resource, ignoring (and clearing) any exception: used on paths that already
/// have a result or an error to report.
pub(super) fn close_quietly(env: &mut JNIEnv<'_>, obj: &JObject<'_>) {
    if !obj.is_null() && methods::close(env, obj).is_err() {
        let _ = take_exception(env);
    }
}

impl JdbcConnection {
    pub(super) fn new(
        jvm: &'static Jvm,
        conn: JavaRef,
        translator: Translator,
        vendor: Vendor,
        autocommit: bool,
    ) -> JdbcConnection {
        JdbcConnection {
            jvm,
            conn,
            translator,
            vendor,
            autocommit,
            default_autocommit: autocommit,
            dirty: false,
            tracker: TxTracker::new(Dialect::MySql),
            lost_track: false,
            broken: false,
            network_timeouts: true,
            network_timeout: None,
        }
    }

    /// Runs `f` with this thread's JNI environment and the `java.sql.Connection`, noting a
    /// lost-connection error.
    pub(super) fn call<T>(
        &mut self,
        f: impl FnOnce(&mut JNIEnv<'_>, &JObject<'static>) -> Result<T, JdbcError>,
    ) -> Result<T, JdbcError> {
        let conn = self.conn.as_obj();
        let result = self.jvm.with_env(|env| f(env, conn));
        if let Err(err) = &result
            && is_lost_connection(err, self.vendor)
        {
            self.broken = true;
        }
        result
    }

    /// Records that `sql` is about to run, for the transaction state.
    pub(super) fn observe(&mut self, sql: &str) {
        if self.autocommit {
            self.tracker.observe(sql);
        } else {
            self.dirty = true;
        }
    }

    pub(super) fn translate(
        &self,
        sql: &str,
        params: &Params,
    ) -> Result<(Translated, Vec<Value>), JdbcError> {
        let translated = self.translator.translate(sql)?;
        let values = translated.values(params)?;
        Ok((translated, values))
    }

    /// Runs a statement that returns no rows (or whose rows are not wanted) and returns the
    /// number of rows it changed (0 when the driver does not say).
    pub fn execute(&mut self, sql: &str, params: impl Into<Params>) -> Result<u64, JdbcError> {
        let (translated, values) = self.translate(sql, &params.into())?;
        self.observe(sql);
        self.call(|env, conn| {
            let stmt = prepare(env, conn, translated.sql())?;
            let result = bind_all(env, &stmt, &values).and_then(|()| execute_update(env, &stmt));
            close_quietly(env, &stmt);
            result
        })
    }

    /// Runs SQL as it is, without placeholders or parameters, through a plain
    /// `java.sql.Statement` (for DDL, session settings, or SQL whose `?` must stay as is).
    pub fn execute_unprepared(&mut self, sql: &str) -> Result<u64, JdbcError> {
        self.observe(sql);
        self.call(|env, conn| {
            let stmt = env
                .call_method(conn, "createStatement", "()Ljava/sql/Statement;", &[])
                .and_then(|v| v.l())
                .or_throw(env)?;
            let result = env
                .new_string(sql)
                .or_throw(env)
                .and_then(|text| {
                    env.call_method(&stmt, "execute", "(Ljava/lang/String;)Z", &[(&text).into()])
                        .or_throw(env)
                })
                .and_then(|_| update_count(env, &stmt));
            close_quietly(env, &stmt);
            result
        })
    }

    /// Runs a query and returns all its rows (none when the statement returns no result set).
    pub fn query(&mut self, sql: &str, params: impl Into<Params>) -> Result<Vec<Row>, JdbcError> {
        let mut rows = Vec::new();
        self.query_each(sql, params, |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Runs a query and hands each row to `f` as it is read, holding only one row at a time
    /// (the driver may still fetch ahead). An error from `f` stops the query and is returned.
    pub fn query_each(
        &mut self,
        sql: &str,
        params: impl Into<Params>,
        f: impl FnMut(Row) -> Result<(), JdbcError>,
    ) -> Result<(), JdbcError> {
        let (translated, values) = self.translate(sql, &params.into())?;
        self.observe(sql);
        self.call(|env, conn| {
            let stmt = prepare(env, conn, translated.sql())?;
            let result = bind_all(env, &stmt, &values).and_then(|()| read_results(env, &stmt, f));
            close_quietly(env, &stmt);
            result
        })
    }

    /// The first row of a query, if there is one.
    pub fn query_row(&mut self, sql: &str, params: impl Into<Params>) -> Result<Option<Row>, JdbcError> {
        let mut first = None;
        self.query_each(sql, params, |row| {
            if first.is_none() {
                first = Some(row);
            }
            Ok(())
        })?;
        Ok(first)
    }

    /// The first column of the first row, converted to `T`
    /// (`let n: i64 = conn.query_scalar("SELECT count(*) FROM t", ())?`). No row is an error;
    /// ask for an `Option<T>` to accept `NULL`.
    pub fn query_scalar<T: FromValue>(
        &mut self,
        sql: &str,
        params: impl Into<Params>,
    ) -> Result<T, JdbcError> {
        let row = self
            .query_row(sql, params)?
            .ok_or_else(|| JdbcError::new(super::JdbcErrorKind::Value, "the query returned no rows"))?;
        Ok(row.get(0)?)
    }

    /// Runs one statement once per set of parameters, sent as one JDBC batch; returns each
    /// run's update count (`-2`, `Statement.SUCCESS_NO_INFO`, when the driver does not say).
    pub fn execute_batch<P: Into<Params>>(
        &mut self,
        sql: &str,
        rows: impl IntoIterator<Item = P>,
    ) -> Result<Vec<i64>, JdbcError> {
        let mut stmt = self.prepare(sql)?;
        for params in rows {
            stmt.add_batch(params)?;
        }
        stmt.execute_batch()
    }

    /// Prepares a statement to run many times, or to batch.
    pub fn prepare(&mut self, sql: &str) -> Result<JdbcStatement<'_>, JdbcError> {
        JdbcStatement::new(self, sql)
    }

    /// Whether each statement is committed as it completes.
    pub fn autocommit(&self) -> bool {
        self.autocommit
    }

    /// Turns autocommit on or off (`Connection.setAutoCommit`). Turning it on commits an open
    /// transaction, as JDBC says. The manager's setting is put back when the connection returns
    /// to the pool.
    pub fn set_autocommit(&mut self, on: bool) -> Result<(), JdbcError> {
        self.call(|env, conn| {
            env.call_method(conn, "setAutoCommit", "(Z)V", &[JValue::Bool(on.into())])
                .or_throw(env)
                .map(drop)
        })?;
        if on && !self.autocommit {
            self.dirty = false;
        }
        self.autocommit = on;
        Ok(())
    }

    /// Commits the open transaction: `Connection.commit()` with autocommit off, a `COMMIT`
    /// statement after an explicit `BEGIN` with autocommit on, nothing otherwise.
    pub fn commit(&mut self) -> Result<(), JdbcError> {
        self.end(true)
    }

    /// Rolls the open transaction back, as [`JdbcConnection::commit`] commits it.
    pub fn rollback(&mut self) -> Result<(), JdbcError> {
        self.end(false)
    }

    fn end(&mut self, commit: bool) -> Result<(), JdbcError> {
        if self.autocommit {
            if self.tracker.state() != TransactionState::Idle || self.lost_track {
                self.execute_unprepared(if commit { "COMMIT" } else { "ROLLBACK" })?;
            }
        } else {
            let method = if commit { "commit" } else { "rollback" };
            self.call(|env, conn| env.call_method(conn, method, "()V", &[]).or_throw(env).map(drop))?;
        }
        self.dirty = false;
        self.tracker.ended();
        self.lost_track = false;
        Ok(())
    }

    /// Starts a transaction: autocommit goes off until the transaction is committed or rolled
    /// back (dropping it rolls back).
    pub fn transaction(&mut self) -> Result<Transaction<'_>, JdbcError> {
        let restore = self.autocommit;
        if restore {
            self.set_autocommit(false)?;
        }
        Ok(Transaction {
            conn: self,
            restore_autocommit: restore,
            done: false,
        })
    }

    /// `Connection.isValid`, waiting at most `timeout`, sub-second ones included.
    ///
    /// JDBC's `isValid` counts whole seconds (and 0 would mean no limit), so it is given the
    /// timeout rounded up, and the wait is bounded as the reset on return is: each read waits at
    /// most nine tenths of `timeout` (drivers with `setNetworkTimeout`, JDBC 4.1, which
    /// PgJDBC's and MariaDB Connector/J's `isValid` keep when it is shorter than their own; the
    /// previous network timeout is put back after), and a watchdog aborts the connection
    /// (`Connection.abort`) when `timeout` passes all the same. Out of time, the answer is
    /// `false` and the connection is broken (the pool closes it). Drivers older than JDBC 4.1
    /// can be neither bounded nor aborted; they take up to the rounded-up timeout.
    pub fn is_valid(&mut self, timeout: Duration) -> Result<bool, JdbcError> {
        let secs = i32::try_from(
            timeout
                .as_secs()
                .saturating_add(u64::from(timeout.subsec_nanos() > 0)),
        )
        .unwrap_or(i32::MAX)
        .max(1);
        // Not the watchdog alone: MariaDB Connector/J's abort first opens a new connection to
        // KILL the session, which a silent network holds for a whole second.
        let bounded = self.bounded(
            timeout,
            |conn| {
                conn.call(|env, conn| {
                    env.call_method(conn, "isValid", "(I)Z", &[JValue::Int(secs)])
                        .and_then(|v| v.z())
                        .or_throw(env)
                })
            },
            // Drivers answer a read cut short by the network timeout with `false`.
            |result| matches!(result, Ok(true)),
        );
        match bounded {
            Bounded::Ended(result) => result,
            Bounded::TimedOut => Ok(false),
        }
    }

    /// `Connection.isClosed`: whether the connection was closed (drivers answer from local
    /// state, without a round trip).
    pub fn is_closed(&mut self) -> Result<bool, JdbcError> {
        self.call(|env, conn| {
            env.call_method(conn, "isClosed", "()Z", &[])
                .and_then(|v| v.z())
                .or_throw(env)
        })
    }

    /// Whether an operation failed with a lost-connection error, or the connection is closed.
    pub fn is_broken(&mut self) -> bool {
        self.broken || self.is_closed().unwrap_or(true)
    }

    /// The database product and version (`DatabaseMetaData`), for example `H2 2.1.214 (2022-06-13)`.
    pub fn server_version(&mut self) -> Result<String, JdbcError> {
        self.call(|env, conn| {
            let meta = env
                .call_method(conn, "getMetaData", "()Ljava/sql/DatabaseMetaData;", &[])
                .and_then(|v| v.l())
                .or_throw(env)?;
            let name = super::values::string_call(env, &meta, "getDatabaseProductName")?;
            let version = super::values::string_call(env, &meta, "getDatabaseProductVersion")?;
            Ok(format!("{name} {version}"))
        })
    }

    /// The `java.sql.Connection` itself, for JNI calls of your own. Work done through it is
    /// invisible to the transaction tracking, so on return the connection's autocommit is read
    /// back from the driver, the connection is rolled back, and autocommit is put back as the
    /// manager set it.
    pub fn raw(&mut self) -> &GlobalRef {
        self.lost_track = true;
        self.network_timeout = None;
        self.conn.global().expect("held until dropped")
    }

    /// The transaction state, without I/O (see the type's docs).
    pub fn transaction_state(&self) -> TransactionState {
        if self.lost_track || self.autocommit != self.default_autocommit {
            TransactionState::Unknown
        } else if !self.autocommit {
            if self.dirty {
                TransactionState::Active
            } else {
                TransactionState::Idle
            }
        } else {
            self.tracker.state()
        }
    }

    /// Puts autocommit back as the manager set it, if it was changed (after a transaction ended,
    /// so the connection goes back to the pool needing no reset).
    pub(crate) fn restore_autocommit(&mut self) -> Result<(), JdbcError> {
        if self.autocommit != self.default_autocommit {
            self.set_autocommit(self.default_autocommit)?;
        }
        Ok(())
    }

    /// `Connection.setNetworkTimeout`: how long any one read may wait on the server, in
    /// milliseconds (0: no limit).
    pub(super) fn set_network_timeout(&mut self, ms: i32) -> Result<(), JdbcError> {
        self.network_timeout = None;
        self.call(|env, conn| {
            let executor = common_pool(env)?;
            env.call_method(
                conn,
                "setNetworkTimeout",
                "(Ljava/util/concurrent/Executor;I)V",
                &[executor.into(), JValue::Int(ms)],
            )
            .or_throw(env)
            .map(drop)
        })?;
        self.network_timeout = Some(ms);
        Ok(())
    }

    /// Sets the network timeout to `ms` and returns the one to put back, or `None` when the
    /// driver cannot (then only the watchdog bounds the operation).
    fn bound_network(&mut self, ms: i32) -> Option<i32> {
        if !self.network_timeouts {
            return None;
        }
        let previous = match self.network_timeout.filter(|_| !self.lost_track) {
            Some(known) => Ok(known),
            None => self.call(|env, conn| {
                env.call_method(conn, "getNetworkTimeout", "()I", &[])
                    .and_then(|v| v.i())
                    .or_throw(env)
            }),
        };
        let previous = previous.and_then(|previous| self.set_network_timeout(ms).map(|()| previous));
        // Drivers without them (embedded ones, pre-JDBC 4.1) throw each time: asked once.
        self.network_timeouts = previous.is_ok();
        previous.ok()
    }

    /// Runs `op` within `timeout`, for the validation and the reset: each read waits at most
    /// nine tenths of `timeout` (`setNetworkTimeout`, put back after), and a watchdog aborts the
    /// connection if `timeout` passes all the same. Timed out (aborted, or a result that
    /// `finished` rejects coming after the read bound, so a read was cut short), the connection
    /// is marked broken: a read cut short leaves the protocol in an unknown state.
    fn bounded<T>(
        &mut self,
        timeout: Duration,
        op: impl FnOnce(&mut Self) -> Result<T, JdbcError>,
        finished: impl FnOnce(&Result<T, JdbcError>) -> bool,
    ) -> Bounded<T> {
        let began = Instant::now();
        // The bound as set, in whole milliseconds (at least 1), so that a read that ended on it
        // is recognised below.
        let ms = i32::try_from((timeout - timeout / 10).as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        let read_bound = Duration::from_millis(ms.unsigned_abs().into());
        let previous = self.bound_network(ms);
        let watchdog = match Watchdog::arm(self.jvm, &self.conn, timeout) {
            Ok(watchdog) => watchdog,
            Err(err) => return Bounded::Ended(Err(err)),
        };
        let result = op(self);
        let aborted = watchdog.disarm();
        if aborted || (previous.is_some() && !finished(&result) && began.elapsed() >= read_bound) {
            self.broken = true;
            return Bounded::TimedOut;
        }
        let restored = previous.map_or(Ok(()), |previous| self.set_network_timeout(previous));
        // The operation's own error comes first; a bound left in place would cut later reads.
        Bounded::Ended(result.and_then(|value| restored.map(|()| value)))
    }

    /// The pool's reset, within `timeout`: ends the transaction as asked, then puts autocommit
    /// back. Each read of the reset waits at most nine tenths of `timeout` (drivers with
    /// `setNetworkTimeout`, JDBC 4.1; the previous network timeout is put back after), so
    /// that the reset ends by itself; and a watchdog aborts the connection (as for
    /// [`JdbcConnection::is_valid`]) if `timeout` passes all the same. Either way the reset
    /// fails with a [`JdbcErrorKind::Timeout`] error and the connection is reported broken, so
    /// the pool closes it.
    ///
    /// [`JdbcErrorKind::Timeout`]: super::JdbcErrorKind::Timeout
    pub(super) fn reset(&mut self, action: ResetAction<'_>, timeout: Duration) -> Result<(), JdbcError> {
        // Not the watchdog alone: MariaDB Connector/J's abort first opens a new connection to
        // KILL the session, which a silent network holds as long as the reset itself.
        match self.bounded(timeout, |conn| conn.reset_unbounded(action), Result::is_ok) {
            Bounded::Ended(result) => result,
            Bounded::TimedOut => Err(JdbcError::new(
                super::JdbcErrorKind::Timeout,
                format!(
                    "timed out after {} (reset_timeout): the reset on return did not finish, so the \
                     connection is closed",
                    crate::error::Rounded(timeout)
                ),
            )),
        }
    }

    fn reset_unbounded(&mut self, action: ResetAction<'_>) -> Result<(), JdbcError> {
        if self.lost_track {
            // raw() may have changed autocommit behind our back: left off while the cached value
            // says on, the next borrower's writes would sit in a transaction a later return rolls
            // back. Ask the driver (drivers answer from local state).
            self.autocommit = self.call(|env, conn| {
                env.call_method(conn, "getAutoCommit", "()Z", &[])
                    .and_then(|v| v.z())
                    .or_throw(env)
            })?;
        }
        match action {
            ResetAction::Rollback => self.end(false)?,
            ResetAction::Commit => self.end(true)?,
            ResetAction::Statement(sql) => {
                self.execute_unprepared(sql)?;
            }
        }
        if self.autocommit != self.default_autocommit {
            self.set_autocommit(self.default_autocommit)?;
        }
        self.dirty = false;
        self.tracker.ended();
        self.lost_track = false;
        Ok(())
    }
}

/// How an operation run by [`JdbcConnection::bounded`] ended.
enum Bounded<T> {
    /// Within its timeout, whatever its result (the network timeout put back).
    Ended(Result<T, JdbcError>),
    /// Out of time: the connection is aborted or a read was cut short, and it is marked broken.
    TimedOut,
}

/// Aborts a connection whose validation or reset outlives its timeout. One thread of the
/// process watches every armed watchdog (arming one costs no thread); it touches the JVM only
/// when one fires, and then aborts on a thread of its own, as a driver's abort may block
/// (MariaDB Connector/J's connects again to `KILL` the session) and must not hold up the others.
struct Watchdog {
    /// The deadline and id of the armed watch; `None` once disarmed, or when the timeout is
    /// too long to ever pass.
    key: Option<(Instant, u64)>,
}

/// The armed watches, by deadline, and the ids of those that fired and are not yet disarmed.
struct Watches {
    armed: BTreeMap<(Instant, u64), (&'static Jvm, GlobalRef)>,
    fired: BTreeSet<u64>,
    next_id: u64,
}

static WATCHES: Mutex<Watches> = Mutex::new(Watches {
    armed: BTreeMap::new(),
    fired: BTreeSet::new(),
    next_id: 0,
});

/// Signalled when a watch is armed ahead of the earliest one.
static WATCHES_CHANGED: Condvar = Condvar::new();

/// The watching thread, started by the first watchdog (or why it could not be).
static WATCHER: OnceLock<Result<(), String>> = OnceLock::new();

fn watches() -> MutexGuard<'static, Watches> {
    WATCHES.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watchdog {
    fn arm(jvm: &'static Jvm, conn: &JavaRef, timeout: Duration) -> Result<Watchdog, JdbcError> {
        let started = WATCHER.get_or_init(|| {
            std::thread::Builder::new()
                .name("millpond-jdbc-watchdog".to_owned())
                .spawn(watch)
                .map(drop)
                .map_err(|err| err.to_string())
        });
        if let Err(err) = started {
            return Err(JdbcError::new(
                super::JdbcErrorKind::Jni,
                format!("cannot start the watchdog thread: {err}"),
            ));
        }
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return Ok(Watchdog { key: None });
        };
        let conn = conn.global().expect("held until dropped").clone();
        let mut watches = watches();
        let id = watches.next_id;
        watches.next_id += 1;
        let earliest = watches
            .armed
            .first_key_value()
            .is_none_or(|(&(first, _), _)| deadline < first);
        watches.armed.insert((deadline, id), (jvm, conn));
        drop(watches);
        if earliest {
            WATCHES_CHANGED.notify_all();
        }
        Ok(Watchdog {
            key: Some((deadline, id)),
        })
    }

    /// Stops the watchdog; whether it fired (then the connection was, or is being, aborted,
    /// and must not be reported valid).
    fn disarm(mut self) -> bool {
        self.stop()
    }

    fn stop(&mut self) -> bool {
        let Some(key) = self.key.take() else {
            return false;
        };
        let mut watches = watches();
        let removed = watches.armed.remove(&key);
        let fired = removed.is_none() && watches.fired.remove(&key.1);
        drop(watches);
        // The second handle on the connection's global reference, dropped outside the lock.
        drop(removed);
        fired
    }
}

impl Drop for Watchdog {
    /// A watchdog left armed would abort a healthy connection later.
    fn drop(&mut self) {
        self.stop();
    }
}

/// The watching thread: sleeps until the earliest deadline, then marks what is due as fired
/// and aborts each connection on a thread of its own.
fn watch() {
    let mut watches = watches();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = watches.armed.first_entry()
            && entry.key().0 <= now
        {
            let ((_, id), watched) = entry.remove_entry();
            watches.fired.insert(id);
            due.push(watched);
        }
        if due.is_empty() {
            watches = match watches.armed.first_key_value() {
                Some((&(deadline, _), _)) => {
                    WATCHES_CHANGED
                        .wait_timeout(watches, deadline.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => WATCHES_CHANGED
                    .wait(watches)
                    .unwrap_or_else(PoisonError::into_inner),
            };
            continue;
        }
        drop(watches);
        for (jvm, conn) in due {
            let spawned = std::thread::Builder::new()
                .name("millpond-jdbc-abort".to_owned())
                .spawn(move || {
                    let _ = jvm.with_env(|env| {
                        abort(env, conn.as_obj());
                        Ok(())
                    });
                });
            if let Err(err) = spawned {
                log::warn!(target: "millpond::jdbc", "cannot start a thread to abort a connection past its timeout: {err}");
            }
        }
        watches = self::watches();
    }
}

/// `ForkJoinPool.commonPool()`, the executor given to `abort` and `setNetworkTimeout`, looked
/// up once (a reset sets the network timeout twice).
fn common_pool(env: &mut JNIEnv<'_>) -> Result<&'static JObject<'static>, JdbcError> {
    static COMMON_POOL: OnceLock<GlobalRef> = OnceLock::new();
    if let Some(pool) = COMMON_POOL.get() {
        return Ok(pool.as_obj());
    }
    let pool = env
        .call_static_method(
            "java/util/concurrent/ForkJoinPool",
            "commonPool",
            "()Ljava/util/concurrent/ForkJoinPool;",
            &[],
        )
        .and_then(|v| v.l())
        .or_throw(env)?;
    let global = env.new_global_ref(pool).map_err(JdbcError::jni)?;
    Ok(COMMON_POOL.get_or_init(|| global).as_obj())
}

/// `Connection.abort(ForkJoinPool.commonPool())`, ignoring drivers that do not have it.
fn abort(env: &mut JNIEnv<'_>, conn: &JObject<'_>) {
    let executor = common_pool(env);
    let aborted = executor.and_then(|executor| {
        env.call_method(
            conn,
            "abort",
            "(Ljava/util/concurrent/Executor;)V",
            &[executor.into()],
        )
        .or_throw(env)
    });
    if let Err(err) = aborted {
        log::debug!(target: "millpond::jdbc", "Connection.abort failed: {err}");
        let _ = take_exception(env);
    }
}

impl Drop for JdbcConnection {
    /// Closes the Java connection (not in a forked child, where the JVM must not be touched).
    fn drop(&mut self) {
        let conn = self.conn.as_obj();
        let _ = self.jvm.with_env(|env| {
            close_quietly(env, conn);
            Ok(())
        });
    }
}

/// A transaction on a [`JdbcConnection`]: derefs to it; rolled back if dropped without
/// [`Transaction::commit`].
#[derive(Debug)]
pub struct Transaction<'conn> {
    conn: &'conn mut JdbcConnection,
    restore_autocommit: bool,
    done: bool,
}

impl Transaction<'_> {
    /// Commits, and turns autocommit back on if it was on before.
    pub fn commit(mut self) -> Result<(), JdbcError> {
        self.done = true;
        self.conn.commit()?;
        self.restore()
    }

    /// Rolls back, and turns autocommit back on if it was on before.
    pub fn rollback(mut self) -> Result<(), JdbcError> {
        self.done = true;
        self.conn.rollback()?;
        self.restore()
    }

    fn restore(&mut self) -> Result<(), JdbcError> {
        if self.restore_autocommit {
            self.conn.set_autocommit(true)?;
        }
        Ok(())
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = JdbcConnection;

    fn deref(&self) -> &JdbcConnection {
        self.conn
    }
}

impl std::ops::DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut JdbcConnection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // On failure the state stays Active/Unknown, and the pool's reset rolls back.
            if self.conn.rollback().is_ok() {
                let _ = self.restore();
            }
        }
    }
}

pub(super) fn prepare<'local>(
    env: &mut JNIEnv<'local>,
    conn: &JObject<'_>,
    sql: &str,
) -> Result<JObject<'local>, JdbcError> {
    methods::prepare_statement(env, conn, sql)
}

pub(super) fn bind_all(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, values: &[Value]) -> Result<(), JdbcError> {
    for (i, value) in values.iter().enumerate() {
        let index = i32::try_from(i + 1)
            .map_err(|_| JdbcError::new(super::JdbcErrorKind::Params, "too many parameters"))?;
        // Each value's temporary Java objects are freed as soon as it is bound.
        env.with_local_frame(16, |env| bind(env, stmt, index, value))?;
    }
    Ok(())
}

/// `execute()` on a prepared statement, then its update count (result sets are closed unread).
pub(super) fn execute_update(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<u64, JdbcError> {
    methods::execute(env, stmt)?;
    let count = methods::get_update_count(env, stmt)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The update count of a plain `java.sql.Statement`.
fn update_count(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<u64, JdbcError> {
    let count = env
        .call_method(stmt, "getUpdateCount", "()I", &[])
        .and_then(|v| v.i())
        .or_throw(env)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// `execute()` on a prepared statement, then each row of its result set to `f`, one local
/// frame per row.
pub(super) fn read_results(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    mut f: impl FnMut(Row) -> Result<(), JdbcError>,
) -> Result<(), JdbcError> {
    if !methods::execute(env, stmt)? {
        return Ok(());
    }
    let rs = methods::get_result_set(env, stmt)?;
    let result = read_rows(env, &rs, &mut f);
    close_quietly(env, &rs);
    result
}

fn read_rows(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    f: &mut impl FnMut(Row) -> Result<(), JdbcError>,
) -> Result<(), JdbcError> {
    let (columns, readers) = env.with_local_frame(FRAME_CAPACITY, |env| columns(env, rs))?;
    let width = readers.len();
    loop {
        let row = env.with_local_frame(FRAME_CAPACITY, |env| {
            let more = methods::next(env, rs)?;
            if !more {
                return Ok(None);
            }
            let mut values = Vec::with_capacity(width);
            for (i, reader) in readers.iter().enumerate() {
                // Each column in its own frame: a wide row never outgrows the capacity.
                let index = i32::try_from(i + 1).unwrap_or(i32::MAX);
                values.push(env.with_local_frame(16, |env| read(env, rs, index, *reader))?);
            }
            Ok::<_, JdbcError>(Some(values))
        })?;
        match row {
            Some(values) => f(Row::new(Arc::clone(&columns), values))?,
            None => return Ok(()),
        }
    }
}

/// The column labels and how to read each column.
fn columns(env: &mut JNIEnv<'_>, rs: &JObject<'_>) -> Result<(Arc<[String]>, Vec<Reader>), JdbcError> {
    let meta = methods::get_meta_data(env, rs)?;
    let count = methods::get_column_count(env, &meta)?;
    let mut names = Vec::new();
    let mut readers = Vec::new();
    for i in 1..=count {
        let (name, reader) = env.with_local_frame(16, |env| {
            let name = match methods::get_column_label(env, &meta, i)? {
                Some(label) => rust_string(env, label)?,
                None => String::new(),
            };
            let code = methods::get_column_type(env, &meta, i)?;
            // The type's name is asked only where it can change the reader: integers that are
            // dates (sqlite-jdbc) and pgjdbc's `timestamptz`.
            let reader = match Reader::for_type(code) {
                Reader::Int | Reader::Timestamp => {
                    let type_name = env
                        .call_method(
                            &meta,
                            "getColumnTypeName",
                            "(I)Ljava/lang/String;",
                            &[JValue::Int(i)],
                        )
                        .and_then(|v| v.l())
                        .or_throw(env)?;
                    let type_name = if type_name.is_null() {
                        String::new()
                    } else {
                        rust_string(env, type_name)?
                    };
                    Reader::for_column(code, &type_name)
                }
                reader => reader,
            };
            Ok::<_, JdbcError>((name, reader))
        })?;
        names.push(name);
        readers.push(reader);
    }
    Ok((Arc::from(names), readers))
}
