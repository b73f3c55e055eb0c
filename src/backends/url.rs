//! The URL pieces the backends share: percent-decoding, query pairs, parameter values and their errors.

#![cfg_attr(
    not(all(
        feature = "postgres",
        feature = "mysql",
        feature = "oracle",
        feature = "sqlite"
    )),
    allow(dead_code)
)]

use std::str::FromStr;
use std::time::Duration;

use crate::error::ConfigError;

/// What a `+` stands for when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plus {
    /// A plus sign, as in a URL's user name, password and path (and libpq's query values).
    Literal,
    /// A space, as in form encoding (how the mysql driver and Oracle read query values).
    Space,
}

/// Decodes `%XX` escapes (and `+` as `plus` says) to bytes. `None` when an escape is not `%`
/// followed by two hexadecimal digits.
pub(crate) fn decode_bytes(s: &str, plus: Plus) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
                let (high, low) = (hex(i + 1)?, hex(i + 2)?);
                out.push(u8::try_from(high * 16 + low).ok()?);
                i += 3;
            }
            b'+' if plus == Plus::Space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Decodes `%XX` escapes (and `+` as `plus` says) to text. `None` on a malformed escape or a
/// result that is not UTF-8.
pub(crate) fn decode(s: &str, plus: Plus) -> Option<String> {
    decode_bytes(s, plus).and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Splits at the first `?`: what comes before, and the query (empty when there is none).
pub(crate) fn split_query(s: &str) -> (&str, &str) {
    s.split_once('?').unwrap_or((s, ""))
}

/// One `key=value` pair of a query string, as written (still percent-encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair<'a> {
    /// The whole pair, for handing on to a driver's own URL parser.
    pub(crate) pair: &'a str,
    pub(crate) key: &'a str,
    /// Empty when the pair has no `=`.
    pub(crate) value: &'a str,
}

impl Pair<'_> {
    /// The key, percent-decoded; `None` when it is not valid percent-encoded UTF-8.
    pub(crate) fn decode_key(&self, plus: Plus) -> Option<String> {
        decode(self.key, plus)
    }

    /// The value, percent-decoded, or an error that names the key (when it looks like one).
    pub(crate) fn decode_value(&self, plus: Plus) -> Result<String, ConfigError> {
        decode(self.value, plus).ok_or_else(|| {
            let key = decode(self.key, plus).unwrap_or_default();
            let whose = if is_plain(&key) {
                format!("the value of `{key}`")
            } else {
                "a query parameter's value".to_owned()
            };
            ConfigError::new("url", format!("{whose} is not valid percent-encoded UTF-8"))
        })
    }
}

/// The `key=value` pairs of a query string (`a=1&b=2`), empty pairs skipped.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = Pair<'_>> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        Pair { pair, key, value }
    })
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
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

/// The error for a value that is not accepted: ``key `value` is not accepted; use …``. The
/// value is quoted only when it looks like one (see [`is_plain`]); `option` is the option the
/// error names (`url` for a query parameter).
pub(crate) fn not_accepted(option: &'static str, key: &str, value: &str, accepted: &str) -> ConfigError {
    let message = if value.is_empty() {
        format!("`{key}` is empty; use {accepted}")
    } else if is_plain(value) {
        format!("{key} `{value}` is not accepted; use {accepted}")
    } else {
        format!("the {key} given is not accepted; use {accepted}")
    };
    ConfigError::new(option, message)
}

/// The error for a query parameter nobody reads. It names the key when the key looks like one
/// (text after an unencoded `&` in a query value must not end up in a message), suggests the
/// accepted name it is closest to ([`did_you_mean`]), and lists the accepted parameters, from
/// one or more lists. The error remembers the key and the list, so settings can say where the
/// key was written and add the pool options to what is accepted.
pub(crate) fn unknown_parameter(key: &str, accepted: &[&'static [&'static str]]) -> ConfigError {
    let names: Vec<&'static str> = accepted.iter().flat_map(|names| names.iter().copied()).collect();
    if !is_plain(key) {
        return ConfigError::new(
            "url",
            format!(
                "a query parameter is not accepted (if the password holds `?`, `@`, `/` or `#`, \
                 percent-encode them); the accepted ones are {}",
                list(&names)
            ),
        );
    }
    ConfigError::new(
        "url",
        format!(
            "query parameter `{key}` is not accepted{}; the accepted ones are {}",
            did_you_mean(key, names.iter().copied()),
            list(&names)
        ),
    )
    .with_unknown(key, names)
}

