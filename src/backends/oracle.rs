//! The Oracle backend (feature `oracle`), on the [`oracle`](::oracle) crate.
//!
//! The `oracle` crate compiles ODPI-C in, and ODPI-C loads the Oracle Client library
//! (`libclntsh`, from Oracle Instant Client or a full client) when the first connection is
//! opened. Without a client every connect fails at once with
//! `DPI-1047: Cannot locate a 64-bit Oracle Client library …`, which the pool reports as
//! [`Error::Connect`](crate::Error::Connect). To load the client from a directory of your
//! choice, call [`driver::InitParams`] before the first connection.
//!
//! # Quick start
//!
//! ```no_run
//! use millpond::Pool;
//! use millpond::oracle::OracleManager;
//!
//! let manager = OracleManager::from_url(
//!     "oracle://scott:tiger@//db.example.com:1521/FREEPDB1?connect_timeout=5",
//! )?;
//! let pool = Pool::builder().pool_size(4).build(manager)?;
//!
//! let conn = pool.get()?;
//! conn.execute("INSERT INTO orders (id, item) VALUES (:1, :2)", &[&42, &"pond"])?;
//! conn.commit()?;
//! let count: i64 = conn.query_row_as("SELECT count(*) FROM orders", &[])?;
//! println!("{count} orders");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Transactions
//!
//! Oracle opens a transaction implicitly with the first DML statement, and nothing is committed
//! until `commit` (or a DDL statement, or autocommit). A connection given back with a
//! transaction open is rolled back (the pool's default reset); one given back clean costs no
//! round trip. [`OracleConnection`] knows which is which from two sources:
//!
//! - the session's `OCI_ATTR_TRANSACTION_IN_PROGRESS` attribute, read locally (no round trip;
//!   Oracle Client 12.1 or later). It is exact, even after PL/SQL blocks, database links and
//!   work done through [`OracleConnection::raw`]. It is trusted once it has been seen reporting
//!   a transaction on the connection, so a server that never reports one cannot make the pool
//!   skip a needed rollback;
//! - until then (and with older clients), the statements run through the wrapper, classified
//!   by their leading keywords: DML, `SELECT … FOR UPDATE` and PL/SQL blocks (which may do
//!   anything) open a transaction, `COMMIT`, `ROLLBACK` and DDL end it, raw access makes it
//!   unknown. With autocommit on, a statement that succeeds leaves no transaction open.
//!
//! # Lost connections
//!
//! [`is_lost_connection`] says whether an error means the session or the server is gone
//! (`ORA-03113`, `ORA-03114`, `ORA-03135`, `ORA-00028`, `DPI-1080`, `DPI-1010`, …); a pre-ping
//! or reset failing that way invalidates the pool. A connection whose operation failed that
//! way, or whose socket the client already knows to be closed, is discarded when it comes back
//! (checked locally, without a round trip).

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ::oracle::oci_attr::TransactionInProgress;
use ::oracle::sql_type::ToSql;
use ::oracle::{BatchBuilder, Connector, ErrorKind, StatementBuilder};

pub use ::oracle as driver;
pub use ::oracle::{ConnStatus, Connection, Privilege, ResultSet, Row, RowValue, Statement, Version};

use super::txn::{Dialect, TxTracker};
use crate::error::ConfigError;
use crate::manage::{ManageConnection, ResetAction, TransactionState};

/// The URL forms, as error messages list them.
const URL_FORMS: &str = "oracle://user:password@//host:port/service, oracle://user:password@host:port/service or oracle://user:password@tns_alias";

/// The query parameters [`OracleManager::from_url`] accepts, as error messages list them.
const ACCEPTED_PARAMS: &str = "connect_timeout, call_timeout_ms, stmt_cache_size, events, autocommit, init, edition, driver_name and privilege";

/// Oracle error numbers (`ORA-…`) after which the session is gone: the server closed it,
/// crashed, shut down or was cut off, or the session was killed. From ODPI-C's own list of
/// dead-session errors (`dpiError.c`) and SQLAlchemy's `is_disconnect`; internal errors and
/// `ORA-00031` (what the killer is told) are left out.
const LOST_ORA: &[i32] = &[
    28,    // your session has been killed
    1012,  // not logged on
    1033,  // ORACLE initialization or shutdown in progress
    1034,  // ORACLE not available
    1089,  // immediate shutdown or close in progress
    1092,  // ORACLE instance terminated. Disconnection forced
    2396,  // exceeded maximum idle time, please connect again
    3113,  // end-of-file on communication channel
    3114,  // not connected to ORACLE
    3135,  // connection lost contact
    12153, // TNS:not connected
    12537, // TNS:connection closed
    12547, // TNS:lost contact
    12570, // TNS:packet reader failure
    12583, // TNS:no reader
    28511, // lost RPC connection to heterogeneous remote agent
];

/// ODPI-C error numbers (`DPI-…`) that mean the connection is gone: `DPI-1010: not connected`
/// and `DPI-1080: connection was closed by ORA-%05d`, which ODPI-C puts in front of every
/// dead-session error above.
const LOST_DPI: &[i32] = &[1010, 1080];

/// Whether an error from the `oracle` crate means the connection (and likely the server) is
/// gone: the server closed or lost the session, shut down, or the session was killed.
///
/// Connect-time errors (`ORA-12541` no listener, `ORA-12170` connect timeout, `ORA-01017`
/// wrong password) and timeouts of a call that the client cleaned up after
/// (`DPI-1067: call timeout of … ms exceeded`) are not lost connections.
pub fn is_lost_connection(err: &::oracle::Error) -> bool {
    if !matches!(err.kind(), ErrorKind::OciError | ErrorKind::DpiError) {
        return false;
    }
    if err.oci_code().is_some_and(|code| LOST_ORA.contains(&code))
        || err.dpi_code().is_some_and(|code| LOST_DPI.contains(&code))
    {
        return true;
    }
    let code = match err.db_error() {
        Some(db) => leading_code(db.message()),
        None => leading_code(&err.to_string()),
    };
    match code {
        Some(Code::Ora(n)) => LOST_ORA.contains(&n),
        Some(Code::Dpi(n)) => LOST_DPI.contains(&n),
        None => false,
    }
}

