//! The PostgreSQL backend (feature `postgres`): the [`postgres`](https://docs.rs/postgres) crate,
//! with TLS through rustls, so no system OpenSSL is needed.
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//! use millpond::Pool;
//! use millpond::postgres::PostgresManager;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = PostgresManager::from_url("postgres://app:secret@127.0.0.1:5432/app?sslmode=prefer")?
//!     .application_name("web")                    // shows in pg_stat_activity
//!     .connect_timeout(Duration::from_secs(5));   // the whole open: TCP, TLS, login, init
//! let pool = Pool::builder().pool_size(10).max_overflow(10).build(manager)?;
//!
//! let mut conn = pool.get()?;
//! let row = conn.query_one("SELECT $1::int + 1", &[&41i32])?;
//! assert_eq!(row.get::<_, i32>(0), 42);
//!
//! let mut tx = conn.transaction()?;                // rolls back unless committed
//! tx.execute("INSERT INTO events (kind) VALUES ($1)", &[&"login"])?;
//! tx.commit()?;
//! # Ok(())
//! # }
//! ```
//!
//! # What the pool gets from this backend
//!
//! - **No round trip on return when no transaction is open.** The `postgres` crate does not
//!   expose the server's transaction status, so [`PgConnection`] infers it from the SQL it sends
//!   (`BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`, `END`, `ABORT`, `PREPARE TRANSACTION`).
//!   A connection given back with a transaction open is rolled back; one given back idle is
//!   kept as it is. Whatever is sent through [`PgConnection::client_mut`] cannot be seen, so
//!   it makes the state unknown and the next return rolls back, to be safe.
//! - **Bounded opening.** [`PostgresManager::connect_timeout`] (10 s by default) bounds the
//!   whole opening of a connection, not only the TCP connect: a server that accepts and then
//!   says nothing cannot hang a checkout.
//! - **Bounded validation.** Pre-ping uses [`postgres::Client::is_valid`] with the pool's
//!   `validation_timeout`. A connection whose validation timed out still owes a reply; it is
//!   reported broken and closed on a thread of its own, so neither the borrower nor the pool's
//!   workers wait for a server that has stopped answering.
//! - **Lost servers.** SQLSTATE class 08 (connection exception), 57P01 (admin shutdown, also what
//!   `pg_terminate_backend` sends), 57P02 (crash shutdown), 57P03 (cannot connect now), a closed
//!   connection and a broken socket all count as a lost server: the pool is invalidated.
//!
//! What is not bounded: a statement the borrower runs on a server that has stopped answering
//! waits for it, as it would without a pool (`statement_timeout` is enforced by the server, so
//! it cannot help there).
//!
//! # TLS
//!
//! `sslmode` follows libpq: `disable` (plain), `prefer` (the default: TLS if the server offers
//! it, plain otherwise), `require` (TLS, certificate not verified, as libpq does), `verify-ca`
//! (the certificate must chain to a trusted root) and `verify-full` (and must name the host).
//! The trusted roots are the Mozilla set from `webpki-roots`, or the PEM file given as
//! `sslrootcert`. [`PostgresManager::tls_config`] takes a rustls configuration of your own
//! (client certificates, other roots).
//!
//! # Secrets
//!
//! The password never appears in this module's `Debug` or `Display` output, in its log lines
//! or in its errors.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

pub use postgres::error::SqlState;
pub use postgres::types::{BorrowToSql, ToSql, Type};
pub use postgres::{
    CancelToken, Client, Config, CopyInWriter, CopyOutReader, Row, RowIter, SimpleQueryMessage, Statement,
    ToStatement, Transaction, TransactionBuilder,
};

use postgres::NoTls;
use postgres::config::{Host, SslMode as DriverSslMode};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::txn::{Dialect, TxTracker};
use crate::error::ConfigError;
use crate::manage::{ManageConnection, ResetAction, TransactionState};

/// How long opening a connection may take unless told otherwise: TCP connect, TLS handshake,
/// authentication and the init statement together.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL query parameters handed on to the `postgres` crate as they are.
const DRIVER_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "options",
    "application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// The URL query parameters this module reads itself.
const OWN_PARAMS: &[&str] = &["sslmode", "sslrootcert", "connect_timeout"];

/// Whether and how TLS is used, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS if the server offers it (certificate not verified), plain otherwise. The default,
    /// as in libpq.
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is not verified (libpq's `require`).
    Require,
    /// TLS, and the certificate must chain to a trusted root; the host name is not checked.
    VerifyCa,
    /// TLS, and the certificate must chain to a trusted root and name the host.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling: `disable`, `prefer`, `require`, `verify-ca` or `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn driver(self) -> DriverSslMode {
        match self {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = ConfigError;

    /// Parses the libpq spelling (`allow` is not offered: it would try plain first).
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            _ => Err(ConfigError::new(
                "sslmode",
                format!(
                    "{} is not accepted; use disable, prefer, require, verify-ca or verify-full",
                    quoted_if_plain(s)
                ),
            )),
        }
    }
}

