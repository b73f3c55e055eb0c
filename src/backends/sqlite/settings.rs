//! The SqliteManager from [`DatabaseSettings`] ([`FromSettings`]), for the registry.

use super::SqliteManager;
use crate::databases::managers::check_engine;
use crate::databases::{DatabaseSettings, Engine, FromSettings};
use crate::error::ConfigError;

impl FromSettings for SqliteManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        check_engine(settings, &[Engine::Sqlite], "SqliteManager")?;
        Self::from_url(&settings.backend_url()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managers_come_from_settings_of_their_engine() {
        let m =
            SqliteManager::from_settings(&DatabaseSettings::new(Engine::Sqlite).name("/tmp/x.db")).unwrap();
        assert_eq!(m.path(), Some(std::path::Path::new("/tmp/x.db")));
        let err = SqliteManager::from_settings(&DatabaseSettings::new(Engine::Mysql)).unwrap_err();
        assert!(
            err.message.contains("millpond.backends.mysql") && err.message.contains("SqliteManager"),
            "{err}"
        );
        let err =
            SqliteManager::from_settings(&DatabaseSettings::new(Engine::Sqlite).option("color", "blue"))
                .unwrap_err();
        assert!(err.message.contains("`color`"), "{err}");
    }
}
