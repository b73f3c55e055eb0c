//! Values, rows and parameter styles shared by the backends that run SQL given as text with
//! parameters given apart (the JDBC backend, and the dynamic layers built on top).

mod params;
mod value;

pub(crate) use params::block_comment_end;
pub use params::{Bind, ParamError, Params, Placeholder, Translated, Translator, translate};
pub use value::{ColumnIndex, Date, FromValue, Row, Time, Timestamp, Value, ValueError};
