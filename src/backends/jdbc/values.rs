//! Values across the bridge: binding a [`Value`] to a `PreparedStatement` parameter, and reading
//! a `ResultSet` column as one, chosen by the column's `java.sql.Types` code.

use jni::JNIEnv;
use jni::objects::{JByteArray, JObject, JString, JValue};

use super::error::{JavaResult, JdbcError, take_exception};
use super::methods as result_set;
use super::methods::{self, ObjectGetter};
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

/// Reads column `index` (from 1) of the current row.
pub(super) fn read(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    index: i32,
    reader: Reader,
) -> Result<Value, JdbcError> {
    let col = JValue::Int(index);
    let value = match reader {
        Reader::Null => Value::Null,
        Reader::Bool => {
            let b = result_set::get_boolean(env, rs, index)?;
            if result_set::was_null(env, rs)? {
                Value::Null
            } else {
                Value::Bool(b)
            }
        }
        Reader::Int => {
            let n = result_set::get_long(env, rs, index)?;
            if result_set::was_null(env, rs)? {
                Value::Null
            } else {
                Value::Int(n)
            }
        }
        Reader::Float => {
            let x = result_set::get_double(env, rs, index)?;
            if result_set::was_null(env, rs)? {
                Value::Null
            } else {
                Value::Float(x)
            }
        }
        Reader::Decimal => match result_set::get_object(env, rs, index, ObjectGetter::BigDecimal)? {
            None => Value::Null,
            Some(big) => Value::Decimal(string_call(env, &big, "toPlainString")?),
        },
        Reader::Text => match result_set::get_object(env, rs, index, ObjectGetter::String)? {
            None => Value::Null,
            Some(s) => Value::Text(rust_string(env, s)?),
        },
        Reader::Bytes => match result_set::get_object(env, rs, index, ObjectGetter::Bytes)? {
            None => Value::Null,
            Some(bytes) => Value::Bytes(env.convert_byte_array(JByteArray::from(bytes)).or_throw(env)?),
        },
        Reader::Date => match object(env, rs, "getDate", "(I)Ljava/sql/Date;", col)? {
            None => Value::Null,
            Some(date) => {
                let local = call_object(env, &date, "toLocalDate", "()Ljava/time/LocalDate;")?;
                Value::Date(local_date(env, &local)?)
            }
        },
        Reader::Time => match object(env, rs, "getTime", "(I)Ljava/sql/Time;", col)? {
            None => Value::Null,
            Some(time) => {
                let local = call_object(env, &time, "toLocalTime", "()Ljava/time/LocalTime;")?;
                Value::Time(local_time(env, &local)?)
            }
        },
        Reader::Timestamp => match object(env, rs, "getTimestamp", "(I)Ljava/sql/Timestamp;", col)? {
            None => Value::Null,
            Some(ts) => {
                let local = call_object(env, &ts, "toLocalDateTime", "()Ljava/time/LocalDateTime;")?;
                let date = call_object(env, &local, "toLocalDate", "()Ljava/time/LocalDate;")?;
                let time = call_object(env, &local, "toLocalTime", "()Ljava/time/LocalTime;")?;
                Value::Timestamp(Timestamp::new(local_date(env, &date)?, local_time(env, &time)?))
            }
        },
        Reader::TimestampTz => {
            let class = env.find_class("java/time/OffsetDateTime").or_throw(env)?;
            let obj = env
                .call_method(
                    rs,
                    "getObject",
                    "(ILjava/lang/Class;)Ljava/lang/Object;",
                    &[col, JValue::Object(&class)],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            if obj.is_null() {
                Value::Null
            } else {
                let local = call_object(env, &obj, "toLocalDateTime", "()Ljava/time/LocalDateTime;")?;
                let date = call_object(env, &local, "toLocalDate", "()Ljava/time/LocalDate;")?;
                let time = call_object(env, &local, "toLocalTime", "()Ljava/time/LocalTime;")?;
                let offset = call_object(env, &obj, "getOffset", "()Ljava/time/ZoneOffset;")?;
                let offset_seconds = int_call(env, &offset, "getTotalSeconds")?;
                let timestamp = Timestamp::new(local_date(env, &date)?, local_time(env, &time)?);
                Value::TimestampTz(TimestampTz::new(timestamp, offset_seconds)?)
            }
        }
    };
    Ok(value)
}

/// A getter taking a column index and returning an object; `None` for SQL NULL.
fn object<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
    name: &str,
    sig: &str,
    col: JValue<'_, '_>,
) -> Result<Option<JObject<'local>>, JdbcError> {
    let obj = env
        .call_method(rs, name, sig, &[col])
        .and_then(|v| v.l())
        .or_throw(env)?;
    Ok((!obj.is_null()).then_some(obj))
}