/// ` (did you mean `name`?)` for the name in `names` closest to `given`, when it is close
/// enough to be what was meant; else nothing. Case is ignored (`SSLMODE` suggests `sslmode`),
/// and so are names equal to `given`.
pub(crate) fn did_you_mean<'n>(given: &str, names: impl IntoIterator<Item = &'n str>) -> String {
    closest(given, names)
        .map(|name| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default()
}

/// The name in `names` closest to `given` by edit distance (ignoring case), when the distance
/// is small for its length: one edit up to 5 characters, two up to 9, three beyond. The first
/// of equally close names wins.
pub(crate) fn closest<'n>(given: &str, names: impl IntoIterator<Item = &'n str>) -> Option<&'n str> {
    let given_lower = given.to_lowercase();
    let allowed = match given.chars().count() {
        0 => return None,
        1..=5 => 1,
        6..=9 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'n str)> = None;
    for name in names {
        if name == given {
            continue;
        }
        let distance = edit_distance(&given_lower, &name.to_lowercase());
        if distance <= allowed && best.is_none_or(|(shortest, _)| distance < shortest) {
            best = Some((distance, name));
        }
    }
    best.map(|(_, name)| name)
}

/// The number of insertions, deletions, substitutions and swaps of two neighbours that turn
/// `a` into `b` (the optimal string alignment distance), by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the table: two back, one back, and the one being filled.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// `true`, `1`, `on` or `yes`, or `false`, `0`, `off` or `no`, in any case.
pub(crate) fn parse_bool(option: &'static str, key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Ok(true),
        "false" | "0" | "off" | "no" => Ok(false),
        _ => Err(not_accepted(option, key, value, "true or false")),
    }
}

/// A number, or an error saying `accepted`.
pub(crate) fn parse_number<T: FromStr>(
    option: &'static str,
    key: &str,
    value: &str,
    accepted: &str,
) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| not_accepted(option, key, value, accepted))
}

/// The unit of a duration parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Seconds,
    Millis,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Millis => "milliseconds",
        }
    }

    fn duration(self, n: u64) -> Duration {
        match self {
            Unit::Seconds => Duration::from_secs(n),
            Unit::Millis => Duration::from_millis(n),
        }
    }
}

/// A duration in whole `unit`s, where 0 means none (`None`).
pub(crate) fn parse_duration(
    option: &'static str,
    key: &str,
    value: &str,
    unit: Unit,
) -> Result<Option<Duration>, ConfigError> {
    let accepted = format!("a whole number of {} (0 for none)", unit.name());
    let n: u64 = parse_number(option, key, value, &accepted)?;
    Ok((n > 0).then(|| unit.duration(n)))
}

/// A duration in whole `unit`s, greater than zero.
pub(crate) fn parse_positive_duration(
    option: &'static str,
    key: &str,
    value: &str,
    unit: Unit,
) -> Result<Duration, ConfigError> {
    let accepted = format!("a whole number of {} greater than zero", unit.name());
    match parse_number(option, key, value, &accepted)? {
        0 => Err(not_accepted(option, key, value, &accepted)),
        n => Ok(unit.duration(n)),
    }
}

