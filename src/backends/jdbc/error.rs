//! [`JdbcError`]: Java exceptions (with SQLState and vendor code), JVM start failures, fork
//! misuse and parameter errors; and which of them mean the server is lost.

use std::fmt;

use jni::JNIEnv;
use jni::objects::{JObject, JString};

use crate::sql::{ParamError, ValueError};

/// What kind of failure a [`JdbcError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JdbcErrorKind {
    /// A Java `SQLException` (or a subclass) thrown by the driver.
    Sql,
    /// Another Java exception (`ClassNotFoundException`, `RuntimeException`, …).
    Java,
    /// The JVM could not be found or started.
    Jvm,
    /// The JVM was started by the parent of this forked process, and cannot be used here.
    Forked,
    /// The SQL's placeholders or the parameters given for them are wrong.
    Params,
    /// A value could not be converted.
    Value,
    /// The manager's settings are wrong (a missing jar, a driver refusing the URL, …).
    Config,
    /// The JNI layer failed without a Java exception.
    Jni,
    /// A connect or a reset did not finish within its timeout
    /// ([`JdbcManager::connect_timeout`](super::JdbcManager::connect_timeout),
    /// [`JdbcManager::reset_timeout`](super::JdbcManager::reset_timeout)).
    Timeout,
}

/// An error from the JDBC backend. For a Java exception it carries the exception's class,
/// message, SQLState and vendor code; no password ever appears in it.
// Boxed: a result passes through several layers per JNI call, and one pointer is cheaper to
// move than five fields.
#[derive(Clone, PartialEq, Eq)]
pub struct JdbcError(Box<Details>);

#[derive(Clone, PartialEq, Eq)]
struct Details {
    kind: JdbcErrorKind,
    message: String,
    class: Option<String>,
    sql_state: Option<String>,
    vendor_code: i32,
    /// The JNI layer itself failed (no Java exception): the connection's state is unknown.
    jni_failure: bool,
}

impl JdbcError {
    pub(crate) fn new(kind: JdbcErrorKind, message: impl Into<String>) -> JdbcError {
        JdbcError(Box::new(Details {
            kind,
            message: message.into(),
            class: None,
            sql_state: None,
            vendor_code: 0,
            jni_failure: false,
        }))
    }

    pub(super) fn config(message: impl Into<String>) -> JdbcError {
        JdbcError::new(JdbcErrorKind::Config, message)
    }

    pub(super) fn jni(err: jni::errors::Error) -> JdbcError {
        let mut error = JdbcError::new(JdbcErrorKind::Jni, format!("JNI call failed: {err}"));
        error.0.jni_failure = true;
        error
    }

    /// Whether the JNI layer itself failed (rather than the driver throwing, or millpond
    /// refusing something): what the connection is left in is unknown.
    pub(super) fn is_jni_failure(&self) -> bool {
        self.0.jni_failure
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> JdbcErrorKind {
        self.0.kind
    }

    /// The message (the exception's own, for a Java exception).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The Java exception's class name (`org.h2.jdbc.JdbcSQLSyntaxErrorException`), if this is
    /// one.
    pub fn java_class(&self) -> Option<&str> {
        self.0.class.as_deref()
    }

    /// The SQLState (`42S02`, `23505`, `08006`, …) of an `SQLException`, when the driver set one.
    pub fn sql_state(&self) -> Option<&str> {
        self.0.sql_state.as_deref()
    }

    /// The vendor's error code of an `SQLException` (`SQLException.getErrorCode()`; 0 when
    /// there is none).
    pub fn vendor_code(&self) -> i32 {
        self.0.vendor_code
    }

    /// Replaces `secret` (a password) wherever it appears in the message.
    pub(super) fn scrub(mut self, secret: &str, url: &str, redacted_url: &str) -> JdbcError {
        if !url.is_empty() && url != redacted_url {
            self.0.message = self.0.message.replace(url, redacted_url);
        }
        if !secret.is_empty() {
            self.0.message = self.0.message.replace(secret, "***");
        }
        self
    }
}

impl fmt::Debug for JdbcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcError")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("class", &self.0.class)
            .field("sql_state", &self.0.sql_state)
            .field("vendor_code", &self.0.vendor_code)
            .finish()
    }
}

