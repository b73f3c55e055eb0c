//! What the pool shows of itself: its state, its cumulative stats, and its events.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of the pool's counts, taken under its lock so they add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct State {
    /// The pool's `pool_size`.
    pub pool_size: usize,
    /// The pool's `max_overflow` (`None` when unlimited).
    pub max_overflow: Option<usize>,
    /// Connections that exist, counting those being opened and closed: never more than
    /// `pool_size + max_overflow`.
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

/// Upper bounds of the wait-time histogram's buckets; the last bucket has no bound.
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
    /// Waits by duration: bucket `i` counts waits up to [`WAIT_BUCKETS`]`[i]`, the last one
    /// the rest.
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
    pub(crate) resets: AtomicU64,
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
        stats.resets = get(&self.resets);
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
