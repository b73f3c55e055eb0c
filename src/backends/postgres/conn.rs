//! [`PgConnection`]: the pooled connection, which follows its transaction state from the SQL it sends.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use postgres::types::{BorrowToSql, ToSql, Type};
use postgres::{
    CancelToken, Client, CopyInWriter, CopyOutReader, Row, RowIter, SimpleQueryMessage, Statement,
    ToStatement, Transaction, TransactionBuilder,
};

use super::error::PostgresError;
use crate::backends::txn::{Dialect, TxTracker};
use crate::manage::TransactionState;

/// SQL text or a statement prepared on the same connection: what [`PgConnection`]'s query
/// methods take. Text is classified to follow the transaction state; a [`Statement`] is not
/// (see [`PgConnection::prepare`]).
pub trait Sql: ToStatement {
    /// The SQL text, or `None` for a prepared statement.
    fn sql_text(&self) -> Option<&str>;
}

impl Sql for str {
    fn sql_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl Sql for String {
    fn sql_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl Sql for Statement {
    fn sql_text(&self) -> Option<&str> {
        None
    }
}

/// A PostgreSQL connection that follows its own transaction state, so the pool can skip the
/// rollback when a borrower gives it back with no transaction open.
///
/// It offers the [`postgres::Client`] methods people use most, each of which notes the SQL it
/// sends; [`PgConnection::client_mut`] lends the client itself for the rest.
pub struct PgConnection {
    /// Always `Some` until dropped.
    client: Option<Client>,
    tracker: TxTracker,
    /// A statement that begins or ends transactions was prepared here, so running prepared
    /// statements makes the state unknown.
    prepared_tx_control: bool,
    /// A validation timed out: the server still owes a reply, and the connection cannot be used.
    desynced: bool,
    pid: Option<i32>,
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            .field("backend_pid", &self.pid)
            .field("transaction_state", &self.tracker.state())
            .field("closed", &self.client().is_closed())
            .field("desynced", &self.desynced)
            .finish()
    }
}

impl PgConnection {
    /// Wraps a client opened elsewhere. Its transaction state is taken to be idle.
    pub fn new(client: Client) -> Self {
        PgConnection {
            client: Some(client),
            tracker: TxTracker::new(Dialect::Postgres),
            prepared_tx_control: false,
            desynced: false,
            pid: None,
        }
    }

    /// The client, for methods that cannot change the transaction state (`is_closed`,
    /// `cancel_token`, `clear_type_cache`).
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the client is present until the connection is dropped")
    }

    fn inner(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("the client is present until the connection is dropped")
    }

    /// The client itself, for anything not offered here. What is sent through it cannot be
    /// followed, so the transaction state becomes unknown and the connection is rolled back
    /// when given back.
    pub fn client_mut(&mut self) -> &mut Client {
        self.tracker.lost_track();
        self.inner()
    }

    /// Takes the client out (for example after [`PooledConnection::detach`](crate::PooledConnection::detach)).
    pub fn into_client(mut self) -> Client {
        self.client
            .take()
            .expect("the client is present until the connection is dropped")
    }

    /// The transaction state as followed from the SQL sent so far.
    pub fn transaction_state(&self) -> TransactionState {
        self.tracker.state()
    }

    /// Whether the driver saw the connection close.
    pub fn is_closed(&self) -> bool {
        self.client().is_closed()
    }

    /// Whether the connection cannot be used any more: closed, or a validation timed out.
    pub fn is_broken(&self) -> bool {
        self.desynced || self.client().is_closed()
    }

    /// The server process serving this connection (`pg_backend_pid()`), asked once and then
    /// remembered.
    pub fn backend_pid(&mut self) -> Result<i32, postgres::Error> {
        if let Some(pid) = self.pid {
            return Ok(pid);
        }
        let pid: i32 = self.inner().query_one("SELECT pg_backend_pid()", &[])?.get(0);
        self.pid = Some(pid);
        Ok(pid)
    }

