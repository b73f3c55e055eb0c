//! The dynamic layer over PostgreSQL: [`Value`]s encoded for the type the server infers for
//! each parameter, and columns decoded by their type (numeric to exact decimal text, dates and
//! times from their binary form).

use std::error::Error as StdError;
use std::sync::Arc;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use super::civil::{civil_from_days, days_from_civil};
use crate::backends::postgres::PgConnection;
use crate::sql::error::AnyError;
use crate::sql::{Date, Row, Time, Timestamp, Value};

type BoxError = Box<dyn StdError + Sync + Send>;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

// SQL text through the connection's statement cache: prepared once per connection, and
// prepared again when the server says the kept one went stale.
pub(crate) fn execute(conn: &mut PgConnection, sql: &str, values: Vec<Value>) -> Result<u64, AnyError> {
    let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    conn.execute(sql, &refs).map_err(AnyError::database)
}

pub(crate) fn query(conn: &mut PgConnection, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, AnyError> {
    let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = conn.query(sql, &refs).map_err(AnyError::database)?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
    rows.iter()
        .map(|row| {
            let values = (0..columns.len())
                .map(|i| row.try_get::<_, PgValue>(i).map(|v| v.0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(AnyError::database)?;
            Ok(Row::new(Arc::clone(&columns), values))
        })
        .collect()
}

/// A parameter, encoded for whatever type the server wants.
#[derive(Debug)]
struct PgParam<'a>(&'a Value);

fn mismatch(value: &Value, ty: &Type) -> BoxError {
    format!(
        "a {} value cannot be sent as PostgreSQL type {ty}",
        value.type_name()
    )
    .into()
}

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || matches!(ty.kind(), Kind::Enum(_))
        || ty.name() == "citext"
}

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let value = self.0;
        match (value, ty) {
            (Value::Null, _) => return Ok(IsNull::Yes),
            (Value::Bool(b), &Type::BOOL) => out.extend_from_slice(&[u8::from(*b)]),
            (Value::Int(n), &Type::INT2) => out.extend_from_slice(&i16::try_from(*n)?.to_be_bytes()),
            (Value::Int(n), &Type::INT4) => out.extend_from_slice(&i32::try_from(*n)?.to_be_bytes()),
            (Value::Int(n), &Type::INT8) => out.extend_from_slice(&n.to_be_bytes()),
            (Value::Int(n), &Type::OID) => out.extend_from_slice(&u32::try_from(*n)?.to_be_bytes()),
            (Value::Int(n), &Type::FLOAT4) => out.extend_from_slice(&(*n as f32).to_be_bytes()),
            (Value::Int(n), &Type::FLOAT8) => out.extend_from_slice(&(*n as f64).to_be_bytes()),
            (Value::Int(n), &Type::NUMERIC) => encode_numeric(&n.to_string(), out)?,
            (Value::Float(x), &Type::FLOAT4) => out.extend_from_slice(&(*x as f32).to_be_bytes()),
            (Value::Float(x), &Type::FLOAT8) => out.extend_from_slice(&x.to_be_bytes()),
            (Value::Float(x), &Type::NUMERIC) if x.is_finite() => encode_numeric(&format!("{x}"), out)?,
            (Value::Decimal(d), &Type::NUMERIC) => encode_numeric(d, out)?,
            (Value::Decimal(d), &Type::FLOAT8) => out.extend_from_slice(&d.parse::<f64>()?.to_be_bytes()),
            (Value::Decimal(d), &Type::FLOAT4) => out.extend_from_slice(&d.parse::<f32>()?.to_be_bytes()),
            (Value::Text(s), &Type::JSON) => out.extend_from_slice(s.as_bytes()),
            (Value::Text(s), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
            }
            (Value::Text(s), &Type::UUID) => out.extend_from_slice(&parse_uuid(s)?),
            (Value::Bytes(b), &Type::BYTEA) => out.extend_from_slice(b),
            (Value::Date(d), &Type::DATE) => {
                let days = i32::try_from(days_from_civil(*d) - PG_EPOCH_DAYS)?;
                out.extend_from_slice(&days.to_be_bytes());
            }
            (Value::Time(t), &Type::TIME) => out.extend_from_slice(&micros_of_day(*t).to_be_bytes()),
            (Value::Timestamp(ts), &Type::TIMESTAMP | &Type::TIMESTAMPTZ) => {
                let days = days_from_civil(ts.date) - PG_EPOCH_DAYS;
                let micros = days * MICROS_PER_DAY + micros_of_day(ts.time);
                out.extend_from_slice(&micros.to_be_bytes());
            }
            (Value::Date(d), &Type::TIMESTAMP | &Type::TIMESTAMPTZ) => {
                let micros = (days_from_civil(*d) - PG_EPOCH_DAYS) * MICROS_PER_DAY;
                out.extend_from_slice(&micros.to_be_bytes());
            }
            (_, ty) if is_text(ty) => match value {
                Value::Text(s) | Value::Decimal(s) => out.extend_from_slice(s.as_bytes()),
                Value::Bytes(_) => return Err(mismatch(value, ty)),
                // Numbers, booleans, dates: their plain text, as a driver would send them.
                Value::Date(d) => out.extend_from_slice(d.to_string().as_bytes()),
                Value::Time(t) => out.extend_from_slice(t.to_string().as_bytes()),
                Value::Timestamp(t) => out.extend_from_slice(t.to_string().as_bytes()),
                Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
                Value::Float(x) => out.extend_from_slice(x.to_string().as_bytes()),
                Value::Bool(b) => out.extend_from_slice(b.to_string().as_bytes()),
                _ => return Err(mismatch(value, ty)),
            },
            _ => return Err(mismatch(value, ty)),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn micros_of_day(t: Time) -> i64 {
    ((i64::from(t.hour) * 60 + i64::from(t.minute)) * 60 + i64::from(t.second)) * 1_000_000
        + i64::from(t.nanosecond / 1000)
}

fn time_of_micros(micros: i64) -> Result<Time, BoxError> {
    let secs = micros.div_euclid(1_000_000);
    let nanos = (micros.rem_euclid(1_000_000) * 1000) as u32;
    Ok(Time::new(
        (secs / 3600) as u8,
        (secs / 60 % 60) as u8,
        (secs % 60) as u8,
        nanos,
    )?)
}

fn date_of_days(days_since_2000: i64) -> Result<Date, BoxError> {
    let (y, m, d) = civil_from_days(days_since_2000 + PG_EPOCH_DAYS);
    Ok(Date::new(i32::try_from(y)?, m, d)?)
}

fn parse_uuid(text: &str) -> Result<[u8; 16], BoxError> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return Err("a UUID has 32 hexadecimal digits".into());
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

/// Writes an exact decimal (`-12.3400`) in NUMERIC's binary form: digit count, weight, sign,
/// scale, then base-10000 digits.
fn encode_numeric(text: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let Value::Decimal(text) = Value::decimal(text.trim())? else {
        unreachable!("Value::decimal makes a Decimal")
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = whole.trim_start_matches('0');
    let scale = u16::try_from(fraction.len())?;
    let whole_groups = whole.len().div_ceil(4);
    let padded = format!(
        "{}{whole}{fraction}{}",
        "0".repeat(whole_groups * 4 - whole.len()),
        "0".repeat((4 - fraction.len() % 4) % 4)
    );
    let mut groups: Vec<i16> = padded
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
        .collect();
    let mut weight = whole_groups as i64 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.extend_from_slice(&i16::try_from(groups.len())?.to_be_bytes());
    out.extend_from_slice(&i16::try_from(weight)?.to_be_bytes());
    out.extend_from_slice(
        &(if negative && !groups.is_empty() {
            0x4000u16
        } else {
            0
        })
        .to_be_bytes(),
    );
    out.extend_from_slice(&scale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

/// NUMERIC's binary form as exact decimal text (or `NaN`, `Infinity`, `-Infinity` as text).
fn decode_numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(2 * i..2 * i + 2).ok_or("a truncated NUMERIC")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let (ndigits, weight, sign, scale) = (
        word(0)? as usize,
        word(1)? as i64,
        word(2)? as u16,
        word(3)? as usize,
    );
    match sign {
        0xC000 => return Ok(Value::Text("NaN".into())),
        0xD000 => return Ok(Value::Text("Infinity".into())),
        0xF000 => return Ok(Value::Text("-Infinity".into())),
        _ => {}
    }
    let digit = |i: i64| -> Result<i16, BoxError> {
        if i >= 0 && (i as usize) < ndigits {
            word(4 + i as usize)
        } else {
            Ok(0)
        }
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i)?;
            if i == 0 {
                text.push_str(&d.to_string());
            } else {
                text.push_str(&format!("{d:04}"));
            }
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < scale {
            fraction.push_str(&format!("{:04}", digit(i)?));
            i += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(Value::Decimal(text))
}

/// A column value decoded by its type.
struct PgValue(Value);

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let value = match *ty {
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => decode_numeric(raw)?,
            Type::BYTEA => Value::Bytes(raw.to_vec()),
            Type::JSONB => Value::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default())?.to_owned()),
            Type::DATE => Value::Date(date_of_days(i32::from_sql(ty, raw)?.into())?),
            Type::TIME => Value::Time(time_of_micros(i64::from_sql(&Type::INT8, raw)?)?),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let micros = i64::from_sql(&Type::INT8, raw)?;
                let date = date_of_days(micros.div_euclid(MICROS_PER_DAY))?;
                Value::Timestamp(Timestamp::new(
                    date,
                    time_of_micros(micros.rem_euclid(MICROS_PER_DAY))?,
                ))
            }
            Type::UUID => {
                let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                Value::Text(format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ))
            }
            _ if is_text(ty) || *ty == Type::JSON => Value::Text(std::str::from_utf8(raw)?.to_owned()),
            // Other types in their binary form, untouched.
            _ => Value::Bytes(raw.to_vec()),
        };
        Ok(PgValue(value))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_round_trip_through_their_binary_form() {
        for text in [
            "0",
            "1",
            "-12.3400",
            "10000",
            "0.0001",
            "123456789.987654321",
            "-0.5",
            "0.00",
        ] {
            let mut out = BytesMut::new();
            encode_numeric(text, &mut out).unwrap();
            assert_eq!(
                decode_numeric(&out).unwrap(),
                Value::Decimal(text.into()),
                "{text}"
            );
        }
    }
}
