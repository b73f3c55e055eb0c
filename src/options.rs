//! The one table of pool options: each option is declared once, in [`for_each_option!`], with
//! its type, default, bounds, names elsewhere and doc. Each room that needs the options makes
//! its part from that table: this module makes [`PoolOptions`], its defaults, its per-option
//! checks and the documentation table; the builder makes its setters (`pool/builder.rs`); the
//! settings make the `POOL_OPTIONS` keys and URL query parameters (`databases/pool_options.rs`).
//! Adding an option is one entry here (and its use in the pool).

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::error::ConfigError;

/// What the pool does to a connection given back, before anyone else may use it.
///
/// SQLAlchemy's `reset_on_return`. With `Rollback` and `Commit` the pool asks the backend whether
/// a transaction is open and makes no round trip when none is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
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

/// Calls `$make!` with the table of pool options. Each entry is:
///
/// ```text
/// /// doc (becomes the PoolOptions field's doc)
/// field: Type = default;
/// set(argument: SetterArgumentType) => value stored;   // the builder's setter
/// check bound;                  // fn(option name, &value) -> Result<(), ConfigError>
/// settings parser;              // reads the POOL_OPTIONS key / URL parameter (the field's
///                               // name in upper case); `code_only` for none
/// table "default", "SQLAlchemy", "r2d2", "HikariCP";   // the README's option table
/// ```
///
/// Paths inside the entries are written from the crate root, since they are resolved where
/// `$make!` expands.
macro_rules! for_each_option {
    ($make:ident) => {
        $make! {
            /// Connections kept open. Default 10. Django `POOL_SIZE`, SQLAlchemy `pool_size`,
            /// r2d2 `max_size` (which has no overflow). At least 1.
            pool_size: usize = 10;
            set(value: usize) => value;
            check crate::options::at_least_one("; to allow bursts above the kept connections use max_overflow");
            settings count;
            table "10", "`pool_size`", "`max_size` (no overflow)", "`maximumPoolSize` (no overflow)";

            /// Connections allowed beyond `pool_size` while demand is high; they are closed on
            /// return when `pool_size` are already idle. `None` is unlimited (up to 4096
            /// connections). Default `Some(10)`. Django `MAX_OVERFLOW`, SQLAlchemy
            /// `max_overflow` (-1 for unlimited); r2d2 has none.
            max_overflow: Option<usize> = Some(10);
            set(value: impl Into<Option<usize>>) => value.into();
            check crate::options::any;
            settings optional_count;
            table "10; `None` = unlimited (up to 4096)", "`max_overflow` (-1 = unlimited)", "—", "—";

            /// Idle connections the reaper keeps open (and `build` opens). Default 0. HikariCP
            /// `minimumIdle`, r2d2 `min_idle`. At most `pool_size`.
            min_idle: usize = 0;
            set(value: usize) => value;
            check crate::options::any;
            settings count;
            table "0", "—", "`min_idle`", "`minimumIdle`";

            /// At most this many connections are opened at once. A checkout that finds a free
            /// slot while this many are opening waits for a connection to come back or for an
            /// opening to finish, so a burst of requests does not open a connection per request
            /// when connections are slow to open and quick to come back (HikariCP opens them one
            /// at a time). Default 2. At least 1.
            connect_concurrency: usize = 2;
            set(value: usize) => value;
            check crate::options::at_least_one(": it is how many connections may be opened at once");
            settings count;
            table "2", "—", "—", "opens one at a time";

            /// Waiters are served strictly first come, first served once the oldest has waited
            /// this long; below it, a running thread may take a connection that comes back
            /// before a sleeping waiter wakes for it (as r2d2, SQLAlchemy and HikariCP always
            /// allow), which spares a thread wake-up per checkout when threads outnumber
            /// connections. Zero makes the queue strict from the first waiter. Default 5 ms. Any
            /// duration: one longer than checkouts wait never makes the queue strict.
            fairness_window: std::time::Duration = std::time::Duration::from_millis(5);
            set(value: std::time::Duration) => value;
            check crate::options::any;
            settings seconds;
            table "5 ms; zero = strictly first come, first served", "—", "—", "—";

            /// The longest a checkout waits for a connection. Default 30 s. Django `TIMEOUT`,
            /// SQLAlchemy `pool_timeout`, r2d2 `connection_timeout`. Greater than zero; any
            /// longer duration, `Duration::MAX` included, is accepted (a checkout then waits as
            /// long as it takes).
            timeout: std::time::Duration = std::time::Duration::from_secs(30);
            set(value: std::time::Duration) => value;
            check crate::options::positive;
            settings seconds;
            table "30 s", "`pool_timeout`", "`connection_timeout`", "`connectionTimeout`";

            /// The most checkouts that may wait for a connection at once: past it, a checkout
            /// that would wait fails at once with [`Error::QueueFull`](crate::Error::QueueFull),
            /// which names the counts, so that an overloaded server sheds requests instead of
            /// queueing them until they time out. 0 (the default) sets no limit. A checkout
            /// that waits beside a connect of its own is never refused. psycopg_pool
            /// `max_waiting`.
            max_waiting: usize = 0;
            set(value: usize) => value;
            check crate::options::any;
            settings count;
            table "0: no limit", "—", "—", "—";

            /// A connection's lifetime: older ones are closed and replaced when next touched.
            /// Each connection's lifetime is shortened by a random 0–2.5% so they do not all
            /// expire together. `None` keeps connections forever, and so does a lifetime longer
            /// than the pool's clock counts (about 584 years). Default 900 s. Django `RECYCLE`,
            /// SQLAlchemy `pool_recycle`, r2d2 `max_lifetime`. Greater than zero.
            recycle: Option<std::time::Duration> = Some(std::time::Duration::from_secs(900));
            set(value: impl Into<Option<std::time::Duration>>) => value.into();
            check crate::options::positive;
            settings optional_seconds;
            table "900 s, less 0–2.5% jitter; `None` = forever", "`pool_recycle`", "`max_lifetime`", "`maxLifetime`";

            /// Idle connections unused for this long are closed by the reaper, down to
            /// `min_idle`. `None` never closes them for idleness. Default 600 s. Greater than
            /// zero, and not longer than `recycle`: through the builder's setters or settings, a
            /// default left as it is is dropped when `recycle` is set shorter (connections then
            /// close when they expire, as HikariCP does), and one set longer is refused; options
            /// given whole ([`Builder::from_options`](crate::Builder::from_options),
            /// [`setup`](crate::settings::setup)) are checked as given. HikariCP `idleTimeout`,
            /// r2d2 `idle_timeout`.
            idle_timeout: Option<std::time::Duration> = Some(std::time::Duration::from_secs(600));
            set(value: impl Into<Option<std::time::Duration>>) => value.into();
            check crate::options::positive;
            settings optional_seconds;
            table "600 s (not longer than `recycle`)", "—", "`idle_timeout`", "`idleTimeout`";

            /// Validate a connection before handing it out, unless it was used within
            /// `pre_ping_bypass`. Default on. Django `PRE_PING`, SQLAlchemy `pool_pre_ping`,
            /// r2d2 `test_on_check_out`.
            pre_ping: bool = true;
            set(value: bool) => value;
            check crate::options::any;
            settings boolean;
            table "on", "`pool_pre_ping`", "`test_on_check_out`", "always on";

            /// A connection used this recently is handed out without a ping. Default 500 ms;
            /// zero pings every checkout, `Duration::MAX` none. HikariCP's `aliveBypassWindowMs`.
            pre_ping_bypass: std::time::Duration = std::time::Duration::from_millis(500);
            set(value: std::time::Duration) => value;
            check crate::options::any;
            settings seconds;
            table "500 ms", "—", "—", "`com.zaxxer.hikari.aliveBypassWindowMs`";

            /// The longest one validation may take (it is also bounded by the checkout's own
            /// deadline). Default 5 s. HikariCP `validationTimeout`. Greater than zero.
            validation_timeout: std::time::Duration = std::time::Duration::from_secs(5);
            set(value: std::time::Duration) => value;
            check crate::options::positive;
            settings seconds;
            table "5 s", "—", "—", "`validationTimeout`";

            /// What is done to a connection given back. Default [`ResetOnReturn::Rollback`],
            /// only when a transaction is open. SQLAlchemy `pool_reset_on_return`.
            reset_on_return: crate::options::ResetOnReturn = crate::options::ResetOnReturn::Rollback;
            set(value: crate::options::ResetOnReturn) => value;
            check crate::options::reset_statement;
            settings reset_on_return;
            table "`Rollback` (only when a transaction is open)", "`pool_reset_on_return`", "—", "—";

            /// `true` (the default): hand out the connection this thread gave back last, else
            /// the lowest idle slot, which keeps use on few connections and lets the others age
            /// out. `false`: round robin over the idle ones, spreading use over every
            /// connection. SQLAlchemy `pool_use_lifo`.
            lifo: bool = true;
            set(value: bool) => value;
            check crate::options::any;
            settings boolean;
            table "`true`: this thread's last connection, then the lowest slot", "`pool_use_lifo`", "—", "—";

            /// A checkout held longer than this is logged once as a possible leak, with the
            /// borrower's backtrace. `None` (the default) turns leak detection off, and no
            /// backtrace is captured. HikariCP `leakDetectionThreshold`. Greater than zero.
            leak_threshold: Option<std::time::Duration> = None;
            set(value: impl Into<Option<std::time::Duration>>) => value.into();
            check crate::options::positive;
            settings optional_seconds;
            table "off", "—", "—", "`leakDetectionThreshold`";

            /// How often the reaper runs. Default 30 s. r2d2's reaper rate (fixed at 30 s there).
            /// Greater than zero. A rate too long for the clock to schedule (`Duration::MAX`, or
            /// about 292 billion years on Linux) means the reaper never runs: no idle timeout,
            /// keepalive, leak report or `min_idle` refill.
            reaper_rate: std::time::Duration = std::time::Duration::from_secs(30);
            set(value: std::time::Duration) => value;
            check crate::options::positive;
            settings seconds;
            table "30 s", "—", "fixed at 30 s", "`com.zaxxer.hikari.housekeeping.periodMs`";

            /// Idle connections unused for this long are pinged by the reaper, so that firewalls
            /// and servers do not drop them silently. `None` (the default) turns it off. Must be
            /// shorter than `recycle`, and greater than zero. HikariCP `keepaliveTime`.
            keepalive: Option<std::time::Duration> = None;
            set(value: impl Into<Option<std::time::Duration>>) => value.into();
            check crate::options::positive;
            settings optional_seconds;
            table "off", "—", "—", "`keepaliveTime`";

            /// Log every pool event (connect, checkout, checkin, reset, invalidate, close)
            /// through the `log` crate at info level. Default off. Django `ECHO`, SQLAlchemy
            /// `echo_pool`.
            echo: bool = false;
            set(value: bool) => value;
            check crate::options::any;
            settings boolean;
            table "off", "`echo_pool`", "—", "—";

            /// The pool's name in log lines and thread names. Default `"millpond"`; a pool the
            /// settings registry makes is named after its alias. HikariCP `poolName`. Any text
            /// but the empty one: log lines, events, `Debug` and
            /// [`Pool::options`](crate::Pool::options) show it as given; thread names show each
            /// control character (a NUL byte, a newline) as `?`, since a thread's name cannot
            /// hold a NUL.
            name: String = "millpond".to_owned();
            set(name: impl Into<String>) => name.into();
            check crate::options::not_empty;
            settings text;
            table "`\"millpond\"`", "—", "—", "`poolName`";

            /// Called on every pool event, outside the pool's lock. Default none. SQLAlchemy's
            /// pool events, r2d2 `event_handler`. Settings cannot hold one: set it from code
            /// with `DatabaseSettings::event_handler`.
            event_handler: Option<std::sync::Arc<dyn crate::observe::HandleEvent>> = None;
            set(handler: impl crate::observe::HandleEvent) => Some(std::sync::Arc::new(handler));
            check crate::options::any;
            settings code_only;
            table "none", "pool events", "`event_handler`", "`metricsTrackerFactory` (closest)";

            /// How often the pool publishes its figures to the `metrics` recorder (feature
            /// `metrics`): its counts as gauges and its counters, computed from
            /// [`Pool::state`](crate::Pool::state) and [`Pool::stats`](crate::Pool::stats) on the
            /// pool's own worker threads, never per checkout. `None` turns the pool's metrics off,
            /// histograms included. Default 1 s. Greater than zero; a duration too long for the
            /// clock to schedule means never. Without the feature it does nothing. HikariCP's
            /// metrics tracker; SQLAlchemy, r2d2 have none.
            metrics_interval: Option<std::time::Duration> = Some(std::time::Duration::from_secs(1));
            set(value: impl Into<Option<std::time::Duration>>) => value.into();
            check crate::options::positive;
            settings optional_seconds;
            table "1 s; `None` = no metrics", "—", "—", "`metricRegistry` (closest)";

            /// Sample every checkout into the wait-time histogram (zero when a connection was
            /// ready) and the use-time histogram (from checkout to return), rather than only the
            /// checkouts that waited. Default off: a sample costs more than the checkout it
            /// measures (see "Operating millpond" in the README for the figures), which is nothing
            /// at a database's pace and a large share of the pool's own benchmark. Needs the
            /// `metrics` feature and `metrics_interval`.
            metrics_every_checkout: bool = false;
            set(value: bool) => value;
            check crate::options::any;
            settings boolean;
            table "off: only checkouts that waited", "—", "—", "—";

            /// A cap on the connections open at once across every process that names the same
            /// `cap_file`: the workers of a prefork server, each with its own pool. Opening a
            /// connection first takes one of these slots (waiting for one counts against
            /// `timeout`); closing it gives the slot back, and the kernel gives back a dead
            /// process's slots. `None` (the default) sets no cap beyond each pool's own
            /// `pool_size + max_overflow`. At least 1; needs `cap_file`.
            max_total_connections: Option<usize> = None;
            set(value: impl Into<Option<usize>>) => value.into();
            check crate::options::at_least_one("; use None for no cap across processes");
            settings optional_count;
            table "none: no cap across processes", "—", "—", "—";

            /// The file whose byte-range locks hold the slots of `max_total_connections`, one
            /// byte per slot; every process sharing the cap must name the same file. It is
            /// created if missing. Default none; required with `max_total_connections`.
            cap_file: Option<std::path::PathBuf> = None;
            set(path: impl Into<std::path::PathBuf>) => Some(path.into());
            check crate::options::any;
            settings file_path;
            table "none; required with `max_total_connections`", "—", "—", "—";
        }
    };
}
pub(crate) use for_each_option;

