//! The pool: its public handle, the per-process core behind it, checkout and checkin.

mod builder;
mod cap;
mod checkin;
mod clock;
mod conn;
mod core;
mod guard;
mod hooks;
mod publish;
mod reaper;
mod slots;
mod workers;

use std::backtrace::Backtrace;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

pub use self::builder::Builder;
use self::cap::CapPermit;
use self::clock::Nanos;
use self::conn::Conn;
use self::core::{Acquired, Core, Lease, Release, Returned, Sizes};
pub use self::guard::PooledConnection;
pub use self::hooks::ConnectionInfo;
use self::hooks::{BeforeCheckout, HookError, Hooks, Verdict};
use self::slots::Slot;
use crate::error::{ConfigError, Error};
use crate::fork;
use crate::manage::{ErrorClass, ManageConnection};
use crate::observe::spans;
use crate::observe::{BothHandlers, Counters, EchoEvents, Meter};
use crate::observe::{CloseReason, Event, HandleEvent, InvalidateReason, State, Stats};
use crate::options::PoolOptions;

/// A pool of database connections. Cheap to clone (an `Arc` inside); share it between threads.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// use millpond::{Pool, sqlite::SqliteManager};
///
/// let pool = Pool::builder().pool_size(4).build(SqliteManager::memory()).unwrap();
/// let conn = pool.get().unwrap();
/// let two: i64 = conn.query_row("SELECT 1 + 1", [], |row| row.get(0)).unwrap();
/// assert_eq!(two, 2);
/// # }
/// ```
pub struct Pool<M: ManageConnection> {
    handle: Arc<Handle<M>>,
}

/// What the pool's handles share. When the last one goes the pool is closed: idle connections
/// now, borrowed ones when they come back (each slot holding a connection keeps the shared
/// part alive until then).
struct Handle<M: ManageConnection> {
    shared: Arc<Shared<M>>,
}

impl<M: ManageConnection> Drop for Handle<M> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl<M: ManageConnection> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            handle: Arc::clone(&self.handle),
        }
    }
}

impl<M: ManageConnection> Pool<M> {
    fn shared(&self) -> &Shared<M> {
        &self.handle.shared
    }
}

impl<M: ManageConnection> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared().options.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// What every handle and every borrowed connection shares.
pub(crate) struct Shared<M: ManageConnection> {
    pub(crate) manager: M,
    pub(crate) options: PoolOptions,
    /// The core of the process the pool is used in; replaced (and the old one abandoned) in a
    /// forked child. Never null; freed only when `Shared` is dropped.
    core: AtomicPtr<Core<M>>,
    /// The invalidation generation: connections opened before the current one are replaced.
    pub(crate) generation: AtomicU64,
    /// How long after it was last known to work an idle connection is pre-pinged, on the coarse
    /// clock: `pre_ping_bypass`, or never (`u64::MAX`) without `pre_ping`. One comparison on
    /// the hot path.
    ping_after: Nanos,
    pub(crate) events: Option<Arc<dyn HandleEvent>>,
    /// The user's hooks and error classifier.
    pub(crate) hooks: Hooks<M>,
    /// Something watches checkouts and checkins: a leak threshold, an event handler, a
    /// `before_checkout` or `after_checkin` hook. Without, the hot path passes them all by
    /// with one test.
    pub(crate) watched: bool,
    /// The pool's metrics (feature `metrics`).
    pub(crate) meter: Meter,
    /// Set by `close`, outside any core, so a pool closed before a fork stays closed in the
    /// child (whose fresh core knows nothing of the parent's).
    closed: AtomicBool,
    /// What `resize`, `suspend` and `resume` set, for a core made later (in a forked child);
    /// its lock keeps them from interleaving.
    control: Mutex<Control>,
    myself: Weak<Shared<M>>,
}

impl<M: ManageConnection> Pool<M> {
    /// A builder with every option at its default.
    pub fn builder() -> Builder<M> {
        Builder::default()
    }

    /// A pool with every option at its default that opens no connection until asked.
    pub fn new(manager: M) -> Result<Pool<M>, Error> {
        Pool::builder().build_unchecked(manager)
    }

    pub(crate) fn from_parts(manager: M, options: PoolOptions, hooks: Hooks<M>) -> Pool<M> {
        fork::watch();
        let events: Option<Arc<dyn HandleEvent>> = match (options.echo, options.event_handler.clone()) {
            (false, None) => None,
            (false, Some(user)) => Some(user),
            (true, None) => Some(Arc::new(EchoEvents {
                pool_name: options.name.clone(),
            })),
            (true, Some(user)) => Some(Arc::new(BothHandlers(
                EchoEvents {
                    pool_name: options.name.clone(),
                },
                user,
            ))),
        };
        let watched = options.leak_threshold.is_some()
            || events.is_some()
            || hooks.before_checkout.is_some()
            || hooks.after_checkin.is_some();
        let meter = Meter::new(
            &options.name,
            options.metrics_interval,
            options.metrics_every_checkout,
        );
        let ping_after = if options.pre_ping {
            clock::nanos(options.pre_ping_bypass)
        } else {
            Nanos::MAX
        };
        let shared = Arc::new_cyclic(|myself: &Weak<Shared<M>>| {
            let sizes = Sizes::of(&options);
            let core = Box::new(Core::new(
                &options,
                sizes,
                false,
                fork::generation(),
                myself.clone(),
            ));
            reaper::start(&core, &options, myself.clone());
            publish::start(&core, &meter, myself.clone());
            Shared {
                manager,
                options,
                core: AtomicPtr::new(Box::into_raw(core)),
                generation: AtomicU64::new(0),
                ping_after,
                events,
                hooks,
                watched,
                meter,
                closed: AtomicBool::new(false),
                control: Mutex::new(Control {
                    sizes,
                    suspended: false,
                }),
                myself: myself.clone(),
            }
        });
        Pool {
            handle: Arc::new(Handle { shared }),
        }
    }

    /// Checks out a connection, waiting up to the pool's `timeout`.
    pub fn get(&self) -> Result<PooledConnection<M>, Error> {
        self.get_timeout(self.shared().options.timeout)
    }

    /// Checks out a connection, waiting up to `timeout`, counted from the call's start (the
    /// coarse clock that marks it can make the end come up to one tick, 1–4 ms, late). Any
    /// `Duration` is accepted. Every step is bounded by it: the wait, a connect (which, if
    /// still running at the deadline, goes on and its connection joins the pool), each
    /// pre-ping. With `pre_ping` on, a zero timeout leaves no time to validate an idle
    /// connection outside the bypass window: such a call times out, and the connection stays.
    pub fn get_timeout(&self, timeout: Duration) -> Result<PooledConnection<M>, Error> {
        let shared = self.shared();
        match shared.checkout_fast() {
            Ok(conn) => Ok(conn),
            Err((core, started)) => shared.get_slow(core, started, timeout),
        }
    }

