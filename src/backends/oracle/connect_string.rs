//! Connect strings: their kind, the Easy Connect host and port check, and the connect timeout.

use std::fmt::Write as _;
use std::time::Duration;

use super::URL_FORMS;
use crate::error::ConfigError;

/// What a connect string is, for applying a connect timeout to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `(DESCRIPTION=…)`.
    Descriptor,
    /// `//host:port/service`, `host:port/service`, `host/service`, `tcps://host…`.
    EasyConnect,
    /// A single word: a net service name from `tnsnames.ora` (or a host name, which Oracle
    /// may resolve by host naming; write `//host` to mean Easy Connect).
    Alias,
}

fn target_kind(connect_string: &str) -> Target {
    let s = connect_string.trim();
    if s.starts_with('(') {
        Target::Descriptor
    } else if s.contains(['/', ':', '[', ',', ';', '?']) {
        Target::EasyConnect
    } else {
        Target::Alias
    }
}

/// `connect_string` with the connect timeout applied (see
/// [`OracleManager::effective_connect_string`]).
pub(super) fn with_connect_timeout(
    connect_string: &str,
    timeout: Option<Duration>,
) -> Result<String, ConfigError> {
    let Some(timeout) = timeout else {
        return Ok(connect_string.to_owned());
    };
    let secs = timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0))
        .max(1);
    let cs = connect_string.trim();
    match target_kind(cs) {
        Target::EasyConnect => {
            let sep = if cs.contains('?') { '&' } else { '?' };
            Ok(format!("{cs}{sep}connect_timeout={secs}"))
        }
        Target::Descriptor => add_descriptor_timeout(cs, secs).ok_or_else(|| {
            ConfigError::new(
                "connect_timeout",
                "the connect descriptor has no (DESCRIPTION=…) to add (CONNECT_TIMEOUT=…) to",
            )
        }),
        Target::Alias => Err(ConfigError::new(
            "connect_timeout",
            format!(
                "cannot be applied to the net service name `{cs}`: set CONNECT_TIMEOUT in its tnsnames.ora entry, or use Easy Connect (//host:port/service, or //{cs} for a host)"
            ),
        )),
    }
}

/// Checks the host and port of an Easy Connect string with one host; leaves the rest to Oracle.
pub(super) fn check_connect_string(cs: &str) -> Result<(), ConfigError> {
    if target_kind(cs) != Target::EasyConnect {
        return Ok(());
    }
    let cs = cs.trim();
    let s = match cs.find("://") {
        Some(i) => &cs[i + 3..],
        None => cs.strip_prefix("//").unwrap_or(cs),
    };
    if s.contains([',', ';']) {
        return Ok(()); // several hosts: Oracle's syntax, Oracle's checks
    }
    let host_port = s.split(['/', '?']).next().unwrap_or("");
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => {
                return Err(ConfigError::new(
                    "url",
                    "an IPv6 address in `[` has no closing `]`",
                ));
            }
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(ConfigError::new(
            "url",
            format!("the connect string `{cs}` names no host; use {URL_FORMS}"),
        ));
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(ConfigError::new(
            "url",
            format!("port `{port}` is not accepted; use a number from 1 to 65535 (or leave it out for 1521)"),
        ));
    }
    Ok(())
}

/// Adds `(CONNECT_TIMEOUT=secs)` inside every `(DESCRIPTION=` of a descriptor.
fn add_descriptor_timeout(descriptor: &str, secs: u64) -> Option<String> {
    let upper = descriptor.to_ascii_uppercase();
    let mut out = String::with_capacity(descriptor.len() + 24);
    let mut copied = 0;
    let mut found = false;
    let mut search = 0;
    while let Some(pos) = upper[search..].find("(DESCRIPTION").map(|p| p + search) {
        let after = pos + "(DESCRIPTION".len();
        search = after;
        let rest = &upper[after..];
        let spaces = rest.len() - rest.trim_start().len();
        if rest[spaces..].starts_with('=') {
            let insert_at = after + spaces + 1;
            out.push_str(&descriptor[copied..insert_at]);
            let _ = write!(out, "(CONNECT_TIMEOUT={secs})");
            copied = insert_at;
            found = true;
        }
    }
    out.push_str(&descriptor[copied..]);
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::OracleManager;

    #[test]
    fn the_longest_connect_timeout_is_a_number_of_seconds() {
        let m = OracleManager::new("u", "p", "//h:1521/s").connect_timeout(Duration::MAX);
        assert_eq!(
            m.effective_connect_string().unwrap(),
            format!("//h:1521/s?connect_timeout={}", u64::MAX)
        );
    }

    #[test]
    fn connect_timeout_goes_into_the_connect_string() {
        let m = OracleManager::new("u", "p", "//h:1521/s").connect_timeout(Duration::from_millis(2500));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "//h:1521/s?connect_timeout=3"
        );
        let m = OracleManager::new("u", "p", "tcps://h:2484/s?ssl_server_dn_match=on")
            .connect_timeout(Duration::from_millis(10));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "tcps://h:2484/s?ssl_server_dn_match=on&connect_timeout=1"
        );
        let m = OracleManager::new(
            "u",
            "p",
            "(description = (address=(protocol=tcp)(host=h)(port=1521))(connect_data=(service_name=s)))",
        )
        .connect_timeout(Duration::from_secs(4));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "(description =(CONNECT_TIMEOUT=4) (address=(protocol=tcp)(host=h)(port=1521))(connect_data=(service_name=s)))"
        );
        let m = OracleManager::new(
            "u",
            "p",
            "(DESCRIPTION_LIST=(DESCRIPTION=(ADDRESS=(HOST=a)))(DESCRIPTION=(ADDRESS=(HOST=b))))",
        )
        .connect_timeout(Duration::from_secs(1));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "(DESCRIPTION_LIST=(DESCRIPTION=(CONNECT_TIMEOUT=1)(ADDRESS=(HOST=a)))(DESCRIPTION=(CONNECT_TIMEOUT=1)(ADDRESS=(HOST=b))))"
        );
        // A net service name cannot take one: said at once by from_url, at connect otherwise.
        let err = OracleManager::from_url("oracle://u:p@ORCL?connect_timeout=5").unwrap_err();
        assert_eq!(err.option, "connect_timeout");
        assert!(
            err.message.contains("tnsnames.ora") && err.message.contains("//ORCL"),
            "{err}"
        );
        let m = OracleManager::new("u", "p", "ORCL").connect_timeout(Duration::from_secs(5));
        assert!(m.effective_connect_string().is_err());
        assert_eq!(
            OracleManager::new("u", "p", "ORCL")
                .effective_connect_string()
                .unwrap(),
            "ORCL"
        );
    }
}