/// Everything a connect needs, shared with the thread that opens the connection.
#[derive(Clone)]
struct Settings {
    config: Config,
    ssl_mode: SslMode,
    connect_timeout: Option<Duration>,
    init: Option<String>,
    /// The roots for `verify-ca` and `verify-full`; `None` is the Mozilla set.
    roots: Option<Arc<RootCertStore>>,
    custom_tls: Option<Arc<ClientConfig>>,
    /// Derived from the above by `refresh`: `Ok(None)` means plain TCP.
    tls: Result<Option<MakeRustlsConnect>, String>,
}

impl Settings {
    /// Brings the driver's TLS mode, its TCP connect timeout and the TLS connector in line with
    /// this module's settings.
    fn refresh(&mut self) {
        self.config.ssl_mode(self.ssl_mode.driver());
        if let Some(timeout) = self.connect_timeout {
            self.config.connect_timeout(timeout);
        }
        self.tls = tls_connector(self.ssl_mode, self.roots.as_ref(), self.custom_tls.as_ref());
    }

    /// Who and where, for messages: `user@host:port/dbname`, never the password.
    fn target(&self) -> String {
        target(&self.config)
    }

    /// The longest the whole opening may take: `connect_timeout` for each host to be tried.
    fn open_limit(&self) -> Option<Duration> {
        let hosts = self
            .config
            .get_hosts()
            .len()
            .max(self.config.get_hostaddrs().len())
            .max(1);
        self.connect_timeout
            .map(|timeout| timeout.saturating_mul(u32::try_from(hosts).unwrap_or(u32::MAX)))
    }

    /// Opens a connection in this thread, with no bound of its own beyond the driver's TCP
    /// connect timeout.
    fn open(&self) -> Result<PgConnection, PostgresError> {
        let tls = self
            .tls
            .as_ref()
            .map_err(|message| PostgresError::other(self.connecting(), message.clone()))?;
        let client = match tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
        .map_err(|err| PostgresError::driver(err).context(self.connecting()))?;
        let mut conn = PgConnection::new(client);
        if let Some(sql) = &self.init {
            conn.batch_execute(sql).map_err(|err| {
                PostgresError::driver(err).context(format!("running the init statement on {}", self.target()))
            })?;
        }
        Ok(conn)
    }

