//! [`PostgresManager`] and its options, set from parts or by the builder-style setters.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use postgres::Config;
use postgres::config::{Host, SslMode as DriverSslMode};
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{SslMode, load_roots, tls_connector};
use super::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESET_TIMEOUT};
use crate::backends::credentials::{Credentials, CredentialsProvider};
use crate::error::{BoxError, ConfigError};

/// Everything a connect needs, shared with the thread that opens the connection.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) config: Config,
    pub(super) ssl_mode: SslMode,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) init: Option<String>,
    /// The bound of the reset on return.
    pub(super) reset_timeout: Duration,
    /// Statements each connection keeps prepared for the SQL text it runs.
    pub(super) statement_cache_capacity: usize,
    /// Connections go through PgBouncer in transaction mode: SQL text runs unnamed.
    pub(super) pgbouncer: bool,
    /// Called for the password (and perhaps the user) of each connect.
    pub(super) credentials: Option<CredentialsProvider>,
    /// The roots for `verify-ca` and `verify-full`; `None` is the Mozilla set.
    pub(super) roots: Option<Arc<RootCertStore>>,
    pub(super) custom_tls: Option<Arc<ClientConfig>>,
    /// Derived from the above by `refresh`: `Ok(None)` means plain TCP.
    pub(super) tls: Result<Option<MakeRustlsConnect>, String>,
}

impl Settings {
    /// Brings the driver's TLS mode, its TCP connect timeout and the TLS connector in line with
    /// this module's settings.
    pub(super) fn refresh(&mut self) {
        self.config.ssl_mode(self.ssl_mode.driver());
        if let Some(timeout) = self.connect_timeout {
            self.config.connect_timeout(timeout);
        }
        self.tls = tls_connector(self.ssl_mode, self.roots.as_ref(), self.custom_tls.as_ref());
    }

    /// Why these settings cannot work behind PgBouncer in transaction mode, if they cannot: an
    /// init statement, or the `options` startup parameter. `None` when `pgbouncer` is off.
    pub(super) fn pgbouncer_conflict(&self) -> Option<ConfigError> {
        if !self.pgbouncer {
            return None;
        }
        if let Some(init) = &self.init {
            return Some(ConfigError::new(
                "init",
                format!(
                    "with pgbouncer=true the init statement is refused ({init:?}): it runs once per \
                     connection to PgBouncer, but each transaction may run on a different server \
                     connection, so what it sets would be missing from yours and would apply to other \
                     clients'. Use SET LOCAL inside your transactions, ALTER ROLE … SET or ALTER \
                     DATABASE … SET on the server, or a startup parameter PgBouncer tracks \
                     (application_name; client_encoding, DateStyle, TimeZone, IntervalStyle and \
                     standard_conforming_strings through .configure)"
                ),
            ));
        }
        if self.config.get_options().is_some() {
            return Some(ConfigError::new(
                "options",
                "with pgbouncer=true the options startup parameter is refused: PgBouncer rejects it \
                 (unsupported startup parameter: options) unless told to ignore it, and then the \
                 settings it carries apply to no server connection. Set them on the server instead \
                 (ALTER ROLE … SET, ALTER DATABASE … SET) or with SET LOCAL inside your transactions",
            ));
        }
        None
    }

    /// Who and where, for messages: `user@host:port/dbname`, never the password.
    pub(super) fn target(&self) -> String {
        target(&self.config)
    }
}

/// Opens PostgreSQL connections for a [`Pool`](crate::Pool).
///
/// Made from a URL ([`PostgresManager::from_url`]) or from a [`postgres::Config`]
/// ([`PostgresManager::new`]), then adjusted with the builder-style setters. Defaults:
/// `sslmode=prefer`, a 10 s [`connect_timeout`](PostgresManager::connect_timeout) for the
/// whole opening, TCP keepalives on.
///
/// Cloning is cheap (the settings are shared).
#[derive(Clone)]
pub struct PostgresManager {
    pub(super) settings: Arc<Settings>,
}

