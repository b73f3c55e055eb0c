//! Parameter styles: SQL written with `?`, `%s`, `%(name)s` or `:name` placeholders is rewritten
//! for the database's own style (`?`, `$1` or `:1`), with the list of which parameter each
//! placeholder binds. Values are always bound, never spliced into the SQL.
//!
//! The scanner leaves alone quoted strings (`'…'`, `E'…'`), quoted identifiers (`"…"`,
//! `` `…` ``), comments (`-- …`, nested `/* … */`), PostgreSQL casts (`::int`) and dollar-quoted
//! bodies (`$$ … $$`, `$tag$ … $tag$`). Outside those, `%%` stands for one `%`, and a `%` that
//! starts no placeholder (the modulo operator) is kept as it is.

use std::collections::HashMap;
use std::fmt;

use super::value::Value;

/// How the rewritten SQL writes its placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Placeholder {
    /// `?`: JDBC, MySQL, SQLite, ODBC. One value per placeholder, in order.
    Question,
    /// `$1`, `$2`, …: PostgreSQL. A name used twice keeps its number, so its value is sent once.
    Dollar,
    /// `:1`, `:2`, …: Oracle. Oracle binds SQL placeholders by position, so a name used twice
    /// gets two numbers.
    Colon,
}

/// The parameter a placeholder binds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bind {
    /// The positional parameter at this index (from 0).
    Position(usize),
    /// The named parameter of this name.
    Name(String),
}

/// The placeholder style found in the SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Question,
    Format,
    PyFormat,
    Colon,
}

impl Style {
    fn describe(self) -> &'static str {
        match self {
            Style::Question => "positional `?`",
            Style::Format => "positional `%s`",
            Style::PyFormat => "named `%(name)s`",
            Style::Colon => "named `:name`",
        }
    }

    fn is_named(self) -> bool {
        matches!(self, Style::PyFormat | Style::Colon)
    }
}

/// SQL rewritten for one placeholder style, and what its placeholders bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    sql: String,
    binds: Vec<Bind>,
    style: Option<Style>,
}

impl Translated {
    /// The rewritten SQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// One entry per value to send, in order: for `?` and `:1` one per placeholder, for `$1`
    /// one per number.
    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }

    /// Whether the SQL uses named placeholders (`%(name)s` or `:name`).
    pub fn is_named(&self) -> bool {
        self.style.is_some_and(Style::is_named)
    }

    /// The values to send, in order, taken from `params`. Positional parameters must match the
    /// placeholders in number; named ones must include every name used (others are ignored, as
    /// a Python dict's extra keys are). Positional parameters for named placeholders, or the
    /// other way round, are an error, except that empty parameters suit SQL without any.
    pub fn values(&self, params: &Params) -> Result<Vec<Value>, ParamError> {
        match (params, self.style) {
            (Params::Positional(values), None) if values.is_empty() => Ok(Vec::new()),
            (Params::Named(_), None) => Ok(Vec::new()),
            (Params::Positional(values), None) => Err(ParamError::Count {
                expected: 0,
                given: values.len(),
            }),
            (Params::Positional(values), Some(style)) if !style.is_named() => {
                if values.len() != self.binds.len() {
                    return Err(ParamError::Count {
                        expected: self.binds.len(),
                        given: values.len(),
                    });
                }
                Ok(values.clone())
            }
            (Params::Named(pairs), Some(style)) if style.is_named() => {
                let by_name: HashMap<&str, &Value> = pairs.iter().map(|(k, v)| (k.as_str(), v)).collect();
                self.binds
                    .iter()
                    .map(|bind| match bind {
                        Bind::Name(name) => {
                            by_name.get(name.as_str()).map(|v| (*v).clone()).ok_or_else(|| {
                                ParamError::MissingName {
                                    name: name.clone(),
                                    given: pairs.iter().map(|(k, _)| k.clone()).collect(),
                                }
                            })
                        }
                        Bind::Position(_) => unreachable!("named SQL binds names only"),
                    })
                    .collect()
            }
            (Params::Positional(values), Some(style)) if values.is_empty() => Err(ParamError::KindMismatch {
                sql_style: style.describe(),
                given: "no parameters",
            }),
            (Params::Positional(_), Some(style)) => Err(ParamError::KindMismatch {
                sql_style: style.describe(),
                given: "positional parameters",
            }),
            (Params::Named(_), Some(style)) => Err(ParamError::KindMismatch {
                sql_style: style.describe(),
                given: "named parameters",
            }),
        }
    }
}

