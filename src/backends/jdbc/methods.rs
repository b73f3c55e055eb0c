//! Every Java method and class the bridge calls on its hot paths (statements, binds, rows,
//! columns, values, transactions), looked up once per JVM: a method ID and, for static methods
//! and constructors, a global reference to its class. Looking a method up by name costs a class
//! lookup and a signature parse on every call, more than the call itself.
//!
//! Each function here calls one method through its ID, so the type of what it is given is all
//! that is left to the caller: a `Connection` from the driver, a `Statement` or
//! `PreparedStatement` from it, a `ResultSet` from those, and so on, as each function says.

use std::sync::OnceLock;

use jni::JNIEnv;
use jni::objects::{GlobalRef, JMethodID, JObject, JStaticMethodID, JString, JValueOwned};
use jni::signature::{Primitive, ReturnType};
use jni::sys::jvalue;

use super::error::{JavaResult, JdbcError, take_exception};

/// Method IDs and classes. The `java.sql`, `java.math` and `java.time` types are loaded by the
/// JVM's own loaders and never unloaded, so their IDs stay valid for the life of the process,
/// whatever driver implements the `java.sql` interfaces.
#[derive(Debug)]
struct Ids {
    // java.sql.Connection
    prepare_statement: JMethodID,
    create_statement: JMethodID,
    set_auto_commit: JMethodID,
    get_auto_commit: JMethodID,
    commit: JMethodID,
    rollback: JMethodID,
    is_closed: JMethodID,
    is_valid: JMethodID,
    get_network_timeout: JMethodID,
    set_network_timeout: JMethodID,
    abort: JMethodID,
    // java.lang.AutoCloseable (Connection, Statement, ResultSet)
    close: JMethodID,
    // java.sql.Statement (and so PreparedStatement)
    execute_sql: JMethodID,
    get_result_set: JMethodID,
    get_update_count: JMethodID,
    execute_batch: JMethodID,
    // java.sql.PreparedStatement
    execute: JMethodID,
    execute_query: JMethodID,
    add_batch: JMethodID,
    set_null: JMethodID,
    set_boolean: JMethodID,
    set_long: JMethodID,
    set_double: JMethodID,
    set_big_decimal: JMethodID,
    set_string: JMethodID,
    set_bytes: JMethodID,
    set_date: JMethodID,
    set_time: JMethodID,
    set_timestamp: JMethodID,
    set_object: JMethodID,
    get_parameter_meta_data: JMethodID,
    // java.sql.ParameterMetaData
    get_parameter_type: JMethodID,
    // java.sql.ResultSet
    next: JMethodID,
    was_null: JMethodID,
    get_boolean: JMethodID,
    get_long: JMethodID,
    get_double: JMethodID,
    get_string: JMethodID,
    get_big_decimal: JMethodID,
    get_bytes: JMethodID,
    get_date: JMethodID,
    get_time: JMethodID,
    get_timestamp: JMethodID,
    get_object_as: JMethodID,
    get_meta_data: JMethodID,
    // java.sql.ResultSetMetaData
    get_column_count: JMethodID,
    get_column_label: JMethodID,
    get_column_type: JMethodID,
    get_column_type_name: JMethodID,
    // java.math.BigDecimal
    big_decimal: GlobalRef,
    big_decimal_new: JMethodID,
    to_plain_string: JMethodID,
    // java.sql.Date, Time, Timestamp
    sql_date: GlobalRef,
    sql_date_value_of: JStaticMethodID,
    sql_date_to_local_date: JMethodID,
    sql_time: GlobalRef,
    sql_time_value_of: JStaticMethodID,
    sql_time_to_local_time: JMethodID,
    sql_timestamp: GlobalRef,
    sql_timestamp_value_of: JStaticMethodID,
    sql_timestamp_to_local_date_time: JMethodID,
    // java.time.LocalDate, LocalTime, LocalDateTime
    local_date: GlobalRef,
    local_date_of: JStaticMethodID,
    get_year: JMethodID,
    get_month_value: JMethodID,
    get_day_of_month: JMethodID,
    local_time: GlobalRef,
    local_time_of: JStaticMethodID,
    get_hour: JMethodID,
    get_minute: JMethodID,
    get_second: JMethodID,
    get_nano: JMethodID,
    local_date_time: GlobalRef,
    local_date_time_of: JStaticMethodID,
    local_date_time_to_local_date: JMethodID,
    local_date_time_to_local_time: JMethodID,
    // java.time.OffsetDateTime, ZoneOffset
    offset_date_time: GlobalRef,
    offset_date_time_of: JStaticMethodID,
    offset_date_time_to_local_date_time: JMethodID,
    get_offset: JMethodID,
    zone_offset: GlobalRef,
    zone_offset_of_total_seconds: JStaticMethodID,
    get_total_seconds: JMethodID,
}

static IDS: OnceLock<Ids> = OnceLock::new();

