//! `POOL_OPTIONS`: the upper-case keys of the options in the table (`options.rs`), parsed into
//! overrides applied on top of the defaults when a pool is made.

use std::fmt;
use std::path::PathBuf;

use super::parse::{boolean, count, optional_count, optional_seconds, refuse, seconds, text};
use super::value::SettingValue;
use crate::backends::url::closest;
use crate::error::ConfigError;
use crate::options::{
    Chosen, PoolOptions, ResetOnReturn, TABLE, for_each_option, pool_defaults, settings_keys,
};

/// One `POOL_OPTIONS` entry per option of the table, with the value settings gave it, if any.
macro_rules! make_overrides {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $default:expr;
        set($arg:ident: $arg_ty:ty) => $set:expr;
        check $check:expr;
        settings $parse:ident;
        table $default_text:literal, $sqlalchemy:literal, $r2d2:literal, $hikari:literal;
    )+) => {
        /// The pool options settings give (`POOL_OPTIONS`, a URL's query, the environment), applied
        /// on top of the defaults when a pool is made; a later value for a key replaces an
        /// earlier one.
        #[derive(Clone, Default)]
        pub(crate) struct PoolOverrides {
            $(pub(crate) $field: Option<$ty>,)+
        }

        impl PoolOverrides {
            /// Sets the option named `key` (upper or lower case: URLs use lower case) from
            /// `value`; `path` is where the key sits, for errors.
            pub(crate) fn set(&mut self, key: &str, value: &SettingValue, path: &str) -> Result<(), ConfigError> {
                $(if key.eq_ignore_ascii_case(stringify!($field)) {
                    self.$field = Some($parse(path, value)?);
                    return Ok(());
                })+
                Err(refuse(
                    path,
                    format!(
                        "is not a pool option{}; the accepted ones are {}",
                        closest(key, PoolOverrides::names())
                            .map(|name| format!(" (did you mean `{}`?)", name.to_ascii_uppercase()))
                            .unwrap_or_default(),
                        settings_keys()
                    ),
                ))
            }

            /// Sets the options given in `options`, and says which were given.
            fn apply(&self, options: &mut PoolOptions) -> Chosen {
                let mut chosen = Chosen::default();
                $(if let Some(value) = &self.$field {
                    options.$field = value.clone();
                    chosen.$field = true;
                })+
                chosen
            }
        }

        impl fmt::Debug for PoolOverrides {
            /// Only the options given.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                $(if let Some(value) = &self.$field {
                    map.entry(&stringify!($field), value);
                })+
                map.finish()
            }
        }
    };
}

for_each_option!(make_overrides);

impl PoolOverrides {
    /// Whether the key is a pool option settings may give (in any case): how a URL's query is
    /// split between the pool and the driver.
    pub(crate) fn is_key(key: &str) -> bool {
        TABLE
            .iter()
            .any(|o| o.in_settings && o.name.eq_ignore_ascii_case(key))
    }

    /// The pool options settings may give, by name in lower case (`pool_size`, …), in the
    /// table's order: a URL's query spells them so; `POOL_OPTIONS` in upper case.
    pub(crate) fn names() -> impl Iterator<Item = &'static str> {
        TABLE.iter().filter(|o| o.in_settings).map(|o| o.name)
    }
}

/// The parser of an option settings cannot hold (the event handler).
fn code_only<T>(path: &str, _value: &SettingValue) -> Result<T, ConfigError> {
    Err(refuse(
        path,
        "cannot be given in settings; set it from code with DatabaseSettings::event_handler",
    ))
}

/// A path, or none.
fn file_path(path: &str, value: &SettingValue) -> Result<Option<PathBuf>, ConfigError> {
    match value {
        SettingValue::Null => Ok(None),
        other => Ok(Some(PathBuf::from(text(path, other)?))),
    }
}

/// `rollback`, `commit`, `none` (SQLAlchemy's names), or `sql:STATEMENT` for a statement run on
/// every return (`sql:DISCARD ALL`).
fn reset_on_return(path: &str, value: &SettingValue) -> Result<ResetOnReturn, ConfigError> {
    const ACCEPTED: &str = "rollback, commit, none, or sql: followed by a statement (sql:DISCARD ALL)";
    if value == &SettingValue::Null {
        return Ok(ResetOnReturn::Nothing);
    }
    let text = text(path, value)?;
    if let Some(sql) = text.trim().strip_prefix("sql:") {
        return Ok(ResetOnReturn::Statement(sql.trim().to_owned()));
    }
    match text.trim().to_ascii_lowercase().as_str() {
        "rollback" => Ok(ResetOnReturn::Rollback),
        "commit" => Ok(ResetOnReturn::Commit),
        "none" | "nothing" => Ok(ResetOnReturn::Nothing),
        _ => Err(refuse(path, format!("is not accepted; use {ACCEPTED}"))),
    }
}

