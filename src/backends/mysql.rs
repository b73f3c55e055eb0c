//! MySQL and MariaDB (feature `mysql`), on the [`mysql`](::mysql) crate's synchronous client,
//! with TLS through rustls.
//!
//! # Quick start
//!
//! ```no_run
//! use millpond::Pool;
//! use millpond::mysql::{MySqlManager, Queryable};
//!
//! let manager = MySqlManager::from_url("mysql://app:secret@127.0.0.1:3306/shop")?;
//! let pool = Pool::builder().pool_size(8).build(manager)?;
//!
//! let mut conn = pool.get()?;
//! conn.exec_drop("INSERT INTO orders (item) VALUES (?)", ("tea",))?;
//! let count: Option<i64> = conn.query_first("SELECT COUNT(*) FROM orders")?;
//!
//! let mut tx = conn.start_transaction(Default::default())?;
//! tx.query_drop("UPDATE stock SET n = n - 1 WHERE item = 'tea'")?;
//! tx.commit()?; // dropped without a commit, it rolls back
//! # let _ = count;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The pooled connection is a [`MySqlConnection`]: it implements the driver's [`Queryable`]
//! (so `query_drop`, `query`, `query_first`, `exec_drop`, `exec`, `exec_first`, `prep`,
//! `exec_batch` and the rest work as on a `mysql::Conn`), and tracks what the pool needs to know
//! without asking the server.
//!
//! # The reset on return
//!
//! The driver does not say whether a transaction is open, so the connection works it out from
//! the statements run through it (`START TRANSACTION`, `BEGIN`, `COMMIT`, `ROLLBACK`, …). A
//! connection given back with no transaction open goes back to the pool without a round trip; one
//! with a transaction open is rolled back first (or committed, per the pool's
//! [`ResetOnReturn`](crate::ResetOnReturn)). When the connection cannot tell — `SET autocommit`,
//! `XA`, a server whose `autocommit` is off, a statement run through [`MySqlConnection::conn_mut`]
//! — it says so and the pool rolls back on every return, which is always safe.
//!
//! The reset ends the transaction and nothing else: user variables (`SET @x = …`), session
//! variables and temporary tables outlive it, as they do in SQLAlchemy's and HikariCP's pools.
//! Note that MySQL does not undo a user variable set inside a rolled-back transaction.
//!
//! # Timeouts
//!
//! - **Connect** ([`MySqlManager::connect_timeout`], default 10 s): bounds the TCP connect and,
//!   on Unix, each step of the handshake and the init statements, so neither an unreachable host
//!   nor a server that accepts and never answers can hang a checkout. Keep it below the pool's
//!   checkout `timeout`.
//! - **Validation**: on Unix, [`ManageConnection::is_valid`] sends `COM_PING` with the socket's
//!   read and write timeouts set to the time the pool allows for it, then puts them back, so a
//!   server that stops answering fails the ping in time. The bound applies to each socket read
//!   and write; a ping is one small write and one small read. (The driver has no per-call
//!   timeout; the connection's socket is reached through `AsRawFd`.) A ping that times out
//!   leaves the connection broken, and a timeout is not taken for a lost server.
//! - **Reset** ([`MySqlManager::reset_timeout`], default 10 s): bounds the rollback on return and
//!   the rollback of a dropped [`MySqlTransaction`] the same way. A reset that times out closes
//!   the connection, and the server then rolls the transaction back itself.
//! - **Statements** ([`MySqlManager::read_timeout`], [`MySqlManager::write_timeout`], default
//!   none): the driver's socket timeouts for everything else. They are off by default because
//!   they also cut legitimate long queries.
//!
//! On platforms other than Unix the socket cannot be reached: validation and resets are then
//! bounded only by `read_timeout` and `write_timeout`, which also apply to the handshake.
//!
//! # Secrets
//!
//! The password never appears in this module's `Debug` or `Display` output, its errors or its
//! log lines. (`mysql::Opts`' own `Debug` prints it: do not log [`MySqlManager::opts`].)

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

pub use ::mysql as driver;
pub use ::mysql::prelude::Queryable;
pub use ::mysql::{Conn, Opts, OptsBuilder, SslOpts, TxOpts};

use ::mysql::prelude::{AsStatement, FromRow, Protocol};
use ::mysql::{
    AccessMode, Binary, DriverError, Error, FromRowError, Params, QueryResult, Row, Statement, Text,
    from_row, from_row_opt,
};

use super::txn::{self, Dialect, TxTracker};
use crate::error::ConfigError;
use crate::manage::{ManageConnection, ResetAction, TransactionState};

type Result<T> = std::result::Result<T, Error>;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(10);

/// Server error codes that mean the session is gone: the connection was killed, the server is
/// shutting down, or a proxy reports the server gone.
const LOST_SERVER_CODES: &[u16] = &[
    1053, // ER_SERVER_SHUTDOWN
    1077, // ER_NORMAL_SHUTDOWN
    1078, // ER_GOT_SIGNAL
    1079, // ER_SHUTDOWN_COMPLETE
    1080, // ER_FORCING_CLOSE
    1927, // ER_CONNECTION_KILLED (MariaDB)
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
    2055, // CR_SERVER_LOST_EXTENDED
    4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8: disconnected for inactivity)
];

/// The URL parameters this module reads itself.
const OWN_PARAMS: &[&str] = &[
    "connect_timeout_ms",
    "tcp_connect_timeout_ms",
    "read_timeout_ms",
    "write_timeout_ms",
    "reset_timeout_ms",
    "ssl",
    "require_ssl",
    "init",
    "program_name",
];

/// The URL parameters handed to the driver's own URL parser.
const DRIVER_PARAMS: &[&str] = &[
    "socket",
    "prefer_socket",
    "compress",
    "stmt_cache_size",
    "max_allowed_packet",
    "tcp_keepalive_time_ms",
    "tcp_keepalive_probe_interval_secs",
    "tcp_keepalive_probe_count",
    "tcp_user_timeout_ms",
    "secure_auth",
    "enable_cleartext_plugin",
    "server_key_path",
    "root_cert_path",
    "cert_chain_path",
    "priv_key_path",
    "cipher_suites",
    "danger_skip_domain_validation",
    "danger_accept_invalid_certs",
];

/// The driver's URL parameters for its own pool, which has no say here.
const DRIVER_POOL_PARAMS: &[&str] = &["pool_min", "pool_max", "reset_connection", "check_health"];

/// Socket timeouts a connection returns to after a bounded operation, and the reset bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    read: Option<Duration>,
    write: Option<Duration>,
    reset: Duration,
}

/// Opens MySQL or MariaDB connections with one set of options.
///
/// Made from a URL ([`MySqlManager::from_url`]) or from the driver's options
/// ([`MySqlManager::new`]), then adjusted with the setters. Cloning it is cheap enough for a
/// pool's needs; its `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct MySqlManager {
    /// The driver's options, without the init statements and socket timeouts, which the manager
    /// applies itself.
    opts: Opts,
    connect_timeout: Duration,
    timeouts: Timeouts,
    init: Vec<String>,
}

impl fmt::Debug for MySqlManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opts = &self.opts;
        f.debug_struct("MySqlManager")
            .field("host", &opts.get_ip_or_hostname())
            .field("port", &opts.get_tcp_port())
            .field("socket", &opts.get_socket())
            .field("user", &opts.get_user())
            .field("password", &opts.get_pass().map(|_| "***"))
            .field("db_name", &opts.get_db_name())
            .field("prefer_socket", &opts.get_prefer_socket())
            .field("tls", &opts.get_ssl_opts().is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.timeouts.read)
            .field("write_timeout", &self.timeouts.write)
            .field("reset_timeout", &self.timeouts.reset)
            .field("init", &self.init)
            .finish()
    }
}

