//! [`FromSettings`]: making each backend's manager from [`DatabaseSettings`].

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

/// Refuses settings of an engine `manager` does not serve.
fn check_engine(settings: &DatabaseSettings, serves: &[Engine], manager: &str) -> Result<(), ConfigError> {
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

macro_rules! from_url_managers {
    ($($(#[$cfg:meta])* $engine:ident => $manager:ident in $module:ident;)*) => {$(
        $(#[$cfg])*
        impl FromSettings for crate::backends::$module::$manager {
            fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
                check_engine(settings, &[Engine::$engine], stringify!($manager))?;
                Self::from_url(&settings.backend_url()?)
            }
        }
    )*};
}

from_url_managers! {
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    Sqlite => SqliteManager in sqlite;
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgresql => PostgresManager in postgres;
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    Mysql => MySqlManager in mysql;
    #[cfg(feature = "oracle")]
    #[cfg_attr(docsrs, doc(cfg(feature = "oracle")))]
    Oracle => OracleManager in oracle;
}

/// The JDBC engines: the URL from `URL` or `NAME` (`jdbc:…`), else the engine's preset from
/// HOST, PORT and NAME. OPTIONS: `jar` (paths separated by `:`), `driver_class`, `init`,
/// `autocommit`, `connect_timeout_ms`, `reset_timeout_ms` (also read from the URL's query);
/// any other is a driver property.
#[cfg(feature = "jdbc")]
#[cfg_attr(docsrs, doc(cfg(feature = "jdbc")))]
impl FromSettings for crate::backends::jdbc::JdbcManager {
    fn from_settings(settings: &DatabaseSettings) -> Result<Self, ConfigError> {
        use crate::backends::jdbc;
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
            (Some(url), _) => jdbc::JdbcManager::from_settings_url(url)?,
            (None, _) if settings.name.starts_with("jdbc:") => {
                jdbc::JdbcManager::from_settings_url(&settings.name)?
            }
            (None, Engine::JdbcOracle) => jdbc::oracle(host, port(1521), &settings.name),
            (None, Engine::JdbcOceanbase) => jdbc::oceanbase(host, port(2881), &settings.name),
            (None, Engine::JdbcPostgresql) => jdbc::postgresql(host, port(5432), &settings.name),
            (None, Engine::JdbcMysql) => jdbc::mysql(host, port(3306), &settings.name),
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
                own if jdbc::OWN_OPTIONS.contains(&own) => manager.own_option("OPTIONS", own, value)?,
                "autocommit" => manager.autocommit(super::parse::boolean(
                    &format!("OPTIONS.{key}"),
                    &super::SettingValue::Str(value.clone()),
                )?),
                _ => manager.property(key.clone(), value.clone()),
            };
        }
        Ok(manager)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::backends::sqlite::SqliteManager;

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
