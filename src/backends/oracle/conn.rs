//! [`OracleConnection`]: the pooled connection, with its transaction state and lost-connection notes.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ::oracle::oci_attr::TransactionInProgress;
use ::oracle::sql_type::ToSql;
use ::oracle::{
    BatchBuilder, ConnStatus, Connection, ResultSet, Row, RowValue, Statement, StatementBuilder, Version,
};

use super::error::is_lost_connection;
use super::tx_state::TxState;
use crate::manage::{ResetAction, TransactionState};

/// The call timeout that bounds one bounded operation to `timeout`: half of it (the client may
/// take as long again to clean up a call it cut short), in whole milliseconds, at least 1 ms
/// and at most what the client takes (`u32::MAX` ms).
pub(super) fn call_timeout_for(timeout: Duration) -> Duration {
    let ms = (timeout / 2).as_millis().clamp(1, u128::from(u32::MAX));
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::from(u32::MAX)))
}

/// Whether `err` is the client's call timeout (`DPI-1067: call timeout of … ms exceeded`).
fn is_call_timeout(err: &::oracle::Error) -> bool {
    err.dpi_code() == Some(1067) || err.to_string().contains("DPI-1067")
}

/// An Oracle connection that knows whether it has a transaction open, so the pool rolls back
/// only when it must.
///
/// It offers the `oracle` crate's common methods, with the same signatures; for anything else,
/// [`OracleConnection::raw`] lends the [`Connection`] itself (after which the statement tracker
/// no longer knows the transaction state; the session attribute still does, where available).
///
/// Settings a borrower changes through the wrapper or the raw connection (autocommit, the call
/// timeout) are put back to the manager's when the connection returns to the pool.
pub struct OracleConnection {
    conn: Connection,
    state: Mutex<TxState>,
    /// An operation through the wrapper failed with a lost-connection error.
    broken: AtomicBool,
    /// Autocommit or the call timeout may differ from the defaults.
    settings_changed: AtomicBool,
    default_autocommit: bool,
    default_call_timeout: Option<Duration>,
}