impl fmt::Debug for PostgresManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("PostgresManager")
            .field("target", &s.target())
            .field("ssl_mode", &s.ssl_mode)
            .field("connect_timeout", &s.connect_timeout)
            .field("init", &s.init)
            .field("reset_timeout", &s.reset_timeout)
            .field("statement_cache_capacity", &s.statement_cache_capacity)
            .field("pgbouncer", &s.pgbouncer)
            .field("credentials_provider", &s.credentials.is_some())
            .field(
                "tls_roots",
                &match (&s.custom_tls, &s.roots) {
                    (Some(_), _) => "custom rustls config",
                    (None, Some(_)) => "sslrootcert",
                    (None, None) => "webpki-roots",
                },
            )
            // The driver's own Debug shows the password as `_`.
            .field("config", &s.config)
            .finish()
    }
}

/// `postgres://user@host:port/dbname?sslmode=…`: where the connections go, without the password.
impl fmt::Display for PostgresManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}?sslmode={}",
            self.settings.target(),
            self.settings.ssl_mode
        )
    }
}

impl PostgresManager {
    /// A manager for this driver configuration. Its TLS mode becomes [`SslMode::Disable`],
    /// [`SslMode::Prefer`] or [`SslMode::Require`] as the configuration says (the driver knows no
    /// others; use [`PostgresManager::ssl_mode`] for the verifying ones); its connect timeout,
    /// if set, becomes the bound of the whole opening, else [`DEFAULT_CONNECT_TIMEOUT`].
    ///
    /// ```
    /// # use millpond::postgres::{Config, PostgresManager};
    /// let mut config = Config::new();
    /// config.host("127.0.0.1").user("app").dbname("app");
    /// let manager = PostgresManager::new(config).application_name("worker");
    /// ```
    pub fn new(config: Config) -> Self {
        let ssl_mode = match config.get_ssl_mode() {
            DriverSslMode::Disable => SslMode::Disable,
            DriverSslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
        let connect_timeout = Some(
            config
                .get_connect_timeout()
                .copied()
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        );
        let mut settings = Settings {
            config,
            ssl_mode,
            connect_timeout,
            init: None,
            reset_timeout: DEFAULT_RESET_TIMEOUT,
            statement_cache_capacity: super::cache::DEFAULT_CAPACITY,
            pgbouncer: false,
            credentials: None,
            roots: None,
            custom_tls: None,
            tls: Ok(None),
        };
        settings.refresh();
        PostgresManager {
            settings: Arc::new(settings),
        }
    }

    /// A manager from a URL: `postgres://user:password@host:port/dbname?param=value&…`
    /// (`postgresql://` too). User, password and database name are percent-decoded; several
    /// hosts may be given as `host1:5432,host2:5433`. Without a host, `localhost`; without a
    /// user, the `USER` environment variable (as libpq uses the login name).
    ///
    /// Query parameters:
    /// - `sslmode`: `disable`, `prefer` (default), `require`, `verify-ca`, `verify-full`;
    /// - `sslrootcert`: a PEM file of trusted roots for `verify-ca` and `verify-full` (default:
    ///   the Mozilla roots);
    /// - `connect_timeout`: whole seconds for the whole opening (default 10; 0 waits forever);
    /// - `reset_timeout_ms`: see [`reset_timeout`](Self::reset_timeout); greater than zero;
    /// - `statement_cache_capacity`: see
    ///   [`statement_cache_capacity`](Self::statement_cache_capacity) (default 100; 0 keeps none);
    /// - `pgbouncer`: `true` behind PgBouncer in transaction mode, see
    ///   [`pgbouncer`](Self::pgbouncer) (default `false`);
    /// - handed to the driver: `user`, `password`, `dbname`, `host`, `hostaddr`, `port`,
    ///   `options`, `application_name`, `keepalives`, `keepalives_idle`, `keepalives_interval`,
    ///   `keepalives_retries`, `tcp_user_timeout`, `target_session_attrs`, `channel_binding`,
    ///   `load_balance_hosts` (as in libpq).
    ///
    /// Anything else is refused, and the error lists what is accepted. Errors never repeat the
    /// password.
    ///
    /// Percent-encode `@`, `/`, `?`, `#` and `%` in the user name and password (`p%40ss` for
    /// `p@ss`), and `@` and `#` anywhere else: a URL that could be read two ways (drivers
    /// differ on which `@` ends a password) is refused, and the error never repeats it.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        super::url::from_url(url)
    }

