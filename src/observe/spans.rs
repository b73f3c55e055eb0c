//! The pool's `tracing` spans (feature `tracing`; the table is in the docs of
//! [`observe`](super)). Each is a value the emission point makes and ends, holding nothing
//! without the feature, so the pool's code needs no `cfg`. Spans are made only where something
//! slow happens anyway (a wait, a connect, a round trip, a close); the checkout's fast path
//! makes none.

use std::error::Error as StdError;
use std::time::Duration;

use crate::error::Error;
use crate::observe::CloseReason;

#[cfg(feature = "tracing")]
use crate::error::Chain;

/// The target of every span: the same as the pool's log lines.
#[cfg(feature = "tracing")]
const TARGET: &str = "millpond::pool";

/// A span entered in this thread: closed (and its time ended) when dropped.
#[derive(Debug, Default)]
#[must_use = "a span ends when dropped"]
pub(crate) struct Entered {
    #[cfg(feature = "tracing")]
    span: Option<tracing::span::EnteredSpan>,
}

#[cfg(feature = "tracing")]
impl Entered {
    fn of(span: tracing::Span) -> Entered {
        Entered {
            span: (!span.is_disabled()).then(|| span.entered()),
        }
    }

    fn record(&self, field: &str, value: impl tracing::Value) {
        if let Some(span) = &self.span {
            span.record(field, value);
        }
    }

    fn outcome<T, E: StdError>(&self, result: Result<T, &E>) {
        match result {
            Ok(_) => self.record("outcome", "ok"),
            Err(err) => {
                self.record("outcome", "error");
                self.record("error", tracing::field::display(Chain(err)));
            }
        }
    }
}

/// The span of a checkout that found no connection ready: begun when the checkout leaves the
/// fast path, ended with the checkout. One pointer, null on the fast path: the checkout carries
/// it from its start, so it must cost nothing there.
#[derive(Debug, Default)]
pub(crate) struct Checkout(#[cfg(feature = "tracing")] Option<Box<Entered>>);

impl Checkout {
    /// The checkout goes to the queue (or to open a connection): the span begins, once. Out of
    /// line, so that the checkout's fast path carries none of it.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn begin(&mut self, pool: &str) {
        #[cfg(feature = "tracing")]
        if self.0.is_none() {
            let span = Entered::of(tracing::info_span!(
                target: TARGET,
                "millpond.checkout",
                pool,
                wait_time = tracing::field::Empty,
                outcome = tracing::field::Empty,
                error = tracing::field::Empty,
            ));
            self.0 = span.span.is_some().then(|| Box::new(span));
        }
    }

    /// The checkout is served after `waited`.
    #[inline]
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn served(&self, waited: Duration) {
        #[cfg(feature = "tracing")]
        if let Some(span) = &self.0 {
            Checkout::record_wait(span, waited);
        }
    }

    #[cfg(feature = "tracing")]
    #[cold]
    #[inline(never)]
    fn record_wait(span: &Entered, waited: Duration) {
        span.record("wait_time", waited.as_secs_f64());
    }

    /// Whether the span began (the checkout left the fast path, and a subscriber wants it).
    #[inline]
    pub(crate) fn begun(&self) -> bool {
        #[cfg(feature = "tracing")]
        return self.0.is_some();
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// The checkout ends with `result` (a connection, none for `try_get`, or an error), which
    /// is handed back. Called only when [`Checkout::begun`]: the fast path neither calls it nor
    /// lends it the result.
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn end<T>(self, result: Result<Option<T>, Error>) -> Result<Option<T>, Error> {
        #[cfg(feature = "tracing")]
        if let Some(span) = self.0 {
            let outcome = match &result {
                Ok(Some(_)) => "ok",
                Ok(None) => "none",
                Err(Error::Timeout(_)) => "timeout",
                Err(Error::Closed) => "closed",
                Err(Error::Connect(_)) => "connect_error",
                Err(_) => "error",
            };
            span.record("outcome", outcome);
            if let Err(err) = &result {
                span.record("error", tracing::field::display(Chain(err)));
            }
        }
        result
    }
}

/// The span of a connect.
#[derive(Debug, Default)]
pub(crate) struct Connect(Entered);

impl Connect {
    /// A connect for the pool `pool` begins.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn begin(pool: &str) -> Connect {
        #[cfg(feature = "tracing")]
        return Connect(Entered::of(tracing::info_span!(
            target: TARGET,
            "millpond.connect",
            pool,
            id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            error = tracing::field::Empty,
        )));
        #[cfg(not(feature = "tracing"))]
        Connect::default()
    }

    /// The connect ends: connection `id` is open, or the backend's error.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn end<E: StdError>(self, result: Result<u64, &E>) {
        #[cfg(feature = "tracing")]
        {
            if let Ok(id) = result {
                self.0.record("id", id);
            }
            self.0.outcome(result);
        }
    }
}

