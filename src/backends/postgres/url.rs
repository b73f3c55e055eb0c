//! [`PostgresManager::from_url`]: the `postgres://` URL, its query parameters and credentials.

use std::path::Path;

use postgres::Config;

use super::error::with_sources;
use super::tls::{SslMode, load_roots};
use super::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESET_TIMEOUT, PostgresManager};
use crate::backends::redact::split_credentials;
use crate::backends::url::{
    Plus, Unit, decode, decode_bytes, pairs, parse_bool, parse_duration, parse_number,
    parse_positive_duration, split_query, unknown_parameter,
};
use crate::error::ConfigError;

/// The URL query parameters handed on to the `postgres` crate as they are.
const DRIVER_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "options",
    "application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// The URL query parameters this module reads itself.
const OWN_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "reset_timeout_ms",
    "statement_cache_capacity",
    "pgbouncer",
];

/// Parses a URL into a manager: see [`PostgresManager::from_url`].
pub(super) fn from_url(url: &str) -> Result<PostgresManager, ConfigError> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Err(ConfigError::new(
            "url",
            "a PostgreSQL URL starts with postgres:// or postgresql:// (for example \
             postgres://user:password@127.0.0.1:5432/dbname?sslmode=prefer)",
        ));
    };
    // As the URL standard reads them; a URL libpq would read otherwise is refused.
    let credentials = split_credentials(rest)?;
    let (location, query) = split_query(credentials.rest);
    let mut ssl_mode = None;
    let mut roots = None;
    let mut connect_timeout = Some(DEFAULT_CONNECT_TIMEOUT);
    let mut reset_timeout = DEFAULT_RESET_TIMEOUT;
    let mut statement_cache_capacity = None;
    let mut pgbouncer = false;
    let mut passed = Vec::new();
    for pair in pairs(query) {
        match pair.key {
            "sslmode" => ssl_mode = Some(pair.decode_value(Plus::Literal)?.parse::<SslMode>()?),
            "sslrootcert" => roots = Some(load_roots(Path::new(&pair.decode_value(Plus::Literal)?))?),
            "connect_timeout" => {
                let value = pair.decode_value(Plus::Literal)?;
                connect_timeout =
                    parse_duration("connect_timeout", "connect_timeout", value.trim(), Unit::Seconds)?;
            }
            "reset_timeout_ms" => {
                let value = pair.decode_value(Plus::Literal)?;
                reset_timeout =
                    parse_positive_duration("url", "reset_timeout_ms", value.trim(), Unit::Millis)?;
            }
            "statement_cache_capacity" => {
                let value = pair.decode_value(Plus::Literal)?;
                statement_cache_capacity = Some(parse_number(
                    "url",
                    "statement_cache_capacity",
                    value.trim(),
                    "a whole number of statements, 0 or more (0 keeps none)",
                )?);
            }
            "pgbouncer" => {
                pgbouncer = parse_bool("url", "pgbouncer", pair.decode_value(Plus::Literal)?.trim())?
            }
            key if DRIVER_PARAMS.contains(&key) => passed.push(pair.pair),
            key => return Err(unknown_parameter(key, &[OWN_PARAMS, DRIVER_PARAMS])),
        }
    }
    let mut rebuilt = format!("postgres://{location}");
    if !passed.is_empty() {
        rebuilt.push('?');
        rebuilt.push_str(&passed.join("&"));
    }
    // The credentials are out of it (and no `@` is left), so the driver's parser cannot
    // find a password here, nor quote one.
    let mut config: Config = rebuilt.parse().map_err(|err: postgres::Error| {
        // The driver's parse errors name options, never values; say so in a test.
        ConfigError::new("url", with_sources(&err))
    })?;
    if let Some(user) = credentials.user {
        let undecodable = |what: &str| {
            ConfigError::new(
                "url",
                format!("the {what} in the URL is not valid percent-encoded UTF-8"),
            )
        };
        let user = decode(user, Plus::Literal).ok_or_else(|| undecodable("user"))?;
        if !user.is_empty() {
            config.user(&user);
        }
        if let Some(password) = credentials.password {
            config.password(decode_bytes(password, Plus::Literal).ok_or_else(|| undecodable("password"))?);
        }
    }
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        config.host("localhost");
    }
    if config.get_user().is_none() {
        match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
            Ok(user) if !user.is_empty() => {
                config.user(&user);
            }
            _ => {
                return Err(ConfigError::new(
                    "url",
                    "the URL names no user and USER is not set; use postgres://user@host/dbname",
                ));
            }
        }
    }
    let mut manager = PostgresManager::new(config);
    let s = manager.settings_mut();
    s.ssl_mode = ssl_mode.unwrap_or_default();
    s.connect_timeout = connect_timeout;
    s.reset_timeout = reset_timeout;
    if let Some(capacity) = statement_cache_capacity {
        s.statement_cache_capacity = capacity;
    }
    s.pgbouncer = pgbouncer;
    s.roots = roots;
    s.refresh();
    if let Some(conflict) = s.pgbouncer_conflict() {
        return Err(conflict);
    }
    Ok(manager)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use postgres::config::{Host, SslMode as DriverSslMode};

    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

    #[test]
    fn urls_give_the_driver_config_and_our_settings() {
        let m = PostgresManager::from_url(
            "postgres://app:pw@db.example:6543/main?sslmode=require&connect_timeout=3&application_name=web&keepalives_idle=30&reset_timeout_ms=700",
        )
        .unwrap();
        let c = m.config();
        assert_eq!(c.get_user(), Some("app"));
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        assert_eq!(c.get_dbname(), Some("main"));
        assert_eq!(c.get_hosts(), &[Host::Tcp("db.example".to_owned())]);
        assert_eq!(c.get_ports(), &[6543]);
        assert_eq!(c.get_application_name(), Some("web"));
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(30));
        assert!(c.get_keepalives());
        assert_eq!(c.get_ssl_mode(), DriverSslMode::Require);
        assert_eq!(m.get_ssl_mode(), SslMode::Require);
        assert_eq!(m.get_connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(m.get_reset_timeout(), Duration::from_millis(700));
    }

    #[test]
    fn the_statement_cache_capacity_comes_from_the_url() {
        let m = PostgresManager::from_url("postgres://app@h/db?statement_cache_capacity=7").unwrap();
        assert_eq!(m.get_statement_cache_capacity(), 7);
        let m = PostgresManager::from_url("postgres://app@h/db?statement_cache_capacity=0").unwrap();
        assert_eq!(m.get_statement_cache_capacity(), 0);
        let m = PostgresManager::from_url("postgres://app@h/db").unwrap();
        assert_eq!(m.get_statement_cache_capacity(), 100);
        let err = PostgresManager::from_url("postgres://app@h/db?statement_cache_capacity=-1").unwrap_err();
        assert!(
            err.message.contains("statement_cache_capacity") && err.message.contains("0 or more"),
            "{err}"
        );
    }

    #[test]
    fn url_defaults() {
        let m = PostgresManager::from_url("postgresql://app@127.0.0.1/main").unwrap();
        assert_eq!(m.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(m.get_connect_timeout(), Some(DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(m.get_reset_timeout(), DEFAULT_RESET_TIMEOUT);
        assert!(m.config().get_keepalives());
        let m = PostgresManager::from_url("postgres://app@/main").unwrap();
        assert_eq!(m.config().get_hosts(), &[Host::Tcp("localhost".to_owned())]);
        let m =
            PostgresManager::from_url("postgres://app@h/db?connect_timeout=0&sslmode=verify-full").unwrap();
        assert_eq!(m.get_connect_timeout(), None);
        assert_eq!(m.get_ssl_mode(), SslMode::VerifyFull);
        assert_eq!(m.config().get_ssl_mode(), DriverSslMode::Require);
        let m = PostgresManager::from_url("postgres://app@h/db?sslmode=disable").unwrap();
        assert!(matches!(m.settings.tls, Ok(None)));
    }

    #[test]
    fn bad_urls_say_what_is_accepted() {
        let err = PostgresManager::from_url("postgres://app@h/db?color=blue").unwrap_err();
        assert!(err.message.contains("`color`"), "{err}");
        assert!(
            err.message.contains("sslmode") && err.message.contains("keepalives_idle"),
            "{err}"
        );
        let err = PostgresManager::from_url("postgres://app@h/db?sslmode=sometimes").unwrap_err();
        assert_eq!(err.option, "sslmode");
        assert!(
            err.message
                .contains("disable, prefer, require, verify-ca or verify-full"),
            "{err}"
        );
        let err = PostgresManager::from_url("postgres://app@h/db?connect_timeout=soon").unwrap_err();
        assert!(err.message.contains("whole number of seconds"), "{err}");
        let err = PostgresManager::from_url("postgres://app@h/db?reset_timeout_ms=0").unwrap_err();
        assert!(err.message.contains("greater than zero"), "{err}");
        let err = PostgresManager::from_url("mysql://app@h/db").unwrap_err();
        assert!(err.message.contains("postgres://"), "{err}");
        let err =
            PostgresManager::from_url("postgres://app@h/db?sslrootcert=/nonexistent/ca.pem").unwrap_err();
        assert_eq!(err.option, "sslrootcert");
        assert!(err.message.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn errors_never_show_the_password() {
        for url in [
            format!("postgres://app:{SECRET}@h:notaport/db"),
            // A `?` in a password that should have been percent-encoded ends the location early.
            format!("postgres://app:pa?{SECRET}@h/db"),
            format!("postgres://app:pa?{SECRET}=x@h/db"),
            format!("postgres://app:{SECRET}@h/db?connect_timeout=x"),
            format!("postgres://app@h/db?password={SECRET}&keepalives_idle=x{SECRET}"),
        ] {
            let err = PostgresManager::from_url(&url).unwrap_err();
            assert!(!err.to_string().contains(SECRET), "{url}: {err}");
            assert!(!format!("{err:?}").contains(SECRET), "{url}: {err:?}");
        }
    }

    #[test]
    fn credentials_are_read_as_the_url_standard_reads_them_or_refused() {
        let m = PostgresManager::from_url("postgres://me%40corp:p%3Fw+d%2F@h/db?sslmode=disable").unwrap();
        assert_eq!(m.config().get_user(), Some("me@corp"));
        assert_eq!(m.config().get_password(), Some(&b"p?w+d/"[..]));
        assert_eq!(m.config().get_dbname(), Some("db"));
        let m = PostgresManager::from_url("postgres://u:a b&c;=é@h/db").unwrap();
        assert_eq!(m.config().get_password(), Some("a b&c;=é".as_bytes()));
        let m = PostgresManager::from_url("postgres://h/db?user=me%40corp").unwrap();
        assert_eq!(m.config().get_user(), Some("me@corp"));
        // libpq splits at the first `@`, the standard at the last; `/`, `?` and `#` end the
        // host early. Either way part of the password would be read as host, path or query.
        for url in [
            format!("postgres://u:p@{SECRET}@127.0.0.1/test"),
            format!("postgres://u:123/{SECRET}@h/db"),
            format!("postgres://u:p?{SECRET}@h/db"),
            format!("postgres://u:p#{SECRET}@h/db"),
            format!("postgres://h/db?user={SECRET}@corp"),
        ] {
            let err = PostgresManager::from_url(&url).unwrap_err();
            assert!(err.message.contains("`%40`"), "{url}: {err}");
            assert!(!format!("{err} {err:?}").contains(SECRET), "{url}: {err}");
        }
    }
}
