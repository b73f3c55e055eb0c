//! [`JdbcConnection`]: statements, queries, batches and transactions on one `java.sql.Connection`,
//! with the transaction state kept for the pool and the statements it ran kept prepared.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use jni::JNIEnv;
use jni::objects::{GlobalRef, JObject};

use super::bridge::BridgeSlot;
use super::cache::StatementCache;
use super::error::{
    JavaResult, JdbcError, JdbcErrorKind, Vendor, is_lost_connection, is_statement_unusable, take_exception,
};
use super::jvm::{JavaRef, Jvm};
use super::methods::{self, close_quietly};
use super::rows::{Columns, ReadError, changes_schema, read_results, schema_may_have_changed};
use super::statement::JdbcStatement;
use super::values::{bind, binding_leaves_references};
use crate::backends::txn::{Dialect, TxTracker};
use crate::manage::{ResetAction, TransactionState};
use crate::sql::{FromValue, Params, Row, Translated, Translator, Value};

/// A pooled JDBC connection.
///
/// SQL takes parameters in any one of the styles `?`, `%s`, `%(name)s` and `:name` (see
/// [`crate::sql::translate`]); values are always bound, never spliced in. Rows come back as
/// [`Row`]s of [`Value`]s.
///
/// The statements it runs are kept prepared, up to
/// [`statement_cache_capacity`](super::JdbcManager::statement_cache_capacity) of them: SQL run
/// again on the same connection binds and executes only, and its result's columns are read
/// once.
///
/// The transaction state is known without asking the server: with autocommit off, any
/// statement since the last commit or rollback leaves a transaction open; with autocommit on,
/// only an explicit `BEGIN` or `START TRANSACTION` does. The pool rolls back only connections
/// with a transaction open, and puts autocommit back as the manager set it. Whether the
/// connection is broken is known without asking either (see [`JdbcConnection::is_broken`]), so a
/// connection given back clean costs no call into the JVM.
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
    /// An operation failed in a way that leaves the connection unusable.
    broken: bool,
    /// DDL ran inside the open transaction: other connections see it when it ends.
    ddl_in_transaction: bool,
    /// The driver has `get`/`setNetworkTimeout` (until one fails: then it is not asked again).
    network_timeouts: bool,
    /// The network timeout as last set or read, while only this type can have changed it
    /// (`None` after [`JdbcConnection::raw`]): saves a `getNetworkTimeout` per bounded call.
    network_timeout: Option<i32>,
    /// The prepared statements kept for the SQL this connection ran.
    statements: StatementCache,
    /// What runs a kept statement's query in one call into the JVM, made on first use.
    bridge: BridgeSlot,
}

