//! JDBC in a session: transactions through the driver's autocommit switch, savepoints in SQL.

use super::connection::SessionConnection;
use crate::backends::jdbc::{JdbcConnection, JdbcError};

impl SessionConnection for JdbcConnection {
    type Error = JdbcError;

    /// Runs the statement unprepared; a query's rows are discarded.
    fn run_sql(&mut self, sql: &str) -> Result<(), JdbcError> {
        self.execute_unprepared(sql).map(drop)
    }

    /// Turns autocommit off, which is how JDBC opens a transaction (the manager's setting is
    /// put back when the transaction ends).
    fn begin_transaction(&mut self) -> Result<(), JdbcError> {
        self.set_autocommit(false)
    }

    /// Commits, then puts autocommit back, so the connection returns needing no reset.
    fn commit_transaction(&mut self) -> Result<(), JdbcError> {
        self.commit()?;
        self.restore_autocommit()
    }

    /// Rolls back, then puts autocommit back, so the connection returns needing no reset.
    fn rollback_transaction(&mut self) -> Result<(), JdbcError> {
        self.rollback()?;
        self.restore_autocommit()
    }
}
