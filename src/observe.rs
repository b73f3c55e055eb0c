//! What the pool shows of itself: its state, its cumulative stats, and its events; and, behind
//! features, the same figures for a dashboard and a trace.
//!
//! - [`Pool::state`](crate::Pool::state) and [`Pool::stats`](crate::Pool::stats): [`State`] and
//!   [`Stats`], each printable on one line.
//! - An event handler ([`HandleEvent`]) and `echo`, which logs every [`Event`] through `log`.
//! - Feature `metrics`: the figures under OpenTelemetry's `db.client.connection.*` names through
//!   the `metrics` facade, for any exporter; the names, units and labels are in [`metrics`].
//! - Feature `tracing`: spans where a subscriber is installed, all with target
//!   `millpond::pool` and the pool's name as the field `pool`:
//!
//!   | span | level | when | fields |
//!   |---|---|---|---|
//!   | `millpond.checkout` | info | a checkout that found no connection ready (it queued, or waited for one to be opened) | `wait_time` (seconds), `outcome` (`ok`, `none`, `timeout`, `closed`, `connect_error`, `error`), `error` |
//!   | `millpond.connect` | info | opening a connection (in the caller's thread, or on a thread of its own beside a waiting checkout, inside that checkout's span) | `id`, `outcome` (`ok`, `error`), `error` |
//!   | `millpond.pre_ping` | debug | the validation before a connection is handed out | `id`, `outcome`, `error` |
//!   | `millpond.keepalive` | debug | the reaper's ping of an idle connection | `id`, `outcome`, `error` |
//!   | `millpond.reset` | debug | a reset on return that makes a round trip | `id`, `action`, `outcome`, `error` |
//!   | `millpond.close` | debug | closing a connection | `id`, `reason` |
//!
//!   A checkout served at once makes no span. An `error` is the error and its causes on one
//!   line, as the pool logs them: the backends keep passwords out of their errors. Without a
//!   subscriber a span costs a load of a cached flag.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::Rounded;

mod meter;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub(crate) mod spans;

pub(crate) use meter::{Lent, Meter};

/// A snapshot of the pool's counts, taken under its lock so they add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct State {
    /// The pool's `pool_size` in force (as built, or as last [resized](crate::Pool::resize)).
    pub pool_size: usize,
    /// The pool's `max_overflow` in force (`None` when unlimited).
    pub max_overflow: Option<usize>,
    /// Connections that exist, counting those being opened and closed: never more than
    /// `pool_size + max_overflow`, except just after a smaller `resize`, until the surplus
    /// has come back and been closed.
    pub open: usize,
    /// Connections idle in the pool.
    pub idle: usize,
    /// Connections checked out (or being handed to a waiter).
    pub in_use: usize,
    /// Connections beyond `pool_size` (SQLAlchemy's `overflow()`, never negative here).
    pub overflow: usize,
    /// Connections being opened.
    pub opening: usize,
    /// Connections being closed.
    pub closing: usize,
    /// Threads waiting for a connection.
    pub waiting: usize,
    /// Whether the pool was closed.
    pub closed: bool,
    /// Whether checkouts are suspended ([`Pool::suspend`](crate::Pool::suspend)).
    pub suspended: bool,
}

/// Upper bounds (inclusive) of the buckets of [`Stats::wait_histogram`]; the last bucket has no
/// bound.
///
/// The histogram is not cumulative: each wait is counted once, in the first bucket whose bound
/// holds it. [`Stats::wait_histogram_cumulative`] gives the running totals Prometheus's buckets
/// hold (`le`: waits up to the bound). The `metrics` feature exports the waits as a histogram
/// of samples, which an exporter buckets itself, cumulatively in Prometheus's case; giving it
/// these bounds makes its buckets these (`millpond::observe::metrics` shows how).
pub const WAIT_BUCKETS: [Duration; 7] = [
    Duration::from_micros(10),
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(10),
];

