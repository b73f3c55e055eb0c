//! Parameters: each [`Value`] sent in the binary form of the type the server inferred for it
//! where there is an exact one, else as text for the server to read with the type's own input
//! (what psql and psycopg do), else refused.

use std::fmt::Write;

use bytes::{BufMut, BytesMut};
use postgres::types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};

use super::calendar::{micros_of_day, pg_date_text, pg_days, pg_micros, pg_timestamp_text};
use super::{BoxError, base_type, numeric};
use crate::sql::Value;

/// The deepest array PostgreSQL keeps (`MAXDIM`).
const MAX_DIMENSIONS: usize = 6;

/// A parameter, encoded for whatever type the server wants.
#[derive(Debug)]
pub(super) struct PgParam<'a>(pub(super) &'a Value);

/// How a value goes to a parameter of some type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Null,
    /// The type's binary form.
    Binary,
    /// Text, read by the server with the type's input function.
    Text,
    /// Neither: an error that names both.
    Refused,
}

/// Types whose binary form is their text: any value with a text form can go to them.
pub(super) fn is_text_like(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || matches!(ty.kind(), Kind::Enum(_))
        || ty.name() == "citext"
}

fn encoding(value: &Value, ty: &Type) -> Encoding {
    let ty = base_type(ty);
    match value {
        Value::Null => Encoding::Null,
        // Whatever the type: the server reads it as psql would read a quoted literal, and says
        // what is wrong with it.
        Value::Text(_) => Encoding::Text,
        Value::Array(items) => match ty.kind() {
            Kind::Array(element) if depth(items) <= MAX_DIMENSIONS => {
                if leaves(items).all(|item| binary_element(item, element)) {
                    Encoding::Binary
                } else if leaves(items).all(|item| text_element(item, element)) {
                    Encoding::Text
                } else {
                    Encoding::Refused
                }
            }
            _ => Encoding::Refused,
        },
        scalar if has_binary(scalar, ty) => Encoding::Binary,
        scalar if has_text(scalar, ty) => Encoding::Text,
        _ => Encoding::Refused,
    }
}

/// Whether `value` (not NULL, not Text, not an array) has an exact binary form for `ty`.
fn has_binary(value: &Value, ty: &Type) -> bool {
    match (value, ty) {
        (Value::Bytes(_), ty) => *ty == Type::BYTEA,
        (_, ty) if is_text_like(ty) => true,
        (Value::Bool(_), &Type::BOOL) => true,
        (Value::Int(_), &(Type::INT2 | Type::INT4 | Type::INT8 | Type::OID)) => true,
        // When it is whole (`42.000`): checked as it is written.
        (Value::Decimal(_), &(Type::INT2 | Type::INT4 | Type::INT8)) => true,
        (Value::Int(_) | Value::Decimal(_), &(Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC)) => true,
        (Value::Float(_), &(Type::FLOAT4 | Type::FLOAT8)) => true,
        (Value::Float(x), &Type::NUMERIC) => x.is_finite(),
        (Value::Date(_), &(Type::DATE | Type::TIMESTAMP)) => true,
        (Value::Time(_), &Type::TIME) => true,
        (Value::Timestamp(_), &Type::TIMESTAMP) => true,
        (Value::TimestampTz(_), &Type::TIMESTAMPTZ) => true,
        _ => false,
    }
}

/// Whether `value` (not NULL, not Text, not an array) goes to `ty` as its text, for the
/// server to read: where the server's reading is the right one, and no binary form is.
fn has_text(value: &Value, ty: &Type) -> bool {
    matches!(
        (value, ty),
        // In the session's time zone, as the server reads a timestamp without an offset.
        (Value::Timestamp(_) | Value::Date(_), &Type::TIMESTAMPTZ)
            | (Value::Time(_), &Type::TIMETZ)
            // The scale of money is the server's locale's.
            | (Value::Int(_) | Value::Decimal(_), &Type::MONEY)
            // NaN and ±Infinity, which numeric's binary form has but this encoder does not write.
            | (Value::Float(_), &Type::NUMERIC)
    )
}

fn binary_element(item: &Value, element: &Type) -> bool {
    match item {
        Value::Null => true,
        Value::Text(_) => {
            let element = base_type(element);
            is_text_like(element) || *element == Type::JSON || *element == Type::JSONB
        }
        item => has_binary(item, base_type(element)),
    }
}

