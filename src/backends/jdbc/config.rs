//! [`JdbcManager`] and its options: URL, driver, credentials, properties, jars and JVM options.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::error::Vendor;
use super::jvm::{JavaRef, JvmOptions};
use super::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESET_TIMEOUT};
use crate::backends::credentials::{Credentials, CredentialsProvider};
use crate::backends::redact::{Secret, redact_url};
use crate::backends::url::{Unit, parse_number, parse_positive_duration};
use crate::error::{BoxError, ConfigError};

/// The options millpond reads itself (in settings' OPTIONS, or in the query of a JDBC URL given
/// to settings), in milliseconds; never handed to the driver.
pub(crate) const OWN_OPTIONS: &[&str] = &[
    "connect_timeout_ms",
    "reset_timeout_ms",
    "statement_cache_capacity",
];

/// The statements an Oracle (or OceanBase) connection keeps by default: each holds an open
/// cursor, and `OPEN_CURSORS` is 50 by default.
const ORACLE_STATEMENT_CACHE_CAPACITY: usize = 20;

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
    pub(super) connect_timeout: Duration,
    pub(super) reset_timeout: Duration,
    /// How many statements each connection keeps prepared; `None` for the vendor's default.
    pub(super) statement_cache_capacity: Option<usize>,
    /// The driver, loaded once (a global reference to its instance).
    pub(super) driver: Arc<OnceLock<JavaRef>>,
    /// Asked for the password (and maybe the user) of every new connection.
    pub(super) credentials: Option<CredentialsProvider>,
}

