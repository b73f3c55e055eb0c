//! Reading typed values out of [`SettingValue`]s, with errors that say where and what is
//! accepted, and never quote what could be a password.

use std::time::Duration;

use super::value::SettingValue;
use crate::error::ConfigError;

/// The error for the setting at `path` (`default.POOL_OPTIONS.POOL_SIZE`, shown quoted). A
/// path that quotes its own key (the URL's `?pool_size=`) is shown as it is.
pub(crate) fn refuse(path: &str, message: impl AsRef<str>) -> ConfigError {
    let message = message.as_ref();
    if path.contains('`') {
        ConfigError::new("DATABASES", format!("{path} {message}"))
    } else {
        ConfigError::new("DATABASES", format!("`{path}` {message}"))
    }
}

/// Whether text may be quoted in an error: short, and made only of characters a password
/// rarely consists of alone.
pub(crate) fn quotable(text: &str) -> bool {
    text.len() <= 40
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '))
}

/// The value as an error may show it.
fn shown(value: &SettingValue) -> String {
    match value {
        SettingValue::Null => "none".to_owned(),
        SettingValue::Bool(b) => b.to_string(),
        SettingValue::Int(n) => n.to_string(),
        SettingValue::Float(x) => x.to_string(),
        SettingValue::Str(s) if quotable(s) => format!("`{s}`"),
        other => other.kind().to_owned(),
    }
}

fn not_accepted(path: &str, value: &SettingValue, accepted: &str) -> ConfigError {
    refuse(path, format!("is {}; use {accepted}", shown(value)))
}

/// Text (numbers are turned into text, as Django does with `PORT = 5432`).
pub(crate) fn text(path: &str, value: &SettingValue) -> Result<String, ConfigError> {
    match value {
        SettingValue::Str(s) => Ok(s.clone()),
        SettingValue::Int(n) => Ok(n.to_string()),
        SettingValue::Bool(b) => Ok(b.to_string()),
        SettingValue::Float(x) => Ok(x.to_string()),
        other => Err(refuse(path, format!("is {}; use text", other.kind()))),
    }
}

/// A whole number, from a number or text.
pub(crate) fn int(path: &str, value: &SettingValue, accepted: &str) -> Result<i64, ConfigError> {
    match value {
        SettingValue::Int(n) => Ok(*n),
        SettingValue::Str(s) => s.trim().parse().map_err(|_| not_accepted(path, value, accepted)),
        SettingValue::Float(x) if x.fract() == 0.0 && x.abs() < 9e15 => Ok(*x as i64),
        _ => Err(not_accepted(path, value, accepted)),
    }
}

/// A count (zero or more).
pub(crate) fn count(path: &str, value: &SettingValue) -> Result<usize, ConfigError> {
    const ACCEPTED: &str = "a whole number, 0 or more";
    usize::try_from(int(path, value, ACCEPTED)?).map_err(|_| not_accepted(path, value, ACCEPTED))
}

/// A count, or none for `-1`, null, `none` or `unlimited` (SQLAlchemy's -1).
pub(crate) fn optional_count(path: &str, value: &SettingValue) -> Result<Option<usize>, ConfigError> {
    const ACCEPTED: &str = "a whole number, 0 or more, or -1 for none";
    if is_none(value) {
        return Ok(None);
    }
    match int(path, value, ACCEPTED)? {
        -1 => Ok(None),
        n => usize::try_from(n)
            .map(Some)
            .map_err(|_| not_accepted(path, value, ACCEPTED)),
    }
}

/// `true` or `false` (also `1`/`0`, `on`/`off`, `yes`/`no` as text, any case, and 1 or 0).
pub(crate) fn boolean(path: &str, value: &SettingValue) -> Result<bool, ConfigError> {
    const ACCEPTED: &str = "true or false";
    match value {
        SettingValue::Bool(b) => Ok(*b),
        SettingValue::Int(0) => Ok(false),
        SettingValue::Int(1) => Ok(true),
        SettingValue::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" => Ok(false),
            _ => Err(not_accepted(path, value, ACCEPTED)),
        },
        _ => Err(not_accepted(path, value, ACCEPTED)),
    }
}

/// A duration in seconds, a whole number or with a fraction (`0.25`): any duration
/// `std::time::Duration` holds, up to `u64::MAX` seconds. Negative, NaN, infinite and longer
/// values are refused with an error that says which.
pub(crate) fn seconds(path: &str, value: &SettingValue) -> Result<Duration, ConfigError> {
    const ACCEPTED: &str = "a number of seconds, 0 or more (a fraction is allowed: 0.5)";
    seconds_or(path, value, ACCEPTED)
}