/// Cumulative counters since the pool was made (in a forked child: since the child's first use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections opened.
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_errors: u64,
    /// Successful checkouts.
    pub checkouts: u64,
    /// Checkouts served after waiting for another thread: no idle connection and no free slot
    /// at once, then a connection given back (or a slot freed) by another thread. A checkout
    /// that found a free slot waited for the database, not the pool, whatever served it (its
    /// own connect, or a connection that came back first): it counts in `connects`, not here.
    pub waits: u64,
    /// The total time checkouts spent waiting.
    pub wait_time_total: Duration,
    /// The longest a successful checkout waited.
    pub wait_time_max: Duration,
    /// Waits by duration, each counted once: bucket `i` counts the waits longer than
    /// [`WAIT_BUCKETS`]`[i - 1]` and up to [`WAIT_BUCKETS`]`[i]`, the last one the rest. Not
    /// cumulative; [`Stats::wait_histogram_cumulative`] is.
    pub wait_histogram: [u64; WAIT_BUCKETS.len() + 1],
    /// Checkouts that timed out.
    pub timeouts: u64,
    /// Checkouts refused at once because `max_waiting` checkouts were waiting already
    /// ([`Error::QueueFull`](crate::Error::QueueFull)).
    pub queue_full: u64,
    /// Validations run (pre-ping and keepalive).
    pub pings: u64,
    /// Validations that failed.
    pub ping_failures: u64,
    /// Resets that made a round trip (a transaction was open, or a reset statement is set).
    pub resets: u64,
    /// Resets that failed (the connection was closed).
    pub reset_failures: u64,
    /// Connections closed because they outlived `recycle`.
    pub recycled: u64,
    /// Connections closed because they were opened before an invalidation.
    pub invalidated: u64,
    /// Connections closed as broken: `has_broken`, a failed ping or reset, a panicking borrower,
    /// or the borrower's own [`invalidate`](crate::PooledConnection::invalidate).
    pub broken: u64,
    /// Overflow connections closed on return because `pool_size` were already idle, or
    /// because more were open than a smaller [`resize`](crate::Pool::resize) allows.
    pub overflow_closes: u64,
    /// Connections closed by the reaper after `idle_timeout`.
    pub idle_closes: u64,
    /// Connections closed because the pool was closed.
    pub pool_closes: u64,
    /// Connections closed because the user's code chose so: a
    /// [`before_checkout`](crate::Builder::before_checkout) hook refused one, an
    /// [`after_checkin`](crate::Builder::after_checkin) hook did not keep one (or either
    /// panicked), or [`Pool::retain`](crate::Pool::retain) did not.
    pub discarded: u64,
    /// Checkouts held past `leak_threshold`.
    pub leaks: u64,
    /// Connects that found the cap across processes (`max_total_connections`) full and waited
    /// for a slot, however the wait ended (a slot, a connection of the pool's own coming back,
    /// or the deadline). Counted when the wait begins: a wait in progress is included.
    pub cap_waits: u64,
    /// The total time connects spent waiting for a slot of the cap across processes, counted
    /// when each wait ends.
    pub cap_wait_time_total: Duration,
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// It outlived its lifetime (`recycle`).
    Recycled,
    /// It was opened before the pool's last invalidation.
    Invalidated,
    /// `has_broken` said so.
    Broken,
    /// The pre-ping or keepalive validation failed.
    PingFailed,
    /// The reset on return failed.
    ResetFailed,
    /// The borrowing thread panicked while holding it.
    Panicked,
    /// The borrower called [`PooledConnection::invalidate`](crate::PooledConnection::invalidate).
    InvalidatedByBorrower,
    /// It was an overflow connection returned while `pool_size` were idle, or more were open
    /// than a smaller [`resize`](crate::Pool::resize) allows.
    Overflow,
    /// It sat idle longer than `idle_timeout`.
    IdleTimeout,
    /// The pool was closed.
    PoolClosed,
    /// The user's code chose so: a `before_checkout` hook refused it, an `after_checkin` hook
    /// did not keep it (or either panicked), or [`Pool::retain`](crate::Pool::retain) did not.
    Discarded,
}

/// Why the pool was invalidated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidateReason {
    /// [`Pool::invalidate`](crate::Pool::invalidate) was called.
    Requested,
    /// A validation, a reset or a connect failed with an error that means a lost server, as
    /// the backend classifies it or the pool's classifier
    /// ([`Builder::classify_errors`](crate::Builder::classify_errors)) says.
    LostServer(String),
}

/// Something that happened in the pool, given to the [`HandleEvent`] handler.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A connection was opened.
    Connect {
        /// The connection's id, unique within the pool.
        id: u64,
        /// How long opening it took.
        duration: Duration,
    },
    /// Opening a connection failed.
    ConnectFailed {
        /// The backend's error.
        error: &'a (dyn StdError + Send + Sync),
        /// How long the attempt took.
        duration: Duration,
    },
    /// A connection was checked out.
    Checkout {
        /// The connection's id.
        id: u64,
        /// How long the borrower waited for it (zero when one was ready).
        waited: Duration,
    },
    /// A connection was given back.
    Checkin {
        /// The connection's id.
        id: u64,
    },
    /// A connection given back was reset with a round trip.
    Reset {
        /// The connection's id.
        id: u64,
        /// Whether the reset succeeded (when it failed the connection is closed).
        ok: bool,
    },
    /// The pool was invalidated: every connection opened before now will be replaced.
    Invalidate {
        /// The new invalidation generation.
        generation: u64,
        /// Why.
        reason: &'a InvalidateReason,
    },
    /// A connection was closed.
    Close {
        /// The connection's id.
        id: u64,
        /// Why.
        reason: CloseReason,
    },
}

