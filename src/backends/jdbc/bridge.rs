//! The Rust half of the query bridge: a kept statement's whole query (its binds, its
//! `executeQuery`, every row and column read), or its whole update (binds, `execute`, update
//! count), runs in ONE call into the JVM, to
//! `millpond.jdbc.Bridge` (bridge/Bridge.java), where calling each JDBC method through JNI costs
//! a crossing per bind, per row and per column (each ~60–90 ns of JNI transition, more than H2
//! takes to find a row by its key).
//!
//! Parameters go to Java, and rows come back, through one direct `ByteBuffer` per connection,
//! which Rust reads and writes in place: no JNI call per value either. The class is embedded
//! compiled (Java 8's format) and defined in the system class loader on first use, so nothing
//! is compiled where millpond runs. When it cannot be defined, every query takes the call-by-call
//! path, as it does for what the bridge is not used for: statements prepared for one run (the
//! cache off, DDL), a query's first run (which reads the result's columns), and queries of
//! several statements. A query with a `*` goes through it with its column count checked in
//! Java; when the count changed, its result is read call by call, its columns first.

use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};

use jni::JNIEnv;
use jni::objects::{GlobalRef, JByteBuffer, JFieldID, JMethodID, JObject, JValueOwned};
use jni::signature::{Primitive, ReturnType};
use jni::sys::jvalue;

use super::error::{JavaResult, JdbcError, JdbcErrorKind, take_exception};
use super::jvm::{JavaRef, system_class_loader};
use super::rows::{Columns, ReadError, read_result_set};
use super::values::{Reader, date_from_parts, time_from_parts};
use crate::sql::{Row, Timestamp, TimestampTz, Value};

/// `Bridge.class`, compiled from `bridge/Bridge.java` (see its header for how).
const CLASS_FILE: &[u8] = include_bytes!("bridge/Bridge.class");

/// Its binary name.
const CLASS_NAME: &str = "millpond/jdbc/Bridge";

/// Set in an answer: the result set is still open (see `Bridge.MORE`).
const MORE: i32 = 1 << 30;
/// Set in an answer: the buffer was replaced by a larger one (see `Bridge.MOVED`).
const MOVED: i32 = 1 << 29;
/// A query's whole answer: the result has another column count than the request's, and is left
/// open to be detached (see `Bridge.STALE`).
const STALE: i32 = 1 << 28;
/// A buffer larger than this after a call is given back for a small one (a huge row once should
/// not hold its memory for the connection's life).
const SHRINK_ABOVE: usize = 1 << 20;

/// Parameter tags and column readers, as `Bridge` numbers them.
mod tag {
    pub(super) const NULL: u8 = 0;
    pub(super) const BOOL: u8 = 1;
    pub(super) const INT: u8 = 2;
    pub(super) const FLOAT: u8 = 3;
    pub(super) const DECIMAL: u8 = 4;
    pub(super) const TEXT: u8 = 5;
    pub(super) const BYTES: u8 = 6;
    pub(super) const DATE: u8 = 7;
    pub(super) const TIME: u8 = 8;
    pub(super) const TIMESTAMP: u8 = 9;
    pub(super) const TIMESTAMP_TZ: u8 = 10;
}

/// The class and its members, defined once per JVM.
struct Class {
    class: GlobalRef,
    new: JMethodID,
    query: JMethodID,
    more: JMethodID,
    update: JMethodID,
    add_batch: JMethodID,
    detach: JMethodID,
    close: JMethodID,
    reserve: JMethodID,
    shrink: JMethodID,
    buffer: JFieldID,
}

static CLASS: OnceLock<Option<Class>> = OnceLock::new();

