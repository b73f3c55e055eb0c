//! Values, rows and parameter styles shared by the backends that run SQL given as text with
//! parameters given apart (the JDBC backend, and the dynamic layers built on top).

// The error of the dynamic layer, public as `millpond::any::AnyError`; below the engines' codecs.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql", feature = "jdbc"))]
pub(crate) mod error;
mod params;
mod value;

pub(crate) use params::block_comment_end;
pub use params::{Bind, ParamError, Params, Placeholder, Translated, Translator, translate};
pub use value::{ColumnIndex, Date, FromValue, Row, Time, Timestamp, TimestampTz, Value, ValueError};