/// An error number found in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Ora(i32),
    Dpi(i32),
}

/// The first `ORA-nnnnn` or `DPI-nnnn` in `message`: the error itself, ahead of any error it
/// wraps (`DPI-1080: connection was closed by ORA-03113`, `DPI-1067: … with ORA-03156`).
fn leading_code(message: &str) -> Option<Code> {
    let bytes = message.as_bytes();
    let mut i = 0;
    while i + 4 < bytes.len() {
        let head = &bytes[i..i + 4];
        let ora = head == b"ORA-";
        if ora || head == b"DPI-" {
            let digits: &[u8] = {
                let rest = &bytes[i + 4..];
                let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                &rest[..n]
            };
            if !digits.is_empty()
                && let Ok(n) = std::str::from_utf8(digits).unwrap_or("").parse::<i32>()
            {
                return Some(if ora { Code::Ora(n) } else { Code::Dpi(n) });
            }
        }
        i += 1;
    }
    None
}

/// A password that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// What a connect string is, for applying a connect timeout to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `(DESCRIPTION=…)`.
    Descriptor,
    /// `//host:port/service`, `host:port/service`, `host/service`, `tcps://host…`.
    EasyConnect,
    /// A single word: a net service name from `tnsnames.ora` (or a host name, which Oracle
    /// may resolve by host naming; write `//host` to mean Easy Connect).
    Alias,
}

fn target_kind(connect_string: &str) -> Target {
    let s = connect_string.trim();
    if s.starts_with('(') {
        Target::Descriptor
    } else if s.contains(['/', ':', '[', ',', ';', '?']) {
        Target::EasyConnect
    } else {
        Target::Alias
    }
}

