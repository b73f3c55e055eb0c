//! [`PgConnection`]: the pooled connection, which follows its transaction state from the SQL it sends.

use std::fmt;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use postgres::types::{BorrowToSql, ToSql, Type};
use postgres::{
    CancelToken, Client, CopyInWriter, CopyOutReader, Notifications, Row, RowIter, SimpleQueryMessage,
    Statement,
};

use super::cache::{self, StatementCache};
use super::commit::{Checked, PreparedCommits, begins_transaction, check_before_commit, ends_transaction};
use super::error::{PostgresError, ends_session};
use super::sql::Sql;
use super::transaction::{PgTransaction, PgTransactionBuilder};
use super::unnamed;
use crate::backends::txn::{Dialect, TxTracker};
use crate::manage::TransactionState;

/// A PostgreSQL connection that follows its own transaction state, so the pool can skip the
/// rollback when a borrower gives it back with no transaction open.
///
/// It offers the [`postgres::Client`] methods, each of which notes the SQL it sends. The
/// client itself is not lent out while the connection belongs to the pool: its `transaction()`
/// and its `batch_execute("COMMIT")` report success when the server turned the commit into a
/// rollback, which every commit made here reports as an error (see
/// [`PgConnection::transaction`]). [`PgConnection::into_client`] gives it back for good, after
/// [`PooledConnection::detach`](crate::PooledConnection::detach).
pub struct PgConnection {
    /// `Some` until dropped, or until a reset that timed out left it on the reset's thread.
    client: Option<Client>,
    /// Prepared statements that commit, checked like the SQL text that commits.
    pub(super) prepared_commits: PreparedCommits,
    /// The statements prepared for SQL text run here, by text.
    statements: StatementCache,
    tracker: TxTracker,
    /// A statement that begins or ends transactions was prepared here, so running prepared
    /// statements makes the state unknown.
    prepared_tx_control: bool,
    /// A validation timed out: the server still owes a reply, and the connection cannot be used.
    desynced: bool,
    /// The server (or PgBouncer) ended the session with a `FATAL` error.
    ended: bool,
    pid: Option<i32>,
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            .field("backend_pid", &self.pid)
            .field("transaction_state", &self.tracker.state())
            .field("closed", &self.is_closed())
            .field("desynced", &self.desynced)
            .field("ended", &self.ended)
            .field("cached_statements", &self.statements.len())
            .field("behind_pgbouncer", &self.statements.is_unnamed())
            .finish()
    }
}

impl PgConnection {
    /// Wraps a client opened elsewhere. Its transaction state is taken to be idle. It keeps
    /// up to 100 prepared statements (see [`PgConnection::with_statement_cache`]).
    pub fn new(client: Client) -> Self {
        Self::with_statement_cache(client, cache::DEFAULT_CAPACITY)
    }

    /// Wraps a client opened elsewhere, keeping up to `capacity` statements prepared for the SQL
    /// text it runs (0 keeps none). See [`PostgresManager::statement_cache_capacity`](super::PostgresManager::statement_cache_capacity).
    pub fn with_statement_cache(client: Client, capacity: usize) -> Self {
        Self::with_cache(client, StatementCache::new(capacity))
    }

    /// Wraps a client connected through PgBouncer in transaction mode: SQL text runs as unnamed
    /// statements, and the parameter types of up to `capacity` SQL texts are kept. See
    /// [`PostgresManager::pgbouncer`](super::PostgresManager::pgbouncer).
    pub fn behind_pgbouncer(client: Client, capacity: usize) -> Self {
        Self::with_cache(client, StatementCache::unnamed(capacity))
    }

    fn with_cache(client: Client, statements: StatementCache) -> Self {
        PgConnection {
            client: Some(client),
            prepared_commits: PreparedCommits::default(),
            statements,
            tracker: TxTracker::new(Dialect::Postgres),
            prepared_tx_control: false,
            desynced: false,
            ended: false,
            pid: None,
        }
    }

