//! What a session needs from a backend's connection: one small trait, so every backend (and
//! the JDBC bridge later) can take part.

use std::error::Error as StdError;

use crate::manage::ManageConnection;
use crate::pool::PooledConnection;

/// A connection a [`Session`](crate::Session) can drive: run SQL that takes no parameters, and
/// control transactions and savepoints.
///
/// The methods send what they say and nothing else; the backend's own connection type keeps
/// following its transaction state, so the pool's reset on return stays free when nothing is
/// open. The defaults are standard SQL; a backend overrides those its database spells
/// differently. The names avoid the backends' own `commit` and `rollback` methods.
pub trait SessionConnection: Send + 'static {
    /// The backend's error.
    type Error: StdError + Send + Sync + 'static;

    /// Runs SQL that takes no parameters, discarding any rows it returns.
    fn run_sql(&mut self, sql: &str) -> Result<(), Self::Error>;

    /// Opens a transaction.
    fn begin_transaction(&mut self) -> Result<(), Self::Error> {
        self.run_sql("BEGIN")
    }

    /// Commits the open transaction.
    fn commit_transaction(&mut self) -> Result<(), Self::Error> {
        self.run_sql("COMMIT")
    }

    /// Rolls the open transaction back.
    fn rollback_transaction(&mut self) -> Result<(), Self::Error> {
        self.run_sql("ROLLBACK")
    }

    /// Sets a savepoint inside the open transaction.
    fn create_savepoint(&mut self, name: &str) -> Result<(), Self::Error> {
        self.run_sql(&format!("SAVEPOINT {name}"))
    }

    /// Forgets a savepoint, keeping what was done since it was set.
    fn release_savepoint(&mut self, name: &str) -> Result<(), Self::Error> {
        self.run_sql(&format!("RELEASE SAVEPOINT {name}"))
    }

    /// Undoes what was done since a savepoint was set; the savepoint stays.
    fn rollback_to_savepoint(&mut self, name: &str) -> Result<(), Self::Error> {
        self.run_sql(&format!("ROLLBACK TO SAVEPOINT {name}"))
    }
}

/// A connection whose query results can be read lazily: the cursor owns the checked-out
/// connection and gives it back when the rows run out or the cursor is dropped.
pub trait StreamRows: SessionConnection + Sized {
    /// One row, owned.
    type Row;
    /// The backend's open cursor.
    type Cursor<M: ManageConnection<Connection = Self>>: Iterator<Item = Result<Self::Row, Self::Error>>;

    /// Starts reading the rows of `sql` (no parameters) on `conn`, which the cursor keeps.
    fn open_cursor<M: ManageConnection<Connection = Self>>(
        conn: PooledConnection<M>,
        sql: &str,
    ) -> Result<Self::Cursor<M>, Self::Error>;
}