    fn connecting(&self) -> String {
        format!("connecting to {}", self.target())
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
    settings: Arc<Settings>,
}

impl fmt::Debug for PostgresManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("PostgresManager")
            .field("target", &s.target())
            .field("ssl_mode", &s.ssl_mode)
            .field("connect_timeout", &s.connect_timeout)
            .field("init", &s.init)
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
    /// - handed to the driver: `user`, `password`, `dbname`, `host`, `hostaddr`, `port`,
    ///   `options`, `application_name`, `keepalives`, `keepalives_idle`, `keepalives_interval`,
    ///   `keepalives_retries`, `tcp_user_timeout`, `target_session_attrs`, `channel_binding`,
    ///   `load_balance_hosts` (as in libpq).
    ///
    /// Anything else is refused, and the error lists what is accepted. Errors never repeat the
    /// password.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        else {
            return Err(ConfigError::new(
                "url",
                "a PostgreSQL URL starts with postgres:// or postgresql:// (for example \
                 postgres://user:password@127.0.0.1:5432/dbname?sslmode=prefer)",
            ));
        };
        // As libpq: the credentials end at the first `@` met before any `/`, so a `?` in an
        // unencoded password stays in the password (and out of error messages).
        let (credentials, rest) = split_credentials(rest)?;
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, query),
            None => (rest, ""),
        };
        let mut ssl_mode = None;
        let mut roots = None;
        let mut connect_timeout = Some(DEFAULT_CONNECT_TIMEOUT);
        let mut passed = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => ssl_mode = Some(percent_decode(raw)?.parse::<SslMode>()?),
                "sslrootcert" => roots = Some(load_roots(Path::new(&percent_decode(raw)?))?),
                "connect_timeout" => {
                    let value = percent_decode(raw)?;
                    connect_timeout = match value.trim().parse::<u64>() {
                        Ok(0) => None,
                        Ok(secs) => Some(Duration::from_secs(secs)),
                        Err(_) => {
                            return Err(ConfigError::new(
                                "connect_timeout",
                                format!(
                                    "{} is not accepted; use whole seconds (0 waits forever)",
                                    quoted_if_plain(&value)
                                ),
                            ));
                        }
                    }
                }
                _ if DRIVER_PARAMS.contains(&key) => passed.push(pair),
                _ => {
                    return Err(ConfigError::new(
                        "url",
                        format!(
                            "query parameter {} is not accepted; the accepted ones are {} and {}",
                            if is_plain(key) {
                                format!("`{key}`")
                            } else {
                                "(not shown)".to_owned()
                            },
                            OWN_PARAMS.join(", "),
                            DRIVER_PARAMS.join(", "),
                        ),
                    ));
                }
            }
        }
        let mut rebuilt = format!("postgres://{location}");
        if !passed.is_empty() {
            rebuilt.push('?');
            rebuilt.push_str(&passed.join("&"));
        }
        // The credentials are out; any `@` left is data, which the driver's parser would take
        // for the end of a user name.
        let rebuilt = rebuilt.replace('@', "%40");
        let mut config: Config = rebuilt.parse().map_err(|err: postgres::Error| {
            // The driver's parse errors name options, never values; say so in a test.
            ConfigError::new("url", with_sources(&err))
        })?;
        if let Some(credentials) = credentials {
            let (user, password) = match credentials.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (credentials, None),
            };
            let undecodable = |what: &str| {
                ConfigError::new(
                    "url",
                    format!("the {what} in the URL is not valid percent-encoded UTF-8"),
                )
            };
            let user = percent_decode_path(user)
                .ok()
                .and_then(|user| String::from_utf8(user).ok())
                .ok_or_else(|| undecodable("user"))?;
            if !user.is_empty() {
                config.user(&user);
            }
            if let Some(password) = password {
                config.password(percent_decode_path(password).map_err(|_| undecodable("password"))?);
            }
        }
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
                Ok(user) if !user.is_empty() => {
                    config.user(&user);
                }
                _ => {
                    return Err(ConfigError::new(
                        "url",
                        "the URL names no user and USER is not set; use postgres://user@host/dbname",
                    ));
                }
            }
        }
        let mut manager = PostgresManager::new(config);
        let s = manager.settings_mut();
        s.ssl_mode = ssl_mode.unwrap_or_default();
        s.connect_timeout = connect_timeout;
        s.roots = roots;
        s.refresh();
        Ok(manager)
    }

    fn settings_mut(&mut self) -> &mut Settings {
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

    /// The init statement, if any.
    pub fn get_init(&self) -> Option<&str> {
        self.settings.init.as_deref()
    }
}

impl ManageConnection for PostgresManager {
    type Connection = PgConnection;
    type Error = PostgresError;