/// `mysql://user@host:port/db` (or `…?socket=path`), without the password.
impl fmt::Display for MySqlManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opts = &self.opts;
        f.write_str("mysql://")?;
        if let Some(user) = opts.get_user() {
            write!(f, "{user}@")?;
        }
        let host = opts.get_ip_or_hostname();
        if host.contains(':') {
            write!(f, "[{host}]:{}/", opts.get_tcp_port())?;
        } else {
            write!(f, "{host}:{}/", opts.get_tcp_port())?;
        }
        if let Some(db) = opts.get_db_name() {
            f.write_str(db)?;
        }
        if let Some(socket) = opts.get_socket() {
            write!(f, "?socket={socket}")?;
        }
        Ok(())
    }
}

impl MySqlManager {
    /// A manager from the driver's options ([`Opts`] or an [`OptsBuilder`]).
    ///
    /// Their read and write timeouts, TCP connect timeout and init statements are taken over by
    /// the manager (see [`read_timeout`](Self::read_timeout),
    /// [`connect_timeout`](Self::connect_timeout) — 10 s when the options set none — and
    /// [`init`](Self::init)). `prefer_socket` is turned off, as everywhere in this module: the
    /// driver's default reconnects through the server's Unix socket after a first TCP
    /// connection, which doubles the cost of a connect and briefly holds two server sessions for
    /// one pool slot. Call [`prefer_socket(true)`](Self::prefer_socket) afterwards to keep it.
    pub fn new(opts: impl Into<Opts>) -> Self {
        let opts: Opts = opts.into();
        let connect_timeout = opts.get_tcp_connect_timeout().unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let timeouts = Timeouts {
            read: opts.get_read_timeout().copied(),
            write: opts.get_write_timeout().copied(),
            reset: DEFAULT_RESET_TIMEOUT,
        };
        let init = opts.get_init();
        let opts = OptsBuilder::from_opts(opts)
            .init(Vec::<String>::new())
            .read_timeout(None)
            .write_timeout(None)
            .tcp_connect_timeout(None)
            .prefer_socket(false)
            .into();
        MySqlManager {
            opts,
            connect_timeout: if connect_timeout.is_zero() {
                DEFAULT_CONNECT_TIMEOUT
            } else {
                connect_timeout
            },
            timeouts,
            init,
        }
    }

