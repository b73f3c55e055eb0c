//! Django-style settings: DATABASES from code, a TOML file, environment variables or a URL;
//! global pool defaults ([`setup`]); and the registry that gives each process its own pool per
//! alias.

mod database;
mod databases;
mod engine;
mod env;
pub(crate) mod managers;
pub(crate) mod parse;
mod pool_options;
mod registry;
#[cfg(feature = "toml")]
mod toml;
mod url;
mod value;

pub use self::database::DatabaseSettings;
pub use self::databases::Databases;
pub use self::engine::Engine;
pub use self::managers::FromSettings;
pub use self::registry::{Registry, configure, registry};
pub use self::value::SettingValue;
pub use crate::options::{pool_defaults, reset_pool_defaults, setup};
