//! URLs: settings from a `DATABASE_URL`-style URL (pool options as query parameters), and the
//! URL each backend is given, built from the settings.

// Only the backends made from a URL (not JDBC, which reads the settings' parts itself) need
// the URL built from the settings.
#![cfg_attr(
    not(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "oracle"
    )),
    allow(dead_code)
)]

use super::database::DatabaseSettings;
use super::engine::Engine;
use super::pool_options::PoolOverrides;
use super::value::SettingValue;
use crate::backends::redact::parse;
use crate::backends::url::{Plus, decode, did_you_mean};
use crate::error::ConfigError;

/// The URL forms, for errors.
const FORMS: &str = "postgres://user:password@host:5432/name, mysql://user:password@host:3306/name, \
    oracle://user:password@//host:1521/service, sqlite:///path/to/file.db, sqlite::memory: or \
    jdbc:<subprotocol>:…, with pool options as query parameters (?pool_size=10&max_overflow=5)";

/// The schemes a settings URL may start with, for suggestions.
const SCHEMES: &[&str] = &[
    "postgres",
    "postgresql",
    "pgsql",
    "mysql",
    "mariadb",
    "oracle",
    "sqlite",
    "jdbc",
];

fn url_error(message: impl Into<String>) -> ConfigError {
    ConfigError::new("url", message)
}

/// The engine a URL's scheme names.
fn engine_of(url: &str) -> Result<Engine, ConfigError> {
    if let Some(rest) = url.strip_prefix("jdbc:") {
        let sub = rest.split(':').next().unwrap_or("");
        return Ok(match sub.to_ascii_lowercase().as_str() {
            "oracle" => Engine::JdbcOracle,
            "oceanbase" => Engine::JdbcOceanbase,
            "postgresql" => Engine::JdbcPostgresql,
            "mysql" | "mariadb" => Engine::JdbcMysql,
            _ => Engine::JdbcGeneric,
        });
    }
    if url.starts_with("sqlite:") || url == ":memory:" {
        return Ok(Engine::Sqlite);
    }
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgres" | "postgresql" | "pgsql") => Ok(Engine::Postgresql),
        Some("mysql" | "mariadb") => Ok(Engine::Mysql),
        Some("oracle") => Ok(Engine::Oracle),
        Some(scheme) if !scheme.contains(['@', ':', '/']) => Err(url_error(format!(
            "the scheme `{scheme}` is not accepted{}; use {FORMS}",
            did_you_mean(scheme, SCHEMES.iter().copied())
        ))),
        _ => Err(url_error(format!("this is not a database URL; use {FORMS}"))),
    }
}

/// Where the query starts: the first `?` after the credentials, found as every backend finds
/// them (the URL standard's reading); a URL whose credentials could be read two ways is
/// refused, as the backends refuse it, before any of it is split or quoted.
pub(super) fn query_start(url: &str) -> Result<Option<usize>, ConfigError> {
    let rest = parse(url)?.credentials.rest;
    let from = url.len() - rest.len();
    Ok(rest.find('?').map(|i| from + i))
}