    /// Checks out a connection only if one is idle now: it never waits, neither for another
    /// thread to give one back nor for a connect. As in r2d2, when nothing is idle and a slot
    /// is free, a connection is opened in the background and joins the pool for a later call.
    ///
    /// `Ok(None)` means nothing is ready now. A connect error is still an error: the first
    /// `try_get` after a background connect it started failed returns that error (r2d2 only
    /// logs it).
    pub fn try_get(&self) -> Result<Option<PooledConnection<M>>, Error> {
        let shared = self.shared();
        match shared.checkout_fast() {
            Ok(conn) => Ok(Some(conn)),
            Err((core, started)) => shared.checkout_slow(core, started, shared.options.timeout, false),
        }
    }

    /// The pool's counts now, and its sizes (as built, or as last [resized](Pool::resize)).
    pub fn state(&self) -> State {
        self.shared().core().state()
    }

    /// The pool's cumulative counters.
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }

    /// Marks every connection open now as stale: idle ones are closed at once (in the
    /// background), checked-out ones when they come back. SQLAlchemy's `pool.invalidate()`,
    /// HikariCP's `softEvictConnections`.
    pub fn invalidate(&self) {
        self.shared().invalidate(InvalidateReason::Requested);
    }

    /// Changes the pool's sizes while it runs, with the same arguments as the builder's
    /// [`pool_size`](Builder::pool_size) and [`max_overflow`](Builder::max_overflow) (`None` is
    /// unlimited overflow, up to 4096 connections): `pool.resize(2, 0)`, `pool.resize(20, None)`.
    /// [`Pool::state`] reports the new sizes at once.
    ///
    /// Larger sizes serve waiting checkouts at once (connects start for them, at most
    /// `connect_concurrency` at a time). Smaller ones close idle connections beyond them now (in
    /// this thread), and borrowed ones when they come back, until no more are open than the new
    /// sizes allow; no connection is opened meanwhile, so checkouts may wait for those to come
    /// back. A `min_idle` above the new `pool_size` keeps only `pool_size` idle. The options
    /// ([`Pool::options`]) keep the sizes the pool was built with.
    ///
    /// A `pool_size` of 0 is refused: the error says so, and nothing changes.
    pub fn resize(
        &self,
        pool_size: usize,
        max_overflow: impl Into<Option<usize>>,
    ) -> Result<(), ConfigError> {
        if pool_size == 0 {
            return Err(ConfigError::new(
                "pool_size",
                "must be at least 1 (got 0); to stop checkouts for a while use Pool::suspend, for good Pool::close",
            ));
        }
        self.shared().resize(Sizes {
            pool_size,
            max_overflow: max_overflow.into(),
        });
        Ok(())
    }

    /// Suspends checkouts, as HikariCP's `suspendPool`: until [`Pool::resume`], `get` waits
    /// (never past its timeout, whose error then says the pool is suspended) and `try_get`
    /// finds nothing. Borrowed connections work on and may be given back; they stay idle.
    /// Connects already under way finish, and their connections stay idle too. The reaper goes
    /// on. For a failover or a credentials change: suspend, [`invalidate`](Pool::invalidate),
    /// resume. Suspending a suspended pool changes nothing.
    pub fn suspend(&self) {
        self.shared().set_suspended(true);
    }

    /// Ends a suspension ([`Pool::suspend`]): the checkouts that waited are served at once,
    /// oldest first. Resuming a pool that is not suspended changes nothing.
    pub fn resume(&self) {
        self.shared().set_suspended(false);
    }

    /// Closes the idle connections `keep` says not to keep, in this thread, and returns how
    /// many it closed. Each idle connection is claimed only while `keep` looks at it (checkouts
    /// meanwhile take the others); borrowed ones are not looked at (an
    /// [`after_checkin`](Builder::after_checkin) hook judges them as they come back). Closed
    /// connections are counted as [`discarded`](crate::observe::Stats::discarded); the reaper
    /// opens new ones up to `min_idle`. If `keep` panics, the connection it looked at is kept
    /// and the panic goes on to the caller.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use std::time::Duration;
    /// use millpond::{Pool, sqlite::SqliteManager};
    ///
    /// let pool = Pool::builder().build(SqliteManager::memory()).unwrap();
    /// drop(pool.get().unwrap());
    /// // Close every idle connection opened more than an hour ago, or used 10,000 times.
    /// let closed = pool.retain(|_conn, info| info.age < Duration::from_secs(3600) && info.uses < 10_000);
    /// assert_eq!(closed, 0);
    /// # }
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&mut M::Connection, &ConnectionInfo) -> bool) -> usize {
        self.shared().retain(&mut keep)
    }

    /// Closes the pool: idle connections now, checked-out ones when they are given back.
    /// Waiting threads and every later checkout get [`Error::Closed`]. The reaper stops.
    pub fn close(&self) {
        self.shared().close();
    }

    /// Whether [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared().core().is_closed()
    }

    /// The options the pool was built with. [`Pool::resize`] does not change them: the sizes
    /// in force are in [`Pool::state`].
    pub fn options(&self) -> &PoolOptions {
        &self.shared().options
    }

    /// The connection manager.
    pub fn manager(&self) -> &M {
        &self.shared().manager
    }

    /// The last connect error the pool saw, if any: the error and its causes, joined with
    /// `": "` (the whole chain, since an error's message leaves its cause to `source()`).
    pub fn last_connect_error(&self) -> Option<String> {
        self.shared().core().last_connect_error()
    }

    /// Opens connections until `min_idle` are idle, waiting no longer than the pool's
    /// `timeout`; the first connect error is returned.
    pub(crate) fn fill_min_idle(&self) -> Result<(), Error> {
        self.shared().fill_min_idle_within(self.shared().options.timeout)
    }
}

/// The pool's sizes and whether it is suspended, as last set from a handle.
#[derive(Debug, Clone, Copy)]
struct Control {
    sizes: Sizes,
    suspended: bool,
}

/// A checkout's bounds: when the call began and when it must have ended.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    start: Instant,
    end: Instant,
}

impl Deadline {
    /// The bounds of a call that began at `entered` on the coarse clock; any `timeout`,
    /// `Duration::MAX` included.
    fn new(entered: Nanos, timeout: Duration) -> Deadline {
        let start = clock::started_at(entered);
        Deadline {
            start,
            end: clock::after(start, timeout),
        }
    }
}

/// Where the hot path of a checkout left off: the idle slot it claimed, if it got that far, and
/// the coarse clock's reading when the call began.
#[derive(Debug, Clone, Copy)]
struct Started {
    claimed: Option<usize>,
    entered: Nanos,
}

/// Why an idle connection was not handed out.
enum Check {
    /// It failed a check and is replaced.
    Failed(CloseReason),
    /// It needs a pre-ping and the checkout's deadline has passed.
    OutOfTime(Deadline),
}

/// What a checkout about to open a connection got from the cap across processes.
enum CapWait {
    /// A slot of the cap (`None` when no cap is set).
    Permit(Option<CapPermit>),
    /// None, but an idle connection of this pool, claimed: take it instead.
    Idle(usize),
    /// None before the deadline; why, for the timeout error.
    Full(String),
}

