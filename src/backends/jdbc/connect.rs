//! Opening a connection: checking the jars, loading the driver (through the system class
//! loader, or a class loader of its own for jars the JVM was not started with), and
//! `Driver.connect` or `DriverManager.getConnection` with the properties, on a thread of its own
//! that the caller waits for at most the connect timeout.

use std::sync::mpsc;
use std::time::Duration;

use jni::JNIEnv;
use jni::objects::{JObject, JValue};

use super::config::JdbcManager;
use super::conn::JdbcConnection;
use super::error::{JavaResult, JdbcError, JdbcErrorKind, Vendor};
use super::jvm::{JavaRef, Jvm, jvm, system_class_loader};
use crate::backends::redact::{check_url, redact_url, secrets_in};
use crate::error::Rounded;
use crate::sql::{Placeholder, Translator};

/// A driver's timeout property, in the driver's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PropertyUnit {
    Seconds,
    Millis,
}

/// The timeout properties given to the drivers known to honour them, so that an attempt the
/// caller gave up on ends too: `(key, unit, reset to none once connected)`. The socket timeout
/// bounds every read of the login; left set, it would also bound every later query.
fn timeout_properties(url: &str, vendor: Vendor) -> &'static [(&'static str, PropertyUnit, bool)] {
    const PGJDBC: &[(&str, PropertyUnit, bool)] = &[
        ("connectTimeout", PropertyUnit::Seconds, false),
        ("socketTimeout", PropertyUnit::Seconds, true),
    ];
    const CONNECTOR_J: &[(&str, PropertyUnit, bool)] = &[
        ("connectTimeout", PropertyUnit::Millis, false),
        ("socketTimeout", PropertyUnit::Millis, true),
    ];
    let url = url.to_ascii_lowercase();
    match vendor {
        Vendor::PostgreSql if url.starts_with("jdbc:postgresql:") => PGJDBC,
        Vendor::MySql if url.starts_with("jdbc:mariadb:") || url.starts_with("jdbc:mysql:") => CONNECTOR_J,
        _ => &[],
    }
}

/// How much longer than the connect timeout the driver's own timeouts are.
const DRIVER_MARGIN: Duration = Duration::from_secs(1);