fn text_element(item: &Value, element: &Type) -> bool {
    match item {
        Value::Null | Value::Text(_) => true,
        item => has_binary(item, base_type(element)) || has_text(item, base_type(element)),
    }
}

/// How deeply arrays nest in `items` (1 for a flat array), counted no further than one past
/// the deepest PostgreSQL keeps.
fn depth(items: &[Value]) -> usize {
    fn within(items: &[Value], level: usize) -> usize {
        if level > MAX_DIMENSIONS {
            return level;
        }
        items
            .iter()
            .filter_map(Value::as_array)
            .map(|inner| within(inner, level + 1))
            .max()
            .unwrap_or(level)
    }
    within(items, 1)
}

/// The values of an array that are not themselves arrays, in order (for nesting no deeper
/// than [`MAX_DIMENSIONS`], which [`depth`] checks first).
fn leaves(items: &[Value]) -> Box<dyn Iterator<Item = &Value> + '_> {
    Box::new(
        items
            .iter()
            .flat_map(|item| -> Box<dyn Iterator<Item = &Value> + '_> {
                match item {
                    Value::Array(inner) => leaves(inner),
                    leaf => Box::new(std::iter::once(leaf)),
                }
            }),
    )
}

fn refused(value: &Value, ty: &Type) -> BoxError {
    format!(
        "a {} value cannot be sent as PostgreSQL type {ty}; send it as Text for the server to read",
        value.type_name()
    )
    .into()
}

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match encoding(self.0, ty) {
            Encoding::Null => return Ok(IsNull::Yes),
            Encoding::Binary => write_binary(self.0, ty, out)?,
            Encoding::Text => out.extend_from_slice(input_text(self.0)?.as_bytes()),
            Encoding::Refused => return Err(refused(self.0, ty)),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match encoding(self.0, ty) {
            Encoding::Text => Format::Text,
            _ => Format::Binary,
        }
    }

    to_sql_checked!();
}

/// Writes `value` in the binary form of `ty`, which [`encoding`] said it has.
fn write_binary(value: &Value, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    let ty = base_type(ty);
    match (value, ty) {
        (Value::Array(items), ty) => match ty.kind() {
            Kind::Array(element) => write_array(items, element, out)?,
            _ => return Err(refused(value, ty)),
        },
        (Value::Text(s), &Type::JSONB) => {
            out.put_u8(1);
            out.extend_from_slice(s.as_bytes());
        }
        (Value::Text(s), _) => out.extend_from_slice(s.as_bytes()),
        (value, ty) if is_text_like(ty) => out.extend_from_slice(input_text(value)?.as_bytes()),
        (Value::Bool(b), _) => out.put_u8(u8::from(*b)),
        (Value::Int(n), &Type::INT2) => out.put_i16(i16::try_from(*n).map_err(|_| out_of_range(*n, ty))?),
        (Value::Int(n), &Type::INT4) => out.put_i32(i32::try_from(*n).map_err(|_| out_of_range(*n, ty))?),
        (Value::Int(n), &Type::INT8) => out.put_i64(*n),
        (Value::Int(n), &Type::OID) => out.put_u32(u32::try_from(*n).map_err(|_| out_of_range(*n, ty))?),
        // Rounded to the nearest, as the server casts an integer to a float.
        #[allow(clippy::cast_precision_loss)]
        (Value::Int(n), &Type::FLOAT4) => out.put_f32(*n as f32),
        #[allow(clippy::cast_precision_loss)]
        (Value::Int(n), &Type::FLOAT8) => out.put_f64(*n as f64),
        (Value::Int(n), _) => numeric::encode(&n.to_string(), out)?,
        #[allow(clippy::cast_possible_truncation)]
        (Value::Float(x), &Type::FLOAT4) => out.put_f32(*x as f32),
        (Value::Float(x), &Type::FLOAT8) => out.put_f64(*x),
        // The shortest decimal that reads back as the same float, as the server prints it.
        (Value::Float(x), _) => numeric::encode(&format!("{x}"), out)?,
        (Value::Decimal(d), &(Type::INT2 | Type::INT4 | Type::INT8)) => {
            let n = value
                .get::<i64>()
                .map_err(|_| format!("{d} is not a whole number that fits PostgreSQL type {ty}"))?;
            return write_binary(&Value::Int(n), ty, out);
        }
        (Value::Decimal(d), &Type::FLOAT4) => out.put_f32(d.trim().parse()?),
        (Value::Decimal(d), &Type::FLOAT8) => out.put_f64(d.trim().parse()?),
        (Value::Decimal(d), _) => numeric::encode(d, out)?,
        (Value::Bytes(bytes), _) => out.extend_from_slice(bytes),
        (Value::Date(d), &Type::DATE) => {
            out.put_i32(i32::try_from(pg_days(*d)).map_err(|_| format!("the date {d} is out of range"))?);
        }
        (Value::Date(d), _) => {
            let midnight = pg_days(*d).checked_mul(super::calendar::MICROS_PER_DAY);
            out.put_i64(midnight.ok_or_else(|| format!("the date {d} is out of range"))?);
        }
        (Value::Time(t), _) => out.put_i64(micros_of_day(*t)),
        (Value::Timestamp(ts), _) => {
            out.put_i64(pg_micros(*ts).ok_or_else(|| format!("the timestamp {ts} is out of range"))?);
        }
        (Value::TimestampTz(ts), _) => {
            let utc = pg_micros(ts.timestamp)
                .and_then(|local| local.checked_sub(i64::from(ts.offset_seconds) * 1_000_000));
            out.put_i64(utc.ok_or_else(|| format!("the timestamp {ts} is out of range"))?);
        }
        (value, ty) => return Err(refused(value, ty)),
    }
    Ok(())
}