    /// A token to cancel the statement running on this connection from another thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.client().cancel_token()
    }

    fn observe<T: ?Sized + Sql>(&mut self, query: &T) {
        match query.sql_text() {
            Some(sql) => self.tracker.observe(sql),
            None if self.prepared_tx_control => self.tracker.lost_track(),
            None => {}
        }
    }

    /// Runs a statement, returning the number of rows changed. See [`postgres::Client::execute`].
    pub fn execute<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        self.observe(query);
        self.inner().execute(query, params)
    }

    /// Runs a statement, returning its rows. See [`postgres::Client::query`].
    pub fn query<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        self.observe(query);
        self.inner().query(query, params)
    }

    /// Runs a statement that returns exactly one row. See [`postgres::Client::query_one`].
    pub fn query_one<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        self.observe(query);
        self.inner().query_one(query, params)
    }

    /// Runs a statement that returns at most one row. See [`postgres::Client::query_opt`].
    pub fn query_opt<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        self.observe(query);
        self.inner().query_opt(query, params)
    }

    /// Runs a statement, returning its rows as they arrive. See [`postgres::Client::query_raw`].
    pub fn query_raw<T, P, I>(&mut self, query: &T, params: I) -> Result<RowIter<'_>, postgres::Error>
    where
        T: ?Sized + Sql,
        P: BorrowToSql,
        I: IntoIterator<Item = P>,
        I::IntoIter: ExactSizeIterator,
    {
        self.observe(query);
        self.inner().query_raw(query, params)
    }

    /// Prepares a statement. See [`postgres::Client::prepare`].
    ///
    /// Running a prepared statement is not classified, which costs nothing as long as no
    /// statement that begins or ends a transaction was prepared on this connection; once one
    /// was, running any prepared statement makes the state unknown (a rollback on return).
    pub fn prepare(&mut self, query: &str) -> Result<Statement, postgres::Error> {
        self.note_prepared(query);
        self.inner().prepare(query)
    }

    /// Prepares a statement with some parameter types given. See
    /// [`postgres::Client::prepare_typed`] and [`PgConnection::prepare`].
    pub fn prepare_typed(&mut self, query: &str, types: &[Type]) -> Result<Statement, postgres::Error> {
        self.note_prepared(query);
        self.inner().prepare_typed(query, types)
    }

    fn note_prepared(&mut self, query: &str) {
        if begins_transaction(query) || ends_transaction(query) {
            self.prepared_tx_control = true;
        }
    }

    /// Runs statements separated by `;` with the simple query protocol. See
    /// [`postgres::Client::batch_execute`].
    pub fn batch_execute(&mut self, query: &str) -> Result<(), postgres::Error> {
        self.tracker.observe(query);
        self.inner().batch_execute(query)
    }

    /// Runs statements with the simple query protocol, returning their rows as text. See
    /// [`postgres::Client::simple_query`].
    pub fn simple_query(&mut self, query: &str) -> Result<Vec<SimpleQueryMessage>, postgres::Error> {
        self.tracker.observe(query);
        self.inner().simple_query(query)
    }

    /// Begins a transaction, which rolls back when dropped unless committed. See
    /// [`postgres::Client::transaction`].
    ///
    /// The transaction borrows this connection, so by the time the connection can be given
    /// back the transaction has been committed or rolled back: the state is idle again. (A
    /// transaction object leaked with `mem::forget` would break that promise.)
    pub fn transaction(&mut self) -> Result<Transaction<'_>, postgres::Error> {
        self.tracker.ended();
        self.client
            .as_mut()
            .expect("the client is present until the connection is dropped")
            .transaction()
    }

    /// A builder for a transaction with an isolation level, read-only or deferrable. See
    /// [`postgres::Client::build_transaction`] and [`PgConnection::transaction`].
    pub fn build_transaction(&mut self) -> TransactionBuilder<'_> {
        self.tracker.ended();
        self.client
            .as_mut()
            .expect("the client is present until the connection is dropped")
            .build_transaction()
    }

    /// Runs a `COPY … FROM STDIN`, returning a writer for the data. See
    /// [`postgres::Client::copy_in`].
    pub fn copy_in<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyInWriter<'_>, postgres::Error> {
        self.observe(query);
        self.inner().copy_in(query)
    }

    /// Runs a `COPY … TO STDOUT`, returning a reader for the data. See
    /// [`postgres::Client::copy_out`].
    pub fn copy_out<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyOutReader<'_>, postgres::Error> {
        self.observe(query);
        self.inner().copy_out(query)
    }

    /// Checks the connection with an empty query answered within `timeout`. After a timeout the
    /// server still owes a reply, so the connection is broken for good.
    pub fn validate(&mut self, timeout: Duration) -> Result<(), PostgresError> {
        if self.desynced {
            return Err(PostgresError::validation_timeout(
                timeout,
                Some("an earlier validation of this connection timed out".to_owned()),
            ));
        }
        let started = Instant::now();
        match self.inner().is_valid(timeout) {
            Ok(()) => Ok(()),
            Err(err) => {
                let closed = self.client().is_closed();
                if !closed && err.as_db_error().is_none() && started.elapsed() >= timeout {
                    self.desynced = true;
                    Err(PostgresError::validation_timeout(timeout, None))
                } else {
                    Err(PostgresError::driver(err))
                }
            }
        }
    }
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.desynced || client.is_closed() {
            // Sends Terminate and closes the socket without waiting for the server.
            drop(client);
            return;
        }
        // The driver's close waits for the reply still owed, which a server that stopped
        // answering may never send: close it on a thread of its own.
        log::debug!(target: "millpond::postgres", "closing a connection whose server stopped answering on a separate thread");
        let mut parked = Parked(Some(client));
        let spawned = thread::Builder::new()
            .name("millpond-pg-close".to_owned())
            .spawn(move || {
                if let Some(client) = parked.0.take() {
                    drop(client);
                }
            });
        if let Err(err) = spawned {
            log::warn!(target: "millpond::postgres", "could not start a thread to close an unresponsive connection on ({err}); abandoning it");
        }
    }
}

/// A client on its way to the closing thread: if that thread cannot start, the client is
/// abandoned (its socket leaks) rather than closed in a thread that may wait forever.
struct Parked(Option<Client>);

impl Drop for Parked {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            std::mem::forget(client);
        }
    }
}

/// Whether `sql` contains a statement that begins a transaction.
fn begins_transaction(sql: &str) -> bool {
    let mut probe = TxTracker::new(Dialect::Postgres);
    probe.observe(sql);
    probe.state() != TransactionState::Idle
}

/// Whether `sql` contains a statement that ends a transaction.
pub(super) fn ends_transaction(sql: &str) -> bool {
    let mut probe = TxTracker::new(Dialect::Postgres);
    probe.began();
    probe.observe(sql);
    probe.state() == TransactionState::Idle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_control_is_recognised() {
        assert!(begins_transaction("BEGIN"));
        assert!(begins_transaction("start transaction read only"));
        assert!(!begins_transaction("SELECT 'BEGIN'"));
        assert!(ends_transaction("COMMIT"));
        assert!(ends_transaction("rollback"));
        assert!(!ends_transaction("ROLLBACK TO SAVEPOINT a"));
        assert!(!ends_transaction("DISCARD ALL"));
    }
}