    /// A manager from a URL: `mysql://user:password@host:port/database?param=value&…` (or
    /// `mariadb://…`). User, password and database are percent-decoded; the port defaults to
    /// 3306.
    ///
    /// Parameters read by millpond:
    ///
    /// - `connect_timeout_ms` (or `tcp_connect_timeout_ms`): see
    ///   [`connect_timeout`](Self::connect_timeout); greater than zero;
    /// - `read_timeout_ms`, `write_timeout_ms`: see [`read_timeout`](Self::read_timeout); 0 turns
    ///   them off (the default);
    /// - `reset_timeout_ms`: see [`reset_timeout`](Self::reset_timeout); greater than zero;
    /// - `ssl` (or `require_ssl`) `=true|false`: require TLS, verified against the bundled web
    ///   roots (see [`require_ssl`](Self::require_ssl));
    /// - `init=SQL`: a statement run on every new connection (percent-encoded; may repeat);
    /// - `program_name=NAME`: a connection attribute (see
    ///   [`program_name`](Self::program_name)).
    ///
    /// Parameters handed to the driver: `socket`, `prefer_socket` (default `false` here),
    /// `compress`, `stmt_cache_size`, `max_allowed_packet`, `tcp_keepalive_time_ms`,
    /// `tcp_keepalive_probe_interval_secs`, `tcp_keepalive_probe_count`, `tcp_user_timeout_ms`,
    /// `secure_auth`, `enable_cleartext_plugin`, `server_key_path`, and the TLS ones
    /// `root_cert_path`, `cert_chain_path`, `priv_key_path`, `cipher_suites`,
    /// `danger_skip_domain_validation`, `danger_accept_invalid_certs` (any of these requires
    /// TLS). Anything else is refused, with the list of what is accepted. Errors never repeat
    /// the password.
    pub fn from_url(url: &str) -> std::result::Result<Self, ConfigError> {
        let form = "mysql://user:password@host:port/database?param=value (or mariadb://…)";
        let rest = match url.split_once("://") {
            Some((scheme, rest))
                if scheme.eq_ignore_ascii_case("mysql") || scheme.eq_ignore_ascii_case("mariadb") =>
            {
                rest
            }
            Some((scheme, _)) if !scheme.contains(['@', ':', '/']) => {
                return Err(url_error(format!(
                    "the scheme `{scheme}` is not accepted; use {form}"
                )));
            }
            _ => return Err(url_error(format!("this is not a MySQL URL; use {form}"))),
        };
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, query),
            None => (rest, ""),
        };
        if location.contains('#') || query.contains('#') {
            return Err(url_error(format!(
                "a URL fragment (`#…`) is not accepted; percent-encode `#` in a password as %23; use {form}"
            )));
        }

        let mut driver_query: Vec<&str> = Vec::new();
        let mut own: Vec<(&'static str, String)> = Vec::new();
        let mut prefer_socket_given = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(raw_key)
                .ok_or_else(|| url_error("a parameter name is not valid percent-encoded UTF-8"))?;
            if let Some(name) = OWN_PARAMS.iter().copied().find(|name| *name == key) {
                let value = percent_decode(raw_value).ok_or_else(|| {
                    url_error(format!(
                        "the value of `{name}` is not valid percent-encoded UTF-8"
                    ))
                })?;
                own.push((name, value));
            } else if DRIVER_PARAMS.contains(&key.as_str()) {
                prefer_socket_given |= key == "prefer_socket";
                driver_query.push(pair);
            } else if DRIVER_POOL_PARAMS.contains(&key.as_str()) {
                return Err(url_error(format!(
                    "`{key}` configures the mysql crate's own pool, which is not used here; size millpond's pool with pool_size and max_overflow"
                )));
            } else {
                return Err(url_error(format!(
                    "the parameter `{key}` is not accepted; the accepted ones are {} (read by millpond) and {} (passed to the mysql driver); pool options go to the pool's builder",
                    OWN_PARAMS.join(", "),
                    DRIVER_PARAMS.join(", ")
                )));
            }
        }
        if !prefer_socket_given {
            driver_query.push("prefer_socket=false");
        }
        let driver_url = format!("mysql://{location}?{}", driver_query.join("&"));
        let opts = Opts::from_url(&driver_url).map_err(|err| url_error(describe_url_error(&err, form)))?;

        // `new` turns prefer_socket off; the URL may have asked for it.
        let prefer = opts.get_prefer_socket();
        let mut manager = MySqlManager::new(opts).prefer_socket(prefer);
        for (name, value) in own {
            manager = manager.apply_param(name, &value)?;
        }
        Ok(manager)
    }

    fn apply_param(self, name: &'static str, value: &str) -> std::result::Result<Self, ConfigError> {
        let millis = |positive: bool| -> std::result::Result<u64, ConfigError> {
            match value.parse::<u64>() {
                Ok(0) if positive => Err(url_error(format!("{name} must be greater than zero (got 0)"))),
                Ok(ms) => Ok(ms),
                Err(_) => Err(url_error(format!(
                    "{name} `{value}` is not accepted; use a whole number of milliseconds"
                ))),
            }
        };
        let optional = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        Ok(match name {
            "connect_timeout_ms" | "tcp_connect_timeout_ms" => {
                self.connect_timeout(Duration::from_millis(millis(true)?))
            }
            "read_timeout_ms" => self.read_timeout(optional(millis(false)?)),
            "write_timeout_ms" => self.write_timeout(optional(millis(false)?)),
            "reset_timeout_ms" => self.reset_timeout(Duration::from_millis(millis(true)?)),
            "ssl" | "require_ssl" => match value {
                "true" | "1" | "on" | "yes" => {
                    if self.opts.get_ssl_opts().is_some() {
                        self
                    } else {
                        self.require_ssl(true)
                    }
                }
                "false" | "0" | "off" | "no" => {
                    if self.opts.get_ssl_opts().is_some() {
                        return Err(url_error(format!(
                            "{name}=false contradicts the TLS parameters (root_cert_path, cert_chain_path, …) also given"
                        )));
                    }
                    self
                }
                _ => {
                    return Err(url_error(format!(
                        "{name} `{value}` is not accepted; use true or false"
                    )));
                }
            },
            "init" => {
                if value.trim().is_empty() {
                    return Err(url_error(
                        "init must not be empty; it is a statement run on every new connection",
                    ));
                }
                self.init(value)
            }
            "program_name" => self.program_name(value),
            _ => unreachable!("every name in OWN_PARAMS is handled"),
        })
    }

    fn map_opts(mut self, f: impl FnOnce(OptsBuilder) -> OptsBuilder) -> Self {
        self.opts = f(OptsBuilder::from_opts(self.opts)).into();
        self
    }

    /// The server's host name or IP address (default `localhost`).
    pub fn host(self, host: impl Into<String>) -> Self {
        let host = host.into();
        self.map_opts(|o| o.ip_or_hostname(Some(host)))
    }

    /// The server's TCP port (default 3306).
    pub fn port(self, port: u16) -> Self {
        self.map_opts(|o| o.tcp_port(port))
    }

    /// Connect through this Unix socket (or Windows named pipe) instead of TCP.
    pub fn socket(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.map_opts(|o| o.socket(Some(path)))
    }

    /// Whether to reconnect through the server's Unix socket after connecting by TCP to a
    /// loopback address (default `false` here; the driver's own default is `true`). See
    /// [`MySqlManager::new`] for why it is off.
    pub fn prefer_socket(self, prefer: bool) -> Self {
        self.map_opts(|o| o.prefer_socket(prefer))
    }

    /// The user name.
    pub fn user(self, user: impl Into<String>) -> Self {
        let user = user.into();
        self.map_opts(|o| o.user(Some(user)))
    }

    /// The password. It is never shown by `Debug`, `Display` or errors.
    pub fn password(self, password: impl Into<String>) -> Self {
        let password = password.into();
        self.map_opts(|o| o.pass(Some(password)))
    }

    /// The default database of each connection.
    pub fn db_name(self, db_name: impl Into<String>) -> Self {
        let db_name = db_name.into();
        self.map_opts(|o| o.db_name(Some(db_name)))
    }

    /// TLS settings (root certificate, client identity, …); `Some` requires TLS, `None` (the
    /// default) connects in the clear.
    pub fn ssl_opts(self, ssl: Option<SslOpts>) -> Self {
        self.map_opts(|o| o.ssl_opts(ssl))
    }

    /// Requires TLS with default settings (the server's certificate verified against the web
    /// roots bundled with rustls), or turns TLS off. For a private CA, use
    /// [`ssl_opts`](Self::ssl_opts) with a root certificate.
    pub fn require_ssl(self, on: bool) -> Self {
        self.ssl_opts(on.then(SslOpts::default))
    }

    /// How long opening a connection may wait on each step: the TCP connect, and on Unix each
    /// read and write of the handshake and of the init statements. Default 10 s. A zero
    /// duration is replaced by the default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = if timeout.is_zero() {
            DEFAULT_CONNECT_TIMEOUT
        } else {
            timeout
        };
        self
    }

    /// The socket read timeout for every statement (default none): a statement whose answer
    /// does not begin to arrive in this time fails and the connection is marked broken. It also
    /// cuts long-running queries, which is why it is off by default; validation and resets are
    /// bounded on their own (see the [module docs](self#timeouts)).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeouts.read = timeout.filter(|t| !t.is_zero());
        self
    }

    /// The socket write timeout for every statement (default none).
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeouts.write = timeout.filter(|t| !t.is_zero());
        self
    }

    /// How long the reset on return (and the rollback of a dropped [`MySqlTransaction`]) may
    /// wait on the server before the connection is given up as broken. Default 10 s. A zero
    /// duration is replaced by the default.
    pub fn reset_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.reset = if timeout.is_zero() {
            DEFAULT_RESET_TIMEOUT
        } else {
            timeout
        };
        self
    }

    /// TCP keepalive: probes start after the connection has been idle this long (default: the
    /// system's setting). Rounded down to whole milliseconds.
    pub fn tcp_keepalive(self, idle: Option<Duration>) -> Self {
        let ms = idle.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        self.map_opts(|o| o.tcp_keepalive_time_ms(ms))
    }

    /// Adds a statement run on every new connection, in order, before it is handed out (for
    /// example `SET time_zone = '+00:00'`). The connection's transaction tracking sees them, so
    /// `SET autocommit = 0` here is noticed.
    pub fn init(mut self, sql: impl Into<String>) -> Self {
        self.init.push(sql.into());
        self
    }

    /// Adds a connection attribute, sent at connect. MySQL shows them in
    /// `performance_schema.session_connect_attrs`; MariaDB too when `performance_schema` is on.
    /// Names starting with `_` are reserved and ignored.
    pub fn connect_attr(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let mut attrs: HashMap<String, String> = self.opts.get_connect_attrs().cloned().unwrap_or_default();
        attrs.insert(name.into(), value.into());
        self.map_opts(|o| o.connect_attrs(Some(attrs)))
    }

    /// The `program_name` connection attribute (the driver otherwise sends the executable's
    /// path).
    pub fn program_name(self, name: impl Into<String>) -> Self {
        self.connect_attr("program_name", name)
    }

    /// Changes any other driver option: `manager.with_opts(|o| o.stmt_cache_size(100))`. Read
    /// and write timeouts, the TCP connect timeout and init statements set this way are taken
    /// over as in [`MySqlManager::new`] (an unset one keeps its current value).
    pub fn with_opts(self, f: impl FnOnce(OptsBuilder) -> OptsBuilder) -> Self {
        let opts: Opts = f(OptsBuilder::from_opts(self.opts)).into();
        let connect_timeout = opts.get_tcp_connect_timeout().unwrap_or(self.connect_timeout);
        let read = opts.get_read_timeout().copied().or(self.timeouts.read);
        let write = opts.get_write_timeout().copied().or(self.timeouts.write);
        let mut init = self.init;
        init.extend(opts.get_init());
        let prefer = opts.get_prefer_socket();
        let mut manager = MySqlManager::new(opts)
            .prefer_socket(prefer)
            .connect_timeout(connect_timeout);
        manager.timeouts = Timeouts {
            read,
            write,
            reset: self.timeouts.reset,
        };
        manager.init = init;
        manager
    }

    /// The driver options connections are opened with, without the init statements and
    /// timeouts the manager applies itself. Their `Debug` output shows the password.
    pub fn opts(&self) -> &Opts {
        &self.opts
    }

    /// Where connections go, for messages: the socket path or `host:port`.
    fn address(&self) -> String {
        match self.opts.get_socket() {
            Some(socket) => socket.to_owned(),
            None => format!("{}:{}", self.opts.get_ip_or_hostname(), self.opts.get_tcp_port()),
        }
    }

    /// The options for one connect: the handshake is bounded by the connect timeout on Unix
    /// (the socket's timeouts are set to the lasting ones afterwards); elsewhere the lasting
    /// timeouts apply from the start.
    fn connect_opts(&self) -> Opts {
        let (read, write) = if cfg!(unix) {
            (Some(self.connect_timeout), Some(self.connect_timeout))
        } else {
            (self.timeouts.read, self.timeouts.write)
        };
        OptsBuilder::from_opts(self.opts.clone())
            .tcp_connect_timeout(Some(self.connect_timeout))
            .read_timeout(read)
            .write_timeout(write)
            .into()
    }

    /// Rewrites a connect error whose cause would be unclear: a timed-out handshake read says
    /// "Resource temporarily unavailable".
    fn explain_connect_error(&self, err: Error) -> Error {
        let timed_out = matches!(err, Error::DriverError(DriverError::ConnectTimeout))
            || io_error(&err).is_some_and(|e| is_timeout_kind(e.kind()));
        if timed_out {
            Error::IoError(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer from the MySQL server at {} within the connect timeout ({:?})",
                    self.address(),
                    self.connect_timeout
                ),
            ))
        } else {
            err
        }
    }
}

