//! Databases from a TOML file (feature `toml`).

use std::path::Path;

use super::aliases::Databases;
use super::parse::refuse;
use super::problems::SettingsError;
use super::value::SettingValue;
use crate::error::ConfigError;

#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
impl Databases {
    /// Databases from TOML text in Django's shape: a table per alias, a sub-table each for
    /// `OPTIONS` and `POOL_OPTIONS`. In a file that holds other settings too, put the aliases
    /// under `[DATABASES.<alias>]`: only that table is read.
    ///
    /// ```
    /// let databases = millpond::settings::Databases::from_toml_str(r#"
    ///     [default]
    ///     ENGINE = "millpond.backends.sqlite"
    ///     NAME = ":memory:"
    ///
    ///     [default.POOL_OPTIONS]
    ///     POOL_SIZE = 4
    ///     RECYCLE = 3600
    ///     PRE_PING = true
    /// "#)?;
    /// assert_eq!(databases.get("default").unwrap().pool_options().pool_size, 4);
    /// # Ok::<(), millpond::ConfigError>(())
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, SettingsError> {
        let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
            // The parser's message quotes the offending line, which may hold a password: give
            // only where it is.
            let at = err
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!(" at line {line}")
                })
                .unwrap_or_default();
            SettingsError::whole(ConfigError::new(
                "DATABASES",
                format!("the TOML could not be read{at}: {}", err.message()),
            ))
        })?;
        let value = convert(toml::Value::Table(table), "").map_err(SettingsError::whole)?;
        Databases::from_value(&value)
    }

    /// Databases from a TOML file: see [`Databases::from_toml_str`]. The error names the file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, SettingsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|err| {
            SettingsError::whole(ConfigError::new(
                "DATABASES",
                format!("{} could not be read: {err}", path.display()),
            ))
        })?;
        Databases::from_toml_str(&text).map_err(|err| err.in_origin(path.display().to_string()))
    }
}

/// The TOML value as a [`SettingValue`]; `path` is where it sits (`default.OPTIONS`), for the
/// error about a date or an array, which no setting is.
fn convert(value: toml::Value, path: &str) -> Result<SettingValue, ConfigError> {
    Ok(match value {
        toml::Value::String(s) => SettingValue::Str(s),
        toml::Value::Integer(n) => SettingValue::Int(n),
        toml::Value::Float(x) => SettingValue::Float(x),
        toml::Value::Boolean(b) => SettingValue::Bool(b),
        toml::Value::Table(table) => SettingValue::Table(
            table
                .into_iter()
                .map(|(k, v)| {
                    let at = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    Ok((k, convert(v, &at)?))
                })
                .collect::<Result<_, ConfigError>>()?,
        ),
        toml::Value::Datetime(_) | toml::Value::Array(_) => {
            return Err(refuse(
                path,
                "is a date or an array, which no setting is; use text, numbers, booleans and tables",
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_do_not_quote_the_line() {
        let err = Databases::from_toml_str("[default]\nPASSWORD = \"s3cr3t\nNAME = 1")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = Databases::from_toml_str("[default]\nOPTIONS = { hosts = [\"a\", \"b\"] }")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`default.OPTIONS.hosts` is a date or an array"),
            "{err}"
        );
    }
}