/// Opens Oracle connections with one user, password and connect string.
///
/// Build it from a URL ([`OracleManager::from_url`]) or from parts ([`OracleManager::new`] and
/// the builder methods). The password never appears in `Debug` or `Display` output, in logs or
/// in errors.
#[derive(Clone)]
pub struct OracleManager {
    username: String,
    password: Secret,
    connect_string: String,
    external_auth: bool,
    privilege: Option<Privilege>,
    connect_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    stmt_cache_size: Option<u32>,
    events: bool,
    autocommit: bool,
    edition: Option<String>,
    driver_name: Option<String>,
    init: Vec<String>,
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
            .field("stmt_cache_size", &self.stmt_cache_size)
            .field("events", &self.events)
            .field("autocommit", &self.autocommit)
            .field("edition", &self.edition)
            .field("driver_name", &self.driver_name)
            .field("init", &self.init)
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
            password: Secret(password.into()),
            connect_string: connect_string.into(),
            external_auth: false,
            privilege: None,
            connect_timeout: None,
            call_timeout: None,
            stmt_cache_size: None,
            events: false,
            autocommit: false,
            edition: None,
            driver_name: None,
            init: Vec::new(),
        }
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
    ///   `call_timeout_ms=N` (see [`OracleManager::call_timeout`]), `stmt_cache_size=N`,
    ///   `events=true|false`, `autocommit=true|false`, `init=SQL` (may be repeated; run in
    ///   order on every new connection), `edition=NAME`, `driver_name=NAME`,
    ///   `privilege=sysdba|sysoper|sysasm|sysbackup|sysdg|syskm|sysrac`.
    ///
    /// Any other parameter is an error. Errors never quote the password.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let rest = url
            .get(..9)
            .filter(|scheme| scheme.eq_ignore_ascii_case("oracle://"))
            .map(|_| &url[9..])
            .ok_or_else(|| {
                ConfigError::new(
                    "url",
                    format!("an Oracle URL starts with oracle://; use {URL_FORMS}"),
                )
            })?;
        let (main, query) = match rest.split_once('?') {
            Some((main, query)) => (main, Some(query)),
            None => (rest, None),
        };
        let (userinfo, target) = match main.rfind('@') {
            Some(at) => (Some(&main[..at]), &main[at + 1..]),
            None => (None, main),
        };
        if userinfo.is_none() && query.is_some_and(|q| q.contains('@')) {
            // Most likely a password with an unencoded `?`: say nothing of what surrounds it.
            return Err(ConfigError::new(
                "url",
                "the URL has `@` only after `?`: percent-encode `?` in the password as %3F (and `@` in query values as %40)",
            ));
        }
        let target = percent_decode(target, false).ok_or_else(|| {
            ConfigError::new(
                "url",
                "the connect string after `@` is not valid percent-encoding",
            )
        })?;
        if target.trim().is_empty() {
            return Err(ConfigError::new(
                "url",
                format!("the URL names no database after `@`; use {URL_FORMS}"),
            ));
        }
        let mut manager = match userinfo {
            None | Some("") => OracleManager::external(target),
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                let user = percent_decode(user, false)
                    .ok_or_else(|| ConfigError::new("url", "the user name is not valid percent-encoding"))?;
                let password = percent_decode(password, false).ok_or_else(|| {
                    ConfigError::new(
                        "url",
                        "the password is not valid percent-encoding (write %25 for %, %40 for @, %3A for :, %2F for /, %3F for ?, %23 for #)",
                    )
                })?;
                if user.is_empty() {
                    return Err(ConfigError::new(
                        "url",
                        format!(
                            "the user name is empty; use {URL_FORMS}, or leave out `user:password@` for external authentication"
                        ),
                    ));
                }
                if password.is_empty() {
                    return Err(ConfigError::new(
                        "url",
                        format!(
                            "user `{user}` has no password; write oracle://{user}:password@…, or leave out `user:password@` for external authentication"
                        ),
                    ));
                }
                OracleManager::new(user, password, target)
            }
        };
        check_connect_string(&manager.connect_string)?;
        for pair in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(raw_key, true).unwrap_or_default();
            let value = percent_decode(raw_value, true).ok_or_else(|| {
                ConfigError::new(
                    "url",
                    format!("the value of `{key}` is not valid percent-encoding"),
                )
            })?;
            manager = match key.as_str() {
                "connect_timeout" => {
                    let secs = parse_number::<u64>(&key, &value, "a whole number of seconds (0 for none)")?;
                    manager.connect_timeout((secs > 0).then(|| Duration::from_secs(secs)))
                }
                "call_timeout_ms" => {
                    let ms =
                        parse_number::<u64>(&key, &value, "a whole number of milliseconds (0 for none)")?;
                    manager.call_timeout((ms > 0).then(|| Duration::from_millis(ms)))
                }
                "stmt_cache_size" => manager.stmt_cache_size(parse_number::<u32>(
                    &key,
                    &value,
                    "a whole number of statements",
                )?),
                "events" => manager.events(parse_bool(&key, &value)?),
                "autocommit" => manager.autocommit(parse_bool(&key, &value)?),
                "init" => {
                    if value.trim().is_empty() {
                        return Err(ConfigError::new(
                            "url",
                            "`init` is empty; give it an SQL statement",
                        ));
                    }
                    manager.init(value)
                }
                "edition" | "driver_name" => {
                    if value.is_empty() {
                        return Err(ConfigError::new(
                            "url",
                            format!("`{key}` is empty; give it a name"),
                        ));
                    }
                    if key == "edition" {
                        manager.edition(value)
                    } else {
                        manager.driver_name(value)
                    }
                }
                "privilege" => manager.privilege(parse_privilege(&value)?),
                _ => {
                    // Quote the key only when it looks like one: text after an unencoded `?` in
                    // a password must not end up in an error message.
                    let plausible = !key.is_empty()
                        && key.len() <= 40
                        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    let what = if plausible {
                        format!("query parameter `{key}` is not accepted")
                    } else {
                        "a query parameter is not accepted (if the password holds `?`, `@`, `/` or `#`, percent-encode them)".to_owned()
                    };
                    return Err(ConfigError::new(
                        "url",
                        format!("{what}; the accepted ones are {ACCEPTED_PARAMS}"),
                    ));
                }
            };
        }
        manager.effective_connect_string()?;
        Ok(manager)
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
    /// 18 or later. A borrower's own [`OracleConnection::set_call_timeout`] is undone when the
    /// connection comes back.
    pub fn call_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.call_timeout = timeout.into().filter(|t| !t.is_zero());
        self
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
    /// `oracle` crate. A borrower's own [`OracleConnection::set_autocommit`] is undone when the
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
        let Some(timeout) = self.connect_timeout else {
            return Ok(self.connect_string.clone());
        };
        let secs = (timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0)).max(1);
        let cs = self.connect_string.trim();
        match target_kind(cs) {
            Target::EasyConnect => {
                let sep = if cs.contains('?') { '&' } else { '?' };
                Ok(format!("{cs}{sep}connect_timeout={secs}"))
            }
            Target::Descriptor => add_descriptor_timeout(cs, secs).ok_or_else(|| {
                ConfigError::new(
                    "connect_timeout",
                    "the connect descriptor has no (DESCRIPTION=…) to add (CONNECT_TIMEOUT=…) to",
                )
            }),
            Target::Alias => Err(ConfigError::new(
                "connect_timeout",
                format!(
                    "cannot be applied to the net service name `{cs}`: set CONNECT_TIMEOUT in its tnsnames.ora entry, or use Easy Connect (//host:port/service, or //{cs} for a host)"
                ),
            )),
        }
    }

    fn connector(&self) -> Result<Connector, ::oracle::Error> {
        let connect_string = self
            .effective_connect_string()
            .map_err(|err| ::oracle::Error::new(ErrorKind::InvalidArgument, err.to_string()))?;
        let mut connector = Connector::new(self.username.as_str(), self.password.0.as_str(), connect_string);
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

/// Checks the host and port of an Easy Connect string with one host; leaves the rest to Oracle.
fn check_connect_string(cs: &str) -> Result<(), ConfigError> {
    if target_kind(cs) != Target::EasyConnect {
        return Ok(());
    }
    let cs = cs.trim();
    let s = match cs.find("://") {
        Some(i) => &cs[i + 3..],
        None => cs.strip_prefix("//").unwrap_or(cs),
    };
    if s.contains([',', ';']) {
        return Ok(()); // several hosts: Oracle's syntax, Oracle's checks
    }
    let host_port = s.split(['/', '?']).next().unwrap_or("");
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => {
                return Err(ConfigError::new(
                    "url",
                    "an IPv6 address in `[` has no closing `]`",
                ));
            }
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(ConfigError::new(
            "url",
            format!("the connect string `{cs}` names no host; use {URL_FORMS}"),
        ));
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(ConfigError::new(
            "url",
            format!("port `{port}` is not accepted; use a number from 1 to 65535 (or leave it out for 1521)"),
        ));
    }
    Ok(())
}

/// Adds `(CONNECT_TIMEOUT=secs)` inside every `(DESCRIPTION=` of a descriptor.
fn add_descriptor_timeout(descriptor: &str, secs: u64) -> Option<String> {
    let upper = descriptor.to_ascii_uppercase();
    let mut out = String::with_capacity(descriptor.len() + 24);
    let mut copied = 0;
    let mut found = false;
    let mut search = 0;
    while let Some(pos) = upper[search..].find("(DESCRIPTION").map(|p| p + search) {
        let after = pos + "(DESCRIPTION".len();
        search = after;
        let rest = &upper[after..];
        let spaces = rest.len() - rest.trim_start().len();
        if rest[spaces..].starts_with('=') {
            let insert_at = after + spaces + 1;
            out.push_str(&descriptor[copied..insert_at]);
            let _ = write!(out, "(CONNECT_TIMEOUT={secs})");
            copied = insert_at;
            found = true;
        }
    }
    out.push_str(&descriptor[copied..]);
    found.then_some(out)
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); `None` on a bad escape or
/// text that is not UTF-8.
fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
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