impl fmt::Display for JdbcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(class) = &self.0.class {
            write!(f, "{class}: ")?;
        }
        f.write_str(&self.0.message)?;
        match (&self.0.sql_state, self.0.vendor_code) {
            (Some(state), 0) => write!(f, " (SQLState {state})"),
            (Some(state), code) => write!(f, " (SQLState {state}, vendor code {code})"),
            (None, 0) => Ok(()),
            (None, code) => write!(f, " (vendor code {code})"),
        }
    }
}

impl std::error::Error for JdbcError {}

impl From<ParamError> for JdbcError {
    fn from(err: ParamError) -> JdbcError {
        JdbcError::new(JdbcErrorKind::Params, err.to_string())
    }
}

impl From<ValueError> for JdbcError {
    fn from(err: ValueError) -> JdbcError {
        JdbcError::new(JdbcErrorKind::Value, err.to_string())
    }
}

/// Lets `with_local_frame` report a failed frame push; anything else goes through
/// `JavaResult::or_throw`, which also takes the pending exception.
impl From<jni::errors::Error> for JdbcError {
    fn from(err: jni::errors::Error) -> JdbcError {
        JdbcError::jni(err)
    }
}

/// Turns a JNI result into ours, taking (and clearing) the Java exception behind a failure.
pub(super) trait JavaResult<T> {
    /// The value, or the pending Java exception as a [`JdbcError`] (the exception is cleared).
    fn or_throw(self, env: &mut JNIEnv<'_>) -> Result<T, JdbcError>;
}

impl<T> JavaResult<T> for jni::errors::Result<T> {
    #[inline]
    fn or_throw(self, env: &mut JNIEnv<'_>) -> Result<T, JdbcError> {
        match self {
            Ok(value) => Ok(value),
            Err(err) => Err(thrown(env, err)),
        }
    }
}

/// The error behind a failed JNI call: the pending Java exception, else the JNI error.
#[cold]
fn thrown(env: &mut JNIEnv<'_>, err: jni::errors::Error) -> JdbcError {
    take_exception(env).unwrap_or_else(|| JdbcError::jni(err))
}

/// The pending Java exception as a [`JdbcError`], cleared; `None` when none is pending.
pub(super) fn take_exception(env: &mut JNIEnv<'_>) -> Option<JdbcError> {
    if !env.exception_check().unwrap_or(false) {
        return None;
    }
    let throwable = env.exception_occurred().ok()?;
    // Cleared before anything else is called: JNI forbids most calls with one pending.
    let _ = env.exception_clear();
    let mut error = describe(env, &throwable);
    // Describing may itself throw (a driver's broken getMessage); never leave that pending.
    if env.exception_check().unwrap_or(false) {
        let _ = env.exception_clear();
    }
    if error.0.message.is_empty() {
        error.0.message = "(no message)".to_owned();
    }
    Some(error)
}

fn describe(env: &mut JNIEnv<'_>, throwable: &JObject<'_>) -> JdbcError {
    let class = call_string(env, throwable, "getClass", "()Ljava/lang/Class;")
        .and_then(|class| string_of(env, class, "getName"));
    let message = call_string(env, throwable, "getMessage", "()Ljava/lang/String;")
        .and_then(|s| java_string(env, s))
        .unwrap_or_default();
    let is_sql = env
        .is_instance_of(throwable, "java/sql/SQLException")
        .unwrap_or(false);
    let _ = env.exception_clear();
    let (kind, sql_state, vendor_code) = if is_sql {
        let state = call_string(env, throwable, "getSQLState", "()Ljava/lang/String;")
            .and_then(|s| java_string(env, s))
            .filter(|s| !s.is_empty());
        let code = env
            .call_method(throwable, "getErrorCode", "()I", &[])
            .and_then(|v| v.i())
            .unwrap_or(0);
        let _ = env.exception_clear();
        (JdbcErrorKind::Sql, state, code)
    } else {
        (JdbcErrorKind::Java, None, 0)
    };
    JdbcError(Box::new(Details {
        kind,
        message,
        class,
        sql_state,
        vendor_code,
        jni_failure: false,
    }))
}

/// Calls a no-argument method returning an object; `None` when it throws or returns null.
fn call_string<'local>(
    env: &mut JNIEnv<'local>,
    obj: &JObject<'_>,
    name: &str,
    sig: &str,
) -> Option<JObject<'local>> {
    match env.call_method(obj, name, sig, &[]).and_then(|v| v.l()) {
        Ok(o) if !o.is_null() => Some(o),
        _ => {
            let _ = env.exception_clear();
            None
        }
    }
}