/// Receives the pool's events. Called outside the pool's lock, in the thread where the event
/// happened (the borrower's, or the reaper's); keep it quick.
pub trait HandleEvent: Send + Sync + 'static {
    /// Called for every event.
    fn handle(&self, event: &Event<'_>);
}

/// A handler shows as `…`, so that options and settings holding one can be printed.
impl fmt::Debug for dyn HandleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("…")
    }
}

/// The handler behind the `echo` option: every event as one `log` line at info level.
#[derive(Debug)]
pub(crate) struct EchoEvents {
    pub(crate) pool_name: String,
}

impl HandleEvent for EchoEvents {
    fn handle(&self, event: &Event<'_>) {
        log::info!(target: "millpond::pool", "[{}] {:?}", self.pool_name, event);
    }
}

/// Both the echo handler and the user's.
pub(crate) struct BothHandlers(pub(crate) EchoEvents, pub(crate) std::sync::Arc<dyn HandleEvent>);

impl HandleEvent for BothHandlers {
    fn handle(&self, event: &Event<'_>) {
        self.0.handle(event);
        self.1.handle(event);
    }
}

/// Counters bumped outside the lock, on paths that already made a round trip or a syscall.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connects: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) pings: AtomicU64,
    pub(crate) ping_failures: AtomicU64,
    pub(crate) reset_failures: AtomicU64,
    pub(crate) leaks: AtomicU64,
    cap_waits: AtomicU64,
    cap_wait_nanos: AtomicU64,
    closes: [AtomicU64; CloseReason::Discarded as usize + 1],
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A connect found the cap across processes full and began to wait for a slot: counted
    /// now, so a wait in progress shows (and a test can wait for it).
    pub(crate) fn cap_wait_began(&self) {
        Counters::bump(&self.cap_waits);
    }

    /// A wait for a slot of the cap ended, after `waited`.
    pub(crate) fn cap_wait_ended(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.cap_wait_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self, reason: CloseReason) {
        Counters::bump(&self.closes[reason as usize]);
    }

    /// Copies the counters into `stats`, leaving the fields kept under the lock alone.
    pub(crate) fn fill(&self, stats: &mut Stats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let closes = |r: CloseReason| get(&self.closes[r as usize]);
        stats.connects = get(&self.connects);
        stats.connect_errors = get(&self.connect_errors);
        stats.pings = get(&self.pings);
        stats.ping_failures = get(&self.ping_failures);
        stats.reset_failures = get(&self.reset_failures);
        stats.leaks = get(&self.leaks);
        stats.cap_waits = get(&self.cap_waits);
        stats.cap_wait_time_total = Duration::from_nanos(get(&self.cap_wait_nanos));
        stats.recycled = closes(CloseReason::Recycled);
        stats.invalidated = closes(CloseReason::Invalidated);
        stats.broken = closes(CloseReason::Broken)
            + closes(CloseReason::PingFailed)
            + closes(CloseReason::ResetFailed)
            + closes(CloseReason::Panicked)
            + closes(CloseReason::InvalidatedByBorrower);
        stats.overflow_closes = closes(CloseReason::Overflow);
        stats.idle_closes = closes(CloseReason::IdleTimeout);
        stats.pool_closes = closes(CloseReason::PoolClosed);
        stats.discarded = closes(CloseReason::Discarded);
    }
}

/// The wait figures, kept under the pool's lock (they change on the checkout path).
#[derive(Debug, Default, Clone)]
pub(crate) struct WaitStats {
    pub(crate) waits: u64,
    pub(crate) total: Duration,
    pub(crate) max: Duration,
    pub(crate) histogram: [u64; WAIT_BUCKETS.len() + 1],
    pub(crate) timeouts: u64,
    pub(crate) queue_full: u64,
}

impl WaitStats {
    pub(crate) fn record_wait(&mut self, waited: Duration) {
        self.waits += 1;
        self.total += waited;
        self.max = self.max.max(waited);
        let bucket = WAIT_BUCKETS
            .iter()
            .position(|bound| waited <= *bound)
            .unwrap_or(WAIT_BUCKETS.len());
        self.histogram[bucket] += 1;
    }

    pub(crate) fn fill(&self, stats: &mut Stats) {
        stats.waits = self.waits;
        stats.wait_time_total = self.total;
        stats.wait_time_max = self.max;
        stats.wait_histogram = self.histogram;
        stats.timeouts = self.timeouts;
        stats.queue_full = self.queue_full;
    }
}

