//! [`MySqlManager::from_url`]: the `mysql://` URL and its query parameters.

use ::mysql::{Opts, OptsBuilder};

use super::MySqlManager;
use crate::backends::redact::split_credentials;
use crate::backends::url::{
    Plus, Unit, decode, non_empty, pairs, parse_bool, parse_duration, parse_positive_duration, split_query,
    unknown_parameter,
};
use crate::error::ConfigError;

/// The URL parameters this module reads itself.
const OWN_PARAMS: &[&str] = &[
    "connect_timeout_ms",
    "tcp_connect_timeout_ms",
    "read_timeout_ms",
    "write_timeout_ms",
    "reset_timeout_ms",
    "ssl",
    "require_ssl",
    "init",
    "program_name",
];

/// The URL parameters handed to the driver's own URL parser.
const DRIVER_PARAMS: &[&str] = &[
    "socket",
    "prefer_socket",
    "compress",
    "stmt_cache_size",
    "max_allowed_packet",
    "tcp_keepalive_time_ms",
    "tcp_keepalive_probe_interval_secs",
    "tcp_keepalive_probe_count",
    "tcp_user_timeout_ms",
    "secure_auth",
    "enable_cleartext_plugin",
    "server_key_path",
    "root_cert_path",
    "cert_chain_path",
    "priv_key_path",
    "cipher_suites",
    "danger_skip_domain_validation",
    "danger_accept_invalid_certs",
];

/// The driver's URL parameters for its own pool, which has no say here.
const DRIVER_POOL_PARAMS: &[&str] = &["pool_min", "pool_max", "reset_connection", "check_health"];

/// Parses a URL into a manager: see [`MySqlManager::from_url`].
pub(super) fn from_url(url: &str) -> Result<MySqlManager, ConfigError> {
    let form = "mysql://user:password@host:port/database?param=value (or mariadb://…)";
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("mysql") || scheme.eq_ignore_ascii_case("mariadb") =>
        {
            rest
        }
        Some((scheme, _)) if !scheme.contains(['@', ':', '/']) => {
            return Err(url_error(format!(
                "the scheme `{scheme}` is not accepted; use {form}"
            )));
        }
        _ => return Err(url_error(format!("this is not a MySQL URL; use {form}"))),
    };
    // Read as the URL standard (and the driver's parser) reads them, or refused before
    // anything else is read, so no part of a password can reach an error. The driver is given
    // the URL without them and the decoded user and password apart.
    let credentials = split_credentials(rest)?;
    let (location, query) = split_query(credentials.rest);
    let undecodable = |what: &str| {
        url_error(format!(
            "the {what} in the URL is not valid percent-encoded UTF-8"
        ))
    };
    let user = credentials
        .user
        .map(|user| decode(user, Plus::Literal).ok_or_else(|| undecodable("user")))
        .transpose()?
        .filter(|user| !user.is_empty());
    let pass = credentials
        .password
        .map(|pass| decode(pass, Plus::Literal).ok_or_else(|| undecodable("password")))
        .transpose()?
        .filter(|pass| !pass.is_empty());

    let mut driver_query: Vec<&str> = Vec::new();
    let mut own: Vec<(&'static str, String)> = Vec::new();
    let mut prefer_socket_given = false;
    for pair in pairs(query) {
        let key = pair
            .decode_key(Plus::Space)
            .ok_or_else(|| url_error("a parameter name is not valid percent-encoded UTF-8"))?;
        if let Some(name) = OWN_PARAMS.iter().copied().find(|name| *name == key) {
            own.push((name, pair.decode_value(Plus::Space)?));
        } else if DRIVER_PARAMS.contains(&key.as_str()) {
            prefer_socket_given |= key == "prefer_socket";
            driver_query.push(pair.pair);
        } else if DRIVER_POOL_PARAMS.contains(&key.as_str()) {
            return Err(url_error(format!(
                "`{key}` configures the mysql crate's own pool, which is not used here; size millpond's pool with pool_size and max_overflow"
            )));
        } else {
            return Err(unknown_parameter(&key, &[OWN_PARAMS, DRIVER_PARAMS]));
        }
    }
    if !prefer_socket_given {
        driver_query.push("prefer_socket=false");
    }
    let driver_url = format!("mysql://{location}?{}", driver_query.join("&"));
    let opts = Opts::from_url(&driver_url).map_err(|err| url_error(describe_url_error(&err, form)))?;
    let opts: Opts = OptsBuilder::from_opts(opts).user(user).pass(pass).into();

    // `new` turns prefer_socket off; the URL may have asked for it.
    let prefer = opts.get_prefer_socket();
    let mut manager = MySqlManager::new(opts).prefer_socket(prefer);
    for (name, value) in own {
        manager = apply_param(manager, name, &value)?;
    }
    Ok(manager)
}

