//! Which MySQL errors break a connection and which mean the server is lost.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use ::mysql::{DriverError, Error};

/// Server error codes that mean the session is gone: the connection was killed, the server is
/// shutting down, or a proxy reports the server gone.
const LOST_SERVER_CODES: &[u16] = &[
    1053, // ER_SERVER_SHUTDOWN
    1077, // ER_NORMAL_SHUTDOWN
    1078, // ER_GOT_SIGNAL
    1079, // ER_SHUTDOWN_COMPLETE
    1080, // ER_FORCING_CLOSE
    1927, // ER_CONNECTION_KILLED (MariaDB)
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
    2055, // CR_SERVER_LOST_EXTENDED
    4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8: disconnected for inactivity)
];

/// The I/O error inside a driver error, if there is one.
pub(super) fn io_error(err: &Error) -> Option<&io::Error> {
    match err {
        Error::IoError(err) => Some(err),
        Error::CodecError(err) => err.source().and_then(|s| s.downcast_ref::<io::Error>()),
        _ => None,
    }
}

pub(super) fn is_timeout_kind(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

pub(super) fn timed_out(what: &str, timeout: Duration) -> Error {
    Error::IoError(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} got no answer from the MySQL server within {timeout:?}"),
    ))
}

/// Whether an error leaves the connection unusable.
pub(super) fn breaks_connection(err: &Error) -> bool {
    match err {
        Error::IoError(_) | Error::CodecError(_) | Error::TlsError(_) => true,
        Error::DriverError(err) => !matches!(
            err,
            DriverError::MismatchedStmtParams(..)
                | DriverError::Params(_)
                | DriverError::MixedParams
                | DriverError::ReadOnlyTransNotSupported
                | DriverError::BulkExecute(_)
                | DriverError::InvalidPoolConstraints
                | DriverError::PoisonedPoolMutex
        ),
        Error::MySqlError(err) => LOST_SERVER_CODES.contains(&err.code),
        Error::UrlError(_) | Error::FromValueError(_) | Error::FromRowError(_) => false,
    }
}

pub(super) fn is_lost_server(err: &Error) -> bool {
    if let Some(io) = io_error(err) {
        return matches!(
            io.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::NotConnected
        );
    }
    match err {
        Error::MySqlError(err) => LOST_SERVER_CODES.contains(&err.code),
        Error::DriverError(DriverError::ConnectTimeout | DriverError::CouldNotConnect(_)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified() {
        let server = |code| {
            Error::MySqlError(::mysql::MySqlError {
                state: "HY000".into(),
                message: "x".into(),
                code,
            })
        };
        let io = |kind| Error::IoError(io::Error::new(kind, "x"));
        assert!(is_lost_server(&server(1927)) && breaks_connection(&server(1927)));
        assert!(is_lost_server(&server(2006)) && is_lost_server(&server(1053)));
        assert!(!is_lost_server(&server(1062)) && !breaks_connection(&server(1062)));
        assert!(
            is_lost_server(&io(io::ErrorKind::BrokenPipe))
                && is_lost_server(&io(io::ErrorKind::UnexpectedEof))
        );
        assert!(is_lost_server(&io(io::ErrorKind::ConnectionReset)));
        assert!(
            !is_lost_server(&io(io::ErrorKind::TimedOut)) && breaks_connection(&io(io::ErrorKind::TimedOut))
        );
        assert!(!breaks_connection(&Error::DriverError(DriverError::MixedParams)));
        assert!(breaks_connection(&Error::DriverError(
            DriverError::PacketOutOfSync
        )));
    }
}
