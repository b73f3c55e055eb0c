//! Django-style settings: DATABASES from code, a TOML file, environment variables or a URL;
//! global pool defaults ([`setup`]); and the registry that gives each process its own pool per
//! alias.

mod check;
mod registry;

pub use self::registry::{Registry, configure, registry};
pub use crate::databases::{
    DatabaseSettings, Databases, Engine, FromSettings, SettingValue, SettingsError, SettingsProblem,
};
pub use crate::options::{pool_defaults, reset_pool_defaults, setup};
