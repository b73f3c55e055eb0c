//! Opening a connection: checking the jars, loading the driver (through the system class
//! loader, or a class loader of its own for jars the JVM was not started with), and
//! `Driver.connect` or `DriverManager.getConnection` with the properties.

use jni::JNIEnv;
use jni::objects::{JObject, JValue};

use super::config::JdbcManager;
use super::conn::JdbcConnection;
use super::error::{JavaResult, JdbcError, JdbcErrorKind};
use super::jvm::{JavaRef, Jvm, jvm, system_class_loader};
use crate::backends::redact::{check_url, redact_url, secrets_in};
use crate::sql::{Placeholder, Translator};

impl JdbcManager {
    /// Opens a connection; errors never show the password. A URL whose credentials could be
    /// read two ways is refused before a driver sees it: a driver's message could quote the
    /// part of the password it took for a host or a path.
    pub(super) fn open(&self) -> Result<JdbcConnection, JdbcError> {
        check_url(&self.url).map_err(|err| JdbcError::config(err.message))?;
        let redacted = redact_url(&self.url);
        self.open_inner().map_err(|err| {
            // The URL as written, then every form of a password it holds (a driver may quote
            // the URL as it parsed it), then the password given apart.
            let err = err.scrub("", &self.url, &redacted);
            let err = secrets_in(&self.url)
                .iter()
                .fold(err, |err, secret| err.scrub(secret, "", ""));
            err.scrub(self.password.expose(), "", "")
        })
    }

    fn open_inner(&self) -> Result<JdbcConnection, JdbcError> {
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
        let jvm = jvm(&self.jvm)?;
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
            let autocommit = JValue::Bool(self.autocommit.into());
            if let Err(err) = env
                .call_method(&conn, "setAutoCommit", "(Z)V", &[autocommit])
                .or_throw(env)
            {
                super::conn::close_quietly(env, &conn);
                return Err(err);
            }
            JavaRef::new(env, &conn)
        })?;
        let translator =
            Translator::new(Placeholder::Question).backslash_escapes(self.vendor.backslash_escapes());
        let mut conn = JdbcConnection::new(jvm, conn, translator, self.vendor, self.autocommit);
        for sql in &self.init {
            conn.execute_unprepared(sql)?;
        }
        Ok(conn)
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