/// `value`, unless it is empty or blank: then an error asking for `what`.
pub(crate) fn non_empty<'v>(
    option: &'static str,
    key: &str,
    value: &'v str,
    what: &str,
) -> Result<&'v str, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::new(
            option,
            format!("`{key}` is empty; give it {what}"),
        ))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_text_may_be_quoted() {
        for plain in ["sslmode", "verify-ca", "connect_timeout_ms", "1.5", "-5"] {
            assert!(is_plain(plain), "{plain}");
        }
        for hidden in ["", "s3cr3t@h/db", "pa ss", "a:b", "x%40y", &"a".repeat(41)] {
            assert!(!is_plain(hidden), "{hidden}");
        }
    }

    #[test]
    fn decoding_escapes_and_plus() {
        assert_eq!(decode("a%2Fb+c", Plus::Literal).as_deref(), Some("a/b+c"));
        assert_eq!(decode("a%20b+c%2B", Plus::Space).as_deref(), Some("a b c+"));
        assert_eq!(decode("%e2%82%AC", Plus::Literal).as_deref(), Some("€"));
        for bad in ["%zz", "%2", "%", "%+1", "%-1", "a%2g"] {
            assert_eq!(decode(bad, Plus::Space), None, "{bad}");
        }
        // Bytes need not be UTF-8; text must be.
        assert_eq!(decode_bytes("%FF%00", Plus::Literal), Some(vec![0xFF, 0]));
        assert_eq!(decode("%FF", Plus::Literal), None);
    }

    #[test]
    fn queries_split_into_pairs() {
        assert_eq!(split_query("h/db?a=1&b"), ("h/db", "a=1&b"));
        assert_eq!(split_query("h/db"), ("h/db", ""));
        assert_eq!(split_query("h?a=?"), ("h", "a=?"));
        let pairs: Vec<_> = pairs("a=1&&b&c=x=y&").collect();
        let seen: Vec<_> = pairs.iter().map(|p| (p.pair, p.key, p.value)).collect();
        assert_eq!(seen, [("a=1", "a", "1"), ("b", "b", ""), ("c=x=y", "c", "x=y")]);
        assert_eq!(super::pairs("").count(), 0);
        let p = super::pairs("init=SET+x%3D1").next().unwrap();
        assert_eq!(p.decode_value(Plus::Space).unwrap(), "SET x=1");
        assert_eq!(p.decode_key(Plus::Space).as_deref(), Some("init"));
    }

    #[test]
    fn bad_encoding_names_the_key_only_when_plain() {
        let err = pairs("init=%zz")
            .next()
            .unwrap()
            .decode_value(Plus::Space)
            .unwrap_err();
        assert_eq!(err.option, "url");
        assert!(err.message.contains("`init`"), "{err}");
        let err = pairs("s3cr3t@h/db=%zz")
            .next()
            .unwrap()
            .decode_value(Plus::Space)
            .unwrap_err();
        assert!(!err.message.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn values_are_parsed_or_refused_saying_what_is_accepted() {
        assert!(parse_bool("url", "wal", "ON").unwrap());
        assert!(!parse_bool("url", "wal", "no").unwrap());
        let err = parse_bool("url", "wal", "maybe").unwrap_err();
        assert_eq!(err.message, "wal `maybe` is not accepted; use true or false");
        assert_eq!(parse_number::<u32>("url", "n", "50", "a count").unwrap(), 50);
        let err = parse_number::<u32>("url", "n", "-1", "a count").unwrap_err();
        assert_eq!(err.message, "n `-1` is not accepted; use a count");

        assert_eq!(
            parse_duration("url", "t", "3", Unit::Seconds).unwrap(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_duration("url", "t", "250", Unit::Millis).unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("url", "t", "0", Unit::Millis).unwrap(), None);
        let err = parse_duration("connect_timeout", "connect_timeout", "soon", Unit::Seconds).unwrap_err();
        assert_eq!(err.option, "connect_timeout");
        assert!(
            err.message.contains("`soon`") && err.message.contains("whole number of seconds (0 for none)"),
            "{err}"
        );
        assert_eq!(
            parse_positive_duration("url", "t", "7", Unit::Millis).unwrap(),
            Duration::from_millis(7)
        );
        let err = parse_positive_duration("url", "t_ms", "0", Unit::Millis).unwrap_err();
        assert!(err.message.contains("greater than zero"), "{err}");
    }

    #[test]
    fn refused_values_never_quote_what_may_be_a_password() {
        let err = not_accepted("url", "ssl", "s3cr3t@h/db", "true or false");
        assert_eq!(err.message, "the ssl given is not accepted; use true or false");
        let err = not_accepted("url", "mode", "", "ro, rw or rwc");
        assert_eq!(err.message, "`mode` is empty; use ro, rw or rwc");
        assert!(non_empty("url", "init", " ", "an SQL statement").is_err());
        assert_eq!(
            non_empty("url", "init", "SELECT 1", "an SQL statement").unwrap(),
            "SELECT 1"
        );
    }

    #[test]
    fn unknown_parameters_list_the_accepted_ones() {
        let err = unknown_parameter("colour", &[&["a", "b"], &["c"]]);
        assert_eq!(err.option, "url");
        assert_eq!(
            err.message,
            "query parameter `colour` is not accepted; the accepted ones are a, b and c"
        );
        let err = unknown_parameter("s3cr3t@h/db", &[&["a"]]);
        assert!(!err.message.contains("s3cr3t"), "{err}");
        assert!(err.message.ends_with("the accepted ones are a"), "{err}");
        assert!(
            err.unknown_parameter().is_none(),
            "a key that may not be quoted is not kept"
        );
        assert_eq!(list(&[]), "");
        assert_eq!(list(&["a", "b"]), "a and b");
    }

    #[test]
    fn a_near_miss_is_suggested_and_remembered() {
        let err = unknown_parameter("sslmod", &[&["sslmode", "sslrootcert"], &["host"]]);
        assert_eq!(
            err.message,
            "query parameter `sslmod` is not accepted (did you mean `sslmode`?); the accepted ones \
             are sslmode, sslrootcert and host"
        );
        let unknown = err.unknown_parameter().unwrap();
        assert_eq!(unknown.key, "sslmod");
        assert_eq!(unknown.accepted, ["sslmode", "sslrootcert", "host"]);
    }

    #[test]
    fn the_closest_name_is_a_likely_typo_or_none() {
        let names = ["pool_size", "max_overflow", "timeout", "sslmode", "wal"];
        for (given, expected) in [
            ("pool_sise", Some("pool_size")),
            ("POOL_SIZ", Some("pool_size")),
            ("pool_szie", Some("pool_size")),
            ("maxoverflow", Some("max_overflow")),
            ("SSLMODE", Some("sslmode")),
            ("timeuot", Some("timeout")),
            ("wall", Some("wal")),
            ("colour", None),
            ("size", None),
            ("", None),
            ("pool_size", None),
        ] {
            assert_eq!(closest(given, names), expected, "{given}");
        }
        assert_eq!(did_you_mean("tmeout", names), " (did you mean `timeout`?)");
        assert_eq!(did_you_mean("x", names), "");
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ca", "ac"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }
}