impl ManageConnection for MySqlManager {
    type Connection = MySqlConnection;
    type Error = Error;

    /// Connects, runs the init statements, checks whether the session's `autocommit` is on
    /// (one `SELECT @@autocommit`; when it is off, every return is rolled back), then sets the
    /// socket's lasting timeouts.
    fn connect(&self) -> Result<MySqlConnection> {
        let conn = Conn::new(self.connect_opts()).map_err(|err| self.explain_connect_error(err))?;
        let mut conn = MySqlConnection::new(conn, self.timeouts);
        for sql in &self.init {
            conn.query_drop(sql)
                .map_err(|err| self.explain_connect_error(err))?;
        }
        let autocommit: Option<i64> = conn
            .conn
            .query_first("SELECT @@autocommit")
            .map_err(|err| self.explain_connect_error(err))?;
        if autocommit == Some(0) {
            // The tracker's own words for "every statement may open a transaction".
            conn.track.tracker.observe("SET autocommit = 0");
        }
        conn.restore_socket_timeouts()?;
        Ok(conn)
    }

    /// `COM_PING`, bounded by `timeout` on Unix (see the [module docs](self#timeouts)). A zero
    /// timeout fails at once without I/O.
    fn is_valid(&self, conn: &mut MySqlConnection, timeout: Duration) -> Result<()> {
        conn.ping_timeout(timeout)
    }

    /// Whether an operation through the connection failed in a way that leaves it unusable
    /// (an I/O or protocol error, or the server saying the session is gone). No I/O.
    fn has_broken(&self, conn: &mut MySqlConnection) -> bool {
        conn.track.broken
    }

    fn transaction_state(&self, conn: &mut MySqlConnection) -> TransactionState {
        conn.transaction_state()
    }

    /// `ROLLBACK`, `COMMIT` or the statement, bounded by the reset timeout.
    fn reset(&self, conn: &mut MySqlConnection, action: ResetAction<'_>) -> Result<()> {
        let sql = match action {
            ResetAction::Rollback => "ROLLBACK",
            ResetAction::Commit => "COMMIT",
            ResetAction::Statement(sql) => sql,
        };
        let timeout = conn.timeouts.reset;
        conn.bounded("the reset", timeout, |c| c.query_drop(sql))
    }

    /// I/O errors that mean the peer is gone (broken pipe, connection reset or aborted,
    /// unexpected end of stream — the driver's "server disconnected"), a failed connect, and the
    /// server errors 1053, 1077–1080 (shutdown), 1927 (connection killed), 2006 (gone away),
    /// 2013 and 2055 (lost during query) and 4031 (disconnected for inactivity).
    fn is_lost_server(&self, error: &Error) -> bool {
        is_lost_server(error)
    }
}

/// A pooled MySQL connection: the driver's [`Conn`], plus what the pool needs to know about it
/// without asking the server (whether a transaction is open, whether it broke).
///
/// Use it through [`Queryable`] as a `mysql::Conn`. Every statement run through it is watched;
/// only [`conn_mut`](Self::conn_mut) bypasses that.
///
/// Results are the driver's, including its habit of ignoring errors met while draining the
/// rest of a result (a later statement of a batch failing, say): such an error still does not
/// fail the call, but one that leaves the session unusable marks the connection broken, so the
/// pool closes it. The exception is a result from [`Queryable::query_iter`] or
/// [`Queryable::exec_iter`], which is read after the connection has handed it over: an error
/// there is seen by the next statement or ping.
pub struct MySqlConnection {
    conn: Conn,
    track: Track,
    timeouts: Timeouts,
}

/// What the connection knows about itself.
struct Track {
    tracker: TxTracker,
    /// The raw connection was lent out: the transaction state is unknown for good.
    raw: bool,
    broken: bool,
    /// Statements prepared through the connection, by id: their SQL when it controls
    /// transactions, `None` when it does not.
    statements: HashMap<u32, Option<Box<str>>>,
}

/// Prepared statements remembered per connection before the memory is cleared (statements then
/// unknown make the state unknown, which costs a rollback, never a leak).
const STATEMENTS_REMEMBERED: usize = 1024;

impl Track {
    /// Observes SQL about to be sent; returns the state before it.
    fn before_text(&mut self, sql: &str) -> TransactionState {
        let before = self.tracker.state();
        self.tracker.observe(sql);
        // In several statements sent at once, one failing stops the rest, which may leave a
        // transaction open although the text ends it: say unknown.
        if sql.contains(';') && touches_transactions(sql) && txn::statements(sql).len() > 1 {
            self.tracker.lost_track();
        }
        before
    }

    /// Observes a prepared statement about to be executed; returns the state before it.
    fn before_statement(&mut self, id: u32) -> TransactionState {
        let before = self.tracker.state();
        match self.statements.get(&id) {
            Some(Some(sql)) => self.tracker.observe(sql),
            Some(None) => {}
            None => self.tracker.lost_track(),
        }
        before
    }

    fn prepared(&mut self, id: u32, sql: &str) {
        if !self.statements.contains_key(&id) {
            if self.statements.len() >= STATEMENTS_REMEMBERED {
                self.statements.clear();
            }
            self.statements
                .insert(id, touches_transactions(sql).then(|| sql.into()));
        }
    }

    /// Records a failed operation: a broken connection, and a transaction state made doubtful
    /// when the failed SQL would have changed it.
    fn failed(&mut self, err: &Error, before: TransactionState) {
        if breaks_connection(err) {
            self.broken = true;
        }
        if self.tracker.state() != before {
            self.tracker.lost_track();
        }
    }
}

impl fmt::Debug for MySqlConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlConnection")
            .field("connection_id", &self.conn.connection_id())
            .field("transaction", &self.transaction_state())
            .field("broken", &self.track.broken)
            .finish()
    }
}

