//! [`OracleManager`] and its options: credentials, connect string and session settings.

use std::fmt;
use std::time::Duration;

use ::oracle::{Connector, ErrorKind, Privilege};

use super::DEFAULT_RESET_TIMEOUT;
use super::connect_string::with_connect_timeout;
use crate::backends::credentials::{Credentials, CredentialsProvider};
use crate::backends::redact::Secret;
use crate::error::{BoxError, ConfigError};

/// Opens Oracle connections with one user, password and connect string.
///
/// Build it from a URL ([`OracleManager::from_url`]) or from parts ([`OracleManager::new`] and
/// the builder methods). The password never appears in `Debug` or `Display` output, in logs or
/// in errors.
#[derive(Clone)]
pub struct OracleManager {
    pub(super) username: String,
    pub(super) password: Secret,
    pub(super) connect_string: String,
    pub(super) external_auth: bool,
    pub(super) privilege: Option<Privilege>,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) call_timeout: Option<Duration>,
    pub(super) reset_timeout: Duration,
    pub(super) stmt_cache_size: Option<u32>,
    pub(super) events: bool,
    pub(super) autocommit: bool,
    pub(super) edition: Option<String>,
    pub(super) driver_name: Option<String>,
    pub(super) init: Vec<String>,
    /// Asked for the password (and maybe the user) of every new connection.
    pub(super) credentials: Option<CredentialsProvider>,
}

impl fmt::Debug for OracleManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OracleManager")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("connect_string", &self.connect_string)
            .field("external_auth", &self.external_auth)
            .field("privilege", &self.privilege)
            .field("connect_timeout", &self.connect_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("reset_timeout", &self.reset_timeout)
            .field("stmt_cache_size", &self.stmt_cache_size)
            .field("events", &self.events)
            .field("autocommit", &self.autocommit)
            .field("edition", &self.edition)
            .field("driver_name", &self.driver_name)
            .field("init", &self.init)
            .field("credentials_provider", &self.credentials.is_some())
            .finish()
    }
}

/// `user@connect_string` (`@connect_string` with external authentication): never the password.
impl fmt::Display for OracleManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.username, self.connect_string)
    }
}