/// Parameters for one statement: positional (for `?` and `%s`) or named (for `%(name)s` and
/// `:name`).
///
/// ```
/// use millpond::sql::{Params, Value};
///
/// let none = Params::from(());
/// let positional = Params::from([Value::from(7), Value::from("pond")]);
/// let same_type = Params::from([1, 2, 3]);
/// let named = Params::named([("id", 7)]).and("name", "pond").and("note", None::<String>);
/// # let _ = (none, positional, same_type, named);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    /// Values in placeholder order.
    Positional(Vec<Value>),
    /// Values by name.
    Named(Vec<(String, Value)>),
}

impl Params {
    /// No parameters.
    pub fn none() -> Params {
        Params::Positional(Vec::new())
    }

    /// Named parameters from `(name, value)` pairs.
    pub fn named<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Params {
        Params::Named(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// These parameters and one more: a named one when they are named, else a positional one
    /// (the name is then ignored).
    pub fn and(mut self, name: impl Into<String>, value: impl Into<Value>) -> Params {
        match &mut self {
            Params::Positional(values) => values.push(value.into()),
            Params::Named(pairs) => pairs.push((name.into(), value.into())),
        }
        self
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Params::Positional(values) => values.len(),
            Params::Named(pairs) => pairs.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Params {
    fn default() -> Params {
        Params::none()
    }
}

impl From<()> for Params {
    fn from((): ()) -> Params {
        Params::none()
    }
}

impl From<Vec<Value>> for Params {
    fn from(values: Vec<Value>) -> Params {
        Params::Positional(values)
    }
}

impl From<&[Value]> for Params {
    fn from(values: &[Value]) -> Params {
        Params::Positional(values.to_vec())
    }
}

impl<V: Into<Value>, const N: usize> From<[V; N]> for Params {
    fn from(values: [V; N]) -> Params {
        Params::Positional(values.into_iter().map(Into::into).collect())
    }
}

impl From<Vec<(String, Value)>> for Params {
    fn from(pairs: Vec<(String, Value)>) -> Params {
        Params::Named(pairs)
    }
}

impl From<&Params> for Params {
    fn from(params: &Params) -> Params {
        params.clone()
    }
}

/// What was wrong with the placeholders or the parameters given for them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamError {
    /// The SQL uses two placeholder styles.
    MixedStyles {
        /// The style met first.
        first: &'static str,
        /// The other style.
        then: &'static str,
        /// The byte offset of the first placeholder of the other style.
        offset: usize,
    },
    /// A `%(` placeholder is not finished as `%(name)s`.
    Malformed {
        /// Its byte offset.
        offset: usize,
    },
    /// A name used in the SQL has no value.
    MissingName {
        /// The name.
        name: String,
        /// The names given.
        given: Vec<String>,
    },
    /// Positional parameters do not match the placeholders in number.
    Count {
        /// The number of placeholders.
        expected: usize,
        /// The number of values given.
        given: usize,
    },
    /// Positional values for named placeholders, or the other way round.
    KindMismatch {
        /// The style the SQL uses.
        sql_style: &'static str,
        /// What was given.
        given: &'static str,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::MixedStyles { first, then, offset } => write!(
                f,
                "the SQL mixes placeholder styles: {first} first, then {then} at byte {offset}; \
                 use one of `?`, `%s`, `%(name)s` or `:name` throughout (write `%%` for a literal `%`)"
            ),
            ParamError::Malformed { offset } => write!(
                f,
                "unfinished placeholder at byte {offset}: write `%(name)s`, or `%%` for a literal `%`"
            ),
            ParamError::MissingName { name, given } if given.is_empty() => {
                write!(
                    f,
                    "no value for parameter `{name}`: no named parameters were given"
                )
            }
            ParamError::MissingName { name, given } => write!(
                f,
                "no value for parameter `{name}`; the names given are {}",
                given.join(", ")
            ),
            ParamError::Count { expected, given } => write!(
                f,
                "the SQL has {expected} placeholder{} but {given} value{} {} given",
                if *expected == 1 { "" } else { "s" },
                if *given == 1 { "" } else { "s" },
                if *given == 1 { "was" } else { "were" },
            ),
            ParamError::KindMismatch { sql_style, given } => write!(
                f,
                "the SQL uses {sql_style} placeholders but {given} were given; give {}",
                if sql_style.starts_with("named") {
                    "named parameters (Params::named)"
                } else {
                    "positional parameters (a list of values)"
                }
            ),
        }
    }
}

impl std::error::Error for ParamError {}

/// Rewrites placeholders written with `?`, `%s`, `%(name)s` or `:name` for the database's own
/// style, leaving quoted strings, identifiers, comments, casts and dollar-quoted bodies alone;
/// [`translate`] is the short form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translator {
    placeholder: Placeholder,
    backslash_escapes: bool,
}

