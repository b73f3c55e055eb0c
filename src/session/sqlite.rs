//! SQLite in a session: statements through `execute_batch`, lazy reads on a reader thread that
//! owns the connection.

use std::fmt;
use std::marker::PhantomData;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use rusqlite::types::{FromSql, Value, ValueRef};
use rusqlite::{Connection, Error};

use super::connection::{SessionConnection, StreamRows};
use crate::manage::ManageConnection;
use crate::pool::PooledConnection;

impl SessionConnection for Connection {
    type Error = Error;

    fn run_sql(&mut self, sql: &str) -> Result<(), Error> {
        self.execute_batch(sql)
    }
}

/// Rows read ahead of the consumer.
const READ_AHEAD: usize = 256;

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
    /// `None` once dropped, which tells the reader to stop.
    rows: Option<Receiver<Result<SqliteRow, Error>>>,
    reader: Option<JoinHandle<()>>,
    manager: PhantomData<fn() -> M>,
}

impl StreamRows for Connection {
    type Row = SqliteRow;
    type Cursor<M: ManageConnection<Connection = Self>> = SqliteCursor<M>;

    fn open_cursor<M: ManageConnection<Connection = Self>>(
        conn: PooledConnection<M>,
        sql: &str,
    ) -> Result<SqliteCursor<M>, Error> {
        let (rows_in, rows) = mpsc::sync_channel(READ_AHEAD);
        let (prepared_in, prepared) = mpsc::sync_channel(1);
        let sql = sql.to_owned();
        let reader = thread::Builder::new()
            .name("millpond-sqlite-rows".to_owned())
            .spawn(move || read_rows(conn, &sql, &prepared_in, &rows_in))
            // The closure, and the connection with it, was dropped: it is back in the pool.
            .map_err(|err| {
                Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(format!("could not start the thread that reads the rows: {err}")),
                )
            })?;
        let mut cursor = SqliteCursor {
            rows: Some(rows),
            reader: Some(reader),
            manager: PhantomData,
        };
        // Preparing fails at once for bad SQL: report it here, like the other backends.
        match prepared.recv() {
            Ok(Ok(())) => Ok(cursor),
            Ok(Err(err)) => {
                cursor.finish();
                Err(err)
            }
            Err(_) => {
                cursor.finish();
                Err(Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some("the thread that reads the rows stopped before preparing the statement".to_owned()),
                ))
            }
        }
    }
}

/// The reader thread: prepares `sql` on `conn`, says whether that worked, then sends each row
/// until the rows run out, an error (sent too) ends them, or the cursor is dropped.
fn read_rows<M: ManageConnection<Connection = Connection>>(
    conn: PooledConnection<M>,
    sql: &str,
    prepared: &SyncSender<Result<(), Error>>,
    rows_out: &SyncSender<Result<SqliteRow, Error>>,
) {
    let mut stmt = match conn.prepare(sql) {
        Ok(stmt) => stmt,
        Err(err) => {
            let _ = prepared.send(Err(err));
            return;
        }
    };
    let columns = stmt.column_count();
    let mut rows = match stmt.query([]) {
        Ok(rows) => rows,
        Err(err) => {
            let _ = prepared.send(Err(err));
            return;
        }
    };
    if prepared.send(Ok(())).is_err() {
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
        if rows_out.send(item).is_err() || last {
            return;
        }
    }
}

impl<M: ManageConnection<Connection = Connection>> SqliteCursor<M> {
    /// Stops the reader and waits until it has given the connection back.
    fn finish(&mut self) {
        // Dropping the receiver first wakes a reader blocked on a full channel.
        self.rows = None;
        if let Some(reader) = self.reader.take()
            && reader.join().is_err()
        {
            log::warn!(target: "millpond::session", "the thread reading SQLite rows panicked; its connection was closed");
        }
    }
}

impl<M: ManageConnection<Connection = Connection>> Iterator for SqliteCursor<M> {
    type Item = Result<SqliteRow, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rows.as_ref()?.recv() {
            Ok(item) => Some(item),
            Err(_) => {
                // The reader is done; joining it makes sure the connection is back.
                self.finish();
                None
            }
        }
    }
}

impl<M: ManageConnection<Connection = Connection>> Drop for SqliteCursor<M> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<M: ManageConnection<Connection = Connection>> fmt::Debug for SqliteCursor<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteCursor")
            .field("open", &self.reader.is_some())
            .finish()
    }
}
