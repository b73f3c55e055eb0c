//! [`AnyError`]: what can go wrong running SQL through an [`AnyConnection`](crate::any::AnyConnection).

use std::error::Error as StdError;
use std::fmt;

use crate::error::{BoxError, Error};
use crate::sql::{ParamError, ValueError};

/// Why a statement run through [`AnyConnection`](crate::any::AnyConnection) failed.
///
/// Each message is printed once in a chain (anyhow's `{:#}`): a database error says so and
/// leaves the backend's error to [`source`](StdError::source); the pool's, parameter and value
/// errors are shown as they are, the variant holding them for matching.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyError {
    /// The pool could not give a connection.
    Pool(Error),
    /// The placeholders or the parameters given for them are wrong.
    Params(ParamError),
    /// A value could not be sent or read as the database needs it.
    Value(ValueError),
    /// The database refused the statement; the backend's own error is the source.
    Database(BoxError),
    /// A query that had to return a row returned none
    /// ([`AnyConnection::query_scalar`](crate::any::AnyConnection::query_scalar)).
    NoRows,
}

impl AnyError {
    pub(crate) fn database(err: impl StdError + Send + Sync + 'static) -> AnyError {
        AnyError::Database(Box::new(err))
    }
}

impl fmt::Display for AnyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyError::Pool(err) => err.fmt(f),
            AnyError::Params(err) => err.fmt(f),
            AnyError::Value(err) => err.fmt(f),
            // The backend's error (and the reason drivers often put in its own source, "error
            // serializing parameter 0") is the source: not repeated here.
            AnyError::Database(_) => f.write_str("the database refused the statement"),
            AnyError::NoRows => f.write_str("the query returned no row"),
        }
    }
}

impl StdError for AnyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Transparent: the message is the inner error's, so the next cause is its source.
            AnyError::Pool(err) => err.source(),
            AnyError::Params(err) => err.source(),
            AnyError::Value(err) => err.source(),
            AnyError::Database(err) => Some(err.as_ref()),
            AnyError::NoRows => None,
        }
    }
}

impl From<Error> for AnyError {
    fn from(err: Error) -> Self {
        AnyError::Pool(err)
    }
}

impl From<ParamError> for AnyError {
    fn from(err: ParamError) -> Self {
        AnyError::Params(err)
    }
}

impl From<ValueError> for AnyError {
    fn from(err: ValueError) -> Self {
        AnyError::Value(err)
    }
}