/// How a connection that must go is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseIn {
    /// In this thread, now (the reaper, `close`).
    ThisThread,
    /// On the pool's worker thread, so a slow close never delays a borrower (checkout and
    /// checkin).
    Background,
}

impl<M: ManageConnection> Shared<M> {
    /// This process's core. In a forked child the first call abandons the parent's core,
    /// connections and all, without touching them (its lock may even be held), and makes a
    /// fresh one.
    #[inline]
    pub(crate) fn core(&self) -> &Core<M> {
        let ptr = self.core.load(Ordering::Acquire);
        // SAFETY: the pointer is never null, and no core is freed before `Shared` is dropped
        // (an abandoned one is leaked on purpose).
        #[allow(unsafe_code)]
        let core = unsafe { &*ptr };
        if core.fork_generation == fork::generation() {
            core
        } else {
            self.replace_core(ptr)
        }
    }

    #[cold]
    fn replace_core(&self, old: *mut Core<M>) -> &Core<M> {
        // Another thread of the parent may have held this lock at the fork, and its copy here
        // would then stay locked: the options as built stand in for it.
        let control = match self.control.try_lock() {
            Ok(control) => *control,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => *poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => Control {
                sizes: Sizes::of(&self.options),
                suspended: false,
            },
        };
        let fresh = Box::new(Core::new(
            &self.options,
            control.sizes,
            control.suspended,
            fork::generation(),
            self.myself.clone(),
        ));
        if self.closed.load(Ordering::Acquire) {
            let (doomed, _) = fresh.close();
            debug_assert!(doomed.is_empty(), "a fresh core has no connection");
        } else {
            reaper::start(&fresh, &self.options, self.myself.clone());
            publish::start(&fresh, &self.meter, self.myself.clone());
        }
        let fresh = Box::into_raw(fresh);
        let current = match self
            .core
            .compare_exchange(old, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(winner) => {
                // Another thread of this child replaced it first.
                // SAFETY: `fresh` came from Box::into_raw above and was never shared.
                #[allow(unsafe_code)]
                drop(unsafe { Box::from_raw(fresh) });
                winner
            }
        };
        // SAFETY: as in `core`.
        #[allow(unsafe_code)]
        unsafe {
            &*current
        }
    }