    /// The client, for methods that send nothing (`is_closed`, `cancel_token`,
    /// `clear_type_cache`).
    ///
    /// # Panics
    ///
    /// After a reset that timed out (the pool closes such a connection at once; only a manager
    /// of your own that calls `reset` itself can see one).
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect(GONE)
    }

    pub(super) fn inner(&mut self) -> &mut Client {
        self.client.as_mut().expect(GONE)
    }

    /// Takes the client out, for good: call it on a connection that left the pool
    /// ([`PooledConnection::detach`](crate::PooledConnection::detach)). The driver's own
    /// `transaction().commit()` then reports `Ok` for a transaction the server rolled back; use
    /// [`PgConnection::transaction`] before detaching if that matters.
    ///
    /// # Panics
    ///
    /// As [`PgConnection::client`].
    pub fn into_client(mut self) -> Client {
        self.client.take().expect(GONE)
    }

    /// The transaction state as followed from the SQL sent so far.
    pub fn transaction_state(&self) -> TransactionState {
        self.tracker.state()
    }

    /// Whether the driver saw the connection close (or a reset that timed out took it).
    pub fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    /// Whether the connection cannot be used any more: closed, a validation or reset timed
    /// out, or the server (or PgBouncer) ended the session with a `FATAL` error that the driver
    /// may not have seen the end of yet; or, behind PgBouncer, it must not be pooled again (see
    /// [`PostgresManager::pgbouncer`](super::PostgresManager::pgbouncer)).
    pub fn is_broken(&self) -> bool {
        self.desynced || self.ended || self.is_closed() || self.statements.must_retire()
    }

    /// Notes an error that ended the session (see [`PgConnection::is_broken`]).
    fn checked<R>(&mut self, result: Result<R, postgres::Error>) -> Result<R, postgres::Error> {
        if let Err(err) = &result
            && ends_session(err)
        {
            self.ended = true;
        }
        result
    }

    /// The server process serving this connection (`pg_backend_pid()`), asked once and then
    /// remembered.
    pub fn backend_pid(&mut self) -> Result<i32, postgres::Error> {
        if let Some(pid) = self.pid {
            return Ok(pid);
        }
        // Unnamed, so that it is safe behind PgBouncer too.
        let pid: i32 = self
            .inner()
            .query_typed_one("SELECT pg_backend_pid()", &[])?
            .get(0);
        self.pid = Some(pid);
        Ok(pid)
    }

    /// A token to cancel the statement running on this connection from another thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.client().cancel_token()
    }

    /// Notes what `query` does to the transaction state and, if it commits, first makes sure
    /// the transaction has not failed (see [`PgConnection::transaction`]); then lends the
    /// client to send it.
    fn observe<T: ?Sized + Sql>(&mut self, query: &T) -> Result<&mut Client, postgres::Error> {
        match query.sql_text() {
            Some(sql) => {
                self.tracker.observe(sql);
                if cache::forgets_statements(sql) {
                    // Before it runs: a statement kept past it would be gone on the server.
                    self.statements.clear();
                }
            }
            None if self.prepared_tx_control => self.tracker.lost_track(),
            None => {}
        }
        if self.prepared_commits.commits(query) {
            let client = self.client.as_mut().expect(GONE);
            if let Err(checked) = check_before_commit(client) {
                match checked {
                    Checked::RolledBack(_) => self.tracker.ended(),
                    Checked::Failed(_) => self.tracker.lost_track(),
                }
                return Err(checked.into_error());
            }
        }
        Ok(self.inner())
    }

    /// The statement to run for `sql`: the one kept for it, or one prepared now and kept.
    /// `lent` says it goes to the caller, who may run it as a [`Statement`]: one that begins or
    /// ends a transaction then makes prepared statements unclassified (see
    /// [`PgConnection::prepare`]).
    fn cached(&mut self, sql: &str, lent: bool) -> Result<Statement, postgres::Error> {
        let client = &mut self.client;
        let kept = self
            .statements
            .get_or_prepare(sql, &mut self.prepared_commits, |sql| {
                client.as_mut().expect(GONE).prepare(sql)
            })?;
        if lent && kept.tx_control {
            self.prepared_tx_control = true;
        }
        Ok(kept.statement)
    }

    /// Runs SQL text through the statement cache: `run` gets the statement kept for it (or one
    /// prepared now). When the server says the statement is gone or stale, it is forgotten and,
    /// outside a transaction, prepared again and run once more; inside one the error stands
    /// (the transaction has failed anyway). A prepared statement, or any query with the cache
    /// off, goes straight to the driver. Behind PgBouncer, SQL text goes to `unnamed` with its
    /// parameter types instead (see [`unnamed`]).
    fn run<T, R>(
        &mut self,
        query: &T,
        run: impl Fn(&mut Client, &Statement) -> Result<R, postgres::Error>,
        direct: impl FnOnce(&mut Client, &T) -> Result<R, postgres::Error>,
        unnamed: impl FnOnce(&mut Client, &str, &[Type]) -> Result<R, postgres::Error>,
    ) -> Result<R, postgres::Error>
    where
        T: ?Sized + Sql,
    {
        let result = self.run_unchecked(query, run, direct, unnamed);
        self.checked(result)
    }

    /// [`PgConnection::run`] before the error is looked at.
    fn run_unchecked<T, R>(
        &mut self,
        query: &T,
        run: impl Fn(&mut Client, &Statement) -> Result<R, postgres::Error>,
        direct: impl FnOnce(&mut Client, &T) -> Result<R, postgres::Error>,
        unnamed: impl FnOnce(&mut Client, &str, &[Type]) -> Result<R, postgres::Error>,
    ) -> Result<R, postgres::Error>
    where
        T: ?Sized + Sql,
    {
        if let Some(sql) = self.statements.unnamed_key(query) {
            let types = self.unnamed_types(sql)?;
            let result = unnamed(self.inner(), sql, &types);
            if let Err(err) = &result
                && unnamed::may_be_stale(err)
            {
                self.statements.remove(sql);
            }
            return result;
        }
        let Some(sql) = self.statements.key(query) else {
            return direct(self.observe(query)?, query);
        };
        let idle_before = self.tracker.state() == TransactionState::Idle;
        self.observe(query)?;
        let statement = self.cached(sql, false)?;
        match run(self.inner(), &statement) {
            Err(err) if cache::is_stale(&err) => {
                self.statements.remove(sql);
                if !(idle_before && self.tracker.state() == TransactionState::Idle) {
                    return Err(err);
                }
                log::debug!(target: "millpond::postgres", "a cached statement was gone or stale ({err}); preparing it again");
                let statement = self.cached(sql, false)?;
                run(self.inner(), &statement)
            }
            other => other,
        }
    }

    /// Behind PgBouncer: notes what `sql` does (as [`PgConnection::observe`]) and returns the
    /// parameter types to declare for it, learned in a transaction of its own when none is
    /// open. A state that cannot be told is taken as a transaction open.
    fn unnamed_types(&mut self, sql: &str) -> Result<std::sync::Arc<[Type]>, postgres::Error> {
        let idle_before = self.tracker.state() == TransactionState::Idle;
        self.observe(sql)?;
        let client = self.client.as_mut().expect(GONE);
        unnamed::param_types(client, &mut self.statements, sql, idle_before)
    }

    /// Behind PgBouncer, learns what `sql` needs (see [`unnamed`]) without running it, and
    /// says `true`; otherwise `false`.
    pub(super) fn describe_unnamed(&mut self, sql: &str) -> Result<bool, postgres::Error> {
        if !self.statements.is_unnamed() {
            return Ok(false);
        }
        self.unnamed_types(sql)?;
        Ok(true)
    }

    /// Runs a statement, returning the number of rows changed. See [`postgres::Client::execute`].
    /// SQL text runs as a statement prepared once on this connection and kept (see
    /// [`PostgresManager::statement_cache_capacity`](super::PostgresManager::statement_cache_capacity)).
    pub fn execute<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        self.run(
            query,
            |client, statement| client.execute(statement, params),
            |client, query| client.execute(query, params),
            |client, sql, types| client.execute_typed(sql, &unnamed::typed(params, types)),
        )
    }

    /// Runs a statement, returning its rows. See [`postgres::Client::query`]; SQL text runs as a
    /// kept statement, as for [`PgConnection::execute`].
    pub fn query<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        self.run(
            query,
            |client, statement| client.query(statement, params),
            |client, query| client.query(query, params),
            |client, sql, types| client.query_typed(sql, &unnamed::typed(params, types)),
        )
    }

    /// Runs a statement that returns exactly one row. See [`postgres::Client::query_one`]; SQL
    /// text runs as a kept statement, as for [`PgConnection::execute`].
    pub fn query_one<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        self.run(
            query,
            |client, statement| client.query_one(statement, params),
            |client, query| client.query_one(query, params),
            |client, sql, types| client.query_typed_one(sql, &unnamed::typed(params, types)),
        )
    }

    /// Runs a statement that returns at most one row. See [`postgres::Client::query_opt`]; SQL
    /// text runs as a kept statement, as for [`PgConnection::execute`].
    pub fn query_opt<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        self.run(
            query,
            |client, statement| client.query_opt(statement, params),
            |client, query| client.query_opt(query, params),
            |client, sql, types| client.query_typed_opt(sql, &unnamed::typed(params, types)),
        )
    }

    /// Runs a statement, returning its rows as they arrive. See [`postgres::Client::query_raw`].
    /// SQL text runs as a kept statement; since the parameters are consumed, a statement that
    /// turns out gone or stale is forgotten but not run again: the error is returned.
    pub fn query_raw<T, P, I>(&mut self, query: &T, params: I) -> Result<RowIter<'_>, postgres::Error>
    where
        T: ?Sized + Sql,
        P: BorrowToSql,
        I: IntoIterator<Item = P>,
        I::IntoIter: ExactSizeIterator,
    {
        if let Some(sql) = self.statements.unnamed_key(query) {
            let types = self.unnamed_types(sql)?;
            return self
                .inner()
                .query_typed_raw(sql, params.into_iter().zip(unnamed::declared(&types)));
        }
        let Some(sql) = self.statements.key(query) else {
            return self.observe(query)?.query_raw(query, params);
        };
        self.observe(query)?;
        let statement = self.cached(sql, false)?;
        let stale = match self.client.as_mut().expect(GONE).query_raw(&statement, params) {
            Err(err) if cache::is_stale(&err) => err,
            other => return other,
        };
        self.statements.remove(sql);
        Err(stale)
    }

    /// The statement kept for `query` on this connection, prepared now if there is none (and
    /// kept, unless the cache is off): [`PgConnection::prepare`] for SQL run again and again.
    /// deadpool-postgres' `prepare_cached`.
    ///
    /// Behind PgBouncer ([`PostgresManager::pgbouncer`](super::PostgresManager::pgbouncer))
    /// nothing is kept: this is [`PgConnection::prepare`], a named statement that must be used
    /// and dropped inside one transaction.
    pub fn prepare_cached(&mut self, query: &str) -> Result<Statement, postgres::Error> {
        if !self.statements.is_on() {
            return self.prepare(query);
        }
        self.cached(query, true)
    }

    /// Runs a statement with its parameter types given, unprepared (one round trip, no
    /// statement left on the server), returning the number of rows changed. See
    /// [`postgres::Client::execute_typed`].
    pub fn execute_typed(
        &mut self,
        query: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<u64, postgres::Error> {
        let result = self
            .observe_typed(query)
            .and_then(|client| client.execute_typed(query, params));
        self.checked(result)
    }

    /// As [`PgConnection::query_typed`], for exactly one row. See
    /// [`postgres::Client::query_typed_one`].
    pub fn query_typed_one(
        &mut self,
        query: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Row, postgres::Error> {
        let result = self
            .observe_typed(query)
            .and_then(|client| client.query_typed_one(query, params));
        self.checked(result)
    }

    /// As [`PgConnection::query_typed`], for at most one row. See
    /// [`postgres::Client::query_typed_opt`].
    pub fn query_typed_opt(
        &mut self,
        query: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Option<Row>, postgres::Error> {
        let result = self
            .observe_typed(query)
            .and_then(|client| client.query_typed_opt(query, params));
        self.checked(result)
    }

    /// As [`PgConnection::query_typed`], returning the rows as they arrive. See
    /// [`postgres::Client::query_typed_raw`].
    pub fn query_typed_raw<P, I>(&mut self, query: &str, params: I) -> Result<RowIter<'_>, postgres::Error>
    where
        P: BorrowToSql,
        I: IntoIterator<Item = (P, Type)>,
    {
        self.observe_typed(query)?.query_typed_raw(query, params)
    }

    /// [`PgConnection::observe`] for the `*_typed` methods, which send SQL text unnamed with
    /// the types given. Behind PgBouncer, the text is also described once (see [`unnamed`]):
    /// a type the driver would look up while reading the rows is looked up there, inside a
    /// transaction, instead of with a statement of its own that outlives it.
    fn observe_typed(&mut self, sql: &str) -> Result<&mut Client, postgres::Error> {
        if self.statements.is_unnamed() {
            self.unnamed_types(sql)?;
            return Ok(self.inner());
        }
        self.observe(sql)
    }

    /// How many statements (behind PgBouncer: parameter type lists) this connection keeps for
    /// SQL text now.
    pub fn cached_statements(&self) -> usize {
        self.statements.len()
    }

    /// Prepares a statement. See [`postgres::Client::prepare`].
    ///
    /// Running a prepared statement is not classified, which costs nothing as long as no
    /// statement that begins or ends a transaction was prepared on this connection; once one
    /// was, running any prepared statement makes the state unknown (a rollback on return). A
    /// prepared statement that commits is checked when run, as the SQL text is.
    pub fn prepare(&mut self, query: &str) -> Result<Statement, postgres::Error> {
        self.note_prepared(query);
        let statement = self.inner().prepare(query)?;
        self.prepared_commits.note(query, &statement);
        Ok(statement)
    }

    /// Prepares a statement with some parameter types given. See
    /// [`postgres::Client::prepare_typed`] and [`PgConnection::prepare`].
    pub fn prepare_typed(&mut self, query: &str, types: &[Type]) -> Result<Statement, postgres::Error> {
        self.note_prepared(query);
        let statement = self.inner().prepare_typed(query, types)?;
        self.prepared_commits.note(query, &statement);
        Ok(statement)
    }

    /// Runs a statement with its parameter types given, unprepared, returning its rows. See
    /// [`postgres::Client::query_typed`].
    pub fn query_typed(
        &mut self,
        query: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let result = self
            .observe_typed(query)
            .and_then(|client| client.query_typed(query, params));
        self.checked(result)
    }

    /// The notifications (`LISTEN`/`NOTIFY`) received on this connection. See
    /// [`postgres::Client::notifications`].
    pub fn notifications(&mut self) -> Notifications<'_> {
        self.inner().notifications()
    }

    fn note_prepared(&mut self, query: &str) {
        if begins_transaction(query) || ends_transaction(query) {
            self.prepared_tx_control = true;
        }
    }

    /// Runs statements separated by `;` with the simple query protocol. See
    /// [`postgres::Client::batch_execute`].
    pub fn batch_execute(&mut self, query: &str) -> Result<(), postgres::Error> {
        let result = self.observe(query).and_then(|client| client.batch_execute(query));
        self.checked(result)
    }

    /// Runs statements with the simple query protocol, returning their rows as text. See
    /// [`postgres::Client::simple_query`].
    pub fn simple_query(&mut self, query: &str) -> Result<Vec<SimpleQueryMessage>, postgres::Error> {
        let result = self.observe(query).and_then(|client| client.simple_query(query));
        self.checked(result)
    }

    /// Begins a transaction, which rolls back when dropped unless committed. See
    /// [`postgres::Client::transaction`].
    ///
    /// Its [`commit`](PgTransaction::commit) is an error (SQLSTATE 25P02,
    /// `in_failed_sql_transaction`) when a statement in the transaction failed: PostgreSQL
    /// answers such a `COMMIT` with a rollback, which the driver's own transaction reports as
    /// success. So is every other commit sent through this connection: `COMMIT` or `END` as
    /// text, through any method, or as a prepared statement.
    ///
    /// The transaction borrows this connection, so by the time the connection can be given
    /// back the transaction has been committed or rolled back: the state is idle again. (A
    /// transaction object leaked with `mem::forget` would break that promise.)
    pub fn transaction(&mut self) -> Result<PgTransaction<'_>, postgres::Error> {
        self.tracker.ended();
        let client = self.client.as_mut().expect(GONE);
        Ok(PgTransaction::new(
            client.transaction()?,
            &mut self.prepared_commits,
            &mut self.statements,
            true,
        ))
    }

    /// A builder for a transaction with an isolation level, read-only or deferrable. See
    /// [`postgres::Client::build_transaction`] and [`PgConnection::transaction`].
    pub fn build_transaction(&mut self) -> PgTransactionBuilder<'_> {
        self.tracker.ended();
        let client = self.client.as_mut().expect(GONE);
        PgTransactionBuilder::new(
            client.build_transaction(),
            &mut self.prepared_commits,
            &mut self.statements,
        )
    }

    /// Runs a `COPY … FROM STDIN`, returning a writer for the data. See
    /// [`postgres::Client::copy_in`].
    pub fn copy_in<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyInWriter<'_>, postgres::Error> {
        self.observe(query)?.copy_in(query)
    }

    /// Runs a `COPY … TO STDOUT`, returning a reader for the data. See
    /// [`postgres::Client::copy_out`].
    pub fn copy_out<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyOutReader<'_>, postgres::Error> {
        self.observe(query)?.copy_out(query)
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
                    self.ended |= ends_session(&err);
                    Err(PostgresError::driver(err))
                }
            }
        }
    }
}

