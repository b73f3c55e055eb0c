//! Sessions that hold no connection between statements: each statement checks one out and
//! gives it back at once; a transaction pins one from its start to its end.

mod connection;
mod error;
// The reader thread of the sqlite, mysql and jdbc cursors (in their backends' folders).
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "jdbc"))]
pub(crate) mod reader;
mod stream;
mod transaction;

use std::fmt;

pub use self::connection::{SessionConnection, StreamRows};
pub use self::error::SessionError;
pub use self::stream::Rows;
pub use self::transaction::Transaction;
use crate::manage::ManageConnection;
use crate::pool::Pool;

/// A unit of work (a request, a job) that borrows a connection only while it uses one.
///
/// Outside a transaction every call checks a connection out, runs, and gives it back before it
/// returns, errors included, so a thread that spends most of its time off the database (calling
/// other services, rendering) holds no connection meanwhile and a few connections serve many
/// threads. [`Session::transaction`] pins one connection until commit or rollback, and borrows
/// the session mutably meanwhile, so no statement of the session can run on another connection
/// while a transaction is open.
///
/// Making one costs a reference-count increment; make one per request or per thread.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use millpond::{Pool, Session, sqlite::SqliteManager};
///
/// let pool = Pool::builder().pool_size(2).min_idle(1).build(SqliteManager::memory()).unwrap();
/// let mut session = Session::new(&pool);
/// session.execute("CREATE TABLE t (x INTEGER)").unwrap(); // connection back already
///
/// let mut tx = session.transaction().unwrap(); // one connection until commit or rollback
/// tx.execute("INSERT INTO t VALUES (1)").unwrap();
/// tx.commit().unwrap();
///
/// let n: i64 = session.run(|conn| conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))).unwrap();
/// assert_eq!(n, 1);
/// assert_eq!(pool.state().in_use, 0);
/// # }
/// ```
pub struct Session<M: ManageConnection> {
    pool: Pool<M>,
}

impl<M: ManageConnection> Session<M> {
    /// A session on `pool`. Opens nothing and checks nothing out.
    pub fn new(pool: &Pool<M>) -> Self {
        Session { pool: pool.clone() }
    }

    /// The pool the session borrows from.
    pub fn pool(&self) -> &Pool<M> {
        &self.pool
    }

    /// Checks a connection out, gives it to `work`, and gives it back before returning, whatever
    /// `work` returns. (If `work` panics, the pool closes the connection rather than keep one in
    /// an unknown state, as it does for any connection given back during a panic.)
    pub fn run<T, E>(
        &self,
        work: impl FnOnce(&mut M::Connection) -> Result<T, E>,
    ) -> Result<T, SessionError<E>> {
        let mut conn = self.pool.get()?;
        work(&mut conn).map_err(SessionError::Database)
    }
}

impl<M: ManageConnection> Session<M>
where
    M::Connection: SessionConnection,
{
    /// Runs SQL that takes no parameters on a connection checked out for it alone.
    pub fn execute(
        &self,
        sql: &str,
    ) -> Result<(), SessionError<<M::Connection as SessionConnection>::Error>> {
        self.run(|conn| conn.run_sql(sql))
    }

    /// Begins a transaction on a connection that stays checked out until the transaction is
    /// committed or rolled back (dropping it rolls back). Until then the session is borrowed by
    /// the transaction, so every statement goes through the transaction's connection.
    pub fn transaction(
        &mut self,
    ) -> Result<Transaction<'_, M>, SessionError<<M::Connection as SessionConnection>::Error>> {
        let conn = self.pool.get()?;
        Transaction::begin(conn).map_err(SessionError::Database)
    }

    /// Runs `work` in a transaction: commits when it returns `Ok`, rolls back when it returns
    /// `Err` or panics. After a panic the rollback happens before the panic goes on, with the
    /// panic caught, so a connection rolled back cleanly goes back to the pool instead of being
    /// closed as one given back by a panicking thread would be.
    pub fn atomic<T, E>(
        &mut self,
        work: impl FnOnce(&mut Transaction<'_, M>) -> Result<T, E>,
    ) -> Result<T, SessionError<E>>
    where
        E: From<<M::Connection as SessionConnection>::Error>,
    {
        let conn = self.pool.get()?;
        let tx = Transaction::begin(conn).map_err(|err| SessionError::Database(E::from(err)))?;
        transaction::atomic(tx, work).map_err(SessionError::Database)
    }
}

impl<M: ManageConnection> Session<M>
where
    M::Connection: StreamRows,
{
    /// Reads the rows of `sql` (no parameters) lazily. The cursor keeps its connection until the
    /// last row has been read or the cursor is dropped.
    pub fn stream(
        &self,
        sql: &str,
    ) -> Result<Rows<M>, SessionError<<M::Connection as SessionConnection>::Error>> {
        let conn = self.pool.get()?;
        let cursor = <M::Connection as StreamRows>::open_cursor(conn, sql).map_err(SessionError::Database)?;
        Ok(Rows::new(cursor))
    }
}

// An inherent method of `Pool`, written here so the pool does not depend on its sessions.
impl<M: ManageConnection> Pool<M> {
    /// A [`Session`] on this pool: each statement checks a connection out and gives it back at
    /// once; a transaction keeps one until it ends.
    pub fn session(&self) -> Session<M> {
        Session::new(self)
    }
}

impl<M: ManageConnection> Clone for Session<M> {
    fn clone(&self) -> Self {
        Session {
            pool: self.pool.clone(),
        }
    }
}

impl<M: ManageConnection> From<Pool<M>> for Session<M> {
    fn from(pool: Pool<M>) -> Self {
        Session { pool }
    }
}

impl<M: ManageConnection> fmt::Debug for Session<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("pool", &self.pool.options().name)
            .finish()
    }
}
