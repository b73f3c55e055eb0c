//! [`Databases`]: Django's `DATABASES`, aliases to [`DatabaseSettings`], and its reading from a
//! tree of [`SettingValue`]s (what TOML files and the environment are turned into).

use std::collections::BTreeMap;

use super::database::DatabaseSettings;
use super::engine::Engine;
use super::parse::{int, refuse, text};
use super::value::SettingValue;
use crate::backends::redact::check_url;
use crate::error::ConfigError;

/// The keys an alias accepts.
const ALIAS_KEYS: &[&str] = &[
    "ENGINE",
    "NAME",
    "USER",
    "PASSWORD",
    "HOST",
    "PORT",
    "OPTIONS",
    "POOL_OPTIONS",
    "CONN_MAX_AGE",
    "URL",
];

/// Django's `DATABASES`: database settings by alias (`default`, `replica`, …).
///
/// ```
/// use millpond::settings::{DatabaseSettings, Databases, Engine, SettingValue};
///
/// // From code, alias by alias…
/// let databases = Databases::new()
///     .with("default", DatabaseSettings::from_url("sqlite::memory:?pool_size=2")?)
///     .with("cache", DatabaseSettings::new(Engine::Sqlite).name(":memory:"));
/// assert_eq!(databases.aliases().collect::<Vec<_>>(), ["cache", "default"]);
///
/// // …or in Django's shape.
/// let databases = Databases::from_value(&SettingValue::table([(
///     "default",
///     SettingValue::table([
///         ("ENGINE", SettingValue::from("dj_db_conn_pool.backends.sqlite")),
///         ("NAME", ":memory:".into()),
///         ("POOL_OPTIONS", SettingValue::table([("POOL_SIZE", 3), ("MAX_OVERFLOW", 0)])),
///     ]),
/// )]))?;
/// assert_eq!(databases.get("default").unwrap().pool_options().pool_size, 3);
/// # Ok::<(), millpond::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Databases {
    aliases: BTreeMap<String, DatabaseSettings>,
}

impl Databases {
    /// No databases.
    pub fn new() -> Self {
        Databases::default()
    }

    /// These databases with `alias` set to `settings`.
    pub fn with(mut self, alias: impl Into<String>, settings: DatabaseSettings) -> Self {
        self.insert(alias, settings);
        self
    }

    /// Sets `alias` to `settings`, replacing what it had.
    pub fn insert(&mut self, alias: impl Into<String>, settings: DatabaseSettings) {
        self.aliases.insert(alias.into(), settings);
    }

    /// The settings of `alias`.
    pub fn get(&self, alias: &str) -> Option<&DatabaseSettings> {
        self.aliases.get(alias)
    }

    /// The aliases, in order.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.aliases.keys().map(String::as_str)
    }

    /// Whether no alias is set.
    pub fn is_empty(&self) -> bool {
        self.aliases.is_empty()
    }

    /// Adds every alias of `other`, replacing those of the same name.
    pub fn merge(&mut self, other: Databases) {
        self.aliases.extend(other.aliases);
    }

    /// Reads Django's `DATABASES` shape: a table of aliases, each a table of `ENGINE`, `NAME`,
    /// `USER`, `PASSWORD`, `HOST`, `PORT`, `OPTIONS` (a table of driver options) and
    /// `POOL_OPTIONS` (a table of pool options), or a URL string. `URL` may stand for `ENGINE`
    /// and the connection keys. A table holding a `DATABASES` table is read as that table, the
    /// rest left to the application (so one file can hold other settings too).
    /// An unknown key or engine is an error naming it and listing what is accepted; so is a
    /// `CONN_MAX_AGE` other than 0.
    pub fn from_value(value: &SettingValue) -> Result<Self, ConfigError> {
        let SettingValue::Table(table) = value else {
            return Err(refuse(
                "DATABASES",
                format!("is {}; use a table of aliases", value.kind()),
            ));
        };
        if let Some(inner @ SettingValue::Table(_)) = table.get("DATABASES") {
            return Databases::from_value(inner);
        }
        let mut databases = Databases::new();
        for (alias, value) in table {
            databases.insert(alias.clone(), alias_from_value(alias, value)?);
        }
        Ok(databases)
    }
}

