//! The backend contract, and the adapter that lets any r2d2 manager plug in.

use std::error::Error as StdError;
use std::time::Duration;

use crate::error::ConfigError;
use crate::options::PoolOptions;

/// Whether a connection has a transaction open, as far as the backend can tell without I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionState {
    /// No transaction is open: returning the connection needs no round trip.
    Idle,
    /// A transaction is open (or failed and not yet ended).
    Active,
    /// The backend cannot tell; the pool resets as if a transaction were open.
    Unknown,
}

/// What the pool asks a backend to do to a connection coming back, per the reset policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetAction<'a> {
    /// End the open transaction with a rollback.
    Rollback,
    /// End the open transaction with a commit.
    Commit,
    /// Run this statement (for example `DISCARD ALL`).
    Statement(&'a str),
}

/// What an error of the backend means for the pool: the answer of a classifier given to
/// [`Builder::classify_errors`](crate::Builder::classify_errors), which overrides the
/// backend's own rules ([`ManageConnection::is_lost_server`]) where the pool consults them
/// (HikariCP's `SQLExceptionOverride`).
///
/// | where the pool meets the error | `LostServer` | `Broken` | `Harmless` | `Backend` |
/// |---|---|---|---|---|
/// | a pre-ping or keepalive ping | invalidate the pool, close the connection | close it | keep it (it counts as validated) | `is_lost_server` says lost server or broken |
/// | the reset on return | invalidate, close | close | keep it (as if the reset had succeeded) | as for a ping |
/// | a connect | invalidate the pool | — | — | nothing: a failed connect invalidates nothing |
///
/// A connection the backend reports broken ([`ManageConnection::has_broken`]) is closed
/// whatever the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Let the backend's own rules decide (see the table): the answer for the errors a
    /// classifier has no opinion on.
    Backend,
    /// The server is gone (restarted, failed over, unreachable): every connection opened before
    /// is suspect, and the pool is invalidated ([`Pool::invalidate`](crate::Pool::invalidate));
    /// the connection that met the error is closed.
    LostServer,
    /// This connection is unusable: it is closed; the others are kept.
    Broken,
    /// Neither: the error says nothing about the connection, which is kept.
    Harmless,
}

/// A backend: how to open, check, reset and classify connections of one database.
///
/// The first three methods are r2d2's, with one change: `is_valid` is told how long it may take.
/// The others have defaults, so a minimal manager is as small as an r2d2 one.
pub trait ManageConnection: Send + Sync + 'static {
    /// The connection type this manager opens.
    type Connection: Send + 'static;
    /// The error its operations return.
    type Error: StdError + Send + Sync + 'static;

    /// Opens a new connection. Never called under the pool's lock; called in the borrowing
    /// thread, or on a thread of its own when the borrower may be served first by a connection
    /// given back (a hedged connect).
    fn connect(&self) -> Result<Self::Connection, Self::Error>;

    /// Checks that the connection still works (for example with `SELECT 1`), taking no longer
    /// than `timeout`. Used by pre-ping and keepalive.
    fn is_valid(&self, conn: &mut Self::Connection, timeout: Duration) -> Result<(), Self::Error>;

    /// Says, quickly and without I/O, whether the connection is known to be unusable. Called on
    /// every return.
    fn has_broken(&self, conn: &mut Self::Connection) -> bool;

    /// The connection's transaction state, without I/O. The default, [`TransactionState::Unknown`],
    /// makes the pool reset every returned connection.
    fn transaction_state(&self, conn: &mut Self::Connection) -> TransactionState {
        let _ = conn;
        TransactionState::Unknown
    }

    /// Resets a returned connection. The default does nothing, as r2d2 does.
    fn reset(&self, conn: &mut Self::Connection, action: ResetAction<'_>) -> Result<(), Self::Error> {
        let _ = (conn, action);
        Ok(())
    }

    /// Whether an error means the server is gone (restarted, killed, unreachable), in which case
    /// every connection opened before it is suspect and the pool is invalidated.
    fn is_lost_server(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// Checks this manager's settings against the pool's options when the pool is built; an
    /// error stops the build. The default accepts everything. (The PostgreSQL manager behind
    /// PgBouncer refuses a reset statement and an init statement, for example.)
    fn check_options(&self, options: &PoolOptions) -> Result<(), ConfigError> {
        let _ = options;
        Ok(())
    }
}

#[cfg(feature = "r2d2")]
/// Wraps any [`r2d2::ManageConnection`] (r2d2_postgres, r2d2_mysql, diesel's manager, …) so it can
/// be pooled by millpond: `Pool::builder().build(R2d2Manager(manager))`.
///
/// r2d2 managers cannot bound their validation time, report transaction state or reset, so the
/// pool's defaults apply: validation takes as long as the manager's `is_valid` does, and returned
/// connections are not reset (as in r2d2).
#[derive(Debug, Clone)]
pub struct R2d2Manager<M>(pub M);

#[cfg(feature = "r2d2")]
impl<M> ManageConnection for R2d2Manager<M>
where
    M: r2d2::ManageConnection,
    M::Error: Send + Sync,
{
    type Connection = M::Connection;
    type Error = M::Error;

    fn connect(&self) -> Result<Self::Connection, Self::Error> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut Self::Connection, _timeout: Duration) -> Result<(), Self::Error> {
        self.0.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.0.has_broken(conn)
    }

    /// r2d2 managers do not reset connections, so there is nothing to ask: `Idle` spares the
    /// pool a reset call per return.
    fn transaction_state(&self, _conn: &mut Self::Connection) -> TransactionState {
        TransactionState::Idle
    }
}
