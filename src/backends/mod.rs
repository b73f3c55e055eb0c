//! Backends, one per Cargo feature.

#[cfg(feature = "jdbc")]
pub mod jdbc;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "oracle")]
pub mod oracle;
#[cfg(feature = "postgres")]
pub mod postgres;
pub(crate) mod redact;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod txn;
pub(crate) mod url;
