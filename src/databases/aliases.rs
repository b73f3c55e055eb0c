//! [`Databases`]: Django's `DATABASES`, aliases to [`DatabaseSettings`], and its reading from a
//! tree of [`SettingValue`]s (what TOML files and the environment are turned into).

use std::collections::BTreeMap;

use super::database::DatabaseSettings;
use super::engine::Engine;
use super::parse::{int, refuse, text};
use super::problems::{Problems, SettingsError};
use super::value::SettingValue;
use crate::backends::redact::check_url;
use crate::backends::url::did_you_mean;
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
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

    /// Each alias with its settings, in order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &DatabaseSettings)> {
        self.aliases
            .iter()
            .map(|(alias, settings)| (alias.as_str(), settings))
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
    ///
    /// An unknown key or engine is an error naming it, suggesting the accepted name it is
    /// closest to and listing what is accepted; so is a `CONN_MAX_AGE` other than 0. Reading
    /// goes on past each problem, so the error lists every problem of every alias. Driver
    /// options are the engine's to check: [`Databases::validate`] checks them.
    pub fn from_value(value: &SettingValue) -> Result<Self, SettingsError> {
        let SettingValue::Table(table) = value else {
            return Err(SettingsError::whole(refuse(
                "DATABASES",
                format!("is {}; use a table of aliases", value.kind()),
            )));
        };
        if let Some(inner @ SettingValue::Table(_)) = table.get("DATABASES") {
            return Databases::from_value(inner);
        }
        let mut databases = Databases::new();
        let mut problems = Problems::default();
        for (alias, value) in table {
            let mut found = Vec::new();
            let settings = alias_from_value(alias, value, &mut found);
            for error in found {
                problems.push(Some(alias), error);
            }
            if let Some(settings) = settings {
                databases.insert(alias.clone(), settings);
            }
        }
        problems.or(databases)
    }
}

/// One alias: a URL string, or a table of the Django keys. Every problem found is added to
/// `problems`; the settings are returned when the engine is known (the keys in error left out).
fn alias_from_value(
    alias: &str,
    value: &SettingValue,
    problems: &mut Vec<ConfigError>,
) -> Option<DatabaseSettings> {
    let table = match value {
        SettingValue::Str(url) => return DatabaseSettings::read_url(url, problems),
        SettingValue::Table(table) => table,
        other => {
            problems.push(refuse(
                alias,
                format!("is {}; use a table of ENGINE, NAME, … or a URL", other.kind()),
            ));
            return None;
        }
    };
    let path = |key: &str| format!("{alias}.{key}");
    for key in table.keys() {
        if !ALIAS_KEYS.contains(&key.as_str()) {
            let hint = match key.as_str() {
                "CONN_HEALTH_CHECKS" => {
                    "; the pool checks connections itself: use POOL_OPTIONS.PRE_PING".to_owned()
                }
                _ => did_you_mean(key, ALIAS_KEYS.iter().copied()),
            };
            problems.push(refuse(
                &path(key),
                format!(
                    "is not accepted{hint}; the accepted keys are {}",
                    ALIAS_KEYS.join(", ")
                ),
            ));
        }
    }
    // Without a known engine the other keys are still read, for their problems.
    let mut engine_known = true;
    let mut settings = match (table.get("URL"), table.get("ENGINE")) {
        (Some(url), engine) => {
            let url = text(&path("URL"), url)
                .map_err(|err| problems.push(err))
                .ok()
                .and_then(|url| DatabaseSettings::read_url(&url, problems));
            match (url, engine.map(|engine| parse_engine(&path("ENGINE"), engine))) {
                (Some(settings), Some(Ok(named))) if named != settings.engine => {
                    problems.push(refuse(
                        &path("ENGINE"),
                        format!("is {named} but the URL names {}", settings.engine),
                    ));
                    engine_known = false;
                    settings
                }
                (Some(settings), Some(Err(err))) => {
                    problems.push(err);
                    engine_known = false;
                    settings
                }
                (Some(settings), _) => settings,
                (None, engine) => {
                    if let Some(Err(err)) = engine {
                        problems.push(err);
                    }
                    engine_known = false;
                    DatabaseSettings::new(Engine::Sqlite)
                }
            }
        }
        (None, Some(engine)) => match parse_engine(&path("ENGINE"), engine) {
            Ok(engine) => DatabaseSettings::new(engine),
            Err(err) => {
                problems.push(err);
                engine_known = false;
                DatabaseSettings::new(Engine::Sqlite)
            }
        },
        (None, None) => {
            problems.push(refuse(
                alias,
                format!("has no ENGINE; use one of {}", Engine::accepted()),
            ));
            engine_known = false;
            DatabaseSettings::new(Engine::Sqlite)
        }
    };
    for (key, value) in table {
        if let Err(err) = read_key(&mut settings, &path(key), key, value, problems) {
            problems.push(err);
        }
    }
    engine_known.then_some(settings)
}

