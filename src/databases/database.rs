//! [`DatabaseSettings`]: one alias of DATABASES (ENGINE, NAME, USER, PASSWORD, HOST, PORT,
//! OPTIONS, POOL_OPTIONS).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::engine::Engine;
use super::pool_options::{PoolOverrides, resolve};
use super::value::SettingValue;
use crate::backends::redact::redact_url;
use crate::error::ConfigError;
use crate::observe::HandleEvent;
use crate::options::PoolOptions;

/// How one database is reached and pooled: one alias of Django's `DATABASES`.
///
/// Made from code with the builder methods, from a URL ([`DatabaseSettings::from_url`]), or as
/// part of [`Databases`](super::Databases) read from a TOML file or the environment. Its `Debug`
/// never shows the password.
///
/// ```
/// use millpond::settings::{DatabaseSettings, Engine};
///
/// let db = DatabaseSettings::new(Engine::Postgresql)
///     .name("app")
///     .user("app")
///     .password("secret")
///     .host("127.0.0.1")
///     .port(5432)
///     .option("sslmode", "disable")
///     .pool_option("POOL_SIZE", 4)?
///     .pool_option("RECYCLE", 3600)?;
/// assert_eq!(db.pool_options().pool_size, 4);
/// assert!(!format!("{db:?}").contains("secret"));
/// # Ok::<(), millpond::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct DatabaseSettings {
    pub(crate) engine: Engine,
    pub(crate) name: String,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    /// The URL the settings were made from, without its pool options (it replaces NAME, USER,
    /// PASSWORD, HOST and PORT).
    pub(crate) url: Option<String>,
    /// Driver options, handed to the backend as its URL's query parameters.
    pub(crate) options: BTreeMap<String, String>,
    /// `POOL_OPTIONS`, and the event handler given from code.
    pub(crate) pool: PoolOverrides,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("engine", &self.engine)
            // For the JDBC engines NAME is the JDBC URL, which may carry a password.
            .field("name", &redact_url(&self.name))
            .field("user", &self.user)
            .field("password", &if self.password.is_empty() { "" } else { "***" })
            .field("host", &self.host)
            .field("port", &self.port)
            .field("url", &self.redacted_url())
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("pool_options", &self.pool)
            .finish()
    }
}

impl DatabaseSettings {
    /// Settings for `engine` with everything else empty (the backend's defaults apply).
    pub fn new(engine: Engine) -> Self {
        DatabaseSettings {
            engine,
            name: String::new(),
            user: String::new(),
            password: String::new(),
            host: String::new(),
            port: None,
            url: None,
            options: BTreeMap::new(),
            pool: PoolOverrides::default(),
        }
    }

    /// `NAME`: the database (for SQLite a file path or `:memory:`; for Oracle the service name
    /// or, without `HOST`, a net service name from `tnsnames.ora`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// `USER`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// `PASSWORD`. It never appears in `Debug` output or errors.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = password.into();
        self
    }

    /// `HOST`: a host name or address; for PostgreSQL and MySQL a path starting with `/` is a
    /// Unix socket (directory for PostgreSQL, file for MySQL).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// `PORT`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// One `OPTIONS` entry: a driver option, which is one of the backend's URL query parameters
    /// (`sslmode`, `application_name`, `connect_timeout` for PostgreSQL; `ssl`, `init`,
    /// `connect_timeout_ms` for MySQL; `mode`, `busy_timeout_ms`, `wal` for SQLite; …). Checked
    /// when the pool is made, with the backend's list of what it accepts.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    /// One `POOL_OPTIONS` entry, by its upper-case key (`POOL_SIZE`, `RECYCLE`, …): durations
    /// in seconds, `-1` for none. An unknown key or a value of the wrong kind is refused.
    pub fn pool_option(mut self, key: &str, value: impl Into<SettingValue>) -> Result<Self, ConfigError> {
        let value = value.into();
        let path = format!("POOL_OPTIONS.{key}");
        self.pool.set(key, &value, &path)?;
        Ok(self)
    }

    /// The event handler of the pools made from these settings (it cannot be given in a file).
    pub fn event_handler(mut self, handler: impl HandleEvent) -> Self {
        self.pool.event_handler = Some(Some(Arc::new(handler)));
        self
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The options a pool made now from these settings gets: [`pool_defaults`](crate::settings::pool_defaults)
    /// with `POOL_OPTIONS` applied. Unless `NAME` is given (or [`setup`](crate::settings::setup) changed
    /// the default name), the pool is named after the database's `NAME` (a JDBC URL with any
    /// password in it replaced by `***`).
    pub fn pool_options(&self) -> PoolOptions {
        // Redacted: a JDBC NAME is a URL that may carry a password, and the pool's name goes
        // into its log lines, thread names and events.
        let name = if self.name.is_empty() {
            "millpond".to_owned()
        } else {
            redact_url(&self.name)
        };
        self.pool_options_named(&name)
    }

    /// As [`DatabaseSettings::pool_options`], the pool named `name` unless `NAME` says otherwise.
    pub(crate) fn pool_options_named(&self, name: &str) -> PoolOptions {
        resolve(&self.pool, name)
    }

    /// The driver options given (`OPTIONS`).
    pub fn driver_options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    /// The URL with the password replaced by `***`, for messages.
    pub(crate) fn redacted_url(&self) -> Option<String> {
        self.url.as_deref().map(redact_url)
    }
}