fn string_of(env: &mut JNIEnv<'_>, obj: JObject<'_>, method: &str) -> Option<String> {
    let s = call_string(env, &obj, method, "()Ljava/lang/String;")?;
    java_string(env, s)
}

fn java_string(env: &mut JNIEnv<'_>, obj: JObject<'_>) -> Option<String> {
    let s = JString::from(obj);
    let text = env.get_string(&s).ok().map(String::from);
    let _ = env.exception_clear();
    text
}

/// The database a manager talks to, for vendor error codes and SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Vendor {
    /// Oracle Database (ojdbc).
    Oracle,
    /// OceanBase (MySQL or Oracle mode).
    OceanBase,
    /// PostgreSQL (pgjdbc).
    PostgreSql,
    /// MySQL or MariaDB (MariaDB Connector/J or MySQL Connector/J).
    MySql,
    /// H2.
    H2,
    /// SQLite (sqlite-jdbc).
    Sqlite,
    /// Apache Derby.
    Derby,
    /// HSQLDB.
    Hsqldb,
    /// Anything else: SQLState class 08 alone says the server is lost.
    Other,
}

impl Vendor {
    /// Guesses the vendor from a JDBC URL's subprotocol (`jdbc:postgresql:` → PostgreSQL).
    pub fn from_url(url: &str) -> Vendor {
        let rest = url
            .get(5..)
            .filter(|_| url[..5].eq_ignore_ascii_case("jdbc:"))
            .unwrap_or("");
        let sub = rest.split(':').next().unwrap_or("").to_ascii_lowercase();
        match sub.as_str() {
            "oracle" => Vendor::Oracle,
            "oceanbase" => Vendor::OceanBase,
            "postgresql" | "pgsql" => Vendor::PostgreSql,
            "mysql" | "mariadb" => Vendor::MySql,
            "h2" => Vendor::H2,
            "sqlite" => Vendor::Sqlite,
            "derby" => Vendor::Derby,
            "hsqldb" => Vendor::Hsqldb,
            _ => Vendor::Other,
        }
    }

    /// Vendor error codes that mean the connection or the server is gone.
    fn lost_codes(self) -> &'static [i32] {
        match self {
            // ORA- codes as ojdbc reports them, and ojdbc's own 17002 (I/O error), 17008
            // (closed connection), 17410 (no more data from socket), 17447 (OALL8 inconsistent).
            Vendor::Oracle => &[
                28, 1012, 1033, 1034, 1089, 1092, 2396, 3113, 3114, 3135, 12537, 12547, 12570, 12583, 17002,
                17008, 17410, 17447,
            ],
            // Client: 2006 gone away, 2013 lost during query; server: 1053 shutdown, 1077 normal
            // shutdown, 1927 connection killed, 4031 disconnected for inactivity. OceanBase adds
            // its Oracle-mode ORA- codes.
            Vendor::MySql => &[1053, 1077, 1927, 2006, 2013, 4031],
            Vendor::OceanBase => &[1053, 1077, 1927, 2006, 2013, 4031, 3113, 3114, 3135, 28],
            // 90067: connection is broken; 90098: the database has been closed.
            Vendor::H2 => &[90067, 90098],
            // 40000: connection closed; 45000: database shut down.
            Vendor::Derby => &[40000, 45000],
            Vendor::PostgreSql | Vendor::Sqlite | Vendor::Hsqldb | Vendor::Other => &[],
        }
    }

    /// Whether a backslash escapes a quote in this database's string literals by default.
    pub(super) fn backslash_escapes(self) -> bool {
        matches!(self, Vendor::MySql | Vendor::OceanBase)
    }
}

/// Whether `err` means the connection or the server is gone: SQLState class `08` (connection
/// exception), PostgreSQL's `57P01`–`57P03` (shut down, crashed, not yet accepting), or one of
/// the vendor's codes for a lost session (MySQL 2006 and 2013, Oracle 17002 and ORA-03113, …).
pub fn is_lost_connection(err: &JdbcError, vendor: Vendor) -> bool {
    if err.0.kind != JdbcErrorKind::Sql {
        return false;
    }
    let state = err.sql_state().unwrap_or("");
    state.starts_with("08")
        || matches!(state, "57P01" | "57P02" | "57P03")
        || (err.0.vendor_code != 0 && vendor.lost_codes().contains(&err.0.vendor_code))
}

