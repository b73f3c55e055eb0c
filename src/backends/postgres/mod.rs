//! The PostgreSQL backend (feature `postgres`): the [`postgres`](https://docs.rs/postgres) crate,
//! with TLS through rustls, so no system OpenSSL is needed.
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//! use millpond::Pool;
//! use millpond::postgres::PostgresManager;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = PostgresManager::from_url("postgres://app:secret@127.0.0.1:5432/app?sslmode=prefer")?
//!     .application_name("web")                    // shows in pg_stat_activity
//!     .connect_timeout(Duration::from_secs(5));   // the whole open: TCP, TLS, login, init
//! let pool = Pool::builder().pool_size(10).max_overflow(10).build(manager)?;
//!
//! let mut conn = pool.get()?;
//! let row = conn.query_one("SELECT $1::int + 1", &[&41i32])?;
//! assert_eq!(row.get::<_, i32>(0), 42);
//!
//! let mut tx = conn.transaction()?;                // rolls back unless committed
//! tx.execute("INSERT INTO events (kind) VALUES ($1)", &[&"login"])?;
//! tx.commit()?;
//! # Ok(())
//! # }
//! ```
//!
//! # What the pool gets from this backend
//!
//! - **No round trip on return when no transaction is open.** The `postgres` crate does not
//!   expose the server's transaction status, so [`PgConnection`] infers it from the SQL it sends
//!   (`BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`, `END`, `ABORT`, `PREPARE TRANSACTION`).
//!   A connection given back with a transaction open is rolled back; one given back idle is
//!   kept as it is. Running a prepared statement, once one that begins or ends a transaction
//!   was prepared on the connection, makes the state unknown, and the next return rolls back.
//! - **Bounded reset.** [`PostgresManager::reset_timeout`] (10 s by default, `reset_timeout_ms`
//!   in a URL) bounds the rollback on return, which runs on a short-lived thread: a server that
//!   stopped answering cannot hold the borrower's `drop`. When it passes, the connection is
//!   closed, never kept, and its close waits on that thread, not on the borrower's. A connection
//!   given back with no transaction open costs no round trip and no thread.
//! - **No commit that is a rollback.** PostgreSQL answers `COMMIT` in a transaction in which a
//!   statement failed with a rollback, which the driver reports as success. Every commit made
//!   through this backend reports it as an error instead (SQLSTATE 25P02,
//!   `in_failed_sql_transaction`) and the transaction is rolled back:
//!   [`PgTransaction::commit`], `COMMIT` or `END` (or `PREPARE TRANSACTION`) sent as SQL
//!   through any method, as a prepared statement, or as the pool's `ResetOnReturn::Commit`,
//!   and a session's commit. The driver's client is not lent out while the connection belongs
//!   to the pool ([`PgConnection::into_client`] takes it for good).
//! - **Bounded opening.** [`PostgresManager::connect_timeout`] (10 s by default) bounds the
//!   whole opening of a connection, not only the TCP connect: a server that accepts and then
//!   says nothing cannot hang a checkout.
//! - **Bounded validation.** Pre-ping uses [`postgres::Client::is_valid`] with the pool's
//!   `validation_timeout`. A connection whose validation timed out still owes a reply; it is
//!   reported broken and closed on a thread of its own, so neither the borrower nor the pool's
//!   workers wait for a server that has stopped answering.
//! - **Lost servers.** SQLSTATE class 08 (connection exception), 57P01 (admin shutdown, also what
//!   `pg_terminate_backend` sends), 57P02 (crash shutdown), 57P03 (cannot connect now), a closed
//!   connection and a broken socket all count as a lost server: the pool is invalidated.
//!
//! What is not bounded: a statement the borrower runs on a server that has stopped answering
//! waits for it, as it would without a pool (`statement_timeout` is enforced by the server, so
//! it cannot help there).
//!
//! # TLS
//!
//! `sslmode` follows libpq: `disable` (plain), `prefer` (the default: TLS if the server offers
//! it, plain otherwise), `require` (TLS, certificate not verified, as libpq does), `verify-ca`
//! (the certificate must chain to a trusted root) and `verify-full` (and must name the host).
//! The trusted roots are the Mozilla set from `webpki-roots`, or the PEM file given as
//! `sslrootcert`. [`PostgresManager::tls_config`] takes a rustls configuration of your own
//! (client certificates, other roots).
//!
//! # Secrets
//!
//! The password never appears in this module's `Debug` or `Display` output, in its log lines
//! or in its errors.

pub(crate) mod any;
mod cache;
mod civil;
mod commit;
mod config;
mod conn;
mod connect;
mod error;
mod session;
mod settings;
mod sql;
mod tls;
mod transaction;
mod unnamed;
mod url;

use std::time::Duration;

pub use postgres::error::SqlState;
pub use postgres::types::{BorrowToSql, ToSql, Type};
pub use postgres::{
    CancelToken, Client, Config, CopyInWriter, CopyOutReader, IsolationLevel, Notifications, Portal, Row,
    RowIter, SimpleQueryMessage, Statement, ToStatement, Transaction, TransactionBuilder,
};

