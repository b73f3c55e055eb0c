//! Backends, one per Cargo feature.

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "oracle")]
pub mod oracle;
#[cfg(feature = "postgres")]
pub mod postgres;
mod redact;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod txn;
mod url;
