//! PostgreSQL in a session: statements through [`PgConnection`], lazy reads through a
//! server-side cursor.

use std::collections::VecDeque;
use std::fmt;

use ::postgres::{Row, Statement};

use crate::backends::postgres::PgConnection;
use crate::manage::ManageConnection;
use crate::pool::PooledConnection;
use crate::session::{SessionConnection, StreamRows};

impl SessionConnection for PgConnection {
    type Error = ::postgres::Error;

    /// The simple query protocol: one round trip, and several statements may be sent at once.
    fn run_sql(&mut self, sql: &str) -> Result<(), ::postgres::Error> {
        self.batch_execute(sql)
    }

    /// PostgreSQL answers `COMMIT` in a failed transaction with a rollback and no error; a
    /// statement sent first in the same round trip turns that into the error it is (25P02),
    /// after which the failed transaction is rolled back.
    fn commit_transaction(&mut self) -> Result<(), ::postgres::Error> {
        let result = self.batch_execute("SELECT 1; COMMIT");
        if result.is_err() && !self.is_broken() {
            let _ = self.batch_execute("ROLLBACK");
        }
        result
    }
}

/// Rows fetched per round trip.
const BATCH: usize = 256;
const FETCH: &str = "FETCH 256 FROM millpond_cursor";

/// A PostgreSQL query read through a server-side cursor (`DECLARE … CURSOR` in a transaction of
/// its own), 256 rows per round trip, so a large result never sits whole in memory. It
/// owns the checked-out connection: reading the last row commits and gives it back; dropping
/// it earlier gives it back too, and the pool's reset rolls the cursor's transaction back.
pub struct PgCursor<M: ManageConnection<Connection = PgConnection>> {
    /// `None` once the rows ran out or an error ended the read: the connection is back.
    conn: Option<PooledConnection<M>>,
    /// The `FETCH`, prepared once per connection and kept; `None` behind PgBouncer, where it
    /// runs unnamed (a named one would outlive the cursor's transaction).
    fetch: Option<Statement>,
    rows: VecDeque<Row>,
    /// An error met after the last batch arrived, returned after its rows.
    late_error: Option<::postgres::Error>,
}

impl StreamRows for PgConnection {
    type Row = Row;
    type Cursor<M: ManageConnection<Connection = Self>> = PgCursor<M>;

    fn open_cursor<M: ManageConnection<Connection = Self>>(
        mut conn: PooledConnection<M>,
        sql: &str,
    ) -> Result<PgCursor<M>, ::postgres::Error> {
        // One round trip for both; a failure leaves a transaction open, which the pool's reset
        // rolls back when `conn` goes back.
        conn.batch_execute(&format!(
            "BEGIN; DECLARE millpond_cursor NO SCROLL CURSOR FOR {sql}"
        ))?;
        // Behind PgBouncer, the rows' types are learned now, inside the cursor's transaction,
        // rather than by the driver with statements of its own while reading.
        let fetch = if conn.describe_unnamed(sql)? {
            None
        } else {
            // One round trip per batch, and no parse.
            Some(conn.prepare_cached(FETCH)?)
        };
        Ok(PgCursor {
            conn: Some(conn),
            fetch,
            rows: VecDeque::new(),
            late_error: None,
        })
    }
}

impl<M: ManageConnection<Connection = PgConnection>> Iterator for PgCursor<M> {
    type Item = Result<Row, ::postgres::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.rows.pop_front() {
                return Some(Ok(row));
            }
            if let Some(err) = self.late_error.take() {
                return Some(Err(err));
            }
            let conn = self.conn.as_mut()?;
            let batch = match &self.fetch {
                Some(fetch) => conn.query(fetch, &[]),
                None => conn.inner().query_typed(FETCH, &[]),
            };
            match batch {
                Ok(batch) => {
                    if batch.len() < BATCH {
                        // The last batch: end the cursor's transaction and give the connection back.
                        if let Some(mut conn) = self.conn.take()
                            && let Err(err) = conn.batch_execute("COMMIT")
                        {
                            self.late_error = Some(err);
                        }
                    }
                    self.rows = batch.into();
                }
                Err(err) => {
                    self.conn = None;
                    return Some(Err(err));
                }
            }
        }
    }
}

impl<M: ManageConnection<Connection = PgConnection>> fmt::Debug for PgCursor<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCursor")
            .field("open", &self.conn.is_some())
            .field("buffered", &self.rows.len())
            .finish()
    }
}
