//! [`Value`]: one SQL value of any type, and [`Row`]: a row of them with its column names.

use std::fmt;
use std::ops::Index;
use std::str::FromStr;
use std::sync::Arc;

mod datetime;

pub use datetime::{Date, Time, Timestamp, TimestampTz};

/// One SQL value, as read from a row or bound as a parameter.
///
/// Decimals are kept as text so that no digit is lost (`NUMERIC(38, 10)` does not fit an
/// `f64`); dates and times are plain structs, without a time zone unless the type has one
/// ([`TimestampTz`]). What each engine's column types become is listed in the documentation
/// of `millpond::any`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer of any width up to 64 bits.
    Int(i64),
    /// A floating-point number (`REAL`, `DOUBLE PRECISION`, `FLOAT`).
    Float(f64),
    /// An exact decimal number as plain text (`-12.3400`): every digit kept, no exponent.
    Decimal(String),
    /// Text.
    Text(String),
    /// Binary data.
    Bytes(Vec<u8>),
    /// A calendar date.
    Date(Date),
    /// A time of day.
    Time(Time),
    /// A date and time of day, without a time zone.
    Timestamp(Timestamp),
    /// A date and time of day at an offset from UTC (PostgreSQL's `timestamptz`, read in the
    /// session's time zone).
    TimestampTz(TimestampTz),
    /// An array (PostgreSQL's): its elements in order, `Null` for a NULL element; a
    /// multidimensional array is an array of arrays.
    Array(Vec<Value>),
}

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of the variant, for error messages (`"Int"`, `"Text"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::Float(_) => "Float",
            Value::Decimal(_) => "Decimal",
            Value::Text(_) => "Text",
            Value::Bytes(_) => "Bytes",
            Value::Date(_) => "Date",
            Value::Time(_) => "Time",
            Value::Timestamp(_) => "Timestamp",
            Value::TimestampTz(_) => "TimestampTz",
            Value::Array(_) => "Array",
        }
    }

    /// A decimal from its text, checked: an optional sign, digits, an optional point and
    /// digits (`-12.50`); no exponent, no spaces.
    pub fn decimal(text: impl Into<String>) -> Result<Value, ValueError> {
        let text = text.into();
        if is_decimal(&text) {
            Ok(Value::Decimal(text))
        } else {
            Err(ValueError::Invalid {
                target: "Decimal",
                reason: "expected digits with an optional sign and decimal point, such as -12.50".to_owned(),
            })
        }
    }

    /// The elements of an [`Array`](Value::Array); `None` for any other value.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Converts to `T` (see [`FromValue`]).
    pub fn get<T: FromValue>(&self) -> Result<T, ValueError> {
        T::from_value(self)
    }
}

fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    (!whole.is_empty() || !fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// SQL-ish text: `NULL`, `true`, `42`, `1.5`, `12.50`, `'text'` (quotes doubled), `x'0aff'`,
/// ISO dates and times (`2024-07-01 12:00:00+02:00`), `ARRAY[1, NULL]`. For logs and
/// messages; never spliced into SQL by this crate.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Decimal(d) => f.write_str(d),
            Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Bytes(bytes) => {
                f.write_str("x'")?;
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")
            }
            Value::Date(d) => write!(f, "{d}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Timestamp(ts) => write!(f, "{ts}"),
            Value::TimestampTz(ts) => write!(f, "{ts}"),
            Value::Array(items) => {
                f.write_str("ARRAY[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Int(i64::from(n))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f32> for Value {
    fn from(x: f32) -> Value {
        Value::Float(f64::from(x))
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Text(s.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Value {
        Value::Bytes(bytes)
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Value {
        Value::Bytes(bytes.to_vec())
    }
}

impl From<Date> for Value {
    fn from(d: Date) -> Value {
        Value::Date(d)
    }
}

impl From<Time> for Value {
    fn from(t: Time) -> Value {
        Value::Time(t)
    }
}

impl From<Timestamp> for Value {
    fn from(ts: Timestamp) -> Value {
        Value::Timestamp(ts)
    }
}

impl From<TimestampTz> for Value {
    fn from(ts: TimestampTz) -> Value {
        Value::TimestampTz(ts)
    }
}

/// An [`Array`](Value::Array).
impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Array(items)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Why a value could not be converted, or a column not found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// The value's type cannot become the type asked for.
    WrongType {
        /// The Rust type asked for.
        target: &'static str,
        /// The value's variant ([`Value::type_name`]).
        found: &'static str,
    },
    /// The value does not fit the type asked for (`300` as a `u8`).
    OutOfRange {
        /// The Rust type asked for.
        target: &'static str,
        /// The value, as text.
        value: String,
    },
    /// Text that should hold a date, time, timestamp or decimal does not.
    Invalid {
        /// What was being read.
        target: &'static str,
        /// What was wrong, and what is accepted.
        reason: String,
    },
    /// No column has this name.
    NoSuchColumn {
        /// The name asked for.
        name: String,
        /// The row's column names.
        columns: Vec<String>,
    },
    /// The index is past the last column.
    IndexOutOfBounds {
        /// The index asked for (from 0).
        index: usize,
        /// The number of columns.
        len: usize,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::WrongType { target, found } => {
                write!(f, "cannot convert a {found} value to {target}")
            }
            ValueError::OutOfRange { target, value } => write!(f, "{value} does not fit in {target}"),
            ValueError::Invalid { target, reason } => write!(f, "invalid {target}: {reason}"),
            ValueError::NoSuchColumn { name, columns } => {
                write!(
                    f,
                    "no column named `{name}`; the columns are {}",
                    columns.join(", ")
                )
            }
            ValueError::IndexOutOfBounds { index, len } => {
                write!(
                    f,
                    "column index {index} is out of range: the row has {len} columns (from 0)"
                )
            }
        }
    }
}

impl std::error::Error for ValueError {}

/// A Rust type a [`Value`] can be read as. `Option<T>` reads `NULL` as `None`; every other type
/// refuses `NULL`.
pub trait FromValue: Sized {
    /// Converts, or says why not.
    fn from_value(value: &Value) -> Result<Self, ValueError>;
}

fn wrong<T>(target: &'static str, value: &Value) -> Result<T, ValueError> {
    Err(ValueError::WrongType {
        target,
        found: value.type_name(),
    })
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        Ok(value.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Also `Int` 0 and 1, the booleans of databases without a boolean type.
impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        match value {
            Value::Bool(b) => Ok(*b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            other => wrong("bool", other),
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        /// From `Int`, and from a `Decimal` without a fraction (Oracle's `NUMBER`), when it fits.
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self, ValueError> {
                let out_of_range = || ValueError::OutOfRange {
                    target: stringify!($t),
                    value: value.to_string(),
                };
                match value {
                    Value::Int(n) => <$t>::try_from(*n).map_err(|_| out_of_range()),
                    Value::Decimal(d) => {
                        let whole = d.strip_suffix(|c| c == '.').unwrap_or(d);
                        let whole = match whole.split_once('.') {
                            Some((w, f)) if f.bytes().all(|b| b == b'0') => w,
                            Some(_) => return wrong(stringify!($t), value),
                            None => whole,
                        };
                        whole.parse::<$t>().map_err(|_| out_of_range())
                    }
                    other => wrong(stringify!($t), other),
                }
            }
        }
    )*};
}
int_from_value!(i8, i16, i32, i64, u8, u16, u32, u64, i128);

/// From `Float`, `Int` and `Decimal` (rounded to the nearest `f64`).
impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        match value {
            Value::Float(x) => Ok(*x),
            // Precision is lost past 2^53, as asked for by reading an f64.
            #[allow(clippy::cast_precision_loss)]
            Value::Int(n) => Ok(*n as f64),
            Value::Decimal(d) => f64::from_str(d).map_err(|_| ValueError::Invalid {
                target: "f64",
                reason: format!("`{d}` is not a number"),
            }),
            other => wrong("f64", other),
        }
    }
}

/// As `f64`, then narrowed.
impl FromValue for f32 {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        #[allow(clippy::cast_possible_truncation)]
        f64::from_value(value).map(|x| x as f32)
    }
}

/// From `Text`, and from `Decimal` (its digits).
impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        match value {
            Value::Text(s) | Value::Decimal(s) => Ok(s.clone()),
            other => wrong("String", other),
        }
    }
}

/// From `Bytes`, and from `Text` (its UTF-8 bytes).
impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        match value {
            Value::Bytes(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.clone().into_bytes()),
            other => wrong("Vec<u8>", other),
        }
    }
}

macro_rules! temporal_from_value {
    ($t:ident) => {
        /// From its own variant, and from ISO text (databases that keep dates as text).
        impl FromValue for $t {
            fn from_value(value: &Value) -> Result<Self, ValueError> {
                match value {
                    Value::$t(v) => Ok(*v),
                    Value::Text(s) => s.parse(),
                    other => wrong(stringify!($t), other),
                }
            }
        }
    };
}
temporal_from_value!(Date);
temporal_from_value!(Time);
temporal_from_value!(Timestamp);
temporal_from_value!(TimestampTz);

/// The elements of an `Array`; each converts on its own (`items[0].get::<i64>()`).
impl FromValue for Vec<Value> {
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        match value {
            Value::Array(items) => Ok(items.clone()),
            other => wrong("Vec<Value>", other),
        }
    }
}

/// What can name a column of a [`Row`]: its index from 0 (`usize`), or its name (`&str`).
pub trait ColumnIndex {
    /// The column's index in `columns`, or why there is none.
    fn index_in(&self, columns: &[String]) -> Result<usize, ValueError>;
}

impl ColumnIndex for usize {
    fn index_in(&self, columns: &[String]) -> Result<usize, ValueError> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(ValueError::IndexOutOfBounds {
                index: *self,
                len: columns.len(),
            })
        }
    }
}

/// The exact name first, then the name in any ASCII case: databases disagree on the case of
/// unquoted names (`ID` in H2 and Oracle, `id` in PostgreSQL).
impl ColumnIndex for &str {
    fn index_in(&self, columns: &[String]) -> Result<usize, ValueError> {
        columns
            .iter()
            .position(|c| c == self)
            .or_else(|| columns.iter().position(|c| c.eq_ignore_ascii_case(self)))
            .ok_or_else(|| ValueError::NoSuchColumn {
                name: (*self).to_owned(),
                columns: columns.to_vec(),
            })
    }
}

impl ColumnIndex for String {
    fn index_in(&self, columns: &[String]) -> Result<usize, ValueError> {
        self.as_str().index_in(columns)
    }
}

/// One row of a result: values by index and by column name. Rows of one result share their
/// column names.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row of `values` under `columns` (as many of each).
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Row {
        debug_assert_eq!(columns.len(), values.len(), "a row needs one value per column");
        Row { columns, values }
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, taken out of the row.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The value of a column, by index (from 0) or by name.
    pub fn value(&self, column: impl ColumnIndex) -> Result<&Value, ValueError> {
        Ok(&self.values[column.index_in(&self.columns)?])
    }

    /// The value of a column converted to `T`: `row.get::<i64>("id")`, `row.get::<Option<String>>(1)`.
    pub fn get<T: FromValue>(&self, column: impl ColumnIndex) -> Result<T, ValueError> {
        T::from_value(self.value(column)?)
    }
}

/// `row[0]`; panics past the last column.
impl Index<usize> for Row {
    type Output = Value;

    fn index(&self, index: usize) -> &Value {
        &self.values[index]
    }
}

/// `row["id"]`; panics when there is no such column.
impl Index<&str> for Row {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        match self.value(name) {
            Ok(v) => v,
            Err(err) => panic!("{err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_from_rust_types() {
        assert_eq!(Value::from(7u8), Value::Int(7));
        assert_eq!(Value::from(-7i64), Value::Int(-7));
        assert_eq!(Value::from(1.5f32), Value::Float(1.5));
        assert_eq!(Value::from("a"), Value::Text("a".into()));
        assert_eq!(Value::from(&b"\x00\xff"[..]), Value::Bytes(vec![0, 255]));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert_eq!(Value::from(Some(true)), Value::Bool(true));
        assert!(Value::decimal("-12.50").is_ok());
        assert!(Value::decimal(".5").is_ok());
        for bad in ["", "-", ".", "1e5", "1.2.3", " 1", "NaN"] {
            assert!(Value::decimal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conversions_to_rust_types() {
        assert_eq!(Value::Int(300).get::<i64>(), Ok(300));
        assert!(matches!(
            Value::Int(300).get::<u8>(),
            Err(ValueError::OutOfRange { .. })
        ));
        assert_eq!(Value::Decimal("42".into()).get::<i32>(), Ok(42));
        assert_eq!(Value::Decimal("42.000".into()).get::<i32>(), Ok(42));
        assert!(Value::Decimal("42.5".into()).get::<i32>().is_err());
        assert_eq!(Value::Decimal("2.5".into()).get::<f64>(), Ok(2.5));
        assert_eq!(Value::Int(1).get::<bool>(), Ok(true));
        assert_eq!(Value::Null.get::<Option<i64>>(), Ok(None));
        assert!(matches!(
            Value::Null.get::<i64>(),
            Err(ValueError::WrongType { found: "Null", .. })
        ));
        assert_eq!(
            Value::Text("2024-02-29".into()).get::<Date>(),
            Ok(Date::new(2024, 2, 29).unwrap())
        );
        assert_eq!(Value::Text("x".into()).get::<Vec<u8>>(), Ok(b"x".to_vec()));
    }

    #[test]
    fn rows_by_index_and_name() {
        let row = Row::new(
            Arc::from(vec!["ID".to_owned(), "name".to_owned()]),
            vec![Value::Int(1), Value::Text("pond".into())],
        );
        assert_eq!(row.get::<i64>(0), Ok(1));
        assert_eq!(row.get::<i64>("id"), Ok(1));
        assert_eq!(row.get::<String>("name"), Ok("pond".into()));
        assert_eq!(row["NAME"], Value::Text("pond".into()));
        assert_eq!(row[0], Value::Int(1));
        let err = row.value("nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no column named `nope`; the columns are ID, name"
        );
        assert!(matches!(
            row.value(2),
            Err(ValueError::IndexOutOfBounds { index: 2, len: 2 })
        ));
    }

    #[test]
    fn display_is_sql_like() {
        assert_eq!(Value::Text("it's".into()).to_string(), "'it''s'");
        assert_eq!(Value::Bytes(vec![0, 0xab]).to_string(), "x'00ab'");
        assert_eq!(Value::Float(1.0).to_string(), "1.0");
        assert_eq!(Value::Null.to_string(), "NULL");
        let array = Value::from(vec![Value::Int(1), Value::Null, "a".into()]);
        assert_eq!(array.to_string(), "ARRAY[1, NULL, 'a']");
        assert_eq!(Value::Array(Vec::new()).to_string(), "ARRAY[]");
    }

    #[test]
    fn arrays_and_offsets_convert() {
        let array = Value::Array(vec![Value::Int(1), Value::Null]);
        assert_eq!(array.as_array(), Some(&[Value::Int(1), Value::Null][..]));
        assert_eq!(array.get::<Vec<Value>>(), Ok(vec![Value::Int(1), Value::Null]));
        assert!(Value::Int(1).get::<Vec<Value>>().is_err());
        assert_eq!(Value::Int(1).as_array(), None);
        let ts: TimestampTz = "2024-07-01 12:00:00+02:00".parse().unwrap();
        assert_eq!(Value::from(ts).get::<TimestampTz>(), Ok(ts));
        assert_eq!(
            Value::Text("2024-07-01T12:00:00+02".into()).get::<TimestampTz>(),
            Ok(ts)
        );
        // A timestamp with an offset is not silently read as one without.
        assert!(Value::from(ts).get::<Timestamp>().is_err());
    }
}
