//! The JDBC calls made for every statement, row or column, through method IDs looked up once
//! per process: looking a method up by name and parsing its signature on every call costs more
//! than the call itself.

use std::sync::OnceLock;

use jni::JNIEnv;
use jni::objects::{JMethodID, JObject, JValueOwned};
use jni::signature::{Primitive, ReturnType};
use jni::sys::jvalue;

use super::error::{JavaResult, JdbcError};

/// Method IDs of `java.sql` interfaces. They are loaded by the JVM's own loaders and never
/// unloaded, so their IDs stay valid for the life of the process, for every driver's
/// implementation.
#[derive(Debug, Clone, Copy)]
struct Methods {
    prepare_statement: JMethodID,
    execute: JMethodID,
    get_result_set: JMethodID,
    get_update_count: JMethodID,
    close: JMethodID,
    set_long: JMethodID,
    set_string: JMethodID,
    get_meta_data: JMethodID,
    get_column_count: JMethodID,
    get_column_label: JMethodID,
    get_column_type: JMethodID,
    next: JMethodID,
    was_null: JMethodID,
    get_boolean: JMethodID,
    get_long: JMethodID,
    get_double: JMethodID,
    get_string: JMethodID,
    get_big_decimal: JMethodID,
    get_bytes: JMethodID,
}

static METHODS: OnceLock<Methods> = OnceLock::new();

fn methods(env: &mut JNIEnv<'_>) -> Result<Methods, JdbcError> {
    if let Some(m) = METHODS.get() {
        return Ok(*m);
    }
    let mut id = |class: &str, name: &str, sig: &str| env.get_method_id(class, name, sig).or_throw(env);
    let (conn, stmt, meta) = (
        "java/sql/Connection",
        "java/sql/PreparedStatement",
        "java/sql/ResultSetMetaData",
    );
    let rs = "java/sql/ResultSet";
    let m = Methods {
        prepare_statement: id(
            conn,
            "prepareStatement",
            "(Ljava/lang/String;)Ljava/sql/PreparedStatement;",
        )?,
        execute: id(stmt, "execute", "()Z")?,
        get_result_set: id(stmt, "getResultSet", "()Ljava/sql/ResultSet;")?,
        get_update_count: id(stmt, "getUpdateCount", "()I")?,
        close: id("java/lang/AutoCloseable", "close", "()V")?,
        set_long: id(stmt, "setLong", "(IJ)V")?,
        set_string: id(stmt, "setString", "(ILjava/lang/String;)V")?,
        get_meta_data: id(rs, "getMetaData", "()Ljava/sql/ResultSetMetaData;")?,
        get_column_count: id(meta, "getColumnCount", "()I")?,
        get_column_label: id(meta, "getColumnLabel", "(I)Ljava/lang/String;")?,
        get_column_type: id(meta, "getColumnType", "(I)I")?,
        next: id(rs, "next", "()Z")?,
        was_null: id(rs, "wasNull", "()Z")?,
        get_boolean: id(rs, "getBoolean", "(I)Z")?,
        get_long: id(rs, "getLong", "(I)J")?,
        get_double: id(rs, "getDouble", "(I)D")?,
        get_string: id(rs, "getString", "(I)Ljava/lang/String;")?,
        get_big_decimal: id(rs, "getBigDecimal", "(I)Ljava/math/BigDecimal;")?,
        get_bytes: id(rs, "getBytes", "(I)[B")?,
    };
    Ok(*METHODS.get_or_init(|| m))
}