/// The table, looked up on first use (two threads may both look it up; either table will do).
fn ids(env: &mut JNIEnv<'_>) -> Result<&'static Ids, JdbcError> {
    if let Some(ids) = IDS.get() {
        return Ok(ids);
    }
    let ids = env.with_local_frame(64, look_up)?;
    Ok(IDS.get_or_init(|| ids))
}

fn look_up(env: &mut JNIEnv<'_>) -> Result<Ids, JdbcError> {
    let method = |env: &mut JNIEnv<'_>, class: &str, name: &str, sig: &str| {
        env.get_method_id(class, name, sig).or_throw(env)
    };
    let class = |env: &mut JNIEnv<'_>, name: &str| {
        let local = env.find_class(name).or_throw(env)?;
        env.new_global_ref(local).map_err(JdbcError::jni)
    };
    let static_method = |env: &mut JNIEnv<'_>, class: &GlobalRef, name: &str, sig: &str| {
        env.get_static_method_id(class, name, sig).or_throw(env)
    };
    let (conn, stmt, prepared, rs, meta) = (
        "java/sql/Connection",
        "java/sql/Statement",
        "java/sql/PreparedStatement",
        "java/sql/ResultSet",
        "java/sql/ResultSetMetaData",
    );
    let big_decimal = class(env, "java/math/BigDecimal")?;
    let sql_date = class(env, "java/sql/Date")?;
    let sql_time = class(env, "java/sql/Time")?;
    let sql_timestamp = class(env, "java/sql/Timestamp")?;
    let local_date = class(env, "java/time/LocalDate")?;
    let local_time = class(env, "java/time/LocalTime")?;
    let local_date_time = class(env, "java/time/LocalDateTime")?;
    let offset_date_time = class(env, "java/time/OffsetDateTime")?;
    let zone_offset = class(env, "java/time/ZoneOffset")?;
    Ok(Ids {
        prepare_statement: method(
            env,
            conn,
            "prepareStatement",
            "(Ljava/lang/String;)Ljava/sql/PreparedStatement;",
        )?,
        create_statement: method(env, conn, "createStatement", "()Ljava/sql/Statement;")?,
        set_auto_commit: method(env, conn, "setAutoCommit", "(Z)V")?,
        get_auto_commit: method(env, conn, "getAutoCommit", "()Z")?,
        commit: method(env, conn, "commit", "()V")?,
        rollback: method(env, conn, "rollback", "()V")?,
        is_closed: method(env, conn, "isClosed", "()Z")?,
        is_valid: method(env, conn, "isValid", "(I)Z")?,
        get_network_timeout: method(env, conn, "getNetworkTimeout", "()I")?,
        set_network_timeout: method(
            env,
            conn,
            "setNetworkTimeout",
            "(Ljava/util/concurrent/Executor;I)V",
        )?,
        abort: method(env, conn, "abort", "(Ljava/util/concurrent/Executor;)V")?,
        close: method(env, "java/lang/AutoCloseable", "close", "()V")?,
        execute_sql: method(env, stmt, "execute", "(Ljava/lang/String;)Z")?,
        get_result_set: method(env, stmt, "getResultSet", "()Ljava/sql/ResultSet;")?,
        get_update_count: method(env, stmt, "getUpdateCount", "()I")?,
        execute_batch: method(env, stmt, "executeBatch", "()[I")?,
        execute: method(env, prepared, "execute", "()Z")?,
        execute_query: method(env, prepared, "executeQuery", "()Ljava/sql/ResultSet;")?,
        add_batch: method(env, prepared, "addBatch", "()V")?,
        set_null: method(env, prepared, "setNull", "(II)V")?,
        set_boolean: method(env, prepared, "setBoolean", "(IZ)V")?,
        set_long: method(env, prepared, "setLong", "(IJ)V")?,
        set_double: method(env, prepared, "setDouble", "(ID)V")?,
        set_big_decimal: method(env, prepared, "setBigDecimal", "(ILjava/math/BigDecimal;)V")?,
        set_string: method(env, prepared, "setString", "(ILjava/lang/String;)V")?,
        set_bytes: method(env, prepared, "setBytes", "(I[B)V")?,
        set_date: method(env, prepared, "setDate", "(ILjava/sql/Date;)V")?,
        set_time: method(env, prepared, "setTime", "(ILjava/sql/Time;)V")?,
        set_timestamp: method(env, prepared, "setTimestamp", "(ILjava/sql/Timestamp;)V")?,
        set_object: method(env, prepared, "setObject", "(ILjava/lang/Object;)V")?,
        get_parameter_meta_data: method(
            env,
            prepared,
            "getParameterMetaData",
            "()Ljava/sql/ParameterMetaData;",
        )?,
        get_parameter_type: method(env, "java/sql/ParameterMetaData", "getParameterType", "(I)I")?,
        next: method(env, rs, "next", "()Z")?,
        was_null: method(env, rs, "wasNull", "()Z")?,
        get_boolean: method(env, rs, "getBoolean", "(I)Z")?,
        get_long: method(env, rs, "getLong", "(I)J")?,
        get_double: method(env, rs, "getDouble", "(I)D")?,
        get_string: method(env, rs, "getString", "(I)Ljava/lang/String;")?,
        get_big_decimal: method(env, rs, "getBigDecimal", "(I)Ljava/math/BigDecimal;")?,
        get_bytes: method(env, rs, "getBytes", "(I)[B")?,
        get_date: method(env, rs, "getDate", "(I)Ljava/sql/Date;")?,
        get_time: method(env, rs, "getTime", "(I)Ljava/sql/Time;")?,
        get_timestamp: method(env, rs, "getTimestamp", "(I)Ljava/sql/Timestamp;")?,
        get_object_as: method(env, rs, "getObject", "(ILjava/lang/Class;)Ljava/lang/Object;")?,
        get_meta_data: method(env, rs, "getMetaData", "()Ljava/sql/ResultSetMetaData;")?,
        get_column_count: method(env, meta, "getColumnCount", "()I")?,
        get_column_label: method(env, meta, "getColumnLabel", "(I)Ljava/lang/String;")?,
        get_column_type: method(env, meta, "getColumnType", "(I)I")?,
        get_column_type_name: method(env, meta, "getColumnTypeName", "(I)Ljava/lang/String;")?,
        big_decimal_new: method(env, "java/math/BigDecimal", "<init>", "(Ljava/lang/String;)V")?,
        to_plain_string: method(
            env,
            "java/math/BigDecimal",
            "toPlainString",
            "()Ljava/lang/String;",
        )?,
        sql_date_value_of: static_method(
            env,
            &sql_date,
            "valueOf",
            "(Ljava/time/LocalDate;)Ljava/sql/Date;",
        )?,
        sql_date_to_local_date: method(env, "java/sql/Date", "toLocalDate", "()Ljava/time/LocalDate;")?,
        sql_time_value_of: static_method(
            env,
            &sql_time,
            "valueOf",
            "(Ljava/time/LocalTime;)Ljava/sql/Time;",
        )?,
        sql_time_to_local_time: method(env, "java/sql/Time", "toLocalTime", "()Ljava/time/LocalTime;")?,
        sql_timestamp_value_of: static_method(
            env,
            &sql_timestamp,
            "valueOf",
            "(Ljava/time/LocalDateTime;)Ljava/sql/Timestamp;",
        )?,
        sql_timestamp_to_local_date_time: method(
            env,
            "java/sql/Timestamp",
            "toLocalDateTime",
            "()Ljava/time/LocalDateTime;",
        )?,
        local_date_of: static_method(env, &local_date, "of", "(III)Ljava/time/LocalDate;")?,
        get_year: method(env, "java/time/LocalDate", "getYear", "()I")?,
        get_month_value: method(env, "java/time/LocalDate", "getMonthValue", "()I")?,
        get_day_of_month: method(env, "java/time/LocalDate", "getDayOfMonth", "()I")?,
        local_time_of: static_method(env, &local_time, "of", "(IIII)Ljava/time/LocalTime;")?,
        get_hour: method(env, "java/time/LocalTime", "getHour", "()I")?,
        get_minute: method(env, "java/time/LocalTime", "getMinute", "()I")?,
        get_second: method(env, "java/time/LocalTime", "getSecond", "()I")?,
        get_nano: method(env, "java/time/LocalTime", "getNano", "()I")?,
        local_date_time_of: static_method(
            env,
            &local_date_time,
            "of",
            "(Ljava/time/LocalDate;Ljava/time/LocalTime;)Ljava/time/LocalDateTime;",
        )?,
        local_date_time_to_local_date: method(
            env,
            "java/time/LocalDateTime",
            "toLocalDate",
            "()Ljava/time/LocalDate;",
        )?,
        local_date_time_to_local_time: method(
            env,
            "java/time/LocalDateTime",
            "toLocalTime",
            "()Ljava/time/LocalTime;",
        )?,
        offset_date_time_of: static_method(
            env,
            &offset_date_time,
            "of",
            "(Ljava/time/LocalDateTime;Ljava/time/ZoneOffset;)Ljava/time/OffsetDateTime;",
        )?,
        offset_date_time_to_local_date_time: method(
            env,
            "java/time/OffsetDateTime",
            "toLocalDateTime",
            "()Ljava/time/LocalDateTime;",
        )?,
        get_offset: method(
            env,
            "java/time/OffsetDateTime",
            "getOffset",
            "()Ljava/time/ZoneOffset;",
        )?,
        zone_offset_of_total_seconds: static_method(
            env,
            &zone_offset,
            "ofTotalSeconds",
            "(I)Ljava/time/ZoneOffset;",
        )?,
        get_total_seconds: method(env, "java/time/ZoneOffset", "getTotalSeconds", "()I")?,
        big_decimal,
        sql_date,
        sql_time,
        sql_timestamp,
        local_date,
        local_time,
        local_date_time,
        offset_date_time,
        zone_offset,
    })
}

