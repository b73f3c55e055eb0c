//! MySQL and MariaDB in a session: statements through [`MySqlConnection`]'s watched
//! `Queryable`, so the pool keeps knowing whether a transaction is open; lazy reads on a reader
//! thread that owns the connection.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use ::mysql::prelude::Queryable;
use ::mysql::{Error, QueryResult, Row, Text};

use crate::backends::mysql::MySqlConnection;
use crate::manage::ManageConnection;
use crate::pool::PooledConnection;
use crate::session::reader::{ReaderError, RowReader, RowSender};
use crate::session::{SessionConnection, StreamRows};

impl SessionConnection for MySqlConnection {
    type Error = Error;

    /// The text protocol; a query's rows are read and dropped.
    fn run_sql(&mut self, sql: &str) -> Result<(), Error> {
        self.query_drop(sql)
    }

    /// `START TRANSACTION`: MySQL's `BEGIN` means something else inside stored programs.
    fn begin_transaction(&mut self) -> Result<(), Error> {
        self.run_sql("START TRANSACTION")
    }
}

/// A MySQL query read lazily, through the text protocol: the rows of every result set `sql`
/// gives, in order. The driver's result borrows its connection, so it cannot travel with the
/// checked-out connection in one value without `unsafe`; instead a reader thread owns both and
/// hands rows over through a bounded channel (256 rows ahead). The connection goes back when
/// the rows run out or an error ends them (before the last `next` returns `None`) or when the
/// cursor is dropped (before `drop` returns).
///
/// The server sends the whole result without being asked for more, so dropping the cursor
/// early reads the rest from the socket and discards it before the connection can go back:
/// dropping a huge result half-way costs the transfer of all of it. Put a `LIMIT` in the SQL
/// when only the first rows may be wanted.
pub struct MySqlCursor<M: ManageConnection<Connection = MySqlConnection>> {
    rows: RowReader<Row, Error>,
    manager: PhantomData<fn() -> M>,
}

impl ReaderError for Error {
    fn reader_error(kind: io::ErrorKind, message: String) -> Self {
        Error::IoError(io::Error::new(kind, message))
    }
}

impl StreamRows for MySqlConnection {
    type Row = Row;
    type Cursor<M: ManageConnection<Connection = Self>> = MySqlCursor<M>;

    fn open_cursor<M: ManageConnection<Connection = Self>>(
        conn: PooledConnection<M>,
        sql: &str,
    ) -> Result<MySqlCursor<M>, Error> {
        let sql = sql.to_owned();
        // The server rejects bad SQL before any row: reported here, like the other backends.
        let rows = RowReader::start("mysql", move |out| read_rows(conn, &sql, &out))?;
        Ok(MySqlCursor {
            rows,
            manager: PhantomData,
        })
    }
}

/// The reader thread: runs `sql` on `conn` (watched, so a transaction it opens is known), says
/// whether the server took it, then sends rows until they run out, an error (sent too) ends
/// them, or the cursor is dropped.
fn read_rows<M: ManageConnection<Connection = MySqlConnection>>(
    mut conn: PooledConnection<M>,
    sql: &str,
    out: &RowSender<Row, Error>,
) {
    let damage = match conn.query_iter(sql) {
        Ok(mut result) => {
            // Read on even if the cursor is gone: what is left must be read off the socket.
            out.started(Ok(()));
            send_rows(&mut result, out)
        }
        Err(err) => {
            // The watched `query_iter` has recorded what the error means for the connection.
            out.started(Err(err));
            return;
        }
    };
    // Errors met in a result bypass the connection's own bookkeeping (see `MySqlConnection`).
    match damage {
        Damage::None => {}
        // In step with the protocol, but it may say the session is gone (killed, server
        // shutting down): a ping tells, and marks the connection broken if so.
        Damage::Server => {
            let _ = conn.ping();
        }
        // The stream is out of step with the server: close the connection.
        Damage::Stream => conn.invalidate(),
    }
}

/// What the errors met in a result mean for its connection, from least to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Damage {
    None,
    /// The server sent an error packet.
    Server,
    /// I/O, TLS, or a packet the driver did not expect.
    Stream,
}

impl Damage {
    fn of(err: &Error) -> Damage {
        match err {
            Error::MySqlError(_) => Damage::Server,
            _ => Damage::Stream,
        }
    }
}

/// Sends the rows of every result set, stopping at the first error (sent too) or when the
/// cursor is gone, then reads what is left, as the driver's `Drop` would, but noting the
/// errors it meets.
fn send_rows(result: &mut QueryResult<'_, '_, '_, Text>, out: &RowSender<Row, Error>) -> Damage {
    let mut damage = Damage::None;
    let mut sending = true;
    while let Some(set) = result.iter() {
        for row in set {
            if let Err(err) = &row {
                damage = damage.max(Damage::of(err));
            }
            if sending {
                sending = row.is_ok();
                if !out.send(row) {
                    sending = false;
                }
            }
        }
    }
    damage
}

impl<M: ManageConnection<Connection = MySqlConnection>> Iterator for MySqlCursor<M> {
    type Item = Result<Row, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

impl<M: ManageConnection<Connection = MySqlConnection>> fmt::Debug for MySqlCursor<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlCursor")
            .field("open", &self.rows.is_open())
            .finish()
    }
}