    pub(super) fn settings_mut(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings)
    }

    fn edit(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let s = self.settings_mut();
        f(s);
        s.refresh();
        self
    }

    /// Adds a host to try (the driver tries them in order). A path starting with `/` is a Unix
    /// socket directory.
    pub fn host(self, host: &str) -> Self {
        self.edit(|s| {
            s.config.host(host);
        })
    }

    /// Adds a port: one for all hosts, or one per host in the same order (default 5432).
    pub fn port(self, port: u16) -> Self {
        self.edit(|s| {
            s.config.port(port);
        })
    }

    /// The user to log in as.
    pub fn user(self, user: &str) -> Self {
        self.edit(|s| {
            s.config.user(user);
        })
    }

    /// The password. It is never shown by `Debug`, `Display` or errors.
    pub fn password(self, password: impl AsRef<[u8]>) -> Self {
        self.edit(|s| {
            s.config.password(password);
        })
    }

    /// Calls `provider` for the password of every new connection (and the user, when it
    /// names one), instead of a fixed password: an AWS IAM authentication token, a Vault
    /// lease, a secret someone rotates. A new password then needs no new pool: connections
    /// opened before keep working until they are replaced (at `recycle`, or at once with
    /// [`Pool::invalidate`](crate::Pool::invalidate)), new ones log in with what the provider
    /// gives now. It is called on the thread that opens the connection, within the connect
    /// timeout, so a provider that fetches a token over the network should cache it for its
    /// lifetime. An error fails that connect: the pool's [`Error::Connect`](crate::Error::Connect)
    /// says the credentials provider failed, with the provider's error as the source. What
    /// it returns is never shown (not by `Debug`, in errors or in log lines).
    ///
    /// ```
    /// use std::sync::{Arc, RwLock};
    /// use millpond::postgres::{Credentials, PostgresManager};
    ///
    /// // Written by whatever rotates the secret; read at every connect.
    /// let current = Arc::new(RwLock::new(String::from("first-secret")));
    /// let manager = PostgresManager::from_url("postgres://app@db.internal/app")
    ///     .unwrap()
    ///     .credentials_provider({
    ///         let current = Arc::clone(&current);
    ///         move || Ok(Credentials::password(current.read().unwrap().clone()))
    ///     });
    /// *current.write().unwrap() = String::from("second-secret");
    /// ```
    pub fn credentials_provider(
        self,
        provider: impl Fn() -> Result<Credentials, BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|s| s.credentials = Some(CredentialsProvider::new(provider)))
    }

    /// The database (default: the user's name, as the server decides).
    pub fn dbname(self, dbname: &str) -> Self {
        self.edit(|s| {
            s.config.dbname(dbname);
        })
    }

    /// The `application_name` the server shows in `pg_stat_activity` and its logs.
    pub fn application_name(self, name: &str) -> Self {
        self.edit(|s| {
            s.config.application_name(name);
        })
    }

    /// Whether and how TLS is used (default [`SslMode::Prefer`]).
    pub fn ssl_mode(self, mode: SslMode) -> Self {
        self.edit(|s| s.ssl_mode = mode)
    }

    /// The longest opening a connection may take, per host tried: TCP connect, TLS handshake,
    /// authentication and the init statement together (default 10 s). When it passes, the
    /// attempt is left to finish on its own thread, which ends when the server answers or drops
    /// the connection. `None` (or zero) lifts the bound on the whole; a TCP connect timeout set
    /// before stays with the driver.
    pub fn connect_timeout(self, timeout: impl Into<Option<Duration>>) -> Self {
        let timeout = timeout.into().filter(|t| !t.is_zero());
        self.edit(|s| s.connect_timeout = timeout)
    }

    /// How long the reset of a connection given back with a transaction open (its `ROLLBACK`,
    /// or the pool's `COMMIT` or reset statement) may wait on the server. Default 10 s; a zero
    /// duration is replaced by the default. When it passes, the connection is reported broken
    /// and the pool closes it (the server rolls the transaction back when the session ends);
    /// the statement is left to finish, and the connection to close, on a thread of its own, so
    /// neither the borrower's `drop` nor the pool waits for a server that stopped answering.
    pub fn reset_timeout(self, timeout: Duration) -> Self {
        let timeout = if timeout.is_zero() {
            DEFAULT_RESET_TIMEOUT
        } else {
            timeout
        };
        self.edit(|s| s.reset_timeout = timeout)
    }

    /// How many statements each connection keeps prepared for the SQL text it runs (default
    /// 100; 0 keeps none). `execute`, `query`, `query_one`, `query_opt` and `query_raw` with SQL
    /// text run the statement kept for it, one round trip, instead of preparing it afresh each
    /// time (two); the least recently used goes when the cache is full. A statement the server
    /// says is gone (`DEALLOCATE`) or stale (a table it reads changed shape) is forgotten and,
    /// outside a transaction, prepared again and run once more. sqlx's
    /// `statement_cache_capacity`, deadpool-postgres' `prepare_cached`.
    pub fn statement_cache_capacity(self, capacity: usize) -> Self {
        self.edit(|s| s.statement_cache_capacity = capacity)
    }

    /// Says the connections go through PgBouncer in transaction mode (default `false`; the URL
    /// parameter `pgbouncer=true`). There each transaction, and each statement outside one, may
    /// run on a different server connection, shared with other clients and other processes, so
    /// nothing millpond sends may leave state on a server connection:
    ///
    /// - SQL text (`execute`, `query`, `query_one`, `query_opt`, `query_raw`, in transactions
    ///   too, and sessions and [`AnyConnection`](crate::any::AnyConnection)) runs as the unnamed
    ///   statement, parsed, bound and executed in one round trip, declaring the parameter types
    ///   the server reported for that text. They are learned once per connection and text, by
    ///   preparing and closing the statement inside a transaction, and kept (up to
    ///   [`statement_cache_capacity`](Self::statement_cache_capacity) texts). No prepared
    ///   statement outlives the transaction that made it;
    /// - a session's stream fetches with unnamed statements, inside its own transaction;
    /// - an [`init`](Self::init) statement and the `options` startup parameter are refused when
    ///   the pool is built, with an error that says what to do instead;
    /// - a [`ResetOnReturn::Statement`](crate::ResetOnReturn) (such as `DISCARD ALL`) is refused
    ///   when the pool is built: in transaction mode it would run on whichever server connection
    ///   PgBouncer picks, and PgBouncer resets server connections itself;
    /// - PgBouncer's own errors for one client (`query_wait_timeout`, `client_idle_timeout`, a
    ///   full pool) do not count as a lost server, so they do not invalidate the pool.
    ///
    /// Types the driver does not know built in (enums, domains, composite and extension types
    /// such as `citext`) make it look them up with named statements it keeps; such a connection
    /// is closed when it goes back, with a warning. Cast such values to and from text in the SQL
    /// (`$1::text::mood`, `mood::text`) to keep connections pooled. Your own named statements
    /// ([`PgConnection::prepare`](super::PgConnection::prepare), `bind`) are yours to use and
    /// drop inside one transaction.
    pub fn pgbouncer(self, on: bool) -> Self {
        self.edit(|s| s.pgbouncer = on)
    }

    /// Whether TCP keepalives are sent on idle connections (default on).
    pub fn keepalives(self, on: bool) -> Self {
        self.edit(|s| {
            s.config.keepalives(on);
        })
    }

    /// How long a connection is idle before the first keepalive probe (default 2 hours, the
    /// driver's and the kernel's; shorten it when a firewall or NAT drops quiet connections).
    pub fn keepalives_idle(self, idle: Duration) -> Self {
        self.edit(|s| {
            s.config.keepalives_idle(idle);
        })
    }

    /// SQL run on every new connection before the pool hands it out (for example
    /// `SET statement_timeout = '5s'`). It runs within the connect timeout.
    pub fn init(self, sql: impl Into<String>) -> Self {
        let sql = sql.into();
        self.edit(|s| s.init = Some(sql))
    }

    /// Trusts the certificates in this PEM file instead of the Mozilla roots for
    /// [`SslMode::VerifyCa`] and [`SslMode::VerifyFull`] (libpq's `sslrootcert`).
    pub fn root_certificates_pem(self, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let roots = load_roots(path.as_ref())?;
        Ok(self.edit(|s| s.roots = Some(roots)))
    }

    /// Uses this rustls configuration for TLS (client certificates, roots of your own, other
    /// protocol versions). [`PostgresManager::ssl_mode`] still decides whether TLS is used; the
    /// configuration's verifier decides what is trusted.
    pub fn tls_config(self, config: ClientConfig) -> Self {
        self.edit(|s| s.custom_tls = Some(Arc::new(config)))
    }

    /// Changes the driver configuration directly, for options without a setter here. TLS and
    /// the connect timeout are this manager's: what `f` sets for them is replaced by
    /// [`PostgresManager::ssl_mode`] and [`PostgresManager::connect_timeout`].
    pub fn configure(self, f: impl FnOnce(&mut Config)) -> Self {
        self.edit(|s| f(&mut s.config))
    }

    /// The driver configuration (its `Debug` hides the password).
    pub fn config(&self) -> &Config {
        &self.settings.config
    }

    /// The TLS mode.
    pub fn get_ssl_mode(&self) -> SslMode {
        self.settings.ssl_mode
    }

    /// The bound of one opening, per host (`None`: unbounded).
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.settings.connect_timeout
    }

    /// The bound of the reset on return.
    pub fn get_reset_timeout(&self) -> Duration {
        self.settings.reset_timeout
    }

    /// How many statements each connection keeps prepared.
    pub fn get_statement_cache_capacity(&self) -> usize {
        self.settings.statement_cache_capacity
    }

    /// The init statement, if any.
    pub fn get_init(&self) -> Option<&str> {
        self.settings.init.as_deref()
    }

    /// Whether the connections go through PgBouncer in transaction mode.
    pub fn get_pgbouncer(&self) -> bool {
        self.settings.pgbouncer
    }
}

