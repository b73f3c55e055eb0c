//! Pool options, their defaults, their validation, and the builder.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::error::{ConfigError, Error};
use crate::manage::ManageConnection;
use crate::observe::HandleEvent;
use crate::pool::Pool;

/// What the pool does to a connection given back, before anyone else may use it.
///
/// SQLAlchemy's `reset_on_return`. With `Rollback` and `Commit` the pool asks the backend whether
/// a transaction is open and makes no round trip when none is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ResetOnReturn {
    /// Roll back an open transaction (the default).
    #[default]
    Rollback,
    /// Commit an open transaction.
    Commit,
    /// Do nothing: the borrower is trusted to leave the connection clean.
    Nothing,
    /// Run this statement on every return, transaction or not (for example `DISCARD ALL`).
    Statement(String),
}

/// Every option of a pool. Each field documents its default and its names elsewhere:
/// Django's `POOL_OPTIONS` key (from django-db-connection-pool), SQLAlchemy's `QueuePool`
/// argument, and r2d2's builder method.
///
/// Set fields on [`PoolOptions::default()`] or use [`Builder`]; [`PoolOptions::validate`] says
/// what is wrong with a combination.
///
/// Every duration option accepts any [`Duration`], `Duration::MAX` included (zero is refused
/// where an option says so): the pool's arithmetic on them saturates, and a duration too long
/// for the clock to reach is simply never reached.
#[derive(Clone)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Connections kept open. Default 10. Django `POOL_SIZE`, SQLAlchemy `pool_size`,
    /// r2d2 `max_size` (which has no overflow). At least 1.
    pub pool_size: usize,
    /// Connections allowed beyond `pool_size` while demand is high; they are closed on return
    /// when `pool_size` are already idle. `None` is unlimited (up to 4096 connections). Default `Some(10)`. Django
    /// `MAX_OVERFLOW`, SQLAlchemy `max_overflow` (-1 for unlimited); r2d2 has none.
    pub max_overflow: Option<usize>,
    /// Idle connections the reaper keeps open (and `build` opens). Default 0. HikariCP
    /// `minimumIdle`, r2d2 `min_idle`. At most `pool_size`.
    pub min_idle: usize,
    /// At most this many connections are opened at once. A checkout that finds a free slot
    /// while this many are opening waits for a connection to come back or for an opening to
    /// finish, so a burst of requests does not open a connection per request when connections
    /// are slow to open and quick to come back (HikariCP opens them one at a time). Default 2.
    /// At least 1.
    pub connect_concurrency: usize,
    /// Waiters are served strictly first come, first served once the oldest has waited this long;
    /// below it, a running thread may take a connection that comes back before a sleeping
    /// waiter wakes for it (as r2d2, SQLAlchemy and HikariCP always allow), which spares a
    /// thread wake-up per checkout when threads outnumber connections. Zero makes the queue
    /// strict from the first waiter. Default 5 ms. Any duration: one longer than checkouts wait
    /// never makes the queue strict.
    pub fairness_window: Duration,
    /// The longest a checkout waits for a connection. Default 30 s. Django `TIMEOUT`,
    /// SQLAlchemy `pool_timeout`, r2d2 `connection_timeout`. Greater than zero; any longer
    /// duration, `Duration::MAX` included, is accepted (a checkout then waits as long as it takes).
    pub timeout: Duration,
    /// A connection's lifetime: older ones are closed and replaced when next touched. Each
    /// connection's lifetime is shortened by a random 0–2.5% so they do not all expire together.
    /// `None` keeps connections forever, and so does a lifetime longer than the pool's clock
    /// counts (about 584 years). Default 900 s. Django `RECYCLE`, SQLAlchemy `pool_recycle`,
    /// r2d2 `max_lifetime`. Greater than zero.
    pub recycle: Option<Duration>,
    /// Idle connections unused for this long are closed by the reaper, down to `min_idle`.
    /// `None` never closes them for idleness. Default 600 s; may not be longer than `recycle` (the builder
    /// drops the default when `recycle` is set shorter).
    /// HikariCP `idleTimeout`, r2d2 `idle_timeout`. Greater than zero.
    pub idle_timeout: Option<Duration>,
    /// Validate a connection before handing it out, unless it was used within
    /// `pre_ping_bypass`. Default on. Django `PRE_PING`, SQLAlchemy `pool_pre_ping`,
    /// r2d2 `test_on_check_out`.
    pub pre_ping: bool,
    /// A connection used this recently is handed out without a ping. Default 500 ms; zero pings
    /// every checkout, `Duration::MAX` none. HikariCP's `aliveBypassWindowMs`.
    pub pre_ping_bypass: Duration,
    /// The longest one validation may take (it is also bounded by the checkout's own deadline).
    /// Default 5 s. HikariCP `validationTimeout`. Greater than zero.
    pub validation_timeout: Duration,
    /// What is done to a connection given back. Default [`ResetOnReturn::Rollback`], only when
    /// a transaction is open. SQLAlchemy `reset_on_return`.
    pub reset_on_return: ResetOnReturn,
    /// Hand out the most recently returned idle connection first (`true`, the default), which
    /// lets surplus connections age out; `false` is first-in first-out. SQLAlchemy `use_lifo`.
    pub lifo: bool,
    /// A checkout held longer than this is logged once as a possible leak, with the borrower's
    /// backtrace. `None` (the default) turns leak detection off, and no backtrace is captured.
    /// HikariCP `leakDetectionThreshold`. Greater than zero.
    pub leak_threshold: Option<Duration>,
    /// How often the reaper runs. Default 30 s. r2d2's reaper rate (fixed at 30 s there).
    /// Greater than zero. A rate too long for the clock to schedule (`Duration::MAX`, or about
    /// 292 billion years on Linux) means the reaper never runs: no idle timeout, keepalive,
    /// leak report or `min_idle` refill.
    pub reaper_rate: Duration,
    /// Idle connections unused for this long are pinged by the reaper, so that firewalls and
    /// servers do not drop them silently. `None` (the default) turns it off. Must be shorter
    /// than `recycle`, and greater than zero. HikariCP `keepaliveTime`.
    pub keepalive: Option<Duration>,
    /// Log every pool event (connect, checkout, checkin, reset, invalidate, close) through the
    /// `log` crate at info level. Default off. Django `ECHO`, SQLAlchemy `echo_pool`.
    pub echo: bool,
    /// The pool's name in log lines and thread names. Default `"millpond"`. HikariCP `poolName`.
    /// Any text but the empty one: log lines, events, `Debug` and [`Pool::options`] show it as
    /// given; thread names show each control character (a NUL byte, a newline) as `?`, since a
    /// thread's name cannot hold a NUL.
    pub name: String,
    /// Called on every pool event, outside the pool's lock. Default none. SQLAlchemy's pool
    /// events, r2d2 `event_handler`.
    pub event_handler: Option<Arc<dyn HandleEvent>>,
    /// A cap on the connections open at once across every process that names the same
    /// `cap_file`: the workers of a prefork server, each with its own pool. Opening a connection
    /// first takes one of these slots (waiting for one counts against `timeout`); closing it
    /// gives the slot back, and the kernel gives back a dead process's slots. `None` (the
    /// default) sets no cap beyond each pool's own `pool_size + max_overflow`. At least 1;
    /// needs `cap_file`.
    pub max_total_connections: Option<usize>,
    /// The file whose byte-range locks hold the slots of `max_total_connections`, one byte per
    /// slot; every process sharing the cap must name the same file. It is created if missing.
    /// Default none; required with `max_total_connections`.
    pub cap_file: Option<PathBuf>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            pool_size: 10,
            max_overflow: Some(10),
            min_idle: 0,
            connect_concurrency: 2,
            fairness_window: Duration::from_millis(5),
            timeout: Duration::from_secs(30),
            recycle: Some(Duration::from_secs(900)),
            idle_timeout: Some(Duration::from_secs(600)),
            pre_ping: true,
            pre_ping_bypass: Duration::from_millis(500),
            validation_timeout: Duration::from_secs(5),
            reset_on_return: ResetOnReturn::Rollback,
            lifo: true,
            leak_threshold: None,
            reaper_rate: Duration::from_secs(30),
            keepalive: None,
            echo: false,
            name: "millpond".to_owned(),
            event_handler: None,
            max_total_connections: None,
            cap_file: None,
        }
    }
}

