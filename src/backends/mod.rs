//! Backends, one per Cargo feature.

#[cfg(any(feature = "postgres", feature = "mysql", feature = "oracle", feature = "jdbc"))]
pub(crate) mod credentials;
#[cfg(feature = "jdbc")]
#[cfg_attr(docsrs, doc(cfg(feature = "jdbc")))]
pub mod jdbc;
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub mod mysql;
#[cfg(feature = "oracle")]
#[cfg_attr(docsrs, doc(cfg(feature = "oracle")))]
pub mod oracle;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
pub(crate) mod redact;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;
mod txn;
pub(crate) mod url;