/// The class, defined on first use; `None` when it cannot be (then nothing uses the bridge).
fn class(env: &mut JNIEnv<'_>) -> Option<&'static Class> {
    CLASS
        .get_or_init(|| match env.with_local_frame(16, define) {
            Ok(class) => Some(class),
            Err(err) => {
                log::debug!(target: "millpond::jdbc", "the query bridge class cannot be defined ({err}); queries call JDBC method by method");
                None
            }
        })
        .as_ref()
}

fn define(env: &mut JNIEnv<'_>) -> Result<Class, JdbcError> {
    // The system class loader: `java.sql` lives in the platform loader, which the bootstrap
    // loader (a null loader) cannot see.
    let loader = system_class_loader(env)?;
    let class = match env.define_class(CLASS_NAME, &loader, CLASS_FILE) {
        Ok(class) => class,
        // Defined already in this JVM (by another copy of millpond): that one will do.
        Err(_) => {
            let _ = take_exception(env);
            env.find_class(CLASS_NAME).or_throw(env)?
        }
    };
    let method =
        |env: &mut JNIEnv<'_>, name: &str, sig: &str| env.get_method_id(&class, name, sig).or_throw(env);
    let new = method(env, "<init>", "()V")?;
    let query = method(env, "query", "(Ljava/sql/PreparedStatement;I)I")?;
    let more = method(env, "more", "(I)I")?;
    let update = method(env, "update", "(Ljava/sql/PreparedStatement;)J")?;
    let add_batch = method(env, "addBatch", "(Ljava/sql/PreparedStatement;)V")?;
    let detach = method(env, "detach", "()Ljava/sql/ResultSet;")?;
    let close = method(env, "close", "()V")?;
    let reserve = method(env, "reserve", "(I)V")?;
    let shrink = method(env, "shrink", "()V")?;
    let buffer = env
        .get_field_id(&class, "buffer", "Ljava/nio/ByteBuffer;")
        .or_throw(env)?;
    Ok(Class {
        class: env.new_global_ref(&class).map_err(JdbcError::jni)?,
        new,
        query,
        more,
        update,
        add_batch,
        detach,
        close,
        reserve,
        shrink,
        buffer,
    })
}

/// A connection's `Bridge` and where its buffer is.
#[derive(Debug)]
pub(super) struct Bridge {
    obj: JavaRef,
    /// The buffer's address and size, as read after the last call that moved it.
    base: usize,
    capacity: usize,
    /// A call into the `Bridge` failed: it may have replaced the buffer before it threw (a
    /// large value grows it, and an exception then leaves no answer to say MOVED), so `base`
    /// is read again before the buffer is next used.
    stale: bool,
    /// The request, built here first (its size decides whether the buffer must grow).
    request: Vec<u8>,
}

impl Bridge {
    /// A bridge for one connection; `None` when the class cannot be defined (or the object
    /// made).
    pub(super) fn new(env: &mut JNIEnv<'_>) -> Option<Bridge> {
        let class = class(env)?;
        let made: Result<Bridge, JdbcError> = env.with_local_frame(16, |env| {
            // SAFETY: `new` is the class's constructor, which takes no argument.
            #[allow(unsafe_code)]
            let obj = unsafe { env.new_object_unchecked(&class.class, class.new, &[]) }.or_throw(env)?;
            let mut bridge = Bridge {
                obj: JavaRef::new(env, &obj)?,
                base: 0,
                capacity: 0,
                stale: false,
                request: Vec::with_capacity(256),
            };
            bridge.locate(env, class)?;
            Ok(bridge)
        });
        match made {
            Ok(bridge) => Some(bridge),
            Err(err) => {
                log::debug!(target: "millpond::jdbc", "no query bridge for this connection ({err})");
                None
            }
        }
    }

    /// Reads where the buffer is now.
    fn locate(&mut self, env: &mut JNIEnv<'_>, class: &Class) -> Result<(), JdbcError> {
        let buffer = env
            .get_field_unchecked(self.obj.as_obj(), class.buffer, ReturnType::Object)
            .and_then(JValueOwned::l)
            .or_throw(env)?;
        let buffer = JByteBuffer::from(buffer);
        let base = env.get_direct_buffer_address(&buffer).map_err(JdbcError::jni)?;
        let capacity = env.get_direct_buffer_capacity(&buffer).map_err(JdbcError::jni)?;
        env.delete_local_ref(buffer).map_err(JdbcError::jni)?;
        self.base = base as usize;
        self.capacity = capacity;
        self.stale = false;
        Ok(())
    }

    /// The buffer's bytes. Valid until the next call into the `Bridge`, which may replace it:
    /// nothing else in the JVM touches it, as only this connection's calls use it and they are
    /// made by whoever holds the connection.
    fn bytes(&self) -> &[u8] {
        // SAFETY: `base` and `capacity` are those of the direct buffer the `Bridge` holds, read
        // after the last call that could replace it (`locate` follows every answer with MOVED);
        // the `Bridge` (held by a global reference) keeps it alive, and Java writes to it only
        // during calls made through this value, which borrow it mutably.
        #[allow(unsafe_code)]
        unsafe {
            std::slice::from_raw_parts(self.base as *const u8, self.capacity)
        }
    }

    /// Runs `stmt` (a `PreparedStatement` of `sql` from the same connection) through the
    /// bridge: binds `values`, executes it as a query and hands each row, read as `columns` (kept
    /// from an earlier run) says, to `f`, up to `max_rows`. For SQL with a `*` the result's
    /// column count is checked first: when it changed, the columns are read again (and kept in
    /// `columns`) and the rows read call by call. The result set is closed when this returns.
    /// `None` when `columns` holds none or a value cannot be sent this way (then nothing was
    /// run).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn query(
        &mut self,
        env: &mut JNIEnv<'_>,
        stmt: &JObject<'_>,
        sql: &str,
        values: &[Value],
        columns: &mut Option<Columns>,
        max_rows: i32,
        f: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
    ) -> Option<Result<(), ReadError>> {
        let class = CLASS.get()?.as_ref()?;
        let known = columns.as_ref()?;
        if !self.encode(values, Some((known.readers(), known.checked()))) {
            return None;
        }
        Some(self.run(env, class, stmt, sql, columns, max_rows, f))
    }

    /// Binds `values` to `stmt` (a `PreparedStatement` from the same connection) and adds them
    /// to its batch, in one call. `None` when a value cannot be sent this way (then nothing was
    /// bound).
    pub(super) fn add_batch(
        &mut self,
        env: &mut JNIEnv<'_>,
        stmt: &JObject<'_>,
        values: &[Value],
    ) -> Option<Result<(), JdbcError>> {
        let class = CLASS.get()?.as_ref()?;
        if !self.encode(values, None) {
            return None;
        }
        Some(
            self.send(env, class)
                .and_then(|()| self.void(env, class.add_batch, &[jvalue { l: stmt.as_raw() }]))
                .and_then(|()| self.give_back_large(env, class)),
        )
    }

    /// Runs `stmt` (a `PreparedStatement` from the same connection) through the bridge with
    /// `values` bound, as `execute_update` does call by call: its update count,
    /// 0 when it has none (a result set is closed unread). `None` when a value cannot be sent
    /// this way (then nothing was run).
    pub(super) fn update(
        &mut self,
        env: &mut JNIEnv<'_>,
        stmt: &JObject<'_>,
        values: &[Value],
    ) -> Option<Result<u64, JdbcError>> {
        let class = CLASS.get()?.as_ref()?;
        if !self.encode(values, None) {
            return None;
        }
        Some(self.send(env, class).and_then(|()| {
            // SAFETY: `update` is the class's method taking a `PreparedStatement` and returning
            // a `long`; the object is a `Bridge`.
            #[allow(unsafe_code)]
            let count = unsafe {
                env.call_method_unchecked(
                    self.obj.as_obj(),
                    class.update,
                    ReturnType::Primitive(Primitive::Long),
                    &[jvalue { l: stmt.as_raw() }],
                )
            };
            let count = count.and_then(|v| v.j()).or_throw(env);
            self.stale |= count.is_err();
            let count = count?;
            self.give_back_large(env, class)?;
            Ok(u64::try_from(count).unwrap_or(0))
        }))
    }

    /// Puts the request in the buffer, which grows first when it is too small.
    fn send(&mut self, env: &mut JNIEnv<'_>, class: &Class) -> Result<(), JdbcError> {
        if self.stale {
            self.locate(env, class)?;
        }
        if self.request.len() > self.capacity {
            let size = i32::try_from(self.request.len())
                .map_err(|_| JdbcError::new(JdbcErrorKind::Params, "parameters of more than 2 GiB"))?;
            self.void(env, class.reserve, &[jvalue { i: size }])?;
            self.locate(env, class)?;
        }
        // SAFETY: the buffer holds `capacity` bytes (see `bytes`), at least the request's, and
        // nothing reads or writes it until the next call into the `Bridge`.
        #[allow(unsafe_code)]
        unsafe {
            std::ptr::copy_nonoverlapping(self.request.as_ptr(), self.base as *mut u8, self.request.len());
        }
        Ok(())
    }

    /// The query's call, then (while the answer says more rows are left) the calls for the
    /// rest; the result set is closed early when `f` breaks or fails.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        env: &mut JNIEnv<'_>,
        class: &Class,
        stmt: &JObject<'_>,
        sql: &str,
        kept: &mut Option<Columns>,
        max_rows: i32,
        f: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
    ) -> Result<(), ReadError> {
        self.send(env, class)?;
        let mut answer = self.int(
            env,
            class.query,
            &[jvalue { l: stmt.as_raw() }, jvalue { i: max_rows }],
        )?;
        if answer == STALE {
            let rs = self.detach(env, class)?;
            // Not the columns kept: they are read again, from this result.
            *kept = None;
            return read_result_set(env, rs, sql, kept, f);
        }
        let columns = kept.as_ref().expect("a query through the bridge has its columns");
        loop {
            if answer & MOVED != 0 {
                self.locate(env, class)?;
            }
            let more = answer & MORE != 0;
            let rows = answer & !(MORE | MOVED);
            match self.deliver(rows, columns, f) {
                Ok(ControlFlow::Continue(())) if more => {}
                Ok(_) => {
                    if more {
                        self.void(env, class.close, &[])?;
                    }
                    self.give_back_large(env, class)?;
                    return Ok(());
                }
                Err(err) => {
                    if more {
                        self.void(env, class.close, &[])?;
                    }
                    return Err(err);
                }
            }
            answer = self.int(env, class.more, &[jvalue { i: max_rows }])?;
        }
    }

    /// After a call that needed a large buffer (a large row or parameter), a small one again.
    fn give_back_large(&mut self, env: &mut JNIEnv<'_>, class: &Class) -> Result<(), JdbcError> {
        if self.capacity > SHRINK_ABOVE {
            self.void(env, class.shrink, &[])?;
            self.locate(env, class)?;
        }
        Ok(())
    }

    /// Calls a method of the `Bridge` returning an `int`.
    fn int(&mut self, env: &mut JNIEnv<'_>, id: JMethodID, args: &[jvalue]) -> Result<i32, JdbcError> {
        // SAFETY: every caller passes the ID of one of the class's methods returning an `int`,
        // with arguments matching its parameters; the object is a `Bridge`.
        #[allow(unsafe_code)]
        let value = unsafe {
            env.call_method_unchecked(self.obj.as_obj(), id, ReturnType::Primitive(Primitive::Int), args)
        };
        let value = value.and_then(|v| v.i()).or_throw(env);
        self.stale |= value.is_err();
        value
    }

    /// The result set a STALE answer left open, handed over.
    fn detach<'local>(
        &mut self,
        env: &mut JNIEnv<'local>,
        class: &Class,
    ) -> Result<JObject<'local>, JdbcError> {
        // SAFETY: `detach` is the class's method taking nothing and returning a `ResultSet`;
        // the object is a `Bridge`.
        #[allow(unsafe_code)]
        let rs =
            unsafe { env.call_method_unchecked(self.obj.as_obj(), class.detach, ReturnType::Object, &[]) };
        let rs = rs.and_then(JValueOwned::l).or_throw(env);
        self.stale |= rs.is_err();
        rs
    }

    /// Calls a method of the `Bridge` returning nothing.
    fn void(&mut self, env: &mut JNIEnv<'_>, id: JMethodID, args: &[jvalue]) -> Result<(), JdbcError> {
        // SAFETY: every caller passes the ID of one of the class's `void` methods, with
        // arguments matching its parameters; the object is a `Bridge`.
        #[allow(unsafe_code)]
        let value = unsafe {
            env.call_method_unchecked(
                self.obj.as_obj(),
                id,
                ReturnType::Primitive(Primitive::Void),
                args,
            )
        };
        let value = value.map(drop).or_throw(env);
        self.stale |= value.is_err();
        value
    }

    /// Builds the request: the parameters, then (for a query) whether to check the result's
    /// column count, and the columns' readers. False when a value cannot be sent this way (an
    /// array, which JDBC binding refuses with its own error).
    fn encode(&mut self, values: &[Value], readers: Option<(&[Reader], bool)>) -> bool {
        let out = &mut self.request;
        out.clear();
        let Ok(count) = i32::try_from(values.len()) else {
            return false;
        };
        out.extend_from_slice(&count.to_ne_bytes());
        for value in values {
            if !encode_value(out, value) {
                return false;
            }
        }
        if let Some((readers, check)) = readers {
            let Ok(columns) = i32::try_from(readers.len()) else {
                return false;
            };
            out.push(u8::from(check));
            out.extend_from_slice(&columns.to_ne_bytes());
            out.extend(readers.iter().map(|&reader| reader_code(reader)));
        }
        true
    }

    /// Hands the `rows` rows of the answer to `f`, until it breaks.
    fn deliver(
        &self,
        rows: i32,
        columns: &Columns,
        f: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
    ) -> Result<ControlFlow<()>, ReadError> {
        let mut answer = Answer {
            bytes: self.bytes(),
            at: 0,
        };
        for _ in 0..rows {
            let mut values = Vec::with_capacity(columns.len());
            for &reader in columns.readers() {
                values.push(answer.value(reader)?);
            }
            if f(Row::new(Arc::clone(columns.names()), values))
                .map_err(ReadError::Caller)?
                .is_break()
            {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

fn reader_code(reader: Reader) -> u8 {
    match reader {
        Reader::Null => tag::NULL,
        Reader::Bool => tag::BOOL,
        Reader::Int => tag::INT,
        Reader::Float => tag::FLOAT,
        Reader::Decimal => tag::DECIMAL,
        Reader::Text => tag::TEXT,
        Reader::Bytes => tag::BYTES,
        Reader::Date => tag::DATE,
        Reader::Time => tag::TIME,
        Reader::Timestamp => tag::TIMESTAMP,
        Reader::TimestampTz => tag::TIMESTAMP_TZ,
    }
}

/// Appends a parameter: its tag and value, as `Bridge.bind` reads them.
fn encode_value(out: &mut Vec<u8>, value: &Value) -> bool {
    fn int(out: &mut Vec<u8>, n: i32) {
        out.extend_from_slice(&n.to_ne_bytes());
    }
    fn bytes(out: &mut Vec<u8>, b: &[u8]) -> bool {
        let Ok(len) = i32::try_from(b.len()) else {
            return false;
        };
        int(out, len);
        out.extend_from_slice(b);
        true
    }
    fn date(out: &mut Vec<u8>, d: &crate::sql::Date) {
        for n in [d.year, i32::from(d.month), i32::from(d.day)] {
            int(out, n);
        }
    }
    fn time(out: &mut Vec<u8>, t: &crate::sql::Time) {
        let nano = i32::try_from(t.nanosecond).unwrap_or(0);
        for n in [i32::from(t.hour), i32::from(t.minute), i32::from(t.second), nano] {
            int(out, n);
        }
    }
    match value {
        Value::Null => out.push(tag::NULL),
        Value::Bool(b) => out.extend_from_slice(&[tag::BOOL, u8::from(*b)]),
        Value::Int(n) => {
            out.push(tag::INT);
            out.extend_from_slice(&n.to_ne_bytes());
        }
        Value::Float(x) => {
            out.push(tag::FLOAT);
            out.extend_from_slice(&x.to_ne_bytes());
        }
        Value::Decimal(d) => {
            out.push(tag::DECIMAL);
            return bytes(out, d.as_bytes());
        }
        Value::Text(s) => {
            out.push(tag::TEXT);
            return bytes(out, s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(tag::BYTES);
            return bytes(out, b);
        }
        Value::Date(d) => {
            out.push(tag::DATE);
            date(out, d);
        }
        Value::Time(t) => {
            out.push(tag::TIME);
            time(out, t);
        }
        Value::Timestamp(ts) => {
            out.push(tag::TIMESTAMP);
            date(out, &ts.date);
            time(out, &ts.time);
        }
        Value::TimestampTz(ts) => {
            out.push(tag::TIMESTAMP_TZ);
            date(out, &ts.timestamp.date);
            time(out, &ts.timestamp.time);
            int(out, ts.offset_seconds);
        }
        Value::Array(_) => return false,
    }
    true
}

/// Reading an answer: each column a byte 0 for NULL or 1 and its value (nothing for the NULL
/// reader), as `Bridge.read` writes them.
struct Answer<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Answer<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], JdbcError> {
        let end = self.at + N;
        let taken = self
            .bytes
            .get(self.at..end)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(garbled)?;
        self.at = end;
        Ok(taken)
    }

    fn int(&mut self) -> Result<i32, JdbcError> {
        self.take().map(i32::from_ne_bytes)
    }

    fn slice(&mut self) -> Result<&[u8], JdbcError> {
        let len = usize::try_from(self.int()?).map_err(|_| garbled())?;
        let end = self.at + len;
        let slice = self.bytes.get(self.at..end).ok_or_else(garbled)?;
        self.at = end;
        Ok(slice)
    }

    fn text(&mut self) -> Result<String, JdbcError> {
        let bytes = self.slice()?;
        // UTF-8 as `Bridge.putText` writes it; checked all the same.
        String::from_utf8(bytes.to_vec()).map_err(|_| garbled())
    }

    fn ints<const N: usize>(&mut self) -> Result<[i32; N], JdbcError> {
        let mut ints = [0; N];
        for n in &mut ints {
            *n = self.int()?;
        }
        Ok(ints)
    }

    fn timestamp(&mut self) -> Result<Timestamp, JdbcError> {
        let date = date_from_parts(self.ints()?)?;
        Ok(Timestamp::new(date, time_from_parts(self.ints()?)?))
    }

    fn value(&mut self, reader: Reader) -> Result<Value, JdbcError> {
        if reader == Reader::Null || self.take::<1>()? == [0] {
            return Ok(Value::Null);
        }
        Ok(match reader {
            Reader::Null => Value::Null,
            Reader::Bool => Value::Bool(self.take::<1>()? != [0]),
            Reader::Int => Value::Int(i64::from_ne_bytes(self.take()?)),
            Reader::Float => Value::Float(f64::from_ne_bytes(self.take()?)),
            Reader::Decimal => Value::Decimal(self.text()?),
            Reader::Text => Value::Text(self.text()?),
            Reader::Bytes => Value::Bytes(self.slice()?.to_vec()),
            Reader::Date => Value::Date(date_from_parts(self.ints()?)?),
            Reader::Time => Value::Time(time_from_parts(self.ints()?)?),
            Reader::Timestamp => Value::Timestamp(self.timestamp()?),
            Reader::TimestampTz => {
                let timestamp = self.timestamp()?;
                Value::TimestampTz(TimestampTz::new(timestamp, self.int()?)?)
            }
        })
    }
}

/// An answer that does not read as `Bridge` writes them: a bug, never the database's doing.
fn garbled() -> JdbcError {
    JdbcError::new(JdbcErrorKind::Jni, "the query bridge's answer is garbled")
}

/// A connection's bridge: made on first use, or known to be unavailable.
#[derive(Debug, Default)]
pub(super) enum BridgeSlot {
    /// Not asked for yet.
    #[default]
    Untried,
    /// The class or the object could not be made: queries call JDBC method by method.
    Unavailable,
    Ready(Bridge),
}

impl BridgeSlot {
    /// The bridge, made now if it was not yet.
    pub(super) fn get(&mut self, env: &mut JNIEnv<'_>) -> Option<&mut Bridge> {
        if let BridgeSlot::Untried = self {
            *self = Bridge::new(env).map_or(BridgeSlot::Unavailable, BridgeSlot::Ready);
        }
        match self {
            BridgeSlot::Ready(bridge) => Some(bridge),
            _ => None,
        }
    }
}