impl fmt::Debug for OracleConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OracleConnection")
            .field("conn", &self.conn)
            .field("state", &*self.state())
            .field("broken", &self.broken.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl OracleConnection {
    /// Wraps a connection opened elsewhere, assuming no transaction is open on it and its
    /// current autocommit and call timeout are the ones to restore.
    pub fn new(conn: Connection) -> Self {
        let default_autocommit = conn.autocommit();
        let default_call_timeout = conn.call_timeout().ok().flatten();
        OracleConnection {
            conn,
            state: Mutex::new(TxState::new()),
            broken: AtomicBool::new(false),
            settings_changed: AtomicBool::new(false),
            default_autocommit,
            default_call_timeout,
        }
    }

    fn state(&self) -> MutexGuard<'_, TxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a lost-connection error, for `has_broken`.
    fn note<T>(&self, result: &::oracle::Result<T>) {
        if let Err(err) = result
            && is_lost_connection(err)
        {
            self.broken.store(true, Ordering::Relaxed);
        }
    }

    /// Runs `f`, which sends `sql`, with the transaction state kept up to date.
    fn run<T>(&self, sql: &str, f: impl FnOnce(&Connection) -> ::oracle::Result<T>) -> ::oracle::Result<T> {
        let autocommit = self.conn.autocommit();
        self.state().before(sql, autocommit);
        let result = f(&self.conn);
        self.state().after(result.is_ok(), autocommit);
        self.note(&result);
        result
    }

    /// Runs one statement of any kind (a query's rows are discarded): init and reset
    /// statements.
    pub(crate) fn run_statement(&self, sql: &str) -> ::oracle::Result<()> {
        self.run(sql, |conn| {
            let mut stmt = conn.statement(sql).build()?;
            if stmt.is_query() {
                stmt.query(&[]).map(drop)
            } else {
                stmt.execute(&[])
            }
        })
    }

    /// Executes a non-query statement with positional binds (`:1`, `:2`, …).
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<Statement> {
        self.run(sql, |conn| conn.execute(sql, params))
    }

    /// Executes a non-query statement with named binds (`:id`).
    pub fn execute_named(&self, sql: &str, params: &[(&str, &dyn ToSql)]) -> ::oracle::Result<Statement> {
        self.run(sql, |conn| conn.execute_named(sql, params))
    }

    /// Runs a query with positional binds; rows are fetched as the result set is read.
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<ResultSet<'static, Row>> {
        self.run(sql, |conn| conn.query(sql, params))
    }

    /// Runs a query with named binds.
    pub fn query_named(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
    ) -> ::oracle::Result<ResultSet<'static, Row>> {
        self.run(sql, |conn| conn.query_named(sql, params))
    }

    /// Runs a query with positional binds, each row converted to `T` (a tuple, or a type
    /// deriving [`RowValue`]).
    pub fn query_as<T: RowValue>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
    ) -> ::oracle::Result<ResultSet<'static, T>> {
        self.run(sql, |conn| conn.query_as(sql, params))
    }

    /// Runs a query with named binds, each row converted to `T`.
    pub fn query_as_named<T: RowValue>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
    ) -> ::oracle::Result<ResultSet<'static, T>> {
        self.run(sql, |conn| conn.query_as_named(sql, params))
    }

    /// The first row of a query with positional binds (an error if there is none).
    pub fn query_row(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<Row> {
        self.run(sql, |conn| conn.query_row(sql, params))
    }

    /// The first row of a query with named binds.
    pub fn query_row_named(&self, sql: &str, params: &[(&str, &dyn ToSql)]) -> ::oracle::Result<Row> {
        self.run(sql, |conn| conn.query_row_named(sql, params))
    }

    /// The first row of a query with positional binds, converted to `T`
    /// (`let n: i64 = conn.query_row_as("SELECT count(*) FROM t", &[])?`).
    pub fn query_row_as<T: RowValue>(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<T> {
        self.run(sql, |conn| conn.query_row_as(sql, params))
    }

    /// The first row of a query with named binds, converted to `T`.
    pub fn query_row_as_named<T: RowValue>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
    ) -> ::oracle::Result<T> {
        self.run(sql, |conn| conn.query_row_as_named(sql, params))
    }

    /// A statement to prepare once and run many times. The statement is classified now, as if
    /// it ran: with autocommit off, a DML statement counts as opening a transaction.
    pub fn statement<'conn, 'sql>(&'conn self, sql: &'sql str) -> StatementBuilder<'conn, 'sql> {
        self.state().before(sql, self.conn.autocommit());
        self.conn.statement(sql)
    }

    /// A batch of DML rows sent in one round trip. The statement is classified now, as
    /// [`OracleConnection::statement`] does.
    pub fn batch<'conn, 'sql>(
        &'conn self,
        sql: &'sql str,
        max_batch_size: usize,
    ) -> BatchBuilder<'conn, 'sql> {
        self.state().before(sql, self.conn.autocommit());
        self.conn.batch(sql, max_batch_size)
    }

    /// Commits the transaction.
    pub fn commit(&self) -> ::oracle::Result<()> {
        let result = self.conn.commit();
        if result.is_ok() {
            self.state().ended();
        }
        self.note(&result);
        result
    }

    /// Rolls the transaction back.
    pub fn rollback(&self) -> ::oracle::Result<()> {
        let result = self.conn.rollback();
        if result.is_ok() {
            self.state().ended();
        }
        self.note(&result);
        result
    }

    /// Whether each successful statement is committed at once.
    pub fn autocommit(&self) -> bool {
        self.conn.autocommit()
    }

    /// Turns autocommit on or off for this checkout; the manager's setting is restored when the
    /// connection goes back to the pool. A transaction already open stays open until the next
    /// successful statement (which commits it) or `commit`.
    pub fn set_autocommit(&mut self, on: bool) {
        self.settings_changed.store(true, Ordering::Relaxed);
        self.conn.set_autocommit(on);
    }

    /// One round trip to the server.
    pub fn ping(&self) -> ::oracle::Result<()> {
        let result = self.conn.ping();
        self.note(&result);
        result
    }

    /// Cancels the statement running on this connection (call it from another thread).
    pub fn break_execution(&self) -> ::oracle::Result<()> {
        self.conn.break_execution()
    }

    /// The call timeout: the longest one round trip may take. `None` is none.
    pub fn call_timeout(&self) -> ::oracle::Result<Option<Duration>> {
        self.conn.call_timeout()
    }

    /// Sets the call timeout for this checkout (Oracle Client 18 or later); the manager's is
    /// restored when the connection goes back to the pool.
    pub fn set_call_timeout(&self, timeout: Option<Duration>) -> ::oracle::Result<()> {
        self.settings_changed.store(true, Ordering::Relaxed);
        self.conn.set_call_timeout(timeout)
    }

    /// The server's version and banner (a round trip the first time).
    pub fn server_version(&self) -> ::oracle::Result<(Version, String)> {
        let result = self.conn.server_version();
        self.note(&result);
        result
    }

    /// What the client knows of the connection without a round trip (see
    /// [`Connection::status`]).
    pub fn status(&self) -> ::oracle::Result<ConnStatus> {
        self.conn.status()
    }

    /// Whether a transaction is open, without a round trip (see the [module docs](super)).
    pub fn transaction_state(&self) -> TransactionState {
        let in_progress = self.conn.oci_attr::<TransactionInProgress>().ok();
        self.state().report(in_progress)
    }

    /// Whether the connection is known to be unusable, without a round trip: an operation
    /// through the wrapper failed with a lost-connection error, or the client knows the
    /// session or its socket is closed.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed) || !matches!(self.conn.status(), Ok(ConnStatus::Normal))
    }

    /// The `oracle` crate's connection, for what the wrapper does not offer. Statements run
    /// through it are not classified, so the transaction state becomes unknown (the pool then
    /// rolls back on return) unless the session attribute can tell.
    pub fn raw(&self) -> &Connection {
        self.state().lost_track();
        self.settings_changed.store(true, Ordering::Relaxed);
        &self.conn
    }

    /// The `oracle` crate's connection, mutably (for `set_autocommit`, `set_oci_attr`, …); as
    /// [`OracleConnection::raw`].
    pub fn conn_mut(&mut self) -> &mut Connection {
        self.state().lost_track();
        self.settings_changed.store(true, Ordering::Relaxed);
        &mut self.conn
    }

    /// Unwraps the `oracle` crate's connection.
    pub fn into_inner(self) -> Connection {
        self.conn
    }

    /// Pings within `timeout` (see [`OracleConnection::within`]).
    pub(super) fn ping_within(&self, timeout: Duration) -> ::oracle::Result<()> {
        self.within(timeout, |conn| conn.ping())
    }

    /// The pool's reset (rollback, commit or the reset statement) within `timeout` (see
    /// [`OracleConnection::within`]). A reset cut short by the call timeout fails with an error
    /// that says so (the client's `DPI-1067` is its source), and the connection is reported
    /// broken: the pool closes it, and the server rolls back what was left open.
    pub(super) fn reset_within(&self, action: ResetAction<'_>, timeout: Duration) -> ::oracle::Result<()> {
        let result = self.within(timeout, |conn| match action {
            ResetAction::Rollback => conn.rollback(),
            ResetAction::Commit => conn.commit(),
            ResetAction::Statement(sql) => conn.run_statement(sql),
        });
        match result {
            Err(err) if is_call_timeout(&err) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(::oracle::Error::new(
                    ::oracle::ErrorKind::Other,
                    format!(
                        "timed out after {} (reset_timeout): the reset on return did not finish, so \
                         the connection is closed",
                        crate::error::Rounded(timeout)
                    ),
                )
                .add_source(err))
            }
            other => other,
        }
    }

    /// Runs `f` within `timeout`: the call timeout is set to half of it (a timed-out call may
    /// take as long again to clean up) and restored afterwards. With an Oracle Client older
    /// than 18, which has no call timeout, `f` is not bounded.
    fn within<T>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&Self) -> ::oracle::Result<T>,
    ) -> ::oracle::Result<T> {
        let previous = self.conn.call_timeout().ok();
        if previous.is_some() {
            let set = self.conn.set_call_timeout(Some(call_timeout_for(timeout)));
            self.note(&set);
            set?;
        }
        let result = f(self);
        let restored = match previous {
            Some(previous) => self.conn.set_call_timeout(previous),
            None => Ok(()),
        };
        result.and_then(|value| restored.map(|()| value))
    }

    /// Puts back the manager's autocommit and call timeout if the borrower may have changed
    /// them. `false` if the call timeout could not be restored.
    pub(super) fn restore_settings(&mut self) -> bool {
        if !self.settings_changed.swap(false, Ordering::Relaxed) {
            return true;
        }
        if self.conn.autocommit() != self.default_autocommit {
            self.conn.set_autocommit(self.default_autocommit);
        }
        match self.conn.call_timeout() {
            Ok(current) if current != self.default_call_timeout => {
                self.conn.set_call_timeout(self.default_call_timeout).is_ok()
            }
            // Unchanged, or a client without call timeouts (where none can have been set).
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_timeout_is_half_the_bound_in_whole_milliseconds_saturating() {
        assert_eq!(call_timeout_for(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(
            call_timeout_for(Duration::from_millis(3)),
            Duration::from_millis(1)
        );
        assert_eq!(
            call_timeout_for(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(call_timeout_for(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            call_timeout_for(Duration::MAX),
            Duration::from_millis(u64::from(u32::MAX))
        );
    }

    #[test]
    fn call_timeouts_are_recognised_by_their_dpi_code() {
        let timeout = ::oracle::Error::new(
            ::oracle::ErrorKind::DpiError,
            "DPI-1067: call timeout of 5000 ms exceeded with ORA-3156",
        );
        assert!(is_call_timeout(&timeout));
        let other = ::oracle::Error::new(
            ::oracle::ErrorKind::Other,
            "ORA-00942: table or view does not exist",
        );
        assert!(!is_call_timeout(&other));
    }
}