fn seconds_or(path: &str, value: &SettingValue, accepted: &str) -> Result<Duration, ConfigError> {
    let x: f64 = match value {
        SettingValue::Int(n) => *n as f64,
        SettingValue::Float(x) => *x,
        SettingValue::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| not_accepted(path, value, accepted))?,
        _ => return Err(not_accepted(path, value, accepted)),
    };
    if x.is_nan() {
        return Err(refuse(path, format!("is not a number; use {accepted}")));
    }
    if x < 0.0 {
        return Err(refuse(
            path,
            format!(
                "is {}: a duration cannot be negative; use {accepted}",
                shown(value)
            ),
        ));
    }
    // `abs` turns -0 into 0, which try_from_secs_f64 may refuse as negative.
    Duration::try_from_secs_f64(x.abs()).map_err(|_| {
        refuse(
            path,
            format!(
                "is {}, longer than the longest duration ({} seconds); use {accepted}",
                shown(value),
                u64::MAX
            ),
        )
    })
}

/// A duration in seconds, or none for `-1`, null or `none` (SQLAlchemy's `recycle=-1`).
pub(crate) fn optional_seconds(path: &str, value: &SettingValue) -> Result<Option<Duration>, ConfigError> {
    const ACCEPTED: &str = "a number of seconds greater than 0 (a fraction is allowed), or -1 for none";
    if is_none(value) || int(path, value, "").ok() == Some(-1) {
        return Ok(None);
    }
    seconds_or(path, value, ACCEPTED).map(Some)
}

/// Null, or the text `none`, `null`, `off` or `unlimited`.
fn is_none(value: &SettingValue) -> bool {
    match value {
        SettingValue::Null => true,
        SettingValue::Str(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "none" | "null" | "off" | "unlimited"
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_numbers_or_text() {
        assert_eq!(count("p", &"10".into()).unwrap(), 10);
        assert_eq!(count("p", &SettingValue::Int(3)).unwrap(), 3);
        assert!(count("p", &SettingValue::Int(-2)).is_err());
        assert_eq!(optional_count("p", &SettingValue::Int(-1)).unwrap(), None);
        assert_eq!(optional_count("p", &"unlimited".into()).unwrap(), None);
        assert!(boolean("p", &"Yes".into()).unwrap());
        assert!(!boolean("p", &SettingValue::Int(0)).unwrap());
        assert_eq!(
            seconds("p", &SettingValue::Float(0.25)).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(seconds("p", &"30".into()).unwrap(), Duration::from_secs(30));
        assert_eq!(optional_seconds("p", &SettingValue::Int(-1)).unwrap(), None);
        assert_eq!(optional_seconds("p", &SettingValue::Null).unwrap(), None);
        assert_eq!(
            optional_seconds("p", &SettingValue::Int(3600)).unwrap(),
            Some(Duration::from_secs(3600))
        );
        let err = seconds("default.POOL_OPTIONS.TIMEOUT", &"soon".into()).unwrap_err();
        assert!(
            err.message.contains("`default.POOL_OPTIONS.TIMEOUT` is `soon`"),
            "{err}"
        );
        let err = boolean("p", &"s3cr3t@x".into()).unwrap_err();
        assert!(!err.message.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn seconds_beyond_a_duration_negative_or_not_a_number_are_refused_saying_why() {
        let accepted = "a number of seconds";
        let cases: &[(SettingValue, &str)] = &[
            (
                "1e20".into(),
                "longer than the longest duration (18446744073709551615 seconds)",
            ),
            ("18446744073709551616".into(), "longer than the longest duration"),
            (SettingValue::Float(1e300), "longer than the longest duration"),
            ("inf".into(), "longer than the longest duration"),
            (
                SettingValue::Float(f64::INFINITY),
                "longer than the longest duration",
            ),
            ("NaN".into(), "is not a number"),
            (SettingValue::Float(f64::NAN), "is not a number"),
            ("-0.5".into(), "is `-0.5`: a duration cannot be negative"),
            (SettingValue::Int(-2), "is -2: a duration cannot be negative"),
            ("-inf".into(), "cannot be negative"),
        ];
        for (value, says) in cases {
            for optional in [false, true] {
                let err = if optional {
                    optional_seconds("x.RECYCLE", value).unwrap_err()
                } else {
                    seconds("x.RECYCLE", value).unwrap_err()
                };
                assert!(
                    err.message.starts_with("`x.RECYCLE` ")
                        && err.message.contains(says)
                        && err.message.contains(accepted),
                    "{value:?}: {err}"
                );
            }
        }
        // The largest a float can say below 2^64 seconds is a duration; -0 is zero.
        assert_eq!(
            seconds("p", &"1.8e19".into()).unwrap(),
            Duration::from_secs(18_000_000_000_000_000_000)
        );
        assert_eq!(seconds("p", &"-0".into()).unwrap(), Duration::ZERO);
        assert_eq!(seconds("p", &"1e-9".into()).unwrap(), Duration::from_nanos(1));
    }
}
