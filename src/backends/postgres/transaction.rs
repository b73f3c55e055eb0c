//! [`PgTransaction`]: the driver's transaction, with a commit that fails when the server rolled
//! back instead.

use std::fmt;

use postgres::types::{BorrowToSql, ToSql, Type};
use postgres::{
    CancelToken, CopyInWriter, CopyOutReader, IsolationLevel, Portal, Row, RowIter, SimpleQueryMessage,
    Statement, Transaction, TransactionBuilder,
};

use super::cache::{self, StatementCache};
use super::commit::{CHECKED_COMMIT, PreparedCommits, check_before_commit, is_failed_transaction};
use super::sql::Sql;
use super::unnamed;

/// A transaction on a [`PgConnection`](super::PgConnection): the driver's
/// [`postgres::Transaction`], with the same methods, except that nothing sent through it can
/// commit a transaction that the server rolled back while reporting success.
///
/// PostgreSQL answers `COMMIT` in a transaction in which a statement failed with a rollback,
/// and the driver's `commit()` returns `Ok` for it. Here [`commit`](PgTransaction::commit)
/// returns the server's refusal instead (SQLSTATE 25P02, `in_failed_sql_transaction`, see
/// [`postgres::Error::code`]), the transaction is rolled back, and no write is lost without an
/// error. `COMMIT` or `END` sent as SQL through the transaction's methods is checked the same
/// way.
///
/// Dropped without a commit, it rolls back. A nested transaction
/// ([`transaction`](PgTransaction::transaction), [`savepoint`](PgTransaction::savepoint)) is a
/// savepoint: its commit (`RELEASE SAVEPOINT`) already fails in a failed transaction.
pub struct PgTransaction<'a> {
    /// `Some` until committed or rolled back.
    inner: Option<Transaction<'a>>,
    prepared_commits: &'a mut PreparedCommits,
    /// The connection's statement cache: statements prepared in a transaction outlive it.
    statements: &'a mut StatementCache,
    /// A transaction of its own rather than a savepoint.
    top: bool,
}

impl fmt::Debug for PgTransaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTransaction")
            .field("savepoint", &!self.top)
            .finish_non_exhaustive()
    }
}

impl<'a> PgTransaction<'a> {
    pub(super) fn new(
        inner: Transaction<'a>,
        prepared_commits: &'a mut PreparedCommits,
        statements: &'a mut StatementCache,
        top: bool,
    ) -> Self {
        PgTransaction {
            inner: Some(inner),
            prepared_commits,
            statements,
            top,
        }
    }