fn call_object<'local>(
    env: &mut JNIEnv<'local>,
    obj: &JObject<'_>,
    name: &str,
    sig: &str,
) -> Result<JObject<'local>, JdbcError> {
    env.call_method(obj, name, sig, &[])
        .and_then(|v| v.l())
        .or_throw(env)
}

fn int_call(env: &mut JNIEnv<'_>, obj: &JObject<'_>, name: &str) -> Result<i32, JdbcError> {
    env.call_method(obj, name, "()I", &[])
        .and_then(|v| v.i())
        .or_throw(env)
}

/// Calls a no-argument method returning a `String`, as Rust text (empty for null).
pub(super) fn string_call(env: &mut JNIEnv<'_>, obj: &JObject<'_>, name: &str) -> Result<String, JdbcError> {
    let s = call_object(env, obj, name, "()Ljava/lang/String;")?;
    if s.is_null() {
        return Ok(String::new());
    }
    rust_string(env, s)
}

pub(super) fn rust_string(env: &mut JNIEnv<'_>, s: JObject<'_>) -> Result<String, JdbcError> {
    let s = JString::from(s);
    let text = env.get_string(&s).or_throw(env)?;
    Ok(text.into())
}

fn small(n: i32, what: &str) -> Result<u8, JdbcError> {
    u8::try_from(n)
        .map_err(|_| JdbcError::new(super::JdbcErrorKind::Value, format!("{what} {n} out of range")))
}

fn local_date(env: &mut JNIEnv<'_>, date: &JObject<'_>) -> Result<Date, JdbcError> {
    let year = int_call(env, date, "getYear")?;
    let month = small(int_call(env, date, "getMonthValue")?, "month")?;
    let day = small(int_call(env, date, "getDayOfMonth")?, "day")?;
    Ok(Date::new(year, month, day)?)
}

fn local_time(env: &mut JNIEnv<'_>, time: &JObject<'_>) -> Result<Time, JdbcError> {
    let hour = small(int_call(env, time, "getHour")?, "hour")?;
    let minute = small(int_call(env, time, "getMinute")?, "minute")?;
    let second = small(int_call(env, time, "getSecond")?, "second")?;
    let nano = u32::try_from(int_call(env, time, "getNano")?).unwrap_or(0);
    Ok(Time::new(hour, minute, second, nano)?)
}

