//! The one redactor: where a URL's credentials are, whether they can be told apart at all, and
//! what of a URL, a password or a secret parameter may be shown.
//!
//! A URL's user name and password are found as the URL standard (WHATWG) finds them: the
//! authority ends at the first `/`, `?` or `#` after `scheme://`, and the credentials run to the
//! last `@` in it. Where that reading and a driver's could differ, the URL is refused: an `@`
//! inside the credentials (PostgreSQL's parser splits at the first `@`, MySQL's at the last), an
//! `@` after the authority (a `/`, `?` or `#` in the password ended the authority early, and the
//! rest of the password would land in the host, path or query), or a `#`. The refusal says to
//! percent-encode and never shows the URL. Every backend's URL parser, the settings and the JDBC
//! backend call [`split_credentials`] or [`parse`], and every message shows a URL only through
//! [`redact_url`], which is built from those parts.

#![cfg_attr(
    not(all(
        feature = "postgres",
        feature = "mysql",
        feature = "oracle",
        feature = "sqlite",
        feature = "jdbc"
    )),
    allow(dead_code)
)]

use std::fmt;

use crate::backends::url::{Plus, decode};
use crate::error::ConfigError;

/// What the refusal of an ambiguous URL says. It names characters, never the URL's text.
pub(crate) const AMBIGUOUS: &str = "the URL does not say unambiguously where its password ends \
    (an `@` in the user name or password, an `@` after the host, or a `#`): percent-encode \
    them in the user name and password (`@` as `%40`, `/` as `%2F`, `?` as `%3F`, `#` as `%23`, \
    `%` as `%25`), and `@` or `#` elsewhere too";

/// What `Debug` shows in place of a password: `***`, or an empty string when there is none to
/// hide.
pub(crate) fn redacted(password: &str) -> &'static str {
    if password.is_empty() { "" } else { "***" }
}

/// A password, which `Debug` shows as `"***"`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(password: impl Into<String>) -> Self {
        Secret(password.into())
    }

    /// The password itself, for the driver.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(redacted(&self.0), f)
    }
}

/// Whether a URL parameter's value may be a secret (`password`, `sslpassword`, `pwd`,
/// `secret`, `sslkey`, `token`, …): its value is never shown. Errs towards hiding.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "pwd", "secret", "key", "token"]
        .iter()
        .any(|word| key.contains(word))
}

fn ambiguous() -> ConfigError {
    ConfigError::new("url", AMBIGUOUS)
}

/// The user name and password of a URL, as written (still percent-encoded), and what follows
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credentials<'a> {
    /// `None` when the URL has no credentials (no `@`); may be empty (`:pw@`, `@host`).
    pub(crate) user: Option<&'a str>,
    /// `None` when the credentials have no password separator.
    pub(crate) password: Option<&'a str>,
    /// Host, port, path and query: everything after the credentials' `@`.
    pub(crate) rest: &'a str,
}

/// Splits what follows `scheme://` into credentials and the rest, as the URL standard does
/// (see the module's documentation), refusing what could be read two ways.
pub(crate) fn split_credentials(after_scheme: &str) -> Result<Credentials<'_>, ConfigError> {
    let authority_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let (authority, after) = after_scheme.split_at(authority_end);
    if after.contains(['@', '#']) {
        return Err(ambiguous());
    }
    let Some(at) = authority.rfind('@') else {
        return Ok(Credentials {
            user: None,
            password: None,
            rest: after_scheme,
        });
    };
    let userinfo = &authority[..at];
    if userinfo.contains('@') {
        return Err(ambiguous());
    }
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    Ok(Credentials {
        user: Some(user),
        password,
        rest: &after_scheme[at + 1..],
    })
}

/// Where a URL keeps its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `scheme://user:password@host…`, and JDBC's `jdbc:sub://…` and `jdbc:sub:word://…`.
    Authority,
    /// Oracle's `jdbc:oracle:thin:user/password@connect-string`.
    OracleThin,
    /// No place for credentials (`sqlite:…`, `jdbc:h2:mem:…`): only parameters may hold one.
    None,
}