/// Applies one of the parameters millpond reads itself.
fn apply_param(manager: MySqlManager, name: &'static str, value: &str) -> Result<MySqlManager, ConfigError> {
    Ok(match name {
        "connect_timeout_ms" | "tcp_connect_timeout_ms" => {
            manager.connect_timeout(parse_positive_duration("url", name, value, Unit::Millis)?)
        }
        "read_timeout_ms" => manager.read_timeout(parse_duration("url", name, value, Unit::Millis)?),
        "write_timeout_ms" => manager.write_timeout(parse_duration("url", name, value, Unit::Millis)?),
        "reset_timeout_ms" => {
            manager.reset_timeout(parse_positive_duration("url", name, value, Unit::Millis)?)
        }
        "ssl" | "require_ssl" => {
            let on = parse_bool("url", name, value)?;
            match (on, manager.opts.get_ssl_opts().is_some()) {
                (true, false) => manager.require_ssl(true),
                (false, true) => {
                    return Err(url_error(format!(
                        "{name}=false contradicts the TLS parameters (root_cert_path, cert_chain_path, …) also given"
                    )));
                }
                _ => manager,
            }
        }
        "init" => manager.init(non_empty(
            "url",
            name,
            value,
            "a statement to run on every new connection",
        )?),
        "program_name" => manager.program_name(value),
        _ => unreachable!("every name in OWN_PARAMS is handled"),
    })
}

fn url_error(message: impl Into<String>) -> ConfigError {
    ConfigError::new("url", message)
}