/// Rewrites `sql`'s placeholders as `placeholder` says, with the SQL-standard reading of
/// strings (a quote inside a string is doubled; a backslash escapes only in `E'…'`).
pub fn translate(sql: &str, placeholder: Placeholder) -> Result<Translated, ParamError> {
    Translator::new(placeholder).translate(sql)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl Translator {
    /// A translator to `placeholder`.
    pub fn new(placeholder: Placeholder) -> Translator {
        Translator {
            placeholder,
            backslash_escapes: false,
        }
    }

    /// Whether a backslash escapes the next character in every `'…'` string, as in MySQL and
    /// MariaDB by default. Off by default (a backslash escapes only inside `E'…'`).
    pub fn backslash_escapes(mut self, on: bool) -> Translator {
        self.backslash_escapes = on;
        self
    }

    /// Rewrites `sql`. Fails when the SQL mixes placeholder styles or has an unfinished
    /// `%(name)s`.
    pub fn translate(&self, sql: &str) -> Result<Translated, ParamError> {
        let bytes = sql.as_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(sql.len() + 8);
        let mut binds = Vec::new();
        let mut style: Option<Style> = None;
        let mut numbers: HashMap<String, usize> = HashMap::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            let prev = i.checked_sub(1).map(|p| bytes[p]);
            match c {
                b'\'' => {
                    let escapes = self.backslash_escapes
                        || (matches!(prev, Some(b'E' | b'e'))
                            && i.checked_sub(2).is_none_or(|p| !is_ident(bytes[p])));
                    let end = quoted_end(bytes, i, b'\'', escapes);
                    out.extend_from_slice(&bytes[i..end]);
                    i = end;
                }
                b'"' | b'`' => {
                    let end = quoted_end(bytes, i, c, false);
                    out.extend_from_slice(&bytes[i..end]);
                    i = end;
                }
                b'-' if next == Some(b'-') => {
                    let end = bytes[i..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len(), |p| i + p);
                    out.extend_from_slice(&bytes[i..end]);
                    i = end;
                }
                b'/' if next == Some(b'*') => {
                    let end = block_comment_end(bytes, i);
                    out.extend_from_slice(&bytes[i..end]);
                    i = end;
                }
                b'$' if !prev.is_some_and(is_ident) => {
                    let end = dollar_quoted_end(sql, i).unwrap_or(i + 1);
                    out.extend_from_slice(&bytes[i..end]);
                    i = end;
                }
                b'?' => {
                    check_style(&mut style, Style::Question, i)?;
                    self.emit_positional(&mut out, &mut binds);
                    i += 1;
                }
                b'%' if next == Some(b'%') => {
                    out.push(b'%');
                    i += 2;
                }
                b'%' if next == Some(b's') => {
                    check_style(&mut style, Style::Format, i)?;
                    self.emit_positional(&mut out, &mut binds);
                    i += 2;
                }
                b'%' if next == Some(b'(') => {
                    let close = bytes[i + 2..]
                        .iter()
                        .position(|&b| b == b')')
                        .map(|p| i + 2 + p)
                        .filter(|&close| close > i + 2 && bytes.get(close + 1) == Some(&b's'))
                        .ok_or(ParamError::Malformed { offset: i })?;
                    check_style(&mut style, Style::PyFormat, i)?;
                    self.emit_named(&mut out, &mut binds, &mut numbers, &sql[i + 2..close]);
                    i = close + 2;
                }
                b':' if next == Some(b':') => {
                    out.extend_from_slice(b"::");
                    i += 2;
                }
                b':' if next.is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && !prev.is_some_and(is_ident) =>
                {
                    let start = i + 1;
                    let end = bytes[start..]
                        .iter()
                        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                        .map_or(bytes.len(), |p| start + p);
                    check_style(&mut style, Style::Colon, i)?;
                    self.emit_named(&mut out, &mut binds, &mut numbers, &sql[start..end]);
                    i = end;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        // Only whole UTF-8 sequences were copied: every split point is an ASCII byte.
        let sql = String::from_utf8(out).expect("split at ASCII bytes only");
        Ok(Translated { sql, binds, style })
    }

    fn emit_positional(&self, out: &mut Vec<u8>, binds: &mut Vec<Bind>) {
        let index = binds.len();
        binds.push(Bind::Position(index));
        self.emit_number(out, index + 1);
    }

    fn emit_named(
        &self,
        out: &mut Vec<u8>,
        binds: &mut Vec<Bind>,
        numbers: &mut HashMap<String, usize>,
        name: &str,
    ) {
        if self.placeholder == Placeholder::Dollar
            && let Some(&number) = numbers.get(name)
        {
            self.emit_number(out, number);
            return;
        }
        binds.push(Bind::Name(name.to_owned()));
        let number = binds.len();
        numbers.insert(name.to_owned(), number);
        self.emit_number(out, number);
    }

    fn emit_number(&self, out: &mut Vec<u8>, number: usize) {
        match self.placeholder {
            Placeholder::Question => out.push(b'?'),
            Placeholder::Dollar => out.extend_from_slice(format!("${number}").as_bytes()),
            Placeholder::Colon => out.extend_from_slice(format!(":{number}").as_bytes()),
        }
    }
}

fn check_style(style: &mut Option<Style>, found: Style, offset: usize) -> Result<(), ParamError> {
    match *style {
        None => {
            *style = Some(found);
            Ok(())
        }
        Some(first) if first == found => Ok(()),
        Some(first) => Err(ParamError::MixedStyles {
            first: first.describe(),
            then: found.describe(),
            offset,
        }),
    }
}

/// The index just past the closing `quote` of the quoted text opening at `start` (a doubled
/// quote stays inside; so does an escaped one when `escapes`), or the end of the text.
fn quoted_end(bytes: &[u8], start: usize, quote: u8, escapes: bool) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if escapes => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past the `*/` closing the comment opening at `start`, nested comments
/// counted (as PostgreSQL does), or the end of the text.
pub(crate) fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// When `$` at `start` opens a dollar-quoted body (`$$` or `$tag$`, the tag not starting with
/// a digit), the index just past its closing tag (or the end of the text).
fn dollar_quoted_end(sql: &str, start: usize) -> Option<usize> {
    let bytes = sql.as_bytes();
    let tag_len = bytes[start + 1..]
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))?;
    let tag_end = start + 1 + tag_len;
    if bytes[tag_end] != b'$' || bytes.get(start + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let tag = &sql[start..=tag_end];
    let body = tag_end + 1;
    Some(sql[body..].find(tag).map_or(sql.len(), |p| body + p + tag.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(sql: &str) -> String {
        translate(sql, Placeholder::Question).unwrap().sql
    }

    #[test]
    fn styles_become_question_marks() {
        assert_eq!(q("SELECT ?, ?"), "SELECT ?, ?");
        assert_eq!(q("SELECT %s, %s"), "SELECT ?, ?");
        assert_eq!(q("SELECT %(a)s, %(b)s, %(a)s"), "SELECT ?, ?, ?");
        assert_eq!(q("SELECT :a, :b, :a"), "SELECT ?, ?, ?");
        let t = translate("SELECT :a, :b, :a", Placeholder::Question).unwrap();
        assert_eq!(
            t.binds(),
            [
                Bind::Name("a".into()),
                Bind::Name("b".into()),
                Bind::Name("a".into())
            ]
        );
    }

    #[test]
    fn dollar_reuses_numbers_and_colon_does_not() {
        let t = translate("SELECT :a, :b, :a", Placeholder::Dollar).unwrap();
        assert_eq!(t.sql(), "SELECT $1, $2, $1");
        assert_eq!(t.binds().len(), 2);
        let t = translate("SELECT %(a)s, %(a)s", Placeholder::Colon).unwrap();
        assert_eq!(t.sql(), "SELECT :1, :2");
        let t = translate("SELECT ?, ?", Placeholder::Dollar).unwrap();
        assert_eq!(t.sql(), "SELECT $1, $2");
    }

    #[test]
    fn quoted_text_comments_casts_and_dollar_bodies_are_left_alone() {
        let sql =
            "SELECT 'a?b:c%s', \"x?\", `y:z`, x::int, $$ ? :n $$, $t$ ? $t$ -- ? :c\n/* ? /* :n */ %s */ ?";
        let t = translate(sql, Placeholder::Question).unwrap();
        assert_eq!(t.sql(), sql);
        assert_eq!(t.binds(), [Bind::Position(0)]);
        // A backslash escapes in E'' strings, and everywhere when asked.
        assert_eq!(q(r"SELECT E'\'?', ?"), r"SELECT E'\'?', ?");
        assert_eq!(
            translate(r"SELECT E'\'?', ?", Placeholder::Question)
                .unwrap()
                .binds()
                .len(),
            1
        );
        let mysql = Translator::new(Placeholder::Question).backslash_escapes(true);
        assert_eq!(
            mysql.translate(r"SELECT 'it\'s ?', %s").unwrap().sql(),
            r"SELECT 'it\'s ?', ?"
        );
    }

    #[test]
    fn percent_and_colon_corner_cases() {
        assert_eq!(q("SELECT 7 %% 3, '%%', %s"), "SELECT 7 % 3, '%%', ?");
        assert_eq!(q("SELECT 7 % 3"), "SELECT 7 % 3");
        assert_eq!(q("SELECT a[lo:hi], x := 1, :1"), "SELECT a[lo:hi], x := 1, :1");
        assert_eq!(q("SELECT $1, a$b"), "SELECT $1, a$b");
        assert_eq!(q("SELECT 'é', :ñame"), "SELECT 'é', :ñame");
        assert_eq!(q("SELECT :é"), "SELECT :é");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = translate("SELECT ?, :a", Placeholder::Question).unwrap_err();
        assert_eq!(
            err,
            ParamError::MixedStyles {
                first: "positional `?`",
                then: "named `:name`",
                offset: 10
            }
        );
        assert!(err.to_string().contains("mixes placeholder styles"), "{err}");
        assert!(translate("SELECT %s, ?", Placeholder::Question).is_err());
        assert!(translate("SELECT %(a)s, :a", Placeholder::Question).is_err());
        assert_eq!(
            translate("SELECT %(a", Placeholder::Question),
            Err(ParamError::Malformed { offset: 7 })
        );
        assert!(translate("SELECT %()s", Placeholder::Question).is_err());
        assert!(translate("SELECT %(a)d", Placeholder::Question).is_err());
    }

    #[test]
    fn values_are_ordered_and_checked() {
        let t = translate("SELECT :b, :a, :b", Placeholder::Question).unwrap();
        let params = Params::named([("a", 1), ("b", 2), ("unused", 3)]);
        assert_eq!(
            t.values(&params).unwrap(),
            [Value::Int(2), Value::Int(1), Value::Int(2)]
        );
        let err = t.values(&Params::named([("a", 1)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no value for parameter `b`; the names given are a"
        );
        let err = t.values(&Params::from([1, 2, 3])).unwrap_err();
        assert!(matches!(err, ParamError::KindMismatch { .. }), "{err}");
        let t = translate("SELECT ?", Placeholder::Question).unwrap();
        let err = t.values(&Params::from([1, 2])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the SQL has 1 placeholder but 2 values were given"
        );
        assert!(t.values(&Params::named([("a", 1)])).is_err());
        assert!(t.values(&Params::none()).is_err());
        let t = translate("SELECT 1", Placeholder::Question).unwrap();
        assert_eq!(t.values(&Params::none()).unwrap(), []);
        assert!(t.values(&Params::from([1])).is_err());
    }
}