impl fmt::Debug for JdbcManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcManager")
            .field("url", &redact_url(&self.url))
            .field("driver_class", &self.driver_class)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("credentials_provider", &self.credentials.is_some())
            .field(
                "properties",
                &self.properties.iter().map(|(k, v)| (k, v)).collect::<Vec<_>>(),
            )
            .field("jvm", &self.jvm)
            .field("autocommit", &self.autocommit)
            .field("init", &self.init)
            .field("vendor", &self.vendor)
            .field("connect_timeout", &self.connect_timeout)
            .field("reset_timeout", &self.reset_timeout)
            .field("statement_cache_capacity", &self.get_statement_cache_capacity())
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
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            reset_timeout: DEFAULT_RESET_TIMEOUT,
            statement_cache_capacity: None,
            driver: Arc::new(OnceLock::new()),
            credentials: None,
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

    /// Asks `provider` for the password (a token, a rotated secret from a vault) of every new
    /// connection, and for the user when it names one, sent as the `password` and `user`
    /// properties in place of [`JdbcManager::password`] and [`JdbcManager::user`]. Rotating a
    /// secret then needs no new pool: connections already open keep working until recycled
    /// (or [`Pool::invalidate`](crate::Pool::invalidate)). A provider that fails fails that
    /// connect ([`JdbcErrorKind::Config`](super::JdbcErrorKind::Config), with its error in the
    /// message). What it returns never appears in `Debug` output, errors or logs.
    pub fn credentials_provider(
        mut self,
        provider: impl Fn() -> Result<Credentials, BoxError> + Send + Sync + 'static,
    ) -> JdbcManager {
        self.credentials = Some(CredentialsProvider::new(provider));
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

    /// The longest a connect may take, from the driver's connect to the last init statement
    /// (default 10 s; zero is replaced by the default; any larger duration is accepted). Called
    /// `connectionTimeout` in HikariCP, `connect_timeout` in Django and SQLAlchemy.
    ///
    /// The driver's connect runs on a thread of its own, and [`connect`](crate::ManageConnection::connect)
    /// returns a [`JdbcErrorKind::Timeout`](super::JdbcErrorKind::Timeout) error when this passes,
    /// whatever the server does (a server that accepts and never answers included); a
    /// connection that arrives later is closed. So that the abandoned attempt ends too,
    /// PgJDBC is also given `connectTimeout` and `socketTimeout`, and MariaDB and MySQL
    /// Connector/J `connectTimeout` and `socketTimeout` (a second longer, in their units), each
    /// only when neither a property nor the URL sets it; the socket timeout is put back to none
    /// once the connection is open. Other drivers: set their own connect and read timeouts as
    /// properties, or an abandoned attempt lasts as long as the server keeps it.
    pub fn connect_timeout(mut self, timeout: Duration) -> JdbcManager {
        self.connect_timeout = if timeout.is_zero() {
            DEFAULT_CONNECT_TIMEOUT
        } else {
            timeout
        };
        self
    }

    /// The longest the reset of a connection given back with a transaction open (its rollback,
    /// or the pool's commit or reset statement, and autocommit put back) may take (default
    /// 10 s; zero is replaced by the default; any larger duration is accepted). Each read of
    /// the reset waits at most nine tenths of it (`Connection.setNetworkTimeout`, put back
    /// after), and a watchdog aborts the connection (`Connection.abort`) when it passes all the
    /// same; either way the reset fails with a [`JdbcErrorKind::Timeout`](super::JdbcErrorKind::Timeout)
    /// error and the pool closes the connection, never keeps it: the server rolls back what was
    /// open when the session ends. Drivers older than JDBC 4.1 have neither, and reset without
    /// a bound.
    pub fn reset_timeout(mut self, timeout: Duration) -> JdbcManager {
        self.reset_timeout = if timeout.is_zero() {
            DEFAULT_RESET_TIMEOUT
        } else {
            timeout
        };
        self
    }

    /// How many statements each connection keeps prepared for the SQL it runs (default 100; 20
    /// for Oracle and OceanBase; 0 keeps none). `execute`, `query`, `query_each`, `query_row`
    /// and `query_scalar` run the `PreparedStatement` kept for their SQL (once translated to
    /// `?` placeholders), which binds and executes only, its result's columns read on its first
    /// run, and from its second run on a query is one call into the JVM (see the module's
    /// "Kept statements"); the least recently used is closed when the cache is full, and all of
    /// them when the connection closes. DDL (`CREATE`, `ALTER`, `DROP`, `RENAME`) is not kept, and once it has
    /// run (committed, in a transaction) every connection of the process reads its kept
    /// statements' columns again; a result whose column count changed is read again too.
    /// A kept statement whose run fails is closed and prepared afresh next time; one the driver
    /// says is gone or stale (SQLState `26000`, PostgreSQL's "cached plan must not change
    /// result type", a closed statement) is, outside a transaction, prepared again and run once
    /// more. The same option as the PostgreSQL backend's
    /// [`statement_cache_capacity`](crate::postgres::PostgresManager::statement_cache_capacity),
    /// `statement_cache_capacity` in settings OPTIONS or a JDBC URL's query; HikariCP leaves
    /// this to the driver (`prepStmtCacheSize` of MySQL Connector/J).
    ///
    /// Oracle's default is lower because each statement kept holds an open cursor on the server,
    /// and a session may have `OPEN_CURSORS` of them (50 unless the DBA raised it); ojdbc's own
    /// implicit statement cache counts against the same limit. PgJDBC prepares a statement on
    /// the server after it ran five times (`prepareThreshold`), which it then keeps per
    /// connection whatever millpond does.
    pub fn statement_cache_capacity(mut self, capacity: usize) -> JdbcManager {
        self.statement_cache_capacity = Some(capacity);
        self
    }

    /// Sets one of millpond's own options ([`OWN_OPTIONS`]) from its text: `origin` is where it
    /// was written (`url`, `OPTIONS`), for the error.
    pub(crate) fn own_option(
        self,
        origin: &'static str,
        key: &str,
        value: &str,
    ) -> Result<JdbcManager, ConfigError> {
        let duration = || parse_positive_duration(origin, key, value.trim(), Unit::Millis);
        Ok(match key {
            "connect_timeout_ms" => self.connect_timeout(duration()?),
            "reset_timeout_ms" => self.reset_timeout(duration()?),
            "statement_cache_capacity" => self.statement_cache_capacity(parse_number(
                origin,
                key,
                value.trim(),
                "a whole number of statements, 0 or more (0 keeps none)",
            )?),
            _ => {
                return Err(ConfigError::new(
                    origin,
                    format!("`{key}` is not one of millpond's JDBC options"),
                ));
            }
        })
    }

    /// A manager for a JDBC URL given to settings: millpond's own options ([`OWN_OPTIONS`]) are
    /// taken out of its `?` query and applied; the rest of the URL goes to the driver as it is.
    pub(crate) fn from_settings_url(url: &str) -> Result<JdbcManager, ConfigError> {
        let Some((base, query)) = url.split_once('?') else {
            return Ok(JdbcManager::new(url));
        };
        let mut own = Vec::new();
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            if OWN_OPTIONS.contains(&key) {
                own.push((key, pair.split_once('=').map_or("", |(_, value)| value)));
            } else {
                kept.push(pair);
            }
        }
        let url = if own.is_empty() {
            url.to_owned()
        } else if kept.iter().all(|pair| pair.is_empty()) {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        own.into_iter()
            .try_fold(JdbcManager::new(url), |manager, (key, value)| {
                manager.own_option("url", key, value)
            })
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

    /// The connect timeout (see [`JdbcManager::connect_timeout`]).
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The reset timeout (see [`JdbcManager::reset_timeout`]).
    pub fn get_reset_timeout(&self) -> Duration {
        self.reset_timeout
    }

    /// How many statements each connection keeps prepared (see
    /// [`JdbcManager::statement_cache_capacity`]): as set, else the vendor's default.
    pub fn get_statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity.unwrap_or(match self.vendor {
            Vendor::Oracle | Vendor::OceanBase => ORACLE_STATEMENT_CACHE_CAPACITY,
            _ => super::cache::DEFAULT_CAPACITY,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_default_to_ten_seconds_and_zero_means_the_default() {
        let m = JdbcManager::new("jdbc:h2:mem:");
        assert_eq!(m.get_connect_timeout(), Duration::from_secs(10));
        assert_eq!(m.get_reset_timeout(), Duration::from_secs(10));
        let m = m
            .connect_timeout(Duration::from_millis(1500))
            .reset_timeout(Duration::MAX);
        assert_eq!(m.get_connect_timeout(), Duration::from_millis(1500));
        assert_eq!(m.get_reset_timeout(), Duration::MAX);
        let m = m.connect_timeout(Duration::ZERO).reset_timeout(Duration::ZERO);
        assert_eq!(m.get_connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(m.get_reset_timeout(), DEFAULT_RESET_TIMEOUT);
    }

    #[test]
    fn own_options_are_taken_out_of_a_settings_url_and_the_rest_is_left() {
        let m = JdbcManager::from_settings_url(
            "jdbc:postgresql://h/db?connect_timeout_ms=1500&sslmode=disable&reset_timeout_ms=700",
        )
        .unwrap();
        assert_eq!(m.url(), "jdbc:postgresql://h/db?sslmode=disable");
        assert_eq!(m.get_connect_timeout(), Duration::from_millis(1500));
        assert_eq!(m.get_reset_timeout(), Duration::from_millis(700));
        let m = JdbcManager::from_settings_url("jdbc:mariadb://h/db?connect_timeout_ms=20").unwrap();
        assert_eq!(m.url(), "jdbc:mariadb://h/db");
        assert_eq!(m.get_connect_timeout(), Duration::from_millis(20));
        for url in [
            "jdbc:h2:mem:x;DB_CLOSE_DELAY=-1",
            "jdbc:postgresql://h/db?connectTimeout=3",
        ] {
            let m = JdbcManager::from_settings_url(url).unwrap();
            assert_eq!(m.url(), url);
            assert_eq!(m.get_connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        }
        for (url, said) in [
            ("jdbc:postgresql://h/db?connect_timeout_ms=0", "greater than zero"),
            ("jdbc:postgresql://h/db?reset_timeout_ms=soon", "reset_timeout_ms"),
            (
                "jdbc:postgresql://h/db?connect_timeout_ms=-1",
                "connect_timeout_ms",
            ),
        ] {
            let err = JdbcManager::from_settings_url(url).unwrap_err();
            assert!(err.to_string().contains(said), "{url}: {err}");
        }
    }

    #[test]
    fn the_statement_cache_capacity_defaults_by_vendor_and_comes_from_settings() {
        assert_eq!(
            JdbcManager::new("jdbc:h2:mem:").get_statement_cache_capacity(),
            100
        );
        assert_eq!(
            JdbcManager::new("jdbc:oracle:thin:@//h/s").get_statement_cache_capacity(),
            20
        );
        let m = JdbcManager::new("jdbc:h2:mem:").vendor(Vendor::OceanBase);
        assert_eq!(m.get_statement_cache_capacity(), 20, "the vendor decides, as set");
        assert_eq!(m.statement_cache_capacity(3).get_statement_cache_capacity(), 3);
        let m = JdbcManager::from_settings_url(
            "jdbc:postgresql://h/db?statement_cache_capacity=0&sslmode=disable",
        )
        .unwrap();
        assert_eq!(m.url(), "jdbc:postgresql://h/db?sslmode=disable");
        assert_eq!(m.get_statement_cache_capacity(), 0);
        let m = JdbcManager::new("jdbc:h2:mem:")
            .own_option("OPTIONS", "statement_cache_capacity", " 250 ")
            .unwrap();
        assert_eq!(m.get_statement_cache_capacity(), 250);
        for bad in ["-1", "many", ""] {
            let err = JdbcManager::new("jdbc:h2:mem:")
                .own_option("OPTIONS", "statement_cache_capacity", bad)
                .unwrap_err();
            assert!(err.to_string().contains("statement_cache_capacity"), "{err}");
            assert!(err.to_string().contains("0 keeps none"), "{err}");
        }
    }

    #[test]
    fn own_options_from_settings_options() {
        let m = JdbcManager::new("jdbc:h2:mem:")
            .own_option("OPTIONS", "reset_timeout_ms", " 250 ")
            .unwrap();
        assert_eq!(m.get_reset_timeout(), Duration::from_millis(250));
        let err = JdbcManager::new("jdbc:h2:mem:")
            .own_option("OPTIONS", "connect_timeout_ms", "")
            .unwrap_err();
        assert!(err.to_string().contains("connect_timeout_ms"), "{err}");
    }
}