/// `user@host:port,host2:port2/dbname`, from the driver configuration.
pub(super) fn target(config: &Config) -> String {
    let user = config.get_user().unwrap_or("");
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let count = hosts.len().max(addrs.len());
    let mut places = Vec::with_capacity(count);
    for i in 0..count {
        let name = match (hosts.get(i), addrs.get(i)) {
            (Some(Host::Tcp(host)), Some(addr)) => format!("{host}({addr})"),
            (Some(Host::Tcp(host)), None) => host.clone(),
            #[cfg(unix)]
            (Some(Host::Unix(path)), _) => path.display().to_string(),
            (None, Some(addr)) if addr.is_ipv6() => format!("[{addr}]"),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => String::new(),
        };
        let port = ports.get(i).or_else(|| ports.first()).copied().unwrap_or(5432);
        places.push(format!("{name}:{port}"));
    }
    let places = if places.is_empty() {
        "(no host)".to_owned()
    } else {
        places.join(",")
    };
    let dbname = config.get_dbname().unwrap_or(user);
    format!("{user}@{places}/{dbname}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

    #[test]
    fn debug_and_display_hide_the_password() {
        let m = PostgresManager::from_url(&format!("postgres://app:{SECRET}@127.0.0.1:5433/main")).unwrap();
        let debug = format!("{m:?}");
        let display = m.to_string();
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!display.contains(SECRET), "{display}");
        assert_eq!(display, "postgres://app@127.0.0.1:5433/main?sslmode=prefer");
        let m = m.password("another-s3cret").init("SET x = 1");
        assert!(!format!("{m:?}").contains("another-s3cret"));
    }

    #[test]
    fn setters_build_a_config() {
        let m = PostgresManager::new(Config::new())
            .host("127.0.0.1")
            .port(5433)
            .user("u")
            .dbname("d")
            .application_name("a")
            .ssl_mode(SslMode::Disable)
            .connect_timeout(Duration::from_secs(2))
            .keepalives_idle(Duration::from_secs(45))
            .init("SET TIME ZONE 'UTC'");
        assert_eq!(m.to_string(), "postgres://u@127.0.0.1:5433/d?sslmode=disable");
        assert_eq!(m.config().get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(m.config().get_ssl_mode(), DriverSslMode::Disable);
        assert_eq!(m.get_init(), Some("SET TIME ZONE 'UTC'"));
        let m = m.connect_timeout(None);
        assert_eq!(m.get_connect_timeout(), None);
        assert_eq!(m.settings.open_limit(), None);
        let mut config = Config::new();
        config
            .host("a")
            .host("b")
            .user("u")
            .connect_timeout(Duration::from_secs(4));
        let m = PostgresManager::new(config);
        assert_eq!(m.get_connect_timeout(), Some(Duration::from_secs(4)));
        assert_eq!(m.settings.open_limit(), Some(Duration::from_secs(8)));
        assert_eq!(m.to_string(), "postgres://u@a:5432,b:5432/u?sslmode=prefer");
    }
}