/// Whether `err`, from running a kept `PreparedStatement`, says that statement can no longer
/// be used, so that preparing it again fixes it: SQLState `26000` (the server no longer has it),
/// PostgreSQL's `0A000` "cached plan must not change result type" (a table it reads changed
/// shape under a server-side prepared statement), or the driver's "statement closed": H2 90007,
/// Derby `XJ012`, Oracle 17009.
pub(super) fn is_statement_unusable(err: &JdbcError, vendor: Vendor) -> bool {
    if err.0.kind != JdbcErrorKind::Sql {
        return false;
    }
    let state = err.sql_state().unwrap_or("");
    state == "26000"
        || (state == "0A000" && err.0.message.contains("cached plan must not change result type"))
        || state == "XJ012"
        || match vendor {
            Vendor::H2 => err.0.vendor_code == 90007,
            Vendor::Oracle => err.0.vendor_code == 17009,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(state: &str, code: i32) -> JdbcError {
        JdbcError(Box::new(Details {
            kind: JdbcErrorKind::Sql,
            message: "m".into(),
            class: Some("java.sql.SQLException".into()),
            sql_state: Some(state.into()),
            vendor_code: code,
            jni_failure: false,
        }))
    }

    #[test]
    fn lost_connections_by_state_and_vendor_code() {
        assert!(is_lost_connection(&sql("08006", 0), Vendor::PostgreSql));
        assert!(is_lost_connection(&sql("08S01", 0), Vendor::Other));
        assert!(is_lost_connection(&sql("57P01", 0), Vendor::PostgreSql));
        assert!(is_lost_connection(&sql("HY000", 2013), Vendor::MySql));
        assert!(is_lost_connection(&sql("", 17002), Vendor::Oracle));
        assert!(is_lost_connection(&sql("", 3113), Vendor::Oracle));
        assert!(!is_lost_connection(&sql("", 3113), Vendor::MySql));
        assert!(!is_lost_connection(&sql("42S02", 42102), Vendor::H2));
        assert!(!is_lost_connection(&sql("23505", 0), Vendor::PostgreSql));
        assert!(!is_lost_connection(
            &JdbcError::new(JdbcErrorKind::Config, "08006"),
            Vendor::Other
        ));
    }

    #[test]
    fn unusable_statements_by_state_and_vendor_code() {
        assert!(is_statement_unusable(&sql("26000", 0), Vendor::PostgreSql));
        let mut stale = sql("0A000", 0);
        stale.0.message = "ERROR: cached plan must not change result type".into();
        assert!(is_statement_unusable(&stale, Vendor::PostgreSql));
        assert!(!is_statement_unusable(&sql("0A000", 0), Vendor::PostgreSql));
        assert!(is_statement_unusable(&sql("90007", 90007), Vendor::H2));
        assert!(!is_statement_unusable(&sql("", 90007), Vendor::MySql));
        assert!(is_statement_unusable(&sql("XJ012", 20000), Vendor::Derby));
        assert!(is_statement_unusable(&sql("", 17009), Vendor::Oracle));
        assert!(!is_statement_unusable(&sql("42S02", 42102), Vendor::H2));
    }

    #[test]
    fn display_carries_class_state_and_code() {
        assert_eq!(
            sql("42S02", 42102).to_string(),
            "java.sql.SQLException: m (SQLState 42S02, vendor code 42102)"
        );
        let e = JdbcError::new(JdbcErrorKind::Config, "connect to jdbc:x://u:pw@h failed: pw").scrub(
            "pw",
            "jdbc:x://u:pw@h",
            "jdbc:x://u:***@h",
        );
        assert_eq!(e.message(), "connect to jdbc:x://u:***@h failed: ***");
    }

    #[test]
    fn vendors_from_urls() {
        assert_eq!(Vendor::from_url("jdbc:oracle:thin:@//h:1521/s"), Vendor::Oracle);
        assert_eq!(Vendor::from_url("JDBC:MariaDB://h/db"), Vendor::MySql);
        assert_eq!(Vendor::from_url("jdbc:h2:mem:"), Vendor::H2);
        assert_eq!(Vendor::from_url("postgresql://h"), Vendor::Other);
    }
}
