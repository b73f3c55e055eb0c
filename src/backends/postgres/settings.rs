//! The PostgresManager from [`DatabaseSettings`] ([`FromSettings`]), for the registry.

use super::PostgresManager;
use crate::databases::managers::check_engine;
use crate::databases::{DatabaseSettings, Engine, FromSettings};
use crate::error::ConfigError;

impl FromSettings for PostgresManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        check_engine(settings, &[Engine::Postgresql], "PostgresManager")?;
        Self::from_url(&settings.backend_url()?)
    }
}
