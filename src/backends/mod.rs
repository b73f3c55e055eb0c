//! Backends, one per Cargo feature.

#[cfg(feature = "sqlite")]
pub mod sqlite;
