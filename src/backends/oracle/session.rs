//! Oracle in a session: transactions begin implicitly, and savepoints are never released.

use crate::backends::oracle::OracleConnection;
use crate::session::SessionConnection;

impl SessionConnection for OracleConnection {
    type Error = ::oracle::Error;

    /// A query's rows are discarded.
    fn run_sql(&mut self, sql: &str) -> Result<(), ::oracle::Error> {
        // The statement's own kind chooses query or execute; the transaction state is tracked.
        self.run_statement(sql)
    }

    /// Oracle opens a transaction with the first change; only autocommit must be off until the
    /// end (the manager's setting is restored when the connection goes back to the pool).
    fn begin_transaction(&mut self) -> Result<(), ::oracle::Error> {
        if self.autocommit() {
            self.set_autocommit(false);
        }
        Ok(())
    }

    fn commit_transaction(&mut self) -> Result<(), ::oracle::Error> {
        self.commit()
    }

    fn rollback_transaction(&mut self) -> Result<(), ::oracle::Error> {
        self.rollback()
    }

    /// Oracle has no `RELEASE SAVEPOINT`: a savepoint lasts until the transaction ends, and
    /// setting one again under the same name moves it.
    fn release_savepoint(&mut self, _name: &str) -> Result<(), ::oracle::Error> {
        Ok(())
    }
}
