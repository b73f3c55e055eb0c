//! [`PostgresError`], and which errors mean the server is lost.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use postgres::error::SqlState;

/// What went wrong opening, checking or resetting a PostgreSQL connection.
///
/// Its `Display` says what was being done (`connecting to app@127.0.0.1:5432/app`); when the
/// driver failed, [`source`](StdError::source) is the driver's error (for downcasting) and the
/// server's message is in the chain after it, as the standard library's convention has it:
/// printed with anyhow's `{:#}` (or by walking `source()`), the error reads
/// `connecting to app@127.0.0.1:5432/app: db error: FATAL: database "app" does not exist`,
/// each part once. [`code`](PostgresError::code) and
/// [`as_postgres`](PostgresError::as_postgres) reach the driver's error directly.
#[derive(Debug)]
pub struct PostgresError {
    kind: Kind,
    /// What was being done, and to whom (never the password).
    context: Option<String>,
}

#[derive(Debug)]
enum Kind {
    Driver(postgres::Error),
    ConnectTimeout(Duration),
    ValidationTimeout(Duration),
    ResetTimeout(Duration),
    Credentials(crate::backends::credentials::ProviderFailed),
    Other(String),
}

impl PostgresError {
    pub(super) fn driver(err: postgres::Error) -> Self {
        PostgresError {
            kind: Kind::Driver(err),
            context: None,
        }
    }

    pub(super) fn other(context: String, message: String) -> Self {
        PostgresError {
            kind: Kind::Other(message),
            context: Some(context),
        }
    }

    pub(super) fn credentials(context: String, failed: crate::backends::credentials::ProviderFailed) -> Self {
        PostgresError {
            kind: Kind::Credentials(failed),
            context: Some(context),
        }
    }

    pub(super) fn connect_timeout(limit: Duration, context: String) -> Self {
        PostgresError {
            kind: Kind::ConnectTimeout(limit),
            context: Some(context),
        }
    }

    pub(super) fn validation_timeout(limit: Duration, context: Option<String>) -> Self {
        PostgresError {
            kind: Kind::ValidationTimeout(limit),
            context,
        }
    }

    pub(super) fn reset_timeout(limit: Duration) -> Self {
        PostgresError {
            kind: Kind::ResetTimeout(limit),
            context: None,
        }
    }

    pub(super) fn context(mut self, context: String) -> Self {
        self.context = Some(context);
        self
    }

    /// The driver's error, if this is one.
    pub fn as_postgres(&self) -> Option<&postgres::Error> {
        match &self.kind {
            Kind::Driver(err) => Some(err),
            _ => None,
        }
    }

    /// The driver's error, if this is one.
    pub fn into_postgres(self) -> Option<postgres::Error> {
        match self.kind {
            Kind::Driver(err) => Some(err),
            _ => None,
        }
    }

    /// The server's SQLSTATE, if the server reported the error.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_postgres().and_then(postgres::Error::code)
    }

    /// Whether the server did not answer in time: opening took longer than the connect
    /// timeout, a validation longer than its timeout, or a reset longer than the reset timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            Kind::ConnectTimeout(_) | Kind::ValidationTimeout(_) | Kind::ResetTimeout(_)
        )
    }

    /// Whether the error means the server is gone: SQLSTATE class 08, 57P01, 57P02 or 57P03,
    /// a closed connection, or a broken socket underneath. A timeout is not counted: one stuck
    /// server process does not mean the others are.
    pub fn is_lost_server(&self) -> bool {
        match &self.kind {
            Kind::Driver(err) => driver_error_is_lost(err),
            _ => false,
        }
    }

    /// [`PostgresError::is_lost_server`] for a connection through PgBouncer, which keeps its
    /// clients connected when PostgreSQL goes away and says so with an error (`server conn
    /// crashed?`, 08P01; 57P01 on a restart). A connection that merely closed was closed by
    /// PgBouncer itself, about this client alone (`query_wait_timeout`, which the driver mostly
    /// reports as `connection closed`; `client_idle_timeout`): no lost server.
    pub fn is_lost_server_behind_pgbouncer(&self) -> bool {
        match &self.kind {
            Kind::Driver(err) => err.as_db_error().is_some() && driver_error_is_lost(err),
            _ => false,
        }
    }
}

/// Whether the server ended the session with this error (severity `FATAL` or `PANIC`): the
/// connection is closed, even if the driver has not seen the end of it yet.
pub(super) fn ends_session(err: &postgres::Error) -> bool {
    use postgres::error::Severity;
    err.as_db_error().is_some_and(|db| {
        matches!(db.parsed_severity(), Some(Severity::Fatal | Severity::Panic))
            || matches!(db.severity(), "FATAL" | "PANIC")
    })
}

fn driver_error_is_lost(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        if err.as_db_error().is_some_and(is_pgbouncer_client_error) {
            return false;
        }
        let code = code.code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            use io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | BrokenPipe
                    | UnexpectedEof
                    | NotConnected
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
            );
        }
        source = cause.source();
    }
    false
}

/// PgBouncer's errors that concern one client only (08P01 with its own message): its wait for a
/// server connection ran out (`query_wait_timeout`, when its pool is busy or paused), the client
/// sat idle too long, or its pool is full. The server is fine, so the pool must not be
/// invalidated. (Its `server conn crashed?` and `pgbouncer cannot connect to server` do mean a
/// lost server.)
fn is_pgbouncer_client_error(err: &postgres::error::DbError) -> bool {
    const CLIENT_ONLY: &[&str] = &[
        "query_wait_timeout",
        "client_idle_timeout",
        "idle transaction timeout",
        "client_login_timeout",
        "query_timeout",
        "no more connections allowed",
    ];
    *err.code() == SqlState::PROTOCOL_VIOLATION
        && CLIENT_ONLY
            .iter()
            .any(|message| err.message().starts_with(message))
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let context = self.context.as_deref();
        if let Kind::Driver(_) = &self.kind {
            // The driver's error is the source: not repeated here.
            return f.write_str(context.unwrap_or("PostgreSQL error"));
        }
        if let Some(context) = context {
            write!(f, "{context}: ")?;
        }
        match &self.kind {
            Kind::Driver(_) => Ok(()),
            Kind::ConnectTimeout(limit) => write!(
                f,
                "the server did not complete the connection within {limit:?} (connect_timeout)"
            ),
            Kind::ValidationTimeout(limit) => {
                write!(f, "the server did not answer the validation within {limit:?}")
            }
            Kind::ResetTimeout(limit) => write!(
                f,
                "the server did not finish the reset within {limit:?} (reset_timeout); the connection is given up"
            ),
            Kind::Credentials(failed) => failed.fmt(f),
            Kind::Other(message) => f.write_str(message),
        }
    }
}

impl StdError for PostgresError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Driver(err) => Some(err),
            // The provider's own error: this one's message says the provider failed.
            Kind::Credentials(failed) => failed.source(),
            _ => None,
        }
    }
}

impl From<postgres::Error> for PostgresError {
    fn from(err: postgres::Error) -> Self {
        PostgresError::driver(err)
    }
}

/// An error and its causes on one line: the driver's own `Display` stops at "db error" or
/// "error connecting to server", leaving the server's message in the source.
pub(super) fn with_sources(err: &dyn StdError) -> String {
    crate::error::chain(err)
}