impl Stats {
    /// [`Stats::wait_histogram`] as running totals, Prometheus-style: entry `i` counts the waits
    /// up to [`WAIT_BUCKETS`]`[i]` (its `le` bucket), the last one every wait (`le="+Inf"`, equal
    /// to [`Stats::waits`]).
    ///
    /// ```
    /// let mut stats = millpond::observe::Stats::default();
    /// stats.wait_histogram[0] = 3; // three waits of 10 µs or less
    /// stats.wait_histogram[2] = 1; // one of 100 µs to 1 ms
    /// assert_eq!(stats.wait_histogram_cumulative(), [3, 3, 4, 4, 4, 4, 4, 4]);
    /// ```
    pub fn wait_histogram_cumulative(&self) -> [u64; WAIT_BUCKETS.len() + 1] {
        let mut running = 0;
        self.wait_histogram.map(|count| {
            running += count;
            running
        })
    }

    /// The mean wait of the checkouts that waited ([`Stats::waits`]); zero when none did.
    pub fn mean_wait(&self) -> Duration {
        match u32::try_from(self.waits) {
            Ok(0) => Duration::ZERO,
            Ok(waits) => self.wait_time_total / waits,
            Err(_) => Duration::from_secs_f64(self.wait_time_total.as_secs_f64() / self.waits as f64),
        }
    }
}

/// One line a person reads: what was done, what waited and how long, what failed and why
/// connections were closed. Durations are rounded (`850 µs`, `12 ms`, `2.0 s`).
///
/// ```text
/// checkouts 5000, waits 312 (mean 1 ms, max 8 ms), timeouts 0, queue full 0; connects 12 (errors 0); pings 3 (failed 0), resets 1 (failed 0); closed: recycled 0, invalidated 0, broken 0, overflow 4, idle 0, discarded 0, pool closed 0; leaks 0; cap waits 0 (total 0 µs)
/// ```
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checkouts {}, waits {} (mean {}, max {}), timeouts {}, queue full {}; connects {} \
             (errors {}); pings {} (failed {}), resets {} (failed {}); closed: recycled {}, \
             invalidated {}, broken {}, overflow {}, idle {}, discarded {}, pool closed {}; \
             leaks {}; cap waits {} (total {})",
            self.checkouts,
            self.waits,
            Rounded(self.mean_wait()),
            Rounded(self.wait_time_max),
            self.timeouts,
            self.queue_full,
            self.connects,
            self.connect_errors,
            self.pings,
            self.ping_failures,
            self.resets,
            self.reset_failures,
            self.recycled,
            self.invalidated,
            self.broken,
            self.overflow_closes,
            self.idle_closes,
            self.discarded,
            self.pool_closes,
            self.leaks,
            self.cap_waits,
            Rounded(self.cap_wait_time_total),
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "open {} (idle {}, in use {}, opening {}, closing {}), overflow {}, waiting {}",
            self.open, self.idle, self.in_use, self.opening, self.closing, self.overflow, self.waiting
        )?;
        if self.suspended {
            f.write_str(", suspended")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_read_as_one_line_with_rounded_durations_and_the_mean_wait() {
        let mut stats = Stats {
            checkouts: 5000,
            waits: 4,
            wait_time_total: Duration::from_millis(6),
            wait_time_max: Duration::from_micros(2500),
            connects: 12,
            ..Stats::default()
        };
        stats.overflow_closes = 4;
        stats.queue_full = 2;
        stats.discarded = 3;
        let line = stats.to_string();
        assert!(!line.contains('\n'), "{line}");
        for part in [
            "checkouts 5000",
            "waits 4 (mean 2 ms, max 3 ms)",
            "connects 12 (errors 0)",
            "timeouts 0, queue full 2",
            "overflow 4, idle 0, discarded 3, pool closed 0",
            "cap waits 0 (total 0 µs)",
        ] {
            assert!(line.contains(part), "{part:?} not in {line}");
        }
        assert_eq!(Stats::default().mean_wait(), Duration::ZERO);
    }

    #[test]
    fn the_cumulative_histogram_ends_at_every_wait() {
        let mut waits = WaitStats::default();
        for micros in [5, 10, 11, 500, 20_000, 20_000_000] {
            waits.record_wait(Duration::from_micros(micros));
        }
        let mut stats = Stats::default();
        waits.fill(&mut stats);
        // Bounds are inclusive: 10 µs is in the first bucket.
        assert_eq!(stats.wait_histogram, [2, 1, 1, 0, 1, 0, 0, 1]);
        assert_eq!(stats.wait_histogram_cumulative(), [2, 3, 4, 4, 5, 5, 5, 6]);
        assert_eq!(stats.wait_histogram_cumulative()[WAIT_BUCKETS.len()], stats.waits);
    }
}