/// The span of a validation: a pre-ping, or the reaper's keepalive ping.
#[derive(Debug, Default)]
pub(crate) struct Ping(Entered);

impl Ping {
    /// The pre-ping of connection `id` begins.
    pub(crate) fn pre_ping(pool: &str, id: u64) -> Ping {
        Ping::begin(pool, id, true)
    }

    /// The keepalive ping of connection `id` begins.
    pub(crate) fn keepalive(pool: &str, id: u64) -> Ping {
        Ping::begin(pool, id, false)
    }

    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    fn begin(pool: &str, id: u64, pre_ping: bool) -> Ping {
        #[cfg(feature = "tracing")]
        {
            // Two call sites: a span's name is fixed where it is written.
            let span = if pre_ping {
                tracing::debug_span!(target: TARGET, "millpond.pre_ping", pool, id, outcome = tracing::field::Empty, error = tracing::field::Empty)
            } else {
                tracing::debug_span!(target: TARGET, "millpond.keepalive", pool, id, outcome = tracing::field::Empty, error = tracing::field::Empty)
            };
            Ping(Entered::of(span))
        }
        #[cfg(not(feature = "tracing"))]
        Ping::default()
    }

    /// The validation ends.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn end<E: StdError>(self, result: Result<(), &E>) {
        #[cfg(feature = "tracing")]
        self.0.outcome(result);
    }
}

/// The span of a reset on return that makes a round trip.
#[derive(Debug, Default)]
pub(crate) struct Reset(Entered);

impl Reset {
    /// The reset of connection `id` begins; `action` says what it does.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn begin(pool: &str, id: u64, action: &dyn std::fmt::Debug) -> Reset {
        #[cfg(feature = "tracing")]
        return Reset(Entered::of(tracing::debug_span!(
            target: TARGET,
            "millpond.reset",
            pool,
            id,
            action = ?action,
            outcome = tracing::field::Empty,
            error = tracing::field::Empty,
        )));
        #[cfg(not(feature = "tracing"))]
        Reset::default()
    }

    /// The reset ends.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn end<E: StdError>(self, result: Result<(), &E>) {
        #[cfg(feature = "tracing")]
        self.0.outcome(result);
    }
}

/// The span of a connection's close: ends when dropped, after the connection is.
#[derive(Debug, Default)]
#[must_use = "the span ends when dropped"]
pub(crate) struct Close(#[allow(dead_code, reason = "held for its Drop, which ends the span")] Entered);

impl Close {
    /// The close of connection `id` begins, for `reason`.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    #[cfg_attr(feature = "tracing", cold, inline(never))]
    pub(crate) fn begin(pool: &str, id: u64, reason: CloseReason) -> Close {
        #[cfg(feature = "tracing")]
        return Close(Entered::of(tracing::debug_span!(
            target: TARGET,
            "millpond.close",
            pool,
            id,
            reason = ?reason,
        )));
        #[cfg(not(feature = "tracing"))]
        Close::default()
    }
}

/// The span a thread was in, to carry into a thread it starts (a background connect), so that
/// what happens there is inside it.
#[derive(Debug, Default)]
pub(crate) struct Parent {
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
}

impl Parent {
    /// The span this thread is in, if any.
    pub(crate) fn current() -> Parent {
        #[cfg(feature = "tracing")]
        return Parent {
            span: Some(tracing::Span::current()).filter(|span| !span.is_none()),
        };
        #[cfg(not(feature = "tracing"))]
        Parent::default()
    }

    /// Runs `f` inside the span (in whatever thread this is now).
    pub(crate) fn in_scope<T>(self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        if let Some(span) = self.span {
            return span.in_scope(f);
        }
        f()
    }
}
