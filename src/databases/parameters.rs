//! An alias's driver parameters as the settings talk about them: an engine's error about a
//! parameter it does not read, said where the parameter was written (`default.OPTIONS.colour`,
//! the URL's `?pool_sise=`) and with what the settings accept there; and the alias without
//! that parameter, so a check can go on to find the next problem.

use super::database::DatabaseSettings;
use super::parse::refuse;
use super::pool_options::PoolOverrides;
use super::url::query_start;
use crate::backends::url::{Plus, closest, decode, did_you_mean, list};
use crate::error::ConfigError;

impl DatabaseSettings {
    /// `err`, an error the engine's manager gave for these settings of `alias`, in the settings'
    /// terms: a parameter the engine does not read is named where it was written, with the
    /// closest accepted name and the list of what is accepted there (in a URL, the pool
    /// options and the driver's parameters together). Other errors are returned as they are.
    pub(crate) fn explain(&self, alias: &str, err: ConfigError) -> ConfigError {
        let Some(unknown) = err.unknown_parameter() else {
            return err;
        };
        let (key, driver) = (unknown.key.as_str(), unknown.accepted.as_slice());
        let engine = self.engine;
        if self.options.contains_key(key) {
            let at = format!("{alias}.OPTIONS.{key}");
            if PoolOverrides::is_key(key) {
                return refuse(
                    &at,
                    format!(
                        "is a pool option, not a driver option: give it in POOL_OPTIONS as {}",
                        key.to_ascii_uppercase()
                    ),
                );
            }
            let hint = match closest(key, driver.iter().copied()) {
                Some(name) => format!(" (did you mean `{name}`?)"),
                None => closest(key, PoolOverrides::names())
                    .map(|name| {
                        format!(
                            " (did you mean the pool option {}? It goes in POOL_OPTIONS)",
                            name.to_ascii_uppercase()
                        )
                    })
                    .unwrap_or_default(),
            };
            return refuse(
                &at,
                format!(
                    "is not a driver option of {engine}{hint}; the accepted ones are {} \
                     (pool options go in POOL_OPTIONS)",
                    list(driver)
                ),
            );
        }
        let pool: Vec<&str> = PoolOverrides::names().collect();
        ConfigError::new(
            "url",
            format!(
                "the URL's `?{key}=` is not accepted{}; the accepted ones are the pool options \
                 ({}) and the driver parameters of {engine} ({})",
                did_you_mean(key, pool.iter().chain(driver).copied()),
                list(&pool),
                list(driver)
            ),
        )
    }

    /// These settings without the driver parameter `key` (from OPTIONS, else from the URL's
    /// query), or `None` when they do not hold it.
    pub(crate) fn without_parameter(&self, key: &str) -> Option<DatabaseSettings> {
        let mut rest = self.clone();
        if rest.options.remove(key).is_some() {
            return Some(rest);
        }
        let url = self.url.as_deref()?;
        let start = query_start(url).ok()??;
        let named = |pair: &&str| {
            let raw = pair.split_once('=').map_or(*pair, |(k, _)| k);
            raw == key || decode(raw, Plus::Literal).as_deref() == Some(key)
        };
        let pairs: Vec<&str> = url[start + 1..].split('&').collect();
        let kept: Vec<&str> = pairs.iter().copied().filter(|pair| !named(pair)).collect();
        if kept.len() == pairs.len() {
            return None;
        }
        let mut trimmed = url[..start].to_owned();
        if kept.iter().any(|pair| !pair.is_empty()) {
            trimmed.push('?');
            trimmed.push_str(&kept.join("&"));
        }
        rest.url = Some(trimmed);
        Some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::url::unknown_parameter;
    use crate::databases::Engine;

    const DRIVER: &[&str] = &["sslmode", "application_name"];

    #[test]
    fn an_unknown_url_parameter_is_named_with_the_pool_options_and_the_drivers() {
        let db = DatabaseSettings::from_url("postgres://u:s3cr3t@h/db?pool_sise=3&sslmode=disable").unwrap();
        let err = db.explain("default", unknown_parameter("pool_sise", &[DRIVER]));
        assert_eq!(err.option, "url");
        assert!(
            err.message.starts_with(
                "the URL's `?pool_sise=` is not accepted (did you mean `pool_size`?); the accepted \
                 ones are the pool options (pool_size, max_overflow, "
            ),
            "{err}"
        );
        assert!(
            err.message.ends_with(
                "and the driver parameters of millpond.backends.postgresql (sslmode and application_name)"
            ),
            "{err}"
        );
        assert!(!err.message.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn an_unknown_option_is_named_where_it_was_written() {
        let db = DatabaseSettings::new(Engine::Postgresql)
            .option("sslmod", "disable")
            .option("pool_size", "3")
            .option("pool_sise", "3");
        let err = db.explain("replica", unknown_parameter("sslmod", &[DRIVER]));
        assert_eq!(
            err.message,
            "`replica.OPTIONS.sslmod` is not a driver option of millpond.backends.postgresql (did \
             you mean `sslmode`?); the accepted ones are sslmode and application_name (pool \
             options go in POOL_OPTIONS)"
        );
        let err = db.explain("replica", unknown_parameter("pool_size", &[DRIVER]));
        assert!(
            err.message
                .contains("`replica.OPTIONS.pool_size` is a pool option")
                && err.message.contains("POOL_OPTIONS as POOL_SIZE"),
            "{err}"
        );
        let err = db.explain("replica", unknown_parameter("pool_sise", &[DRIVER]));
        assert!(
            err.message
                .contains("(did you mean the pool option POOL_SIZE? It goes in POOL_OPTIONS)"),
            "{err}"
        );
        // Any other error is the engine's own.
        let other = ConfigError::new("sslmode", "sslmode `x` is not accepted");
        assert_eq!(db.explain("replica", other.clone()), other);
    }

    #[test]
    fn a_parameter_is_taken_out_of_the_options_or_the_url() {
        let db = DatabaseSettings::from_url("postgres://u:p%3Fw@h/db?colour=1&sslmode=disable&col%6Fr=2")
            .unwrap()
            .option("size", "1");
        let db = db.without_parameter("size").unwrap();
        assert!(db.options.is_empty());
        let db = db.without_parameter("colour").unwrap();
        assert_eq!(
            db.url.as_deref(),
            Some("postgres://u:p%3Fw@h/db?sslmode=disable&col%6Fr=2")
        );
        let db = db.without_parameter("color").unwrap();
        assert_eq!(db.url.as_deref(), Some("postgres://u:p%3Fw@h/db?sslmode=disable"));
        let db = db.without_parameter("sslmode").unwrap();
        assert_eq!(db.url.as_deref(), Some("postgres://u:p%3Fw@h/db"));
        assert!(db.without_parameter("sslmode").is_none());
        assert!(
            DatabaseSettings::new(Engine::Sqlite)
                .without_parameter("x")
                .is_none()
        );
    }
}