    fn tx(&mut self) -> &mut Transaction<'a> {
        self.inner
            .as_mut()
            .expect("the transaction is present until committed or rolled back")
    }

    /// Checks, before `query` is sent, that it does not commit a failed transaction.
    fn check<T: ?Sized + Sql>(&mut self, query: &T) -> Result<&mut Transaction<'a>, postgres::Error> {
        if query.sql_text().is_some_and(cache::forgets_statements) {
            self.statements.clear();
        }
        if self.prepared_commits.commits(query) {
            check_before_commit(self.tx()).map_err(|checked| checked.into_error())?;
        }
        Ok(self.tx())
    }

    /// Runs SQL text as the statement the connection keeps for it (prepared now if none), as
    /// [`PgConnection::execute`](super::PgConnection::execute) does; a statement the server says
    /// is gone or stale is forgotten and the error returned, since the transaction has failed.
    /// A prepared statement, or any query with the cache off, goes straight to the driver.
    /// Behind PgBouncer, SQL text goes to `unnamed` with its parameter types (see [`unnamed`]).
    fn run<T, R>(
        &mut self,
        query: &T,
        run: impl FnOnce(&mut Transaction<'a>, &Statement) -> Result<R, postgres::Error>,
        direct: impl FnOnce(&mut Transaction<'a>, &T) -> Result<R, postgres::Error>,
        unnamed: impl FnOnce(&mut Transaction<'a>, &str, &[Type]) -> Result<R, postgres::Error>,
    ) -> Result<R, postgres::Error>
    where
        T: ?Sized + Sql,
    {
        if let Some(sql) = self.statements.unnamed_key(query) {
            let types = self.unnamed_types(sql)?;
            return unnamed(self.tx(), sql, &types);
        }
        let Some(sql) = self.statements.key(query) else {
            return direct(self.check(query)?, query);
        };
        self.check(query)?;
        let tx = &mut self.inner;
        let statement = self
            .statements
            .get_or_prepare(sql, self.prepared_commits, |sql| {
                tx.as_mut()
                    .expect("the transaction is present until committed or rolled back")
                    .prepare(sql)
            })?
            .statement;
        let result = run(self.tx(), &statement);
        if let Err(err) = &result
            && cache::is_stale(err)
        {
            self.statements.remove(sql);
        }
        result
    }

    /// Behind PgBouncer: checks `sql` (as [`PgTransaction::check`]) and returns the parameter
    /// types to declare for it, learned inside this transaction.
    fn unnamed_types(&mut self, sql: &str) -> Result<std::sync::Arc<[Type]>, postgres::Error> {
        self.check(sql)?;
        let tx = self
            .inner
            .as_mut()
            .expect("the transaction is present until committed or rolled back");
        unnamed::param_types(tx, self.statements, sql, false)
    }

    /// Commits. An error if the server did not: a statement in the transaction failed (25P02,
    /// and the transaction is rolled back), a deferred constraint or a serialization failure,
    /// or a lost connection.
    pub fn commit(mut self) -> Result<(), postgres::Error> {
        let mut inner = self
            .inner
            .take()
            .expect("the transaction is present until committed or rolled back");
        if !self.top {
            return inner.commit();
        }
        // One round trip: the `SELECT 1` is refused in a failed transaction, and the batch
        // stops before the `COMMIT`.
        match inner.batch_execute(CHECKED_COMMIT) {
            Ok(()) => {
                // Committed: the driver's transaction must not send its own `ROLLBACK` when
                // dropped (a round trip for a warning). Forgetting it frees nothing: it holds
                // borrows of the client and no savepoint name at the top level.
                std::mem::forget(inner);
                Ok(())
            }
            Err(err) => {
                if is_failed_transaction(&err) {
                    // Still open and failed: end it, as the `COMMIT` would have.
                    let _ = inner.rollback();
                } else {
                    // The server ended it (a failed commit) or the connection is gone;
                    // dropping sends a harmless `ROLLBACK`.
                    drop(inner);
                }
                Err(err)
            }
        }
    }

    /// Rolls back, returning any error. Dropping the transaction does the same, silently.
    pub fn rollback(mut self) -> Result<(), postgres::Error> {
        self.inner
            .take()
            .expect("the transaction is present until committed or rolled back")
            .rollback()
    }

    /// Like [`PgConnection::prepare`](super::PgConnection::prepare).
    pub fn prepare(&mut self, query: &str) -> Result<Statement, postgres::Error> {
        let statement = self.tx().prepare(query)?;
        self.prepared_commits.note(query, &statement);
        Ok(statement)
    }

    /// Like [`PgConnection::prepare_typed`](super::PgConnection::prepare_typed).
    pub fn prepare_typed(&mut self, query: &str, types: &[Type]) -> Result<Statement, postgres::Error> {
        let statement = self.tx().prepare_typed(query, types)?;
        self.prepared_commits.note(query, &statement);
        Ok(statement)
    }

    /// See [`postgres::Transaction::execute`].
    pub fn execute<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        self.run(
            query,
            |tx, statement| tx.execute(statement, params),
            |tx, query| tx.execute(query, params),
            |tx, sql, types| tx.execute_typed(sql, &unnamed::typed(params, types)),
        )
    }

    /// See [`postgres::Transaction::query`].
    pub fn query<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        self.run(
            query,
            |tx, statement| tx.query(statement, params),
            |tx, query| tx.query(query, params),
            |tx, sql, types| tx.query_typed(sql, &unnamed::typed(params, types)),
        )
    }

    /// See [`postgres::Transaction::query_one`].
    pub fn query_one<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        self.run(
            query,
            |tx, statement| tx.query_one(statement, params),
            |tx, query| tx.query_one(query, params),
            |tx, sql, types| tx.query_typed_one(sql, &unnamed::typed(params, types)),
        )
    }

    /// See [`postgres::Transaction::query_opt`].
    pub fn query_opt<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        self.run(
            query,
            |tx, statement| tx.query_opt(statement, params),
            |tx, query| tx.query_opt(query, params),
            |tx, sql, types| tx.query_typed_opt(sql, &unnamed::typed(params, types)),
        )
    }

    /// See [`postgres::Transaction::query_raw`].
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
                .tx()
                .query_typed_raw(sql, params.into_iter().zip(unnamed::declared(&types)));
        }
        self.check(query)?.query_raw(query, params)
    }

    /// See [`postgres::Transaction::query_typed`].
    pub fn query_typed(
        &mut self,
        query: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, postgres::Error> {
        if self.statements.is_unnamed() {
            // Described once, so that the driver looks up no type of its own while reading.
            self.unnamed_types(query)?;
        }
        self.check(query)?.query_typed(query, params)
    }

    /// Binds parameters to a statement, making a portal to read incrementally. See
    /// [`postgres::Transaction::bind`].
    pub fn bind<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Portal, postgres::Error> {
        self.check(query)?.bind(query, params)
    }

    /// The next `max_rows` rows of a portal (all of them if 0 or less). See
    /// [`postgres::Transaction::query_portal`].
    pub fn query_portal(&mut self, portal: &Portal, max_rows: i32) -> Result<Vec<Row>, postgres::Error> {
        self.tx().query_portal(portal, max_rows)
    }

    /// See [`postgres::Transaction::copy_in`].
    pub fn copy_in<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyInWriter<'_>, postgres::Error> {
        self.check(query)?.copy_in(query)
    }

    /// See [`postgres::Transaction::copy_out`].
    pub fn copy_out<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyOutReader<'_>, postgres::Error> {
        self.check(query)?.copy_out(query)
    }

    /// See [`postgres::Transaction::simple_query`].
    pub fn simple_query(&mut self, query: &str) -> Result<Vec<SimpleQueryMessage>, postgres::Error> {
        self.check(query)?.simple_query(query)
    }

    /// See [`postgres::Transaction::batch_execute`].
    pub fn batch_execute(&mut self, query: &str) -> Result<(), postgres::Error> {
        self.check(query)?.batch_execute(query)
    }

    /// A token to cancel the statement running in this transaction from another thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.inner
            .as_ref()
            .expect("the transaction is present until committed or rolled back")
            .cancel_token()
    }

    /// A nested transaction, through a savepoint. See [`postgres::Transaction::transaction`].
    pub fn transaction(&mut self) -> Result<PgTransaction<'_>, postgres::Error> {
        let inner = self
            .inner
            .as_mut()
            .expect("the transaction is present until committed or rolled back")
            .transaction()?;
        Ok(PgTransaction::new(
            inner,
            self.prepared_commits,
            self.statements,
            false,
        ))
    }

    /// A nested transaction through a savepoint of this name. See
    /// [`postgres::Transaction::savepoint`].
    pub fn savepoint(&mut self, name: impl Into<String>) -> Result<PgTransaction<'_>, postgres::Error> {
        let inner = self
            .inner
            .as_mut()
            .expect("the transaction is present until committed or rolled back")
            .savepoint(name)?;
        Ok(PgTransaction::new(
            inner,
            self.prepared_commits,
            self.statements,
            false,
        ))
    }
}

