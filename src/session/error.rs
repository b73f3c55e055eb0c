//! The error of a session's calls: the pool's, or the database's.

use std::error::Error as StdError;
use std::fmt;

use crate::error::Error;

/// Why a session's call failed: no connection could be checked out, or the database (or the
/// caller's work) failed.
///
/// A checkout failure says so and leaves the pool's error to [`source`](StdError::source); a
/// database error is shown as it is (its message and its own sources), so each message is
/// printed once in a chain (anyhow's `{:#}`).
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionError<E> {
    /// The checkout failed (timeout, connect error, closed pool).
    Checkout(Error),
    /// The statement or the work failed; the connection was given back all the same.
    Database(E),
}

impl<E> SessionError<E> {
    /// The database's (or the work's) error, if this is one.
    pub fn database(&self) -> Option<&E> {
        match self {
            SessionError::Database(err) => Some(err),
            SessionError::Checkout(_) => None,
        }
    }

    /// The database's (or the work's) error, or the checkout error converted by `From`.
    pub fn into_inner(self) -> E
    where
        E: From<Error>,
    {
        match self {
            SessionError::Database(err) => err,
            SessionError::Checkout(err) => E::from(err),
        }
    }
}

impl<E> From<Error> for SessionError<E> {
    fn from(err: Error) -> Self {
        SessionError::Checkout(err)
    }
}

impl<E: fmt::Display> fmt::Display for SessionError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The checkout's error is the source: not repeated here.
            SessionError::Checkout(_) => f.write_str("no connection for the session"),
            SessionError::Database(err) => err.fmt(f),
        }
    }
}

impl<E: StdError + 'static> StdError for SessionError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SessionError::Checkout(err) => Some(err),
            // Display shows the database's error itself, so it is not repeated as the source.
            SessionError::Database(err) => err.source(),
        }
    }
}