/// Calls a method through its ID.
///
/// Every caller below passes the ID of one method from [`Ids`], `ret` matching that method's
/// return type, `args` matching its parameters, and `obj` an instance of the type that declares
/// it, as each caller's documentation asks of its own caller.
#[allow(unsafe_code)]
fn call<'local>(
    env: &mut JNIEnv<'local>,
    obj: &JObject<'_>,
    id: JMethodID,
    ret: ReturnType,
    args: &[jvalue],
) -> Result<JValueOwned<'local>, JdbcError> {
    // SAFETY: the ID, return type and arguments match one method, and `obj` is an instance of
    // the type declaring it, as the callers in this module guarantee (see above).
    unsafe { env.call_method_unchecked(obj, id, ret, args) }.or_throw(env)
}

/// A method returning an object (or an array); the object may be null.
fn object<'local>(
    env: &mut JNIEnv<'local>,
    obj: &JObject<'_>,
    id: JMethodID,
    args: &[jvalue],
) -> Result<JObject<'local>, JdbcError> {
    call(env, obj, id, ReturnType::Object, args)?.l().or_throw(env)
}

/// As [`object`], `None` for null.
fn nullable<'local>(
    env: &mut JNIEnv<'local>,
    obj: &JObject<'_>,
    id: JMethodID,
    args: &[jvalue],
) -> Result<Option<JObject<'local>>, JdbcError> {
    let value = object(env, obj, id, args)?;
    Ok((!value.is_null()).then_some(value))
}

