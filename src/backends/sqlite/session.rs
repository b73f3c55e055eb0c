//! SQLite in a session: statements through `execute_batch`, lazy reads on a reader thread that
//! owns the connection.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use rusqlite::types::{FromSql, Value, ValueRef};
use rusqlite::{Connection, Error};

use crate::manage::ManageConnection;
use crate::pool::PooledConnection;
use crate::session::reader::{ReaderError, RowReader, RowSender};
use crate::session::{SessionConnection, StreamRows};

impl SessionConnection for Connection {
    type Error = Error;

    fn run_sql(&mut self, sql: &str) -> Result<(), Error> {
        self.execute_batch(sql)
    }
}

/// One row of a [`SqliteCursor`], its values owned.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteRow {
    values: Vec<Value>,
}

impl SqliteRow {
    /// The value of column `index` (from 0), converted as `rusqlite::Row::get` would.
    pub fn get<T: FromSql>(&self, index: usize) -> Result<T, Error> {
        let value = self.values.get(index).ok_or(Error::InvalidColumnIndex(index))?;
        let value = ValueRef::from(value);
        T::column_result(value)
            .map_err(|err| Error::FromSqlConversionFailure(index, value.data_type(), Box::new(err)))
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, taken out.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
}

/// A SQLite query read lazily. A statement borrows its connection, so it cannot travel with
/// the checked-out connection in one value without `unsafe`; instead a reader thread owns both
/// and hands rows over through a bounded channel (256 rows ahead). The connection
/// goes back when the rows run out (before the last `next` returns `None`) or when the cursor is
/// dropped (before `drop` returns).
pub struct SqliteCursor<M: ManageConnection<Connection = Connection>> {
    rows: RowReader<SqliteRow, Error>,
    manager: PhantomData<fn() -> M>,
}

impl ReaderError for Error {
    fn reader_error(_: io::ErrorKind, message: String) -> Self {
        Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(message),
        )
    }
}

impl StreamRows for Connection {
    type Row = SqliteRow;
    type Cursor<M: ManageConnection<Connection = Self>> = SqliteCursor<M>;

    fn open_cursor<M: ManageConnection<Connection = Self>>(
        conn: PooledConnection<M>,
        sql: &str,
    ) -> Result<SqliteCursor<M>, Error> {
        let sql = sql.to_owned();
        // Preparing fails at once for bad SQL: reported here, like the other backends.
        let rows = RowReader::start("sqlite", move |out| read_rows(conn, &sql, &out))?;
        Ok(SqliteCursor {
            rows,
            manager: PhantomData,
        })
    }
}

/// The reader thread: prepares `sql` on `conn`, says whether that worked, then sends each row
/// until the rows run out, an error (sent too) ends them, or the cursor is dropped.
fn read_rows<M: ManageConnection<Connection = Connection>>(
    conn: PooledConnection<M>,
    sql: &str,
    out: &RowSender<SqliteRow, Error>,
) {
    let mut stmt = match conn.prepare(sql) {
        Ok(stmt) => stmt,
        Err(err) => {
            out.started(Err(err));
            return;
        }
    };
    let columns = stmt.column_count();
    let mut rows = match stmt.query([]) {
        Ok(rows) => rows,
        Err(err) => {
            out.started(Err(err));
            return;
        }
    };
    if !out.started(Ok(())) {
        return;
    }
    loop {
        let item = match rows.next() {
            Ok(Some(row)) => (0..columns)
                .map(|index| row.get::<_, Value>(index))
                .collect::<Result<Vec<_>, _>>()
                .map(|values| SqliteRow { values }),
            Ok(None) => return,
            Err(err) => Err(err),
        };
        let last = item.is_err();
        if !out.send(item) || last {
            return;
        }
    }
}

impl<M: ManageConnection<Connection = Connection>> Iterator for SqliteCursor<M> {
    type Item = Result<SqliteRow, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

impl<M: ManageConnection<Connection = Connection>> fmt::Debug for SqliteCursor<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteCursor")
            .field("open", &self.rows.is_open())
            .finish()
    }
}