    /// Opens a connection and runs the init statement. With a connect timeout (the default) the
    /// work is done on a short-lived thread, so that the wait can be bounded as a whole.
    fn connect(&self) -> Result<PgConnection, PostgresError> {
        let settings = &self.settings;
        let Some(limit) = settings.open_limit() else {
            return settings.open();
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let shared = Arc::clone(settings);
        let spawned = thread::Builder::new()
            .name("millpond-pg-connect".to_owned())
            .spawn(move || {
                let result = shared.open();
                // Nobody listens after a timeout: the connection (if any) is closed here.
                let _ = tx.send(result);
            });
        if let Err(err) = spawned {
            return Err(PostgresError::other(
                settings.connecting(),
                format!("could not start a thread to connect on: {err}"),
            ));
        }
        match rx.recv_timeout(limit) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                log::warn!(target: "millpond::postgres", "{}: no answer within {limit:?}", settings.connecting());
                Err(PostgresError {
                    kind: Kind::ConnectTimeout(limit),
                    context: Some(settings.connecting()),
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(PostgresError::other(
                settings.connecting(),
                "the connecting thread panicked".to_owned(),
            )),
        }
    }

    /// [`postgres::Client::is_valid`]: an empty query, answered within `timeout` or failed.
    fn is_valid(&self, conn: &mut PgConnection, timeout: Duration) -> Result<(), PostgresError> {
        conn.validate(timeout)
    }

    /// The driver saw the connection close, or a validation timed out with a reply still owed.
    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        conn.is_broken()
    }

    fn transaction_state(&self, conn: &mut PgConnection) -> TransactionState {
        conn.transaction_state()
    }

    /// `ROLLBACK` or `COMMIT`; a statement of your own (`DISCARD ALL`, say) runs after a
    /// `ROLLBACK` when a transaction may be open, since PostgreSQL refuses some statements
    /// inside one, unless the statement ends the transaction itself.
    fn reset(&self, conn: &mut PgConnection, action: ResetAction<'_>) -> Result<(), PostgresError> {
        match action {
            ResetAction::Rollback => conn.batch_execute("ROLLBACK")?,
            ResetAction::Commit => conn.batch_execute("COMMIT")?,
            ResetAction::Statement(sql) => {
                if conn.transaction_state() != TransactionState::Idle && !ends_transaction(sql) {
                    conn.batch_execute("ROLLBACK")?;
                }
                conn.batch_execute(sql)?;
            }
        }
        Ok(())
    }

    fn is_lost_server(&self, error: &PostgresError) -> bool {
        error.is_lost_server()
    }
}

/// SQL text or a statement prepared on the same connection: what [`PgConnection`]'s query
/// methods take. Text is classified to follow the transaction state; a [`Statement`] is not
/// (see [`PgConnection::prepare`]).
pub trait Sql: ToStatement {
    /// The SQL text, or `None` for a prepared statement.
    fn sql_text(&self) -> Option<&str>;
}

impl Sql for str {
    fn sql_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl Sql for String {
    fn sql_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl Sql for Statement {
    fn sql_text(&self) -> Option<&str> {
        None
    }
}

/// A PostgreSQL connection that follows its own transaction state, so the pool can skip the
/// rollback when a borrower gives it back with no transaction open.
///
/// It offers the [`postgres::Client`] methods people use most, each of which notes the SQL it
/// sends; [`PgConnection::client_mut`] lends the client itself for the rest.
pub struct PgConnection {
    /// Always `Some` until dropped.
    client: Option<Client>,
    tracker: TxTracker,
    /// A statement that begins or ends transactions was prepared here, so running prepared
    /// statements makes the state unknown.
    prepared_tx_control: bool,
    /// A validation timed out: the server still owes a reply, and the connection cannot be used.
    desynced: bool,
    pid: Option<i32>,
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            .field("backend_pid", &self.pid)
            .field("transaction_state", &self.tracker.state())
            .field("closed", &self.client().is_closed())
            .field("desynced", &self.desynced)
            .finish()
    }
}

impl PgConnection {
    /// Wraps a client opened elsewhere. Its transaction state is taken to be idle.
    pub fn new(client: Client) -> Self {
        PgConnection {
            client: Some(client),
            tracker: TxTracker::new(Dialect::Postgres),
            prepared_tx_control: false,
            desynced: false,
            pid: None,
        }
    }

    /// The client, for methods that cannot change the transaction state (`is_closed`,
    /// `cancel_token`, `clear_type_cache`).
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the client is present until the connection is dropped")
    }

    fn inner(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("the client is present until the connection is dropped")
    }

    /// The client itself, for anything not offered here. What is sent through it cannot be
    /// followed, so the transaction state becomes unknown and the connection is rolled back
    /// when given back.
    pub fn client_mut(&mut self) -> &mut Client {
        self.tracker.lost_track();
        self.inner()
    }

    /// Takes the client out (for example after [`PooledConnection::detach`](crate::PooledConnection::detach)).
    pub fn into_client(mut self) -> Client {
        self.client
            .take()
            .expect("the client is present until the connection is dropped")
    }

    /// The transaction state as followed from the SQL sent so far.
    pub fn transaction_state(&self) -> TransactionState {
        self.tracker.state()
    }

    /// Whether the driver saw the connection close.
    pub fn is_closed(&self) -> bool {
        self.client().is_closed()
    }

    /// Whether the connection cannot be used any more: closed, or a validation timed out.
    pub fn is_broken(&self) -> bool {
        self.desynced || self.client().is_closed()
    }

    /// The server process serving this connection (`pg_backend_pid()`), asked once and then
    /// remembered.
    pub fn backend_pid(&mut self) -> Result<i32, postgres::Error> {
        if let Some(pid) = self.pid {
            return Ok(pid);
        }
        let pid: i32 = self.inner().query_one("SELECT pg_backend_pid()", &[])?.get(0);
        self.pid = Some(pid);
        Ok(pid)
    }

    /// A token to cancel the statement running on this connection from another thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.client().cancel_token()
    }

    fn observe<T: ?Sized + Sql>(&mut self, query: &T) {
        match query.sql_text() {
            Some(sql) => self.tracker.observe(sql),
            None if self.prepared_tx_control => self.tracker.lost_track(),
            None => {}
        }
    }