/// The part of `url` before its credentials (`postgres://`, `jdbc:mysql://`,
/// `jdbc:oracle:thin:`), and the form of what follows. A scheme that is not plain text is no
/// scheme: the head is then empty.
fn head(url: &str) -> (&str, Form) {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_'))
    };
    if url.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("jdbc:")) {
        let after = &url[5..];
        let Some(colon) = after.find(':') else {
            return ("", Form::None);
        };
        let sub = &after[..colon];
        if !plain(sub) {
            return ("", Form::None);
        }
        let body_start = 5 + colon + 1;
        let body = &url[body_start..];
        for thin in ["thin:", "oci:", "oci8:"] {
            if sub.eq_ignore_ascii_case("oracle")
                && body
                    .get(..thin.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(thin))
            {
                return (&url[..body_start + thin.len()], Form::OracleThin);
            }
        }
        if body.starts_with("//") {
            return (&url[..body_start + 2], Form::Authority);
        }
        // `jdbc:h2:tcp://…`: a word, then `://`.
        if let Some(sep) = body.find("://")
            && plain(&body[..sep])
        {
            return (&url[..body_start + sep + 3], Form::Authority);
        }
        return (&url[..body_start], Form::None);
    }
    match url.find("://") {
        Some(sep) if plain(&url[..sep]) => (&url[..sep + 3], Form::Authority),
        _ => ("", Form::None),
    }
}

/// A URL split at its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    /// What precedes the credentials (`postgres://`, `jdbc:oracle:thin:`); empty when the URL
    /// has no scheme.
    pub(crate) head: &'a str,
    /// Between user and password: `:`, or `/` in Oracle's thin form.
    separator: char,
    pub(crate) credentials: Credentials<'a>,
}

/// Splits any URL millpond reads (a backend's, a settings URL, a JDBC URL) at its credentials,
/// refusing one whose credentials could be read two ways ([`AMBIGUOUS`]).
pub(crate) fn parse(url: &str) -> Result<Parsed<'_>, ConfigError> {
    let (head, form) = head(url);
    let body = &url[head.len()..];
    let (separator, credentials) = match form {
        Form::Authority => (':', split_credentials(body)?),
        Form::OracleThin => ('/', split_oracle_thin(body)?),
        Form::None => (
            ':',
            Credentials {
                user: None,
                password: None,
                rest: body,
            },
        ),
    };
    Ok(Parsed {
        head,
        separator,
        credentials,
    })
}

/// `user/password@connect-string`: the credentials end at the only `@` (a second one leaves it
/// unclear which ends them; the password may be given apart instead).
fn split_oracle_thin(body: &str) -> Result<Credentials<'_>, ConfigError> {
    let Some(at) = body.find('@') else {
        return Ok(Credentials {
            user: None,
            password: None,
            rest: body,
        });
    };
    if body[at + 1..].contains('@') {
        return Err(ambiguous());
    }
    let creds = &body[..at];
    let (user, password) = match creds.split_once('/') {
        Some((user, password)) => (user, Some(password)),
        None => (creds, None),
    };
    Ok(Credentials {
        user: Some(user),
        password,
        rest: &body[at + 1..],
    })
}

/// Refuses a URL whose credentials could be read two ways.
pub(crate) fn check_url(url: &str) -> Result<(), ConfigError> {
    parse(url).map(|_| ())
}

/// `url` as messages may show it, built from its parts: the password as `***`, the values of
/// parameters that may hold one (`password=`, `sslkey=`, `PWD=`, …) as `***`. A URL whose
/// credentials cannot be told apart shows only its scheme (`postgres://…`), and so does one
/// with an `@` where this module knows of no credentials (`jdbc:db2:…`, text with no scheme:
/// `…`).
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(parsed) = parse(url) else {
        return format!("{}…", head(url).0);
    };
    let Credentials { user, password, rest } = parsed.credentials;
    if user.is_none() && rest.contains('@') {
        // No place for credentials that we know of, yet an `@`: a driver may read one there.
        return format!("{}…", parsed.head);
    }
    let mut out = parsed.head.to_owned();
    if let Some(user) = user {
        out.push_str(user);
        if password.is_some() {
            out.push(parsed.separator);
            out.push_str("***");
        }
        out.push('@');
    }
    out.push_str(&redact_parameters(rest));
    out
}

