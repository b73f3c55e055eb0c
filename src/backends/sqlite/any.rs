//! The dynamic layer over SQLite: values to and from rusqlite's.

use std::sync::Arc;

use rusqlite::types::{Value as SqliteValue, ValueRef};
use rusqlite::{Connection, params_from_iter};

use crate::sql::error::AnyError;
use crate::sql::{Row, Value, ValueError};

fn to_sqlite(value: Value) -> Result<SqliteValue, AnyError> {
    Ok(match value {
        Value::Null => SqliteValue::Null,
        Value::Bool(b) => SqliteValue::Integer(i64::from(b)),
        Value::Int(n) => SqliteValue::Integer(n),
        Value::Float(x) => SqliteValue::Real(x),
        Value::Bytes(b) => SqliteValue::Blob(b),
        // SQLite has no decimal, date or time types: ISO text is what its date functions read.
        Value::Decimal(s) | Value::Text(s) => SqliteValue::Text(s),
        Value::Date(d) => SqliteValue::Text(d.to_string()),
        Value::Time(t) => SqliteValue::Text(t.to_string()),
        Value::Timestamp(ts) => SqliteValue::Text(ts.to_string()),
        // `2024-07-01 12:00:00+02:00`: SQLite's date functions read the offset.
        Value::TimestampTz(ts) => SqliteValue::Text(ts.to_string()),
        Value::Array(_) => return Err(no_arrays()),
    })
}

fn no_arrays() -> AnyError {
    AnyError::Value(ValueError::Invalid {
        target: "SQLite parameter",
        reason: "SQLite has no array type; send the elements as parameters of their own".to_owned(),
    })
}

fn params(values: Vec<Value>) -> Result<Vec<SqliteValue>, AnyError> {
    values.into_iter().map(to_sqlite).collect()
}

fn from_sqlite(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(x) => Value::Float(x),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

pub(crate) fn execute(conn: &Connection, sql: &str, values: Vec<Value>) -> Result<u64, AnyError> {
    let mut stmt = conn.prepare(sql).map_err(AnyError::database)?;
    let n = stmt
        .execute(params_from_iter(params(values)?))
        .map_err(AnyError::database)?;
    Ok(n as u64)
}

pub(crate) fn query(conn: &Connection, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, AnyError> {
    let mut stmt = conn.prepare(sql).map_err(AnyError::database)?;
    let columns: Arc<[String]> = stmt.column_names().map(str::to_owned).collect();
    let mut rows = stmt
        .query(params_from_iter(params(values)?))
        .map_err(AnyError::database)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(AnyError::database)? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sqlite))
            .collect::<Result<Vec<_>, _>>()
            .map_err(AnyError::database)?;
        out.push(Row::new(Arc::clone(&columns), values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_go_as_iso_text_and_arrays_are_refused() {
        let at = Value::TimestampTz("2024-07-01 12:00:00+02:00".parse().unwrap());
        assert_eq!(
            to_sqlite(at).unwrap(),
            SqliteValue::Text("2024-07-01 12:00:00+02:00".into())
        );
        let err = to_sqlite(Value::Array(vec![Value::Int(1)])).unwrap_err();
        assert!(err.to_string().contains("SQLite has no array type"), "{err}");
    }
}
