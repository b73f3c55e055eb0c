//! The one error type of the pool.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A boxed error from a backend, kept whole so callers can downcast it.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong when asking the pool for a connection or building one.
///
/// As in the standard library's convention, the message says what went wrong at the pool's
/// level and leaves the cause to [`source`](StdError::source): print the whole chain (anyhow's
/// `{:#}`, or a loop over `source()`) to see, for example,
/// `could not open a database connection: connecting to app@127.0.0.1:5432/app: db error:
/// FATAL: password authentication failed for user "app"`, each part once.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Opening a connection failed. The backend's own error is the source (and is not repeated
    /// in this error's message): a refused connection or a wrong password is reported as such,
    /// at once, never as a timeout.
    Connect(BoxError),
    /// No connection became free before the checkout timeout. Boxed: the details are many,
    /// and every `Result` of the pool carries this error's size.
    Timeout(Box<TimeoutDetails>),
    /// The checkout was refused at once, without waiting: `max_waiting` checkouts were waiting
    /// already (psycopg_pool's `TooManyRequests`). Boxed, as [`Error::Timeout`].
    QueueFull(Box<QueueFullDetails>),
    /// The pool was closed with [`Pool::close`](crate::Pool::close) (or all its handles dropped).
    Closed,
    /// An option, or a combination of options, is not accepted. The message is the
    /// [`ConfigError`]'s own (this variant adds nothing to it, so it is not a source).
    Config(ConfigError),
}

impl Error {
    /// The backend's error behind [`Error::Connect`], if this is one.
    pub fn connect_source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match self {
            Error::Connect(source) => Some(source.as_ref()),
            _ => None,
        }
    }

    /// Whether this is [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The cause is the source: printing it here too would show it twice in a chain.
            Error::Connect(_) => f.write_str("could not open a database connection"),
            Error::Timeout(details) => details.fmt(f),
            Error::QueueFull(details) => details.fmt(f),
            Error::Closed => f.write_str("the connection pool is closed"),
            Error::Config(err) => err.fmt(f),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Connect(source) => Some(source.as_ref()),
            // Transparent: the message is the ConfigError's, which has no source of its own.
            Error::Config(err) => err.source(),
            Error::Timeout(_) | Error::QueueFull(_) | Error::Closed => None,
        }
    }
}

/// What the pool looked like when a checkout timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimeoutDetails {
    /// The pool's name (its `name` option, or the settings alias it was made for).
    pub pool: String,
    /// How long the call took, from its start to the error.
    pub waited: Duration,
    /// The pool's `pool_size` in force.
    pub pool_size: usize,
    /// The pool's `max_overflow` in force (`None` when unlimited).
    pub max_overflow: Option<usize>,
    /// Connections checked out when the wait ended.
    pub in_use: usize,
    /// Idle connections when the wait ended (non-zero in a race with a return, or while the
    /// pool is suspended).
    pub idle: usize,
    /// Other threads still waiting.
    pub waiting: usize,
    /// The last connect error the pool saw, if any: the likely reason nothing came free. The
    /// error and its causes, joined with `": "`.
    pub last_connect_error: Option<String>,
    /// Set when the checkout could not open a connection because every slot of
    /// `max_total_connections` was held by other connections (of this or another process).
    pub cross_process_cap: Option<String>,
    /// Whether the pool was suspended ([`Pool::suspend`](crate::Pool::suspend)) when the wait
    /// ended: then nothing was handed out, whatever was idle.
    pub suspended: bool,
}

impl fmt::Display for TimeoutDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool `{}`: timed out after {} waiting for a connection (pool_size {}, max_overflow {}; {} in use, {} idle, {} other waiting)",
            self.pool,
            Rounded(self.waited),
            self.pool_size,
            match self.max_overflow {
                Some(n) => n.to_string(),
                None => "unlimited".to_owned(),
            },
            self.in_use,
            self.idle,
            self.waiting,
        )?;
        if self.suspended {
            f.write_str("; the pool is suspended (Pool::resume ends it)")?;
        }
        if let Some(cap) = &self.cross_process_cap {
            write!(f, "; {cap}")?;
        }
        if let Some(last) = &self.last_connect_error {
            write!(f, "; last connect error: {last}")?;
        }
        Ok(())
    }
}