impl fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolOptions")
            .field("pool_size", &self.pool_size)
            .field("max_overflow", &self.max_overflow)
            .field("min_idle", &self.min_idle)
            .field("connect_concurrency", &self.connect_concurrency)
            .field("fairness_window", &self.fairness_window)
            .field("timeout", &self.timeout)
            .field("recycle", &self.recycle)
            .field("idle_timeout", &self.idle_timeout)
            .field("pre_ping", &self.pre_ping)
            .field("pre_ping_bypass", &self.pre_ping_bypass)
            .field("validation_timeout", &self.validation_timeout)
            .field("reset_on_return", &self.reset_on_return)
            .field("lifo", &self.lifo)
            .field("leak_threshold", &self.leak_threshold)
            .field("reaper_rate", &self.reaper_rate)
            .field("keepalive", &self.keepalive)
            .field("echo", &self.echo)
            .field("name", &self.name)
            .field("event_handler", &self.event_handler.as_ref().map(|_| "…"))
            .field("max_total_connections", &self.max_total_connections)
            .field("cap_file", &self.cap_file)
            .finish()
    }
}

impl PoolOptions {
    /// The most connections that may exist at once (`pool_size + max_overflow`), `None` when
    /// overflow is unlimited.
    pub fn max_connections(&self) -> Option<usize> {
        self.max_overflow
            .map(|overflow| self.pool_size.saturating_add(overflow))
    }