    /// Runs a statement, returning the number of rows changed. See [`postgres::Client::execute`].
    pub fn execute<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        self.observe(query);
        self.inner().execute(query, params)
    }

    /// Runs a statement, returning its rows. See [`postgres::Client::query`].
    pub fn query<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        self.observe(query);
        self.inner().query(query, params)
    }

    /// Runs a statement that returns exactly one row. See [`postgres::Client::query_one`].
    pub fn query_one<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        self.observe(query);
        self.inner().query_one(query, params)
    }

    /// Runs a statement that returns at most one row. See [`postgres::Client::query_opt`].
    pub fn query_opt<T: ?Sized + Sql>(
        &mut self,
        query: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        self.observe(query);
        self.inner().query_opt(query, params)
    }

    /// Runs a statement, returning its rows as they arrive. See [`postgres::Client::query_raw`].
    pub fn query_raw<T, P, I>(&mut self, query: &T, params: I) -> Result<RowIter<'_>, postgres::Error>
    where
        T: ?Sized + Sql,
        P: BorrowToSql,
        I: IntoIterator<Item = P>,
        I::IntoIter: ExactSizeIterator,
    {
        self.observe(query);
        self.inner().query_raw(query, params)
    }

    /// Prepares a statement. See [`postgres::Client::prepare`].
    ///
    /// Running a prepared statement is not classified, which costs nothing as long as no
    /// statement that begins or ends a transaction was prepared on this connection; once one
    /// was, running any prepared statement makes the state unknown (a rollback on return).
    pub fn prepare(&mut self, query: &str) -> Result<Statement, postgres::Error> {
        self.note_prepared(query);
        self.inner().prepare(query)
    }

    /// Prepares a statement with some parameter types given. See
    /// [`postgres::Client::prepare_typed`] and [`PgConnection::prepare`].
    pub fn prepare_typed(&mut self, query: &str, types: &[Type]) -> Result<Statement, postgres::Error> {
        self.note_prepared(query);
        self.inner().prepare_typed(query, types)
    }

    fn note_prepared(&mut self, query: &str) {
        if begins_transaction(query) || ends_transaction(query) {
            self.prepared_tx_control = true;
        }
    }

    /// Runs statements separated by `;` with the simple query protocol. See
    /// [`postgres::Client::batch_execute`].
    pub fn batch_execute(&mut self, query: &str) -> Result<(), postgres::Error> {
        self.tracker.observe(query);
        self.inner().batch_execute(query)
    }

    /// Runs statements with the simple query protocol, returning their rows as text. See
    /// [`postgres::Client::simple_query`].
    pub fn simple_query(&mut self, query: &str) -> Result<Vec<SimpleQueryMessage>, postgres::Error> {
        self.tracker.observe(query);
        self.inner().simple_query(query)
    }

    /// Begins a transaction, which rolls back when dropped unless committed. See
    /// [`postgres::Client::transaction`].
    ///
    /// The transaction borrows this connection, so by the time the connection can be given
    /// back the transaction has been committed or rolled back: the state is idle again. (A
    /// transaction object leaked with `mem::forget` would break that promise.)
    pub fn transaction(&mut self) -> Result<Transaction<'_>, postgres::Error> {
        self.tracker.ended();
        self.client
            .as_mut()
            .expect("the client is present until the connection is dropped")
            .transaction()
    }

    /// A builder for a transaction with an isolation level, read-only or deferrable. See
    /// [`postgres::Client::build_transaction`] and [`PgConnection::transaction`].
    pub fn build_transaction(&mut self) -> TransactionBuilder<'_> {
        self.tracker.ended();
        self.client
            .as_mut()
            .expect("the client is present until the connection is dropped")
            .build_transaction()
    }

    /// Runs a `COPY … FROM STDIN`, returning a writer for the data. See
    /// [`postgres::Client::copy_in`].
    pub fn copy_in<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyInWriter<'_>, postgres::Error> {
        self.observe(query);
        self.inner().copy_in(query)
    }

    /// Runs a `COPY … TO STDOUT`, returning a reader for the data. See
    /// [`postgres::Client::copy_out`].
    pub fn copy_out<T: ?Sized + Sql>(&mut self, query: &T) -> Result<CopyOutReader<'_>, postgres::Error> {
        self.observe(query);
        self.inner().copy_out(query)
    }

    /// Checks the connection with an empty query answered within `timeout`. After a timeout the
    /// server still owes a reply, so the connection is broken for good.
    pub fn validate(&mut self, timeout: Duration) -> Result<(), PostgresError> {
        if self.desynced {
            return Err(PostgresError {
                kind: Kind::ValidationTimeout(timeout),
                context: Some("an earlier validation of this connection timed out".to_owned()),
            });
        }
        let started = Instant::now();
        match self.inner().is_valid(timeout) {
            Ok(()) => Ok(()),
            Err(err) => {
                let closed = self.client().is_closed();
                if !closed && err.as_db_error().is_none() && started.elapsed() >= timeout {
                    self.desynced = true;
                    Err(PostgresError {
                        kind: Kind::ValidationTimeout(timeout),
                        context: None,
                    })
                } else {
                    Err(PostgresError::driver(err))
                }
            }
        }
    }
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.desynced || client.is_closed() {
            // Sends Terminate and closes the socket without waiting for the server.
            drop(client);
            return;
        }
        // The driver's close waits for the reply still owed, which a server that stopped
        // answering may never send: close it on a thread of its own.
        log::debug!(target: "millpond::postgres", "closing a connection whose server stopped answering on a separate thread");
        let mut parked = Parked(Some(client));
        let spawned = thread::Builder::new()
            .name("millpond-pg-close".to_owned())
            .spawn(move || {
                if let Some(client) = parked.0.take() {
                    drop(client);
                }
            });
        if let Err(err) = spawned {
            log::warn!(target: "millpond::postgres", "could not start a thread to close an unresponsive connection on ({err}); abandoning it");
        }
    }
}