/// Makes [`PoolOptions`], its defaults, [`Chosen`], the table and the per-option checks.
macro_rules! make_options {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $default:expr;
        set($arg:ident: $arg_ty:ty) => $set:expr;
        check $check:expr;
        settings $parse:ident;
        table $default_text:literal, $sqlalchemy:literal, $r2d2:literal, $hikari:literal;
    )+) => {
        /// Every option of a pool. Each field documents its default and its names elsewhere:
        /// Django's `POOL_OPTIONS` key (from django-db-connection-pool; every key is the
        /// field's name in upper case), SQLAlchemy's `create_engine` argument, r2d2's builder
        /// method and HikariCP's property.
        ///
        /// Set fields on [`PoolOptions::default()`] or use [`Builder`](crate::Builder);
        /// [`PoolOptions::validate`] says what is wrong with a combination.
        ///
        /// Every duration option accepts any [`Duration`], `Duration::MAX` included (zero is
        /// refused where an option says so): the pool's arithmetic on them saturates, and a
        /// duration too long for the clock to reach is simply never reached.
        ///
        #[doc = "| option | default | SQLAlchemy | r2d2 | HikariCP |"]
        #[doc = "|---|---|---|---|---|"]
        $(#[doc = concat!(
            "| [`", stringify!($field), "`](PoolOptions::", stringify!($field), ") | ",
            $default_text, " | ", $sqlalchemy, " | ", $r2d2, " | ", $hikari, " |"
        )])+
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub struct PoolOptions {
            $($(#[doc = $doc])+ pub $field: $ty,)+
        }

        impl Default for PoolOptions {
            fn default() -> Self {
                PoolOptions { $($field: $default,)+ }
            }
        }

        /// Which options were chosen (by a builder setter or a settings key) rather than left
        /// at their defaults.
        #[derive(Debug, Clone, Copy, Default)]
        pub(crate) struct Chosen {
            $(pub(crate) $field: bool,)+
        }

        impl Chosen {
            /// Every option chosen: options given whole ([`Builder::from_options`](crate::Builder::from_options)).
            pub(crate) fn all() -> Self {
                Chosen { $($field: true,)+ }
            }
        }

        /// The table of options, in declaration order.
        pub(crate) const TABLE: &[OptionInfo] = &[$(OptionInfo {
            name: stringify!($field),
            in_settings: make_options!(@in_settings $parse),
            default: $default_text,
            sqlalchemy: $sqlalchemy,
            r2d2: $r2d2,
            hikari: $hikari,
        },)+];

        impl PoolOptions {
            /// Each option's own bound, in declaration order.
            fn check_each(&self) -> Result<(), ConfigError> {
                $(($check)(stringify!($field), &self.$field)?;)+
                Ok(())
            }
        }
    };
    (@in_settings code_only) => { false };
    (@in_settings $parse:ident) => { true };
}