    /// Checks the options, one by one and together. The error names the option and says what
    /// is accepted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn positive(option: &'static str, value: Duration) -> Result<(), ConfigError> {
            if value.is_zero() {
                return Err(ConfigError::new(option, "must be greater than zero (got 0)"));
            }
            Ok(())
        }
        if self.pool_size == 0 {
            return Err(ConfigError::new(
                "pool_size",
                "must be at least 1 (got 0); to allow bursts above the kept connections use max_overflow",
            ));
        }
        if self.min_idle > self.pool_size {
            return Err(ConfigError::new(
                "min_idle",
                format!(
                    "must be at most pool_size ({}) (got {})",
                    self.pool_size, self.min_idle
                ),
            ));
        }
        if self.connect_concurrency == 0 {
            return Err(ConfigError::new(
                "connect_concurrency",
                "must be at least 1 (got 0): it is how many connections may be opened at once",
            ));
        }
        positive("timeout", self.timeout)?;
        positive("validation_timeout", self.validation_timeout)?;
        positive("reaper_rate", self.reaper_rate)?;
        if let Some(recycle) = self.recycle {
            positive("recycle", recycle)?;
        }
        if let Some(idle) = self.idle_timeout {
            positive("idle_timeout", idle)?;
            if let Some(recycle) = self.recycle
                && idle > recycle
            {
                return Err(ConfigError::new(
                    "idle_timeout",
                    format!(
                        "must not be longer than recycle ({recycle:?}) (got {idle:?}); lower it, or set it to None to close idle connections only when they expire"
                    ),
                ));
            }
        }
        if let Some(threshold) = self.leak_threshold {
            positive("leak_threshold", threshold)?;
        }
        if let Some(keepalive) = self.keepalive {
            positive("keepalive", keepalive)?;
            if let Some(recycle) = self.recycle
                && keepalive >= recycle
            {
                return Err(ConfigError::new(
                    "keepalive",
                    format!(
                        "must be shorter than recycle ({recycle:?}) (got {keepalive:?}), or the connection is replaced before it would be pinged"
                    ),
                ));
            }
        }
        if let ResetOnReturn::Statement(sql) = &self.reset_on_return
            && sql.trim().is_empty()
        {
            return Err(ConfigError::new(
                "reset_on_return",
                "a reset statement must not be empty; use ResetOnReturn::Nothing to skip the reset",
            ));
        }
        match (self.max_total_connections, &self.cap_file) {
            (Some(0), _) => {
                return Err(ConfigError::new(
                    "max_total_connections",
                    "must be at least 1 (got 0); use None for no cap across processes",
                ));
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "max_total_connections",
                    "needs cap_file: the file every process sharing the cap locks its slots in",
                ));
            }
            (None, Some(file)) => {
                return Err(ConfigError::new(
                    "cap_file",
                    format!(
                        "is set ({}) but max_total_connections is not; set both, or neither",
                        file.display()
                    ),
                ));
            }
            _ => {}
        }
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        Ok(())
    }
}

