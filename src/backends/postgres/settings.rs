//! The PostgresManager from [`DatabaseSettings`] ([`FromSettings`]), for the registry.

use super::PostgresManager;
use crate::error::ConfigError;
use crate::settings::managers::check_engine;
use crate::settings::{DatabaseSettings, Engine, FromSettings};

impl FromSettings for PostgresManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        check_engine(settings, &[Engine::Postgresql], "PostgresManager")?;
        Self::from_url(&settings.backend_url()?)
    }
}
