//! [`AnyError`]: what can go wrong running SQL through an [`AnyConnection`](super::AnyConnection).

use std::error::Error as StdError;
use std::fmt;

use crate::error::{BoxError, Error};
use crate::sql::{ParamError, ValueError};

/// Why a statement run through [`AnyConnection`](super::AnyConnection) failed.
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
    /// ([`AnyConnection::query_scalar`](super::AnyConnection::query_scalar)).
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
            AnyError::Database(err) => {
                // Drivers often put the reason in the source ("error serializing parameter 0").
                write!(f, "the database refused the statement: {err}")?;
                let mut source = err.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            AnyError::NoRows => f.write_str("the query returned no row"),
        }
    }
}

impl StdError for AnyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            AnyError::Pool(err) => Some(err),
            AnyError::Params(err) => Some(err),
            AnyError::Value(err) => Some(err),
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