/// Builds a [`Pool`], r2d2-style: `Pool::builder().pool_size(4).build(manager)`.
///
/// Each setter takes the builder and returns it; one whose result is dropped set nothing, so
/// the type is `#[must_use]` (and so are the setters, which return it):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// fn configure<M: millpond::ManageConnection>(builder: millpond::Builder<M>) {
///     builder.pool_size(4); // dropped: the size is lost
/// }
/// ```
#[must_use = "a builder does nothing until `build` is called; a setter returns the changed builder"]
pub struct Builder<M> {
    options: PoolOptions,
    /// Whether `idle_timeout` was chosen rather than left at its default: a default longer than
    /// a chosen `recycle` is dropped, a chosen one is refused.
    idle_timeout_chosen: bool,
    manager: PhantomData<fn() -> M>,
}

impl<M> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").field("options", &self.options).finish()
    }
}

/// The defaults set by [`setup`]; `None` until it is called.
static GLOBAL_DEFAULTS: RwLock<Option<PoolOptions>> = RwLock::new(None);

/// Sets the options every pool made afterwards starts from (`Pool::builder()`, `Pool::new` and
/// the pools the settings registry makes), as `dj_db_conn_pool.setup(pool_size=…)` does. Options
/// a builder or a `POOL_OPTIONS` entry sets still win. Pools made before keep their options.
///
/// The defaults are validated first; a refused one changes nothing.
///
/// ```
/// use std::time::Duration;
/// use millpond::PoolOptions;
///
/// let mut defaults = PoolOptions::default();
/// defaults.pool_size = 4;
/// defaults.timeout = Duration::from_secs(5);
/// millpond::settings::setup(defaults).unwrap();
/// assert_eq!(millpond::settings::pool_defaults().pool_size, 4);
/// # millpond::settings::reset_pool_defaults();
/// ```
pub fn setup(defaults: PoolOptions) -> Result<(), ConfigError> {
    defaults.validate()?;
    *GLOBAL_DEFAULTS.write().unwrap_or_else(PoisonError::into_inner) = Some(defaults);
    Ok(())
}

/// Puts the built-in defaults ([`PoolOptions::default()`]) back for pools made afterwards,
/// undoing [`setup`].
pub fn reset_pool_defaults() {
    *GLOBAL_DEFAULTS.write().unwrap_or_else(PoisonError::into_inner) = None;
}

/// The options a pool made now starts from: those given to [`setup`], else
/// [`PoolOptions::default()`].
pub fn pool_defaults() -> PoolOptions {
    GLOBAL_DEFAULTS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

impl<M: ManageConnection> Default for Builder<M> {
    /// Starts from [`pool_defaults`]: the built-in defaults, or those given to [`setup`].
    fn default() -> Self {
        Builder {
            options: pool_defaults(),
            idle_timeout_chosen: false,
            manager: PhantomData,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.options.$name = value;
            self
        }
    )*};
}

/// Setters for optional options: they take the value itself or `None` (`.recycle(d)`,
/// `.recycle(None)`).
macro_rules! optional_setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: impl Into<Option<$ty>>) -> Self {
            self.options.$name = value.into();
            self
        }
    )*};
}

impl<M: ManageConnection> Builder<M> {
    /// A builder starting from `options`.
    pub fn from_options(options: PoolOptions) -> Self {
        Builder {
            options,
            idle_timeout_chosen: true,
            manager: PhantomData,
        }
    }