impl MySqlConnection {
    fn new(conn: Conn, timeouts: Timeouts) -> Self {
        MySqlConnection {
            conn,
            track: Track {
                tracker: TxTracker::new(Dialect::MySql),
                raw: false,
                broken: false,
                statements: HashMap::new(),
            },
            timeouts,
        }
    }

    /// The server's id for this session (what `CONNECTION_ID()` returns, and what
    /// `KILL` and `information_schema.processlist` use).
    pub fn connection_id(&self) -> u32 {
        self.conn.connection_id()
    }

    /// Rows affected by the last statement.
    pub fn affected_rows(&self) -> u64 {
        self.conn.affected_rows()
    }

    /// The id generated by the last `INSERT`, if any.
    pub fn last_insert_id(&self) -> u64 {
        self.conn.last_insert_id()
    }

    /// The number of warnings of the last statement.
    pub fn warnings(&self) -> u16 {
        self.conn.warnings()
    }

    /// The server's version as `(major, minor, patch)`.
    pub fn server_version(&self) -> (u16, u16, u16) {
        self.conn.server_version()
    }

    /// The connection's transaction state as the pool sees it.
    pub fn transaction_state(&self) -> TransactionState {
        if self.track.raw {
            TransactionState::Unknown
        } else {
            self.track.tracker.state()
        }
    }

    /// Whether an operation failed in a way that leaves the connection unusable; the pool
    /// closes it when it comes back.
    pub fn is_broken(&self) -> bool {
        self.track.broken
    }

    /// Sends `COM_PING`, without a time limit other than the socket's read timeout.
    pub fn ping(&mut self) -> Result<()> {
        let result = self.conn.ping();
        if let Err(err) = &result
            && breaks_connection(err)
        {
            self.track.broken = true;
        }
        result
    }

    /// Sends `COM_PING` and waits at most `timeout` for each socket operation (on Unix; see the
    /// [module docs](self#timeouts)). A ping that times out leaves the connection broken, since
    /// its answer may still arrive.
    pub fn ping_timeout(&mut self, timeout: Duration) -> Result<()> {
        if self.track.broken {
            return Err(Error::IoError(io::Error::other(
                "the connection is broken (an earlier operation on it failed)",
            )));
        }
        if timeout.is_zero() {
            return Err(timed_out("the ping", timeout));
        }
        self.bounded("the ping", timeout, |c| c.ping())
    }

    /// Starts a transaction (`START TRANSACTION`, preceded by `SET TRANSACTION …` for the
    /// isolation level and access mode the options ask for). The transaction rolls back when
    /// dropped without [`MySqlTransaction::commit`].
    pub fn start_transaction(&mut self, opts: TxOpts) -> Result<MySqlTransaction<'_>> {
        if let Some(level) = opts.isolation_level() {
            self.query_drop(format!("SET TRANSACTION ISOLATION LEVEL {level}"))?;
        }
        match opts.access_mode() {
            Some(AccessMode::ReadOnly) => self.query_drop("SET TRANSACTION READ ONLY")?,
            Some(AccessMode::ReadWrite) => self.query_drop("SET TRANSACTION READ WRITE")?,
            None => {}
        }
        self.query_drop(if opts.with_consistent_snapshot() {
            "START TRANSACTION WITH CONSISTENT SNAPSHOT"
        } else {
            "START TRANSACTION"
        })?;
        Ok(MySqlTransaction {
            conn: self,
            finished: false,
        })
    }

    /// The driver's connection, read-only.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// The driver's connection, for what this type does not offer. What is done through it is
    /// not watched, so from then on the connection reports its transaction state as unknown
    /// and is rolled back on every return for the rest of its life, and its errors do not mark
    /// it broken.
    pub fn conn_mut(&mut self) -> &mut Conn {
        self.track.raw = true;
        self.track.tracker.lost_track();
        &mut self.conn
    }

    /// The driver's connection, leaving the pool's bookkeeping behind (for a connection
    /// detached from the pool).
    pub fn into_inner(self) -> Conn {
        self.conn
    }

    /// Runs text SQL through the driver, watching it.
    fn text<'s, R>(&'s mut self, sql: &str, op: impl FnOnce(&'s mut Conn) -> Result<R>) -> Result<R> {
        let MySqlConnection { conn, track, .. } = self;
        let before = track.before_text(sql);
        let result = op(conn);
        if let Err(err) = &result {
            track.failed(err, before);
        }
        result
    }

    /// Runs a prepared statement (prepared here first when given as text), watching it.
    fn binary<'s, S: AsStatement, R>(
        &'s mut self,
        stmt: S,
        op: impl FnOnce(&'s mut Conn, &Statement) -> Result<R>,
    ) -> Result<R> {
        let stmt = stmt.as_statement(&mut *self)?;
        let MySqlConnection { conn, track, .. } = self;
        let before = track.before_statement(stmt.id());
        let result = op(conn, &stmt);
        if let Err(err) = &result {
            track.failed(err, before);
        }
        result
    }

    /// Records an error the caller will not see (or has not yet): a broken connection.
    fn note(&mut self, err: Option<&Error>) {
        if let Some(err) = err
            && breaks_connection(err)
        {
            self.track.broken = true;
        }
    }

    /// Records the error of a result about to be returned.
    fn checked<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(err) = &result {
            self.note(Some(err));
        }
        result
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement> {
        let result = self.conn.prep(sql);
        match &result {
            Ok(stmt) => self.track.prepared(stmt.id(), sql),
            Err(err) => {
                let before = self.track.tracker.state();
                self.track.failed(err, before);
            }
        }
        result
    }

    fn close_statement(&mut self, stmt: Statement) -> Result<()> {
        self.track.statements.remove(&stmt.id());
        let result = self.conn.close(stmt);
        if let Err(err) = &result {
            let before = self.track.tracker.state();
            self.track.failed(err, before);
        }
        result
    }

    /// Runs `op` with the socket's read and write timeouts set to `timeout`, then puts the
    /// lasting ones back. When `op` fails the short timeouts stay, so that closing the broken
    /// connection (which writes `COM_QUIT`) cannot hang either.
    fn bounded<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        if let Err(err) = self.set_socket_timeouts(Some(timeout), Some(timeout)) {
            self.track.broken = true;
            return Err(err.into());
        }
        match op(self) {
            Ok(value) => {
                self.restore_socket_timeouts()?;
                Ok(value)
            }
            Err(err) => {
                if io_error(&err).is_some_and(|e| is_timeout_kind(e.kind())) {
                    // The answer may still come and would be taken for the next one's.
                    self.track.broken = true;
                    return Err(timed_out(what, timeout));
                }
                if !self.track.broken {
                    // A server error (a bad reset statement, say): the connection goes on.
                    self.restore_socket_timeouts()?;
                }
                Err(err)
            }
        }
    }

    fn restore_socket_timeouts(&mut self) -> Result<()> {
        let Timeouts { read, write, .. } = self.timeouts;
        self.set_socket_timeouts(read, write).map_err(|err| {
            self.track.broken = true;
            Error::IoError(err)
        })
    }

    #[cfg(unix)]
    fn set_socket_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        use std::os::unix::io::AsRawFd;
        sockopt::set_timeouts(self.conn.as_raw_fd(), read, write)
    }

    /// The driver does not expose its socket here: operations are bounded only by the lasting
    /// timeouts, which `connect_opts` gave the driver.
    #[cfg(not(unix))]
    fn set_socket_timeouts(&self, _read: Option<Duration>, _write: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

/// A transaction on a [`MySqlConnection`], from [`MySqlConnection::start_transaction`]. Run
/// statements through it with [`Queryable`]; it rolls back when dropped without
/// [`commit`](Self::commit) (bounded by the manager's reset timeout, and skipped when the
/// connection is broken or the thread is panicking: the pool then closes the connection, which
/// rolls back on the server).
pub struct MySqlTransaction<'a> {
    conn: &'a mut MySqlConnection,
    finished: bool,
}

