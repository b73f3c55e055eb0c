//! The OracleManager from [`DatabaseSettings`] ([`FromSettings`]), for the registry.

use super::OracleManager;
use crate::error::ConfigError;
use crate::settings::managers::check_engine;
use crate::settings::{DatabaseSettings, Engine, FromSettings};

impl FromSettings for OracleManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        check_engine(settings, &[Engine::Oracle], "OracleManager")?;
        Self::from_url(&settings.backend_url()?)
    }
}
