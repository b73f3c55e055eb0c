//! A transaction pinned to one connection from its start to its commit or rollback, with
//! savepoints for nested transactions and work to run on commit.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe};

use super::connection::SessionConnection;
use crate::manage::ManageConnection;
use crate::pool::PooledConnection;

type DbError<M> = <<M as ManageConnection>::Connection as SessionConnection>::Error;
type OnCommit<M> = Box<dyn FnOnce(&mut <M as ManageConnection>::Connection) + Send>;

/// What the outermost transaction owns and its nested ones borrow.
struct Pinned<M: ManageConnection> {
    conn: PooledConnection<M>,
    /// Work to run after the outermost commit, in the order it was registered.
    on_commit: Vec<OnCommit<M>>,
}

enum Hold<'t, M: ManageConnection> {
    /// The outermost transaction, which borrows its session for `'t`.
    Outermost(Pinned<M>, PhantomData<&'t mut ()>),
    /// A savepoint inside another transaction.
    Nested(&'t mut Pinned<M>),
}

/// A transaction on one connection, which stays checked out until the outermost transaction is
/// committed or rolled back. Dropped without either, it rolls back.
///
/// It derefs to the backend's connection, for statements with parameters and everything else.
/// [`Transaction::transaction`] nests one with a savepoint on the same connection.
#[must_use = "a transaction dropped at once rolls back"]
pub struct Transaction<'t, M: ManageConnection>
where
    M::Connection: SessionConnection,
{
    hold: Hold<'t, M>,
    /// 0 for the outermost transaction; the savepoint's number otherwise.
    depth: u32,
    /// How many on-commit callbacks were registered before this transaction began: those after
    /// it are dropped if it rolls back.
    mark: usize,
    finished: bool,
}

impl<'t, M: ManageConnection> Transaction<'t, M>
where
    M::Connection: SessionConnection,
{
    /// Begins a transaction on a connection just checked out. On failure the connection goes back.
    pub(super) fn begin(mut conn: PooledConnection<M>) -> Result<Self, DbError<M>> {
        conn.begin_transaction()?;
        Ok(Transaction {
            hold: Hold::Outermost(
                Pinned {
                    conn,
                    on_commit: Vec::new(),
                },
                PhantomData,
            ),
            depth: 0,
            mark: 0,
            finished: false,
        })
    }

    fn pinned(&mut self) -> &mut Pinned<M> {
        match &mut self.hold {
            Hold::Outermost(pinned, _) => pinned,
            Hold::Nested(pinned) => pinned,
        }
    }

    fn pinned_ref(&self) -> &Pinned<M> {
        match &self.hold {
            Hold::Outermost(pinned, _) => pinned,
            Hold::Nested(pinned) => pinned,
        }
    }

    /// The pooled connection's id (as in the pool's events), the same for every nested level.
    pub fn connection_id(&self) -> u64 {
        self.pinned_ref().conn.id()
    }

    /// How deep this transaction is nested: 0 for the outermost.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Runs SQL that takes no parameters in this transaction.
    pub fn execute(&mut self, sql: &str) -> Result<(), DbError<M>> {
        self.pinned().conn.run_sql(sql)
    }

    /// Begins a nested transaction: a savepoint on the same connection. Committing it releases
    /// the savepoint; rolling it back (or dropping it) undoes what it did and drops the work it
    /// registered with [`Transaction::on_commit`]. The outer transaction is borrowed meanwhile.
    pub fn transaction(&mut self) -> Result<Transaction<'_, M>, DbError<M>> {
        let depth = self.depth + 1;
        let pinned = self.pinned();
        pinned.conn.create_savepoint(&savepoint_name(depth))?;
        let mark = pinned.on_commit.len();
        Ok(Transaction {
            hold: Hold::Nested(pinned),
            depth,
            mark,
            finished: false,
        })
    }

    /// Runs `work` in a nested transaction (a savepoint): released when it returns `Ok`, rolled
    /// back when it returns `Err` or panics (the panic then goes on).
    pub fn atomic<T, E>(&mut self, work: impl FnOnce(&mut Transaction<'_, M>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError<M>>,
    {
        let nested = self.transaction()?;
        atomic(nested, work)
    }

    /// Registers work to run after the outermost transaction commits, with its connection, before
    /// the connection goes back to the pool; in the order registered. Dropped if this
    /// transaction (or one it is nested in) rolls back. Work that panics panics out of `commit`,
    /// and the connection is then closed, as any connection given back during a panic is.
    pub fn on_commit(&mut self, work: impl FnOnce(&mut M::Connection) + Send + 'static) {
        self.pinned().on_commit.push(Box::new(work));
    }

    /// Commits: the outermost transaction commits, runs its on-commit work and gives the
    /// connection back; a nested one releases its savepoint. On failure the on-commit work is
    /// dropped, and the outermost transaction's connection still goes back (with a rollback if
    /// the backend still sees a transaction open).
    pub fn commit(mut self) -> Result<(), DbError<M>> {
        self.finished = true;
        let depth = self.depth;
        let mark = self.mark;
        let pinned = self.pinned();
        if depth > 0 {
            let released = pinned.conn.release_savepoint(&savepoint_name(depth));
            if released.is_err() {
                pinned.on_commit.truncate(mark);
            }
            return released;
        }
        if let Err(err) = pinned.conn.commit_transaction() {
            pinned.on_commit.clear();
            return Err(err);
        }
        for work in std::mem::take(&mut pinned.on_commit) {
            work(&mut pinned.conn);
        }
        Ok(())
    }

    /// Rolls back: the outermost transaction rolls back and gives the connection back; a nested
    /// one rolls back to its savepoint and releases it. Its on-commit work is dropped.
    pub fn rollback(mut self) -> Result<(), DbError<M>> {
        self.finished = true;
        let result = self.undo();
        if result.is_err() {
            // A connection whose rollback failed may still hold a transaction: never reuse it.
            self.pinned().conn.invalidate();
        }
        result
    }

    fn undo(&mut self) -> Result<(), DbError<M>> {
        let depth = self.depth;
        let mark = self.mark;
        let pinned = self.pinned();
        pinned.on_commit.truncate(mark);
        if depth == 0 {
            pinned.conn.rollback_transaction()
        } else {
            let name = savepoint_name(depth);
            pinned.conn.rollback_to_savepoint(&name)?;
            pinned.conn.release_savepoint(&name)
        }
    }
}

/// Savepoint names by depth: a nested transaction only ever sees the one it set.
fn savepoint_name(depth: u32) -> String {
    format!("millpond_sp_{depth}")
}

/// Runs `work` in `tx`: commits on `Ok`, rolls back on `Err` or a panic. The panic is caught
/// so the rollback runs with the thread not yet panicking: a connection rolled back cleanly is
/// then kept by the pool rather than closed. The panic goes on afterwards.
pub(super) fn atomic<M, T, E>(
    mut tx: Transaction<'_, M>,
    work: impl FnOnce(&mut Transaction<'_, M>) -> Result<T, E>,
) -> Result<T, E>
where
    M: ManageConnection,
    M::Connection: SessionConnection,
    E: From<DbError<M>>,
{
    match panic::catch_unwind(AssertUnwindSafe(|| work(&mut tx))) {
        Ok(Ok(value)) => {
            tx.commit()?;
            Ok(value)
        }
        Ok(Err(err)) => {
            drop(tx);
            Err(err)
        }
        Err(payload) => {
            drop(tx);
            panic::resume_unwind(payload)
        }
    }
}

impl<M: ManageConnection> Drop for Transaction<'_, M>
where
    M::Connection: SessionConnection,
{
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Rolled back explicitly even during a panic (when the pool will close the connection
        // anyway): the close happens later on a worker thread, and until then the server would
        // keep the transaction's locks, which code that catches the panic may want at once.
        if let Err(err) = self.undo() {
            log::warn!(target: "millpond::session", "rolling back a dropped transaction failed, closing its connection: {}", crate::error::Chain(&err));
            self.pinned().conn.invalidate();
        }
    }
}

impl<M: ManageConnection> Deref for Transaction<'_, M>
where
    M::Connection: SessionConnection,
{
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.pinned_ref().conn
    }
}

impl<M: ManageConnection> DerefMut for Transaction<'_, M>
where
    M::Connection: SessionConnection,
{
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.pinned().conn
    }
}

impl<M: ManageConnection> fmt::Debug for Transaction<'_, M>
where
    M::Connection: SessionConnection,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("connection_id", &self.connection_id())
            .field("depth", &self.depth)
            .field("on_commit", &self.pinned_ref().on_commit.len())
            .finish()
    }
}