fn parse_number<T: std::str::FromStr>(key: &str, value: &str, accepted: &str) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError::new("url", format!("{key} `{value}` is not accepted; use {accepted}")))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Ok(true),
        "false" | "0" | "off" | "no" => Ok(false),
        _ => Err(ConfigError::new(
            "url",
            format!("{key} `{value}` is not accepted; use true or false"),
        )),
    }
}

fn parse_privilege(value: &str) -> Result<Privilege, ConfigError> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "sysdba" => Privilege::Sysdba,
        "sysoper" => Privilege::Sysoper,
        "sysasm" => Privilege::Sysasm,
        "sysbackup" => Privilege::Sysbackup,
        "sysdg" => Privilege::Sysdg,
        "syskm" => Privilege::Syskm,
        "sysrac" => Privilege::Sysrac,
        _ => {
            return Err(ConfigError::new(
                "url",
                format!(
                    "privilege `{value}` is not accepted; use sysdba, sysoper, sysasm, sysbackup, sysdg, syskm or sysrac"
                ),
            ));
        }
    })
}

/// The transaction state of one connection: the statement tracker, and whether the session's
/// own transaction attribute has proved itself.
#[derive(Debug, Clone, Copy)]
struct TxState {
    tracker: TxTracker,
    /// Set once `OCI_ATTR_TRANSACTION_IN_PROGRESS` has reported a transaction on this
    /// connection: from then on its "no transaction" is believed too.
    attribute_trusted: bool,
}

impl TxState {
    fn new() -> Self {
        TxState {
            tracker: TxTracker::new(Dialect::Oracle),
            attribute_trusted: false,
        }
    }

    /// Before `sql` is sent. With autocommit on, no statement leaves a transaction open once
    /// it succeeds, so only `after` matters.
    fn before(&mut self, sql: &str, autocommit: bool) {
        if !autocommit {
            self.tracker.observe(sql);
        }
    }

    /// After a statement ran (`ok`) or failed. A failure keeps what `before` assumed.
    fn after(&mut self, ok: bool, autocommit: bool) {
        if ok && autocommit {
            self.tracker.ended();
        }
    }

    fn ended(&mut self) {
        self.tracker.ended();
    }

    fn lost_track(&mut self) {
        self.tracker.lost_track();
    }

    /// The state to report, given what the session attribute says (`None` when it cannot be
    /// read: Oracle Client older than 12.1, or a closed connection).
    fn report(&mut self, in_progress: Option<bool>) -> TransactionState {
        // What the attribute says is also recorded in the tracker, which answers alone when
        // the attribute cannot be read.
        match in_progress {
            Some(true) => {
                self.attribute_trusted = true;
                self.tracker.began();
                TransactionState::Active
            }
            Some(false) if self.attribute_trusted => {
                self.tracker.ended();
                TransactionState::Idle
            }
            _ => self.tracker.state(),
        }
    }
}

/// An Oracle connection that knows whether it has a transaction open, so the pool rolls back
/// only when it must.
///
/// It offers the `oracle` crate's common methods, with the same signatures; for anything else,
/// [`OracleConnection::raw`] lends the [`Connection`] itself (after which the statement tracker
/// no longer knows the transaction state; the session attribute still does, where available).
///
/// Settings a borrower changes through the wrapper or the raw connection (autocommit, the call
/// timeout) are put back to the manager's when the connection returns to the pool.
pub struct OracleConnection {
    conn: Connection,
    state: Mutex<TxState>,
    /// An operation through the wrapper failed with a lost-connection error.
    broken: AtomicBool,
    /// Autocommit or the call timeout may differ from the defaults.
    settings_changed: AtomicBool,
    default_autocommit: bool,
    default_call_timeout: Option<Duration>,
}