    /// Tells the event handler, if there is one. A handler that panics is the user's bug, not
    /// the pool's: the panic is caught and logged, so it can neither leave a slot owned by
    /// nobody (a checkout, a close or a connect half done) nor reach the caller.
    pub(crate) fn emit(&self, event: &Event<'_>) {
        if let Some(events) = &self.events
            && let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| events.handle(event)))
        {
            let said = panic_message(payload.as_ref());
            log::error!(target: "millpond::pool", "[{}] the event handler panicked and was ignored: {said}", self.options.name);
        }
    }

    /// This process's cumulative counters.
    pub(crate) fn stats(&self) -> Stats {
        let core = self.core();
        let mut stats = Stats::default();
        core.counters.fill(&mut stats);
        core.wait_stats().fill(&mut stats);
        stats.checkouts = core.checkouts();
        stats.resets = core.resets();
        stats
    }

    /// The hot path of a checkout: an idle connection claimed without the lock, nothing expired,
    /// the bypass window holding, nothing watching. Otherwise the core, and where it left off,
    /// for [`Shared::checkout_slow`].
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn checkout_fast(&self) -> Result<PooledConnection<M>, (&Core<M>, Started)> {
        // The coarse clock serves the checks and marks when the call began. Read first, while
        // little else is live: the call then saves fewer registers.
        let now = clock::now();
        let core = self.core();
        let mut claimed = None;
        if let Some((index, slot)) = core.claim_fast() {
            // SAFETY: the checkout owns the slot: it claimed it idle.
            #[allow(unsafe_code)]
            let conn = unsafe { slot.conn() }
                .as_mut()
                .expect("an idle slot holds a connection");
            if !self.watched && self.is_fresh(conn, now) {
                return Ok(self.lend_claimed(core, slot, index, conn, Duration::ZERO));
            }
            claimed = Some(index);
        }
        Err((
            core,
            Started {
                claimed,
                entered: now,
            },
        ))
    }

    /// [`Shared::checkout_slow`] for a checkout that waits, and so ends with a connection or an
    /// error: written where the caller wants the result, with no copy on the hot path.
    #[inline(never)]
    fn get_slow(
        &self,
        core: &Core<M>,
        started: Started,
        timeout: Duration,
    ) -> Result<PooledConnection<M>, Error> {
        self.checkout_slow(core, started, timeout, true)
            .map(|conn| conn.expect("a waiting checkout returns a connection or an error"))
    }

    /// Whether an idle connection may be handed out without a check: not past its lifetime,
    /// not older than the last invalidation, used within the pre-ping bypass window (or no
    /// pre-ping).
    #[inline]
    fn is_fresh(&self, conn: &Conn<M>, now: Nanos) -> bool {
        !conn.is_expired(now)
            && !self.predates_invalidation(conn)
            && now.saturating_sub(conn.alive_at) < self.ping_after
    }

    /// The checkout off the hot path, from where the hot path left off.
    fn checkout_slow(
        &self,
        core: &Core<M>,
        started: Started,
        timeout: Duration,
        wait: bool,
    ) -> Result<Option<PooledConnection<M>>, Error> {
        // A checkout that leaves the fast path is traced from there to its end.
        let mut span = spans::Checkout::default();
        let result = self.take(core, started, timeout, wait, &mut span);
        if span.begun() {
            return span.end(result);
        }
        result
    }

    fn take(
        &self,
        core: &Core<M>,
        started: Started,
        timeout: Duration,
        wait: bool,
        span: &mut spans::Checkout,
    ) -> Result<Option<PooledConnection<M>>, Error> {
        // The coarse clock serves the checks and marks when the call began; the precise one is
        // read only once a bounded step (a wait, a connect, a pre-ping) needs the deadline,
        // which is then counted from that beginning, never from when it was first needed.
        let entered = started.entered;
        let mut now = entered;
        let mut deadline = None;
        // Its place in the queue, once it has queued: kept when it comes back (see `replace`).
        let mut place = None;
        // What the hot path claimed first; then the queue. After a connection failed its
        // checks, `next` is what the caller tries without going back to the queue: it keeps
        // its turn.
        let mut next = started
            .claimed
            .map(|index| (Acquired::Idle(index), Duration::ZERO));
        loop {
            let (acquired, waited) = match next.take() {
                Some(next) => next,
                None => {
                    span.begin(&self.options.name);
                    let bound = *deadline.get_or_insert_with(|| Deadline::new(entered, timeout));
                    match core.acquire(&self.options, bound.start, bound.end, &mut place, wait)? {
                        Some(acquired) => acquired,
                        None => return Ok(None),
                    }
                }
            };
            if !waited.is_zero() {
                now = clock::now();
            }
            let index = match acquired {
                // Never used: only an invalidation since its connect began can fault it.
                Acquired::Opened(index) if self.is_stale(core, index) => {
                    let bound = *deadline.get_or_insert_with(|| Deadline::new(entered, timeout));
                    next = self.replace(
                        core,
                        index,
                        CloseReason::Invalidated,
                        wait,
                        bound,
                        &mut place,
                        waited,
                    )?;
                    continue;
                }
                Acquired::Opened(index) => index,
                Acquired::Idle(index) => {
                    match self.check_idle(core, index, now, entered, timeout, &mut deadline) {
                        Ok(()) => index,
                        Err(Check::Failed(reason)) => {
                            let bound = *deadline.get_or_insert_with(|| Deadline::new(entered, timeout));
                            next = self.replace(core, index, reason, wait, bound, &mut place, waited)?;
                            continue;
                        }
                        Err(Check::OutOfTime(bound)) => return self.unchecked(core, index, wait, bound),
                    }
                }
                Acquired::Slot(index) => {
                    let bound = *deadline.get_or_insert_with(|| Deadline::new(entered, timeout));
                    // `try_get` does not wait for the cap either.
                    let cap_deadline = if wait { bound.end } else { Instant::now() };
                    let permit = match self.cap_permit(core, cap_deadline) {
                        Ok(CapWait::Permit(permit)) => permit,
                        Ok(CapWait::Idle(idle)) => {
                            drop(core.give_up_slot(&self.options, index));
                            next = Some((Acquired::Idle(idle), waited));
                            continue;
                        }
                        Ok(CapWait::Full(_)) if !wait => {
                            drop(core.give_up_slot(&self.options, index));
                            return core.take_unreported().map_or(Ok(None), Err);
                        }
                        Ok(CapWait::Full(why)) => {
                            let (err, release) =
                                core.cap_timed_out(&self.options, index, bound.start.elapsed(), why);
                            drop(release);
                            return Err(err);
                        }
                        Err(err) => {
                            Counters::bump(&core.counters.connect_errors);
                            drop(core.connect_failed(&self.options, index, crate::error::chain(&err)));
                            return Err(err);
                        }
                    };
                    if !wait {
                        // `try_get` never waits for a connect. An earlier one it started failed
                        // unreported: that error is this call's answer. Otherwise a connect
                        // starts, and its connection joins the pool when it comes, for this
                        // caller's next try or anyone else.
                        if let Some(err) = core.take_unreported() {
                            drop(permit);
                            drop(core.give_up_slot(&self.options, index));
                            return Err(err);
                        }
                        let ticket = core.start_detached();
                        self.connect_in_background(core, index, permit, ticket);
                        return Ok(None);
                    }
                    if Instant::now() >= bound.end {
                        // Out of time (a zero timeout, say) with a slot to fill: the connect
                        // starts all the same, for the next caller, as `try_get`'s does.
                        let ticket = core.start_detached();
                        self.connect_in_background(core, index, permit, ticket);
                        return Err(core.out_of_time(&self.options, bound.start.elapsed()));
                    }
                    // The connect runs on a thread of its own while the caller waits in the
                    // queue for whichever comes first, a connection given back or its own, and
                    // never past the deadline: no backend's connect can hold the caller longer.
                    match core.start_hedge(&self.options, index, bound.start, bound.end, &mut place) {
                        Ok(ticket) => {
                            next = Some(self.hedge(core, index, permit, ticket, bound)?);
                            continue;
                        }
                        Err((err, release)) => {
                            drop(permit);
                            drop(release);
                            return Err(err);
                        }
                    }
                }
            };
            span.served(waited);
            if self.watched {
                if let Some(hook) = &self.hooks.before_checkout {
                    let bound = *deadline.get_or_insert_with(|| Deadline::new(entered, timeout));
                    match self.before_checkout(core, index, hook, bound) {
                        Ok(()) => {}
                        Err(Check::Failed(reason)) => {
                            next = self.replace(core, index, reason, wait, bound, &mut place, waited)?;
                            continue;
                        }
                        Err(Check::OutOfTime(bound)) => return self.unchecked(core, index, wait, bound),
                    }
                }
                return Ok(Some(self.lend_watched(core, index, now, waited)));
            }
            return Ok(Some(self.lend(core, index, waited)));
        }
    }

    /// For a checkout whose deadline passed before it could check the idle connection it
    /// holds (a pre-ping, the `before_checkout` hook): the connection goes back unchecked, for
    /// a caller with time to spare, and the caller gets a timeout. `try_get` waits for nothing:
    /// for it, nothing is ready.
    #[cold]
    fn unchecked(
        &self,
        core: &Core<M>,
        index: usize,
        wait: bool,
        bound: Deadline,
    ) -> Result<Option<PooledConnection<M>>, Error> {
        self.put_back(core, index, CloseIn::Background);
        if !wait {
            return Ok(None);
        }
        Err(core.out_of_time(&self.options, bound.start.elapsed()))
    }

    /// Runs the `before_checkout` hook on the connection in slot `index`, which the checkout
    /// owns, with what is left of its deadline; none left, the hook is not run. A refusal
    /// closes the connection (the caller replaces it, within the same deadline). A panic
    /// closes it too, and goes on to the caller.
    #[cold]
    #[inline(never)]
    fn before_checkout(
        &self,
        core: &Core<M>,
        index: usize,
        hook: &BeforeCheckout<M>,
        bound: Deadline,
    ) -> Result<(), Check> {
        let time_left = bound.end.saturating_duration_since(Instant::now());
        if time_left.is_zero() {
            return Err(Check::OutOfTime(bound));
        }
        // SAFETY: the checkout owns the slot: it claimed it idle, or opened or was handed it.
        #[allow(unsafe_code)]
        let conn = unsafe { self.conn_in(core, index) };
        let now = clock::now();
        let info = self.info(
            core,
            index,
            conn,
            now,
            clock::since(now, conn.last_used),
            Some(time_left),
        );
        match std::panic::catch_unwind(AssertUnwindSafe(|| hook(&mut conn.raw, &info))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => {
                log::debug!(target: "millpond::pool", "[{}] the before_checkout hook refused connection {}, which is closed and replaced: {}", self.options.name, info.id, crate::error::Chain(why.as_ref()));
                Err(Check::Failed(CloseReason::Discarded))
            }
            Err(payload) => {
                // Its slot is freed before the panic goes on to the caller.
                self.dispose(core, index, CloseReason::Discarded, CloseIn::Background);
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// What the hooks and `retain` are told of the connection `conn` in slot `index` at `now`.
    pub(crate) fn info(
        &self,
        core: &Core<M>,
        index: usize,
        conn: &Conn<M>,
        now: Nanos,
        idle: Duration,
        time_left: Option<Duration>,
    ) -> ConnectionInfo {
        ConnectionInfo {
            id: conn.id,
            age: clock::since(now, conn.opened),
            idle,
            uses: core
                .slots
                .get(index)
                .checkouts()
                .saturating_sub(conn.checkouts_before),
            generation: conn.generation,
            time_left,
        }
    }

    /// What an error of the backend means here: the classifier's answer if it gives one, else
    /// the backend's (a lost server, or a broken connection).
    pub(crate) fn verdict_on(&self, err: &M::Error) -> Verdict {
        match self.classify(err) {
            ErrorClass::LostServer => Verdict::LostServer,
            ErrorClass::Broken => Verdict::Broken,
            ErrorClass::Harmless => Verdict::Harmless,
            _ if self.manager.is_lost_server(err) => Verdict::LostServer,
            _ => Verdict::Broken,
        }
    }

    /// The classifier's answer for `err` ([`ErrorClass::Backend`] without one). A classifier
    /// that panics is taken to have no opinion; the panic is logged.
    fn classify(&self, err: &M::Error) -> ErrorClass {
        let Some(classify) = &self.hooks.classify else {
            return ErrorClass::Backend;
        };
        std::panic::catch_unwind(AssertUnwindSafe(|| classify(err))).unwrap_or_else(|payload| {
            let said = panic_message(payload.as_ref());
            log::error!(target: "millpond::pool", "[{}] the error classifier panicked; the backend's rules decide: {said}", self.options.name);
            ErrorClass::Backend
        })
    }

    /// The connection in slot `index`.
    ///
    /// # Safety
    ///
    /// The caller owns the slot (it claimed it idle, reserved and opened it, or was handed it)
    /// and the slot holds a connection; no other reference to that connection is alive while
    /// the one returned is. Ownership of a slot is exclusive (see `Slots`), which is what makes
    /// the `&mut` sound although it comes from `&self`.
    #[allow(unsafe_code)]
    // The `&mut` from `&self` is this function's contract, stated above, not an accident.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn conn_in<'c>(&self, core: &'c Core<M>, index: usize) -> &'c mut Conn<M> {
        // SAFETY: the caller owns the slot, as this function's contract requires.
        let conn = unsafe { core.slots.get(index).conn() };
        conn.as_mut()
            .expect("an owned slot past opening holds a connection")
    }

    /// Whether the connection in a slot the checkout was handed, just opened, predates the
    /// last invalidation (its connect began before it).
    fn is_stale(&self, core: &Core<M>, index: usize) -> bool {
        // SAFETY: the checkout owns the slot: a background connect handed it over.
        #[allow(unsafe_code)]
        let conn = unsafe { self.conn_in(core, index) };
        self.predates_invalidation(conn)
    }

    /// Whether `conn` was opened (its connect began) before the pool's last invalidation.
    pub(crate) fn predates_invalidation(&self, conn: &Conn<M>) -> bool {
        conn.generation < self.generation.load(Ordering::Relaxed)
    }

    /// The checks before an idle connection is handed out: lifetime, invalidation, pre-ping.
    /// A connection that fails them is replaced by [`Shared::replace`]. The pre-ping gets what
    /// is left of the checkout's deadline (at most `validation_timeout`), never a fresh budget.
    fn check_idle(
        &self,
        core: &Core<M>,
        index: usize,
        now: Nanos,
        entered: Nanos,
        timeout: Duration,
        deadline: &mut Option<Deadline>,
    ) -> Result<(), Check> {
        // SAFETY: the checkout owns the slot: it claimed it idle or was handed it.
        #[allow(unsafe_code)]
        let conn = unsafe { self.conn_in(core, index) };
        if conn.is_expired(now) {
            return Err(Check::Failed(CloseReason::Recycled));
        }
        if self.predates_invalidation(conn) {
            return Err(Check::Failed(CloseReason::Invalidated));
        }
        if now.saturating_sub(conn.alive_at) >= self.ping_after {
            let bound = *deadline.get_or_insert_with(|| Deadline::new(entered, timeout));
            let remaining = bound.end.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Check::OutOfTime(bound));
            }
            let budget = self.options.validation_timeout.min(remaining);
            let span = spans::Ping::pre_ping(&self.options.name, conn.id);
            let pinged = self.ping(core, conn, budget);
            span.end(pinged.as_ref().map(drop));
            if let Err(err) = pinged {
                log::warn!(target: "millpond::pool", "[{}] connection {} failed its pre-ping and is replaced: {}", self.options.name, conn.id, crate::error::Chain(&err));
                return Err(Check::Failed(CloseReason::PingFailed));
            }
        }
        Ok(())
    }

    /// Validates a connection; a failure that means a lost server invalidates the pool. An
    /// error the classifier calls harmless keeps the connection (unless the backend reports it
    /// broken): `Ok`, the failure counted all the same.
    fn ping(&self, core: &Core<M>, conn: &mut Conn<M>, budget: Duration) -> Result<(), M::Error> {
        Counters::bump(&core.counters.pings);
        let Err(err) = self.manager.is_valid(&mut conn.raw, budget) else {
            return Ok(());
        };
        Counters::bump(&core.counters.ping_failures);
        match self.verdict_on(&err) {
            Verdict::LostServer => self.invalidate(InvalidateReason::LostServer(crate::error::chain(&err))),
            Verdict::Harmless if !self.manager.has_broken(&mut conn.raw) => {
                log::debug!(target: "millpond::pool", "[{}] connection {} failed a ping with an error classified harmless, and is kept: {}", self.options.name, conn.id, crate::error::Chain(&err));
                return Ok(());
            }
            Verdict::Harmless | Verdict::Broken => {}
        }
        Err(err)
    }

    /// What a checkout gets after its connection failed the checks, keeping its turn: another
    /// idle connection or a free slot. The failed one is closed in the background (a slow close
    /// never delays a borrower). With nothing else free, the caller goes back to the queue at
    /// its place, before the close, and waits there for the slot the close frees (or anything
    /// else that comes first); `try_get` gets `None` and looks once more.
    #[allow(clippy::too_many_arguments)]
    fn replace(
        &self,
        core: &Core<M>,
        index: usize,
        reason: CloseReason,
        wait: bool,
        bound: Deadline,
        place: &mut Option<u64>,
        waited: Duration,
    ) -> Result<Option<(Acquired, Duration)>, Error> {
        if let Some(acquired) = core.take_next_now(&self.options) {
            self.dispose(core, index, reason, CloseIn::Background);
            return Ok(Some((acquired, waited)));
        }
        if !wait {
            self.dispose(core, index, reason, CloseIn::Background);
            return Ok(None);
        }
        let ticket = core.requeue(bound.start, place);
        self.dispose(core, index, reason, CloseIn::Background);
        core.wait_queued(&self.options, bound.start, bound.end, ticket, waited.is_zero())
            .map(Some)
    }

    /// Takes a slot of the cap across processes for a connection about to be opened, waiting
    /// while every slot is held: until `deadline`, or until a connection of this pool comes
    /// back idle, which the caller then takes instead.
    fn cap_permit(&self, core: &Core<M>, deadline: Instant) -> Result<CapWait, Error> {
        let cap = match &core.cap {
            None => return Ok(CapWait::Permit(None)),
            // A copy for each caller (io::Error is not Clone), of the same kind and message.
            Some(Err(why)) => {
                let why = std::io::Error::new(why.kind(), why.to_string());
                return Err(Error::Connect(Box::new(why)));
            }
            Some(Ok(cap)) => cap,
        };
        // Other processes give slots back without telling: poll, backing off to 10 ms.
        let mut pause = Duration::from_micros(200);
        // Set once the cap was found full: the wait is counted when it ends, however it ends.
        let mut waiting_since = None;
        let outcome = loop {
            match cap.try_acquire() {
                Ok(Some(permit)) => break Ok(CapWait::Permit(Some(permit))),
                Ok(None) => {}
                Err(err) => break Err(Error::Connect(Box::new(err))),
            }
            if let Some((index, _)) = core.claim_fast() {
                break Ok(CapWait::Idle(index));
            }
            let now = Instant::now();
            if waiting_since.is_none() {
                waiting_since = Some(now);
                core.counters.cap_wait_began();
            }
            if now >= deadline {
                break Ok(CapWait::Full(cap.describe_full()));
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(10));
        };
        if let Some(since) = waiting_since {
            core.counters.cap_wait_ended(since.elapsed());
        }
        outcome
    }

    /// The hedged connect: starts the connect on a thread of its own, then waits in the queue
    /// (as `ticket`) for whichever comes first. Kept out of `checkout`, whose fast path it would
    /// only weigh down. Never counted as a wait ([`Stats::waits`]): the caller had a free slot,
    /// so whatever serves it came while it waited for the database, not for the pool.
    #[cold]
    #[inline(never)]
    fn hedge(
        &self,
        core: &Core<M>,
        index: usize,
        permit: Option<CapPermit>,
        ticket: u64,
        bound: Deadline,
    ) -> Result<(Acquired, Duration), Error> {
        self.connect_in_background(core, index, permit, ticket);
        core.wait_queued(&self.options, bound.start, bound.end, ticket, false)
    }

    /// Opens a connection on a thread of its own in a slot the caller reserved and the waiter
    /// `ticket` (the caller, queued) waits beside: see [`Core::start_hedge`].
    fn connect_in_background(
        &self,
        core: &Core<M>,
        index: usize,
        cap_permit: Option<CapPermit>,
        ticket: u64,
    ) {
        let shared = self.myself.upgrade().expect("a checkout holds the pool");
        let parent = spans::Parent::current();
        let spawned = std::thread::Builder::new()
            .name(workers::thread_name(&self.options.name, "connect"))
            .spawn(move || parent.in_scope(|| shared.finish_background_connect(index, cap_permit, ticket)));
        if let Err(err) = spawned {
            // The cap's permit went with the closure. The waiter gets the error as if the
            // connect had failed.
            let message = format!("could not start a thread to open a connection: {err}");
            let err = Error::Connect(message.clone().into());
            drop(core.hedge_failed(&self.options, index, ticket, message, err));
        }
    }

    /// The background thread's part of [`Shared::connect_in_background`].
    fn finish_background_connect(self: Arc<Self>, index: usize, cap_permit: Option<CapPermit>, ticket: u64) {
        let core = self.core();
        let started = Instant::now();
        let connected =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.connect_into(core, index, cap_permit)));
        let connected = match connected {
            Ok(connected) => connected,
            Err(payload) => {
                // The panic hook has printed it; the waiting caller gets it as a connect error,
                // and the slot is freed instead of staying counted as opening for good.
                let message = connect_panicked(payload.as_ref());
                let err = Error::Connect(message.clone().into());
                drop(core.hedge_failed(&self.options, index, ticket, message, err));
                return;
            }
        };
        match connected {
            Ok(()) => {
                if let Returned::Close(reason) = core.hedge_opened(&self.options, index, ticket) {
                    self.close_counted(core, index, reason, CloseIn::ThisThread);
                }
            }
            Err(err) => {
                let message = crate::error::chain(err.as_ref());
                self.emit(&Event::ConnectFailed {
                    error: err.as_ref(),
                    duration: started.elapsed(),
                });
                // This thread holds the pool: the slot's reference is not its last.
                drop(core.hedge_failed(&self.options, index, ticket, message, Error::Connect(err)));
            }
        }
    }

    /// Opens a connection in a slot the caller reserved; on failure the slot is given up and the
    /// backend's error returned as `Error::Connect`.
    fn open(&self, core: &Core<M>, index: usize, cap_permit: Option<CapPermit>) -> Result<(), Error> {
        let started = Instant::now();
        let connected =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.connect_into(core, index, cap_permit)));
        let connected = connected.unwrap_or_else(|payload| {
            // The slot is freed before the panic goes on to the caller, so it does not stay
            // counted as opening for good (one connection fewer for the pool's whole life).
            Counters::bump(&core.counters.connect_errors);
            drop(core.connect_failed(&self.options, index, connect_panicked(payload.as_ref())));
            std::panic::resume_unwind(payload)
        });
        match connected {
            Ok(()) => Ok(()),
            Err(err) => {
                Counters::bump(&core.counters.connect_errors);
                // The caller holds the pool, so this is never its last reference.
                drop(core.connect_failed(&self.options, index, crate::error::chain(err.as_ref())));
                self.emit(&Event::ConnectFailed {
                    error: err.as_ref(),
                    duration: started.elapsed(),
                });
                Err(Error::Connect(err))
            }
        }
    }

    /// Opens a connection into a slot the caller owns (counted and announced) and runs the
    /// `after_connect` hook on it; the error (the backend's, or the hook's refusal) is for the
    /// caller to handle. A backend error the classifier calls a lost server invalidates the
    /// pool.
    fn connect_into(
        &self,
        core: &Core<M>,
        index: usize,
        cap_permit: Option<CapPermit>,
    ) -> Result<(), crate::error::BoxError> {
        let started = Instant::now();
        // Read before connecting: a connect that began before an invalidation is suspect too.
        let generation = self.generation.load(Ordering::Relaxed);
        let span = spans::Connect::begin(&self.options.name);
        match self.manager.connect() {
            Ok(mut raw) => {
                if let Some((hook, after_connect)) = &self.hooks.after_connect
                    && let Err(source) = after_connect(&mut raw)
                {
                    // The connection is closed here, before its slot is given up.
                    drop(raw);
                    let err = HookError { hook, source };
                    span.end(Err(&err));
                    return Err(Box::new(err));
                }
                let duration = started.elapsed();
                Counters::bump(&core.counters.connects);
                let id = core.next_id.fetch_add(1, Ordering::Relaxed);
                span.end::<M::Error>(Ok(id));
                self.meter.connected(duration);
                let conn = Conn::new(
                    raw,
                    id,
                    clock::now(),
                    self.options.recycle,
                    generation,
                    core.fork_generation,
                    core.slots.get(index).checkouts(),
                    cap_permit,
                );
                // SAFETY: the caller reserved the slot: it owns it.
                #[allow(unsafe_code)]
                unsafe {
                    *core.slots.get(index).conn() = Some(conn);
                }
                self.emit(&Event::Connect { id, duration });
                Ok(())
            }
            Err(err) => {
                span.end(Err(&err));
                // Only the classifier speaks here: by the backend's rules alone, a failed
                // connect invalidates nothing.
                if self.classify(&err) == ErrorClass::LostServer {
                    self.invalidate(InvalidateReason::LostServer(crate::error::chain(&err)));
                }
                Err(Box::new(err))
            }
        }
    }

    /// Lends the connection in slot `index`, which the checkout owns, to a guard.
    fn lend(&self, core: &Core<M>, index: usize, waited: Duration) -> PooledConnection<M> {
        let slot = core.slots.get(index);
        // SAFETY: the checkout owns the slot, and lends it to the guard made below.
        #[allow(unsafe_code)]
        let conn = unsafe { self.conn_in(core, index) };
        self.lend_claimed(core, slot, index, conn, waited)
    }

    /// As [`Shared::lend`], with the slot and its connection at hand.
    #[inline(always)]
    fn lend_claimed(
        &self,
        core: &Core<M>,
        slot: &Slot<M>,
        index: usize,
        conn: &mut Conn<M>,
        waited: Duration,
    ) -> PooledConnection<M> {
        slot.count_checkout();
        // A wait-time sample for a checkout that waited (nothing without the `metrics` feature).
        self.meter.checked_out(waited, &mut conn.lent);
        PooledConnection::new(self, core, slot, index, conn)
    }

    /// As [`Shared::lend`], for a pool whose checkouts are watched (see `watched`): the lease
    /// for leak detection, the checkout event.
    #[cold]
    #[inline(never)]
    fn lend_watched(
        &self,
        core: &Core<M>,
        index: usize,
        now: Nanos,
        waited: Duration,
    ) -> PooledConnection<M> {
        let slot = core.slots.get(index);
        slot.count_checkout();
        // SAFETY: the checkout owns the slot, and lends it to the guard made below.
        #[allow(unsafe_code)]
        let conn = unsafe { self.conn_in(core, index) };
        if self.options.leak_threshold.is_some() {
            core.lease(
                conn.id,
                Lease {
                    since: now,
                    backtrace: Arc::new(Backtrace::force_capture()),
                    reported: false,
                },
            );
        }
        self.meter.checked_out(waited, &mut conn.lent);
        if self.events.is_some() {
            self.emit(&Event::Checkout { id: conn.id, waited });
        }
        PooledConnection::new(self, core, slot, index, conn)
    }

    /// Closes the connection of a slot the caller owns (here or on a worker thread), then frees
    /// the slot or hands it to a waiter.
    pub(crate) fn dispose(&self, core: &Core<M>, index: usize, reason: CloseReason, how: CloseIn) {
        core.mark_closing();
        self.close_counted(core, index, reason, how);
    }

    /// As [`Shared::dispose`], for a slot already counted as closing.
    fn close_counted(&self, core: &Core<M>, index: usize, reason: CloseReason, how: CloseIn) {
        match (how, self.myself.upgrade()) {
            (CloseIn::Background, Some(shared)) => {
                core.workers.execute(move || {
                    let release = shared.finish_close(shared.core(), index, reason);
                    drop(release);
                    drop(shared);
                });
            }
            // The caller holds the pool (a handle, or the reaper's reference): not the last.
            _ => drop(self.finish_close(core, index, reason)),
        }
    }

    fn finish_close(&self, core: &Core<M>, index: usize, reason: CloseReason) -> Release<M> {
        self.drop_conn(core, index, reason);
        core.closed_slot(&self.options, index)
    }

    /// Closes the connection of an owned slot, which stays owned. With an r2d2 customizer,
    /// its `on_release` gets the connection to close (a panic there is logged).
    fn drop_conn(&self, core: &Core<M>, index: usize, reason: CloseReason) {
        // SAFETY: the caller owns the slot.
        #[allow(unsafe_code)]
        let conn = unsafe { core.slots.get(index).conn() }.take();
        if let Some(conn) = conn {
            let id = conn.id;
            let span = spans::Close::begin(&self.options.name, id, reason);
            match &self.hooks.on_close {
                None => drop(conn),
                Some(on_close) => {
                    // The connection goes before its slot of the cap across processes.
                    let Conn { raw, cap_permit, .. } = conn;
                    if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| on_close(raw))) {
                        let said = panic_message(payload.as_ref());
                        log::error!(target: "millpond::pool", "[{}] the connection customizer's on_release panicked closing connection {id}: {said}", self.options.name);
                    }
                    drop(cap_permit);
                }
            }
            drop(span);
            core.counters.closed(reason);
            self.emit(&Event::Close { id, reason });
        }
    }

    /// See [`Pool::retain`]: idle connections one at a time, each claimed only while `keep`
    /// looks at it. Returns how many were closed.
    fn retain(&self, keep: &mut dyn FnMut(&mut M::Connection, &ConnectionInfo) -> bool) -> usize {
        let core = self.core();
        let mut closed = 0;
        for (index, slot) in core.slots.iter() {
            if !slot.claim_settled() {
                continue;
            }
            // SAFETY: claimed just above.
            #[allow(unsafe_code)]
            let conn = unsafe { self.conn_in(core, index) };
            let now = clock::now();
            let info = self.info(core, index, conn, now, clock::since(now, conn.last_used), None);
            match std::panic::catch_unwind(AssertUnwindSafe(|| keep(&mut conn.raw, &info))) {
                Ok(true) => self.put_back(core, index, CloseIn::ThisThread),
                Ok(false) => {
                    self.dispose(core, index, CloseReason::Discarded, CloseIn::ThisThread);
                    closed += 1;
                }
                Err(payload) => {
                    // Given back as it was before the panic goes on to the caller.
                    self.put_back(core, index, CloseIn::ThisThread);
                    std::panic::resume_unwind(payload)
                }
            }
        }
        closed
    }

    /// Gives back a slot the caller owns whose connection may be kept; closes it (here or in the
    /// background) if the queue will not keep it.
    pub(crate) fn put_back(&self, core: &Core<M>, index: usize, how: CloseIn) {
        self.put_claimed(core, core.slots.get(index), index, how);
    }

    /// As [`Shared::put_back`], with the slot at hand.
    #[inline]
    pub(crate) fn put_claimed(&self, core: &Core<M>, slot: &Slot<M>, index: usize, how: CloseIn) {
        if let Returned::Close(reason) = core.put(slot, index) {
            self.close_counted(core, index, reason, how);
        }
    }

    /// New sizes (see [`Pool::resize`]). A smaller pool's idle connections are given back one
    /// by one through the queue, which closes those beyond the new sizes.
    fn resize(&self, sizes: Sizes) {
        // The core first: in a forked child its first use makes a fresh one from `control`,
        // which must not be locked by this thread then.
        let core = self.core();
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let before = control.sizes;
        control.sizes = sizes;
        core.resize(&self.options, sizes);
        // Closing the idle connections beyond the new sizes is I/O: not under `control`.
        drop(control);
        log::info!(target: "millpond::pool", "[{}] resized from pool_size {}, max_overflow {} to pool_size {}, max_overflow {}", self.options.name, before.pool_size, Overflow(before.max_overflow), sizes.pool_size, Overflow(sizes.max_overflow));
        if sizes.pool_size < before.pool_size || sizes.max_connections() < before.max_connections() {
            // One at a time, each claimed only while it is given back: the others stay free
            // for checkouts meanwhile.
            for (index, slot) in core.slots.iter() {
                if slot.claim_settled() {
                    self.put_back(core, index, CloseIn::ThisThread);
                }
            }
        }
    }

    /// Suspends or resumes checkouts (see [`Pool::suspend`]).
    fn set_suspended(&self, suspended: bool) {
        // The core first, as in `resize`.
        let core = self.core();
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        if control.suspended == suspended {
            return;
        }
        control.suspended = suspended;
        if suspended {
            core.suspend();
            log::info!(target: "millpond::pool", "[{}] suspended: checkouts wait until it is resumed", self.options.name);
        } else {
            core.resume(&self.options);
            log::info!(target: "millpond::pool", "[{}] resumed", self.options.name);
        }
    }

    pub(crate) fn invalidate(&self, reason: InvalidateReason) {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        match &reason {
            InvalidateReason::Requested => {
                log::info!(target: "millpond::pool", "[{}] invalidated: every connection open now will be replaced", self.options.name)
            }
            InvalidateReason::LostServer(why) => {
                log::warn!(target: "millpond::pool", "[{}] the server looks lost ({why}); every connection open now will be replaced", self.options.name)
            }
        }
        self.emit(&Event::Invalidate {
            generation,
            reason: &reason,
        });
        let core = self.core();
        for index in core.claim_idle() {
            // SAFETY: `claim_idle` claimed the slot for this thread.
            #[allow(unsafe_code)]
            let stale = unsafe { self.conn_in(core, index) }.generation < generation;
            if stale {
                self.dispose(core, index, CloseReason::Invalidated, CloseIn::Background);
            } else {
                self.put_back(core, index, CloseIn::Background);
            }
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let core = self.core();
        core.stop_reaper();
        let (doomed, releases) = core.close();
        for index in doomed {
            self.close_counted(core, index, CloseReason::PoolClosed, CloseIn::ThisThread);
        }
        // The caller holds the pool: these are not its last references.
        drop(releases);
    }

    /// Opens connections until `min_idle` are idle, in this thread (the reaper's); the first
    /// connect error is returned.
    fn fill_min_idle(&self) -> Result<(), Error> {
        let core = self.core();
        let mut first_error = None;
        for index in self.reserve_min_idle(core) {
            if let Err(err) = self.fill_slot(core, index) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// As [`Shared::fill_min_idle`], for a caller that must not wait past `timeout` (`build`,
    /// the settings registry): the connects run on up to `connect_concurrency` threads of their
    /// own, and those still running at the deadline go on, their connections joining the pool
    /// (closed with it when `build` gives it up).
    fn fill_min_idle_within(&self, timeout: Duration) -> Result<(), Error> {
        let core = self.core();
        let start = Instant::now();
        let deadline = clock::after(start, timeout);
        let reserved = self.reserve_min_idle(core);
        let expected = reserved.len();
        if expected == 0 {
            return Ok(());
        }
        let shared = self.myself.upgrade().expect("the caller holds the pool");
        let (tx, rx) = std::sync::mpsc::channel();
        // No more connects at once than `connect_concurrency`: that many threads share the
        // slots to fill.
        let todo = Arc::new(std::sync::Mutex::new(reserved));
        let threads = expected.min(self.options.connect_concurrency.max(1));
        let mut started = 0;
        for _ in 0..threads {
            let (shared, todo, sent) = (Arc::clone(&shared), Arc::clone(&todo), tx.clone());
            let spawned = std::thread::Builder::new()
                .name(workers::thread_name(&self.options.name, "connect"))
                .spawn(move || {
                    loop {
                        let next = todo
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .pop();
                        let Some(index) = next else { break };
                        // A panicking connect has freed its slot as it unwound; the thread
                        // goes on with the others.
                        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            shared.fill_slot(shared.core(), index)
                        }))
                        .unwrap_or_else(|payload| {
                            Err(Error::Connect(connect_panicked(payload.as_ref()).into()))
                        });
                        let _ = sent.send(result);
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(err) => {
                    log::warn!(target: "millpond::pool", "[{}] could not start a thread to open a connection: {err}", self.options.name)
                }
            }
        }
        if started == 0 {
            // Not one thread: the slots are given up, each with the reason.
            let left = std::mem::take(&mut *todo.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            for index in left {
                let message = "could not start a thread to open a connection".to_owned();
                Counters::bump(&core.counters.connect_errors);
                drop(core.connect_failed(&self.options, index, message.clone()));
                let _ = tx.send(Err(Error::Connect(message.into())));
            }
        }
        drop(tx);
        let mut first_error = None;
        for _ in 0..expected {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    first_error.get_or_insert(err);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(
                        first_error.unwrap_or_else(|| core.out_of_time(&self.options, start.elapsed()))
                    );
                }
                // Every thread is gone and every slot was answered for.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Reserves the slots needed to bring the idle connections up to `min_idle` (never above
    /// the `pool_size` in force: a pool resized smaller keeps fewer).
    fn reserve_min_idle(&self, core: &Core<M>) -> Vec<usize> {
        let min_idle = self.options.min_idle;
        core.reserve(|state| {
            min_idle
                .min(state.pool_size)
                .saturating_sub(state.idle + state.opening)
        })
    }

    /// Opens a connection in a slot reserved for `min_idle` and keeps it idle.
    fn fill_slot(&self, core: &Core<M>, index: usize) -> Result<(), Error> {
        // The reaper and `build` never wait for the cap: a full cap means enough are open.
        let permit = match self.cap_permit(core, Instant::now()) {
            Ok(CapWait::Permit(permit)) => permit,
            Ok(CapWait::Idle(idle)) => {
                self.put_back(core, idle, CloseIn::ThisThread);
                drop(core.give_up_slot(&self.options, index));
                return Ok(());
            }
            Ok(CapWait::Full(_)) => {
                drop(core.give_up_slot(&self.options, index));
                return Ok(());
            }
            Err(err) => {
                Counters::bump(&core.counters.connect_errors);
                drop(core.connect_failed(&self.options, index, crate::error::chain(&err)));
                return Err(err);
            }
        };
        self.open(core, index, permit)?;
        core.opened(&self.options);
        self.put_back(core, index, CloseIn::ThisThread);
        Ok(())
    }
}

impl<M: ManageConnection> Drop for Shared<M> {
    fn drop(&mut self) {
        let core = *self.core.get_mut();
        // SAFETY: the pointer came from Box::into_raw and nothing else can reach it now.
        #[allow(unsafe_code)]
        let core = unsafe { Box::from_raw(core) };
        core.stop_reaper();
        if core.fork_generation != fork::generation() {
            // The parent's core in a child that never used the pool: its connections and lock
            // belong to the parent.
            std::mem::forget(core);
        }
    }
}

/// `max_overflow` as people read it: a number, or `unlimited`.
struct Overflow(Option<usize>);

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("unlimited"),
        }
    }
}

/// What a panic in the manager's `connect` said, for the pool's last connect error.
fn connect_panicked(payload: &(dyn std::any::Any + Send)) -> String {
    format!(
        "the connection manager's connect panicked: {}",
        panic_message(payload)
    )
}

/// What a panic said, when it said it with a string.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