fn out_of_range(n: i64, ty: &Type) -> BoxError {
    format!("{n} is out of range for PostgreSQL type {ty}").into()
}

/// An array in its binary form: dimensions, whether any element is NULL, the element type,
/// each dimension's length and lower bound (1), then every element, each after its length.
fn write_array(items: &[Value], element: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
    let dimensions = shape(items)?;
    let dimensions = if dimensions.contains(&0) {
        Vec::new()
    } else {
        dimensions
    };
    out.put_i32(i32::try_from(dimensions.len())?);
    let has_null = leaves(items).any(Value::is_null);
    out.put_i32(i32::from(has_null));
    out.put_u32(element.oid());
    for length in &dimensions {
        out.put_i32(*length);
        out.put_i32(1);
    }
    if dimensions.is_empty() {
        return Ok(());
    }
    for item in leaves(items) {
        if item.is_null() {
            out.put_i32(-1);
            continue;
        }
        let at = out.len();
        out.put_i32(0);
        write_binary(item, element, out)?;
        let length = i32::try_from(out.len() - at - 4)?;
        out[at..at + 4].copy_from_slice(&length.to_be_bytes());
    }
    Ok(())
}

/// The lengths of an array's dimensions: its own, then its sub-arrays' (which must agree).
fn shape(items: &[Value]) -> Result<Vec<i32>, BoxError> {
    let mut inner: Option<Vec<i32>> = None;
    let mut single = false;
    for item in items {
        match item {
            Value::Array(sub) => {
                let sub = shape(sub)?;
                match &inner {
                    Some(seen) if *seen != sub => {
                        return Err(
                            "the sub-arrays of a multidimensional array must all have the same lengths"
                                .into(),
                        );
                    }
                    _ => inner = Some(sub),
                }
            }
            _ => single = true,
        }
    }
    if single && inner.is_some() {
        return Err("an array holds both arrays and single values; a multidimensional array holds only sub-arrays of the same lengths".into());
    }
    let mut dimensions = vec![i32::try_from(items.len())?];
    dimensions.extend(inner.unwrap_or_default());
    Ok(dimensions)
}

