#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::all,
    clippy::dbg_macro,
    clippy::todo
)]

mod backends;
mod config;
mod error;
mod manage;
mod pool;
mod session;
mod settings;
mod sql;

#[cfg(feature = "jdbc")]
pub use backends::jdbc;
#[cfg(feature = "mysql")]
pub use backends::mysql;
#[cfg(feature = "oracle")]
pub use backends::oracle;
#[cfg(feature = "postgres")]
pub use backends::postgres;
#[cfg(feature = "sqlite")]
pub use backends::sqlite;
pub use config::{Builder, PoolOptions, ResetOnReturn};
pub use error::{BoxError, ConfigError, Error, TimeoutDetails};
pub use manage::{ManageConnection, R2d2Manager, ResetAction, TransactionState};
pub use pool::{
    CloseReason, Event, HandleEvent, InvalidateReason, Pool, PooledConnection, State, Stats, WAIT_BUCKETS,
};
pub use session::*;
pub use settings::*;
pub use sql::*;
