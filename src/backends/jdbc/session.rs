//! JDBC in a session: transactions through the driver's autocommit switch, savepoints in SQL;
//! lazy reads on a reader thread that owns the connection.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use crate::backends::jdbc::{JdbcConnection, JdbcError, JdbcErrorKind};
use crate::manage::ManageConnection;
use crate::pool::PooledConnection;
use crate::session::reader::{ReaderError, RowReader, RowSender};
use crate::session::{SessionConnection, StreamRows};
use crate::sql::Row;

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

/// A JDBC query read lazily: the rows of `sql` (no parameters), as the driver fetches them. A
/// JDBC result set is read through calls on the connection's thread-attached JVM, so a reader
/// thread owns the checked-out connection and hands the rows over through a bounded channel
/// (256 rows ahead), as the SQLite and MySQL cursors do. The connection goes back when the
/// rows run out or an error ends them (before the last `next` returns `None`) or when the
/// cursor is dropped (before `drop` returns); dropping it early closes the statement, and the
/// driver stops fetching.
///
/// The query has run by the time [`Session::stream`](crate::Session::stream) returns: a bad
/// statement is its error, and the first row has been read.
pub struct JdbcCursor<M: ManageConnection<Connection = JdbcConnection>> {
    rows: RowReader<Row, JdbcError>,
    manager: PhantomData<fn() -> M>,
}

impl ReaderError for JdbcError {
    fn reader_error(_: io::ErrorKind, message: String) -> Self {
        JdbcError::new(JdbcErrorKind::Jni, message)
    }
}

impl StreamRows for JdbcConnection {
    type Row = Row;
    type Cursor<M: ManageConnection<Connection = Self>> = JdbcCursor<M>;

    fn open_cursor<M: ManageConnection<Connection = Self>>(
        conn: PooledConnection<M>,
        sql: &str,
    ) -> Result<JdbcCursor<M>, JdbcError> {
        let sql = sql.to_owned();
        let rows = RowReader::start("jdbc", move |out| read_rows(conn, &sql, &out))?;
        Ok(JdbcCursor {
            rows,
            manager: PhantomData,
        })
    }
}

/// The reader thread: runs `sql` on `conn`, says it started once the first row is read (or the
/// query ended without one), then sends the rows until they run out, an error (sent too) ends
/// them, or the cursor is dropped.
fn read_rows<M: ManageConnection<Connection = JdbcConnection>>(
    mut conn: PooledConnection<M>,
    sql: &str,
    out: &RowSender<Row, JdbcError>,
) {
    let mut started = false;
    // Set when the cursor is gone: the error that stops `query_each` is this reader's own.
    let mut dropped = false;
    let outcome = conn.query_each(sql, (), |row| {
        if !started {
            started = true;
            if !out.started(Ok(())) {
                dropped = true;
            }
        }
        if dropped || !out.send(Ok(row)) {
            dropped = true;
            // Not a lost connection (only SQL errors can be): the connection is kept.
            return Err(JdbcError::new(JdbcErrorKind::Jni, "the cursor was dropped"));
        }
        Ok(())
    });
    match outcome {
        Ok(()) if !started => {
            out.started(Ok(()));
        }
        Ok(()) => {}
        Err(_) if dropped => {}
        Err(err) if !started => {
            out.started(Err(err));
        }
        Err(err) => {
            out.send(Err(err));
        }
    }
}

impl<M: ManageConnection<Connection = JdbcConnection>> Iterator for JdbcCursor<M> {
    type Item = Result<Row, JdbcError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

impl<M: ManageConnection<Connection = JdbcConnection>> fmt::Debug for JdbcCursor<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcCursor")
            .field("open", &self.rows.is_open())
            .finish()
    }
}
