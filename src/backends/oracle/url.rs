//! [`OracleManager::from_url`]: the `oracle://` URL and its query parameters.

use ::oracle::Privilege;

use super::connect_string::check_connect_string;
use super::{OracleManager, URL_FORMS};
use crate::backends::redact::split_credentials;
use crate::backends::url::{
    Plus, Unit, decode, non_empty, not_accepted, pairs, parse_bool, parse_duration, parse_number,
    parse_positive_duration, split_query, unknown_parameter,
};
use crate::error::ConfigError;

/// The query parameters [`OracleManager::from_url`] accepts.
const PARAMS: &[&str] = &[
    "connect_timeout",
    "call_timeout_ms",
    "reset_timeout_ms",
    "stmt_cache_size",
    "events",
    "autocommit",
    "init",
    "edition",
    "driver_name",
    "privilege",
];

/// Parses a URL into a manager: see [`OracleManager::from_url`].
pub(super) fn from_url(url: &str) -> Result<OracleManager, ConfigError> {
    let rest = url
        .get(..9)
        .filter(|scheme| scheme.eq_ignore_ascii_case("oracle://"))
        .map(|_| &url[9..])
        .ok_or_else(|| {
            ConfigError::new(
                "url",
                format!("an Oracle URL starts with oracle://; use {URL_FORMS}"),
            )
        })?;
    // As the URL standard reads them; what could be read two ways is refused.
    let credentials = split_credentials(rest)?;
    let (target, query) = split_query(credentials.rest);
    let target = decode(target, Plus::Literal).ok_or_else(|| {
        ConfigError::new(
            "url",
            "the connect string after `@` is not valid percent-encoding",
        )
    })?;
    if target.trim().is_empty() {
        return Err(ConfigError::new(
            "url",
            format!("the URL names no database after `@`; use {URL_FORMS}"),
        ));
    }
    let mut manager = match (credentials.user, credentials.password) {
        (None, _) | (Some(""), None) => OracleManager::external(target),
        (Some(user), password) => {
            let password = password.unwrap_or("");
            let user = decode(user, Plus::Literal)
                .ok_or_else(|| ConfigError::new("url", "the user name is not valid percent-encoding"))?;
            let password = decode(password, Plus::Literal).ok_or_else(|| {
                ConfigError::new(
                    "url",
                    "the password is not valid percent-encoding (write `%` as `%25`, `@` as `%40`, `:` as `%3A`, `/` as `%2F`, `?` as `%3F`, `#` as `%23`)",
                )
            })?;
            if user.is_empty() {
                return Err(ConfigError::new(
                    "url",
                    format!(
                        "the user name is empty; use {URL_FORMS}, or leave out `user:password@` for external authentication"
                    ),
                ));
            }
            if password.is_empty() {
                return Err(ConfigError::new(
                    "url",
                    format!(
                        "user `{user}` has no password; write oracle://{user}:password@…, or leave out `user:password@` for external authentication"
                    ),
                ));
            }
            OracleManager::new(user, password, target)
        }
    };
    check_connect_string(&manager.connect_string)?;
    for pair in pairs(query) {
        let key = pair.decode_key(Plus::Space).unwrap_or_default();
        let value = pair.decode_value(Plus::Space)?;
        let (key, value) = (key.as_str(), value.as_str());
        manager = match key {
            "connect_timeout" => manager.connect_timeout(parse_duration("url", key, value, Unit::Seconds)?),
            "call_timeout_ms" => manager.call_timeout(parse_duration("url", key, value, Unit::Millis)?),
            "reset_timeout_ms" => {
                manager.reset_timeout(parse_positive_duration("url", key, value, Unit::Millis)?)
            }
            "stmt_cache_size" => {
                manager.stmt_cache_size(parse_number("url", key, value, "a whole number of statements")?)
            }
            "events" => manager.events(parse_bool("url", key, value)?),
            "autocommit" => manager.autocommit(parse_bool("url", key, value)?),
            "init" => manager.init(non_empty("url", key, value, "an SQL statement")?),
            "edition" => manager.edition(non_empty("url", key, value, "a name")?),
            "driver_name" => manager.driver_name(non_empty("url", key, value, "a name")?),
            "privilege" => manager.privilege(parse_privilege(value)?),
            _ => return Err(unknown_parameter(key, &[PARAMS])),
        };
    }
    manager.effective_connect_string()?;
    Ok(manager)
}

