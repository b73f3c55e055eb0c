//! MySQL and MariaDB (feature `mysql`), on the [`mysql`](::mysql) crate's synchronous client,
//! with TLS through rustls.
//!
//! # Quick start
//!
//! ```no_run
//! use millpond::Pool;
//! use millpond::mysql::{MySqlManager, Queryable};
//!
//! let manager = MySqlManager::from_url("mysql://app:secret@127.0.0.1:3306/shop")?;
//! let pool = Pool::builder().pool_size(8).build(manager)?;
//!
//! let mut conn = pool.get()?;
//! conn.exec_drop("INSERT INTO orders (item) VALUES (?)", ("tea",))?;
//! let count: Option<i64> = conn.query_first("SELECT COUNT(*) FROM orders")?;
//!
//! let mut tx = conn.start_transaction(Default::default())?;
//! tx.query_drop("UPDATE stock SET n = n - 1 WHERE item = 'tea'")?;
//! tx.commit()?; // dropped without a commit, it rolls back
//! # let _ = count;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The pooled connection is a [`MySqlConnection`]: it implements the driver's [`Queryable`]
//! (so `query_drop`, `query`, `query_first`, `exec_drop`, `exec`, `exec_first`, `prep`,
//! `exec_batch` and the rest work as on a `mysql::Conn`), and tracks what the pool needs to know
//! without asking the server.
//!
//! # The reset on return
//!
//! The driver does not say whether a transaction is open, so the connection works it out from
//! the statements run through it (`START TRANSACTION`, `BEGIN`, `COMMIT`, `ROLLBACK`, …). A
//! connection given back with no transaction open goes back to the pool without a round trip; one
//! with a transaction open is rolled back first (or committed, per the pool's
//! [`ResetOnReturn`](crate::ResetOnReturn)). When the connection cannot tell — `SET autocommit`,
//! `XA`, a server whose `autocommit` is off, a statement run through [`MySqlConnection::conn_mut`]
//! — it says so and the pool rolls back on every return, which is always safe.
//!
//! The reset ends the transaction and nothing else: user variables (`SET @x = …`), session
//! variables and temporary tables outlive it, as they do in SQLAlchemy's and HikariCP's pools.
//! Note that MySQL does not undo a user variable set inside a rolled-back transaction.
//!
//! # Timeouts
//!
//! - **Connect** ([`MySqlManager::connect_timeout`], default 10 s): bounds the TCP connect and,
//!   on Unix, each step of the handshake and the init statements, so neither an unreachable host
//!   nor a server that accepts and never answers can hang a checkout. Keep it below the pool's
//!   checkout `timeout`.
//! - **Validation**: on Unix, [`ManageConnection::is_valid`] sends `COM_PING` with the socket's
//!   read and write timeouts set to the time the pool allows for it, then puts them back, so a
//!   server that stops answering fails the ping in time. The bound applies to each socket read
//!   and write; a ping is one small write and one small read. (The driver has no per-call
//!   timeout; the connection's socket is reached through `AsRawFd`.) A ping that times out
//!   leaves the connection broken, and a timeout is not taken for a lost server.
//! - **Reset** ([`MySqlManager::reset_timeout`], default 10 s): bounds the rollback on return and
//!   the rollback of a dropped [`MySqlTransaction`] the same way. A reset that times out closes
//!   the connection, and the server then rolls the transaction back itself.
//! - **Statements** ([`MySqlManager::read_timeout`], [`MySqlManager::write_timeout`], default
//!   none): the driver's socket timeouts for everything else. They are off by default because
//!   they also cut legitimate long queries.
//!
//! On platforms other than Unix the socket cannot be reached: validation and resets are then
//! bounded only by `read_timeout` and `write_timeout`, which also apply to the handshake.
//!
//! # Secrets
//!
//! The password never appears in this module's `Debug` or `Display` output, its errors or its
//! log lines. (`mysql::Opts`' own `Debug` prints it: do not log [`MySqlManager::opts`].)

pub(crate) mod any;
mod config;
mod conn;
mod error;
mod queryable;
mod session;
mod settings;
mod timeout;
mod transaction;
mod url;

use std::time::Duration;

pub use ::mysql as driver;
pub use ::mysql::prelude::Queryable;
pub use ::mysql::{Conn, Opts, OptsBuilder, SslOpts, TxOpts};

pub use crate::backends::credentials::Credentials;
pub use config::MySqlManager;
pub use conn::MySqlConnection;
pub use session::MySqlCursor;
pub use transaction::MySqlTransaction;

use ::mysql::Error;

use crate::manage::{ManageConnection, ResetAction, TransactionState};
use error::is_lost_server;

type Result<T> = std::result::Result<T, Error>;

impl ManageConnection for MySqlManager {
    type Connection = MySqlConnection;
    type Error = Error;

    /// Connects, runs the init statements, checks whether the session's `autocommit` is on
    /// (one `SELECT @@autocommit`; when it is off, every return is rolled back), then sets the
    /// socket's lasting timeouts.
    fn connect(&self) -> Result<MySqlConnection> {
        let conn = Conn::new(self.connect_opts()?).map_err(|err| self.explain_connect_error(err))?;
        let mut conn = MySqlConnection::new(conn, self.timeouts);
        for sql in &self.init {
            conn.query_drop(sql)
                .map_err(|err| self.explain_connect_error(err))?;
        }
        let autocommit: Option<i64> = conn
            .conn
            .query_first("SELECT @@autocommit")
            .map_err(|err| self.explain_connect_error(err))?;
        if autocommit == Some(0) {
            // The tracker's own words for "every statement may open a transaction".
            conn.track.tracker.observe("SET autocommit = 0");
        }
        conn.restore_socket_timeouts()?;
        Ok(conn)
    }

    /// `COM_PING`, bounded by `timeout` on Unix (see the [module docs](self#timeouts)). A zero
    /// timeout fails at once without I/O.
    fn is_valid(&self, conn: &mut MySqlConnection, timeout: Duration) -> Result<()> {
        conn.ping_timeout(timeout)
    }

    /// Whether an operation through the connection failed in a way that leaves it unusable
    /// (an I/O or protocol error, or the server saying the session is gone). No I/O.
    fn has_broken(&self, conn: &mut MySqlConnection) -> bool {
        conn.track.broken
    }

    fn transaction_state(&self, conn: &mut MySqlConnection) -> TransactionState {
        conn.transaction_state()
    }

    /// `ROLLBACK`, `COMMIT` or the statement, bounded by the reset timeout.
    fn reset(&self, conn: &mut MySqlConnection, action: ResetAction<'_>) -> Result<()> {
        let sql = match action {
            ResetAction::Rollback => "ROLLBACK",
            ResetAction::Commit => "COMMIT",
            ResetAction::Statement(sql) => sql,
        };
        let timeout = conn.timeouts.reset;
        conn.bounded("the reset", timeout, |c| c.query_drop(sql))
    }

    /// I/O errors that mean the peer is gone (broken pipe, connection reset or aborted,
    /// unexpected end of stream — the driver's "server disconnected"), a failed connect, and the
    /// server errors 1053, 1077–1080 (shutdown), 1927 (connection killed), 2006 (gone away),
    /// 2013 and 2055 (lost during query) and 4031 (disconnected for inactivity).
    fn is_lost_server(&self, error: &Error) -> bool {
        is_lost_server(error)
    }
}