fn boolean(
    env: &mut JNIEnv<'_>,
    obj: &JObject<'_>,
    id: JMethodID,
    args: &[jvalue],
) -> Result<bool, JdbcError> {
    call(env, obj, id, ReturnType::Primitive(Primitive::Boolean), args)?
        .z()
        .or_throw(env)
}

fn int(env: &mut JNIEnv<'_>, obj: &JObject<'_>, id: JMethodID, args: &[jvalue]) -> Result<i32, JdbcError> {
    call(env, obj, id, ReturnType::Primitive(Primitive::Int), args)?
        .i()
        .or_throw(env)
}

fn void(env: &mut JNIEnv<'_>, obj: &JObject<'_>, id: JMethodID, args: &[jvalue]) -> Result<(), JdbcError> {
    call(env, obj, id, ReturnType::Primitive(Primitive::Void), args)?;
    Ok(())
}

/// Calls a static method returning an object through its ID: every caller passes the class
/// and ID of one static method from [`Ids`] and arguments matching its parameters.
#[allow(unsafe_code)]
fn static_object<'local>(
    env: &mut JNIEnv<'local>,
    class: &GlobalRef,
    id: JStaticMethodID,
    args: &[jvalue],
) -> Result<JObject<'local>, JdbcError> {
    // SAFETY: `class` declares the static method `id`, which returns an object, and `args`
    // match its parameters, as every caller in this module guarantees (see above).
    unsafe { env.call_static_method_unchecked(class, id, ReturnType::Object, args) }
        .and_then(|value| value.l())
        .or_throw(env)
}

fn index(i: i32) -> jvalue {
    jvalue { i }
}

fn reference(obj: &JObject<'_>) -> jvalue {
    jvalue { l: obj.as_raw() }
}

/// A Java `String`, as Rust text. `s` must be a non-null object that a method declared to
/// return `java.lang.String` returned.
#[allow(unsafe_code)]
pub(super) fn string(env: &mut JNIEnv<'_>, s: &JObject<'_>) -> Result<String, JdbcError> {
    let s: &JString<'_> = s.into();
    // SAFETY: every caller passes a non-null object returned by a method declared to return
    // `java.lang.String` (the checked `get_string` would look the class up on every call).
    let text = unsafe { env.get_string_unchecked(s) }.or_throw(env)?;
    Ok(text.into())
}

/// A Java `String` from a method declared to return one, as Rust text, and its local
/// reference freed; empty for null.
fn take_string(env: &mut JNIEnv<'_>, s: JObject<'_>) -> Result<String, JdbcError> {
    if s.is_null() {
        return Ok(String::new());
    }
    let text = string(env, &s);
    env.delete_local_ref(s).or_throw(env)?;
    text
}

// ---------------------------------------------------------------------------------------------
// java.sql.Connection (`conn` is one, from the driver)

/// `conn.prepareStatement(sql)`.
pub(super) fn prepare_statement<'local>(
    env: &mut JNIEnv<'local>,
    conn: &JObject<'_>,
    sql: &str,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.prepare_statement;
    let text = env.new_string(sql).or_throw(env)?;
    let stmt = object(env, conn, id, &[reference(&text)]);
    env.delete_local_ref(text).or_throw(env)?;
    stmt
}

/// `conn.createStatement()`.
pub(super) fn create_statement<'local>(
    env: &mut JNIEnv<'local>,
    conn: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.create_statement;
    object(env, conn, id, &[])
}

/// `conn.setAutoCommit(on)`.
pub(super) fn set_auto_commit(env: &mut JNIEnv<'_>, conn: &JObject<'_>, on: bool) -> Result<(), JdbcError> {
    let id = ids(env)?.set_auto_commit;
    void(env, conn, id, &[jvalue { z: on.into() }])
}

/// `conn.getAutoCommit()`.
pub(super) fn get_auto_commit(env: &mut JNIEnv<'_>, conn: &JObject<'_>) -> Result<bool, JdbcError> {
    let id = ids(env)?.get_auto_commit;
    boolean(env, conn, id, &[])
}

/// `conn.commit()`.
pub(super) fn commit(env: &mut JNIEnv<'_>, conn: &JObject<'_>) -> Result<(), JdbcError> {
    let id = ids(env)?.commit;
    void(env, conn, id, &[])
}

/// `conn.rollback()`.
pub(super) fn rollback(env: &mut JNIEnv<'_>, conn: &JObject<'_>) -> Result<(), JdbcError> {
    let id = ids(env)?.rollback;
    void(env, conn, id, &[])
}