impl fmt::Debug for MySqlTransaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlTransaction")
            .field("conn", &self.conn)
            .field("finished", &self.finished)
            .finish()
    }
}

impl MySqlTransaction<'_> {
    /// Commits. If the commit fails, the transaction is rolled back when dropped.
    pub fn commit(mut self) -> Result<()> {
        self.conn.query_drop("COMMIT")?;
        self.finished = true;
        Ok(())
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<()> {
        self.conn.query_drop("ROLLBACK")?;
        self.finished = true;
        Ok(())
    }

    /// Rows affected by the last statement.
    pub fn affected_rows(&self) -> u64 {
        self.conn.affected_rows()
    }

    /// The id generated by the last `INSERT`, if any.
    pub fn last_insert_id(&self) -> u64 {
        self.conn.last_insert_id()
    }

    fn text<'s, R>(&'s mut self, sql: &str, op: impl FnOnce(&'s mut Conn) -> Result<R>) -> Result<R> {
        self.conn.text(sql, op)
    }

    fn binary<'s, S: AsStatement, R>(
        &'s mut self,
        stmt: S,
        op: impl FnOnce(&'s mut Conn, &Statement) -> Result<R>,
    ) -> Result<R> {
        self.conn.binary(stmt, op)
    }

    fn note(&mut self, err: Option<&Error>) {
        self.conn.note(err);
    }

    fn checked<T>(&mut self, result: Result<T>) -> Result<T> {
        self.conn.checked(result)
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.conn.prepare(sql)
    }

    fn close_statement(&mut self, stmt: Statement) -> Result<()> {
        self.conn.close_statement(stmt)
    }
}

impl Drop for MySqlTransaction<'_> {
    fn drop(&mut self) {
        if self.finished || self.conn.track.broken || std::thread::panicking() {
            return;
        }
        let timeout = self.conn.timeouts.reset;
        if let Err(err) = self
            .conn
            .bounded("the rollback", timeout, |c| c.query_drop("ROLLBACK"))
        {
            log::warn!(target: "millpond::mysql", "rolling back a dropped transaction failed: {err}");
        }
    }
}