/// A client on its way to the closing thread: if that thread cannot start, the client is
/// abandoned (its socket leaks) rather than closed in a thread that may wait forever.
struct Parked(Option<Client>);

impl Drop for Parked {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            std::mem::forget(client);
        }
    }
}

/// Whether `sql` contains a statement that begins a transaction.
fn begins_transaction(sql: &str) -> bool {
    let mut probe = TxTracker::new(Dialect::Postgres);
    probe.observe(sql);
    probe.state() != TransactionState::Idle
}

/// Whether `sql` contains a statement that ends a transaction.
fn ends_transaction(sql: &str) -> bool {
    let mut probe = TxTracker::new(Dialect::Postgres);
    probe.began();
    probe.observe(sql);
    probe.state() == TransactionState::Idle
}

/// What went wrong opening, checking or resetting a PostgreSQL connection.
///
/// Its `Display` is complete on its own (the driver's causes included, for example
/// `connecting to app@127.0.0.1:5432/app: db error: FATAL: database "app" does not exist`);
/// [`source`](StdError::source) is the driver's error, for downcasting.
#[derive(Debug)]
pub struct PostgresError {
    kind: Kind,
    /// What was being done, and to whom (never the password).
    context: Option<String>,
}

#[derive(Debug)]
enum Kind {
    Driver(postgres::Error),
    ConnectTimeout(Duration),
    ValidationTimeout(Duration),
    Other(String),
}

impl PostgresError {
    fn driver(err: postgres::Error) -> Self {
        PostgresError {
            kind: Kind::Driver(err),
            context: None,
        }
    }

    fn other(context: String, message: String) -> Self {
        PostgresError {
            kind: Kind::Other(message),
            context: Some(context),
        }
    }

    fn context(mut self, context: String) -> Self {
        self.context = Some(context);
        self
    }

    /// The driver's error, if this is one.
    pub fn as_postgres(&self) -> Option<&postgres::Error> {
        match &self.kind {
            Kind::Driver(err) => Some(err),
            _ => None,
        }
    }

    /// The driver's error, if this is one.
    pub fn into_postgres(self) -> Option<postgres::Error> {
        match self.kind {
            Kind::Driver(err) => Some(err),
            _ => None,
        }
    }

    /// The server's SQLSTATE, if the server reported the error.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_postgres().and_then(postgres::Error::code)
    }

    /// Whether the server did not answer in time: opening took longer than the connect
    /// timeout, or a validation longer than its timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::ConnectTimeout(_) | Kind::ValidationTimeout(_))
    }

    /// Whether the error means the server is gone: SQLSTATE class 08, 57P01, 57P02 or 57P03,
    /// a closed connection, or a broken socket underneath. A timeout is not counted: one stuck
    /// server process does not mean the others are.
    pub fn is_lost_server(&self) -> bool {
        match &self.kind {
            Kind::Driver(err) => driver_error_is_lost(err),
            _ => false,
        }
    }
}

fn driver_error_is_lost(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        let code = code.code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            use io::ErrorKind::*;
            return matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | BrokenPipe
                    | UnexpectedEof
                    | NotConnected
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
            );
        }
        source = cause.source();
    }
    false
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        match &self.kind {
            Kind::Driver(err) => f.write_str(&with_sources(err)),
            Kind::ConnectTimeout(limit) => write!(
                f,
                "the server did not complete the connection within {limit:?} (connect_timeout)"
            ),
            Kind::ValidationTimeout(limit) => {
                write!(f, "the server did not answer the validation within {limit:?}")
            }
            Kind::Other(message) => f.write_str(message),
        }
    }
}

impl StdError for PostgresError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Driver(err) => Some(err),
            _ => None,
        }
    }
}

impl From<postgres::Error> for PostgresError {
    fn from(err: postgres::Error) -> Self {
        PostgresError::driver(err)
    }
}

