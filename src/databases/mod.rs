//! Django's `DATABASES`: each alias's settings ([`DatabaseSettings`]: ENGINE, NAME, USER,
//! PASSWORD, HOST, PORT, OPTIONS, POOL_OPTIONS), read from code, a URL, the environment or a
//! TOML file, and [`FromSettings`], the trait each engine implements to make its manager from
//! them.
//!
//! This room sits below the engines (each engine's `settings.rs` reads these types); the
//! registry of pools and the checks that need every engine are above them, in `settings/`,
//! which is also the public face of both (`millpond::settings`).

mod aliases;
mod database;
mod engine;
mod env;
pub(crate) mod managers;
mod parameters;
pub(crate) mod parse;
mod pool_options;
mod problems;
#[cfg(feature = "toml")]
mod toml;
mod url;
mod value;

pub use self::aliases::Databases;
pub use self::database::DatabaseSettings;
pub use self::engine::Engine;
pub use self::managers::FromSettings;
pub(crate) use self::problems::Problems;
pub use self::problems::{SettingsError, SettingsProblem};
pub use self::value::SettingValue;