impl PgConnection {
    /// Runs `work` on the client within `timeout`, on a short-lived thread of its own, since the
    /// driver has no per-statement timeout. When the time passes the client stays with that
    /// thread, which closes it once the server answers or the connection drops; this connection
    /// is then broken for good (no client), and the pool closes it at once.
    pub(super) fn bounded(
        &mut self,
        timeout: Duration,
        work: impl FnOnce(&mut Client) -> Result<(), postgres::Error> + Send + 'static,
    ) -> Result<(), PostgresError> {
        let Some(client) = self.client.take() else {
            return Err(PostgresError::other(
                "resetting".to_owned(),
                "the connection was given up by an earlier reset".to_owned(),
            ));
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let mut parked = Parked(Some(client));
        let spawned = thread::Builder::new()
            .name("millpond-pg-reset".to_owned())
            .spawn(move || {
                if let Some(mut client) = parked.0.take() {
                    let result = work(&mut client);
                    // After a timeout nobody listens: the client is closed here, off the
                    // borrower's thread.
                    let _ = tx.send((client, result));
                }
            });
        if let Err(err) = spawned {
            return Err(PostgresError::other(
                "resetting".to_owned(),
                format!("could not start a thread to reset on ({err}); the connection is given up"),
            ));
        }
        match rx.recv_timeout(timeout) {
            Ok((client, result)) => {
                self.client = Some(client);
                result.map_err(PostgresError::driver)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                log::warn!(target: "millpond::postgres", "a reset got no answer within {timeout:?}; giving the connection up");
                Err(PostgresError::reset_timeout(timeout))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(PostgresError::other(
                "resetting".to_owned(),
                "the reset thread panicked".to_owned(),
            )),
        }
    }

    /// Records that the pool's reset ended the transaction, then ran `statement` if any.
    pub(super) fn reset_done(&mut self, statement: Option<&str>) {
        self.tracker.ended();
        if let Some(sql) = statement {
            self.tracker.observe(sql);
        }
    }
}

/// Why a method found no client.
const GONE: &str = "the client is present until the connection is dropped or a reset times out";

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