/// `conn.isClosed()`.
pub(super) fn is_closed(env: &mut JNIEnv<'_>, conn: &JObject<'_>) -> Result<bool, JdbcError> {
    let id = ids(env)?.is_closed;
    boolean(env, conn, id, &[])
}

/// `conn.isValid(seconds)`.
pub(super) fn is_valid(env: &mut JNIEnv<'_>, conn: &JObject<'_>, seconds: i32) -> Result<bool, JdbcError> {
    let id = ids(env)?.is_valid;
    boolean(env, conn, id, &[jvalue { i: seconds }])
}

/// `conn.getNetworkTimeout()`.
pub(super) fn get_network_timeout(env: &mut JNIEnv<'_>, conn: &JObject<'_>) -> Result<i32, JdbcError> {
    let id = ids(env)?.get_network_timeout;
    int(env, conn, id, &[])
}

/// `conn.setNetworkTimeout(executor, ms)`; `executor` is a `java.util.concurrent.Executor`.
pub(super) fn set_network_timeout(
    env: &mut JNIEnv<'_>,
    conn: &JObject<'_>,
    executor: &JObject<'_>,
    ms: i32,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_network_timeout;
    void(env, conn, id, &[reference(executor), jvalue { i: ms }])
}

/// `conn.abort(executor)`; `executor` is a `java.util.concurrent.Executor`.
pub(super) fn abort(
    env: &mut JNIEnv<'_>,
    conn: &JObject<'_>,
    executor: &JObject<'_>,
) -> Result<(), JdbcError> {
    let id = ids(env)?.abort;
    void(env, conn, id, &[reference(executor)])
}

/// `obj.close()` on a `Connection`, `Statement` or `ResultSet` (any `AutoCloseable`).
pub(super) fn close(env: &mut JNIEnv<'_>, obj: &JObject<'_>) -> Result<(), JdbcError> {
    let id = ids(env)?.close;
    void(env, obj, id, &[])
}

/// As [`close`], ignoring a null object and any failure (its exception cleared): for paths that
/// already have a result or an error to report.
pub(super) fn close_quietly(env: &mut JNIEnv<'_>, obj: &JObject<'_>) {
    if !obj.is_null() && close(env, obj).is_err() {
        let _ = take_exception(env);
    }
}

// ---------------------------------------------------------------------------------------------
// java.sql.Statement and PreparedStatement (`stmt` is one, from `conn`)

/// `stmt.execute(sql)` on a plain `Statement`: whether it returned a result set.
pub(super) fn execute_sql(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, sql: &str) -> Result<bool, JdbcError> {
    let id = ids(env)?.execute_sql;
    let text = env.new_string(sql).or_throw(env)?;
    let result = boolean(env, stmt, id, &[reference(&text)]);
    env.delete_local_ref(text).or_throw(env)?;
    result
}

/// `stmt.execute()` on a `PreparedStatement`: whether it returned a result set.
pub(super) fn execute(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<bool, JdbcError> {
    let id = ids(env)?.execute;
    boolean(env, stmt, id, &[])
}

/// `stmt.executeQuery()` on a `PreparedStatement`: its result set.
pub(super) fn execute_query<'local>(
    env: &mut JNIEnv<'local>,
    stmt: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.execute_query;
    object(env, stmt, id, &[])
}

/// `stmt.getResultSet()` on a `Statement` or `PreparedStatement`.
pub(super) fn get_result_set<'local>(
    env: &mut JNIEnv<'local>,
    stmt: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.get_result_set;
    object(env, stmt, id, &[])
}

