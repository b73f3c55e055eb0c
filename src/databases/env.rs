//! Databases from environment variables: `DATABASE_URL`, and
//! `MILLPOND_DATABASES__<ALIAS>__<KEY>` for every key of the DATABASES shape.

use std::collections::BTreeMap;
use std::ffi::OsString;

use super::aliases::Databases;
use super::problems::{Problems, SettingsError};
use super::value::SettingValue;
use crate::error::ConfigError;

/// The prefix of the variables that spell out DATABASES.
pub(crate) const PREFIX: &str = "MILLPOND_DATABASES__";

impl Databases {
    /// Databases from this process's environment:
    ///
    /// - `DATABASE_URL`: the `default` alias, as a URL ([`DatabaseSettings::from_url`](super::DatabaseSettings::from_url));
    ///   ignored when any `MILLPOND_DATABASES__DEFAULT__…` variable is set;
    /// - `MILLPOND_DATABASES__<ALIAS>__<KEY>`: `KEY` one of `ENGINE`, `NAME`, `USER`,
    ///   `PASSWORD`, `HOST`, `PORT`, `CONN_MAX_AGE`, `URL`;
    /// - `MILLPOND_DATABASES__<ALIAS>__OPTIONS__<OPTION>`: a driver option (its name lower-cased:
    ///   `…__OPTIONS__SSLMODE=disable` sets `sslmode`);
    /// - `MILLPOND_DATABASES__<ALIAS>__POOL_OPTIONS__<KEY>`: a pool option (`POOL_SIZE`, …).
    ///
    /// Aliases are lower-cased (`…__REPLICA__…` is `replica`). Values are text, read as the
    /// setting needs (`10`, `true`, `-1`, `0.5`). Other variables are ignored; an unknown key
    /// under the prefix is an error.
    pub fn from_env() -> Result<Self, SettingsError> {
        Databases::from_vars(std::env::vars_os())
    }

    /// As [`Databases::from_env`], from the given variables (for tests and tools that hold
    /// an environment of their own). Every problem is reported, of every variable and alias.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self, SettingsError>
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let origin = format!("the environment ({PREFIX}<ALIAS>__<KEY> or DATABASE_URL)");
        let mut tree: BTreeMap<String, SettingValue> = BTreeMap::new();
        let mut database_url = None;
        let mut problems = Problems::default();
        for (name, value) in vars {
            let (name, value) = (name.into(), value.into());
            let Some(name) = name.to_str() else { continue };
            if name != "DATABASE_URL" && !name.starts_with(PREFIX) {
                continue;
            }
            let Ok(value) = value.into_string() else {
                problems.push(
                    None,
                    ConfigError::new(
                        "DATABASES",
                        format!("the environment variable {name} is not UTF-8"),
                    ),
                );
                continue;
            };
            if name == "DATABASE_URL" {
                database_url = Some(value);
            } else if let Err(err) = insert(&mut tree, name, value) {
                problems.push(None, err);
            }
        }
        if let Some(url) = database_url {
            tree.entry("default".to_owned()).or_insert(SettingValue::Str(url));
        }
        // Problems with the variables themselves come first; then those of the aliases.
        let databases = Databases::from_value(&SettingValue::Table(tree)).unwrap_or_else(|err| {
            problems.extend(err);
            Databases::new()
        });
        problems.or(databases).map_err(|err| err.in_origin(origin))
    }
}

/// Puts one `MILLPOND_DATABASES__…` variable into the tree.
fn insert(tree: &mut BTreeMap<String, SettingValue>, name: &str, value: String) -> Result<(), ConfigError> {
    let parts: Vec<&str> = name[PREFIX.len()..].split("__").collect();
    let malformed = || {
        ConfigError::new(
            "DATABASES",
            format!(
                "the environment variable {name} is not of the form {PREFIX}<ALIAS>__<KEY>, \
                 {PREFIX}<ALIAS>__OPTIONS__<OPTION> or {PREFIX}<ALIAS>__POOL_OPTIONS__<KEY>"
            ),
        )
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(malformed());
    }
    let (alias, path): (String, Vec<String>) = match parts.as_slice() {
        [alias, key] => (alias.to_ascii_lowercase(), vec![key.to_ascii_uppercase()]),
        [alias, "OPTIONS", option] => (
            alias.to_ascii_lowercase(),
            vec!["OPTIONS".to_owned(), option.to_ascii_lowercase()],
        ),
        [alias, "POOL_OPTIONS", key] => (
            alias.to_ascii_lowercase(),
            vec!["POOL_OPTIONS".to_owned(), key.to_ascii_uppercase()],
        ),
        _ => return Err(malformed()),
    };
    let mut table = match tree
        .entry(alias)
        .or_insert_with(|| SettingValue::Table(BTreeMap::new()))
    {
        SettingValue::Table(table) => table,
        _ => unreachable!("only tables are put in the tree"),
    };
    let (last, parents) = path.split_last().expect("at least one key");
    for parent in parents {
        table = match table
            .entry(parent.clone())
            .or_insert_with(|| SettingValue::Table(BTreeMap::new()))
        {
            SettingValue::Table(table) => table,
            _ => return Err(malformed()),
        };
    }
    table.insert(last.clone(), SettingValue::Str(value));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::databases::Engine;

    #[test]
    fn variables_spell_out_databases() {
        let dbs = Databases::from_vars([
            ("MILLPOND_DATABASES__DEFAULT__ENGINE", "millpond.backends.sqlite"),
            ("MILLPOND_DATABASES__DEFAULT__NAME", ":memory:"),
            ("MILLPOND_DATABASES__DEFAULT__POOL_OPTIONS__POOL_SIZE", "3"),
            ("MILLPOND_DATABASES__DEFAULT__OPTIONS__WAL", "false"),
            (
                "MILLPOND_DATABASES__REPLICA__URL",
                "sqlite::memory:?max_overflow=-1",
            ),
            ("DATABASE_URL", "postgres://ignored@h/db"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        let default = dbs.get("default").unwrap();
        assert_eq!(default.engine(), Engine::Sqlite);
        assert_eq!(default.pool_options().pool_size, 3);
        assert_eq!(
            default.driver_options().get("wal").map(String::as_str),
            Some("false")
        );
        assert_eq!(dbs.get("replica").unwrap().pool_options().max_overflow, None);

        let dbs = Databases::from_vars([("DATABASE_URL", "postgres://app@h/db?pool_size=4")]).unwrap();
        assert_eq!(dbs.get("default").unwrap().engine(), Engine::Postgresql);
        assert_eq!(dbs.get("default").unwrap().pool_options().pool_size, 4);
    }

    #[test]
    fn malformed_variables_are_named() {
        let err = Databases::from_vars([("MILLPOND_DATABASES__DEFAULT", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MILLPOND_DATABASES__DEFAULT is not of the form"),
            "{err}"
        );
        let err = Databases::from_vars([
            ("MILLPOND_DATABASES__DEFAULT__ENGINE", "millpond.backends.sqlite"),
            ("MILLPOND_DATABASES__DEFAULT__COLOUR", "blue"),
            ("MILLPOND_DATABASES__OTHER", "x"),
        ])
        .unwrap_err();
        assert_eq!(err.problems().len(), 2, "{err}");
        assert!(err.origin().unwrap().starts_with("the environment"), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("\n  the environment variable MILLPOND_DATABASES__OTHER is not of the form")
                && err.contains("\n  default: `default.COLOUR` is not accepted"),
            "{err}"
        );
        assert!(err.contains("2 problems in the environment"), "{err}");
    }
}
