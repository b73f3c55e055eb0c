//! [`SettingsError`]: every problem found in database settings, each with its alias, so that
//! one run shows them all.

use std::error::Error as StdError;
use std::fmt;

use crate::error::{ConfigError, Error};

/// Every problem found in database settings: what reading them (a TOML file, the environment, a
/// tree of values) or checking them ([`Databases::validate`](super::Databases::validate),
/// [`configure`](crate::settings::configure)) refused, in every alias at once, each with what
/// is accepted instead.
///
/// Its message is one line when there is one problem, and a line per problem after a count
/// when there are more, each line starting with its alias:
///
/// ```text
/// invalid database settings: 2 problems:
///   default: `default.POOL_OPTIONS.POOL_SIZ` is not a pool option (did you mean `POOL_SIZE`?); the accepted ones are …
///   replica: the URL's `?pool_sise=` is not accepted (did you mean `pool_size`?); the accepted ones are …
/// ```
///
/// No password appears in it. It converts into a [`ConfigError`] (option `DATABASES`, the same
/// lines as its message) and an [`Error::Config`], so `?` works where those are returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// Where the settings were read from (a file, the environment), when known.
    origin: Option<String>,
    /// At least one.
    problems: Vec<SettingsProblem>,
}

/// One problem of a [`SettingsError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingsProblem {
    /// The alias it is in (`default`, `replica`), or `None` for a problem of the settings as a
    /// whole (a TOML syntax error, an unreadable file, `DATABASES` not a table).
    pub alias: Option<String>,
    /// What was wrong, where it was written and what is accepted.
    pub error: ConfigError,
}

impl fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.alias {
            Some(alias) => write!(f, "{alias}: {}", self.error.message),
            None => f.write_str(&self.error.message),
        }
    }
}

impl SettingsError {
    /// The problems, in the order of the aliases (then as found), problems of the whole first.
    pub fn problems(&self) -> &[SettingsProblem] {
        &self.problems
    }

    /// Where the settings were read from (a file's path, `the environment …`), when known.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The same problems, read from `origin`.
    pub(crate) fn in_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// One problem of the settings as a whole.
    pub(crate) fn whole(error: ConfigError) -> Self {
        SettingsError {
            origin: None,
            problems: vec![SettingsProblem { alias: None, error }],
        }
    }

    /// The message without its first words: one problem on one line, or the count and a line
    /// per problem.
    fn body(&self) -> String {
        match (self.problems.as_slice(), &self.origin) {
            ([only], Some(origin)) => format!("in {origin}: {only}"),
            ([only], None) => only.to_string(),
            (problems, origin) => {
                let origin = origin.as_deref().map(|o| format!(" in {o}")).unwrap_or_default();
                let mut body = format!("{} problems{origin}:", problems.len());
                for problem in problems {
                    body.push_str("\n  ");
                    body.push_str(&problem.to_string());
                }
                body
            }
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid database settings: {}", self.body())
    }
}

impl StdError for SettingsError {}

impl From<SettingsError> for ConfigError {
    fn from(err: SettingsError) -> Self {
        ConfigError::new("DATABASES", err.body())
    }
}

impl From<SettingsError> for Error {
    fn from(err: SettingsError) -> Self {
        Error::Config(err.into())
    }
}

/// The problems found so far, as a reading or a check goes on past each one.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<SettingsProblem>);

impl Problems {
    /// Notes a problem of `alias` (`None`: of the whole).
    pub(crate) fn push(&mut self, alias: Option<&str>, error: ConfigError) {
        self.0.push(SettingsProblem {
            alias: alias.map(str::to_owned),
            error,
        });
    }

    /// Notes every problem of `other`.
    pub(crate) fn extend(&mut self, other: SettingsError) {
        self.0.extend(other.problems);
    }

    /// `value` when no problem was found, else every problem found.
    pub(crate) fn or<T>(self, value: T) -> Result<T, SettingsError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(SettingsError {
                origin: None,
                problems: self.0,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_is_one_line_and_more_are_a_line_each() {
        let mut problems = Problems::default();
        problems.push(
            Some("default"),
            ConfigError::new("DATABASES", "`default.X` is not accepted"),
        );
        let err = problems.or(()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid database settings: default: `default.X` is not accepted"
        );
        assert_eq!(
            err.clone().in_origin("/etc/app.toml").to_string(),
            "invalid database settings: in /etc/app.toml: default: `default.X` is not accepted"
        );
        let mut problems = Problems::default();
        problems.push(None, ConfigError::new("DATABASES", "the TOML could not be read"));
        problems.extend(err);
        let err = problems.or(()).unwrap_err().in_origin("the environment");
        assert_eq!(
            err.to_string(),
            "invalid database settings: 2 problems in the environment:\n  the TOML could not be read\n  \
             default: `default.X` is not accepted"
        );
        let config = ConfigError::from(err.clone());
        assert_eq!(config.option, "DATABASES");
        assert!(
            config.message.starts_with("2 problems in the environment:\n"),
            "{config}"
        );
        assert!(matches!(Error::from(err), Error::Config(_)));
        assert!(Problems::default().or(7).is_ok());
    }
}