/// `stmt.getUpdateCount()` on a `Statement` or `PreparedStatement`.
pub(super) fn get_update_count(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<i32, JdbcError> {
    let id = ids(env)?.get_update_count;
    int(env, stmt, id, &[])
}

/// `stmt.addBatch()` on a `PreparedStatement`.
pub(super) fn add_batch(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<(), JdbcError> {
    let id = ids(env)?.add_batch;
    void(env, stmt, id, &[])
}

/// `stmt.executeBatch()` on a `PreparedStatement`: each entry's update count.
pub(super) fn execute_batch(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<Vec<i32>, JdbcError> {
    let id = ids(env)?.execute_batch;
    let array = jni::objects::JIntArray::from(object(env, stmt, id, &[])?);
    let len = env.get_array_length(&array).or_throw(env)?;
    let mut counts = vec![0i32; usize::try_from(len).unwrap_or(0)];
    env.get_int_array_region(&array, 0, &mut counts).or_throw(env)?;
    env.delete_local_ref(array).or_throw(env)?;
    Ok(counts)
}

/// `stmt.setNull(index, type)` on a `PreparedStatement` (`type` from `java.sql.Types`).
pub(super) fn set_null(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    sql_type: i32,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_null;
    void(env, stmt, id, &[index(at), jvalue { i: sql_type }])
}

/// `stmt.setBoolean(index, b)` on a `PreparedStatement`.
pub(super) fn set_boolean(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    b: bool,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_boolean;
    void(env, stmt, id, &[index(at), jvalue { z: b.into() }])
}

/// `stmt.setLong(index, n)` on a `PreparedStatement`.
pub(super) fn set_long(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, at: i32, n: i64) -> Result<(), JdbcError> {
    let id = ids(env)?.set_long;
    void(env, stmt, id, &[index(at), jvalue { j: n }])
}

/// `stmt.setDouble(index, x)` on a `PreparedStatement`.
pub(super) fn set_double(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, at: i32, x: f64) -> Result<(), JdbcError> {
    let id = ids(env)?.set_double;
    void(env, stmt, id, &[index(at), jvalue { d: x }])
}

/// `stmt.setString(index, s)` on a `PreparedStatement`.
pub(super) fn set_string(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    s: &str,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_string;
    let text = env.new_string(s).or_throw(env)?;
    let result = void(env, stmt, id, &[index(at), reference(&text)]);
    env.delete_local_ref(text).or_throw(env)?;
    result
}

/// `stmt.setBytes(index, bytes)` on a `PreparedStatement`.
pub(super) fn set_bytes(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    bytes: &[u8],
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_bytes;
    let array = env.byte_array_from_slice(bytes).or_throw(env)?;
    let result = void(env, stmt, id, &[index(at), reference(&array)]);
    env.delete_local_ref(array).or_throw(env)?;
    result
}

/// `stmt.setBigDecimal(index, new BigDecimal(text))` on a `PreparedStatement`.
pub(super) fn set_big_decimal(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    text: &str,
) -> Result<(), JdbcError> {
    let ids = ids(env)?;
    let text = env.new_string(text).or_throw(env)?;
    let big = new_big_decimal(env, &text);
    env.delete_local_ref(text).or_throw(env)?;
    let big = big?;
    let result = void(env, stmt, ids.set_big_decimal, &[index(at), reference(&big)]);
    env.delete_local_ref(big).or_throw(env)?;
    result
}

/// `new BigDecimal(text)`; `text` is a `String`.
#[allow(unsafe_code)]
fn new_big_decimal<'local>(
    env: &mut JNIEnv<'local>,
    text: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    // SAFETY: the class and constructor are BigDecimal's, and the constructor takes one String.
    unsafe { env.new_object_unchecked(&ids.big_decimal, ids.big_decimal_new, &[reference(text)]) }
        .or_throw(env)
}

/// `stmt.setDate(index, date)` on a `PreparedStatement`; `date` is a `java.sql.Date`.
pub(super) fn set_date(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    date: &JObject<'_>,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_date;
    void(env, stmt, id, &[index(at), reference(date)])
}

/// `stmt.setTime(index, time)` on a `PreparedStatement`; `time` is a `java.sql.Time`.
pub(super) fn set_time(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    time: &JObject<'_>,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_time;
    void(env, stmt, id, &[index(at), reference(time)])
}

/// `stmt.setTimestamp(index, stamp)` on a `PreparedStatement`; `stamp` is a
/// `java.sql.Timestamp`.
pub(super) fn set_timestamp(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    stamp: &JObject<'_>,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_timestamp;
    void(env, stmt, id, &[index(at), reference(stamp)])
}

/// `stmt.setObject(index, value)` on a `PreparedStatement`; `value` is any object.
pub(super) fn set_object(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    at: i32,
    value: &JObject<'_>,
) -> Result<(), JdbcError> {
    let id = ids(env)?.set_object;
    void(env, stmt, id, &[index(at), reference(value)])
}

/// `stmt.getParameterMetaData().getParameterType(index)` on a `PreparedStatement`.
pub(super) fn parameter_type(env: &mut JNIEnv<'_>, stmt: &JObject<'_>, at: i32) -> Result<i32, JdbcError> {
    let ids = ids(env)?;
    let meta = object(env, stmt, ids.get_parameter_meta_data, &[])?;
    let sql_type = int(env, &meta, ids.get_parameter_type, &[index(at)]);
    env.delete_local_ref(meta).or_throw(env)?;
    sql_type
}

// ---------------------------------------------------------------------------------------------
// java.sql.ResultSet (`rs` is one, from `getResultSet`) and its ResultSetMetaData

/// `rs.next()`.
pub(super) fn next(env: &mut JNIEnv<'_>, rs: &JObject<'_>) -> Result<bool, JdbcError> {
    let id = ids(env)?.next;
    boolean(env, rs, id, &[])
}

/// `rs.wasNull()`.
pub(super) fn was_null(env: &mut JNIEnv<'_>, rs: &JObject<'_>) -> Result<bool, JdbcError> {
    let id = ids(env)?.was_null;
    boolean(env, rs, id, &[])
}

/// `rs.getBoolean(index)`.
pub(super) fn get_boolean(env: &mut JNIEnv<'_>, rs: &JObject<'_>, at: i32) -> Result<bool, JdbcError> {
    let id = ids(env)?.get_boolean;
    boolean(env, rs, id, &[index(at)])
}

/// `rs.getLong(index)`.
pub(super) fn get_long(env: &mut JNIEnv<'_>, rs: &JObject<'_>, at: i32) -> Result<i64, JdbcError> {
    let id = ids(env)?.get_long;
    call(env, rs, id, ReturnType::Primitive(Primitive::Long), &[index(at)])?
        .j()
        .or_throw(env)
}

/// `rs.getDouble(index)`.
pub(super) fn get_double(env: &mut JNIEnv<'_>, rs: &JObject<'_>, at: i32) -> Result<f64, JdbcError> {
    let id = ids(env)?.get_double;
    call(
        env,
        rs,
        id,
        ReturnType::Primitive(Primitive::Double),
        &[index(at)],
    )?
    .d()
    .or_throw(env)
}

/// `rs.getString(index)` as Rust text; `None` for NULL. Leaves no local reference behind.
pub(super) fn get_string(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    at: i32,
) -> Result<Option<String>, JdbcError> {
    let id = ids(env)?.get_string;
    let Some(s) = nullable(env, rs, id, &[index(at)])? else {
        return Ok(None);
    };
    take_string(env, s).map(Some)
}

/// `rs.getBigDecimal(index).toPlainString()`; `None` for NULL. Leaves no local reference
/// behind.
pub(super) fn get_decimal(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    at: i32,
) -> Result<Option<String>, JdbcError> {
    let ids = ids(env)?;
    let Some(big) = nullable(env, rs, ids.get_big_decimal, &[index(at)])? else {
        return Ok(None);
    };
    let text = object(env, &big, ids.to_plain_string, &[]);
    env.delete_local_ref(big).or_throw(env)?;
    take_string(env, text?).map(Some)
}

/// `rs.getBytes(index)`; `None` for NULL. Leaves no local reference behind.
pub(super) fn get_bytes(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    at: i32,
) -> Result<Option<Vec<u8>>, JdbcError> {
    let id = ids(env)?.get_bytes;
    let Some(array) = nullable(env, rs, id, &[index(at)])? else {
        return Ok(None);
    };
    let array = jni::objects::JByteArray::from(array);
    let bytes = env.convert_byte_array(&array).or_throw(env);
    env.delete_local_ref(array).or_throw(env)?;
    bytes.map(Some)
}

/// `rs.getDate(index)`, a `java.sql.Date`; `None` for NULL.
pub(super) fn get_date<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
    at: i32,
) -> Result<Option<JObject<'local>>, JdbcError> {
    let id = ids(env)?.get_date;
    nullable(env, rs, id, &[index(at)])
}