/// The options a pool made now gets: the defaults ([`crate::settings::pool_defaults`]) with `overrides`
/// applied, settled as the builder settles them ([`PoolOptions::settle`]). Unless the settings
/// or [`crate::settings::setup`] named it, the pool is named `name`.
pub(crate) fn resolve(overrides: &PoolOverrides, name: &str) -> PoolOptions {
    let mut options = pool_defaults();
    let default_name = options.name.clone();
    let chosen = overrides.apply(&mut options);
    options.settle(&chosen);
    if !chosen.name && default_name == PoolOptions::default().name {
        // Log lines and thread names then say which database they are about.
        options.name = name.to_owned();
    }
    options
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_key_parses_and_applies() {
        let cases: &[(&str, SettingValue)] = &[
            ("POOL_SIZE", 4.into()),
            ("MAX_OVERFLOW", (-1).into()),
            ("MAX_WAITING", 5.into()),
            ("MIN_IDLE", 1.into()),
            ("CONNECT_CONCURRENCY", 3.into()),
            ("FAIRNESS_WINDOW", 0.01.into()),
            ("TIMEOUT", 7.into()),
            ("RECYCLE", 3600.into()),
            ("IDLE_TIMEOUT", 60.into()),
            ("PRE_PING", false.into()),
            ("PRE_PING_BYPASS", 0.5.into()),
            ("VALIDATION_TIMEOUT", 2.into()),
            ("RESET_ON_RETURN", "sql:DISCARD ALL".into()),
            ("LIFO", false.into()),
            ("LEAK_THRESHOLD", 30.into()),
            ("REAPER_RATE", 5.into()),
            ("KEEPALIVE", 120.into()),
            ("ECHO", true.into()),
            ("NAME", "web".into()),
            ("METRICS_INTERVAL", 0.25.into()),
            ("METRICS_EVERY_CHECKOUT", true.into()),
            ("MAX_TOTAL_CONNECTIONS", 10.into()),
            ("CAP_FILE", "/tmp/cap".into()),
        ];
        assert_eq!(cases.len(), TABLE.iter().filter(|o| o.in_settings).count());
        let mut overrides = PoolOverrides::default();
        for (key, value) in cases {
            overrides.set(key, value, key).unwrap();
        }
        let mut o = PoolOptions::default();
        overrides.apply(&mut o);
        assert_eq!(
            (o.pool_size, o.max_overflow, o.min_idle, o.connect_concurrency),
            (4, None, 1, 3)
        );
        assert_eq!(o.max_waiting, 5);
        assert_eq!(o.fairness_window, Duration::from_millis(10));
        assert_eq!(o.timeout, Duration::from_secs(7));
        assert_eq!(o.recycle, Some(Duration::from_secs(3600)));
        assert_eq!(o.idle_timeout, Some(Duration::from_secs(60)));
        assert!(!o.pre_ping && !o.lifo && o.echo);
        assert_eq!(o.pre_ping_bypass, Duration::from_millis(500));
        assert_eq!(o.validation_timeout, Duration::from_secs(2));
        assert_eq!(o.reset_on_return, ResetOnReturn::Statement("DISCARD ALL".into()));
        assert_eq!(o.leak_threshold, Some(Duration::from_secs(30)));
        assert_eq!(o.reaper_rate, Duration::from_secs(5));
        assert_eq!(o.keepalive, Some(Duration::from_secs(120)));
        assert_eq!(o.name, "web");
        assert_eq!(o.metrics_interval, Some(Duration::from_millis(250)));
        assert!(o.metrics_every_checkout);
        assert_eq!(o.max_total_connections, Some(10));
        assert_eq!(o.cap_file, Some(PathBuf::from("/tmp/cap")));
        o.validate().unwrap();
    }

    #[test]
    fn unknown_keys_list_the_accepted_ones() {
        let mut overrides = PoolOverrides::default();
        let err = overrides
            .set("POOL_SIZES", &1.into(), "default.POOL_OPTIONS.POOL_SIZES")
            .unwrap_err();
        assert!(
            err.message
                .contains("`default.POOL_OPTIONS.POOL_SIZES` is not a pool option"),
            "{err}"
        );
        assert!(
            err.message.contains("MAX_OVERFLOW") && err.message.contains("CAP_FILE"),
            "{err}"
        );
        let err = overrides
            .set("RESET_ON_RETURN", &"rolback".into(), "p")
            .unwrap_err();
        assert!(err.message.contains("sql:DISCARD ALL"), "{err}");
        let err = overrides.set("EVENT_HANDLER", &"x".into(), "p").unwrap_err();
        assert!(err.message.contains("from code"), "{err}");
        assert!(!PoolOverrides::is_key("event_handler") && PoolOverrides::is_key("pool_size"));
    }

    #[test]
    fn a_shorter_recycle_drops_the_default_idle_timeout_and_the_alias_names_the_pool() {
        let overrides = PoolOverrides {
            recycle: Some(Some(Duration::from_secs(60))),
            ..PoolOverrides::default()
        };
        let o = resolve(&overrides, "replica");
        assert_eq!(o.idle_timeout, None);
        assert_eq!(o.name, "replica");
        o.validate().unwrap();
    }
}