/// A builder for a [`PgTransaction`] with an isolation level, read-only or deferrable. See
/// [`postgres::TransactionBuilder`].
pub struct PgTransactionBuilder<'a> {
    inner: TransactionBuilder<'a>,
    prepared_commits: &'a mut PreparedCommits,
    statements: &'a mut StatementCache,
}

impl fmt::Debug for PgTransactionBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTransactionBuilder").finish_non_exhaustive()
    }
}

impl<'a> PgTransactionBuilder<'a> {
    pub(super) fn new(
        inner: TransactionBuilder<'a>,
        prepared_commits: &'a mut PreparedCommits,
        statements: &'a mut StatementCache,
    ) -> Self {
        PgTransactionBuilder {
            inner,
            prepared_commits,
            statements,
        }
    }

    /// The isolation level (default: the session's).
    #[must_use]
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.inner = self.inner.isolation_level(level);
        self
    }

    /// Read-only or read-write (default: the session's).
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.inner = self.inner.read_only(read_only);
        self
    }

    /// Deferrable or not (default: the session's); see [`postgres::TransactionBuilder::deferrable`].
    #[must_use]
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.inner = self.inner.deferrable(deferrable);
        self
    }

    /// Begins the transaction.
    pub fn start(self) -> Result<PgTransaction<'a>, postgres::Error> {
        Ok(PgTransaction::new(
            self.inner.start()?,
            self.prepared_commits,
            self.statements,
            true,
        ))
    }
}
