//! The MySqlManager from [`DatabaseSettings`] ([`FromSettings`]), for the registry.

use super::MySqlManager;
use crate::databases::managers::check_engine;
use crate::databases::{DatabaseSettings, Engine, FromSettings};
use crate::error::ConfigError;

impl FromSettings for MySqlManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        check_engine(settings, &[Engine::Mysql], "MySqlManager")?;
        Self::from_url(&settings.backend_url()?)
    }
}
