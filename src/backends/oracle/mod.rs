//! The Oracle backend (feature `oracle`), on the [`oracle`](::oracle) crate.
//!
//! The `oracle` crate compiles ODPI-C in, and ODPI-C loads the Oracle Client library
//! (`libclntsh`, from Oracle Instant Client or a full client) when the first connection is
//! opened. Without a client every connect fails at once with
//! `DPI-1047: Cannot locate a 64-bit Oracle Client library …`, which the pool reports as
//! [`Error::Connect`](crate::Error::Connect). To load the client from a directory of your
//! choice, call [`driver::InitParams`] before the first connection.
//!
//! # Quick start
//!
//! ```no_run
//! use millpond::Pool;
//! use millpond::oracle::OracleManager;
//!
//! let manager = OracleManager::from_url(
//!     "oracle://scott:tiger@//db.example.com:1521/FREEPDB1?connect_timeout=5",
//! )?;
//! let pool = Pool::builder().pool_size(4).build(manager)?;
//!
//! let conn = pool.get()?;
//! conn.execute("INSERT INTO orders (id, item) VALUES (:1, :2)", &[&42, &"pond"])?;
//! conn.commit()?;
//! let count: i64 = conn.query_row_as("SELECT count(*) FROM orders", &[])?;
//! println!("{count} orders");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Transactions
//!
//! Oracle opens a transaction implicitly with the first DML statement, and nothing is committed
//! until `commit` (or a DDL statement, or autocommit). A connection given back with a
//! transaction open is rolled back (the pool's default reset); one given back clean costs no
//! round trip. [`OracleConnection`] knows which is which from two sources:
//!
//! - the session's `OCI_ATTR_TRANSACTION_IN_PROGRESS` attribute, read locally (no round trip;
//!   Oracle Client 12.1 or later). It is exact, even after PL/SQL blocks, database links and
//!   work done through [`OracleConnection::raw`]. It is trusted once it has been seen reporting
//!   a transaction on the connection, so a server that never reports one cannot make the pool
//!   skip a needed rollback;
//! - until then (and with older clients), the statements run through the wrapper, classified
//!   by their leading keywords: DML, `SELECT … FOR UPDATE` and PL/SQL blocks (which may do
//!   anything) open a transaction, `COMMIT`, `ROLLBACK` and DDL end it, raw access makes it
//!   unknown. With autocommit on, a statement that succeeds leaves no transaction open.
//!
//! # Bounded reset
//!
//! The rollback (or commit, or reset statement) of a connection given back with a transaction
//! open waits at most [`OracleManager::reset_timeout`] (10 s by default, `reset_timeout_ms` in
//! a URL), through the call timeout (Oracle Client 18 or later); past it the connection is
//! closed, never kept.
//!
//! # Lost connections
//!
//! [`is_lost_connection`] says whether an error means the session or the server is gone
//! (`ORA-03113`, `ORA-03114`, `ORA-03135`, `ORA-00028`, `DPI-1080`, `DPI-1010`, …); a pre-ping
//! or reset failing that way invalidates the pool. A connection whose operation failed that
//! way, or whose socket the client already knows to be closed, is discarded when it comes back
//! (checked locally, without a round trip).

mod config;
mod conn;
mod connect_string;
mod error;
mod session;
mod settings;
mod tx_state;
mod url;

use std::time::Duration;

pub use ::oracle as driver;
pub use ::oracle::{ConnStatus, Connection, Privilege, ResultSet, Row, RowValue, Statement, Version};

pub use crate::backends::credentials::Credentials;
pub use config::OracleManager;
pub use conn::OracleConnection;
pub use error::is_lost_connection;

use crate::manage::{ManageConnection, ResetAction, TransactionState};

/// The default [`OracleManager::reset_timeout`].
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL forms, as error messages list them.
const URL_FORMS: &str = "oracle://user:password@//host:port/service, oracle://user:password@host:port/service or oracle://user:password@tns_alias";

impl ManageConnection for OracleManager {
    type Connection = OracleConnection;
    type Error = ::oracle::Error;

    /// Logs on, applies the autocommit and call-timeout settings, and runs the init statements.
    fn connect(&self) -> Result<OracleConnection, ::oracle::Error> {
        let mut conn = self.connector()?.connect()?;
        conn.set_autocommit(self.autocommit);
        if let Some(timeout) = self.call_timeout {
            conn.set_call_timeout(Some(timeout))?;
        }
        let conn = OracleConnection::new(conn);
        for sql in &self.init {
            conn.run_statement(sql)?;
        }
        log::debug!(target: "millpond::oracle", "connected to {self}");
        Ok(conn)
    }

    /// `Connection::ping` (one round trip), bounded by `timeout` through the call timeout (see
    /// [`OracleConnection::call_timeout`]), which is restored afterwards.
    fn is_valid(&self, conn: &mut OracleConnection, timeout: Duration) -> Result<(), ::oracle::Error> {
        conn.ping_within(timeout)
    }

    /// [`OracleConnection::is_broken`], without a round trip. It also puts back the manager's
    /// autocommit and call timeout if the borrower changed them (local settings, no round trip);
    /// a connection whose call timeout cannot be put back is reported broken.
    fn has_broken(&self, conn: &mut OracleConnection) -> bool {
        conn.is_broken() || !conn.restore_settings()
    }

    fn transaction_state(&self, conn: &mut OracleConnection) -> TransactionState {
        conn.transaction_state()
    }

    /// The rollback, commit or reset statement, within
    /// [`reset_timeout`](OracleManager::reset_timeout) through the call timeout, which is
    /// restored afterwards.
    fn reset(&self, conn: &mut OracleConnection, action: ResetAction<'_>) -> Result<(), ::oracle::Error> {
        conn.reset_within(action, self.reset_timeout)
    }

    fn is_lost_server(&self, error: &::oracle::Error) -> bool {
        is_lost_connection(error)
    }
}