/// Reads one key of an alias's table into `settings`. The tables (`OPTIONS`, `POOL_OPTIONS`)
/// add a problem per entry to `problems` and go on; any other key's problem is returned.
fn read_key(
    settings: &mut DatabaseSettings,
    at: &str,
    key: &str,
    value: &SettingValue,
    problems: &mut Vec<ConfigError>,
) -> Result<(), ConfigError> {
    match key {
        "NAME" => {
            settings.name = text(at, value)?;
            // A JDBC NAME is a URL: one whose password could be read two ways is refused
            // here, as a URL is, rather than at the first connect.
            if settings.name.starts_with("jdbc:") {
                check_url(&settings.name)
                    .map_err(|err| refuse(at, format!("is refused: {}", err.message)))?;
            }
        }
        "USER" => settings.user = text(at, value)?,
        // Never quoted: `text` names only the kind of a value it refuses.
        "PASSWORD" => settings.password = text(at, value)?,
        "HOST" => settings.host = text(at, value)?,
        // An empty PORT is Django's "the default".
        "PORT" if matches!(value, SettingValue::Str(s) if s.is_empty()) => {}
        "PORT" => {
            let port = int(at, value, "a port number")?;
            settings.port =
                Some(u16::try_from(port).map_err(|_| refuse(at, "is not a port number (1 to 65535)"))?);
        }
        "CONN_MAX_AGE" => conn_max_age(at, value)?,
        "OPTIONS" => {
            for (option, value) in table_of(at, value)? {
                match text(&format!("{at}.{option}"), value) {
                    Ok(value) => {
                        settings.options.insert(option.clone(), value);
                    }
                    Err(err) => problems.push(err),
                }
            }
        }
        "POOL_OPTIONS" => {
            for (option, value) in table_of(at, value)? {
                if let Err(err) = settings.pool.set(option, value, &format!("{at}.{option}")) {
                    problems.push(err);
                }
            }
        }
        // ENGINE and URL were read first; unknown keys were reported.
        _ => {}
    }
    Ok(())
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
        Databases::from_value(&SettingValue::table([("default", entries)])).map_err(ConfigError::from)
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
                .contains("`default.POOL_OPTIONS.SIZE` is not a pool option; the accepted"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_of_every_alias_is_reported_with_near_misses_named() {
        let err = Databases::from_value(&SettingValue::table([
            (
                "default",
                SettingValue::table([
                    ("ENGINE", SettingValue::from("millpond.backends.postgresql")),
                    ("PASSWORD", "s3cr3t".into()),
                    ("OPTION", SettingValue::table([("sslmode", "disable")])),
                    (
                        "POOL_OPTIONS",
                        SettingValue::table([("POOL_SIZ", 3), ("MAX_OVERFLOW", -5), ("TIMEOUT", 1)]),
                    ),
                    ("PORT", "fifty".into()),
                ]),
            ),
            (
                "replica",
                SettingValue::from("postgres://u:s3cr3t@h/db?pool_size=many&max_overflo=1&recycle=-2"),
            ),
            (
                "reports",
                SettingValue::table([
                    ("ENGINE", SettingValue::from("millpond.backends.postgres")),
                    ("POOL_OPTIONS", SettingValue::table([("PRE_PINGS", true)])),
                ]),
            ),
        ]))
        .unwrap_err();
        let lines: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
        let expected = [
            "default: `default.OPTION` is not accepted (did you mean `OPTIONS`?)",
            "default: `default.POOL_OPTIONS.MAX_OVERFLOW` is -5; use a whole number",
            "default: `default.POOL_OPTIONS.POOL_SIZ` is not a pool option (did you mean `POOL_SIZE`?)",
            "default: `default.PORT` is `fifty`; use a port number",
            "replica: the URL's `?pool_size=` is `many`; use a whole number",
            "replica: the URL's `?recycle=` is `-2`: a duration cannot be negative",
            "reports: `reports.ENGINE` `millpond.backends.postgres` is not an engine (did you mean `millpond.backends.postgresql`?)",
            "reports: `reports.POOL_OPTIONS.PRE_PINGS` is not a pool option (did you mean `PRE_PING`?)",
        ];
        assert_eq!(lines.len(), expected.len(), "{err}");
        for (line, expected) in lines.iter().zip(expected) {
            assert!(line.starts_with(expected), "{line}\nis not\n{expected}…");
        }
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.starts_with("invalid database settings: 8 problems:\n  default: "),
            "{shown}"
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