impl fmt::Debug for OracleConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OracleConnection")
            .field("conn", &self.conn)
            .field("state", &*self.state())
            .field("broken", &self.broken.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl OracleConnection {
    /// Wraps a connection opened elsewhere, assuming no transaction is open on it and its
    /// current autocommit and call timeout are the ones to restore.
    pub fn new(conn: Connection) -> Self {
        let default_autocommit = conn.autocommit();
        let default_call_timeout = conn.call_timeout().ok().flatten();
        OracleConnection {
            conn,
            state: Mutex::new(TxState::new()),
            broken: AtomicBool::new(false),
            settings_changed: AtomicBool::new(false),
            default_autocommit,
            default_call_timeout,
        }
    }

    fn state(&self) -> MutexGuard<'_, TxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a lost-connection error, for `has_broken`.
    fn note<T>(&self, result: &::oracle::Result<T>) {
        if let Err(err) = result
            && is_lost_connection(err)
        {
            self.broken.store(true, Ordering::Relaxed);
        }
    }

    /// Runs `f`, which sends `sql`, with the transaction state kept up to date.
    fn run<T>(&self, sql: &str, f: impl FnOnce(&Connection) -> ::oracle::Result<T>) -> ::oracle::Result<T> {
        let autocommit = self.conn.autocommit();
        self.state().before(sql, autocommit);
        let result = f(&self.conn);
        self.state().after(result.is_ok(), autocommit);
        self.note(&result);
        result
    }

    /// Runs one statement of any kind (a query's rows are discarded): init and reset
    /// statements.
    fn run_statement(&self, sql: &str) -> ::oracle::Result<()> {
        self.run(sql, |conn| {
            let mut stmt = conn.statement(sql).build()?;
            if stmt.is_query() {
                stmt.query(&[]).map(drop)
            } else {
                stmt.execute(&[])
            }
        })
    }

    /// Executes a non-query statement with positional binds (`:1`, `:2`, …).
    pub fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<Statement> {
        self.run(sql, |conn| conn.execute(sql, params))
    }

    /// Executes a non-query statement with named binds (`:id`).
    pub fn execute_named(&self, sql: &str, params: &[(&str, &dyn ToSql)]) -> ::oracle::Result<Statement> {
        self.run(sql, |conn| conn.execute_named(sql, params))
    }

    /// Runs a query with positional binds; rows are fetched as the result set is read.
    pub fn query(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<ResultSet<'static, Row>> {
        self.run(sql, |conn| conn.query(sql, params))
    }

    /// Runs a query with named binds.
    pub fn query_named(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
    ) -> ::oracle::Result<ResultSet<'static, Row>> {
        self.run(sql, |conn| conn.query_named(sql, params))
    }

    /// Runs a query with positional binds, each row converted to `T` (a tuple, or a type
    /// deriving [`RowValue`]).
    pub fn query_as<T: RowValue>(
        &self,
        sql: &str,
        params: &[&dyn ToSql],
    ) -> ::oracle::Result<ResultSet<'static, T>> {
        self.run(sql, |conn| conn.query_as(sql, params))
    }

    /// Runs a query with named binds, each row converted to `T`.
    pub fn query_as_named<T: RowValue>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
    ) -> ::oracle::Result<ResultSet<'static, T>> {
        self.run(sql, |conn| conn.query_as_named(sql, params))
    }

    /// The first row of a query with positional binds (an error if there is none).
    pub fn query_row(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<Row> {
        self.run(sql, |conn| conn.query_row(sql, params))
    }

    /// The first row of a query with named binds.
    pub fn query_row_named(&self, sql: &str, params: &[(&str, &dyn ToSql)]) -> ::oracle::Result<Row> {
        self.run(sql, |conn| conn.query_row_named(sql, params))
    }

    /// The first row of a query with positional binds, converted to `T`
    /// (`let n: i64 = conn.query_row_as("SELECT count(*) FROM t", &[])?`).
    pub fn query_row_as<T: RowValue>(&self, sql: &str, params: &[&dyn ToSql]) -> ::oracle::Result<T> {
        self.run(sql, |conn| conn.query_row_as(sql, params))
    }

    /// The first row of a query with named binds, converted to `T`.
    pub fn query_row_as_named<T: RowValue>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
    ) -> ::oracle::Result<T> {
        self.run(sql, |conn| conn.query_row_as_named(sql, params))
    }

    /// A statement to prepare once and run many times. The statement is classified now, as if
    /// it ran: with autocommit off, a DML statement counts as opening a transaction.
    pub fn statement<'conn, 'sql>(&'conn self, sql: &'sql str) -> StatementBuilder<'conn, 'sql> {
        self.state().before(sql, self.conn.autocommit());
        self.conn.statement(sql)
    }

    /// A batch of DML rows sent in one round trip. The statement is classified now, as
    /// [`OracleConnection::statement`] does.
    pub fn batch<'conn, 'sql>(
        &'conn self,
        sql: &'sql str,
        max_batch_size: usize,
    ) -> BatchBuilder<'conn, 'sql> {
        self.state().before(sql, self.conn.autocommit());
        self.conn.batch(sql, max_batch_size)
    }

    /// Commits the transaction.
    pub fn commit(&self) -> ::oracle::Result<()> {
        let result = self.conn.commit();
        if result.is_ok() {
            self.state().ended();
        }
        self.note(&result);
        result
    }

    /// Rolls the transaction back.
    pub fn rollback(&self) -> ::oracle::Result<()> {
        let result = self.conn.rollback();
        if result.is_ok() {
            self.state().ended();
        }
        self.note(&result);
        result
    }

    /// Whether each successful statement is committed at once.
    pub fn autocommit(&self) -> bool {
        self.conn.autocommit()
    }

    /// Turns autocommit on or off for this checkout; the manager's setting is restored when the
    /// connection goes back to the pool. A transaction already open stays open until the next
    /// successful statement (which commits it) or `commit`.
    pub fn set_autocommit(&mut self, on: bool) {
        self.settings_changed.store(true, Ordering::Relaxed);
        self.conn.set_autocommit(on);
    }

    /// One round trip to the server.
    pub fn ping(&self) -> ::oracle::Result<()> {
        let result = self.conn.ping();
        self.note(&result);
        result
    }

    /// Cancels the statement running on this connection (call it from another thread).
    pub fn break_execution(&self) -> ::oracle::Result<()> {
        self.conn.break_execution()
    }

    /// The call timeout: the longest one round trip may take. `None` is none.
    pub fn call_timeout(&self) -> ::oracle::Result<Option<Duration>> {
        self.conn.call_timeout()
    }

    /// Sets the call timeout for this checkout (Oracle Client 18 or later); the manager's is
    /// restored when the connection goes back to the pool.
    pub fn set_call_timeout(&self, timeout: Option<Duration>) -> ::oracle::Result<()> {
        self.settings_changed.store(true, Ordering::Relaxed);
        self.conn.set_call_timeout(timeout)
    }

    /// The server's version and banner (a round trip the first time).
    pub fn server_version(&self) -> ::oracle::Result<(Version, String)> {
        let result = self.conn.server_version();
        self.note(&result);
        result
    }

    /// What the client knows of the connection without a round trip (see
    /// [`Connection::status`]).
    pub fn status(&self) -> ::oracle::Result<ConnStatus> {
        self.conn.status()
    }

    /// Whether a transaction is open, without a round trip (see the [module docs](self)).
    pub fn transaction_state(&self) -> TransactionState {
        let in_progress = self.conn.oci_attr::<TransactionInProgress>().ok();
        self.state().report(in_progress)
    }

    /// Whether the connection is known to be unusable, without a round trip: an operation
    /// through the wrapper failed with a lost-connection error, or the client knows the
    /// session or its socket is closed.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed) || !matches!(self.conn.status(), Ok(ConnStatus::Normal))
    }

    /// The `oracle` crate's connection, for what the wrapper does not offer. Statements run
    /// through it are not classified, so the transaction state becomes unknown (the pool then
    /// rolls back on return) unless the session attribute can tell.
    pub fn raw(&self) -> &Connection {
        self.state().lost_track();
        self.settings_changed.store(true, Ordering::Relaxed);
        &self.conn
    }

    /// The `oracle` crate's connection, mutably (for `set_autocommit`, `set_oci_attr`, …); as
    /// [`OracleConnection::raw`].
    pub fn conn_mut(&mut self) -> &mut Connection {
        self.state().lost_track();
        self.settings_changed.store(true, Ordering::Relaxed);
        &mut self.conn
    }

    /// Unwraps the `oracle` crate's connection.
    pub fn into_inner(self) -> Connection {
        self.conn
    }

    /// Pings within `timeout`: the call timeout is set to half of it (a timed-out call may take
    /// as long again to clean up) and restored afterwards. With an Oracle Client older than 18,
    /// which has no call timeout, the ping is not bounded.
    fn ping_within(&self, timeout: Duration) -> ::oracle::Result<()> {
        let previous = self.conn.call_timeout().ok();
        if previous.is_some() {
            let ms = (timeout / 2).as_millis().clamp(1, u128::from(u32::MAX));
            let bound = Duration::from_millis(ms as u64);
            let set = self.conn.set_call_timeout(Some(bound));
            self.note(&set);
            set?;
        }
        let result = self.ping();
        let restored = match previous {
            Some(previous) => self.conn.set_call_timeout(previous),
            None => Ok(()),
        };
        result.and(restored)
    }

    /// Puts back the manager's autocommit and call timeout if the borrower may have changed
    /// them. `false` if the call timeout could not be restored.
    fn restore_settings(&mut self) -> bool {
        if !self.settings_changed.swap(false, Ordering::Relaxed) {
            return true;
        }
        if self.conn.autocommit() != self.default_autocommit {
            self.conn.set_autocommit(self.default_autocommit);
        }
        match self.conn.call_timeout() {
            Ok(current) if current != self.default_call_timeout => {
                self.conn.set_call_timeout(self.default_call_timeout).is_ok()
            }
            // Unchanged, or a client without call timeouts (where none can have been set).
            _ => true,
        }
    }
}

