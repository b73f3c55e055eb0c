//! [`MySqlManager`] and its options: the driver's [`Opts`] plus the timeouts and init statements.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::time::Duration;

use ::mysql::{DriverError, Error, Opts, OptsBuilder, SslOpts};

use super::error::{io_error, is_timeout_kind};
use crate::backends::credentials::{Credentials, CredentialsProvider};
use crate::backends::redact::redacted;
use crate::error::{BoxError, ConfigError};

pub(super) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const DEFAULT_RESET_TIMEOUT: Duration = Duration::from_secs(10);

/// Socket timeouts a connection returns to after a bounded operation, and the reset bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timeouts {
    pub(super) read: Option<Duration>,
    pub(super) write: Option<Duration>,
    pub(super) reset: Duration,
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
    pub(super) opts: Opts,
    pub(super) connect_timeout: Duration,
    pub(super) timeouts: Timeouts,
    pub(super) init: Vec<String>,
    /// Called for the password (and perhaps the user) of each connect.
    pub(super) credentials: Option<CredentialsProvider>,
}

impl fmt::Debug for MySqlManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opts = &self.opts;
        f.debug_struct("MySqlManager")
            .field("host", &opts.get_ip_or_hostname())
            .field("port", &opts.get_tcp_port())
            .field("socket", &opts.get_socket())
            .field("user", &opts.get_user())
            .field("password", &opts.get_pass().map(redacted))
            .field("db_name", &opts.get_db_name())
            .field("prefer_socket", &opts.get_prefer_socket())
            .field("tls", &opts.get_ssl_opts().is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.timeouts.read)
            .field("write_timeout", &self.timeouts.write)
            .field("reset_timeout", &self.timeouts.reset)
            .field("init", &self.init)
            .field("credentials_provider", &self.credentials.is_some())
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
            credentials: None,
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
    ///
    /// Percent-encode `@`, `/`, `?`, `#` and `%` in the user name and password (`p%40ss` for
    /// `p@ss`), and `@` and `#` anywhere else: a URL that could be read two ways (drivers
    /// differ on which `@` ends a password) is refused, and the error never repeats it.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        super::url::from_url(url)
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

    /// Calls `provider` for the password of every new connection (and the user, when it
    /// names one), instead of a fixed password: an AWS IAM authentication token (with the
    /// cleartext plugin over TLS), a Vault lease, a secret someone rotates. A new password then
    /// needs no new pool: connections opened before keep working until they are replaced (at
    /// `recycle`, or at once with [`Pool::invalidate`](crate::Pool::invalidate)), new ones log
    /// in with what the provider gives now. It is called on the thread that opens the
    /// connection, before the connect timeout starts, so a provider that fetches a token over
    /// the network should cache it for its lifetime. An error fails that connect: the pool's
    /// [`Error::Connect`](crate::Error::Connect) says the credentials provider failed, and the
    /// provider's error (in the message: the driver's errors keep no source). What it returns is never shown (not by `Debug`, in
    /// errors or in log lines).
    ///
    /// ```
    /// use millpond::mysql::{Credentials, MySqlManager};
    ///
    /// let manager = MySqlManager::from_url("mysql://app@db.internal/app")
    ///     .unwrap()
    ///     .credentials_provider(|| Ok(Credentials::password(std::env::var("APP_DB_TOKEN")?)));
    /// ```
    pub fn credentials_provider(
        mut self,
        provider: impl Fn() -> Result<Credentials, BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.credentials = Some(CredentialsProvider::new(provider));
        self
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
    /// bounded on their own (see the [module docs](super#timeouts)).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeouts.read = timeout.filter(|t| !t.is_zero());
        self
    }

    /// The socket write timeout for every statement (default none).
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeouts.write = timeout.filter(|t| !t.is_zero());
        self
    }

    /// How long the reset on return (and the rollback of a dropped
    /// [`MySqlTransaction`](super::MySqlTransaction)) may wait on the server before the
    /// connection is given up as broken. Default 10 s. A zero duration is replaced by the
    /// default.
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
        manager.credentials = self.credentials;
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
    ///
    /// With a credentials provider, it is asked here; its failure is an error of the driver's
    /// kind (an I/O error saying the provider failed, and why).
    pub(super) fn connect_opts(&self) -> Result<Opts, Error> {
        let (read, write) = if cfg!(unix) {
            (Some(self.connect_timeout), Some(self.connect_timeout))
        } else {
            (self.timeouts.read, self.timeouts.write)
        };
        let mut opts = OptsBuilder::from_opts(self.opts.clone())
            .tcp_connect_timeout(Some(self.connect_timeout))
            .read_timeout(read)
            .write_timeout(write);
        if let Some(provider) = &self.credentials {
            let credentials = provider
                .fetch()
                // The driver's error keeps no source: the provider's error goes into the message.
                .map_err(|failed| Error::IoError(io::Error::other(crate::error::chain(&failed))))?;
            opts = opts.pass(Some(credentials.password.expose()));
            if let Some(user) = credentials.user() {
                opts = opts.user(Some(user));
            }
        }
        Ok(opts.into())
    }

    /// Rewrites a connect error whose cause would be unclear: a timed-out handshake read says
    /// "Resource temporarily unavailable".
    pub(super) fn explain_connect_error(&self, err: Error) -> Error {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

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
}