/// The text the server reads as `value` with the input function of any type that takes it:
/// `true`, `42`, `1.5`, `NaN`, `\x00ff`, `0044-03-15 BC`, `{1,NULL,"a b"}`.
pub(super) fn input_text(value: &Value) -> Result<String, BoxError> {
    Ok(match value {
        Value::Null => "NULL".to_owned(),
        Value::Text(s) | Value::Decimal(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) if x.is_nan() => "NaN".to_owned(),
        Value::Float(x) if x.is_infinite() => if *x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned(),
        Value::Float(x) => x.to_string(),
        Value::Bytes(bytes) => {
            let mut text = String::with_capacity(2 + 2 * bytes.len());
            text.push_str("\\x");
            for b in bytes {
                let _ = write!(text, "{b:02x}");
            }
            text
        }
        Value::Date(d) => pg_date_text(*d),
        // Nanoseconds as given: the server rounds them to microseconds.
        Value::Time(t) => t.to_string(),
        Value::Timestamp(ts) => pg_micros(*ts)
            .and_then(|micros| pg_timestamp_text(micros, None))
            .ok_or_else(|| format!("the timestamp {ts} is out of range"))?,
        Value::TimestampTz(ts) => pg_micros(ts.timestamp)
            .and_then(|micros| pg_timestamp_text(micros, None))
            .map(|text| with_offset(&text, ts.offset_seconds))
            .ok_or_else(|| format!("the timestamp {ts} is out of range"))?,
        Value::Array(items) => {
            if depth(items) > MAX_DIMENSIONS {
                return Err(
                    format!("arrays nest deeper than PostgreSQL's {MAX_DIMENSIONS} dimensions").into(),
                );
            }
            array_input(items)?
        }
    })
}

/// A timestamp's text with its offset (`+02:00`, `+05:53:28`) before its era, if it has one.
fn with_offset(text: &str, offset_seconds: i32) -> String {
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let offset = offset_seconds.unsigned_abs();
    let mut offset_text = format!("{sign}{:02}:{:02}", offset / 3600, offset / 60 % 60);
    let seconds = offset % 60;
    if seconds != 0 {
        let _ = write!(offset_text, ":{seconds:02}");
    }
    match text.strip_suffix(" BC") {
        Some(stamp) => format!("{stamp}{offset_text} BC"),
        None => format!("{text}{offset_text}"),
    }
}

