//! Values across the bridge: binding a [`Value`] to a `PreparedStatement` parameter, and reading
//! a `ResultSet` column as one, chosen by the column's `java.sql.Types` code.

use jni::JNIEnv;
use jni::objects::JObject;

use super::error::{JavaResult, JdbcError};
use super::methods;
use crate::sql::{Date, Time, Timestamp, TimestampTz, Value};

/// `java.sql.Types` codes, the ones read specially.
mod types {
    pub(super) const BIT: i32 = -7;
    pub(super) const TINYINT: i32 = -6;
    pub(super) const SMALLINT: i32 = 5;
    pub(super) const INTEGER: i32 = 4;
    pub(super) const BIGINT: i32 = -5;
    pub(super) const FLOAT: i32 = 6;
    pub(super) const REAL: i32 = 7;
    pub(super) const DOUBLE: i32 = 8;
    pub(super) const NUMERIC: i32 = 2;
    pub(super) const DECIMAL: i32 = 3;
    pub(super) const BINARY: i32 = -2;
    pub(super) const VARBINARY: i32 = -3;
    pub(super) const LONGVARBINARY: i32 = -4;
    pub(super) const BLOB: i32 = 2004;
    pub(super) const BOOLEAN: i32 = 16;
    pub(super) const DATE: i32 = 91;
    pub(super) const TIME: i32 = 92;
    pub(super) const TIMESTAMP: i32 = 93;
    pub(super) const TIME_WITH_TIMEZONE: i32 = 2013;
    pub(super) const TIMESTAMP_WITH_TIMEZONE: i32 = 2014;
    pub(super) const NULL: i32 = 0;
    pub(super) const VARCHAR: i32 = 12;
}

/// How a column is read, decided once per result from its type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reader {
    Bool,
    Int,
    Float,
    Decimal,
    Bytes,
    Date,
    Time,
    Timestamp,
    /// A timestamp with its offset, read as a `java.time.OffsetDateTime` (JDBC 4.2).
    TimestampTz,
    Null,
    Text,
}

impl Reader {
    pub(super) fn for_type(code: i32) -> Reader {
        use types::*;
        match code {
            BIT | BOOLEAN => Reader::Bool,
            TINYINT | SMALLINT | INTEGER | BIGINT => Reader::Int,
            FLOAT | REAL | DOUBLE => Reader::Float,
            NUMERIC | DECIMAL => Reader::Decimal,
            BINARY | VARBINARY | LONGVARBINARY | BLOB => Reader::Bytes,
            DATE => Reader::Date,
            TIME | TIME_WITH_TIMEZONE => Reader::Time,
            TIMESTAMP => Reader::Timestamp,
            TIMESTAMP_WITH_TIMEZONE => Reader::TimestampTz,
            NULL => Reader::Null,
            // Text, and anything without a Value of its own (UUID, JSON, arrays, XML): its text.
            _ => Reader::Text,
        }
    }

    /// The reader for a column of type `code` declared as `type_name`: as [`Reader::for_type`],
    /// except that an integer column declared `DATE`, `TIME`, `TIMESTAMP` or `DATETIME` is read
    /// as one (sqlite-jdbc keeps them as integers and reports `INTEGER` for some).
    /// A `timestamptz` column, which pgjdbc reports as `TIMESTAMP`, is read with its offset.
    pub(super) fn for_column(code: i32, type_name: &str) -> Reader {
        let reader = Reader::for_type(code);
        if reader == Reader::Timestamp && type_name.eq_ignore_ascii_case("timestamptz") {
            return Reader::TimestampTz;
        }
        if reader != Reader::Int {
            return reader;
        }
        match type_name.to_ascii_uppercase().as_str() {
            "DATE" => Reader::Date,
            "TIME" => Reader::Time,
            "TIMESTAMP" | "DATETIME" => Reader::Timestamp,
            _ => reader,
        }
    }
}