pub use crate::backends::credentials::Credentials;
pub use config::PostgresManager;
pub use conn::PgConnection;
pub use error::PostgresError;
pub use session::PgCursor;
pub use sql::Sql;
pub use tls::SslMode;
pub use transaction::{PgTransaction, PgTransactionBuilder};

use crate::error::ConfigError;
use crate::manage::{ManageConnection, ResetAction, TransactionState};
use crate::options::{PoolOptions, ResetOnReturn};
use commit::{CHECKED_COMMIT, check_before_commit, commits, ends_transaction, is_failed_transaction};

/// How long opening a connection may take unless told otherwise: TCP connect, TLS handshake,
/// authentication and the init statement together.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the reset on return may wait on the server unless told otherwise (as MySQL's).
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(10);

impl ManageConnection for PostgresManager {
    type Connection = PgConnection;
    type Error = PostgresError;

    /// Opens a connection and runs the init statement. With a connect timeout (the default) the
    /// work is done on a short-lived thread, so that the wait can be bounded as a whole.
    fn connect(&self) -> Result<PgConnection, PostgresError> {
        connect::open_bounded(&self.settings)
    }

    /// [`postgres::Client::is_valid`]: an empty query, answered within `timeout` or failed.
    fn is_valid(&self, conn: &mut PgConnection, timeout: Duration) -> Result<(), PostgresError> {
        conn.validate(timeout)
    }

    /// The driver saw the connection close, or a validation timed out with a reply still owed.
    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.is_broken()
    }

    fn transaction_state(&self, conn: &mut PgConnection) -> TransactionState {
        conn.transaction_state()
    }

    /// `ROLLBACK` or `COMMIT`; a statement of your own (`DISCARD ALL`, say) runs after a
    /// `ROLLBACK` when a transaction may be open, since PostgreSQL refuses some statements
    /// inside one, unless the statement ends the transaction itself.
    ///
    /// Bounded by [`PostgresManager::reset_timeout`]: the statements run on a short-lived
    /// thread, and when the time passes the connection is given up (an error, so the pool
    /// closes it) and left to close on that thread. A `COMMIT` in a transaction that had
    /// failed, which the server would turn into a rollback, is an error too.
    fn reset(&self, conn: &mut PgConnection, action: ResetAction<'_>) -> Result<(), PostgresError> {
        let timeout = self.settings.reset_timeout;
        let result = match action {
            ResetAction::Rollback => conn.bounded(timeout, |c| c.batch_execute("ROLLBACK")),
            ResetAction::Commit => conn.bounded(timeout, |c| c.batch_execute(CHECKED_COMMIT)),
            ResetAction::Statement(sql) => {
                let rollback_first =
                    conn.transaction_state() != TransactionState::Idle && !ends_transaction(sql);
                let statement = sql.to_owned();
                conn.bounded(timeout, move |c| {
                    if rollback_first {
                        c.batch_execute("ROLLBACK")?;
                    }
                    if commits(&statement) {
                        check_before_commit(c).map_err(|checked| checked.into_error())?;
                    }
                    c.batch_execute(&statement)
                })
            }
        };
        match result {
            Ok(()) => {
                conn.reset_done(match action {
                    ResetAction::Statement(sql) => Some(sql),
                    _ => None,
                });
                Ok(())
            }
            Err(err) if err.as_postgres().is_some_and(is_failed_transaction) => Err(err.context(
                "committing on return: a statement in the transaction had failed, so the server would have rolled it back"
                    .to_owned(),
            )),
            Err(err) => Err(err),
        }
    }

    /// See [`PostgresError::is_lost_server`]; behind PgBouncer ([`PostgresManager::pgbouncer`]),
    /// [`PostgresError::is_lost_server_behind_pgbouncer`].
    fn is_lost_server(&self, error: &PostgresError) -> bool {
        if self.settings.pgbouncer {
            error.is_lost_server_behind_pgbouncer()
        } else {
            error.is_lost_server()
        }
    }

    /// Behind PgBouncer ([`PostgresManager::pgbouncer`]): refuses an init statement, the
    /// `options` startup parameter and a reset statement, each with what to do instead.
    fn check_options(&self, options: &PoolOptions) -> Result<(), ConfigError> {
        if let Some(conflict) = self.settings.pgbouncer_conflict() {
            return Err(conflict);
        }
        if self.settings.pgbouncer
            && let ResetOnReturn::Statement(sql) = &options.reset_on_return
        {
            return Err(ConfigError::new(
                "reset_on_return",
                format!(
                    "with pgbouncer=true a reset statement is refused ({sql:?}): in transaction mode it \
                     would run on whichever server connection PgBouncer picks, not the one your \
                     transactions used, and cost a round trip per return. Use rollback (the \
                     default), commit or none; PgBouncer resets server connections itself \
                     (server_reset_query) where a session ends"
                ),
            ));
        }
        Ok(())
    }
}