for_each_option!(make_options);

/// One row of the option table.
#[derive(Debug, Clone, Copy)]
// The names elsewhere are read by the test that holds the README's table to the declaration.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct OptionInfo {
    /// The field's and the builder setter's name; its upper case is the `POOL_OPTIONS` key.
    pub(crate) name: &'static str,
    /// Whether settings (`POOL_OPTIONS`, a URL's query) may give it.
    pub(crate) in_settings: bool,
    /// The default, as the README's table says it.
    pub(crate) default: &'static str,
    /// SQLAlchemy's name for it, or `—`.
    pub(crate) sqlalchemy: &'static str,
    /// r2d2's name for it, or `—`.
    pub(crate) r2d2: &'static str,
    /// HikariCP's name for it, or `—`.
    pub(crate) hikari: &'static str,
}

impl OptionInfo {
    /// The `POOL_OPTIONS` key (and URL query parameter, in any case).
    pub(crate) fn key(&self) -> String {
        self.name.to_ascii_uppercase()
    }
}

/// The `POOL_OPTIONS` keys settings accept, for errors.
pub(crate) fn settings_keys() -> String {
    TABLE
        .iter()
        .filter(|o| o.in_settings)
        .map(OptionInfo::key)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The README's option table, made from [`TABLE`].
#[cfg(test)]
fn markdown_table() -> String {
    let mut out = String::from(
        "| option | default | Django `POOL_OPTIONS` | SQLAlchemy `create_engine` | r2d2 | HikariCP |\n|---|---|---|---|---|---|\n",
    );
    for o in TABLE {
        let key = if o.in_settings {
            format!("`{}`", o.key())
        } else {
            "— (code only: `DatabaseSettings::event_handler`)".to_owned()
        };
        out.push_str(&format!(
            "| `{}` | {} | {key} | {} | {} | {} |\n",
            o.name, o.default, o.sqlalchemy, o.r2d2, o.hikari
        ));
    }
    out
}

// The bounds the table's `check` entries name.

/// No bound.
pub(crate) fn any<T: ?Sized>(_option: &'static str, _value: &T) -> Result<(), ConfigError> {
    Ok(())
}

/// At least 1 (when given); `hint` follows the refusal.
pub(crate) fn at_least_one<T: Count>(
    hint: &'static str,
) -> impl Fn(&'static str, &T) -> Result<(), ConfigError> {
    move |option, value| match value.count() {
        Some(0) => Err(ConfigError::new(
            option,
            format!("must be at least 1 (got 0){hint}"),
        )),
        _ => Ok(()),
    }
}

/// Greater than zero (when given).
pub(crate) fn positive<T: Span>(option: &'static str, value: &T) -> Result<(), ConfigError> {
    match value.span() {
        Some(span) if span.is_zero() => Err(ConfigError::new(option, "must be greater than zero (got 0)")),
        _ => Ok(()),
    }
}

/// Not empty.
pub(crate) fn not_empty(option: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::new(option, "must not be empty"));
    }
    Ok(())
}

