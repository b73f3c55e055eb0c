//! [`FromSettings`]: making a backend's manager from [`DatabaseSettings`]. Each backend implements
//! it in its own folder (`backends/<engine>/settings.rs`).

// Without any backend nothing makes a manager from settings.
#![cfg_attr(
    not(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "oracle",
        feature = "jdbc"
    )),
    allow(dead_code)
)]

use super::database::DatabaseSettings;
use super::engine::Engine;
use crate::error::ConfigError;
use crate::manage::ManageConnection;

/// A connection manager that can be made from settings, so the registry can pool it:
/// `registry.pool::<PostgresManager>("default")`.
pub trait FromSettings: ManageConnection + Sized {
    /// The manager for `settings`; settings of an engine it does not serve are refused.
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError>;
}

/// Refuses settings of an engine `manager` does not serve (for each backend's `from_settings`).
pub(crate) fn check_engine(
    settings: &DatabaseSettings,
    serves: &[Engine],
    manager: &str,
) -> Result<(), ConfigError> {
    if serves.contains(&settings.engine) {
        return Ok(());
    }
    let names: Vec<&str> = serves.iter().map(|e| e.name()).collect();
    Err(ConfigError::new(
        "ENGINE",
        format!(
            "the settings name {}, but a pool of {manager} needs {}",
            settings.engine,
            names.join(" or ")
        ),
    ))
}
