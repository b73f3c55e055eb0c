//! Keeping passwords out of `Debug` output and error messages.

#![cfg_attr(
    not(all(
        feature = "postgres",
        feature = "mysql",
        feature = "oracle",
        feature = "sqlite"
    )),
    allow(dead_code)
)]

use std::fmt;

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

/// Whether text taken from a URL looks like a parameter name or value (at most 40 letters,
/// digits, `_`, `-` and `.`), so that an error may quote it. Anything else may be part of a
/// password whose `?`, `&` or `=` was not percent-encoded, and is not shown.
pub(crate) fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether a URL parameter's value may be a secret (`password`, `sslpassword`, `pwd`,
/// `secret`, `sslkey`, `token`, …): its value is never shown. Errs towards hiding.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "pwd", "secret", "key", "token"]
        .iter()
        .any(|word| key.contains(word))
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

    #[test]
    fn only_plain_text_may_be_quoted() {
        for plain in ["sslmode", "verify-ca", "connect_timeout_ms", "1.5", "-5"] {
            assert!(is_plain(plain), "{plain}");
        }
        for hidden in ["", "s3cr3t@h/db", "pa ss", "a:b", "x%40y", &"a".repeat(41)] {
            assert!(!is_plain(hidden), "{hidden}");
        }
    }
}