/// Binds `value` to parameter `index` (from 1) of a `PreparedStatement`.
pub(super) fn bind(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    index: i32,
    value: &Value,
) -> Result<(), JdbcError> {
    let at = JValue::Int(index);
    match value {
        Value::Null => return bind_null(env, stmt, index),
        Value::Bool(b) => env.call_method(stmt, "setBoolean", "(IZ)V", &[at, JValue::Bool((*b).into())]),
        Value::Int(n) => return methods::set_long(env, stmt, index, *n),
        Value::Float(x) => env.call_method(stmt, "setDouble", "(ID)V", &[at, JValue::Double(*x)]),
        Value::Decimal(d) => {
            let text = env.new_string(d).or_throw(env)?;
            let big = env
                .new_object("java/math/BigDecimal", "(Ljava/lang/String;)V", &[(&text).into()])
                .or_throw(env)?;
            env.call_method(
                stmt,
                "setBigDecimal",
                "(ILjava/math/BigDecimal;)V",
                &[at, (&big).into()],
            )
        }
        Value::Text(s) => return methods::set_string(env, stmt, index, s),
        Value::Bytes(bytes) => {
            let array = env.byte_array_from_slice(bytes).or_throw(env)?;
            env.call_method(stmt, "setBytes", "(I[B)V", &[at, (&array).into()])
        }
        Value::Date(d) => {
            let local = new_local_date(env, d)?;
            let date = env
                .call_static_method(
                    "java/sql/Date",
                    "valueOf",
                    "(Ljava/time/LocalDate;)Ljava/sql/Date;",
                    &[(&local).into()],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            env.call_method(stmt, "setDate", "(ILjava/sql/Date;)V", &[at, (&date).into()])
        }
        Value::Time(t) => {
            let local = new_local_time(env, t)?;
            let time = env
                .call_static_method(
                    "java/sql/Time",
                    "valueOf",
                    "(Ljava/time/LocalTime;)Ljava/sql/Time;",
                    &[(&local).into()],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            env.call_method(stmt, "setTime", "(ILjava/sql/Time;)V", &[at, (&time).into()])
        }
        Value::Timestamp(ts) => {
            let local = new_local_date_time(env, ts)?;
            let stamp = env
                .call_static_method(
                    "java/sql/Timestamp",
                    "valueOf",
                    "(Ljava/time/LocalDateTime;)Ljava/sql/Timestamp;",
                    &[(&local).into()],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            env.call_method(
                stmt,
                "setTimestamp",
                "(ILjava/sql/Timestamp;)V",
                &[at, (&stamp).into()],
            )
        }
        // JDBC 4.2's type for TIMESTAMP WITH TIME ZONE, taken by setObject.
        Value::TimestampTz(ts) => {
            let local = new_local_date_time(env, &ts.timestamp)?;
            let offset = env
                .call_static_method(
                    "java/time/ZoneOffset",
                    "ofTotalSeconds",
                    "(I)Ljava/time/ZoneOffset;",
                    &[JValue::Int(ts.offset_seconds)],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            let stamp = env
                .call_static_method(
                    "java/time/OffsetDateTime",
                    "of",
                    "(Ljava/time/LocalDateTime;Ljava/time/ZoneOffset;)Ljava/time/OffsetDateTime;",
                    &[(&local).into(), (&offset).into()],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            env.call_method(
                stmt,
                "setObject",
                "(ILjava/lang/Object;)V",
                &[at, (&stamp).into()],
            )
        }
        Value::Array(_) => {
            return Err(JdbcError::new(
                super::JdbcErrorKind::Value,
                "arrays cannot be sent through JDBC yet; send the elements as parameters of their own",
            ));
        }
    }
    .or_throw(env)?;
    Ok(())
}

/// `setNull` with `Types.NULL`, which most drivers accept for any column; for those that want
/// the column's type (Derby, HSQLDB), that type from the parameter metadata, else `VARCHAR`.
fn bind_null(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, index: i32) -> Result<(), JdbcError> {
    let at = JValue::Int(index);
    let set_null = |env: &mut JNIEnv<'_>, code: i32| {
        env.call_method(stmt, "setNull", "(II)V", &[at, JValue::Int(code)])
            .or_throw(env)
            .map(drop)
    };
    if set_null(env, types::NULL).is_ok() {
        return Ok(());
    }
    let declared = declared_type(env, stmt, index);
    let code = match declared {
        Ok(code) => code,
        Err(_) => {
            let _ = take_exception(env);
            types::VARCHAR
        }
    };
    set_null(env, code)
}

fn declared_type(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, index: i32) -> jni::errors::Result<i32> {
    let meta = env
        .call_method(
            stmt,
            "getParameterMetaData",
            "()Ljava/sql/ParameterMetaData;",
            &[],
        )?
        .l()?;
    env.call_method(&meta, "getParameterType", "(I)I", &[JValue::Int(index)])?
        .i()
}

fn new_local_date<'local>(env: &mut JNIEnv<'local>, d: &Date) -> Result<JObject<'local>, JdbcError> {
    env.call_static_method(
        "java/time/LocalDate",
        "of",
        "(III)Ljava/time/LocalDate;",
        &[
            JValue::Int(d.year),
            JValue::Int(i32::from(d.month)),
            JValue::Int(i32::from(d.day)),
        ],
    )
    .and_then(|v| v.l())
    .or_throw(env)
}

fn new_local_date_time<'local>(
    env: &mut JNIEnv<'local>,
    ts: &Timestamp,
) -> Result<JObject<'local>, JdbcError> {
    let date = new_local_date(env, &ts.date)?;
    let time = new_local_time(env, &ts.time)?;
    env.call_static_method(
        "java/time/LocalDateTime",
        "of",
        "(Ljava/time/LocalDate;Ljava/time/LocalTime;)Ljava/time/LocalDateTime;",
        &[(&date).into(), (&time).into()],
    )
    .and_then(|v| v.l())
    .or_throw(env)
}

fn new_local_time<'local>(env: &mut JNIEnv<'local>, t: &Time) -> Result<JObject<'local>, JdbcError> {
    env.call_static_method(
        "java/time/LocalTime",
        "of",
        "(IIII)Ljava/time/LocalTime;",
        &[
            JValue::Int(i32::from(t.hour)),
            JValue::Int(i32::from(t.minute)),
            JValue::Int(i32::from(t.second)),
            JValue::Int(i32::try_from(t.nanosecond).unwrap_or(0)),
        ],
    )
    .and_then(|v| v.l())
    .or_throw(env)
}
