//! The JdbcManager from [`DatabaseSettings`] ([`FromSettings`]), for the registry.

use super::{JdbcManager, OWN_OPTIONS};
use crate::databases::managers::check_engine;
use crate::databases::{DatabaseSettings, Engine, FromSettings, SettingValue};
use crate::error::ConfigError;

/// The JDBC engines: the URL from `URL` or `NAME` (`jdbc:…`), else the engine's preset from
/// HOST, PORT and NAME. OPTIONS: `jar` (paths separated by `:`), `driver_class`, `init`,
/// `autocommit`, `connect_timeout_ms`, `reset_timeout_ms`, `statement_cache_capacity` (these
/// three also read from the URL's query); any other is a driver property.
impl FromSettings for JdbcManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        check_engine(
            settings,
            &[
                Engine::JdbcOracle,
                Engine::JdbcOceanbase,
                Engine::JdbcPostgresql,
                Engine::JdbcMysql,
                Engine::JdbcGeneric,
            ],
            "JdbcManager",
        )?;
        let host = if settings.host.is_empty() {
            "localhost"
        } else {
            &settings.host
        };
        let port = |default: u16| settings.port.unwrap_or(default);
        let mut manager = match (&settings.url, settings.engine) {
            (Some(url), _) => JdbcManager::from_settings_url(url)?,
            (None, _) if settings.name.starts_with("jdbc:") => {
                JdbcManager::from_settings_url(&settings.name)?
            }
            (None, Engine::JdbcOracle) => super::oracle(host, port(1521), &settings.name),
            (None, Engine::JdbcOceanbase) => super::oceanbase(host, port(2881), &settings.name),
            (None, Engine::JdbcPostgresql) => super::postgresql(host, port(5432), &settings.name),
            (None, Engine::JdbcMysql) => super::mysql(host, port(3306), &settings.name),
            (None, _) => {
                return Err(ConfigError::new(
                    "DATABASES",
                    "millpond.backends.jdbc.generic needs NAME (or URL) to be the JDBC URL (jdbc:…)",
                ));
            }
        };
        if !settings.user.is_empty() {
            manager = manager.user(settings.user.clone());
        }
        if !settings.password.is_empty() {
            manager = manager.password(settings.password.clone());
        }
        for (key, value) in &settings.options {
            manager = match key.as_str() {
                "jar" => value
                    .split(':')
                    .filter(|p| !p.is_empty())
                    .fold(manager, |m, p| m.jar(p)),
                "driver_class" => manager.driver_class(value.clone()),
                "init" => manager.init(value.clone()),
                own if OWN_OPTIONS.contains(&own) => manager.own_option("OPTIONS", own, value)?,
                "autocommit" => manager.autocommit(crate::databases::parse::boolean(
                    &format!("OPTIONS.{key}"),
                    &SettingValue::Str(value.clone()),
                )?),
                _ => manager.property(key.clone(), value.clone()),
            };
        }
        Ok(manager)
    }
}
