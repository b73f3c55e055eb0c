//! `POOL_OPTIONS`: the upper-case keys of every [`PoolOptions`] field, parsed into overrides
//! applied on top of the defaults when a pool is made.

use std::path::PathBuf;
use std::time::Duration;

use super::parse::{boolean, count, optional_count, optional_seconds, refuse, seconds, text};
use super::value::SettingValue;
use crate::config::{PoolOptions, ResetOnReturn};
use crate::error::ConfigError;

/// Every `POOL_OPTIONS` key, in the order of [`PoolOptions`]' fields.
pub(crate) const POOL_KEYS: &[&str] = &[
    "POOL_SIZE",
    "MAX_OVERFLOW",
    "MIN_IDLE",
    "CONNECT_CONCURRENCY",
    "FAIRNESS_WINDOW",
    "TIMEOUT",
    "RECYCLE",
    "IDLE_TIMEOUT",
    "PRE_PING",
    "PRE_PING_BYPASS",
    "VALIDATION_TIMEOUT",
    "RESET_ON_RETURN",
    "LIFO",
    "LEAK_THRESHOLD",
    "REAPER_RATE",
    "KEEPALIVE",
    "ECHO",
    "NAME",
    "MAX_TOTAL_CONNECTIONS",
    "CAP_FILE",
];

/// One `POOL_OPTIONS` entry, parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PoolSetting {
    PoolSize(usize),
    MaxOverflow(Option<usize>),
    MinIdle(usize),
    ConnectConcurrency(usize),
    FairnessWindow(Duration),
    Timeout(Duration),
    Recycle(Option<Duration>),
    IdleTimeout(Option<Duration>),
    PrePing(bool),
    PrePingBypass(Duration),
    ValidationTimeout(Duration),
    ResetOnReturn(ResetOnReturn),
    Lifo(bool),
    LeakThreshold(Option<Duration>),
    ReaperRate(Duration),
    Keepalive(Option<Duration>),
    Echo(bool),
    Name(String),
    MaxTotalConnections(Option<usize>),
    CapFile(Option<PathBuf>),
}

impl PoolSetting {
    /// Parses `key` (upper or lower case: URLs use lower case) with its value; `path` is where
    /// the key sits, for errors.
    pub(crate) fn parse(key: &str, value: &SettingValue, path: &str) -> Result<PoolSetting, ConfigError> {
        let upper = key.to_ascii_uppercase();
        Ok(match upper.as_str() {
            "POOL_SIZE" => PoolSetting::PoolSize(count(path, value)?),
            "MAX_OVERFLOW" => PoolSetting::MaxOverflow(optional_count(path, value)?),
            "MIN_IDLE" => PoolSetting::MinIdle(count(path, value)?),
            "CONNECT_CONCURRENCY" => PoolSetting::ConnectConcurrency(count(path, value)?),
            "FAIRNESS_WINDOW" => PoolSetting::FairnessWindow(seconds(path, value)?),
            "TIMEOUT" => PoolSetting::Timeout(seconds(path, value)?),
            "RECYCLE" => PoolSetting::Recycle(optional_seconds(path, value)?),
            "IDLE_TIMEOUT" => PoolSetting::IdleTimeout(optional_seconds(path, value)?),
            "PRE_PING" => PoolSetting::PrePing(boolean(path, value)?),
            "PRE_PING_BYPASS" => PoolSetting::PrePingBypass(seconds(path, value)?),
            "VALIDATION_TIMEOUT" => PoolSetting::ValidationTimeout(seconds(path, value)?),
            "RESET_ON_RETURN" => PoolSetting::ResetOnReturn(reset_on_return(path, value)?),
            "LIFO" => PoolSetting::Lifo(boolean(path, value)?),
            "LEAK_THRESHOLD" => PoolSetting::LeakThreshold(optional_seconds(path, value)?),
            "REAPER_RATE" => PoolSetting::ReaperRate(seconds(path, value)?),
            "KEEPALIVE" => PoolSetting::Keepalive(optional_seconds(path, value)?),
            "ECHO" => PoolSetting::Echo(boolean(path, value)?),
            "NAME" => PoolSetting::Name(text(path, value)?),
            "MAX_TOTAL_CONNECTIONS" => PoolSetting::MaxTotalConnections(optional_count(path, value)?),
            "CAP_FILE" => PoolSetting::CapFile(match value {
                SettingValue::Null => None,
                other => Some(PathBuf::from(text(path, other)?)),
            }),
            "EVENT_HANDLER" => {
                return Err(refuse(
                    path,
                    "cannot be given in settings; set it from code with DatabaseSettings::event_handler",
                ));
            }
            _ => {
                return Err(refuse(
                    path,
                    format!(
                        "is not a pool option; the accepted ones are {}",
                        POOL_KEYS.join(", ")
                    ),
                ));
            }
        })
    }