/// Calls a method through its ID.
///
/// Every caller below passes the ID of a method from [`Methods`], `ret` matching that method's
/// return type, `args` matching its parameters, and `obj` an instance of the method's
/// interface: a `Connection` (from the driver), a `PreparedStatement` (from
/// `prepareStatement`), a `ResultSet` (from `getResultSet`), its `ResultSetMetaData` (from
/// `getMetaData`); all of them are `AutoCloseable`.
#[allow(unsafe_code)]
fn call<'local>(
    env: &mut JNIEnv<'local>,
    obj: &JObject<'_>,
    id: JMethodID,
    ret: ReturnType,
    args: &[jvalue],
) -> Result<JValueOwned<'local>, JdbcError> {
    // SAFETY: the ID, return type and arguments match one interface method, and `obj`
    // implements that interface, as the callers in this module guarantee (see above).
    unsafe { env.call_method_unchecked(obj, id, ret, args) }.or_throw(env)
}

fn column(index: i32) -> [jvalue; 1] {
    [jvalue { i: index }]
}

/// `rs.next()`.
pub(super) fn next(env: &mut JNIEnv<'_>, rs: &JObject<'_>) -> Result<bool, JdbcError> {
    let m = methods(env)?;
    call(env, rs, m.next, ReturnType::Primitive(Primitive::Boolean), &[])?
        .z()
        .or_throw(env)
}

/// `rs.wasNull()`.
pub(super) fn was_null(env: &mut JNIEnv<'_>, rs: &JObject<'_>) -> Result<bool, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        rs,
        m.was_null,
        ReturnType::Primitive(Primitive::Boolean),
        &[],
    )?
    .z()
    .or_throw(env)
}

/// `rs.getBoolean(index)`.
pub(super) fn get_boolean(env: &mut JNIEnv<'_>, rs: &JObject<'_>, index: i32) -> Result<bool, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        rs,
        m.get_boolean,
        ReturnType::Primitive(Primitive::Boolean),
        &column(index),
    )?
    .z()
    .or_throw(env)
}

/// `rs.getLong(index)`.
pub(super) fn get_long(env: &mut JNIEnv<'_>, rs: &JObject<'_>, index: i32) -> Result<i64, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        rs,
        m.get_long,
        ReturnType::Primitive(Primitive::Long),
        &column(index),
    )?
    .j()
    .or_throw(env)
}

/// `rs.getDouble(index)`.
pub(super) fn get_double(env: &mut JNIEnv<'_>, rs: &JObject<'_>, index: i32) -> Result<f64, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        rs,
        m.get_double,
        ReturnType::Primitive(Primitive::Double),
        &column(index),
    )?
    .d()
    .or_throw(env)
}

/// Which object getter [`get_object`] calls.
#[derive(Debug, Clone, Copy)]
pub(super) enum ObjectGetter {
    String,
    BigDecimal,
    Bytes,
}

/// `rs.getString(index)`, `rs.getBigDecimal(index)` or `rs.getBytes(index)`; `None` for NULL.
pub(super) fn get_object<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
    index: i32,
    getter: ObjectGetter,
) -> Result<Option<JObject<'local>>, JdbcError> {
    let m = methods(env)?;
    let (id, ret) = match getter {
        ObjectGetter::String => (m.get_string, ReturnType::Object),
        ObjectGetter::BigDecimal => (m.get_big_decimal, ReturnType::Object),
        ObjectGetter::Bytes => (m.get_bytes, ReturnType::Array),
    };
    let obj = call(env, rs, id, ret, &column(index))?.l().or_throw(env)?;
    Ok((!obj.is_null()).then_some(obj))
}

/// `conn.prepareStatement(sql)`.
pub(super) fn prepare_statement<'local>(
    env: &mut JNIEnv<'local>,
    conn: &JObject<'_>,
    sql: &str,
) -> Result<JObject<'local>, JdbcError> {
    let m = methods(env)?;
    let text = env.new_string(sql).or_throw(env)?;
    let stmt = call(
        env,
        conn,
        m.prepare_statement,
        ReturnType::Object,
        &[jvalue { l: text.as_raw() }],
    )?
    .l()
    .or_throw(env);
    env.delete_local_ref(text).or_throw(env)?;
    stmt
}

