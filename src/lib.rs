// The README is the crate's front page, and its examples are written to compile as shown (no
// hidden `#` lines): each names the backends it uses, so they are doctests only when every backend
// is compiled in (scripts/test runs with `--all-features`).
#![cfg_attr(
    any(
        not(doctest),
        all(
            feature = "sqlite",
            feature = "postgres",
            feature = "mysql",
            feature = "oracle",
            feature = "jdbc",
            feature = "toml",
            feature = "r2d2"
        )
    ),
    doc = include_str!("../README.md")
)]
// docs.rs builds with `--cfg docsrs` on nightly: feature badges on feature-gated items.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(
    unsafe_code,
    rustdoc::broken_intra_doc_links,
    rustdoc::private_intra_doc_links
)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::all,
    clippy::dbg_macro,
    clippy::todo,
    clippy::undocumented_unsafe_blocks,
    trivial_numeric_casts,
    unused_import_braces,
    non_ascii_idents,
    unused_lifetimes,
    macro_use_extern_crate,
    meta_variable_misuse,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    rustdoc::redundant_explicit_links,
    rustdoc::unescaped_backticks
)]

// The dynamic layer needs at least one backend it can drive (Oracle is not one yet).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql", feature = "jdbc"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql", feature = "jdbc")))
)]
pub mod any;
mod backends;
mod databases;
mod error;
mod fork;
mod manage;
pub mod observe;
mod options;
mod pool;
pub mod session;
pub mod settings;
pub mod sql;

// The root: the pool, its options and errors, the backend contract and the session; the rest is
// reached through its module (`millpond::settings`, `millpond::observe`, `millpond::postgres`, …).
#[cfg(feature = "jdbc")]
#[cfg_attr(docsrs, doc(cfg(feature = "jdbc")))]
pub use backends::jdbc;
#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
pub use backends::mysql;
#[cfg(feature = "oracle")]
#[cfg_attr(docsrs, doc(cfg(feature = "oracle")))]
pub use backends::oracle;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use backends::postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use backends::sqlite;
pub use error::{BoxError, ConfigError, Error, QueueFullDetails, TimeoutDetails};
#[cfg(feature = "r2d2")]
#[cfg_attr(docsrs, doc(cfg(feature = "r2d2")))]
pub use manage::R2d2Manager;
pub use manage::{ErrorClass, ManageConnection, ResetAction, TransactionState};
pub use options::{PoolOptions, ResetOnReturn};
pub use pool::{Builder, ConnectionInfo, Pool, PooledConnection};
pub use session::Session;