/// What the pool looked like when a checkout was refused because `max_waiting` checkouts were
/// waiting already.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueFullDetails {
    /// The pool's name.
    pub pool: String,
    /// The pool's `max_waiting`.
    pub max_waiting: usize,
    /// Checkouts waiting: as many as `max_waiting`, or more, for only a checkout joining the
    /// queue afresh is refused; one that waits beside a connect of its own, or comes back to
    /// its place after the connection it was handed failed its checks, is not.
    pub waiting: usize,
    /// The pool's `pool_size` in force.
    pub pool_size: usize,
    /// The pool's `max_overflow` in force (`None` when unlimited).
    pub max_overflow: Option<usize>,
    /// Connections checked out.
    pub in_use: usize,
    /// Idle connections (non-zero only in a race with a return, or while suspended).
    pub idle: usize,
    /// Whether the pool was suspended ([`Pool::suspend`](crate::Pool::suspend)).
    pub suspended: bool,
}

impl fmt::Display for QueueFullDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool `{}`: checkout refused without waiting: {} checkouts are waiting already and max_waiting is {} (pool_size {}, max_overflow {}; {} in use, {} idle)",
            self.pool,
            self.waiting,
            self.max_waiting,
            self.pool_size,
            match self.max_overflow {
                Some(n) => n.to_string(),
                None => "unlimited".to_owned(),
            },
            self.in_use,
            self.idle,
        )?;
        if self.suspended {
            f.write_str("; the pool is suspended (Pool::resume ends it)")?;
        }
        Ok(())
    }
}

/// An error and its causes on one line, joined with `": "` as anyhow's `{:#}` prints them: for
/// logs and the pool's text records (`last_connect_error`, a lost server's reason), where the
/// cause must not be lost now that messages leave it to `source()`.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn StdError + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// [`Chain`] as a `String`.
pub(crate) fn chain(err: &dyn StdError) -> String {
    Chain(err).to_string()
}

/// A duration as people read it: `850 µs`, `500 ms`, `2.0 s`, `3 min 20 s`.
pub(crate) struct Rounded(pub(crate) Duration);

impl fmt::Display for Rounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d < Duration::from_millis(1) {
            write!(f, "{} µs", d.as_micros())
        } else if d < Duration::from_secs(1) {
            write!(f, "{} ms", (d.as_micros() + 500) / 1000)
        } else if d < Duration::from_secs(60) {
            write!(f, "{:.1} s", d.as_secs_f64())
        } else {
            let secs = d.as_secs();
            write!(f, "{} min {} s", secs / 60, secs % 60)
        }
    }
}

/// An option that was refused, and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The option's name, as the builder spells it (`pool_size`, `idle_timeout`, …).
    pub option: &'static str,
    /// What was wrong and what is accepted.
    pub message: String,
    /// For a parameter nobody reads: its name and what the refusing side accepts, so the
    /// settings can say where it was written and add what they accept themselves.
    pub(crate) unknown: Option<Box<UnknownParameter>>,
}

/// A parameter an engine does not read, as its error remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownParameter {
    /// The name, as given (only names that may be quoted are kept).
    pub(crate) key: String,
    /// What the engine accepts in its place.
    pub(crate) accepted: Vec<&'static str>,
}

impl ConfigError {
    /// The error for `option` (as the builder or the settings spell it): `message` says what
    /// was wrong and what is accepted. For backends made from settings
    /// ([`FromSettings`](crate::settings::FromSettings)) outside this crate.
    pub fn new(option: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            option,
            message: message.into(),
            unknown: None,
        }
    }

    /// This error, remembering that it refuses the parameter `key` and that `accepted` are
    /// accepted instead.
    pub(crate) fn with_unknown(mut self, key: &str, accepted: Vec<&'static str>) -> Self {
        self.unknown = Some(Box::new(UnknownParameter {
            key: key.to_owned(),
            accepted,
        }));
        self
    }

    /// The parameter this error refuses as unknown, if that is what it refuses.
    pub(crate) fn unknown_parameter(&self) -> Option<&UnknownParameter> {
        self.unknown.as_deref()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting `{}`: {}", self.option, self.message)
    }
}

impl StdError for ConfigError {}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Self {
        Error::Config(err)
    }
}
