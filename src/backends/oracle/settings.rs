//! The OracleManager from [`DatabaseSettings`] ([`FromSettings`]), for the registry.

use super::OracleManager;
use crate::databases::managers::check_engine;
use crate::databases::{DatabaseSettings, Engine, FromSettings};
use crate::error::ConfigError;

impl FromSettings for OracleManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        check_engine(settings, &[Engine::Oracle], "OracleManager")?;
        Self::from_url(&settings.backend_url()?)
    }
}