/// Reads column `index` (from 1) of the current row. Text, bytes, decimals and the primitives
/// leave no local reference behind; dates and times leave a few (read them in a frame).
pub(super) fn read(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    index: i32,
    reader: Reader,
) -> Result<Value, JdbcError> {
    let value = match reader {
        Reader::Null => Value::Null,
        Reader::Bool => {
            let b = methods::get_boolean(env, rs, index)?;
            if methods::was_null(env, rs)? {
                Value::Null
            } else {
                Value::Bool(b)
            }
        }
        Reader::Int => {
            let n = methods::get_long(env, rs, index)?;
            if methods::was_null(env, rs)? {
                Value::Null
            } else {
                Value::Int(n)
            }
        }
        Reader::Float => {
            let x = methods::get_double(env, rs, index)?;
            if methods::was_null(env, rs)? {
                Value::Null
            } else {
                Value::Float(x)
            }
        }
        Reader::Decimal => methods::get_decimal(env, rs, index)?.map_or(Value::Null, Value::Decimal),
        Reader::Text => methods::get_string(env, rs, index)?.map_or(Value::Null, Value::Text),
        Reader::Bytes => methods::get_bytes(env, rs, index)?.map_or(Value::Null, Value::Bytes),
        Reader::Date => match methods::get_date(env, rs, index)? {
            None => Value::Null,
            Some(date) => {
                let local = methods::sql_date_to_local_date(env, &date)?;
                Value::Date(local_date(env, &local)?)
            }
        },
        Reader::Time => match methods::get_time(env, rs, index)? {
            None => Value::Null,
            Some(time) => {
                let local = methods::sql_time_to_local_time(env, &time)?;
                Value::Time(local_time(env, &local)?)
            }
        },
        Reader::Timestamp => match methods::get_timestamp(env, rs, index)? {
            None => Value::Null,
            Some(ts) => {
                let local = methods::sql_timestamp_to_local_date_time(env, &ts)?;
                Value::Timestamp(local_date_time(env, &local)?)
            }
        },
        Reader::TimestampTz => match methods::get_offset_date_time(env, rs, index)? {
            None => Value::Null,
            Some(odt) => {
                let (local, offset_seconds) = methods::offset_date_time_parts(env, &odt)?;
                let timestamp = local_date_time(env, &local)?;
                Value::TimestampTz(TimestampTz::new(timestamp, offset_seconds)?)
            }
        },
    };
    Ok(value)
}

/// Whether [`read`] leaves local references behind for this reader.
pub(super) fn leaves_references(reader: Reader) -> bool {
    matches!(
        reader,
        Reader::Date | Reader::Time | Reader::Timestamp | Reader::TimestampTz
    )
}

/// Calls a no-argument method returning a `String`, by name, as Rust text (empty for null): for
/// the calls off the hot paths.
pub(super) fn string_call(env: &mut JNIEnv<'_>, obj: &JObject<'_>, name: &str) -> Result<String, JdbcError> {
    let s = env
        .call_method(obj, name, "()Ljava/lang/String;", &[])
        .and_then(|v| v.l())
        .or_throw(env)?;
    if s.is_null() {
        return Ok(String::new());
    }
    methods::string(env, &s)
}

fn small(n: i32, what: &str) -> Result<u8, JdbcError> {
    u8::try_from(n)
        .map_err(|_| JdbcError::new(super::JdbcErrorKind::Value, format!("{what} {n} out of range")))
}

fn local_date(env: &mut JNIEnv<'_>, date: &JObject<'_>) -> Result<Date, JdbcError> {
    date_from_parts(methods::local_date_parts(env, date)?)
}

fn local_time(env: &mut JNIEnv<'_>, time: &JObject<'_>) -> Result<Time, JdbcError> {
    time_from_parts(methods::local_time_parts(env, time)?)
}

/// A date from a `java.time.LocalDate`'s year, month and day.
pub(super) fn date_from_parts([year, month, day]: [i32; 3]) -> Result<Date, JdbcError> {
    Ok(Date::new(year, small(month, "month")?, small(day, "day")?)?)
}

/// A time from a `java.time.LocalTime`'s hour, minute, second and nanosecond.
pub(super) fn time_from_parts([hour, minute, second, nano]: [i32; 4]) -> Result<Time, JdbcError> {
    Ok(Time::new(
        small(hour, "hour")?,
        small(minute, "minute")?,
        small(second, "second")?,
        u32::try_from(nano).unwrap_or(0),
    )?)
}

