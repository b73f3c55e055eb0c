//! The ENGINE names: which backend an alias uses.

use std::fmt;
use std::str::FromStr;

use crate::backends::url::did_you_mean;
use crate::error::ConfigError;

/// The backend an alias names in its `ENGINE` (`millpond.backends.postgresql`, …).
///
/// django-db-connection-pool's names (`dj_db_conn_pool.backends.postgresql`, …) are accepted as
/// aliases, so its users' settings work unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// PostgreSQL through the `postgres` backend (feature `postgres`).
    Postgresql,
    /// MySQL or MariaDB through the `mysql` backend (feature `mysql`).
    Mysql,
    /// Oracle through the `oracle` backend (feature `oracle`).
    Oracle,
    /// SQLite, embedded (feature `sqlite`, the default).
    Sqlite,
    /// Oracle through its JDBC driver (feature `jdbc`).
    JdbcOracle,
    /// OceanBase through its JDBC driver (feature `jdbc`).
    JdbcOceanbase,
    /// PostgreSQL through its JDBC driver (feature `jdbc`).
    JdbcPostgresql,
    /// MySQL or MariaDB through a JDBC driver (feature `jdbc`).
    JdbcMysql,
    /// Any database with a JDBC driver, named by a `jdbc:` URL (feature `jdbc`).
    JdbcGeneric,
}

/// Every engine, in the order error messages list them.
const ALL: [Engine; 9] = [
    Engine::Postgresql,
    Engine::Mysql,
    Engine::Oracle,
    Engine::Sqlite,
    Engine::JdbcOracle,
    Engine::JdbcOceanbase,
    Engine::JdbcPostgresql,
    Engine::JdbcMysql,
    Engine::JdbcGeneric,
];

const PREFIX: &str = "millpond.backends.";
const DJANGO_PREFIX: &str = "dj_db_conn_pool.backends.";

impl Engine {
    /// The name settings use: `millpond.backends.postgresql`, `millpond.backends.jdbc.oracle`, …
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgresql => "millpond.backends.postgresql",
            Engine::Mysql => "millpond.backends.mysql",
            Engine::Oracle => "millpond.backends.oracle",
            Engine::Sqlite => "millpond.backends.sqlite",
            Engine::JdbcOracle => "millpond.backends.jdbc.oracle",
            Engine::JdbcOceanbase => "millpond.backends.jdbc.oceanbase",
            Engine::JdbcPostgresql => "millpond.backends.jdbc.postgresql",
            Engine::JdbcMysql => "millpond.backends.jdbc.mysql",
            Engine::JdbcGeneric => "millpond.backends.jdbc.generic",
        }
    }

    /// Whether the engine goes through the JDBC backend.
    pub fn is_jdbc(self) -> bool {
        matches!(
            self,
            Engine::JdbcOracle
                | Engine::JdbcOceanbase
                | Engine::JdbcPostgresql
                | Engine::JdbcMysql
                | Engine::JdbcGeneric
        )
    }

    /// The Cargo feature the engine needs.
    pub fn feature(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgres",
            Engine::Mysql => "mysql",
            Engine::Oracle => "oracle",
            Engine::Sqlite => "sqlite",
            _ => "jdbc",
        }
    }

    /// Every accepted name, for error messages.
    pub(crate) fn accepted() -> String {
        let names: Vec<&str> = ALL.iter().map(|e| e.name()).collect();
        format!(
            "{} (or the same with dj_db_conn_pool.backends. in place of millpond.backends.)",
            names.join(", ")
        )
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = ConfigError;

    /// A `millpond.backends.*` or `dj_db_conn_pool.backends.*` name.
    fn from_str(name: &str) -> Result<Self, ConfigError> {
        let short = name
            .trim()
            .strip_prefix(PREFIX)
            .or_else(|| name.trim().strip_prefix(DJANGO_PREFIX));
        short
            .and_then(|short| ALL.into_iter().find(|e| &e.name()[PREFIX.len()..] == short))
            .ok_or_else(|| {
                let names: Vec<String> = ALL
                    .iter()
                    .flat_map(|e| [e.name().to_owned(), e.name().replace(PREFIX, DJANGO_PREFIX)])
                    .collect();
                ConfigError::new(
                    "ENGINE",
                    format!(
                        "`{name}` is not an engine{}; the accepted ones are {}",
                        did_you_mean(name.trim(), names.iter().map(String::as_str)),
                        Engine::accepted()
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_django_aliases_parse() {
        for engine in ALL {
            assert_eq!(engine.name().parse::<Engine>().unwrap(), engine);
            let django = engine.name().replace(PREFIX, DJANGO_PREFIX);
            assert_eq!(django.parse::<Engine>().unwrap(), engine);
        }
        let err = "django.db.backends.postgresql".parse::<Engine>().unwrap_err();
        assert!(err.message.contains("`django.db.backends.postgresql`"), "{err}");
        assert!(err.message.contains("millpond.backends.jdbc.generic"), "{err}");
        assert!(!err.message.contains("did you mean"), "{err}");
        let err = "millpond.backends.postgres".parse::<Engine>().unwrap_err();
        assert!(
            err.message
                .contains("(did you mean `millpond.backends.postgresql`?)"),
            "{err}"
        );
        let err = "dj_db_conn_pool.backends.sqlite3".parse::<Engine>().unwrap_err();
        assert!(
            err.message
                .contains("(did you mean `dj_db_conn_pool.backends.sqlite`?)"),
            "{err}"
        );
        assert!(Engine::JdbcMysql.is_jdbc() && !Engine::Mysql.is_jdbc());
    }
}