impl OracleManager {
    /// A manager that logs on as `username` with `password` to `connect_string`: an Easy Connect
    /// string (`//host:port/service`, `host:port/service`), a net service name from
    /// `tnsnames.ora`, or a full `(DESCRIPTION=…)` descriptor.
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
        connect_string: impl Into<String>,
    ) -> Self {
        OracleManager {
            username: username.into(),
            password: Secret::new(password),
            connect_string: connect_string.into(),
            external_auth: false,
            privilege: None,
            connect_timeout: None,
            call_timeout: None,
            reset_timeout: DEFAULT_RESET_TIMEOUT,
            stmt_cache_size: None,
            events: false,
            autocommit: false,
            edition: None,
            driver_name: None,
            init: Vec::new(),
            credentials: None,
        }
    }

    /// Asks `provider` for the password (an Oracle token, a rotated secret from a vault) of
    /// every new connection, and for the user when it names one; the manager's own password and
    /// user are used otherwise. Rotating a secret then needs no new pool: connections already
    /// open keep working until recycled (or [`Pool::invalidate`](crate::Pool::invalidate)).
    /// A provider that fails fails that connect, with its error in the message. What it
    /// returns never appears in `Debug` output, errors or logs.
    pub fn credentials_provider(
        mut self,
        provider: impl Fn() -> Result<Credentials, BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.credentials = Some(CredentialsProvider::new(provider));
        self
    }

    /// A manager that uses external authentication (an operating-system account, or a wallet's
    /// secure external password store) instead of a user name and password.
    pub fn external(connect_string: impl Into<String>) -> Self {
        let mut manager = OracleManager::new("", "", connect_string);
        manager.external_auth = true;
        manager
    }

    /// A manager from a URL:
    ///
    /// - `oracle://user:password@//host:port/service` or `oracle://user:password@host:port/service`
    ///   (Easy Connect; the port defaults to 1521), `oracle://user:password@tns_alias` (a net
    ///   service name from `tnsnames.ora`), or `oracle://user:password@(DESCRIPTION=…)`;
    ///   leave out `user:password@` for external authentication ([`OracleManager::external`]).
    ///   Percent-encode `@ : / ? # %` in the user name and password (`p%40ss` for `p@ss`).
    /// - query parameters (values percent-encoded, `+` for a space):
    ///   `connect_timeout=S` (whole seconds; see [`OracleManager::connect_timeout`]),
    ///   `call_timeout_ms=N` (see [`OracleManager::call_timeout`]), `reset_timeout_ms=N`
    ///   (greater than zero; see [`OracleManager::reset_timeout`]), `stmt_cache_size=N`,
    ///   `events=true|false`, `autocommit=true|false`, `init=SQL` (may be repeated; run in
    ///   order on every new connection), `edition=NAME`, `driver_name=NAME`,
    ///   `privilege=sysdba|sysoper|sysasm|sysbackup|sysdg|syskm|sysrac`.
    ///
    /// Any other parameter is an error. Errors never quote the password.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        super::url::from_url(url)
    }

    /// Bounds how long opening a connection may take (Oracle Net's `CONNECT_TIMEOUT`, in whole
    /// seconds, rounded up). It is added to an Easy Connect string as `?connect_timeout=S`
    /// (Oracle Client 19c or later) and to a `(DESCRIPTION=…)` as `(CONNECT_TIMEOUT=S)`. A net
    /// service name cannot take one: set `CONNECT_TIMEOUT` in its `tnsnames.ora` entry, or use
    /// Easy Connect (`//host` for a host with default port and service). `None` (the default)
    /// leaves the connect string alone.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = timeout.into().filter(|t| !t.is_zero());
        self
    }

    /// The call timeout set on every new connection: the longest any one round trip may take
    /// before it is cancelled (`DPI-1067`). `None` (the default) sets none. Needs Oracle Client
    /// 18 or later. A borrower's own [`OracleConnection::set_call_timeout`](super::OracleConnection::set_call_timeout) is undone when the
    /// connection comes back.
    pub fn call_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.call_timeout = timeout.into().filter(|t| !t.is_zero());
        self
    }

    /// How long the reset of a connection given back with a transaction open (its rollback, or
    /// the pool's commit or reset statement) may take. Default 10 s; zero is replaced by the
    /// default. It is applied through the call timeout (half of it for the round trip, as much
    /// again for the client to clean up), which is put back afterwards; when it passes, the
    /// reset fails with an error that says so and the pool closes the connection (the server
    /// rolls back what was open). Needs Oracle Client 18 or later; older clients reset without
    /// a bound.
    pub fn reset_timeout(mut self, timeout: Duration) -> Self {
        self.reset_timeout = if timeout.is_zero() {
            DEFAULT_RESET_TIMEOUT
        } else {
            timeout
        };
        self
    }

    /// The reset timeout (see [`OracleManager::reset_timeout`]).
    pub fn get_reset_timeout(&self) -> Duration {
        self.reset_timeout
    }

    /// The number of statements each connection keeps prepared (the client's default is 20;
    /// 0 turns the cache off).
    pub fn stmt_cache_size(mut self, size: u32) -> Self {
        self.stmt_cache_size = Some(size);
        self
    }

    /// Opens connections in events mode (for advanced queuing and continuous query
    /// notification). Default off.
    pub fn events(mut self, on: bool) -> Self {
        self.events = on;
        self
    }

    /// Whether new connections commit after every successful statement. Default off, as in the
    /// `oracle` crate. A borrower's own [`OracleConnection::set_autocommit`](super::OracleConnection::set_autocommit) is undone when the
    /// connection comes back.
    pub fn autocommit(mut self, on: bool) -> Self {
        self.autocommit = on;
        self
    }

    /// The edition (edition-based redefinition) sessions use.
    pub fn edition(mut self, edition: impl Into<String>) -> Self {
        self.edition = Some(edition.into());
        self
    }

    /// The driver name shown in `V$SESSION_CONNECT_INFO.CLIENT_DRIVER` (default
    /// `rust-oracle : <version>`).
    pub fn driver_name(mut self, name: impl Into<String>) -> Self {
        self.driver_name = Some(name.into());
        self
    }

    /// Connects with an administrative privilege (`SYSDBA`, `SYSOPER`, …).
    pub fn privilege(mut self, privilege: Privilege) -> Self {
        self.privilege = Some(privilege);
        self
    }

    /// An SQL statement run on every new connection, after the previous ones (for example
    /// `ALTER SESSION SET TIME_ZONE = 'UTC'`). One statement each: Oracle runs one per call. A
    /// statement that opens a transaction leaves it open for the first borrower.
    pub fn init(mut self, sql: impl Into<String>) -> Self {
        self.init.push(sql.into());
        self
    }

    /// The user name (empty with external authentication).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The connect string as given.
    pub fn connect_string(&self) -> &str {
        &self.connect_string
    }

    /// The statements run on every new connection.
    pub fn init_statements(&self) -> &[String] {
        &self.init
    }

    /// The connect string sent to Oracle: the one given, with the connect timeout applied.
    /// Fails when a connect timeout is set on a net service name, which cannot take one.
    pub fn effective_connect_string(&self) -> Result<String, ConfigError> {
        with_connect_timeout(&self.connect_string, self.connect_timeout)
    }

    pub(super) fn connector(&self) -> Result<Connector, ::oracle::Error> {
        let connect_string = self
            .effective_connect_string()
            .map_err(|err| ::oracle::Error::new(ErrorKind::InvalidArgument, err.to_string()))?;
        let fetched =
            match &self.credentials {
                None => None,
                Some(provider) => Some(provider.fetch().map_err(|failed| {
                    ::oracle::Error::new(ErrorKind::Other, crate::error::chain(&failed))
                })?),
            };
        let (username, password) = match &fetched {
            None => (self.username.as_str(), self.password.expose()),
            Some(credentials) => (
                credentials.user().unwrap_or(self.username.as_str()),
                credentials.password.expose(),
            ),
        };
        let mut connector = Connector::new(username, password, connect_string);
        if self.external_auth {
            connector.external_auth(true);
        }
        if let Some(privilege) = self.privilege {
            connector.privilege(privilege);
        }
        if let Some(size) = self.stmt_cache_size {
            connector.stmt_cache_size(size);
        }
        if self.events {
            connector.events(true);
        }
        if let Some(edition) = &self.edition {
            connector.edition(edition.as_str());
        }
        if let Some(name) = &self.driver_name {
            connector.driver_name(name.as_str());
        }
        Ok(connector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

    #[test]
    fn debug_and_display_never_show_the_password() {
        let m = OracleManager::from_url(&format!("oracle://scott:{SECRET}@//h:1521/s?connect_timeout=2"))
            .unwrap();
        let debug = format!("{m:?}");
        assert!(!debug.contains(SECRET) && debug.contains("\"***\""), "{debug}");
        assert_eq!(m.to_string(), "scott@//h:1521/s");
        let m = OracleManager::new("scott", SECRET, "h/s");
        assert!(!format!("{m:?} {m}").contains(SECRET));
    }

    #[test]
    fn a_credentials_provider_is_asked_at_each_connect_and_never_shown() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let m = OracleManager::new("scott", "old", "//h:1521/s").credentials_provider(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Credentials::password(SECRET).with_user("rotated"))
        });
        assert!(m.connector().is_ok());
        assert!(m.connector().is_ok());
        assert_eq!(asked.load(Ordering::SeqCst), 2, "once per connect");
        assert!(!format!("{m:?} {m}").contains(SECRET), "{m:?}");
        assert!(format!("{m:?}").contains("credentials_provider: true"), "{m:?}");

        let failing = OracleManager::new("scott", "old", "//h:1521/s")
            .credentials_provider(|| Err("the vault is sealed".into()));
        let Err(err) = failing.connector() else {
            panic!("the provider's failure fails the connect");
        };
        assert!(
            err.to_string()
                .contains("the credentials provider failed: the vault is sealed"),
            "{err}"
        );
    }

    #[test]
    fn the_reset_timeout_defaults_to_ten_seconds_and_comes_from_the_url() {
        let m = OracleManager::new("scott", SECRET, "//h/s");
        assert_eq!(m.get_reset_timeout(), Duration::from_secs(10));
        assert_eq!(
            m.clone().reset_timeout(Duration::ZERO).get_reset_timeout(),
            DEFAULT_RESET_TIMEOUT
        );
        assert_eq!(m.reset_timeout(Duration::MAX).get_reset_timeout(), Duration::MAX);
        let m = OracleManager::from_url(&format!(
            "oracle://scott:{SECRET}@//h:1521/s?reset_timeout_ms=750&call_timeout_ms=2000"
        ))
        .unwrap();
        assert_eq!(m.get_reset_timeout(), Duration::from_millis(750));
        assert!(format!("{m:?}").contains("reset_timeout: 750ms"), "{m:?}");
        for (query, said) in [
            ("reset_timeout_ms=0", "greater than zero"),
            ("reset_timeout_ms=soon", "reset_timeout_ms"),
            ("reset_timeout_ms=", "reset_timeout_ms"),
            ("reset_timeout=5", "reset_timeout_ms"),
        ] {
            let err = OracleManager::from_url(&format!("oracle://scott:{SECRET}@//h/s?{query}")).unwrap_err();
            let shown = err.to_string();
            assert!(
                shown.contains(said) && !shown.contains(SECRET),
                "{query}: {shown}"
            );
        }
    }
}