impl ManageConnection for OracleManager {
    type Connection = OracleConnection;
    type Error = ::oracle::Error;

    /// Logs on, applies the autocommit and call-timeout settings, and runs the init statements.
    fn connect(&self) -> Result<OracleConnection, ::oracle::Error> {
        let mut conn = self.connector()?.connect()?;
        conn.set_autocommit(self.autocommit);
        if let Some(timeout) = self.call_timeout {
            conn.set_call_timeout(Some(timeout))?;
        }
        let conn = OracleConnection::new(conn);
        for sql in &self.init {
            conn.run_statement(sql)?;
        }
        log::debug!(target: "millpond::oracle", "connected to {self}");
        Ok(conn)
    }

    /// `Connection::ping` (one round trip), bounded by `timeout` through the call timeout (see
    /// [`OracleConnection::call_timeout`]), which is restored afterwards.
    fn is_valid(&self, conn: &mut OracleConnection, timeout: Duration) -> Result<(), ::oracle::Error> {
        conn.ping_within(timeout)
    }

    /// [`OracleConnection::is_broken`], without a round trip. It also puts back the manager's
    /// autocommit and call timeout if the borrower changed them (local settings, no round trip);
    /// a connection whose call timeout cannot be put back is reported broken.
    fn has_broken(&self, conn: &mut OracleConnection) -> bool {
        conn.is_broken() || !conn.restore_settings()
    }

    fn transaction_state(&self, conn: &mut OracleConnection) -> TransactionState {
        conn.transaction_state()
    }

    fn reset(&self, conn: &mut OracleConnection, action: ResetAction<'_>) -> Result<(), ::oracle::Error> {
        match action {
            ResetAction::Rollback => conn.rollback(),
            ResetAction::Commit => conn.commit(),
            ResetAction::Statement(sql) => conn.run_statement(sql),
        }
    }