/// One alias: a URL string, or a table of the Django keys.
fn alias_from_value(alias: &str, value: &SettingValue) -> Result<DatabaseSettings, ConfigError> {
    let table = match value {
        SettingValue::Str(url) => return DatabaseSettings::from_url(url),
        SettingValue::Table(table) => table,
        other => {
            return Err(refuse(
                alias,
                format!("is {}; use a table of ENGINE, NAME, … or a URL", other.kind()),
            ));
        }
    };
    let path = |key: &str| format!("{alias}.{key}");
    for key in table.keys() {
        if !ALIAS_KEYS.contains(&key.as_str()) {
            let hint = match key.as_str() {
                "CONN_HEALTH_CHECKS" => "; the pool checks connections itself: use POOL_OPTIONS.PRE_PING",
                _ => "",
            };
            return Err(refuse(
                &path(key),
                format!(
                    "is not accepted{hint}; the accepted keys are {}",
                    ALIAS_KEYS.join(", ")
                ),
            ));
        }
    }
    let mut settings = match (table.get("URL"), table.get("ENGINE")) {
        (Some(url), engine) => {
            let url = text(&path("URL"), url)?;
            let settings = DatabaseSettings::from_url(&url)?;
            if let Some(engine) = engine {
                let named = parse_engine(&path("ENGINE"), engine)?;
                if named != settings.engine {
                    return Err(refuse(
                        &path("ENGINE"),
                        format!("is {named} but the URL names {}", settings.engine),
                    ));
                }
            }
            settings
        }
        (None, Some(engine)) => DatabaseSettings::new(parse_engine(&path("ENGINE"), engine)?),
        (None, None) => {
            return Err(refuse(
                alias,
                format!("has no ENGINE; use one of {}", Engine::accepted()),
            ));
        }
    };
    for (key, value) in table {
        let at = path(key);
        match key.as_str() {
            "ENGINE" | "URL" => {}
            "NAME" => {
                settings.name = text(&at, value)?;
                // A JDBC NAME is a URL: one whose password could be read two ways is refused
                // here, as a URL is, rather than at the first connect.
                if settings.name.starts_with("jdbc:") {
                    check_url(&settings.name)
                        .map_err(|err| refuse(&at, format!("is refused: {}", err.message)))?;
                }
            }
            "USER" => settings.user = text(&at, value)?,
            // Never quoted: `text` names only the kind of a value it refuses.
            "PASSWORD" => settings.password = text(&at, value)?,
            "HOST" => settings.host = text(&at, value)?,
            "PORT" => {
                if !matches!(value, SettingValue::Str(s) if s.is_empty()) {
                    let port = int(&at, value, "a port number")?;
                    settings.port = Some(
                        u16::try_from(port).map_err(|_| refuse(&at, "is not a port number (1 to 65535)"))?,
                    );
                }
            }
            "CONN_MAX_AGE" => conn_max_age(&at, value)?,
            "OPTIONS" => {
                for (option, value) in table_of(&at, value)? {
                    let value = text(&format!("{at}.{option}"), value)?;
                    settings.options.insert(option.clone(), value);
                }
            }
            "POOL_OPTIONS" => {
                for (option, value) in table_of(&at, value)? {
                    settings.pool.set(option, value, &format!("{at}.{option}"))?;
                }
            }
            _ => unreachable!("keys were checked above"),
        }
    }
    Ok(settings)
}

fn parse_engine(path: &str, value: &SettingValue) -> Result<Engine, ConfigError> {
    text(path, value)?
        .parse()
        .map_err(|err: ConfigError| refuse(path, err.message))
}

fn table_of<'v>(
    path: &str,
    value: &'v SettingValue,
) -> Result<&'v BTreeMap<String, SettingValue>, ConfigError> {
    match value {
        SettingValue::Table(table) => Ok(table),
        other => Err(refuse(path, format!("is {}; use a table", other.kind()))),
    }
}