/// A reset statement, if any, is not blank.
pub(crate) fn reset_statement(option: &'static str, value: &ResetOnReturn) -> Result<(), ConfigError> {
    if let ResetOnReturn::Statement(sql) = value
        && sql.trim().is_empty()
    {
        return Err(ConfigError::new(
            option,
            "a reset statement must not be empty; use ResetOnReturn::Nothing to skip the reset",
        ));
    }
    Ok(())
}

/// A count an option holds: `usize`, or `Option<usize>` where `None` is no count.
pub(crate) trait Count {
    /// The count, if one is set.
    fn count(&self) -> Option<usize>;
}

impl Count for usize {
    fn count(&self) -> Option<usize> {
        Some(*self)
    }
}

impl Count for Option<usize> {
    fn count(&self) -> Option<usize> {
        *self
    }
}

/// A duration an option holds: `Duration`, or `Option<Duration>` where `None` is off.
pub(crate) trait Span {
    /// The duration, if one is set.
    fn span(&self) -> Option<Duration>;
}

impl Span for Duration {
    fn span(&self) -> Option<Duration> {
        Some(*self)
    }
}

impl Span for Option<Duration> {
    fn span(&self) -> Option<Duration> {
        *self
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
        self.check_each()?;
        if self.min_idle > self.pool_size {
            return Err(ConfigError::new(
                "min_idle",
                format!(
                    "must be at most pool_size ({}) (got {})",
                    self.pool_size, self.min_idle
                ),
            ));
        }
        if let (Some(idle), Some(recycle)) = (self.idle_timeout, self.recycle)
            && idle > recycle
        {
            return Err(ConfigError::new(
                "idle_timeout",
                format!(
                    "must not be longer than recycle ({recycle:?}) (got {idle:?}); lower it, or set it to None to close idle connections only when they expire"
                ),
            ));
        }
        if let (Some(keepalive), Some(recycle)) = (self.keepalive, self.recycle)
            && keepalive >= recycle
        {
            return Err(ConfigError::new(
                "keepalive",
                format!(
                    "must be shorter than recycle ({recycle:?}) (got {keepalive:?}), or the connection is replaced before it would be pinged"
                ),
            ));
        }
        match (self.max_total_connections, &self.cap_file) {
            (Some(_), None) => Err(ConfigError::new(
                "max_total_connections",
                "needs cap_file: the file every process sharing the cap locks its slots in",
            )),
            (None, Some(file)) => Err(ConfigError::new(
                "cap_file",
                format!(
                    "is set ({}) but max_total_connections is not; set both, or neither",
                    file.display()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Settles defaults that depend on what was chosen: a default `idle_timeout` longer than a
    /// chosen `recycle` is dropped (connections then close when they expire, as HikariCP
    /// does); a chosen one is kept, and refused by [`PoolOptions::validate`].
    pub(crate) fn settle(&mut self, chosen: &Chosen) {
        if !chosen.idle_timeout
            && let (Some(idle), Some(recycle)) = (self.idle_timeout, self.recycle)
            && idle > recycle
        {
            self.idle_timeout = None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_is_the_declaration() {
        let readme = include_str!("../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's option table differs from the declaration in src/options.rs; replace it with:\n\n{table}"
        );
    }

    #[test]
    fn every_option_is_in_the_table_once_and_debug_shows_it() {
        let debug = format!("{:?}", PoolOptions::default());
        for (i, o) in TABLE.iter().enumerate() {
            assert!(TABLE[..i].iter().all(|p| p.name != o.name), "{} twice", o.name);
            assert!(
                debug.contains(&format!("{}:", o.name)),
                "{} not in {debug}",
                o.name
            );
        }
        assert!(settings_keys().contains("CAP_FILE") && !settings_keys().contains("EVENT_HANDLER"));
    }
}