impl DatabaseSettings {
    /// Settings from a URL: `postgres://` (or `postgresql://`), `mysql://` (or `mariadb://`),
    /// `oracle://`, `sqlite:` and `jdbc:` URLs, as each backend's `from_url` reads them. Query
    /// parameters named like a pool option (`pool_size`, `max_overflow`, `recycle`, `timeout`,
    /// `pre_ping`, `echo`, … in any case; the values of `POOL_OPTIONS`) set the pool; the others
    /// are the driver's and are checked by the backend when the pool is made.
    ///
    /// ```
    /// use millpond::settings::{DatabaseSettings, Engine};
    ///
    /// let db = DatabaseSettings::from_url("sqlite::memory:?pool_size=2&recycle=-1&wal=false")?;
    /// assert_eq!(db.engine(), Engine::Sqlite);
    /// assert_eq!(db.pool_options().pool_size, 2);
    /// assert_eq!(db.pool_options().recycle, None);
    /// # Ok::<(), millpond::ConfigError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        match DatabaseSettings::read_url(url, &mut problems) {
            Some(settings) if problems.is_empty() => Ok(settings),
            _ => Err(problems.swap_remove(0)),
        }
    }

    /// As [`DatabaseSettings::from_url`], going on past a refused pool option: every problem is
    /// added to `problems`, and the settings are returned (without the refused options) unless
    /// the URL itself cannot be read.
    pub(crate) fn read_url(url: &str, problems: &mut Vec<ConfigError>) -> Option<Self> {
        let url = url.trim();
        let start = engine_of(url).and_then(|engine| Ok((engine, query_start(url)?)));
        let (engine, start) = start.map_err(|err| problems.push(err)).ok()?;
        let (base, query) = match start {
            Some(q) => (&url[..q], &url[q + 1..]),
            None => (url, ""),
        };
        let mut settings = DatabaseSettings::new(engine);
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if PoolOverrides::is_key(key) {
                let Some(value) = decode(value, Plus::Literal) else {
                    problems.push(url_error(format!(
                        "the value of `?{key}=` is not valid percent-encoded UTF-8"
                    )));
                    continue;
                };
                let path = format!("the URL's `?{key}=`");
                if let Err(err) = settings.pool.set(key, &SettingValue::Str(value), &path) {
                    problems.push(err);
                }
            } else {
                kept.push(pair);
            }
        }
        let mut rest = base.to_owned();
        if !kept.is_empty() {
            rest.push('?');
            rest.push_str(&kept.join("&"));
        }
        settings.url = Some(rest);
        Some(settings)
    }

    /// The URL the backend is given: the one settings were made from (without its pool
    /// options), or one built from NAME, USER, PASSWORD, HOST and PORT; OPTIONS are added as
    /// query parameters. It holds the password: never log it.
    pub(crate) fn backend_url(&self) -> Result<String, ConfigError> {
        let mut url = match &self.url {
            Some(_)
                if !self.name.is_empty()
                    || !self.user.is_empty()
                    || !self.password.is_empty()
                    || !self.host.is_empty()
                    || self.port.is_some() =>
            {
                return Err(ConfigError::new(
                    "DATABASES",
                    "give either a URL or NAME, USER, PASSWORD, HOST and PORT, not both",
                ));
            }
            Some(url) => url.clone(),
            None => self.url_from_parts()?,
        };
        let options: Vec<String> = self
            .options
            .iter()
            .map(|(key, value)| {
                if self.engine == Engine::Sqlite {
                    format!("{key}={value}")
                } else {
                    format!("{}={}", encode(key), encode(value))
                }
            })
            .collect();
        if !options.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&options.join("&"));
        }
        Ok(url)
    }

    fn url_from_parts(&self) -> Result<String, ConfigError> {
        let credentials = || {
            let mut c = encode(&self.user);
            if !self.password.is_empty() {
                c.push(':');
                c.push_str(&encode(&self.password));
            }
            if c.is_empty() { c } else { c + "@" }
        };
        let host = || {
            if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            }
        };
        let port = || self.port.map(|p| format!(":{p}")).unwrap_or_default();
        Ok(match self.engine {
            Engine::Postgresql => {
                if self.host.starts_with('/') {
                    let mut url = format!(
                        "postgres://{}/{}?host={}",
                        credentials(),
                        encode(&self.name),
                        encode(&self.host)
                    );
                    if let Some(p) = self.port {
                        url.push_str(&format!("&port={p}"));
                    }
                    url
                } else {
                    format!(
                        "postgres://{}{}{}/{}",
                        credentials(),
                        host(),
                        port(),
                        encode(&self.name)
                    )
                }
            }
            Engine::Mysql => {
                if self.host.starts_with('/') {
                    format!(
                        "mysql://{}localhost/{}?socket={}",
                        credentials(),
                        encode(&self.name),
                        encode(&self.host)
                    )
                } else {
                    let host = if self.host.is_empty() {
                        "localhost".to_owned()
                    } else {
                        host()
                    };
                    format!("mysql://{}{host}{}/{}", credentials(), port(), encode(&self.name))
                }
            }
            Engine::Oracle => {
                if self.host.is_empty() {
                    format!("oracle://{}{}", credentials(), self.name)
                } else {
                    format!("oracle://{}//{}{}/{}", credentials(), host(), port(), self.name)
                }
            }
            Engine::Sqlite => {
                if self.name.contains('?') {
                    return Err(ConfigError::new(
                        "DATABASES",
                        "an SQLite NAME may not contain `?`; rename the file",
                    ));
                }
                match self.name.as_str() {
                    "" | ":memory:" => "sqlite::memory:".to_owned(),
                    path => path.to_owned(),
                }
            }
            jdbc => {
                // A JDBC database is named by its JDBC URL, in NAME.
                if !self.name.starts_with("jdbc:") {
                    return Err(ConfigError::new(
                        "DATABASES",
                        format!("{jdbc} needs NAME to be the JDBC URL (jdbc:…)"),
                    ));
                }
                self.name.clone()
            }
        })
    }
}