/// An error and its causes on one line: the driver's own `Display` stops at "db error" or
/// "error connecting to server", leaving the server's message in the source.
fn with_sources(err: &dyn StdError) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// `user@host:port,host2:port2/dbname`, from the driver configuration.
fn target(config: &Config) -> String {
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

fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `` `value` `` when it looks like an option value, else a placeholder: a malformed URL may put
/// part of a password where a value was expected, and errors must not show it.
fn quoted_if_plain(s: &str) -> String {
    if is_plain(s) {
        format!("`{s}`")
    } else {
        "the value given".to_owned()
    }
}

/// Splits `user:password@rest` into the credentials and the rest, as libpq does: the
/// credentials end at the first `@` met before any `/`. When a `?` comes before that `@` the URL
/// is refused: it could be a password with an unencoded `?` or a query value with an unencoded
/// `@`, and guessing wrong could put part of a password in an error message.
fn split_credentials(rest: &str) -> Result<(Option<&str>, &str), ConfigError> {
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].find('@') {
        Some(at) if rest[..at].contains('?') => Err(ConfigError::new(
            "url",
            "the URL is ambiguous: percent-encode a `?` in the user or password as %3F, or an `@` in a \
             query value as %40",
        )),
        Some(at) => Ok((Some(&rest[..at]), &rest[at + 1..])),
        None => Ok((None, rest)),
    }
}

/// Percent-decoding, as the driver does it (`+` stays a plus).
fn percent_decode_path(s: &str) -> Result<Vec<u8>, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let b = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(())?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Result<String, ConfigError> {
    percent_decode_path(s)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ConfigError::new("url", "a query parameter is not valid percent-encoded UTF-8"))
}

/// Reads a PEM file of trusted roots (libpq's `sslrootcert`).
fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|err| {
            ConfigError::new(
                "sslrootcert",
                format!("could not read certificates from {}: {err}", path.display()),
            )
        })?;
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(ConfigError::new(
            "sslrootcert",
            format!(
                "{} holds no usable certificate ({ignored} could not be parsed); give a PEM file of CA certificates",
                path.display()
            ),
        ));
    }
    Ok(Arc::new(roots))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS connector for a mode: `Ok(None)` for plain TCP.
