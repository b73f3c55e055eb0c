//! The dynamic layer over MySQL and MariaDB: values to and from the driver's, columns read by
//! their type (decimals as exact text, binary strings as bytes).

use std::sync::Arc;

use ::mysql::consts::ColumnType;
use ::mysql::prelude::Queryable;
use ::mysql::{Column, Params as MyParams, Value as MyValue};

use crate::backends::mysql::MySqlConnection;
use crate::sql::error::AnyError;
use crate::sql::{Date, Row, Time, Timestamp, Value, ValueError};

/// The character set number of binary strings (`BLOB`, `VARBINARY`).
const BINARY_CHARSET: u16 = 63;

fn to_mysql(value: Value) -> Result<MyValue, AnyError> {
    Ok(match value {
        Value::Null => MyValue::NULL,
        Value::Bool(b) => MyValue::Int(i64::from(b)),
        Value::Int(n) => MyValue::Int(n),
        Value::Float(x) => MyValue::Double(x),
        Value::Decimal(s) | Value::Text(s) => MyValue::Bytes(s.into_bytes()),
        Value::Bytes(b) => MyValue::Bytes(b),
        Value::Date(d) => MyValue::Date(d.year as u16, d.month, d.day, 0, 0, 0, 0),
        Value::Time(t) => MyValue::Time(false, 0, t.hour, t.minute, t.second, t.nanosecond / 1000),
        Value::Timestamp(ts) => MyValue::Date(
            ts.date.year as u16,
            ts.date.month,
            ts.date.day,
            ts.time.hour,
            ts.time.minute,
            ts.time.second,
            ts.time.nanosecond / 1000,
        ),
        // MariaDB refuses an offset in a datetime, or drops it in a cast: an error here
        // rather than a time shifted by the offset.
        Value::TimestampTz(_) => {
            return Err(unsupported(
                "MySQL and MariaDB have no timestamp with a time zone offset; send a Timestamp",
            ));
        }
        Value::Array(_) => {
            return Err(unsupported(
                "MySQL and MariaDB have no array type; send the elements as parameters of their own",
            ));
        }
    })
}

fn unsupported(reason: &str) -> AnyError {
    AnyError::Value(ValueError::Invalid {
        target: "MySQL parameter",
        reason: reason.to_owned(),
    })
}

fn params(values: Vec<Value>) -> Result<MyParams, AnyError> {
    Ok(if values.is_empty() {
        MyParams::Empty
    } else {
        MyParams::Positional(values.into_iter().map(to_mysql).collect::<Result<_, _>>()?)
    })
}

fn from_mysql(value: MyValue, column: &Column) -> Result<Value, AnyError> {
    use ColumnType::*;
    Ok(match value {
        MyValue::NULL => Value::Null,
        MyValue::Int(n) => Value::Int(n),
        MyValue::UInt(n) => i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Int),
        MyValue::Float(x) => Value::Float(x.into()),
        MyValue::Double(x) => Value::Float(x),
        MyValue::Bytes(bytes) => match column.column_type() {
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
                Value::Decimal(String::from_utf8_lossy(&bytes).into_owned())
            }
            _ if column.character_set() == BINARY_CHARSET => Value::Bytes(bytes),
            _ => Value::Text(String::from_utf8_lossy(&bytes).into_owned()),
        },
        MyValue::Date(y, m, d, h, mi, s, us) => {
            let date = Date::new(i32::from(y), m, d)?;
            if column.column_type() == MYSQL_TYPE_DATE {
                Value::Date(date)
            } else {
                Value::Timestamp(Timestamp::new(date, Time::new(h, mi, s, us * 1000)?))
            }
        }
        MyValue::Time(negative, days, h, m, s, us) => {
            if negative || days > 0 {
                // A duration beyond one day (TIME covers ±838 hours): its text.
                let hours = days * 24 + u32::from(h);
                let sign = if negative { "-" } else { "" };
                Value::Text(format!("{sign}{hours:02}:{m:02}:{s:02}.{us:06}"))
            } else {
                Value::Time(Time::new(h, m, s, us * 1000)?)
            }
        }
    })
}

pub(crate) fn execute(conn: &mut MySqlConnection, sql: &str, values: Vec<Value>) -> Result<u64, AnyError> {
    conn.exec_drop(sql, params(values)?).map_err(AnyError::database)?;
    Ok(conn.affected_rows())
}

pub(crate) fn query(conn: &mut MySqlConnection, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, AnyError> {
    let mut result = conn.exec_iter(sql, params(values)?).map_err(AnyError::database)?;
    let columns: Vec<Column> = result.columns().as_ref().to_vec();
    let names: Arc<[String]> = columns.iter().map(|c| c.name_str().into_owned()).collect();
    let mut rows = Vec::new();
    for row in result.by_ref() {
        let row = row.map_err(AnyError::database)?;
        let values = row
            .unwrap()
            .into_iter()
            .zip(&columns)
            .map(|(value, column)| from_mysql(value, column))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(Row::new(Arc::clone(&names), values));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_arrays_are_refused_rather_than_shifted() {
        let at = Value::TimestampTz("2024-07-01 12:00:00+02:00".parse().unwrap());
        let err = to_mysql(at).unwrap_err();
        assert!(err.to_string().contains("send a Timestamp"), "{err}");
        let err = to_mysql(Value::Array(Vec::new())).unwrap_err();
        assert!(err.to_string().contains("no array type"), "{err}");
    }
}