/// `key=value` pairs whose key names a secret: the value, up to the next `&`, `;` or `)`, as
/// `***`. Keys are the letters, digits, `_`, `.` and `-` before an `=`, in a query (`?a=b&c=d`),
/// a JDBC property list (`;user=u;password=p`) or an Oracle descriptor (`(PASSWORD=p)`).
fn redact_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let key_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .map_or(0, |p| p + 1);
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        let value_end = after.find(['&', ';', ')']).unwrap_or(after.len());
        if is_secret_key(&before[key_start..]) && value_end > 0 {
            out.push_str("***");
            rest = &after[value_end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Every form in which `url` holds a password: its credentials' password and the values of
/// secret parameters, as written and percent-decoded, longest first. For scrubbing text a
/// driver wrote (a driver may quote a URL it parsed in its own way).
pub(crate) fn secrets_in(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut add = |raw: &str| {
        if raw.is_empty() {
            return;
        }
        found.push(raw.to_owned());
        for plus in [Plus::Literal, Plus::Space] {
            if let Some(text) = decode(raw, plus) {
                found.push(text);
            }
        }
    };
    let rest = match parse(url) {
        Ok(parsed) => {
            if let Some(password) = parsed.credentials.password {
                add(password);
            }
            parsed.credentials.rest
        }
        Err(_) => url,
    };
    let mut text = rest;
    while let Some(eq) = text.find('=') {
        let (before, after) = text.split_at(eq);
        let key_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .map_or(0, |p| p + 1);
        let after = &after[1..];
        let value_end = after.find(['&', ';', ')']).unwrap_or(after.len());
        if is_secret_key(&before[key_start..]) {
            add(&after[..value_end]);
        }
        text = after;
    }
    found.retain(|s| !s.is_empty());
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_show_as_stars_unless_empty() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "\"***\"");
        assert_eq!(format!("{:?}", Secret::new("")), "\"\"");
        assert_eq!(Secret::new("hunter2").expose(), "hunter2");
        assert_eq!(format!("{:?}", Some(redacted("pw"))), "Some(\"***\")");
    }

    fn creds(s: &str) -> (Option<&str>, Option<&str>, &str) {
        let c = split_credentials(s).unwrap();
        (c.user, c.password, c.rest)
    }

    #[test]
    fn credentials_are_split_as_the_url_standard_does() {
        assert_eq!(creds("u:p@h/db"), (Some("u"), Some("p"), "h/db"));
        assert_eq!(creds("u@h:5432"), (Some("u"), None, "h:5432"));
        assert_eq!(creds("u:p:q@h"), (Some("u"), Some("p:q"), "h"));
        assert_eq!(creds(":p@h"), (Some(""), Some("p"), "h"));
        assert_eq!(creds("@//h/s"), (Some(""), None, "//h/s"));
        assert_eq!(creds("u:p@//h/s"), (Some("u"), Some("p"), "//h/s"));
        assert_eq!(creds("h:5432/db?a=b"), (None, None, "h:5432/db?a=b"));
        assert_eq!(
            creds("u:a b&c;=é@[::1]:1,h/db"),
            (Some("u"), Some("a b&c;=é"), "[::1]:1,h/db")
        );
        assert_eq!(creds("u:p%40s%2Fs@h/d"), (Some("u"), Some("p%40s%2Fs"), "h/d"));
    }

    #[test]
    fn ambiguous_credentials_are_refused_without_quoting_them() {
        for url in [
            "u:p@s3cr3t@h/db",   // `@` in the password: first or last?
            "u:123/s3cr3t@h/db", // `/` ends the authority: `s3cr3t@h` would be the path
            "u:pa?s3cr3t@h/db",  // `?`: `s3cr3t@h/db` would be the query
            "u:pa#s3cr3t@h/db",  // `#`: a fragment
            "u:pa/s3cr3t@x@h/db",
            "h/db?user=s3cr3t@corp", // a query value with `@`: may be the tail of a password
            "h/db#s3cr3t",
        ] {
            let err = split_credentials(url).unwrap_err();
            assert_eq!(err.message, AMBIGUOUS, "{url}");
            assert!(err.message.contains("`%40`") && err.message.contains("`%2F`"));
            assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{url}: {err}");
        }
    }

    #[test]
    fn every_form_of_url_is_split_at_its_credentials() {
        let p = parse("jdbc:oracle:thin:scott/ti/ger@//h:1521/s").unwrap();
        assert_eq!(p.head, "jdbc:oracle:thin:");
        assert_eq!(p.credentials.user, Some("scott"));
        assert_eq!(p.credentials.password, Some("ti/ger"));
        assert_eq!(p.credentials.rest, "//h:1521/s");
        assert!(parse("jdbc:oracle:thin:scott/p@ss@//h/s").is_err());
        assert!(parse("jdbc:mysql://u:p?x@h/db").is_err());
        assert!(parse("jdbc:h2:tcp://u:p@ss@h/db").is_err());
        let p = parse("jdbc:h2:mem:t;PASSWORD=x").unwrap();
        assert_eq!(p.head, "jdbc:h2:");
        assert_eq!(p.credentials.user, None);
        assert!(check_url("sqlite:///tmp/a.db?mode=ro").is_ok());
        assert!(check_url("mysql://u:p/q@h/db").is_err());
    }

    #[test]
    fn urls_are_shown_with_every_password_hidden() {
        for (url, shown) in [
            (
                "postgres://u:s3cr3t@h/db?password=s3cr3t&sslmode=disable&sslkey=/k",
                "postgres://u:***@h/db?password=***&sslmode=disable&sslkey=***",
            ),
            ("postgres://u:a b&c;=é@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("oracle://u:p@//h:1521/s", "oracle://u:***@//h:1521/s"),
            (
                "jdbc:postgresql://h:5432/db?user=u&password=s3cr3t&ssl=true",
                "jdbc:postgresql://h:5432/db?user=u&password=***&ssl=true",
            ),
            ("jdbc:mysql://u:s3;cr3t@h:3306/db", "jdbc:mysql://u:***@h:3306/db"),
            (
                "jdbc:oracle:thin:scott/s3/cr3t@//h:1521/svc",
                "jdbc:oracle:thin:scott/***@//h:1521/svc",
            ),
            ("jdbc:oracle:thin:@//h:1521/svc", "jdbc:oracle:thin:@//h:1521/svc"),
            (
                "jdbc:h2:mem:t;PASSWORD=s3cr3t;MODE=MySQL",
                "jdbc:h2:mem:t;PASSWORD=***;MODE=MySQL",
            ),
            (
                "jdbc:sqlserver://h;user=u;pwd=s3cr3t",
                "jdbc:sqlserver://h;user=u;pwd=***",
            ),
            (
                "jdbc:h2:tcp://h:1/db;PASSWORD=x",
                "jdbc:h2:tcp://h:1/db;PASSWORD=***",
            ),
            ("sqlite:///tmp/a.db", "sqlite:///tmp/a.db"),
            ("jdbc:sqlite::memory:", "jdbc:sqlite::memory:"),
            // Refused: only the scheme.
            ("postgres://u:p@ss@h/db", "postgres://…"),
            ("mysql://u:12/ab@h/db", "mysql://…"),
            ("jdbc:mysql://u:p?x@h/db", "jdbc:mysql://…"),
            ("jdbc:oracle:thin:u/p@ss@//h/s", "jdbc:oracle:thin:…"),
            // No scheme, an `@`: nothing.
            ("u:s3cr3t@h/db", "…"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn the_secrets_a_url_holds_are_found_raw_and_decoded() {
        assert_eq!(
            secrets_in("jdbc:mysql://u:p%40ss@h/db?trustStorePassword=t+w"),
            ["p%40ss", "p@ss", "t+w", "t w"]
        );
        assert_eq!(secrets_in("jdbc:oracle:thin:u/pw@//h/s"), ["pw"]);
        assert!(secrets_in("jdbc:h2:mem:x").is_empty());
    }
}