    setters! {
        /// See [`PoolOptions::pool_size`] (default 10).
        pool_size: usize;
        /// See [`PoolOptions::min_idle`] (default 0).
        min_idle: usize;
        /// See [`PoolOptions::connect_concurrency`] (default 2).
        connect_concurrency: usize;
        /// See [`PoolOptions::fairness_window`] (default 5 ms).
        fairness_window: Duration;
        /// See [`PoolOptions::timeout`] (default 30 s).
        timeout: Duration;
        /// See [`PoolOptions::pre_ping`] (default on).
        pre_ping: bool;
        /// See [`PoolOptions::pre_ping_bypass`] (default 500 ms).
        pre_ping_bypass: Duration;
        /// See [`PoolOptions::validation_timeout`] (default 5 s).
        validation_timeout: Duration;
        /// See [`PoolOptions::reset_on_return`] (default rollback when a transaction is open).
        reset_on_return: ResetOnReturn;
        /// See [`PoolOptions::lifo`] (default `true`).
        lifo: bool;
        /// See [`PoolOptions::reaper_rate`] (default 30 s).
        reaper_rate: Duration;
        /// See [`PoolOptions::echo`] (default off).
        echo: bool;
    }

    optional_setters! {
        /// See [`PoolOptions::max_overflow`] (default 10; `None` for unlimited).
        max_overflow: usize;
        /// See [`PoolOptions::recycle`] (default 900 s; `None` keeps connections forever).
        recycle: Duration;
        /// See [`PoolOptions::leak_threshold`] (default off).
        leak_threshold: Duration;
        /// See [`PoolOptions::keepalive`] (default off).
        keepalive: Duration;
        /// See [`PoolOptions::max_total_connections`] (default none; needs `cap_file`).
        max_total_connections: usize;
    }

    /// See [`PoolOptions::cap_file`] (default none; required with `max_total_connections`).
    pub fn cap_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.cap_file = Some(path.into());
        self
    }

    /// See [`PoolOptions::idle_timeout`] (default 600 s; `None` never closes for idleness). Left
    /// at its default, it is dropped when `recycle` is shorter (connections then close when
    /// they expire, as HikariCP does); chosen longer than `recycle`, it is refused.
    pub fn idle_timeout(mut self, value: impl Into<Option<Duration>>) -> Self {
        self.options.idle_timeout = value.into();
        self.idle_timeout_chosen = true;
        self
    }

    /// See [`PoolOptions::name`] (default `"millpond"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options.name = name.into();
        self
    }

    /// See [`PoolOptions::event_handler`] (default none).
    pub fn event_handler(mut self, handler: impl HandleEvent) -> Self {
        self.options.event_handler = Some(Arc::new(handler));
        self
    }

    /// r2d2's `max_size`: a pool of `max_size` connections with no overflow.
    pub fn max_size(self, max_size: usize) -> Self {
        self.pool_size(max_size).max_overflow(0)
    }

    /// r2d2's `connection_timeout`: the same as [`Builder::timeout`].
    pub fn connection_timeout(self, timeout: Duration) -> Self {
        self.timeout(timeout)
    }

    /// r2d2's `max_lifetime`: the same as [`Builder::recycle`].
    pub fn max_lifetime(self, lifetime: impl Into<Option<Duration>>) -> Self {
        self.recycle(lifetime)
    }

    /// r2d2's `test_on_check_out`: the same as [`Builder::pre_ping`].
    pub fn test_on_check_out(self, test: bool) -> Self {
        self.pre_ping(test)
    }

    /// The options as set so far.
    pub fn options(&self) -> &PoolOptions {
        &self.options
    }

    /// Validates the options, makes the pool and opens `min_idle` connections (at most
    /// `connect_concurrency` at once), failing with [`Error::Connect`] if one cannot be opened
    /// and with [`Error::Timeout`] if they are not all open within `timeout`.
    pub fn build(self, manager: M) -> Result<Pool<M>, Error> {
        let pool = self.build_unchecked(manager)?;
        pool.fill_min_idle()?;
        Ok(pool)
    }

    /// Validates the options and makes the pool without opening any connection: the first
    /// checkouts (or the reaper) open them.
    pub fn build_unchecked(mut self, manager: M) -> Result<Pool<M>, Error> {
        if !self.idle_timeout_chosen
            && let (Some(idle), Some(recycle)) = (self.options.idle_timeout, self.options.recycle)
            && idle > recycle
        {
            self.options.idle_timeout = None;
        }
        self.options.validate()?;
        Ok(Pool::from_parts(manager, self.options))
    }
}