impl fmt::Debug for JdbcConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcConnection")
            .field("vendor", &self.vendor)
            .field("autocommit", &self.autocommit)
            .field("transaction_state", &self.transaction_state())
            .field("broken", &self.broken)
            .field("cached_statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

/// Whether a failed operation leaves the connection unusable: a lost connection (see
/// [`is_lost_connection`]), a failure of the JNI layer itself, or, when the driver threw
/// anything else, a connection the driver says is closed (asked only then: `isClosed` is
/// answered locally).
fn breaks(env: &mut JNIEnv<'_>, conn: &JObject<'_>, err: &JdbcError, vendor: Vendor) -> bool {
    if is_lost_connection(err, vendor) || err.is_jni_failure() {
        return true;
    }
    matches!(err.kind(), JdbcErrorKind::Sql | JdbcErrorKind::Java)
        && methods::is_closed(env, conn).unwrap_or(true)
}

/// SQL ready to run.
struct Ready {
    /// As the driver gets it.
    translated: Arc<Translated>,
    /// The values to bind, in order.
    values: Vec<Value>,
    /// Where its statement is in the cache, when one is kept for it (so it is no DDL).
    kept_at: Option<usize>,
}

/// How a run of a kept statement failed.
enum Failure {
    /// The driver says the statement can no longer be used: prepare it again.
    Unusable(JdbcError),
    /// Anything else.
    Other(JdbcError),
}

impl Failure {
    fn into_inner(self) -> JdbcError {
        match self {
            Failure::Unusable(err) | Failure::Other(err) => err,
        }
    }
}

impl JdbcConnection {
    pub(super) fn new(
        jvm: &'static Jvm,
        conn: JavaRef,
        translator: Translator,
        vendor: Vendor,
        autocommit: bool,
        statement_cache_capacity: usize,
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
            ddl_in_transaction: false,
            network_timeouts: true,
            network_timeout: None,
            statements: StatementCache::new(statement_cache_capacity),
            bridge: BridgeSlot::default(),
        }
    }

    /// Runs `f` with this thread's JNI environment and the `java.sql.Connection`, noting a
    /// failure that leaves the connection unusable.
    pub(super) fn call<T>(
        &mut self,
        f: impl FnOnce(&mut JNIEnv<'_>, &JObject<'static>) -> Result<T, JdbcError>,
    ) -> Result<T, JdbcError> {
        self.call_bridged(|env, conn, _| f(env, conn))
    }

    /// [`JdbcConnection::call`], `f` given the connection's bridge too.
    pub(super) fn call_bridged<T>(
        &mut self,
        f: impl FnOnce(&mut JNIEnv<'_>, &JObject<'static>, &mut BridgeSlot) -> Result<T, JdbcError>,
    ) -> Result<T, JdbcError> {
        let conn = self.conn.as_obj();
        let (vendor, bridge) = (self.vendor, &mut self.bridge);
        let mut broken = false;
        let result = self.jvm.with_env(|env| {
            let result = f(env, conn, bridge);
            if let Err(err) = &result {
                broken = breaks(env, conn, err, vendor);
            }
            result
        });
        // A JNI failure outside `f` (attaching, a frame) leaves nothing certain either.
        if broken || result.as_ref().is_err_and(JdbcError::is_jni_failure) {
            self.broken = true;
        }
        result
    }

    /// Records that `sql` is about to run, for the transaction state; says whether it may change
    /// a table's shape (then [`JdbcConnection::ran`] must follow it).
    pub(super) fn observe(&mut self, sql: &str) -> bool {
        self.observe_transaction(sql);
        changes_schema(sql)
    }

    /// Records that `sql` is about to run, for the transaction state only.
    fn observe_transaction(&mut self, sql: &str) {
        if self.autocommit {
            self.tracker.observe(sql);
        } else {
            self.dirty = true;
        }
    }

    /// Records that SQL [`observe`](JdbcConnection::observe)d ran (or failed): DDL, once
    /// others can see it, makes every connection read the columns of its kept statements again.
    pub(super) fn ran(&mut self, ddl: bool) {
        let open = self.transaction_state() != TransactionState::Idle;
        if ddl && open {
            self.ddl_in_transaction = true;
        } else if ddl || (self.ddl_in_transaction && !open) {
            self.ddl_in_transaction = false;
            schema_may_have_changed();
        }
    }

    /// `sql` translated for the driver (as it was when its statement was kept, or now), with
    /// the values to bind from `params`.
    fn translate(&self, sql: &str, params: Params) -> Result<Ready, JdbcError> {
        let (translated, kept_at) = match self.statements.translation(sql) {
            Some((translated, at)) => (translated, Some(at)),
            None => (Arc::new(self.translator.translate(sql)?), None),
        };
        let values = values_to_bind(&translated, params)?;
        Ok(Ready {
            translated,
            values,
            kept_at,
        })
    }

    /// Runs a statement that returns no rows (or whose rows are not wanted) and returns the
    /// number of rows it changed (0 when the driver does not say).
    pub fn execute(&mut self, sql: &str, params: impl Into<Params>) -> Result<u64, JdbcError> {
        let ready = self.translate(sql, params.into())?;
        self.run_prepared(
            sql,
            &ready,
            // A kept statement's update is one call into the JVM through the bridge.
            |env, stmt, values, _, bridge| update_bound(env, stmt, values, bridge).map_err(ReadError::Driver),
            || true,
        )
    }

    /// Runs SQL as it is, without placeholders or parameters, through a plain
    /// `java.sql.Statement` (for DDL, session settings, or SQL whose `?` must stay as is).
    pub fn execute_unprepared(&mut self, sql: &str) -> Result<u64, JdbcError> {
        let ddl = self.observe(sql);
        let result = self.call(|env, conn| {
            let stmt = methods::create_statement(env, conn)?;
            let result = methods::execute_sql(env, &stmt, sql).and_then(|_| update_count(env, &stmt));
            close_quietly(env, &stmt);
            env.delete_local_ref(stmt).or_throw(env)?;
            result
        });
        self.ran(ddl);
        result
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
    /// (the driver may still fetch ahead, and a kept statement's rows cross from the JVM about
    /// 16 KB at a time). An error from `f` stops the query and is returned.
    pub fn query_each(
        &mut self,
        sql: &str,
        params: impl Into<Params>,
        mut f: impl FnMut(Row) -> Result<(), JdbcError>,
    ) -> Result<(), JdbcError> {
        self.query_rows(sql, params.into(), i32::MAX, |row| {
            f(row).map(ControlFlow::Continue)
        })
    }

    /// Runs a query and hands its rows to `f` until `f` breaks, an error, the last row, or
    /// `max_rows` rows (past which the driver is not asked for more).
    fn query_rows(
        &mut self,
        sql: &str,
        params: Params,
        max_rows: i32,
        mut f: impl FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
    ) -> Result<(), JdbcError> {
        let ready = self.translate(sql, params)?;
        // A row handed over must never be handed over again by a second run.
        let delivered = Cell::new(false);
        let mut deliver = |row| {
            delivered.set(true);
            f(row)
        };
        let prepared = ready.translated.sql();
        self.run_prepared(
            sql,
            &ready,
            |env, stmt, values, columns, bridge| {
                query_bound(
                    env,
                    stmt,
                    prepared,
                    values,
                    columns,
                    bridge,
                    max_rows,
                    &mut deliver,
                )
            },
            || !delivered.get(),
        )
    }

    /// Runs `sql` (`ready`: translated for the driver, with its values) bound to its values, then
    /// `run` on the statement: through the statement it was kept as, or one prepared now and
    /// kept, when the cache is on and `sql` is not DDL; else through a statement of its own,
    /// closed after.
    ///
    /// A kept statement that the driver says can no longer be used (see
    /// [`is_statement_unusable`]) is forgotten and, outside a transaction and while `may_retry`
    /// says so (no row reached the caller), prepared again and run once more; one whose run
    /// failed any other way (but for the caller's own error) is forgotten and closed, so that
    /// nothing of a failed run, a parameter or a result, is left for the next. A clean run
    /// leaves nothing either: every run binds every parameter and closes its result set.
    fn run_prepared<T>(
        &mut self,
        sql: &str,
        ready: &Ready,
        mut run: impl RunStatement<T>,
        may_retry: impl Fn() -> bool,
    ) -> Result<T, JdbcError> {
        let (prepared, values) = (ready.translated.sql(), &ready.values[..]);
        let idle_before = self.transaction_state() == TransactionState::Idle;
        self.observe_transaction(sql);
        // DDL is never kept: SQL whose statement is kept is none.
        let ddl = ready.kept_at.is_none() && changes_schema(sql);
        if ddl || !self.statements.is_on() {
            // Not through the bridge: a statement of its own has no columns known before it runs.
            let mut no_bridge = BridgeSlot::Unavailable;
            let result = self.call(|env, conn| {
                let stmt = methods::prepare_statement(env, conn, prepared)?;
                let result =
                    run(env, &stmt, values, &mut None, &mut no_bridge).map_err(ReadError::into_inner);
                close_quietly(env, &stmt);
                env.delete_local_ref(stmt).or_throw(env)?;
                result
            });
            self.ran(ddl);
            return result;
        }
        let result = match self.run_kept(prepared, ready.kept_at, values, &mut run) {
            Err(Failure::Unusable(err))
                if idle_before && self.transaction_state() == TransactionState::Idle && may_retry() =>
            {
                log::debug!(target: "millpond::jdbc", "a kept statement can no longer be used ({err}); preparing it again");
                self.run_kept(prepared, None, values, &mut run)
            }
            other => other,
        };
        if ready.kept_at.is_none() {
            self.statements.remember(sql, &ready.translated);
        }
        // A COMMIT run here ends a transaction that may have run DDL.
        self.ran(false);
        result.map_err(Failure::into_inner)
    }

    /// One run of the statement kept for `sql` (prepared and kept now if there is none), found
    /// at `at` in the cache when that is known.
    fn run_kept<T>(
        &mut self,
        sql: &str,
        at: Option<usize>,
        values: &[Value],
        run: &mut impl RunStatement<T>,
    ) -> Result<T, Failure> {
        let conn = self.conn.as_obj();
        let (vendor, statements, bridge) = (self.vendor, &mut self.statements, &mut self.bridge);
        let mut broken = false;
        let result = self.jvm.with_env(|env| {
            let kept = statements.get_or_insert_with(sql, at, || {
                let stmt = methods::prepare_statement(env, conn, sql)?;
                let kept = JavaRef::new(env, &stmt);
                env.delete_local_ref(stmt).or_throw(env)?;
                kept
            });
            let (entry, evicted) = match kept {
                Ok(kept) => kept,
                Err(err) => {
                    broken = breaks(env, conn, &err, vendor);
                    return Ok(Err(Failure::Other(err)));
                }
            };
            if let Some(evicted) = evicted {
                close_quietly(env, evicted.as_obj());
            }
            let stmt = entry.statement.as_obj();
            let result = run(env, stmt, values, &mut entry.columns, bridge);
            let err = match result {
                Ok(value) => return Ok(Ok(value)),
                Err(ReadError::Caller(err)) => return Ok(Err(Failure::Other(err))),
                Err(ReadError::Driver(err)) => err,
            };
            // Nothing of a failed run (a parameter, a half-read result) may reach the next.
            if let Some(forgotten) = statements.remove(sql) {
                close_quietly(env, forgotten.as_obj());
            }
            broken = breaks(env, conn, &err, vendor);
            Ok(Err(if is_statement_unusable(&err, vendor) {
                Failure::Unusable(err)
            } else {
                Failure::Other(err)
            }))
        });
        if broken || result.as_ref().is_err_and(JdbcError::is_jni_failure) {
            self.broken = true;
        }
        result.map_err(Failure::Other)?
    }

    /// How many prepared statements this connection keeps now (see
    /// [`JdbcManager::statement_cache_capacity`](super::JdbcManager::statement_cache_capacity)).
    pub fn cached_statements(&self) -> usize {
        self.statements.len()
    }

    /// The SQL of the statements this connection keeps prepared, as the driver was given it
    /// (placeholders rewritten to `?`), least recently used first.
    pub fn cached_statement_sql(&self) -> Vec<&str> {
        self.statements.keys()
    }

    /// The first row of a query, if there is one (the others are not read).
    pub fn query_row(&mut self, sql: &str, params: impl Into<Params>) -> Result<Option<Row>, JdbcError> {
        let mut first = None;
        self.query_rows(sql, params.into(), 1, |row| {
            first = Some(row);
            Ok(ControlFlow::Break(()))
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
            .ok_or_else(|| JdbcError::new(JdbcErrorKind::Value, "the query returned no rows"))?;
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

    /// Prepares a statement to run many times, or to batch. It is the caller's own (closed when
    /// dropped), apart from the statements the connection keeps.
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
        self.call(|env, conn| methods::set_auto_commit(env, conn, on))?;
        if on && !self.autocommit {
            self.dirty = false;
        }
        self.autocommit = on;
        self.ran(false);
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
        } else if commit {
            self.call(methods::commit)?;
        } else {
            self.call(methods::rollback)?;
        }
        self.dirty = false;
        self.tracker.ended();
        self.regain_track();
        self.ran(false);
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
            |conn| conn.call(|env, conn| methods::is_valid(env, conn, secs)),
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
        self.call(methods::is_closed)
    }

    /// Whether the connection is known to be unusable, without a call into the JVM: an
    /// operation on it failed with a lost connection (SQLState class `08` or the vendor's codes,
    /// see [`is_lost_connection`](super::is_lost_connection)), with a failure of the JNI layer,
    /// or with any other exception after which the driver said it was closed; or a validation
    /// or reset ran out of time. A connection closed behind millpond's back is found by the
    /// next operation that fails on it (or by the pool's pre-ping). Only after
    /// [`JdbcConnection::raw`], whose user may have closed it, is `Connection.isClosed` asked.
    pub fn is_broken(&mut self) -> bool {
        if self.broken {
            return true;
        }
        self.lost_track && self.is_closed().unwrap_or(true)
    }

    /// The database product and version (`DatabaseMetaData`), for example `H2 2.1.214 (2022-06-13)`.
    pub fn server_version(&mut self) -> Result<String, JdbcError> {
        // Not a hot path: by name.
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
            methods::set_network_timeout(env, conn, executor, ms)
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
            None => self.call(methods::get_network_timeout),
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
                JdbcErrorKind::Timeout,
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
            self.autocommit = self.call(methods::get_auto_commit)?;
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
        self.regain_track();
        self.ran(false);
        Ok(())
    }

    /// Notes that the state is known again after [`JdbcConnection::raw`]: work done through the
    /// raw connection may have changed a table's shape, so every kept statement's columns are
    /// read again.
    fn regain_track(&mut self) {
        if self.lost_track {
            self.lost_track = false;
            schema_may_have_changed();
        }
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
    let aborted = common_pool(env).and_then(|executor| methods::abort(env, conn, executor));
    if let Err(err) = aborted {
        log::debug!(target: "millpond::jdbc", "Connection.abort failed: {err}");
        let _ = take_exception(env);
    }
}

impl Drop for JdbcConnection {
    /// Closes the kept statements and the Java connection (not in a forked child, where the JVM
    /// must not be touched).
    fn drop(&mut self) {
        let statements = self.statements.take_all();
        let conn = self.conn.as_obj();
        let _ = self.jvm.with_env(|env| {
            for statement in &statements {
                close_quietly(env, statement.as_obj());
            }
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

/// The values to bind for `translated`, in order: positional parameters that fit are taken as
/// they are (not copied); anything else as [`Translated::values`] reads it, with its errors.
pub(super) fn values_to_bind(translated: &Translated, params: Params) -> Result<Vec<Value>, JdbcError> {
    match params {
        Params::Positional(values) if !translated.is_named() && values.len() == translated.binds().len() => {
            Ok(values)
        }
        params => Ok(translated.values(&params)?),
    }
}

/// What [`JdbcConnection::run_prepared`] does with a statement: given the statement, the values
/// to bind, the columns kept for it and the connection's bridge.
trait RunStatement<T>:
    FnMut(&mut JNIEnv<'_>, &JObject<'_>, &[Value], &mut Option<Columns>, &mut BridgeSlot) -> Result<T, ReadError>
{
}

impl<T, F> RunStatement<T> for F where
    F: FnMut(
        &mut JNIEnv<'_>,
        &JObject<'_>,
        &[Value],
        &mut Option<Columns>,
        &mut BridgeSlot,
    ) -> Result<T, ReadError>
{
}

/// Runs a `PreparedStatement` of `sql` (as the driver was given it) with `values` bound, and
/// hands each row to `f`, up to `max_rows` (see [`read_results`]). With the result's columns
/// kept from an earlier run (see [`Columns::through_bridge`]), the whole query is one call into
/// the JVM through the connection's bridge; else the values are bound and the rows read call
/// by call.
#[allow(clippy::too_many_arguments)]
pub(super) fn query_bound(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    sql: &str,
    values: &[Value],
    columns: &mut Option<Columns>,
    bridge: &mut BridgeSlot,
    max_rows: i32,
    f: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
) -> Result<(), ReadError> {
    if columns.as_ref().is_some_and(Columns::through_bridge)
        && let Some(bridge) = bridge.get(env)
        && let Some(result) = bridge.query(env, stmt, sql, values, columns, max_rows, f)
    {
        return result;
    }
    bind_all(env, stmt, values)?;
    read_results(env, stmt, sql, columns, f)
}

/// Runs a `PreparedStatement` with `values` bound as an update: its update count (see
/// [`execute_update`]), in one call into the JVM through the connection's bridge when it has one.
pub(super) fn update_bound(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    values: &[Value],
    bridge: &mut BridgeSlot,
) -> Result<u64, JdbcError> {
    if let Some(bridge) = bridge.get(env)
        && let Some(count) = bridge.update(env, stmt, values)
    {
        return count;
    }
    bind_all(env, stmt, values)?;
    execute_update(env, stmt)
}

/// Binds `values` to a `PreparedStatement` and adds them to its batch, in one call into the JVM
/// through the connection's bridge when it has one.
pub(super) fn add_batch_bound(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    values: &[Value],
    bridge: &mut BridgeSlot,
) -> Result<(), JdbcError> {
    if let Some(bridge) = bridge.get(env)
        && let Some(added) = bridge.add_batch(env, stmt, values)
    {
        return added;
    }
    bind_all(env, stmt, values)?;
    methods::add_batch(env, stmt)
}

/// Binds every value, in order, to a `PreparedStatement`.
pub(super) fn bind_all(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, values: &[Value]) -> Result<(), JdbcError> {
    for (i, value) in values.iter().enumerate() {
        let index =
            i32::try_from(i + 1).map_err(|_| JdbcError::new(JdbcErrorKind::Params, "too many parameters"))?;
        if binding_leaves_references(value) {
            // The value's temporary Java objects are freed as soon as it is bound.
            env.with_local_frame(16, |env| bind(env, stmt, index, value))?;
        } else {
            bind(env, stmt, index, value)?;
        }
    }
    Ok(())
}

/// `execute()` on a `PreparedStatement`, then its update count. A result set is closed unread:
/// a kept statement must hold no cursor (SQLite's would hold its lock on the database).
pub(super) fn execute_update(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<u64, JdbcError> {
    if methods::execute(env, stmt)? {
        let rs = methods::get_result_set(env, stmt)?;
        close_quietly(env, &rs);
        env.delete_local_ref(rs).or_throw(env)?;
        return Ok(0);
    }
    update_count(env, stmt)
}

/// The update count of a `Statement` or `PreparedStatement` (0 when it has none).
fn update_count(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<u64, JdbcError> {
    let count = methods::get_update_count(env, stmt)?;
    Ok(u64::try_from(count).unwrap_or(0))
}