fn local_date_time(env: &mut JNIEnv<'_>, local: &JObject<'_>) -> Result<Timestamp, JdbcError> {
    let (date, time) = methods::local_date_time_parts(env, local)?;
    Ok(Timestamp::new(local_date(env, &date)?, local_time(env, &time)?))
}

/// Binds `value` to parameter `index` (from 1) of a `PreparedStatement`. Dates and times leave
/// a few local references behind (bind them in a frame); every other value none.
pub(super) fn bind(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    index: i32,
    value: &Value,
) -> Result<(), JdbcError> {
    match value {
        Value::Null => bind_null(env, stmt, index),
        Value::Bool(b) => methods::set_boolean(env, stmt, index, *b),
        Value::Int(n) => methods::set_long(env, stmt, index, *n),
        Value::Float(x) => methods::set_double(env, stmt, index, *x),
        Value::Decimal(d) => methods::set_big_decimal(env, stmt, index, d),
        Value::Text(s) => methods::set_string(env, stmt, index, s),
        Value::Bytes(bytes) => methods::set_bytes(env, stmt, index, bytes),
        Value::Date(d) => {
            let local = new_local_date(env, d)?;
            let date = methods::sql_date_value_of(env, &local)?;
            methods::set_date(env, stmt, index, &date)
        }
        Value::Time(t) => {
            let local = new_local_time(env, t)?;
            let time = methods::sql_time_value_of(env, &local)?;
            methods::set_time(env, stmt, index, &time)
        }
        Value::Timestamp(ts) => {
            let local = new_local_date_time(env, ts)?;
            let stamp = methods::sql_timestamp_value_of(env, &local)?;
            methods::set_timestamp(env, stmt, index, &stamp)
        }
        // JDBC 4.2's type for TIMESTAMP WITH TIME ZONE, taken by setObject.
        Value::TimestampTz(ts) => {
            let local = new_local_date_time(env, &ts.timestamp)?;
            let stamp = methods::new_offset_date_time(env, &local, ts.offset_seconds)?;
            methods::set_object(env, stmt, index, &stamp)
        }
        Value::Array(_) => Err(JdbcError::new(
            super::JdbcErrorKind::Value,
            "arrays cannot be sent through JDBC yet; send the elements as parameters of their own",
        )),
    }
}

/// Whether [`bind`] leaves local references behind for this value.
pub(super) fn binding_leaves_references(value: &Value) -> bool {
    matches!(
        value,
        Value::Date(_) | Value::Time(_) | Value::Timestamp(_) | Value::TimestampTz(_)
    )
}

/// `setNull` with `Types.NULL`, which most drivers accept for any column; for those that want
/// the column's type (Derby, HSQLDB), that type from the parameter metadata, else `VARCHAR`.
fn bind_null(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, index: i32) -> Result<(), JdbcError> {
    if methods::set_null(env, stmt, index, types::NULL).is_ok() {
        return Ok(());
    }
    let code = methods::parameter_type(env, stmt, index).unwrap_or(types::VARCHAR);
    methods::set_null(env, stmt, index, code)
}

fn new_local_date<'local>(env: &mut JNIEnv<'local>, d: &Date) -> Result<JObject<'local>, JdbcError> {
    methods::new_local_date(env, d.year, i32::from(d.month), i32::from(d.day))
}

fn new_local_time<'local>(env: &mut JNIEnv<'local>, t: &Time) -> Result<JObject<'local>, JdbcError> {
    methods::new_local_time(
        env,
        [
            i32::from(t.hour),
            i32::from(t.minute),
            i32::from(t.second),
            i32::try_from(t.nanosecond).unwrap_or(0),
        ],
    )
}

fn new_local_date_time<'local>(
    env: &mut JNIEnv<'local>,
    ts: &Timestamp,
) -> Result<JObject<'local>, JdbcError> {
    let date = new_local_date(env, &ts.date)?;
    let time = new_local_time(env, &ts.time)?;
    methods::new_local_date_time(env, &date, &time)
}