/// `timeout` in `unit`, rounded up, at least 1 (0 means none to these drivers), saturating.
fn property_value(timeout: Duration, unit: PropertyUnit) -> String {
    // The drivers read these as Java ints, and PgJDBC multiplies its seconds by 1000 (a larger
    // value overflows into a negative socket timeout, and the connect fails).
    let max_ms = i32::MAX as u64;
    match unit {
        PropertyUnit::Seconds => timeout
            .as_secs()
            .saturating_add(u64::from(timeout.subsec_nanos() > 0))
            .clamp(1, max_ms / 1000),
        PropertyUnit::Millis => u64::try_from(timeout.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .clamp(1, max_ms),
    }
    .to_string()
}

impl JdbcManager {
    /// Opens a connection within the connect timeout; errors never show the password. A URL
    /// whose credentials could be read two ways is refused before a driver sees it: a driver's
    /// message could quote the part of the password it took for a host or a path.
    pub(super) fn open(&self) -> Result<JdbcConnection, JdbcError> {
        if let Some(provider) = &self.credentials {
            // This connect's credentials in place of the manager's own.
            let credentials = provider
                .fetch()
                .map_err(|failed| JdbcError::config(crate::error::chain(&failed)))?;
            let mut manager = self.clone();
            manager.credentials = None;
            manager.password = credentials.password.clone();
            if let Some(user) = credentials.user() {
                manager.user = Some(user.to_owned());
            }
            return manager.open();
        }
        check_url(&self.url).map_err(|err| JdbcError::config(err.message))?;
        let redacted = redact_url(&self.url);
        self.open_bounded().map_err(|err| {
            // The URL as written, then every form of a password it holds (a driver may quote
            // the URL as it parsed it), then the password given apart.
            let err = err.scrub("", &self.url, &redacted);
            let err = secrets_in(&self.url)
                .iter()
                .fold(err, |err, secret| err.scrub(secret, "", ""));
            err.scrub(self.password.expose(), "", "")
        })
    }

    /// Checks the jars, starts the JVM and loads the driver here (none waits on the server),
    /// then connects on a thread of its own and waits for it at most the connect timeout. A
    /// connection that arrives later is dropped (closed) on that thread.
    fn open_bounded(&self) -> Result<JdbcConnection, JdbcError> {
        self.check_jars()?;
        let jvm = jvm(&self.jvm)?;
        if let Some(class) = &self.driver_class {
            // Loaded here, as the JVM is started: the first connect's bound is for the server,
            // not for reading the driver's jar.
            jvm.with_env(|env| self.driver(env, jvm, class).map(drop))?;
        }
        let manager = self.clone();
        // Room for the one result: the connecting thread never blocks on sending it.
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("millpond-jdbc-connect".to_owned())
            .spawn(move || {
                let result = manager.open_inner(jvm);
                // When the caller gave up, the result comes back here and is dropped: a late
                // connection is closed.
                if let Err(mpsc::SendError(Ok(late))) = tx.send(result) {
                    log::debug!(target: "millpond::jdbc", "closing a connection to {manager} that came after connect_timeout");
                    drop(late);
                }
            })
            .map_err(|err| {
                JdbcError::new(
                    JdbcErrorKind::Jni,
                    format!("cannot start a thread to connect on: {err}"),
                )
            })?;
        match rx.recv_timeout(self.connect_timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(JdbcError::new(
                JdbcErrorKind::Timeout,
                format!(
                    "timed out after {} (connect_timeout): the driver did not open the connection in time; \
                     a connection that arrives later is closed",
                    Rounded(self.connect_timeout)
                ),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(JdbcError::new(
                JdbcErrorKind::Jni,
                "the thread opening the connection panicked",
            )),
        }
    }

    fn check_jars(&self) -> Result<(), JdbcError> {
        for jar in self.jvm.jars() {
            if !jar.exists() {
                return Err(JdbcError::config(format!(
                    "the jar {} does not exist{}",
                    jar.display(),
                    match self.driver_jar_hint {
                        Some(hint) => format!(" (the driver's jar is {hint})"),
                        None => String::new(),
                    }
                )));
            }
        }
        Ok(())
    }

    /// The driver's connect, autocommit, the init statements and the socket timeout put back:
    /// the part bounded by the connect timeout.
    fn open_inner(&self, jvm: &'static Jvm) -> Result<JdbcConnection, JdbcError> {
        let conn = jvm.with_env(|env| {
            let props = self.properties(env)?;
            let url = env.new_string(&self.url).or_throw(env)?;
            let conn = match &self.driver_class {
                Some(class) => {
                    let driver = self.driver(env, jvm, class)?;
                    let conn = env
                        .call_method(
                            driver.as_obj(),
                            "connect",
                            "(Ljava/lang/String;Ljava/util/Properties;)Ljava/sql/Connection;",
                            &[(&url).into(), (&props).into()],
                        )
                        .and_then(|v| v.l())
                        .or_throw(env)?;
                    if conn.is_null() {
                        return Err(JdbcError::config(format!(
                            "the driver {class} does not accept the URL {}: check its prefix (jdbc:subprotocol:)",
                            redact_url(&self.url)
                        )));
                    }
                    conn
                }
                None => env
                    .call_static_method(
                        "java/sql/DriverManager",
                        "getConnection",
                        "(Ljava/lang/String;Ljava/util/Properties;)Ljava/sql/Connection;",
                        &[(&url).into(), (&props).into()],
                    )
                    .and_then(|v| v.l())
                    .or_throw(env)?,
            };
            if let Err(err) = super::methods::set_auto_commit(env, &conn, self.autocommit) {
                super::methods::close_quietly(env, &conn);
                return Err(err);
            }
            JavaRef::new(env, &conn)
        })?;
        let translator =
            Translator::new(Placeholder::Question).backslash_escapes(self.vendor.backslash_escapes());
        let mut conn = JdbcConnection::new(
            jvm,
            conn,
            translator,
            self.vendor,
            self.autocommit,
            self.get_statement_cache_capacity(),
        );
        for sql in &self.init {
            conn.execute_unprepared(sql)?;
        }
        if self.timeout_properties_given().any(|(_, _, reset)| reset) {
            // Given only for the login: later queries run as long as they need (the pool's
            // validation and reset have their own bounds).
            conn.set_network_timeout(0)?;
        }
        Ok(conn)
    }

    /// The timeout properties this manager adds: those its driver knows that neither a
    /// property nor the URL sets.
    fn timeout_properties_given(&self) -> impl Iterator<Item = (&'static str, PropertyUnit, bool)> + '_ {
        let url = self.url.to_ascii_lowercase();
        timeout_properties(&self.url, self.vendor)
            .iter()
            .copied()
            .filter(move |(key, _, _)| {
                let lower = key.to_ascii_lowercase();
                !url.contains(&lower)
                    && !self
                        .properties
                        .iter()
                        .any(|(given, _)| given.eq_ignore_ascii_case(key))
            })
    }

    fn properties<'local>(&self, env: &mut JNIEnv<'local>) -> Result<JObject<'local>, JdbcError> {
        let props = env.new_object("java/util/Properties", "()V", &[]).or_throw(env)?;
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let Some(user) = &self.user {
            pairs.push(("user", user));
        }
        if !self.password.expose().is_empty() {
            pairs.push(("password", self.password.expose()));
        }
        for (key, value) in &self.properties {
            pairs.push((key, value.expose()));
        }
        let timeouts: Vec<(&str, String)> = self
            .timeout_properties_given()
            .map(|(key, unit, _)| {
                // Longer than ours, so that the caller's error is always the timeout, never the
                // driver's own failure a moment before it.
                let driver = self.connect_timeout.saturating_add(DRIVER_MARGIN);
                (key, property_value(driver, unit))
            })
            .collect();
        pairs.extend(timeouts.iter().map(|(key, value)| (*key, value.as_str())));
        for (key, value) in pairs {
            let key = env.new_string(key).or_throw(env)?;
            let value = env.new_string(value).or_throw(env)?;
            env.call_method(
                &props,
                "setProperty",
                "(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/Object;",
                &[(&key).into(), (&value).into()],
            )
            .or_throw(env)?;
            env.delete_local_ref(key).or_throw(env)?;
            env.delete_local_ref(value).or_throw(env)?;
        }
        Ok(props)
    }

    /// The driver instance, loaded on first use and kept.
    fn driver<'m>(&'m self, env: &mut JNIEnv<'_>, jvm: &Jvm, class: &str) -> Result<&'m JavaRef, JdbcError> {
        if let Some(driver) = self.driver.get() {
            return Ok(driver);
        }
        let driver = env.with_local_frame(16, |env| {
            let loader = self.class_loader(env, jvm)?;
            let name = env.new_string(class).or_throw(env)?;
            let found = env
                .call_static_method(
                    "java/lang/Class",
                    "forName",
                    "(Ljava/lang/String;ZLjava/lang/ClassLoader;)Ljava/lang/Class;",
                    &[(&name).into(), JValue::Bool(1), (&loader).into()],
                )
                .and_then(|v| v.l())
                .or_throw(env);
            let class_obj = match found {
                Ok(class_obj) => class_obj,
                Err(err) if err.java_class() == Some("java.lang.ClassNotFoundException") => {
                    return Err(self.missing_driver(jvm, class));
                }
                Err(err) => return Err(err),
            };
            let constructor = env
                .call_method(
                    &class_obj,
                    "getDeclaredConstructor",
                    "([Ljava/lang/Class;)Ljava/lang/reflect/Constructor;",
                    &[(&JObject::null()).into()],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            let instance = env
                .call_method(
                    &constructor,
                    "newInstance",
                    "([Ljava/lang/Object;)Ljava/lang/Object;",
                    &[(&JObject::null()).into()],
                )
                .and_then(|v| v.l())
                .or_throw(env)?;
            if !env.is_instance_of(&instance, "java/sql/Driver").or_throw(env)? {
                return Err(JdbcError::config(format!("{class} is not a java.sql.Driver")));
            }
            JavaRef::new(env, &instance)
        })?;
        // Two threads may race to load it; either instance will do.
        let _ = self.driver.set(driver);
        Ok(self.driver.get().expect("just set"))
    }

    /// The system class loader when every jar of this manager is on the JVM's class path, else
    /// a `URLClassLoader` over those jars (parented by the system class loader).
    fn class_loader<'local>(
        &self,
        env: &mut JNIEnv<'local>,
        jvm: &Jvm,
    ) -> Result<JObject<'local>, JdbcError> {
        let system = system_class_loader(env)?;
        let extra: Vec<_> = self
            .jvm
            .jars()
            .iter()
            .filter(|jar| !jvm.has_on_class_path(jar))
            .collect();
        if extra.is_empty() {
            return Ok(system);
        }
        let url_class = env.find_class("java/net/URL").or_throw(env)?;
        let urls = env
            .new_object_array(
                i32::try_from(extra.len()).unwrap_or(i32::MAX),
                &url_class,
                JObject::null(),
            )
            .or_throw(env)?;
        for (i, jar) in extra.iter().enumerate() {
            let path = env.new_string(jar.to_string_lossy()).or_throw(env)?;
            let file = env
                .new_object("java/io/File", "(Ljava/lang/String;)V", &[(&path).into()])
                .or_throw(env)?;
            let uri = env
                .call_method(&file, "toURI", "()Ljava/net/URI;", &[])
                .and_then(|v| v.l())
                .or_throw(env)?;
            let url = env
                .call_method(&uri, "toURL", "()Ljava/net/URL;", &[])
                .and_then(|v| v.l())
                .or_throw(env)?;
            env.set_object_array_element(&urls, i32::try_from(i).unwrap_or(i32::MAX), &url)
                .or_throw(env)?;
        }
        env.new_object(
            "java/net/URLClassLoader",
            "([Ljava/net/URL;Ljava/lang/ClassLoader;)V",
            &[(&urls).into(), (&system).into()],
        )
        .or_throw(env)
    }

    fn missing_driver(&self, jvm: &Jvm, class: &str) -> JdbcError {
        let _ = jvm;
        let jars: Vec<String> = self.jvm.jars().iter().map(|j| j.display().to_string()).collect();
        let classpath = std::env::var("CLASSPATH").unwrap_or_default();
        JdbcError::new(
            JdbcErrorKind::Config,
            format!(
                "the JDBC driver class {class} was not found: its jar{} is not on the class path \
                 (CLASSPATH is {}; the manager's jars are {}). Add it with .jar(\"/path/to/driver.jar\") \
                 or to CLASSPATH",
                match self.driver_jar_hint {
                    Some(hint) => format!(" ({hint})"),
                    None => String::new(),
                },
                if classpath.is_empty() {
                    "empty".to_owned()
                } else {
                    format!("`{classpath}`")
                },
                if jars.is_empty() {
                    "none".to_owned()
                } else {
                    jars.join(", ")
                },
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_properties_round_up_saturate_and_name_the_driver() {
        assert_eq!(
            property_value(Duration::from_millis(1500), PropertyUnit::Seconds),
            "2"
        );
        assert_eq!(
            property_value(Duration::from_millis(1500), PropertyUnit::Millis),
            "1500"
        );
        assert_eq!(property_value(Duration::from_nanos(1), PropertyUnit::Millis), "1");
        assert_eq!(
            property_value(Duration::from_nanos(1), PropertyUnit::Seconds),
            "1"
        );
        assert_eq!(
            property_value(Duration::MAX, PropertyUnit::Seconds),
            (i32::MAX / 1000).to_string()
        );
        assert_eq!(
            property_value(Duration::MAX, PropertyUnit::Millis),
            i32::MAX.to_string()
        );
        let keys = |m: &JdbcManager| {
            m.timeout_properties_given()
                .map(|(k, _, _)| k)
                .collect::<Vec<_>>()
        };
        let pg = super::super::postgresql("h", 5432, "db");
        assert_eq!(keys(&pg), ["connectTimeout", "socketTimeout"]);
        assert_eq!(
            keys(&pg.clone().property("SocketTimeout", "30")),
            ["connectTimeout"]
        );
        let m = JdbcManager::new("jdbc:mariadb://h/db?connectTimeout=500");
        assert_eq!(keys(&m), ["socketTimeout"]);
        assert!(keys(&super::super::h2("mem:x")).is_empty());
        assert!(keys(&super::super::oracle("h", 1521, "s")).is_empty());
    }
}
