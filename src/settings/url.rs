//! URLs: settings from a `DATABASE_URL`-style URL (pool options as query parameters), and the
//! URL each backend is given, built from the settings.

// Without any backend nothing makes a manager from settings.
#![cfg_attr(
    not(any(
        feature = "sqlite",
        feature = "postgres",
        feature = "mysql",
        feature = "oracle",
        feature = "jdbc"
    )),
    allow(dead_code)
)]

use super::database::DatabaseSettings;
use super::engine::Engine;
use super::pool_options::PoolSetting;
use super::value::SettingValue;
use crate::backends::redact::is_secret_key;
use crate::backends::url::{Plus, decode};
use crate::error::ConfigError;

/// The URL forms, for errors.
const FORMS: &str = "postgres://user:password@host:5432/name, mysql://user:password@host:3306/name, \
    oracle://user:password@//host:1521/service, sqlite:///path/to/file.db, sqlite::memory: or \
    jdbc:<subprotocol>:…, with pool options as query parameters (?pool_size=10&max_overflow=5)";

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
            "the scheme `{scheme}` is not accepted; use {FORMS}"
        ))),
        _ => Err(url_error(format!("this is not a database URL; use {FORMS}"))),
    }
}

/// Where the query starts: the first `?` after the credentials (which end at the first `@`
/// before any `/`, as the backends read them). A `?` before that `@` is refused, as the
/// backends do: it may be part of a password, which must not be split into a query.
fn query_start(url: &str) -> Result<Option<usize>, ConfigError> {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let slash = rest.find('/').unwrap_or(rest.len());
    let at = rest[..slash].find('@');
    if let Some(at) = at
        && rest[..at].contains('?')
    {
        return Err(url_error(
            "the URL is ambiguous: percent-encode a `?` in the user or password as %3F",
        ));
    }
    let from = after_scheme + at.map_or(0, |at| at + 1);
    Ok(url[from..].find('?').map(|i| from + i))
}

impl DatabaseSettings {
    /// Settings from a URL: `postgres://` (or `postgresql://`), `mysql://` (or `mariadb://`),
    /// `oracle://`, `sqlite:` and `jdbc:` URLs, as each backend's `from_url` reads them. Query
    /// parameters named like a pool option (`pool_size`, `max_overflow`, `recycle`, `timeout`,
    /// `pre_ping`, `echo`, … in any case; the values of `POOL_OPTIONS`) set the pool; the others
    /// are the driver's and are checked by the backend when the pool is made.
    ///
    /// ```
    /// use millpond::{DatabaseSettings, Engine};
    ///
    /// let db = DatabaseSettings::from_url("sqlite::memory:?pool_size=2&recycle=-1&wal=false")?;
    /// assert_eq!(db.engine(), Engine::Sqlite);
    /// assert_eq!(db.pool_options().pool_size, 2);
    /// assert_eq!(db.pool_options().recycle, None);
    /// # Ok::<(), millpond::ConfigError>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let url = url.trim();
        let engine = engine_of(url)?;
        let (base, query) = match query_start(url)? {
            Some(q) => (&url[..q], &url[q + 1..]),
            None => (url, ""),
        };
        let mut settings = DatabaseSettings::new(engine);
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if PoolSetting::is_key(key) {
                let value = decode(value, Plus::Literal).ok_or_else(|| {
                    url_error(format!("the value of `{key}` is not valid percent-encoded UTF-8"))
                })?;
                let path = format!("the URL's {key}");
                settings
                    .pool
                    .push(PoolSetting::parse(key, &SettingValue::Str(value), &path)?);
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
        Ok(settings)
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

    /// The URL with the password replaced by `***`, for messages.
    pub(crate) fn redacted_url(&self) -> Option<String> {
        self.url.as_deref().map(redact)
    }
}

/// A URL for messages: the password (between `user:` and the `@` ending the credentials) and
/// the values of query parameters that may hold one replaced by `***`. A JDBC URL is cut to its
/// subprotocol, as drivers spell credentials in it in ways of their own (`user/password@`).
pub(crate) fn redact(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("jdbc:") {
        let sub = rest.split(':').next().unwrap_or("");
        return format!("jdbc:{sub}:…");
    }
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    // The credentials end at the last `@` before the query: a password may hold an unencoded
    // `/` (hiding a path that holds an `@` instead does no harm).
    let query = rest.find('?').unwrap_or(rest.len());
    let url = match rest[..query].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    match url.split_once('?') {
        Some((base, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", pairs.join("&"))
        }
        None => url,
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
        assert_eq!(
            redact("postgres://u:s3cr3t@h/db?password=s3cr3t&sslmode=disable&sslkey=/k"),
            "postgres://u:***@h/db?password=***&sslmode=disable&sslkey=***"
        );
        assert_eq!(redact("jdbc:oracle:thin:u/s3cr3t@//h:1521/s"), "jdbc:oracle:…");
        assert_eq!(redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        let db = DatabaseSettings::from_url("jdbc:postgresql://h/db?password=s3cr3t").unwrap();
        assert!(!format!("{db:?}").contains("s3cr3t"));
        // An unencoded `/` in the password does not end the credentials.
        assert_eq!(redact("postgres://u:s3/cr3t@h/db"), "postgres://u:***@h/db");
        let db = DatabaseSettings::from_url("postgres://u:s3/cr3t@h/db").unwrap();
        assert!(!format!("{db:?}").contains("cr3t"), "{db:?}");
        // A JDBC NAME is a URL: neither the Debug output nor the pool's name shows its password.
        let db = DatabaseSettings::new(crate::settings::Engine::JdbcOracle)
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
            !err.message.contains("cr3t") && err.message.contains("ambiguous"),
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