/// The driver's URL error in words that say what is accepted. None of its variants carries the
/// password (a parse error names only its kind).
fn describe_url_error(err: &::mysql::UrlError, form: &str) -> String {
    use ::mysql::UrlError;
    match err {
        UrlError::ParseError(err) => format!("the URL could not be parsed ({err}); use {form}"),
        UrlError::BadUrl => format!("the URL is incomplete (a host is required); use {form}"),
        UrlError::InvalidValue(param, value) => {
            format!("`{value}` is not accepted for the parameter {param}")
        }
        UrlError::UnknownParameter(param) => {
            format!("the parameter `{param}` is not accepted on this platform or build")
        }
        UrlError::FeatureRequired(feature, param) => {
            format!(
                "the parameter {param} needs the mysql crate's `{feature}` feature, which this build does not have"
            )
        }
        other => format!("{other}; use {form}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mysql::config::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESET_TIMEOUT, Timeouts};

    const SECRET: &str = "s3cr3t-Pa55";

    #[test]
    fn urls_set_the_parts_and_own_parameters() {
        let m = MySqlManager::from_url(&format!(
            "mysql://app:{SECRET}@db.example:3307/shop?connect_timeout_ms=1500&read_timeout_ms=0&write_timeout_ms=2500&reset_timeout_ms=700&init=SET%20time_zone%20%3D%20'%2B00:00'&init=SET+NAMES+utf8mb4&program_name=billing&compress=true"
        ))
        .unwrap();
        let o = m.opts();
        assert_eq!(o.get_ip_or_hostname(), "db.example");
        assert_eq!(o.get_tcp_port(), 3307);
        assert_eq!(o.get_user(), Some("app"));
        assert_eq!(o.get_pass(), Some(SECRET));
        assert_eq!(o.get_db_name(), Some("shop"));
        assert!(!o.get_prefer_socket(), "prefer_socket is off unless asked for");
        assert!(o.get_compress().is_some());
        assert!(
            o.get_read_timeout().is_none() && o.get_init().is_empty(),
            "kept by the manager"
        );
        assert_eq!(
            o.get_connect_attrs()
                .and_then(|a| a.get("program_name"))
                .map(String::as_str),
            Some("billing")
        );
        assert_eq!(m.connect_timeout, Duration::from_millis(1500));
        assert_eq!(
            m.timeouts,
            Timeouts {
                read: None,
                write: Some(Duration::from_millis(2500)),
                reset: Duration::from_millis(700)
            }
        );
        assert_eq!(m.init, ["SET time_zone = '+00:00'", "SET NAMES utf8mb4"]);

        let m = MySqlManager::from_url(
            "mariadb://root@127.0.0.1/test?prefer_socket=true&tcp_connect_timeout_ms=250",
        )
        .unwrap();
        assert!(m.opts().get_prefer_socket());
        assert_eq!(m.connect_timeout, Duration::from_millis(250));
        assert_eq!(m.opts().get_pass(), None);
        let m = MySqlManager::from_url("mysql://me%40corp:a%2Fb%40c%3F%23 &;=é@h/db").unwrap();
        assert_eq!(m.opts().get_user(), Some("me@corp"));
        assert_eq!(m.opts().get_pass(), Some("a/b@c?# &;=é"));
        assert_eq!(m.to_string(), "mysql://me@corp@h:3306/db");
        let m = MySqlManager::from_url("mysql://root@localhost/test?ssl=true").unwrap();
        assert!(m.opts().get_ssl_opts().is_some());
        let m = MySqlManager::from_url("mysql://root@localhost/test").unwrap();
        assert!(m.opts().get_ssl_opts().is_none());
        assert_eq!(m.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(m.timeouts.reset, DEFAULT_RESET_TIMEOUT);
    }

    #[test]
    fn bad_urls_say_what_is_accepted_and_never_repeat_the_password() {
        let cases: &[(&str, &str)] = &[
            ("mysql://u:{}@h/db?colour=blue", "`colour` is not accepted"),
            ("mysql://u:{}@h/db?colour=blue", "connect_timeout_ms"),
            ("mysql://u:{}@h/db?colour=blue", "prefer_socket"),
            ("mysql://u:{}@h/db?pool_max=3", "pool_size and max_overflow"),
            ("mysql://u:{}@h/db?connect_timeout_ms=0", "greater than zero"),
            (
                "mysql://u:{}@h/db?connect_timeout_ms=soon",
                "whole number of milliseconds",
            ),
            ("mysql://u:{}@h/db?ssl=maybe", "true or false"),
            (
                "mysql://u:{}@h/db?ssl=false&root_cert_path=/ca.pem",
                "contradicts",
            ),
            (
                "mysql://u:{}@h/db?prefer_socket=perhaps",
                "`perhaps` is not accepted for the parameter prefer_socket",
            ),
            ("mysql://u:{}@h:notaport/db", "could not be parsed"),
            ("mysql://u:{}@/db", "use mysql://"),
            ("postgres://u:{}@h/db", "scheme `postgres` is not accepted"),
            ("u:{}@h/db", "not a MySQL URL"),
            ("mysql://u:{}@h/db#frag", "`%23`"),
            ("mysql://u:p@{}@h/db", "`%40`"),
            ("mysql://u:12/{}@h/db", "`%2F`"),
            ("mysql://u:p?{}@h/db", "`%3F`"),
            ("mysql://u:{}%zz@h/db", "password in the URL is not valid"),
        ];
        for (template, expected) in cases {
            let url = template.replace("{}", SECRET);
            let err = MySqlManager::from_url(&url).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expected), "{url}: {text}");
            assert!(!text.contains(SECRET), "{url}: the password leaked: {text}");
            assert_eq!(err.option, "url");
        }
    }
}