/// `stmt.execute()` on a `PreparedStatement`: whether it returned a result set.
pub(super) fn execute(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<bool, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        stmt,
        m.execute,
        ReturnType::Primitive(Primitive::Boolean),
        &[],
    )?
    .z()
    .or_throw(env)
}

/// `stmt.getResultSet()` on a `PreparedStatement`.
pub(super) fn get_result_set<'local>(
    env: &mut JNIEnv<'local>,
    stmt: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let m = methods(env)?;
    call(env, stmt, m.get_result_set, ReturnType::Object, &[])?
        .l()
        .or_throw(env)
}

/// `stmt.getUpdateCount()` on a `PreparedStatement`.
pub(super) fn get_update_count(env: &mut JNIEnv<'_>, stmt: &JObject<'_>) -> Result<i32, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        stmt,
        m.get_update_count,
        ReturnType::Primitive(Primitive::Int),
        &[],
    )?
    .i()
    .or_throw(env)
}

/// `obj.close()` on a `Connection`, `PreparedStatement` or `ResultSet`.
pub(super) fn close(env: &mut JNIEnv<'_>, obj: &JObject<'_>) -> Result<(), JdbcError> {
    let m = methods(env)?;
    call(env, obj, m.close, ReturnType::Primitive(Primitive::Void), &[])?;
    Ok(())
}

/// `stmt.setLong(index, n)` on a `PreparedStatement`.
pub(super) fn set_long(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    index: i32,
    n: i64,
) -> Result<(), JdbcError> {
    let m = methods(env)?;
    call(
        env,
        stmt,
        m.set_long,
        ReturnType::Primitive(Primitive::Void),
        &[jvalue { i: index }, jvalue { j: n }],
    )?;
    Ok(())
}

/// `stmt.setString(index, s)` on a `PreparedStatement`.
pub(super) fn set_string(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    index: i32,
    s: &str,
) -> Result<(), JdbcError> {
    let m = methods(env)?;
    let text = env.new_string(s).or_throw(env)?;
    call(
        env,
        stmt,
        m.set_string,
        ReturnType::Primitive(Primitive::Void),
        &[jvalue { i: index }, jvalue { l: text.as_raw() }],
    )?;
    Ok(())
}

/// `rs.getMetaData()`.
pub(super) fn get_meta_data<'local>(
    env: &mut JNIEnv<'local>,
    rs: &JObject<'_>,
) -> Result<JObject<'local>, JdbcError> {
    let m = methods(env)?;
    call(env, rs, m.get_meta_data, ReturnType::Object, &[])?
        .l()
        .or_throw(env)
}

/// `meta.getColumnCount()` on a `ResultSetMetaData`.
pub(super) fn get_column_count(env: &mut JNIEnv<'_>, meta: &JObject<'_>) -> Result<i32, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        meta,
        m.get_column_count,
        ReturnType::Primitive(Primitive::Int),
        &[],
    )?
    .i()
    .or_throw(env)
}

/// `meta.getColumnLabel(index)` on a `ResultSetMetaData`; `None` when null.
pub(super) fn get_column_label<'local>(
    env: &mut JNIEnv<'local>,
    meta: &JObject<'_>,
    index: i32,
) -> Result<Option<JObject<'local>>, JdbcError> {
    let m = methods(env)?;
    let label = call(env, meta, m.get_column_label, ReturnType::Object, &column(index))?
        .l()
        .or_throw(env)?;
    Ok((!label.is_null()).then_some(label))
}

/// `meta.getColumnType(index)` on a `ResultSetMetaData`.
pub(super) fn get_column_type(
    env: &mut JNIEnv<'_>,
    meta: &JObject<'_>,
    index: i32,
) -> Result<i32, JdbcError> {
    let m = methods(env)?;
    call(
        env,
        meta,
        m.get_column_type,
        ReturnType::Primitive(Primitive::Int),
        &column(index),
    )?
    .i()
    .or_throw(env)
}
