//! [`JdbcManager`] and its options: URL, driver, credentials, properties, jars and JVM options.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use super::error::Vendor;
use super::jvm::{JavaRef, JvmOptions};
use crate::backends::redact::Secret;
use crate::backends::redact::redact_url;

/// Opens JDBC connections: one URL, driver, user and password, for any database with a JDBC
/// driver. Build it with a preset ([`postgresql`](super::postgresql), [`oracle`](super::oracle),
/// …) or [`generic`](super::generic), then the builder methods.
///
/// `Debug` and `Display` show the URL with any password in it replaced by `***`, and never the
/// password given apart; nor do errors.
#[derive(Clone)]
pub struct JdbcManager {
    pub(super) url: String,
    pub(super) driver_class: Option<String>,
    /// The jar that holds the driver, for the error when it is missing (`ojdbc11.jar`).
    pub(super) driver_jar_hint: Option<&'static str>,
    pub(super) user: Option<String>,
    pub(super) password: Secret,
    pub(super) properties: Vec<(String, Secret)>,
    pub(super) jvm: JvmOptions,
    pub(super) autocommit: bool,
    pub(super) init: Vec<String>,
    pub(super) vendor: Vendor,
    /// The driver, loaded once (a global reference to its instance).
    pub(super) driver: Arc<OnceLock<JavaRef>>,
}

impl fmt::Debug for JdbcManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcManager")
            .field("url", &redact_url(&self.url))
            .field("driver_class", &self.driver_class)
            .field("user", &self.user)
            .field("password", &self.password)
            .field(
                "properties",
                &self.properties.iter().map(|(k, v)| (k, v)).collect::<Vec<_>>(),
            )
            .field("jvm", &self.jvm)
            .field("autocommit", &self.autocommit)
            .field("init", &self.init)
            .field("vendor", &self.vendor)
            .finish_non_exhaustive()
    }
}

/// The URL, any password in it replaced by `***`.
impl fmt::Display for JdbcManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.url))
    }
}

impl JdbcManager {
    /// A manager for `url` (`jdbc:…`). The driver is found by `DriverManager` unless named with
    /// [`JdbcManager::driver_class`]; the vendor (for error codes and SQL quoting) is guessed
    /// from the URL.
    pub fn new(url: impl Into<String>) -> JdbcManager {
        let url = url.into();
        JdbcManager {
            vendor: Vendor::from_url(&url),
            url,
            driver_class: None,
            driver_jar_hint: None,
            user: None,
            password: Secret::new(""),
            properties: Vec::new(),
            jvm: JvmOptions::default(),
            autocommit: true,
            init: Vec::new(),
            driver: Arc::new(OnceLock::new()),
        }
    }

    /// Loads this driver class (`org.h2.Driver`) and connects through it, as pre-JDBC-4
    /// drivers need and as works for drivers in jars the JVM was not started with.
    pub fn driver_class(mut self, class: impl Into<String>) -> JdbcManager {
        self.driver_class = Some(class.into());
        self.driver = Arc::new(OnceLock::new());
        self
    }

    /// The user, sent as the `user` property.
    pub fn user(mut self, user: impl Into<String>) -> JdbcManager {
        self.user = Some(user.into());
        self
    }

    /// The password, sent as the `password` property; never shown.
    pub fn password(mut self, password: impl Into<String>) -> JdbcManager {
        self.password = Secret::new(password);
        self
    }

    /// A driver property (`ssl=true`, `connectTimeout=5000`). Values are never shown, as any
    /// may be a secret.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> JdbcManager {
        self.properties.push((key.into(), Secret::new(value)));
        self
    }

    /// A jar holding the driver (or anything it needs). Jars are put on the class path when the
    /// JVM starts, after `CLASSPATH`; a jar the running JVM was not started with is loaded
    /// through a class loader of its own, which needs [`JdbcManager::driver_class`].
    pub fn jar(mut self, path: impl Into<PathBuf>) -> JdbcManager {
        self.jvm = self.jvm.jar(path);
        self.driver = Arc::new(OnceLock::new());
        self
    }

    /// A JVM option (`-Xmx256m`), used if this manager's connect starts the JVM.
    pub fn jvm_option(mut self, option: impl Into<String>) -> JdbcManager {
        self.jvm = self.jvm.option(option);
        self
    }

    /// The libjvm to load if this manager's connect starts the JVM.
    pub fn libjvm(mut self, path: impl Into<PathBuf>) -> JdbcManager {
        self.jvm = self.jvm.libjvm(path);
        self
    }

    /// Whether new connections commit each statement (default on, as JDBC does). The pool puts
    /// this back on connections whose borrower changed it.
    pub fn autocommit(mut self, on: bool) -> JdbcManager {
        self.autocommit = on;
        self
    }

    /// A statement run on every new connection, after the earlier ones, as is (no
    /// placeholders).
    pub fn init(mut self, sql: impl Into<String>) -> JdbcManager {
        self.init.push(sql.into());
        self
    }

    /// Sets the vendor when the URL does not tell (it decides which error codes mean a lost
    /// server, and whether a backslash escapes quotes).
    pub fn vendor(mut self, vendor: Vendor) -> JdbcManager {
        self.vendor = vendor;
        self
    }

    /// The URL as given (it may hold a password: show [`JdbcManager`]'s `Display` instead).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The driver class, when named.
    pub fn driver_class_name(&self) -> Option<&str> {
        self.driver_class.as_deref()
    }

    /// The user, when set.
    pub fn user_name(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The JVM options (jars, options, libjvm).
    pub fn jvm_options(&self) -> &JvmOptions {
        &self.jvm
    }

    /// The vendor, as guessed from the URL or set.
    pub fn vendor_kind(&self) -> Vendor {
        self.vendor
    }
}
