//! The JDBC backend (feature `jdbc`): any database with a JDBC driver, through a JVM started in
//! this process by the [`jni`](::jni) crate.
//!
//! # Quick start
//!
//! ```no_run
//! use millpond::{Pool, jdbc, sql::Params};
//!
//! let manager = jdbc::h2("mem:app;DB_CLOSE_DELAY=-1").jar("/usr/share/java/h2.jar");
//! let pool = Pool::builder().pool_size(4).build(manager)?;
//!
//! let mut conn = pool.get()?;
//! conn.execute("CREATE TABLE pond (id INT PRIMARY KEY, name VARCHAR(20))", ())?;
//! conn.execute("INSERT INTO pond VALUES (:id, :name)", Params::named([("id", 1)]).and("name", "mill"))?;
//! let rows = conn.query("SELECT id, name FROM pond WHERE id = ?", [1])?;
//! assert_eq!(rows[0].get::<String>("name")?, "mill");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The JVM
//!
//! One JVM per process, started by the first connect (or by [`start_jvm`]). libjvm is found
//! from `JAVA_HOME` when it is set (a `JAVA_HOME` without a JVM is an error that names it, never
//! replaced by another JVM), else beside the `java` on `PATH`, else under
//! `/usr/lib/jvm/default-java` (the list `MILLPOND_JAVA_FALLBACK` gives instead, when set); the
//! class path is `CLASSPATH` plus the manager's jars. A JVM that cannot be found or started is an
//! [`Error::Connect`](crate::Error::Connect) saying where it looked, and every later connect
//! gets the same error. Each thread that uses a connection is attached once and stays
//! attached, with the system class loader as its context class loader. Every call runs in a
//! bounded local-reference frame, so reading any number of rows holds a fixed number of
//! references. After `fork`, a child cannot use the parent's JVM: connects and calls there
//! return a [`JdbcErrorKind::Forked`] error instead of hanging.
//!
//! # Transactions
//!
//! Autocommit is on by default (as in JDBC); [`JdbcConnection::transaction`] turns it off until
//! commit or rollback. The connection knows without a round trip whether a transaction is
//! open, so the pool rolls back only when needed, and it puts autocommit back as the manager
//! set it. Nor does it ask the driver whether it is closed: an operation that fails says so
//! (see [`JdbcConnection::is_broken`]). A connection given back clean costs no JNI call.
//!
//! # Kept statements
//!
//! Each connection keeps the `PreparedStatement`s of the SQL it runs (100 by default, least
//! recently used out first; see [`JdbcManager::statement_cache_capacity`]): a query run again
//! binds and executes only, and reads its result's columns once. Every Java method the bridge
//! calls on its hot paths is looked up once per process.
//!
//! A kept query run again is one call into the JVM, not one per parameter, row and column: a
//! small class of millpond's (`millpond.jdbc.Bridge`, embedded compiled and defined in the
//! system class loader on first use: no `javac` needed) binds the parameters, runs the query
//! and reads the rows in Java, and the values cross through one direct buffer per connection,
//! about 16 KB of rows at a time. Rows reach the caller as before, one at a time and each one
//! once, those read before a driver's error ahead of it. SQL with a `*` (whose columns are
//! checked on every run) and SQL of several statements are read call by call.
//!
//! # Values
//!
//! Columns are read by their `java.sql.Types`: booleans, integers (`getLong`), floats,
//! decimals (`BigDecimal.toPlainString`, no digit lost), text, bytes, dates, times and
//! timestamps (through `java.time`, in the JVM's time zone; times to the second, timestamps to
//! the nanosecond); other types as their text.
//!
//! # Timeouts
//!
//! [`JdbcManager::connect_timeout`] (default 10 s) bounds a connect whatever the server does:
//! the driver's connect runs on a thread of its own, and a connection that arrives after the
//! timeout is closed. [`JdbcManager::reset_timeout`] (default 10 s) bounds the rollback of a
//! connection given back with a transaction open (through the network timeout, and a watchdog
//! that aborts the connection): past it the connection is closed, never kept.
//! In settings, `connect_timeout_ms` and `reset_timeout_ms` (in OPTIONS, or in the query of the
//! JDBC URL) set them; they are not passed to the driver.
//!
//! # Lost connections
//!
//! [`is_lost_connection`]: SQLState class `08`, PostgreSQL's `57P01`–`57P03`, and the vendor's
//! codes (Oracle 17002, 17008, ORA-03113…; MySQL 2006, 2013…; H2 90067; Derby 40000).

mod bridge;
mod cache;
mod config;
mod conn;
mod connect;
mod error;
mod jvm;
mod methods;
mod presets;
mod rows;
mod session;
mod settings;
mod statement;
mod values;

use std::time::Duration;

pub use ::jni;

/// The default [`JdbcManager::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default [`JdbcManager::reset_timeout`].
pub const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::backends::credentials::Credentials;
pub use config::JdbcManager;
pub(crate) use config::OWN_OPTIONS;
pub use conn::{JdbcConnection, Transaction};
pub use error::{JdbcError, JdbcErrorKind, Vendor, is_lost_connection};
pub use jvm::{JvmOptions, java_vm, start_jvm};
pub use presets::{derby, generic, h2, hsqldb, mariadb, mysql, oceanbase, oracle, postgresql, sqlite};
pub use session::JdbcCursor;
pub use statement::JdbcStatement;

use crate::manage::{ManageConnection, ResetAction, TransactionState};

impl ManageConnection for JdbcManager {
    type Connection = JdbcConnection;
    type Error = JdbcError;

    /// Starts the JVM if needed, loads the driver, connects, sets autocommit and runs the init
    /// statements; the connect and init statements within
    /// [`connect_timeout`](JdbcManager::connect_timeout).
    fn connect(&self) -> Result<JdbcConnection, JdbcError> {
        let conn = self.open()?;
        log::debug!(target: "millpond::jdbc", "connected to {self}");
        Ok(conn)
    }

    /// `Connection.isValid`, bounded by `timeout` even below a second (see
    /// [`JdbcConnection::is_valid`]).
    fn is_valid(&self, conn: &mut JdbcConnection, timeout: Duration) -> Result<(), JdbcError> {
        if conn.is_valid(timeout)? {
            Ok(())
        } else {
            Err(JdbcError::new(
                JdbcErrorKind::Sql,
                format!(
                    "Connection.isValid returned false or did not answer within {}",
                    crate::error::Rounded(timeout)
                ),
            ))
        }
    }

    /// Without a call into the JVM: whether an operation on the connection failed in a way
    /// that leaves it unusable (see [`JdbcConnection::is_broken`]).
    fn has_broken(&self, conn: &mut JdbcConnection) -> bool {
        conn.is_broken()
    }

    fn transaction_state(&self, conn: &mut JdbcConnection) -> TransactionState {
        conn.transaction_state()
    }

    fn reset(&self, conn: &mut JdbcConnection, action: ResetAction<'_>) -> Result<(), JdbcError> {
        conn.reset(action, self.reset_timeout)
    }

    fn is_lost_server(&self, error: &JdbcError) -> bool {
        is_lost_connection(error, self.vendor)
    }
}