/// Django's persistent connections keep one connection per thread for CONN_MAX_AGE seconds,
/// outside any pool; with a pool they would hold pooled connections forever. As Django's own
/// pool does, only 0 is accepted.
fn conn_max_age(path: &str, value: &SettingValue) -> Result<(), ConfigError> {
    const WHY: &str = "must be 0: persistent connections would keep each pooled connection checked \
        out by one thread for its whole age, so the pool could not share it (Django's own pool \
        refuses them too); the pool already keeps connections open, and RECYCLE in POOL_OPTIONS \
        sets their lifetime";
    match value {
        SettingValue::Int(0) => Ok(()),
        SettingValue::Str(s) if s.trim() == "0" => Ok(()),
        _ => Err(refuse(path, WHY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(entries: SettingValue) -> Result<Databases, ConfigError> {
        Databases::from_value(&SettingValue::table([("default", entries)]))
    }

    #[test]
    fn the_django_shape_is_read() {
        let db = alias(SettingValue::table([
            (
                "ENGINE",
                SettingValue::from("dj_db_conn_pool.backends.postgresql"),
            ),
            ("NAME", "test".into()),
            ("USER", "postgres".into()),
            ("PASSWORD", "s3cr3t".into()),
            ("HOST", "127.0.0.1".into()),
            ("PORT", "5432".into()),
            ("CONN_MAX_AGE", 0.into()),
            ("OPTIONS", SettingValue::table([("sslmode", "disable")])),
            (
                "POOL_OPTIONS",
                SettingValue::table([("POOL_SIZE", 2), ("MAX_OVERFLOW", 2)]),
            ),
        ]))
        .unwrap();
        let db = db.get("default").unwrap();
        assert_eq!(db.engine(), Engine::Postgresql);
        assert_eq!(db.port, Some(5432));
        assert_eq!(db.pool_options().max_connections(), Some(4));
        assert!(!format!("{db:?}").contains("s3cr3t"));
    }

    #[test]
    fn unknown_keys_engines_and_persistent_connections_are_refused() {
        let err = alias(SettingValue::table([
            ("ENGINE", "millpond.backends.sqlite"),
            ("ATOMIC", "x"),
        ]))
        .unwrap_err();
        assert!(err.message.contains("`default.ATOMIC` is not accepted"), "{err}");
        assert!(err.message.contains("POOL_OPTIONS"), "{err}");
        let err = alias(SettingValue::table([("ENGINE", "django.db.backends.sqlite3")])).unwrap_err();
        assert!(
            err.message.contains("django.db.backends.sqlite3")
                && err.message.contains("millpond.backends.sqlite"),
            "{err}"
        );
        let err = alias(SettingValue::table([
            ("ENGINE", SettingValue::from("millpond.backends.sqlite")),
            ("CONN_MAX_AGE", 600.into()),
        ]))
        .unwrap_err();
        assert!(
            err.message.contains("CONN_MAX_AGE") && err.message.contains("must be 0"),
            "{err}"
        );
        let err = alias(SettingValue::table([
            ("ENGINE", "millpond.backends.jdbc.generic"),
            ("NAME", "jdbc:mysql://u:s3/cr3t@h/db"),
        ]))
        .unwrap_err();
        assert!(
            err.message.contains("`%2F`") && !format!("{err} {err:?}").contains("cr3t"),
            "{err}"
        );
        let err = alias(SettingValue::table([("NAME", "x")])).unwrap_err();
        assert!(err.message.contains("has no ENGINE"), "{err}");
        let err = alias(SettingValue::table([
            ("ENGINE", SettingValue::from("millpond.backends.sqlite")),
            ("POOL_OPTIONS", SettingValue::table([("SIZE", 1)])),
        ]))
        .unwrap_err();
        assert!(
            err.message
                .contains("`default.POOL_OPTIONS.SIZE` is not a pool option"),
            "{err}"
        );
    }

    #[test]
    fn a_url_may_stand_for_an_alias() {
        let dbs = Databases::from_value(&SettingValue::table([(
            "DATABASES",
            SettingValue::table([
                ("default", SettingValue::from("sqlite::memory:?pool_size=1")),
                (
                    "other",
                    SettingValue::table([
                        ("URL", SettingValue::from("sqlite::memory:")),
                        ("POOL_OPTIONS", SettingValue::table([("TIMEOUT", 2)])),
                    ]),
                ),
            ]),
        )]))
        .unwrap();
        assert_eq!(dbs.get("default").unwrap().pool_options().pool_size, 1);
        assert_eq!(dbs.get("other").unwrap().pool_options().timeout.as_secs(), 2);
    }
}