/// `Queryable` for a type with `text`, `binary`, `prepare`, `close_statement` and `note`: every
/// method that runs SQL goes through them. The methods that finish reading a result themselves
/// are overridden so that the errors the driver would meet while draining it (and ignore, as
/// `QueryResult`'s `Drop` does) are seen too: such an error still does not fail the call, as
/// with the driver, but it marks the connection broken when it should.
macro_rules! watched_queryable {
    ($ty:ty) => {
        impl Queryable for $ty {
            fn query_iter<Q: AsRef<str>>(&mut self, query: Q) -> Result<QueryResult<'_, '_, '_, Text>> {
                let sql = query.as_ref();
                self.text(sql, |c| c.query_iter(sql))
            }

            fn query_first<T, Q>(&mut self, query: Q) -> Result<Option<T>>
            where
                Q: AsRef<str>,
                T: FromRow,
            {
                let sql = query.as_ref();
                let (first, rest) = self.text(sql, |c| c.query_iter(sql).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row))
            }

            fn query_first_opt<T, Q>(
                &mut self,
                query: Q,
            ) -> Result<Option<std::result::Result<T, FromRowError>>>
            where
                Q: AsRef<str>,
                T: FromRow,
            {
                let sql = query.as_ref();
                let (first, rest) = self.text(sql, |c| c.query_iter(sql).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row_opt))
            }

            fn query_fold<T, F, Q, U>(&mut self, query: Q, init: U, mut f: F) -> Result<U>
            where
                Q: AsRef<str>,
                T: FromRow,
                F: FnMut(U, T) -> U,
            {
                let sql = query.as_ref();
                let (folded, rest) = self.text(sql, |c| {
                    let mut result = c.query_iter(sql)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn query_fold_opt<T, F, Q, U>(&mut self, query: Q, init: U, mut f: F) -> Result<U>
            where
                Q: AsRef<str>,
                T: FromRow,
                F: FnMut(U, std::result::Result<T, FromRowError>) -> U,
            {
                let sql = query.as_ref();
                let (folded, rest) = self.text(sql, |c| {
                    let mut result = c.query_iter(sql)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row_opt(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn query_drop<Q>(&mut self, query: Q) -> Result<()>
            where
                Q: AsRef<str>,
            {
                let sql = query.as_ref();
                let rest = self.text(sql, |c| c.query_iter(sql).map(finish))?;
                self.note(rest.as_ref());
                Ok(())
            }

            fn prep<Q: AsRef<str>>(&mut self, query: Q) -> Result<Statement> {
                self.prepare(query.as_ref())
            }

            fn close(&mut self, stmt: Statement) -> Result<()> {
                self.close_statement(stmt)
            }

            fn exec_iter<S, P>(&mut self, stmt: S, params: P) -> Result<QueryResult<'_, '_, '_, Binary>>
            where
                S: AsStatement,
                P: Into<Params>,
            {
                self.binary(stmt, |c, st| c.exec_iter(st, params))
            }

            fn exec_batch<S, P, I>(&mut self, stmt: S, params: I) -> Result<()>
            where
                Self: Sized,
                S: AsStatement,
                P: Into<Params>,
                I: IntoIterator<Item = P>,
            {
                self.binary(stmt, |c, st| c.exec_batch(st, params))
            }

            fn exec_first<T, S, P>(&mut self, stmt: S, params: P) -> Result<Option<T>>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
            {
                let (first, rest) = self.binary(stmt, |c, st| c.exec_iter(st, params).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row))
            }

            fn exec_first_opt<T, S, P>(
                &mut self,
                stmt: S,
                params: P,
            ) -> Result<Option<std::result::Result<T, FromRowError>>>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
            {
                let (first, rest) = self.binary(stmt, |c, st| c.exec_iter(st, params).map(first_row))?;
                self.note(rest.as_ref());
                Ok(self.checked(first)?.map(from_row_opt))
            }

            fn exec_fold<T, S, P, U, F>(&mut self, stmt: S, params: P, init: U, mut f: F) -> Result<U>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
                F: FnMut(U, T) -> U,
            {
                let (folded, rest) = self.binary(stmt, |c, st| {
                    let mut result = c.exec_iter(st, params)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn exec_fold_opt<T, S, P, U, F>(&mut self, stmt: S, params: P, init: U, mut f: F) -> Result<U>
            where
                S: AsStatement,
                P: Into<Params>,
                T: FromRow,
                F: FnMut(U, std::result::Result<T, FromRowError>) -> U,
            {
                let (folded, rest) = self.binary(stmt, |c, st| {
                    let mut result = c.exec_iter(st, params)?;
                    let folded = result
                        .by_ref()
                        .try_fold(init, |acc, row| row.map(|row| f(acc, from_row_opt(row))));
                    Ok((folded, finish(result)))
                })?;
                self.note(rest.as_ref());
                self.checked(folded)
            }

            fn exec_drop<S, P>(&mut self, stmt: S, params: P) -> Result<()>
            where
                S: AsStatement,
                P: Into<Params>,
            {
                let rest = self.binary(stmt, |c, st| c.exec_iter(st, params).map(finish))?;
                self.note(rest.as_ref());
                Ok(())
            }
        }
    };
}

/// The first row of a result, and the first error met reading the rest of it.
fn first_row<T: Protocol>(mut result: QueryResult<'_, '_, '_, T>) -> (Result<Option<Row>>, Option<Error>) {
    let first = result.next().transpose();
    (first, finish(result))
}

/// Reads what is left of a result, as its `Drop` would, but returns the first error met
/// instead of ignoring it.
fn finish<T: Protocol>(mut result: QueryResult<'_, '_, '_, T>) -> Option<Error> {
    let mut first = None;
    while let Some(set) = result.iter() {
        for row in set {
            if let Err(err) = row {
                first.get_or_insert(err);
            }
        }
    }
    first
}

watched_queryable!(MySqlConnection);
watched_queryable!(MySqlTransaction<'_>);

/// Whether `sql` would change the transaction state from idle or from active.
fn touches_transactions(sql: &str) -> bool {
    let mut from_idle = TxTracker::new(Dialect::MySql);
    from_idle.observe(sql);
    let mut from_active = TxTracker::new(Dialect::MySql);
    from_active.began();
    from_active.observe(sql);
    from_idle.state() != TransactionState::Idle || from_active.state() != TransactionState::Active
}

/// The I/O error inside a driver error, if there is one.
fn io_error(err: &Error) -> Option<&io::Error> {
    match err {
        Error::IoError(err) => Some(err),
        Error::CodecError(err) => err.source().and_then(|s| s.downcast_ref::<io::Error>()),
        _ => None,
    }
}

fn is_timeout_kind(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

fn timed_out(what: &str, timeout: Duration) -> Error {
    Error::IoError(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} got no answer from the MySQL server within {timeout:?}"),
    ))
}

/// Whether an error leaves the connection unusable.
fn breaks_connection(err: &Error) -> bool {
    match err {
        Error::IoError(_) | Error::CodecError(_) | Error::TlsError(_) => true,
        Error::DriverError(err) => !matches!(
            err,
            DriverError::MismatchedStmtParams(..)
                | DriverError::Params(_)
                | DriverError::MixedParams
                | DriverError::ReadOnlyTransNotSupported
                | DriverError::BulkExecute(_)
                | DriverError::InvalidPoolConstraints
                | DriverError::PoisonedPoolMutex
        ),
        Error::MySqlError(err) => LOST_SERVER_CODES.contains(&err.code),
        Error::UrlError(_) | Error::FromValueError(_) | Error::FromRowError(_) => false,
    }
}

fn is_lost_server(err: &Error) -> bool {
    if let Some(io) = io_error(err) {
        return matches!(
            io.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::NotConnected
        );
    }
    match err {
        Error::MySqlError(err) => LOST_SERVER_CODES.contains(&err.code),
        Error::DriverError(DriverError::ConnectTimeout | DriverError::CouldNotConnect(_)) => true,
        _ => false,
    }
}

fn url_error(message: impl Into<String>) -> ConfigError {
    ConfigError::new("url", message)
}

/// The driver's URL error in words that say what is accepted. None of its variants carries the
/// password (a parse error names only its kind).
fn describe_url_error(err: &::mysql::UrlError, form: &str) -> String {
    use ::mysql::UrlError;
    match err {
        UrlError::ParseError(err) => format!("the URL could not be parsed ({err}); use {form}"),
        UrlError::BadUrl => format!("the URL is incomplete (a host is required); use {form}"),
        UrlError::InvalidValue(param, value) => {
            format!("`{value}` is not accepted for the parameter {param}")
        }
        UrlError::UnknownParameter(param) => {
            format!("the parameter `{param}` is not accepted on this platform or build")
        }
        UrlError::FeatureRequired(feature, param) => {
            format!(
                "the parameter {param} needs the mysql crate's `{feature}` feature, which this build does not have"
            )
        }
        other => format!("{other}; use {form}"),
    }
}

/// Decodes `%XX` escapes and `+` (a space, as in form encoding, which is how the driver reads
/// its own parameters). `None` when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(unix)]
mod sockopt {
    use std::io;
    use std::os::unix::io::RawFd;
    use std::time::Duration;

    /// A socket timeout as `setsockopt` takes it: zero means none, so a zero duration becomes
    /// one microsecond.
    pub(super) fn timeval(timeout: Option<Duration>) -> libc::timeval {
        let Some(timeout) = timeout else {
            return libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
        };
        let secs = timeout.as_secs().min(i32::MAX as u64);
        let micros = match (secs, timeout.subsec_micros()) {
            (0, 0) => 1,
            (_, micros) => micros,
        };
        libc::timeval {
            tv_sec: secs as libc::time_t,
            tv_usec: micros as libc::suseconds_t,
        }
    }

    /// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO` on the socket (`None`: no timeout).
    #[allow(unsafe_code)]
    pub(super) fn set_timeouts(fd: RawFd, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        for (option, timeout) in [(libc::SO_RCVTIMEO, read), (libc::SO_SNDTIMEO, write)] {
            let value = timeval(timeout);
            // SAFETY: `fd` is the socket of a connection the caller borrows for the whole call,
            // so it is open and not reused; `value` is a live `timeval` and its exact size is
            // passed, which is what SO_RCVTIMEO and SO_SNDTIMEO read.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    option,
                    (&raw const value).cast::<libc::c_void>(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

    #[test]
    fn urls_set_the_parts_and_own_parameters() {
        let m = MySqlManager::from_url(&format!(
            "mysql://app:{SECRET}@db.example:3307/shop?connect_timeout_ms=1500&read_timeout_ms=0&write_timeout_ms=2500&reset_timeout_ms=700&init=SET%20time_zone%20%3D%20'%2B00:00'&init=SET+NAMES+utf8mb4&program_name=billing&compress=true"
        ))
        .unwrap();
        let o = m.opts();
        assert_eq!(o.get_ip_or_hostname(), "db.example");
        assert_eq!(o.get_tcp_port(), 3307);
        assert_eq!(o.get_user(), Some("app"));
        assert_eq!(o.get_pass(), Some(SECRET));
        assert_eq!(o.get_db_name(), Some("shop"));
        assert!(!o.get_prefer_socket(), "prefer_socket is off unless asked for");
        assert!(o.get_compress().is_some());
        assert!(
            o.get_read_timeout().is_none() && o.get_init().is_empty(),
            "kept by the manager"
        );
        assert_eq!(
            o.get_connect_attrs()
                .and_then(|a| a.get("program_name"))
                .map(String::as_str),
            Some("billing")
        );
        assert_eq!(m.connect_timeout, Duration::from_millis(1500));
        assert_eq!(
            m.timeouts,
            Timeouts {
                read: None,
                write: Some(Duration::from_millis(2500)),
                reset: Duration::from_millis(700)
            }
        );
        assert_eq!(m.init, ["SET time_zone = '+00:00'", "SET NAMES utf8mb4"]);

        let m = MySqlManager::from_url(
            "mariadb://root@127.0.0.1/test?prefer_socket=true&tcp_connect_timeout_ms=250",
        )
        .unwrap();
        assert!(m.opts().get_prefer_socket());
        assert_eq!(m.connect_timeout, Duration::from_millis(250));
        assert_eq!(m.opts().get_pass(), None);
        let m = MySqlManager::from_url("mysql://root@localhost/test?ssl=true").unwrap();
        assert!(m.opts().get_ssl_opts().is_some());
        let m = MySqlManager::from_url("mysql://root@localhost/test").unwrap();
        assert!(m.opts().get_ssl_opts().is_none());
        assert_eq!(m.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(m.timeouts.reset, DEFAULT_RESET_TIMEOUT);
    }

    #[test]
    fn bad_urls_say_what_is_accepted_and_never_repeat_the_password() {
        let cases: &[(&str, &str)] = &[
            ("mysql://u:{}@h/db?colour=blue", "`colour` is not accepted"),
            ("mysql://u:{}@h/db?colour=blue", "connect_timeout_ms"),
            ("mysql://u:{}@h/db?colour=blue", "prefer_socket"),
            ("mysql://u:{}@h/db?pool_max=3", "pool_size and max_overflow"),
            ("mysql://u:{}@h/db?connect_timeout_ms=0", "greater than zero"),
            (
                "mysql://u:{}@h/db?connect_timeout_ms=soon",
                "whole number of milliseconds",
            ),
            ("mysql://u:{}@h/db?ssl=maybe", "true or false"),
            (
                "mysql://u:{}@h/db?ssl=false&root_cert_path=/ca.pem",
                "contradicts",
            ),
            (
                "mysql://u:{}@h/db?prefer_socket=perhaps",
                "`perhaps` is not accepted for the parameter prefer_socket",
            ),
            ("mysql://u:{}@h:notaport/db", "could not be parsed"),
            ("mysql://u:{}@/db", "use mysql://"),
            ("postgres://u:{}@h/db", "scheme `postgres` is not accepted"),
            ("u:{}@h/db", "not a MySQL URL"),
            ("mysql://u:{}@h/db#frag", "fragment"),
        ];
        for (template, expected) in cases {
            let url = template.replace("{}", SECRET);
            let err = MySqlManager::from_url(&url).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expected), "{url}: {text}");
            assert!(!text.contains(SECRET), "{url}: the password leaked: {text}");
            assert_eq!(err.option, "url");
        }
    }

    #[test]
    fn debug_and_display_hide_the_password() {
        let m = MySqlManager::from_url(&format!("mysql://app:{SECRET}@db.example:3307/shop")).unwrap();
        let debug = format!("{m:?}");
        let display = m.to_string();
        assert!(
            !debug.contains(SECRET) && !display.contains(SECRET),
            "{debug}\n{display}"
        );
        assert!(debug.contains("password: Some(\"***\")"), "{debug}");
        assert_eq!(display, "mysql://app@db.example:3307/shop");
        // The driver's own Debug does show it, which is why the manager has its own.
        assert!(format!("{:?}", m.opts()).contains(SECRET));
        let m = MySqlManager::new(OptsBuilder::new().user(Some("u")).pass(Some(SECRET)))
            .host("h")
            .password(SECRET);
        assert!(!format!("{m:?}").contains(SECRET));
    }

    #[test]
    fn new_takes_over_timeouts_and_init_and_turns_prefer_socket_off() {
        let m = MySqlManager::new(
            OptsBuilder::new()
                .read_timeout(Some(Duration::from_secs(3)))
                .tcp_connect_timeout(Some(Duration::from_secs(2)))
                .init(vec!["SET @a = 1"]),
        );
        assert_eq!(m.timeouts.read, Some(Duration::from_secs(3)));
        assert_eq!(m.connect_timeout, Duration::from_secs(2));
        assert_eq!(m.init, ["SET @a = 1"]);
        assert!(!m.opts().get_prefer_socket());
        assert!(m.opts().get_init().is_empty() && m.opts().get_read_timeout().is_none());
        let m = m
            .prefer_socket(true)
            .with_opts(|o| o.stmt_cache_size(7).init(vec!["SET @b = 2"]));
        assert!(m.opts().get_prefer_socket());
        assert_eq!(m.opts().get_stmt_cache_size(), 7);
        assert_eq!(m.init, ["SET @a = 1", "SET @b = 2"]);
        assert_eq!(m.timeouts.read, Some(Duration::from_secs(3)));
    }

    #[test]
    fn transaction_control_is_recognised() {
        for sql in [
            "START TRANSACTION",
            "begin",
            "COMMIT",
            "rollback",
            "SET autocommit = 0",
            "XA START 'x'",
            "BEGIN; SELECT 1; COMMIT",
        ] {
            assert!(touches_transactions(sql), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "INSERT INTO t VALUES (1)",
            "ROLLBACK TO SAVEPOINT a",
            "SET @x = 1",
            "SELECT 'COMMIT'",
        ] {
            assert!(!touches_transactions(sql), "{sql}");
        }
        let mut track = Track {
            tracker: TxTracker::new(Dialect::MySql),
            raw: false,
            broken: false,
            statements: HashMap::new(),
        };
        track.before_text("START TRANSACTION; INSERT INTO t VALUES (1); COMMIT");
        assert_eq!(
            track.tracker.state(),
            TransactionState::Unknown,
            "a batch may stop half-way"
        );
        track.before_text("ROLLBACK");
        assert_eq!(track.tracker.state(), TransactionState::Idle);
        track.prepared(7, "COMMIT");
        track.prepared(8, "SELECT ?");
        track.tracker.began();
        track.before_statement(8);
        assert_eq!(track.tracker.state(), TransactionState::Active);
        track.before_statement(7);
        assert_eq!(track.tracker.state(), TransactionState::Idle);
        track.before_statement(99);
        assert_eq!(
            track.tracker.state(),
            TransactionState::Unknown,
            "a statement not prepared here"
        );
    }

    #[test]
    fn errors_are_classified() {
        let server = |code| {
            Error::MySqlError(::mysql::MySqlError {
                state: "HY000".into(),
                message: "x".into(),
                code,
            })
        };
        let io = |kind| Error::IoError(io::Error::new(kind, "x"));
        assert!(is_lost_server(&server(1927)) && breaks_connection(&server(1927)));
        assert!(is_lost_server(&server(2006)) && is_lost_server(&server(1053)));
        assert!(!is_lost_server(&server(1062)) && !breaks_connection(&server(1062)));
        assert!(
            is_lost_server(&io(io::ErrorKind::BrokenPipe))
                && is_lost_server(&io(io::ErrorKind::UnexpectedEof))
        );
        assert!(is_lost_server(&io(io::ErrorKind::ConnectionReset)));
        assert!(
            !is_lost_server(&io(io::ErrorKind::TimedOut)) && breaks_connection(&io(io::ErrorKind::TimedOut))
        );
        assert!(!breaks_connection(&Error::DriverError(DriverError::MixedParams)));
        assert!(breaks_connection(&Error::DriverError(
            DriverError::PacketOutOfSync
        )));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c%2B").as_deref(), Some("a b c+"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[cfg(unix)]
    #[test]
    fn timevals_never_mean_forever_by_accident() {
        let tv = sockopt::timeval(Some(Duration::ZERO));
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 1));
        let tv = sockopt::timeval(Some(Duration::from_millis(1500)));
        assert_eq!((tv.tv_sec, tv.tv_usec), (1, 500_000));
        let tv = sockopt::timeval(None);
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 0));
    }
}