fn parse_privilege(value: &str) -> Result<Privilege, ConfigError> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "sysdba" => Privilege::Sysdba,
        "sysoper" => Privilege::Sysoper,
        "sysasm" => Privilege::Sysasm,
        "sysbackup" => Privilege::Sysbackup,
        "sysdg" => Privilege::Sysdg,
        "syskm" => Privilege::Syskm,
        "sysrac" => Privilege::Sysrac,
        _ => {
            return Err(not_accepted(
                "url",
                "privilege",
                value,
                "sysdba, sysoper, sysasm, sysbackup, sysdg, syskm or sysrac",
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backends::url::list;

    const SECRET: &str = "s3cr3t-Pa55";

    fn url_err(url: &str) -> ConfigError {
        OracleManager::from_url(url).expect_err(url)
    }

    #[test]
    fn urls_give_user_password_and_connect_string() {
        let m = OracleManager::from_url("oracle://scott:tiger@//db.example.com:1521/FREEPDB1").unwrap();
        assert_eq!(m.username(), "scott");
        assert_eq!(m.password.expose(), "tiger");
        assert_eq!(m.connect_string(), "//db.example.com:1521/FREEPDB1");
        assert!(!m.external_auth);

        let m = OracleManager::from_url("oracle://scott:tiger@db.example.com:1521/FREEPDB1").unwrap();
        assert_eq!(m.connect_string(), "db.example.com:1521/FREEPDB1");
        let m = OracleManager::from_url("ORACLE://scott:tiger@ORCL").unwrap();
        assert_eq!(m.connect_string(), "ORCL");
        let m = OracleManager::from_url("oracle://scott:tiger@[::1]:1522/svc:pooled").unwrap();
        assert_eq!(m.connect_string(), "[::1]:1522/svc:pooled");

        // Percent-encoded user and password; an unencoded `@`, `/`, `?` or `#` in the password
        // is refused (either reading could be wrong).
        let m = OracleManager::from_url("oracle://app%20user:p%40ss%3Aw%2Fd%25@//h/s").unwrap();
        assert_eq!(m.username(), "app user");
        assert_eq!(m.password.expose(), "p@ss:w/d%");
        let m = OracleManager::from_url("oracle://u:a b&c;=:é@//h/s").unwrap();
        assert_eq!(m.password.expose(), "a b&c;=:é");
        for url in [
            "oracle://u:p@ss@//h/s",
            "oracle://u:p/ss@//h/s",
            "oracle://u:p?ss@//h/s",
        ] {
            let err = url_err(url);
            assert!(
                err.message.contains("`%40`") && !err.message.contains("ss@"),
                "{err}"
            );
        }

        // No user and password: external authentication.
        let m = OracleManager::from_url("oracle://wallet_alias").unwrap();
        assert!(m.external_auth);
        assert_eq!(m.username(), "");
        assert_eq!(m.connect_string(), "wallet_alias");
        assert!(OracleManager::from_url("oracle://@//h/s").unwrap().external_auth);

        // A descriptor, percent-encoded.
        let m = OracleManager::from_url(
            "oracle://u:p@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=h)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=s)))",
        )
        .unwrap();
        assert!(m.connect_string().starts_with("(DESCRIPTION="));
    }

    #[test]
    fn url_parameters_set_the_options() {
        let m = OracleManager::from_url(
            "oracle://u:p@//h:1521/s?connect_timeout=5&call_timeout_ms=2500&stmt_cache_size=50&events=true&autocommit=on\
             &init=ALTER+SESSION+SET+TIME_ZONE+%3D+%27UTC%27&init=ALTER%20SESSION%20SET%20NLS_SORT%3DBINARY\
             &edition=E1&driver_name=pond&privilege=SYSDBA",
        )
        .unwrap();
        assert_eq!(m.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(m.call_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(m.stmt_cache_size, Some(50));
        assert!(m.events && m.autocommit);
        assert_eq!(
            m.init_statements(),
            [
                "ALTER SESSION SET TIME_ZONE = 'UTC'",
                "ALTER SESSION SET NLS_SORT=BINARY"
            ]
        );
        assert_eq!(m.edition.as_deref(), Some("E1"));
        assert_eq!(m.driver_name.as_deref(), Some("pond"));
        assert_eq!(m.privilege, Some(Privilege::Sysdba));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "//h:1521/s?connect_timeout=5"
        );

        let m = OracleManager::from_url("oracle://u:p@//h/s?connect_timeout=0&call_timeout_ms=0").unwrap();
        assert_eq!((m.connect_timeout, m.call_timeout), (None, None));
    }

    #[test]
    fn bad_urls_say_what_is_accepted() {
        let err = url_err("postgres://u:p@h/db");
        assert_eq!(err.option, "url");
        assert!(
            err.message.contains("oracle://") && err.message.contains("tns_alias"),
            "{err}"
        );

        let err = url_err("oracle://u:p@//h/s?colour=blue");
        assert!(err.message.contains("`colour`"), "{err}");
        assert!(err.message.contains(&list(PARAMS)), "{err}");

        let err = url_err("oracle://u:p@");
        assert!(err.message.contains("names no database"), "{err}");
        let err = url_err("oracle://u:p@//h:15x1/s");
        assert!(
            err.message.contains("port `15x1`") && err.message.contains("1 to 65535"),
            "{err}"
        );
        let err = url_err("oracle://u:p@//:1521/s");
        assert!(err.message.contains("names no host"), "{err}");
        let err = url_err("oracle://u@//h/s");
        assert!(err.message.contains("user `u` has no password"), "{err}");
        let err = url_err("oracle://:p@//h/s");
        assert!(err.message.contains("user name is empty"), "{err}");
        let err = url_err("oracle://u:p@//h/s?connect_timeout=soon");
        assert!(err.message.contains("whole number of seconds"), "{err}");
        let err = url_err("oracle://u:p@//h/s?autocommit=maybe");
        assert!(err.message.contains("true or false"), "{err}");
        let err = url_err("oracle://u:p@//h/s?privilege=root");
        assert!(err.message.contains("sysdba, sysoper"), "{err}");
        let err = url_err("oracle://u:p@//h/s?init=");
        assert!(err.message.contains("`init` is empty"), "{err}");
        let err = url_err("oracle://u:p%4@//h/s");
        assert!(
            err.message.contains("password is not valid percent-encoding"),
            "{err}"
        );
    }

    #[test]
    fn errors_never_quote_the_password() {
        let urls = [
            format!("oracle://scott:{SECRET}@//h/s?colour=blue"),
            format!("oracle://scott:{SECRET}@//h:x/s"),
            format!("oracle://scott:{SECRET}@alias?connect_timeout=3"),
            format!("oracle://scott:{SECRET}%zz@//h/s"),
            // An unencoded `?` in the password puts part of it in the query.
            format!("oracle://scott:ab?{SECRET}@//h/s"),
            format!("oracle://scott:ab/{SECRET}@//h/s"),
            format!("oracle://scott:ab@{SECRET}@//h/s"),
            format!("oracle://scott:ab#{SECRET}@//h/s"),
            format!("mysql://scott:{SECRET}@h/db"),
        ];
        for url in urls {
            let err = url_err(&url);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET), "{shown}");
        }
    }
}