/// `rs.getTime(index)`, a `java.sql.Time`; `None` for NULL.
pub(super) fn get_time<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
    at: i32,
) -> Result<Option<JObject<'local>>, JdbcError> {
    let id = ids(env)?.get_time;
    nullable(env, rs, id, &[index(at)])
}

/// `rs.getTimestamp(index)`, a `java.sql.Timestamp`; `None` for NULL.
pub(super) fn get_timestamp<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
    at: i32,
) -> Result<Option<JObject<'local>>, JdbcError> {
    let id = ids(env)?.get_timestamp;
    nullable(env, rs, id, &[index(at)])
}

/// `rs.getObject(index, OffsetDateTime.class)`, a `java.time.OffsetDateTime`; `None` for NULL.
pub(super) fn get_offset_date_time<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
    at: i32,
) -> Result<Option<JObject<'local>>, JdbcError> {
    let ids = ids(env)?;
    nullable(
        env,
        rs,
        ids.get_object_as,
        &[index(at), reference(ids.offset_date_time.as_obj())],
    )
}

/// `rs.getMetaData()`.
pub(super) fn get_meta_data<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.get_meta_data;
    object(env, rs, id, &[])
}

/// `meta.getColumnCount()` on a `ResultSetMetaData`.
pub(super) fn get_column_count(env: &mut JNIEnv<'_>, meta: &JObject<'_>) -> Result<i32, JdbcError> {
    let id = ids(env)?.get_column_count;
    int(env, meta, id, &[])
}

/// `meta.getColumnLabel(index)` on a `ResultSetMetaData`, as Rust text (empty for null).
pub(super) fn get_column_label(
    env: &mut JNIEnv<'_>,
    meta: &JObject<'_>,
    at: i32,
) -> Result<String, JdbcError> {
    let id = ids(env)?.get_column_label;
    let label = object(env, meta, id, &[index(at)])?;
    take_string(env, label)
}

/// `meta.getColumnType(index)` on a `ResultSetMetaData`.
pub(super) fn get_column_type(env: &mut JNIEnv<'_>, meta: &JObject<'_>, at: i32) -> Result<i32, JdbcError> {
    let id = ids(env)?.get_column_type;
    int(env, meta, id, &[index(at)])
}

/// `meta.getColumnTypeName(index)` on a `ResultSetMetaData`, as Rust text (empty for null).
pub(super) fn get_column_type_name(
    env: &mut JNIEnv<'_>,
    meta: &JObject<'_>,
    at: i32,
) -> Result<String, JdbcError> {
    let id = ids(env)?.get_column_type_name;
    let name = object(env, meta, id, &[index(at)])?;
    take_string(env, name)
}

// ---------------------------------------------------------------------------------------------
// java.sql.Date, Time, Timestamp and java.time

/// The parts of a `java.time.LocalDate`: year, month, day.
pub(super) fn local_date_parts(env: &mut JNIEnv<'_>, date: &JObject<'_>) -> Result<[i32; 3], JdbcError> {
    let ids = ids(env)?;
    Ok([
        int(env, date, ids.get_year, &[])?,
        int(env, date, ids.get_month_value, &[])?,
        int(env, date, ids.get_day_of_month, &[])?,
    ])
}