/// An array literal: every element quoted, `"` and `\` escaped, NULL bare, sub-arrays nested.
fn array_input(items: &[Value]) -> Result<String, BoxError> {
    let mut text = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        match item {
            Value::Null => text.push_str("NULL"),
            Value::Array(inner) => text.push_str(&array_input(inner)?),
            item => {
                text.push('"');
                for c in input_text(item)?.chars() {
                    if c == '"' || c == '\\' {
                        text.push('\\');
                    }
                    text.push(c);
                }
                text.push('"');
            }
        }
    }
    text.push('}');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{Date, TimestampTz};

    fn encoded(value: &Value, ty: &Type) -> Result<(Format, Vec<u8>), String> {
        let param = PgParam(value);
        let format = param.encode_format(ty);
        let mut out = BytesMut::new();
        match param.to_sql(ty, &mut out) {
            Ok(IsNull::Yes) => Ok((format, b"NULL".to_vec())),
            Ok(IsNull::No) => Ok((format, out.to_vec())),
            Err(err) => Err(err.to_string()),
        }
    }

    fn text(value: &Value, ty: &Type) -> String {
        match encoded(value, ty) {
            Ok((Format::Text, bytes)) => String::from_utf8(bytes).unwrap(),
            other => panic!("{value} as {ty}: {other:?}"),
        }
    }

    fn binary(value: &Value, ty: &Type) -> Vec<u8> {
        match encoded(value, ty) {
            Ok((Format::Binary, bytes)) => bytes,
            other => panic!("{value} as {ty}: {other:?}"),
        }
    }

    #[test]
    fn text_goes_as_text_to_every_type() {
        for ty in [
            Type::INT4,
            Type::DATE,
            Type::UUID,
            Type::INET,
            Type::INTERVAL,
            Type::JSONB,
            Type::INT4_ARRAY,
            Type::BYTEA,
        ] {
            assert_eq!(text(&Value::Text("abc".into()), &ty), "abc", "{ty}");
        }
    }

    #[test]
    fn typed_values_go_in_binary_where_exact() {
        assert_eq!(binary(&Value::Int(7), &Type::INT2), [0, 7]);
        assert_eq!(binary(&Value::Int(-1), &Type::INT8), [0xff; 8]);
        assert_eq!(binary(&Value::Bool(true), &Type::BOOL), [1]);
        assert_eq!(binary(&Value::Int(5), &Type::TEXT), b"5");
        assert_eq!(
            binary(&Value::Date(Date::new(2000, 1, 2).unwrap()), &Type::DATE),
            [0, 0, 0, 1]
        );
        let noon_plus_two: TimestampTz = "2000-01-01 12:00:00+02:00".parse().unwrap();
        assert_eq!(
            binary(&Value::TimestampTz(noon_plus_two), &Type::TIMESTAMPTZ),
            (10 * 3600 * 1_000_000i64).to_be_bytes()
        );
        assert!(
            encoded(&Value::Int(1 << 40), &Type::INT4)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            encoded(&Value::Bytes(vec![1]), &Type::INT4)
                .unwrap_err()
                .contains("int4")
        );
        assert!(encoded(&Value::Int(1), &Type::UUID).unwrap_err().contains("uuid"));
        assert_eq!(encoded(&Value::Null, &Type::UUID).unwrap().1, b"NULL");
    }

    #[test]
    fn some_typed_values_go_as_text_for_the_server_to_read() {
        let ts = Value::Timestamp("2024-07-01 12:00:00.5".parse().unwrap());
        assert_eq!(text(&ts, &Type::TIMESTAMPTZ), "2024-07-01 12:00:00.5");
        assert_eq!(
            binary(&Value::Decimal("42.000".into()), &Type::INT4),
            [0, 0, 0, 42]
        );
        assert!(
            encoded(&Value::Decimal("42.5".into()), &Type::INT4)
                .unwrap_err()
                .contains("not a whole number")
        );
        assert_eq!(text(&Value::Float(f64::NAN), &Type::NUMERIC), "NaN");
        let bc = Value::Date(Date::new(-43, 3, 15).unwrap());
        assert_eq!(text(&bc, &Type::TIMESTAMPTZ), "0044-03-15 BC");
        let at = Value::TimestampTz("-0043-03-15 12:00:00+05:53:28".parse().unwrap());
        assert_eq!(binary(&at, &Type::TEXT), b"0044-03-15 12:00:00+05:53:28 BC");
        let at = Value::TimestampTz("2024-07-01 12:00:00-02:00".parse().unwrap());
        assert_eq!(binary(&at, &Type::VARCHAR), b"2024-07-01 12:00:00-02:00");
    }

    #[test]
    fn arrays_go_in_binary_or_as_literals() {
        let ints = Value::Array(vec![Value::Int(1), Value::Null]);
        let raw = binary(&ints, &Type::INT4_ARRAY);
        let mut expected = Vec::new();
        for word in [1i32, 1, 23, 2, 1, 4, 1, -1] {
            expected.extend(word.to_be_bytes());
        }
        assert_eq!(raw, expected);
        assert_eq!(
            binary(&Value::Array(vec![]), &Type::INT4_ARRAY),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23]
        );
        let mixed = Value::Array(vec![Value::Int(1), Value::Text("2".into()), Value::Null]);
        assert_eq!(text(&mixed, &Type::INT4_ARRAY), r#"{"1","2",NULL}"#);
        let nested = Value::Array(vec![
            Value::Array(vec![Value::Text("a\"b".into()), Value::Text("c\\d".into())]),
            Value::Array(vec![Value::Text("{}".into()), Value::Null]),
        ]);
        assert_eq!(
            text(&nested, &Type::INT4_ARRAY),
            r#"{{"a\"b","c\\d"},{"{}",NULL}}"#
        );
        let ragged = Value::Array(vec![Value::Array(vec![Value::Int(1)]), Value::Array(vec![])]);
        assert!(
            encoded(&ragged, &Type::INT4_ARRAY)
                .unwrap_err()
                .contains("same lengths")
        );
        let mixed_depth = Value::Array(vec![Value::Array(vec![Value::Int(1)]), Value::Int(2)]);
        assert!(encoded(&mixed_depth, &Type::INT4_ARRAY).is_err());
        assert!(encoded(&ints, &Type::INT4).is_err());
        let mut deep = Value::Int(1);
        for _ in 0..7 {
            deep = Value::Array(vec![deep]);
        }
        assert!(encoded(&deep, &Type::INT4_ARRAY).is_err());
    }
}