    fn is_lost_server(&self, error: &::oracle::Error) -> bool {
        is_lost_connection(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Pa55";

    fn url_err(url: &str) -> ConfigError {
        OracleManager::from_url(url).expect_err(url)
    }

    #[test]
    fn urls_give_user_password_and_connect_string() {
        let m = OracleManager::from_url("oracle://scott:tiger@//db.example.com:1521/FREEPDB1").unwrap();
        assert_eq!(m.username(), "scott");
        assert_eq!(m.password.0, "tiger");
        assert_eq!(m.connect_string(), "//db.example.com:1521/FREEPDB1");
        assert!(!m.external_auth);

        let m = OracleManager::from_url("oracle://scott:tiger@db.example.com:1521/FREEPDB1").unwrap();
        assert_eq!(m.connect_string(), "db.example.com:1521/FREEPDB1");
        let m = OracleManager::from_url("ORACLE://scott:tiger@ORCL").unwrap();
        assert_eq!(m.connect_string(), "ORCL");
        let m = OracleManager::from_url("oracle://scott:tiger@[::1]:1522/svc:pooled").unwrap();
        assert_eq!(m.connect_string(), "[::1]:1522/svc:pooled");

        // Percent-encoded user and password; an unencoded `@` in the password still works.
        let m = OracleManager::from_url("oracle://app%20user:p%40ss%3Aw%2Fd%25@//h/s").unwrap();
        assert_eq!(m.username(), "app user");
        assert_eq!(m.password.0, "p@ss:w/d%");
        let m = OracleManager::from_url("oracle://u:p@ss@//h/s").unwrap();
        assert_eq!(m.password.0, "p@ss");
        assert_eq!(m.connect_string(), "//h/s");

        // No user and password: external authentication.
        let m = OracleManager::from_url("oracle://wallet_alias").unwrap();
        assert!(m.external_auth);
        assert_eq!(m.username(), "");
        assert_eq!(m.connect_string(), "wallet_alias");
        assert!(OracleManager::from_url("oracle://@//h/s").unwrap().external_auth);

        // A descriptor, percent-encoded.
        let m = OracleManager::from_url(
            "oracle://u:p@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=h)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=s)))",
        )
        .unwrap();
        assert!(m.connect_string().starts_with("(DESCRIPTION="));
    }

    #[test]
    fn url_parameters_set_the_options() {
        let m = OracleManager::from_url(
            "oracle://u:p@//h:1521/s?connect_timeout=5&call_timeout_ms=2500&stmt_cache_size=50&events=true&autocommit=on\
             &init=ALTER+SESSION+SET+TIME_ZONE+%3D+%27UTC%27&init=ALTER%20SESSION%20SET%20NLS_SORT%3DBINARY\
             &edition=E1&driver_name=pond&privilege=SYSDBA",
        )
        .unwrap();
        assert_eq!(m.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(m.call_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(m.stmt_cache_size, Some(50));
        assert!(m.events && m.autocommit);
        assert_eq!(
            m.init_statements(),
            [
                "ALTER SESSION SET TIME_ZONE = 'UTC'",
                "ALTER SESSION SET NLS_SORT=BINARY"
            ]
        );
        assert_eq!(m.edition.as_deref(), Some("E1"));
        assert_eq!(m.driver_name.as_deref(), Some("pond"));
        assert_eq!(m.privilege, Some(Privilege::Sysdba));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "//h:1521/s?connect_timeout=5"
        );

        let m = OracleManager::from_url("oracle://u:p@//h/s?connect_timeout=0&call_timeout_ms=0").unwrap();
        assert_eq!((m.connect_timeout, m.call_timeout), (None, None));
    }

    #[test]
    fn bad_urls_say_what_is_accepted() {
        let err = url_err("postgres://u:p@h/db");
        assert_eq!(err.option, "url");
        assert!(
            err.message.contains("oracle://") && err.message.contains("tns_alias"),
            "{err}"
        );

        let err = url_err("oracle://u:p@//h/s?colour=blue");
        assert!(err.message.contains("`colour`"), "{err}");
        assert!(err.message.contains(ACCEPTED_PARAMS), "{err}");

        let err = url_err("oracle://u:p@");
        assert!(err.message.contains("names no database"), "{err}");
        let err = url_err("oracle://u:p@//h:15x1/s");
        assert!(
            err.message.contains("port `15x1`") && err.message.contains("1 to 65535"),
            "{err}"
        );
        let err = url_err("oracle://u:p@//:1521/s");
        assert!(err.message.contains("names no host"), "{err}");
        let err = url_err("oracle://u@//h/s");
        assert!(err.message.contains("user `u` has no password"), "{err}");
        let err = url_err("oracle://:p@//h/s");
        assert!(err.message.contains("user name is empty"), "{err}");
        let err = url_err("oracle://u:p@//h/s?connect_timeout=soon");
        assert!(err.message.contains("whole number of seconds"), "{err}");
        let err = url_err("oracle://u:p@//h/s?autocommit=maybe");
        assert!(err.message.contains("true or false"), "{err}");
        let err = url_err("oracle://u:p@//h/s?privilege=root");
        assert!(err.message.contains("sysdba, sysoper"), "{err}");
        let err = url_err("oracle://u:p@//h/s?init=");
        assert!(err.message.contains("`init` is empty"), "{err}");
        let err = url_err("oracle://u:p%4@//h/s");
        assert!(
            err.message.contains("password is not valid percent-encoding"),
            "{err}"
        );
    }

    #[test]
    fn errors_never_quote_the_password() {
        let urls = [
            format!("oracle://scott:{SECRET}@//h/s?colour=blue"),
            format!("oracle://scott:{SECRET}@//h:x/s"),
            format!("oracle://scott:{SECRET}@alias?connect_timeout=3"),
            format!("oracle://scott:{SECRET}%zz@//h/s"),
            // An unencoded `?` in the password puts part of it in the query.
            format!("oracle://scott:ab?{SECRET}@//h/s"),
            format!("mysql://scott:{SECRET}@h/db"),
        ];
        for url in urls {
            let err = url_err(&url);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET), "{shown}");
        }
    }

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
    fn connect_timeout_goes_into_the_connect_string() {
        let m = OracleManager::new("u", "p", "//h:1521/s").connect_timeout(Duration::from_millis(2500));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "//h:1521/s?connect_timeout=3"
        );
        let m = OracleManager::new("u", "p", "tcps://h:2484/s?ssl_server_dn_match=on")
            .connect_timeout(Duration::from_millis(10));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "tcps://h:2484/s?ssl_server_dn_match=on&connect_timeout=1"
        );
        let m = OracleManager::new(
            "u",
            "p",
            "(description = (address=(protocol=tcp)(host=h)(port=1521))(connect_data=(service_name=s)))",
        )
        .connect_timeout(Duration::from_secs(4));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "(description =(CONNECT_TIMEOUT=4) (address=(protocol=tcp)(host=h)(port=1521))(connect_data=(service_name=s)))"
        );
        let m = OracleManager::new(
            "u",
            "p",
            "(DESCRIPTION_LIST=(DESCRIPTION=(ADDRESS=(HOST=a)))(DESCRIPTION=(ADDRESS=(HOST=b))))",
        )
        .connect_timeout(Duration::from_secs(1));
        assert_eq!(
            m.effective_connect_string().unwrap(),
            "(DESCRIPTION_LIST=(DESCRIPTION=(CONNECT_TIMEOUT=1)(ADDRESS=(HOST=a)))(DESCRIPTION=(CONNECT_TIMEOUT=1)(ADDRESS=(HOST=b))))"
        );
        // A net service name cannot take one: said at once by from_url, at connect otherwise.
        let err = url_err("oracle://u:p@ORCL?connect_timeout=5");
        assert_eq!(err.option, "connect_timeout");
        assert!(
            err.message.contains("tnsnames.ora") && err.message.contains("//ORCL"),
            "{err}"
        );
        let m = OracleManager::new("u", "p", "ORCL").connect_timeout(Duration::from_secs(5));
        assert!(m.effective_connect_string().is_err());
        assert_eq!(
            OracleManager::new("u", "p", "ORCL")
                .effective_connect_string()
                .unwrap(),
            "ORCL"
        );
    }

    fn ora(message: &str) -> ::oracle::Error {
        ::oracle::Error::new(ErrorKind::OciError, message.to_owned())
    }

    fn dpi(message: &str) -> ::oracle::Error {
        ::oracle::Error::new(ErrorKind::DpiError, message.to_owned())
    }

    #[test]
    fn lost_connections_are_recognised() {
        for lost in [
            ora("ORA-03113: end-of-file on communication channel"),
            ora("ORA-03114: not connected to ORACLE"),
            ora("ORA-03135: connection lost contact\nProcess ID: 123"),
            ora("ORA-00028: your session has been killed"),
            ora("ORA-01012: not logged on"),
            ora("ORA-02396: exceeded maximum idle time, please connect again"),
            ora("ORA-01092: ORACLE instance terminated. Disconnection forced"),
            ora("ORA-12537: TNS:connection closed"),
            dpi("DPI-1010: not connected"),
            dpi(
                "DPI-1080: connection was closed by ORA-03113\nORA-03113: end-of-file on communication channel",
            ),
        ] {
            assert!(is_lost_connection(&lost), "{lost}");
        }
        for alive in [
            ora("ORA-00001: unique constraint (U.PK) violated"),
            ora("ORA-00942: table or view does not exist"),
            ora("ORA-01017: invalid username/password; logon denied"),
            ora("ORA-12541: TNS:no listener"),
            ora("ORA-12170: TNS:Connect timeout occurred"),
            ora("ORA-00031: session marked for kill"),
            dpi("DPI-1067: call timeout of 500 ms exceeded with ORA-03156"),
            dpi(
                "DPI-1047: Cannot locate a 64-bit Oracle Client library: \"libclntsh.so: cannot open shared object file\"",
            ),
            ::oracle::Error::new(
                ErrorKind::InvalidOperation,
                "ORA-03113 mentioned in passing".to_owned(),
            ),
        ] {
            assert!(!is_lost_connection(&alive), "{alive}");
        }
    }

    #[test]
    fn leading_code_finds_the_outer_error() {
        assert_eq!(leading_code("OCI Error: ORA-03113: eof"), Some(Code::Ora(3113)));
        assert_eq!(
            leading_code("DPI Error: DPI-1080: connection was closed by ORA-03113"),
            Some(Code::Dpi(1080))
        );
        assert_eq!(leading_code("no code here; ORA- alone"), None);
    }

    fn after(steps: &[(&str, bool)]) -> TransactionState {
        let mut s = TxState::new();
        for (sql, autocommit) in steps {
            s.before(sql, *autocommit);
            s.after(true, *autocommit);
        }
        s.report(None)
    }

    #[test]
    fn the_tracker_follows_statements_and_autocommit() {
        use TransactionState::*;
        assert_eq!(after(&[("SELECT 1 FROM dual", false)]), Idle);
        assert_eq!(after(&[("INSERT INTO t VALUES (1)", false)]), Active);
        assert_eq!(
            after(&[
                ("INSERT INTO t VALUES (1)", false),
                ("CREATE TABLE u (x NUMBER)", false)
            ]),
            Idle
        );
        assert_eq!(after(&[("SELECT x FROM t FOR UPDATE", false)]), Active);
        // Autocommit: DML commits as it succeeds, and commits what was open before.
        assert_eq!(after(&[("INSERT INTO t VALUES (1)", true)]), Idle);
        assert_eq!(
            after(&[("UPDATE t SET x = 1", false), ("SELECT 1 FROM dual", true)]),
            Idle
        );
        assert_eq!(after(&[("BEGIN p; END;", true)]), Idle);

        // A failed statement keeps the assumption made before it ran.
        let mut s = TxState::new();
        s.before("INSERT INTO t VALUES (1)", true);
        s.after(false, true);
        assert_eq!(s.report(None), Idle);
        s.before("INSERT INTO t VALUES (1)", false);
        s.after(false, false);
        assert_eq!(s.report(None), Active);
        s.ended();
        assert_eq!(s.report(None), Idle);
        s.lost_track();
        assert_eq!(s.report(None), Unknown);
    }

    #[test]
    fn the_session_attribute_is_believed_once_it_has_reported_a_transaction() {
        use TransactionState::*;
        let mut s = TxState::new();
        // Not yet proven: "no transaction" does not overrule the tracker.
        s.before("BEGIN p; END;", false);
        assert_eq!(s.report(Some(false)), Active);
        s.lost_track();
        assert_eq!(s.report(Some(false)), Unknown);
        // A transaction the tracker cannot see (a query over a database link).
        s.ended();
        s.before("SELECT * FROM t@remote", false);
        assert_eq!(s.report(Some(true)), Active);
        // Proven: from now on it decides.
        s.before("BEGIN p; COMMIT; END;", false);
        assert_eq!(s.report(Some(false)), Idle);
        s.lost_track();
        assert_eq!(s.report(Some(false)), Idle);
        assert_eq!(s.report(Some(true)), Active);
        // Unreadable (closed connection): the tracker again, which has heard the attribute.
        assert_eq!(s.report(None), Active);
        s.lost_track();
        assert_eq!(s.report(None), Unknown);
    }
}