    /// Sets this option in `options`.
    pub(crate) fn apply(&self, options: &mut PoolOptions) {
        match self.clone() {
            PoolSetting::PoolSize(v) => options.pool_size = v,
            PoolSetting::MaxOverflow(v) => options.max_overflow = v,
            PoolSetting::MinIdle(v) => options.min_idle = v,
            PoolSetting::ConnectConcurrency(v) => options.connect_concurrency = v,
            PoolSetting::FairnessWindow(v) => options.fairness_window = v,
            PoolSetting::Timeout(v) => options.timeout = v,
            PoolSetting::Recycle(v) => options.recycle = v,
            PoolSetting::IdleTimeout(v) => options.idle_timeout = v,
            PoolSetting::PrePing(v) => options.pre_ping = v,
            PoolSetting::PrePingBypass(v) => options.pre_ping_bypass = v,
            PoolSetting::ValidationTimeout(v) => options.validation_timeout = v,
            PoolSetting::ResetOnReturn(v) => options.reset_on_return = v,
            PoolSetting::Lifo(v) => options.lifo = v,
            PoolSetting::LeakThreshold(v) => options.leak_threshold = v,
            PoolSetting::ReaperRate(v) => options.reaper_rate = v,
            PoolSetting::Keepalive(v) => options.keepalive = v,
            PoolSetting::Echo(v) => options.echo = v,
            PoolSetting::Name(v) => options.name = v,
            PoolSetting::MaxTotalConnections(v) => options.max_total_connections = v,
            PoolSetting::CapFile(v) => options.cap_file = v,
        }
    }

    /// Whether the key is a pool option (in any case): how a URL's query is split between the
    /// pool and the driver.
    pub(crate) fn is_key(key: &str) -> bool {
        POOL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
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

/// The options a pool made now gets: the defaults ([`crate::settings::pool_defaults`]) with `settings`
/// applied in order. As with the builder, a default `idle_timeout` longer than a `RECYCLE` the
/// settings chose is dropped; one the settings chose is kept (and refused by validation).
pub(crate) fn resolve(settings: &[PoolSetting], name: &str) -> PoolOptions {
    let mut options = crate::config::pool_defaults();
    let default_name = options.name.clone();
    for setting in settings {
        setting.apply(&mut options);
    }
    let idle_chosen = settings.iter().any(|s| matches!(s, PoolSetting::IdleTimeout(_)));
    if !idle_chosen
        && let (Some(idle), Some(recycle)) = (options.idle_timeout, options.recycle)
        && idle > recycle
    {
        options.idle_timeout = None;
    }
    let name_chosen = settings.iter().any(|s| matches!(s, PoolSetting::Name(_)));
    if !name_chosen && default_name == PoolOptions::default().name {
        // Log lines and thread names then say which database they are about.
        options.name = name.to_owned();
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_and_applies() {
        let cases: &[(&str, SettingValue)] = &[
            ("POOL_SIZE", 4.into()),
            ("MAX_OVERFLOW", (-1).into()),
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
            ("MAX_TOTAL_CONNECTIONS", 10.into()),
            ("CAP_FILE", "/tmp/cap".into()),
        ];
        assert_eq!(cases.len(), POOL_KEYS.len());
        let mut settings = Vec::new();
        for (key, value) in cases {
            settings.push(PoolSetting::parse(key, value, key).unwrap());
        }
        let mut o = PoolOptions::default();
        for s in &settings {
            s.apply(&mut o);
        }
        assert_eq!(
            (o.pool_size, o.max_overflow, o.min_idle, o.connect_concurrency),
            (4, None, 1, 3)
        );
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
        assert_eq!(o.max_total_connections, Some(10));
        assert_eq!(o.cap_file, Some(PathBuf::from("/tmp/cap")));
        o.validate().unwrap();
    }

    #[test]
    fn unknown_keys_list_the_accepted_ones() {
        let err = PoolSetting::parse("POOL_SIZES", &1.into(), "default.POOL_OPTIONS.POOL_SIZES").unwrap_err();
        assert!(
            err.message
                .contains("`default.POOL_OPTIONS.POOL_SIZES` is not a pool option"),
            "{err}"
        );
        assert!(
            err.message.contains("MAX_OVERFLOW") && err.message.contains("CAP_FILE"),
            "{err}"
        );
        let err = PoolSetting::parse("RESET_ON_RETURN", &"rolback".into(), "p").unwrap_err();
        assert!(err.message.contains("sql:DISCARD ALL"), "{err}");
    }

    #[test]
    fn a_shorter_recycle_drops_the_default_idle_timeout_and_the_alias_names_the_pool() {
        let o = resolve(&[PoolSetting::Recycle(Some(Duration::from_secs(60)))], "replica");
        assert_eq!(o.idle_timeout, None);
        assert_eq!(o.name, "replica");
        o.validate().unwrap();
    }
}