fn tls_connector(
    mode: SslMode,
    roots: Option<&Arc<RootCertStore>>,
    custom: Option<&Arc<ClientConfig>>,
) -> Result<Option<MakeRustlsConnect>, String> {
    if mode == SslMode::Disable {
        return Ok(None);
    }
    if let Some(custom) = custom {
        return Ok(Some(MakeRustlsConnect::new(ClientConfig::clone(custom))));
    }
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup failed: {err}"))?;
    let roots = || {
        roots.map_or_else(
            || {
                Arc::new(RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                })
            },
            Arc::clone,
        )
    };
    let config = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        SslMode::VerifyCa => {
            let inner = WebPkiServerVerifier::builder_with_provider(roots(), Arc::clone(&provider))
                .build()
                .map_err(|err| format!("TLS setup failed: {err}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
                .with_no_client_auth()
        }
        SslMode::VerifyFull => builder.with_root_certificates(roots()).with_no_client_auth(),
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// `prefer` and `require`: any certificate is accepted (as libpq does), but the handshake's
/// signatures are still checked, so the session is encrypted to the holder of the key.
#[derive(Debug)]
struct NoVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked. rustls checks
/// the chain before the name, so a name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

    #[test]
    fn urls_give_the_driver_config_and_our_settings() {
        let m = PostgresManager::from_url(
            "postgres://app:pw@db.example:6543/main?sslmode=require&connect_timeout=3&application_name=web&keepalives_idle=30",
        )
        .unwrap();
        let c = m.config();
        assert_eq!(c.get_user(), Some("app"));
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        assert_eq!(c.get_dbname(), Some("main"));
        assert_eq!(c.get_hosts(), &[Host::Tcp("db.example".to_owned())]);
        assert_eq!(c.get_ports(), &[6543]);
        assert_eq!(c.get_application_name(), Some("web"));
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(30));
        assert!(c.get_keepalives());
        assert_eq!(c.get_ssl_mode(), DriverSslMode::Require);
        assert_eq!(m.get_ssl_mode(), SslMode::Require);
        assert_eq!(m.get_connect_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }

    #[test]
    fn url_defaults() {
        let m = PostgresManager::from_url("postgresql://app@127.0.0.1/main").unwrap();
        assert_eq!(m.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(m.get_connect_timeout(), Some(DEFAULT_CONNECT_TIMEOUT));
        assert!(m.config().get_keepalives());
        let m = PostgresManager::from_url("postgres://app@/main").unwrap();
        assert_eq!(m.config().get_hosts(), &[Host::Tcp("localhost".to_owned())]);
        let m =
            PostgresManager::from_url("postgres://app@h/db?connect_timeout=0&sslmode=verify-full").unwrap();
        assert_eq!(m.get_connect_timeout(), None);
        assert_eq!(m.get_ssl_mode(), SslMode::VerifyFull);
        assert_eq!(m.config().get_ssl_mode(), DriverSslMode::Require);
        let m = PostgresManager::from_url("postgres://app@h/db?sslmode=disable").unwrap();
        assert!(matches!(m.settings.tls, Ok(None)));
    }

    #[test]
    fn bad_urls_say_what_is_accepted() {
        let err = PostgresManager::from_url("postgres://app@h/db?color=blue").unwrap_err();
        assert!(err.message.contains("`color`"), "{err}");
        assert!(
            err.message.contains("sslmode") && err.message.contains("keepalives_idle"),
            "{err}"
        );
        let err = PostgresManager::from_url("postgres://app@h/db?sslmode=sometimes").unwrap_err();
        assert_eq!(err.option, "sslmode");
        assert!(
            err.message
                .contains("disable, prefer, require, verify-ca or verify-full"),
            "{err}"
        );
        let err = PostgresManager::from_url("postgres://app@h/db?connect_timeout=soon").unwrap_err();
        assert!(err.message.contains("whole seconds"), "{err}");
        let err = PostgresManager::from_url("mysql://app@h/db").unwrap_err();
        assert!(err.message.contains("postgres://"), "{err}");
        let err =
            PostgresManager::from_url("postgres://app@h/db?sslrootcert=/nonexistent/ca.pem").unwrap_err();
        assert_eq!(err.option, "sslrootcert");
        assert!(err.message.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn errors_never_show_the_password() {
        for url in [
            format!("postgres://app:{SECRET}@h:notaport/db"),
            // A `?` in a password that should have been percent-encoded ends the location early.
            format!("postgres://app:pa?{SECRET}@h/db"),
            format!("postgres://app:pa?{SECRET}=x@h/db"),
            format!("postgres://app:{SECRET}@h/db?connect_timeout=x"),
            format!("postgres://app@h/db?password={SECRET}&keepalives_idle=x{SECRET}"),
        ] {
            let err = PostgresManager::from_url(&url).unwrap_err();
            assert!(!err.to_string().contains(SECRET), "{url}: {err}");
            assert!(!format!("{err:?}").contains(SECRET), "{url}: {err:?}");
        }
    }

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

    #[test]
    fn every_tls_mode_builds_a_connector() {
        for mode in [
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            let m = PostgresManager::new(Config::new()).ssl_mode(mode);
            assert!(matches!(m.settings.tls, Ok(Some(_))), "{mode}");
            assert_eq!(mode.as_str().parse::<SslMode>().unwrap(), mode);
        }
    }

    #[test]
    fn transaction_control_is_recognised() {
        assert!(begins_transaction("BEGIN"));
        assert!(begins_transaction("start transaction read only"));
        assert!(!begins_transaction("SELECT 'BEGIN'"));
        assert!(ends_transaction("COMMIT"));
        assert!(ends_transaction("rollback"));
        assert!(!ends_transaction("ROLLBACK TO SAVEPOINT a"));
        assert!(!ends_transaction("DISCARD ALL"));
    }

    #[test]
    fn credentials_end_at_the_first_at_sign_before_a_slash() {
        assert_eq!(split_credentials("u:p@h/db").unwrap(), (Some("u:p"), "h/db"));
        assert_eq!(split_credentials("u:p/q@h/db").unwrap(), (None, "u:p/q@h/db"));
        assert_eq!(
            split_credentials("h/db?user=me@corp").unwrap(),
            (None, "h/db?user=me@corp")
        );
        assert_eq!(split_credentials("h:5432").unwrap(), (None, "h:5432"));
        assert!(split_credentials("u:pa?ss@h/db").is_err());
        assert!(split_credentials("h?user=me@corp").is_err());
        let m = PostgresManager::from_url("postgres://me%40corp:p%3Fw+d@h/db?sslmode=disable").unwrap();
        assert_eq!(m.config().get_user(), Some("me@corp"));
        assert_eq!(m.config().get_password(), Some(&b"p?w+d"[..]));
        assert_eq!(m.config().get_dbname(), Some("db"));
        let m = PostgresManager::from_url("postgres://h/db?user=me@corp").unwrap();
        assert_eq!(m.config().get_user(), Some("me@corp"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c").unwrap(), "a/b+c");
        assert!(percent_decode("%zz").is_err());
    }
}
