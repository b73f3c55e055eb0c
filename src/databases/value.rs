//! [`SettingValue`]: one value of a DATABASES tree, whatever it was read from.

use std::collections::BTreeMap;
use std::fmt;

/// A value in a DATABASES tree: what a TOML file, the environment or code gives.
///
/// Numbers and booleans may also be given as text (`"10"`, `"true"`), as environment variables
/// and URLs always give them. Its `Debug` shows text values as `"…"` so a password in a tree
/// cannot reach a log line.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum SettingValue {
    /// No value: an optional duration or size turned off (`RECYCLE = None` in Python).
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction (durations in seconds may have one).
    Float(f64),
    /// Text.
    Str(String),
    /// A table: the whole DATABASES, one alias, its OPTIONS or its POOL_OPTIONS.
    Table(BTreeMap<String, SettingValue>),
}

impl fmt::Debug for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Null => f.write_str("Null"),
            SettingValue::Bool(b) => write!(f, "Bool({b})"),
            SettingValue::Int(n) => write!(f, "Int({n})"),
            SettingValue::Float(x) => write!(f, "Float({x})"),
            SettingValue::Str(_) => f.write_str("Str(\"…\")"),
            SettingValue::Table(table) => f.debug_map().entries(table.iter()).finish(),
        }
    }
}

impl SettingValue {
    /// A table from `(key, value)` pairs.
    pub fn table<K: Into<String>, V: Into<SettingValue>>(entries: impl IntoIterator<Item = (K, V)>) -> Self {
        SettingValue::Table(entries.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// What kind of value this is, for error messages (never the value itself).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SettingValue::Null => "nothing",
            SettingValue::Bool(_) => "a boolean",
            SettingValue::Int(_) => "a whole number",
            SettingValue::Float(_) => "a number",
            SettingValue::Str(_) => "text",
            SettingValue::Table(_) => "a table",
        }
    }
}

macro_rules! from_int {
    ($($ty:ty),*) => {$(
        impl From<$ty> for SettingValue {
            fn from(n: $ty) -> Self {
                SettingValue::Int(i64::from(n))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<usize> for SettingValue {
    fn from(n: usize) -> Self {
        SettingValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<f64> for SettingValue {
    fn from(x: f64) -> Self {
        SettingValue::Float(x)
    }
}

impl From<bool> for SettingValue {
    fn from(b: bool) -> Self {
        SettingValue::Bool(b)
    }
}

impl From<&str> for SettingValue {
    fn from(s: &str) -> Self {
        SettingValue::Str(s.to_owned())
    }
}

impl From<String> for SettingValue {
    fn from(s: String) -> Self {
        SettingValue::Str(s)
    }
}

impl<T: Into<SettingValue>> From<Option<T>> for SettingValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(SettingValue::Null, Into::into)
    }
}

impl From<BTreeMap<String, SettingValue>> for SettingValue {
    fn from(table: BTreeMap<String, SettingValue>) -> Self {
        SettingValue::Table(table)
    }
}