/// Percent-encodes everything but the unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_options_leave_the_url_and_the_rest_stays() {
        let db = DatabaseSettings::from_url(
            "postgres://app:p%3Fw@db:5433/main?sslmode=disable&POOL_SIZE=3&max_overflow=-1&application_name=web",
        )
        .unwrap();
        assert_eq!(db.engine(), Engine::Postgresql);
        let o = db.pool_options();
        assert_eq!((o.pool_size, o.max_overflow), (3, None));
        assert_eq!(
            db.backend_url().unwrap(),
            "postgres://app:p%3Fw@db:5433/main?sslmode=disable&application_name=web"
        );
        assert_eq!(
            db.redacted_url().unwrap(),
            "postgres://app:***@db:5433/main?sslmode=disable&application_name=web"
        );
        for (url, engine) in [
            ("mariadb://root@h/test", Engine::Mysql),
            ("oracle://u:p@//h:1521/svc", Engine::Oracle),
            ("sqlite:///tmp/x.db", Engine::Sqlite),
            ("jdbc:h2:mem:test", Engine::JdbcGeneric),
            ("jdbc:oracle:thin:@//h:1521/svc", Engine::JdbcOracle),
            ("jdbc:postgresql://h/db?pool_size=2", Engine::JdbcPostgresql),
        ] {
            assert_eq!(DatabaseSettings::from_url(url).unwrap().engine(), engine, "{url}");
        }
    }

    #[test]
    fn redaction_hides_passwords_in_credentials_queries_and_jdbc_urls() {
        let db = DatabaseSettings::from_url("jdbc:postgresql://h/db?password=s3cr3t").unwrap();
        assert!(!format!("{db:?}").contains("s3cr3t"));
        let db = DatabaseSettings::from_url("postgres://u:s3cr3t@h/db?sslkey=/k").unwrap();
        assert_eq!(db.redacted_url().unwrap(), "postgres://u:***@h/db?sslkey=***");
        // An unencoded `/`, `@`, `?` or `#` in the password is refused, without a word of it.
        for url in [
            "postgres://u:s3/cr3t@h/db",
            "postgres://u:s3@cr3t@h/db",
            "mysql://u:s3?cr3t@h/db",
            "oracle://u:s3#cr3t@//h/s",
            "jdbc:mysql://u:s3/cr3t@h/db",
            "jdbc:oracle:thin:u/s3@cr3t@//h/s",
        ] {
            let err = DatabaseSettings::from_url(url).unwrap_err();
            assert!(!format!("{err} {err:?}").contains("cr3t"), "{url}: {err}");
            assert!(err.message.contains("`%40`"), "{url}: {err}");
        }
        // A JDBC NAME is a URL: neither the Debug output nor the pool's name shows its password.
        let db = DatabaseSettings::new(crate::databases::Engine::JdbcOracle)
            .name("jdbc:oracle:thin:u/s3cr3t@//h:1521/s");
        assert!(!format!("{db:?}").contains("s3cr3t"), "{db:?}");
        assert!(
            !db.pool_options().name.contains("s3cr3t"),
            "{}",
            db.pool_options().name
        );
    }

    #[test]
    fn bad_urls_are_refused_without_the_password() {
        let err = DatabaseSettings::from_url("redis://u:s3cr3t@h/0").unwrap_err();
        assert!(
            err.message.contains("`redis`") && err.message.contains("postgres://"),
            "{err}"
        );
        let err = DatabaseSettings::from_url("postgres://u:s3?cr3t@h/db").unwrap_err();
        assert!(
            !err.message.contains("cr3t") && err.message.contains("unambiguously"),
            "{err}"
        );
        let err = DatabaseSettings::from_url("postgres://u:s3cr3t@h/db?pool_size=many").unwrap_err();
        assert!(
            !err.message.contains("s3cr3t") && err.message.contains("pool_size"),
            "{err}"
        );
    }

    #[test]
    fn parts_make_each_backends_url() {
        let db = DatabaseSettings::new(Engine::Postgresql)
            .name("my db")
            .user("me@corp")
            .password("p:w/d")
            .host("127.0.0.1")
            .port(5432)
            .option("sslmode", "disable");
        assert_eq!(
            db.backend_url().unwrap(),
            "postgres://me%40corp:p%3Aw%2Fd@127.0.0.1:5432/my%20db?sslmode=disable"
        );
        let db = DatabaseSettings::new(Engine::Postgresql)
            .name("d")
            .host("/run/postgresql");
        assert_eq!(
            db.backend_url().unwrap(),
            "postgres:///d?host=%2Frun%2Fpostgresql"
        );
        let db = DatabaseSettings::new(Engine::Mysql).name("test").user("root");
        assert_eq!(db.backend_url().unwrap(), "mysql://root@localhost/test");
        let db = DatabaseSettings::new(Engine::Oracle)
            .name("FREEPDB1")
            .user("s")
            .password("t")
            .host("h")
            .port(1521);
        assert_eq!(db.backend_url().unwrap(), "oracle://s:t@//h:1521/FREEPDB1");
        let db = DatabaseSettings::new(Engine::Sqlite).option("wal", "false");
        assert_eq!(db.backend_url().unwrap(), "sqlite::memory:?wal=false");
        assert_eq!(decode("a%20b%2B+", Plus::Literal).as_deref(), Some("a b++"));
        assert_eq!(decode("%zz", Plus::Literal), None);
    }
}