/// The parts of a `java.time.LocalTime`: hour, minute, second, nanosecond.
pub(super) fn local_time_parts(env: &mut JNIEnv<'_>, time: &JObject<'_>) -> Result<[i32; 4], JdbcError> {
    let ids = ids(env)?;
    Ok([
        int(env, time, ids.get_hour, &[])?,
        int(env, time, ids.get_minute, &[])?,
        int(env, time, ids.get_second, &[])?,
        int(env, time, ids.get_nano, &[])?,
    ])
}

/// `date.toLocalDate()` on a `java.sql.Date`.
pub(super) fn sql_date_to_local_date<'local>(
    env: &mut JNIEnv<'local>,
    date: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.sql_date_to_local_date;
    object(env, date, id, &[])
}

/// `time.toLocalTime()` on a `java.sql.Time`.
pub(super) fn sql_time_to_local_time<'local>(
    env: &mut JNIEnv<'local>,
    time: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.sql_time_to_local_time;
    object(env, time, id, &[])
}

/// `stamp.toLocalDateTime()` on a `java.sql.Timestamp`.
pub(super) fn sql_timestamp_to_local_date_time<'local>(
    env: &mut JNIEnv<'local>,
    stamp: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let id = ids(env)?.sql_timestamp_to_local_date_time;
    object(env, stamp, id, &[])
}

/// `local.toLocalDate()` and `local.toLocalTime()` on a `java.time.LocalDateTime`.
pub(super) fn local_date_time_parts<'local>(
    env: &mut JNIEnv<'local>,
    local: &JObject<'_>,
) -> Result<(JObject<'local>, JObject<'local>), JdbcError> {
    let ids = ids(env)?;
    let date = object(env, local, ids.local_date_time_to_local_date, &[])?;
    let time = object(env, local, ids.local_date_time_to_local_time, &[])?;
    Ok((date, time))
}

/// `odt.toLocalDateTime()` and `odt.getOffset().getTotalSeconds()` on a
/// `java.time.OffsetDateTime`.
pub(super) fn offset_date_time_parts<'local>(
    env: &mut JNIEnv<'local>,
    odt: &JObject<'_>,
) -> Result<(JObject<'local>, i32), JdbcError> {
    let ids = ids(env)?;
    let local = object(env, odt, ids.offset_date_time_to_local_date_time, &[])?;
    let offset = object(env, odt, ids.get_offset, &[])?;
    let seconds = int(env, &offset, ids.get_total_seconds, &[])?;
    Ok((local, seconds))
}

/// `LocalDate.of(year, month, day)`.
pub(super) fn new_local_date<'local>(
    env: &mut JNIEnv<'local>,
    year: i32,
    month: i32,
    day: i32,
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    static_object(
        env,
        &ids.local_date,
        ids.local_date_of,
        &[jvalue { i: year }, jvalue { i: month }, jvalue { i: day }],
    )
}

/// `LocalTime.of(hour, minute, second, nano)`.
pub(super) fn new_local_time<'local>(
    env: &mut JNIEnv<'local>,
    [hour, minute, second, nano]: [i32; 4],
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    static_object(
        env,
        &ids.local_time,
        ids.local_time_of,
        &[
            jvalue { i: hour },
            jvalue { i: minute },
            jvalue { i: second },
            jvalue { i: nano },
        ],
    )
}

/// `LocalDateTime.of(date, time)` from a `LocalDate` and a `LocalTime`.
pub(super) fn new_local_date_time<'local>(
    env: &mut JNIEnv<'local>,
    date: &JObject<'_>,
    time: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    static_object(
        env,
        &ids.local_date_time,
        ids.local_date_time_of,
        &[reference(date), reference(time)],
    )
}

/// `OffsetDateTime.of(local, ZoneOffset.ofTotalSeconds(seconds))` from a `LocalDateTime`.
pub(super) fn new_offset_date_time<'local>(
    env: &mut JNIEnv<'local>,
    local: &JObject<'_>,
    seconds: i32,
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    let offset = static_object(
        env,
        &ids.zone_offset,
        ids.zone_offset_of_total_seconds,
        &[jvalue { i: seconds }],
    )?;
    static_object(
        env,
        &ids.offset_date_time,
        ids.offset_date_time_of,
        &[reference(local), reference(&offset)],
    )
}

/// `java.sql.Date.valueOf(local)` from a `LocalDate`.
pub(super) fn sql_date_value_of<'local>(
    env: &mut JNIEnv<'local>,
    local: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    static_object(env, &ids.sql_date, ids.sql_date_value_of, &[reference(local)])
}

/// `java.sql.Time.valueOf(local)` from a `LocalTime`.
pub(super) fn sql_time_value_of<'local>(
    env: &mut JNIEnv<'local>,
    local: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    static_object(env, &ids.sql_time, ids.sql_time_value_of, &[reference(local)])
}

/// `java.sql.Timestamp.valueOf(local)` from a `LocalDateTime`.
pub(super) fn sql_timestamp_value_of<'local>(
    env: &mut JNIEnv<'local>,
    local: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let ids = ids(env)?;
    static_object(
        env,
        &ids.sql_timestamp,
        ids.sql_timestamp_value_of,
        &[reference(local)],
    )
}
