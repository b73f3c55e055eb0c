//! The queue behind the slots: one mutex over the slot counts and the waiters, one condvar per
//! waiter so a returned connection goes straight to the oldest one. The fast path (an idle slot
//! claimed, or given back, while nobody waits) never takes this lock.
//!
//! Nothing here does I/O or calls user code; callers do that after the lock is released. A
//! reference to the pool that a slot gave up is handed back to the caller, to be dropped only
//! once nothing borrows from the pool any more.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::Shared;
use super::cap::ProcessCap;
use super::slots::{self, EMPTY, IDLE, PENDING, Slot, Slots, TAKEN, UNLIMITED};
use super::workers::Workers;
use crate::error::{Error, QueueFullDetails, TimeoutDetails};
use crate::manage::ManageConnection;
use crate::observe::{Counters, State, WaitStats};
use crate::options::PoolOptions;

/// A reference to the pool given up by a slot that became empty: drop it last.
pub(crate) type Release<M> = Option<Arc<Shared<M>>>;

/// One process's pool: made at build, and made anew in a forked child.
pub(crate) struct Core<M: ManageConnection> {
    /// The fork generation this core belongs to.
    pub(crate) fork_generation: u64,
    /// Unique among all cores, for the thread-local memory of the last slot used.
    pub(crate) id: u64,
    pub(crate) slots: Slots<M>,
    /// Threads waiting, mirrored from the queue for the fast path to read.
    waiting: CacheLine<AtomicUsize>,
    /// Slots taken, mirrored from the queue for the fast path to read.
    open: CacheLine<AtomicUsize>,
    /// What the fast path must know of the queue, in one word read with one load: `pool_size`
    /// (shifted by [`SIZE_SHIFT`]), the most connections the sizes allow (by [`CAP_SHIFT`]) and
    /// the flags [`CLOSED`], [`STRICT`] and [`SUSPENDED`]. Written only under the lock, by
    /// [`Core::publish`].
    gate: CacheLine<AtomicUsize>,
    /// A waiter was woken to look for an idle connection and has not looked yet (one such
    /// wake-up at a time is enough), or a quiet period runs: returns do not nudge.
    nudged: CacheLine<AtomicBool>,
    fairness_window: Duration,
    /// Hand out idle connections in this thread's-last-then-lowest order (`lifo`), or round
    /// robin from `cursor`.
    lifo: bool,
    cursor: CacheLine<AtomicUsize>,
    inner: Mutex<Inner>,
    owner: Weak<Shared<M>>,
    pub(crate) counters: Counters,
    pub(crate) next_id: AtomicU64,
    /// The reaper and the background closer.
    pub(crate) workers: Workers,
    /// This process's view of the cap across processes, if one is set; or why its file could
    /// not be opened (every connect then fails with that reason, its kind kept for matching).
    pub(crate) cap: Option<Result<ProcessCap, std::io::Error>>,
}

/// A value on a cache line of its own. The atomics every checkout and return reads (`gate`,
/// `open`) would otherwise share a line with those written while threads wait (`waiting`,
/// `nudged`) or on every round-robin claim (`cursor`), and each such write would evict the line
/// from every other core: measured, that sharing halved the cycle at 32 threads on 2 cores.
#[repr(align(64))]
struct CacheLine<T>(T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Inner {
    /// Slots taken: connections that exist, are being opened or are being closed.
    open: usize,
    opening: usize,
    closing: usize,
    waiters: VecDeque<Waiter>,
    /// What was handed to waiters that have not woken yet, by ticket.
    granted: Vec<(u64, Acquired)>,
    /// The connect errors of background connects whose initiators were still waiting, by
    /// ticket, for them to wake to.
    failed: Vec<(u64, Error)>,
    /// Background connects in flight: the ticket of the waiter that started each, and of the
    /// waiter it is earmarked for (the same, until that one is served by another waiter's
    /// connect and hands its own on).
    hedges: Vec<Hedge>,
    next_ticket: u64,
    closed: bool,
    /// Checkouts wait in the queue and nothing is handed to them ([`Core::suspend`]).
    suspended: bool,
    /// The sizes now (`Pool::resize` changes them).
    sizes: Sizes,
    last_connect_error: Option<String>,
    /// The error of a background connect that `try_get` started and nobody waited for: the
    /// next `try_get` that finds nothing idle returns it.
    unreported: Option<Error>,
    /// Checkouts under watch for leaks (only when `leak_threshold` is set).
    leases: HashMap<u64, Lease>,
    waits: WaitStats,
    /// Returns do not nudge the oldest waiter before this instant (see [`MIN_QUIET`]).
    quiet_until: Option<Instant>,
    /// The last quiet period's length: doubled by each futile wake-up, up to `MAX_QUIET`; zero
    /// once a wake-up finds a connection or nobody waits.
    nudge_backoff: Duration,
}

/// The first quiet period after a futile wake-up: the oldest waiter was woken for a returned
/// connection, and a running thread took it first.
const MIN_QUIET: Duration = Duration::from_micros(50);
/// The longest quiet period: the most a waiter may sleep beside a connection that came back
/// and that nobody took, on top of a wake-up's own latency.
const MAX_QUIET: Duration = Duration::from_millis(1);

struct Waiter {
    ticket: u64,
    wake: Arc<Condvar>,
    /// When its checkout began.
    since: Instant,
    /// Its place in the queue: the ticket its checkout was given when it first queued, which
    /// it keeps when it comes back.
    order: u64,
    /// A background connect in flight is earmarked for it (see [`Hedge`]): it is handed
    /// connections that come back, never a free slot to open another.
    hedging: bool,
}

/// A background connect in flight.
struct Hedge {
    /// The ticket of the waiter that started it: its connect error goes to that waiter if it
    /// still waits.
    initiator: u64,
    /// The ticket of the waiter counting on it. When the connection arrives it goes to the
    /// oldest waiter like any connection given back; if that is another waiter that had a
    /// connect of its own earmarked, that connect is earmarked for this one instead, so that
    /// every waiter marked `hedging` has exactly one connect in flight counting for it.
    earmarked: u64,
    /// Started by `try_get`, which does not wait for it: its error is kept for the next
    /// `try_get` (see `Inner::unreported`).
    detached: bool,
}

/// What a checkout got: a slot it owns now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// A slot holding an idle connection, to be checked before it is handed out.
    Idle(usize),
    /// An empty slot counted as opening: open a connection in it, or give it up with
    /// [`Core::connect_failed`].
    Slot(usize),
    /// A slot holding a connection a background connect has just opened: handed out as it is,
    /// with no check (it has never been used).
    Opened(usize),
}

/// A checkout watched for leaks.
pub(crate) struct Lease {
    pub(crate) since: super::clock::Nanos,
    pub(crate) backtrace: Arc<std::backtrace::Backtrace>,
    pub(crate) reported: bool,
}

/// What became of a connection given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    /// Kept idle or handed to a waiter.
    Kept,
    /// Its slot is counted as closing: the caller closes it, for this reason.
    Close(crate::observe::CloseReason),
}

static NEXT_CORE_ID: AtomicU64 = AtomicU64::new(1);

/// [`Core::gate`]: the pool was closed.
const CLOSED: usize = 1;
/// [`Core::gate`]: the oldest waiter has waited `fairness_window` or longer. Connections coming
/// back go to the waiters in order, and newcomers queue behind them. Below the window a running
/// thread may take a connection that comes back before a sleeping waiter wakes for it.
const STRICT: usize = 2;
/// [`Core::gate`]: the pool is suspended ([`Core::suspend`]): checkouts wait in the queue.
const SUSPENDED: usize = 4;
/// Any of these sends checkouts and returns through the queue, under the lock.
const DETOUR: usize = CLOSED | STRICT | SUSPENDED;
/// Where `pool_size` sits in [`Core::gate`], above the flags.
const SIZE_SHIFT: u32 = 3;
/// Where the most connections the sizes allow sits in [`Core::gate`], above `pool_size`.
const CAP_SHIFT: u32 = 16;
/// `pool_size` and the cap each take this many bits of [`Core::gate`]: [`UNLIMITED`] fits.
const SIZE_MASK: usize = (1 << (CAP_SHIFT - SIZE_SHIFT)) - 1;
const _: () = assert!(UNLIMITED <= SIZE_MASK);

/// `pool_size`, as [`Core::gate`] holds it.
#[inline]
fn gate_pool_size(gate: usize) -> usize {
    (gate >> SIZE_SHIFT) & SIZE_MASK
}

/// The most connections the sizes allow, as [`Core::gate`] holds it.
#[inline]
fn gate_cap(gate: usize) -> usize {
    gate >> CAP_SHIFT
}

/// The pool's sizes now: as built, or as last set by `Pool::resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub(crate) pool_size: usize,
    /// `None` is unlimited (up to [`UNLIMITED`] connections in all).
    pub(crate) max_overflow: Option<usize>,
}

impl Sizes {
    pub(crate) fn of(options: &PoolOptions) -> Sizes {
        Sizes {
            pool_size: options.pool_size,
            max_overflow: options.max_overflow,
        }
    }

    /// The most connections that may exist at once, within the slots there are.
    pub(crate) fn max_connections(&self) -> usize {
        self.max_overflow
            .map_or(UNLIMITED, |overflow| self.pool_size.saturating_add(overflow))
            .min(UNLIMITED)
    }
}

impl<M: ManageConnection> Core<M> {
    /// A core with these `sizes`, suspended or not: those of the pool, which may have been
    /// resized or suspended since it was built.
    pub(crate) fn new(
        options: &PoolOptions,
        sizes: Sizes,
        suspended: bool,
        fork_generation: u64,
        owner: Weak<Shared<M>>,
    ) -> Self {
        // Two threads, so one slow close does not hold up the reaper.
        let workers = Workers::new(&options.name, 2);
        let cap = match (options.max_total_connections, &options.cap_file) {
            (Some(max), Some(path)) => Some(ProcessCap::open(path, max)),
            _ => None,
        };
        Core {
            fork_generation,
            id: NEXT_CORE_ID.fetch_add(1, Ordering::Relaxed),
            // Room for every connection the pool may ever be resized to hold; the slots
            // themselves are allocated when first needed.
            slots: Slots::new(UNLIMITED),
            waiting: CacheLine(AtomicUsize::new(0)),
            open: CacheLine(AtomicUsize::new(0)),
            gate: CacheLine(AtomicUsize::new(Self::gate_word(sizes, false, false, suspended))),
            nudged: CacheLine(AtomicBool::new(false)),
            fairness_window: options.fairness_window,
            lifo: options.lifo,
            cursor: CacheLine(AtomicUsize::new(0)),
            inner: Mutex::new(Inner {
                open: 0,
                opening: 0,
                closing: 0,
                waiters: VecDeque::new(),
                granted: Vec::new(),
                failed: Vec::new(),
                hedges: Vec::new(),
                next_ticket: 0,
                closed: false,
                suspended,
                sizes,
                last_connect_error: None,
                unreported: None,
                leases: HashMap::new(),
                waits: WaitStats::default(),
                quiet_until: None,
                nudge_backoff: Duration::ZERO,
            }),
            owner,
            counters: Counters::default(),
            next_id: AtomicU64::new(1),
            workers,
            cap,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code that can panic runs under this lock, but a poisoned lock must not take the
        // whole pool down with it either.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most slots the pool may take at once.
    fn cap(&self, inner: &Inner) -> usize {
        inner.sizes.max_connections().min(self.slots.capacity())
    }

    /// Whether no more connections stay than the sizes allow: those being closed do not count,
    /// so that after a smaller `resize` the returns close only as many as it takes (with the
    /// closes slow, counting them closed every connection that came back meanwhile).
    fn within_cap(&self, inner: &Inner) -> bool {
        inner.open.saturating_sub(inner.closing) <= self.cap(inner)
    }

    /// The word [`Core::gate`] holds for this state.
    fn gate_word(sizes: Sizes, closed: bool, strict: bool, suspended: bool) -> usize {
        let mut gate =
            (sizes.pool_size.min(UNLIMITED) << SIZE_SHIFT) | (sizes.max_connections() << CAP_SHIFT);
        if closed {
            gate |= CLOSED;
        }
        if strict {
            gate |= STRICT;
        }
        if suspended {
            gate |= SUSPENDED;
        }
        gate
    }

    /// Publishes the queue's state to the fast path: `strict` as given, or as it was. Called
    /// under the lock, which every writer of the gate holds, so nothing it keeps is stale.
    fn publish(&self, inner: &Inner, strict: Option<bool>) {
        let strict = strict.unwrap_or_else(|| self.gate.load(Ordering::Relaxed) & STRICT != 0);
        let gate = Self::gate_word(inner.sizes, inner.closed, strict, inner.suspended);
        // Written only when it changes: every checkout and return reads this line, and waiters
        // refresh it on every turn of their loop.
        if self.gate.load(Ordering::Relaxed) != gate {
            self.gate.store(gate, Ordering::SeqCst);
        }
    }

    /// The fast path: claims an idle slot without the lock, unless a waiter has waited past the
    /// fairness window (then the queue serves waiters first), or the pool is closed or
    /// suspended.
    #[inline]
    pub(crate) fn claim_fast(&self) -> Option<(usize, &Slot<M>)> {
        if self.gate.load(Ordering::SeqCst) & DETOUR != 0 {
            return None;
        }
        self.claim_any()
    }

    /// Recomputes `strict` from the oldest waiter's age.
    fn refresh_strict(&self, inner: &Inner, now: Instant) {
        let strict = inner
            .waiters
            .front()
            .is_some_and(|w| now.saturating_duration_since(w.since) >= self.fairness_window);
        self.publish(inner, Some(strict));
    }

    /// The pool's sizes now.
    pub(crate) fn sizes(&self) -> Sizes {
        self.lock().sizes
    }

    /// New sizes, in force at once: waiters get the slots a larger pool frees for them. Idle
    /// connections beyond the new sizes are for the caller to look at again (each given back
    /// through [`Core::put`], which closes what is too many); borrowed ones are closed when they
    /// come back while more are open than the sizes allow.
    pub(crate) fn resize(&self, options: &PoolOptions, sizes: Sizes) {
        let mut inner = self.lock();
        inner.sizes = sizes;
        self.publish(&inner, None);
        self.serve(&mut inner, options);
    }

    /// Suspends checkouts: from now on they wait in the queue (within their deadlines), and
    /// nothing is handed to them; connections given back stay idle. Checkouts already holding a
    /// slot go on.
    pub(crate) fn suspend(&self) {
        let mut inner = self.lock();
        inner.suspended = true;
        self.publish(&inner, None);
    }

    /// Ends a suspension: the waiters are served at once, oldest first.
    pub(crate) fn resume(&self, options: &PoolOptions) {
        let mut inner = self.lock();
        inner.suspended = false;
        self.publish(&inner, None);
        self.serve(&mut inner, options);
        self.refresh_strict(&inner, Instant::now());
    }

    /// Hands the waiters what is free, as [`Core::dispatch`] does; a connection still on its
    /// way to idle (which went there without waking anyone: the pool was suspended, or too
    /// small for more) is left to the oldest waiter, woken to wait for it.
    fn serve(&self, inner: &mut Inner, options: &PoolOptions) {
        if self.dispatch(inner, options)
            && let Some(oldest) = inner.waiters.front()
        {
            oldest.wake.notify_one();
        }
    }

    /// Takes an idle slot or a free one, waiting until `deadline` if `wait` allows. `Ok(None)`
    /// means nothing was free and `wait` was false.
    pub(crate) fn acquire(
        &self,
        options: &PoolOptions,
        start: Instant,
        deadline: Instant,
        place: &mut Option<u64>,
        wait: bool,
    ) -> Result<Option<(Acquired, Duration)>, Error> {
        let mut inner = self.lock();
        loop {
            if inner.closed {
                return Err(Error::Closed);
            }
            // First come, first served once a waiter has waited past the fairness window: then
            // join the queue behind the waiters. While suspended, everyone waits.
            if inner.suspended
                || (!inner.waiters.is_empty() && self.gate.load(Ordering::SeqCst) & STRICT != 0)
            {
                break;
            }
            // Looked for before the claim, as `dispatch` does: a connection being given back
            // (PENDING, counted as idle by `state`) is waited for rather than passed over for a
            // new connect, or `try_get` would answer "nothing idle" with one about to be.
            // Past the deadline, nothing is waited for.
            let pending = self.any_pending() && Instant::now() < deadline;
            if let Some(acquired) = self.take_next_unless(&mut inner, options, pending) {
                return Ok(Some((acquired, Duration::ZERO)));
            }
            if !pending {
                break;
            }
            // Waited out without the lock: its owner may need the lock (to nudge a waiter, or
            // to hand it to one) before it lets the slot go.
            drop(inner);
            while self.any_pending() && Instant::now() < deadline {
                std::thread::yield_now();
            }
            inner = self.lock();
        }
        if !wait {
            return inner.unreported.take().map_or(Ok(None), Err);
        }
        if options.max_waiting > 0 && inner.waiters.len() >= options.max_waiting {
            return Err(self.queue_full(&mut inner, options));
        }

        let ticket = self.enqueue(&mut inner, start, place, false);
        self.wait_turn(inner, options, start, deadline, ticket, true)
            .map(Some)
    }

    /// Whether a connection is on its way back (PENDING): its owner lets the slot go in a
    /// moment, idle or handed to a waiter.
    fn any_pending(&self) -> bool {
        self.slots.iter().any(|(_, slot)| slot.state() == PENDING)
    }

    /// Queues a waiter in the order the checkouts began: at the back for a new one, at its old
    /// place for one that comes back to the queue (handed a free slot, it now waits beside its
    /// connect; or its connection failed its checks), so that it keeps its turn. Returns its
    /// ticket.
    /// `place` is the checkout's first ticket, set here when it first queues.
    fn enqueue(&self, inner: &mut Inner, start: Instant, place: &mut Option<u64>, hedging: bool) -> u64 {
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        let order = *place.get_or_insert(ticket);
        let at = inner
            .waiters
            .iter()
            .rposition(|w| w.order <= order)
            .map_or(0, |before| before + 1);
        inner.waiters.insert(
            at,
            Waiter {
                ticket,
                wake: Arc::new(Condvar::new()),
                since: start,
                order,
                hedging,
            },
        );
        self.waiting.store(inner.waiters.len(), Ordering::SeqCst);
        self.refresh_strict(inner, Instant::now());
        ticket
    }

    /// For a checkout that reserved the slot `index` to open a connection on a background
    /// thread while it waits in the queue for whichever comes first, a connection given back or
    /// its own: queues the caller (the ticket returned) before the connect starts, so that its
    /// outcome finds it. If the pool is closed or the deadline has passed, the slot is given up
    /// instead and the caller gets why.
    pub(crate) fn start_hedge(
        &self,
        options: &PoolOptions,
        index: usize,
        start: Instant,
        deadline: Instant,
        place: &mut Option<u64>,
    ) -> Result<u64, (Error, Release<M>)> {
        let mut inner = self.lock();
        let now = Instant::now();
        if inner.closed || now >= deadline {
            inner.opening -= 1;
            let release = self.free_or_grant(&mut inner, options, index);
            let err = if inner.closed {
                Error::Closed
            } else {
                self.timed_out(&mut inner, options, now.saturating_duration_since(start), None)
            };
            return Err((err, release));
        }
        let ticket = self.enqueue(&mut inner, start, place, true);
        inner.hedges.push(Hedge {
            initiator: ticket,
            earmarked: ticket,
            detached: false,
        });
        Ok(ticket)
    }

    /// For `try_get`, which reserved a slot and does not wait: a ticket for a background
    /// connect that no waiter stands behind. Its connection enters the pool like one given
    /// back; its error is kept for the next `try_get`.
    pub(crate) fn start_detached(&self) -> u64 {
        let mut inner = self.lock();
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        inner.hedges.push(Hedge {
            initiator: ticket,
            earmarked: ticket,
            detached: true,
        });
        ticket
    }

    /// The error of an earlier background connect that `try_get` started, if one failed and
    /// was not reported yet.
    pub(crate) fn take_unreported(&self) -> Option<Error> {
        self.lock().unreported.take()
    }

    /// A checkout's deadline passed before it could validate the idle connection it holds
    /// (given back already): counts the timeout and says what the pool looked like.
    pub(crate) fn out_of_time(&self, options: &PoolOptions, waited: Duration) -> Error {
        let mut inner = self.lock();
        self.timed_out(&mut inner, options, waited, None)
    }

    /// Ends the record of the background connect started by `initiator`; returns the ticket of
    /// the waiter it was earmarked for.
    fn end_hedge(inner: &mut Inner, initiator: u64) -> Hedge {
        let at = inner
            .hedges
            .iter()
            .position(|h| h.initiator == initiator)
            .expect("a background connect in flight is recorded");
        inner.hedges.swap_remove(at)
    }

    /// The waiter `ticket`, if it still waits, no longer has a connect in flight counting for
    /// it: it may be handed a free slot.
    fn unhedge(inner: &mut Inner, ticket: u64) {
        if let Some(waiter) = inner.waiters.iter_mut().find(|w| w.ticket == ticket) {
            waiter.hedging = false;
        }
    }

    /// For a checkout whose connection failed its checks, with nothing else free: queues it at
    /// its place (its first ticket, if it had queued before) before that connection is closed,
    /// so that the slot the close frees reaches it and not a waiter that came later.
    pub(crate) fn requeue(&self, start: Instant, place: &mut Option<u64>) -> u64 {
        let mut inner = self.lock();
        self.enqueue(&mut inner, start, place, false)
    }

    /// Waits in the queue, as queued by [`Core::start_hedge`] or [`Core::requeue`], until a
    /// connection or a slot comes for this caller, its background connect fails
    /// (`Error::Connect`), the deadline passes or the pool is closed.
    pub(crate) fn wait_queued(
        &self,
        options: &PoolOptions,
        start: Instant,
        deadline: Instant,
        ticket: u64,
        record: bool,
    ) -> Result<(Acquired, Duration), Error> {
        let inner = self.lock();
        self.wait_turn(inner, options, start, deadline, ticket, record)
    }

    /// The queue's wait, for the waiter holding `ticket`. A wait served by a connection given
    /// back is recorded in the wait statistics if `record` (the checkout has not been counted
    /// as waiting yet); one served by a background connect never is.
    fn wait_turn<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner>,
        options: &PoolOptions,
        start: Instant,
        deadline: Instant,
        ticket: u64,
        record: bool,
    ) -> Result<(Acquired, Duration), Error> {
        let wake = match inner.waiters.iter().find(|w| w.ticket == ticket) {
            Some(waiter) => Arc::clone(&waiter.wake),
            // Its background connect already failed (or the pool closed): the loop says which.
            None => Arc::new(Condvar::new()),
        };
        let window_ends = super::clock::after(start, self.fairness_window);
        // Whether this turn of the loop follows a sleep (a nudge, or a timer).
        let mut slept = false;
        // Whether the waiter slept at all.
        let mut blocked = false;
        loop {
            let now = Instant::now();
            if inner.quiet_until.is_none_or(|until| now >= until) {
                inner.quiet_until = None;
                self.nudged.store(false, Ordering::SeqCst);
            }
            let granted_before = inner.granted.iter().any(|(t, _)| *t == ticket);
            // A connection given back while this thread queued (its owner saw no waiter) is
            // found here; one still being given back (PENDING) is waited for.
            let unsettled = self.dispatch(&mut inner, options);
            let now = Instant::now();
            self.refresh_strict(&inner, now);
            if let Some(at) = inner.granted.iter().position(|(t, _)| *t == ticket) {
                let (_, acquired) = inner.granted.swap_remove(at);
                if slept && !granted_before {
                    // The wake-up found a connection: returns may nudge at once again.
                    inner.nudge_backoff = Duration::ZERO;
                }
                self.left_queue(&mut inner);
                let waited = now.saturating_duration_since(start);
                // Served by a connection opened for it, it waited for the database, not for
                // the pool. Handed a free slot before it ever slept, it only took its turn (a
                // queue made strict by older waiters): no wait either.
                let waited_for_pool = match acquired {
                    Acquired::Idle(_) => true,
                    Acquired::Slot(_) => blocked,
                    Acquired::Opened(_) => false,
                };
                if record && waited_for_pool {
                    inner.waits.record_wait(waited);
                }
                return Ok((acquired, waited));
            }
            if let Some(at) = inner.failed.iter().position(|(t, _)| *t == ticket) {
                // Its own background connect failed while it waited: that error, not a timeout.
                let (_, err) = inner.failed.swap_remove(at);
                self.left_queue(&mut inner);
                return Err(err);
            }
            if inner.closed || now >= deadline {
                inner.waiters.retain(|w| w.ticket != ticket);
                self.waiting.store(inner.waiters.len(), Ordering::SeqCst);
                self.refresh_strict(&inner, now);
                self.left_queue(&mut inner);
                if inner.closed {
                    return Err(Error::Closed);
                }
                return Err(self.timed_out(&mut inner, options, now.saturating_duration_since(start), None));
            }
            if unsettled {
                drop(inner);
                std::thread::yield_now();
                inner = self.lock();
                slept = false;
                continue;
            }
            let front = inner.waiters.front().is_some_and(|w| w.ticket == ticket);
            if slept && front && now < window_ends {
                // Woken for a connection that a running thread took first. Such wake-ups cost
                // a context switch each and serve no one: returns stop nudging for a while,
                // twice as long each time it happens again (up to `MAX_QUIET`), and the oldest
                // waiter looks by itself when the quiet ends.
                inner.nudge_backoff = (inner.nudge_backoff * 2).clamp(MIN_QUIET, MAX_QUIET);
                inner.quiet_until = Some(now + inner.nudge_backoff);
                self.nudged.store(true, Ordering::SeqCst);
            }
            // Wake when the fairness window runs out, to turn the queue strict.
            let mut until = if now < window_ends {
                window_ends.min(deadline)
            } else {
                deadline
            };
            if front && let Some(quiet_until) = inner.quiet_until {
                until = until.min(quiet_until);
            }
            inner = wake
                .wait_timeout(inner, until.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            slept = true;
            blocked = true;
        }
    }

    /// A waiter left the queue (served, timed out or closed). A quiet period was the oldest
    /// waiter's to end by looking itself; the next oldest does not keep that schedule, so
    /// returns nudge it again. With nobody left waiting, the contention that made nudges
    /// futile is over.
    fn left_queue(&self, inner: &mut Inner) {
        if inner.quiet_until.take().is_some() {
            self.nudged.store(false, Ordering::SeqCst);
        }
        if inner.waiters.is_empty() {
            inner.nudge_backoff = Duration::ZERO;
        }
    }

    /// Counts a timeout and says what the pool looked like.
    fn timed_out(
        &self,
        inner: &mut Inner,
        options: &PoolOptions,
        waited: Duration,
        cap: Option<String>,
    ) -> Error {
        inner.waits.timeouts += 1;
        let state = self.state_of(inner);
        Error::Timeout(Box::new(TimeoutDetails {
            pool: options.name.clone(),
            waited,
            pool_size: state.pool_size,
            max_overflow: state.max_overflow,
            in_use: state.in_use,
            idle: state.idle,
            waiting: state.waiting,
            last_connect_error: inner.last_connect_error.clone(),
            cross_process_cap: cap,
            suspended: state.suspended,
        }))
    }

    /// Counts a checkout refused because `max_waiting` checkouts wait already, and says what
    /// the pool looked like.
    fn queue_full(&self, inner: &mut Inner, options: &PoolOptions) -> Error {
        inner.waits.queue_full += 1;
        let state = self.state_of(inner);
        Error::QueueFull(Box::new(QueueFullDetails {
            pool: options.name.clone(),
            max_waiting: options.max_waiting,
            waiting: state.waiting,
            pool_size: state.pool_size,
            max_overflow: state.max_overflow,
            in_use: state.in_use,
            idle: state.idle,
            suspended: state.suspended,
        }))
    }

    /// A checkout that reserved `index` to open a connection could not get a slot of the cap
    /// across processes before its deadline: the slot is given up and the timeout counted.
    pub(crate) fn cap_timed_out(
        &self,
        options: &PoolOptions,
        index: usize,
        waited: Duration,
        why: String,
    ) -> (Error, Release<M>) {
        let mut inner = self.lock();
        inner.opening -= 1;
        let release = self.free_or_grant(&mut inner, options, index);
        (self.timed_out(&mut inner, options, waited, Some(why)), release)
    }

    /// Gives up a slot reserved for opening without an error (its holder took an idle
    /// connection instead, or the reaper found the cap full).
    pub(crate) fn give_up_slot(&self, options: &PoolOptions, index: usize) -> Release<M> {
        let mut inner = self.lock();
        inner.opening -= 1;
        self.free_or_grant(&mut inner, options, index)
    }

    /// An idle slot or, within the cap and the connect limit, a free one reserved for opening.
    fn take_next(&self, inner: &mut Inner, options: &PoolOptions) -> Option<Acquired> {
        self.take_next_unless(inner, options, false)
    }

    /// As [`Core::take_next`], but with no new slot while `pending` (a connection is on its way
    /// to idle, to be waited for instead).
    fn take_next_unless(&self, inner: &mut Inner, options: &PoolOptions, pending: bool) -> Option<Acquired> {
        if let Some((index, _)) = self.claim_any() {
            return Some(Acquired::Idle(index));
        }
        if !pending && inner.opening < options.connect_concurrency {
            return self.reserve_slot(inner).map(Acquired::Slot);
        }
        None
    }

    /// Claims an idle slot. With `lifo`, this thread's last one first (a thread keeps reusing
    /// "its" connection, on a cache line no other thread writes), then the lowest, which keeps
    /// use on few connections and lets the others age out. Otherwise round robin, spreading
    /// use over every connection.
    #[inline(always)]
    fn claim_any(&self) -> Option<(usize, &Slot<M>)> {
        if self.lifo {
            if let Some(index) = slots::recent(self.id) {
                let slot = self.slots.get(index);
                if slot.try_claim() {
                    return Some((index, slot));
                }
            }
            return self.claim_lowest();
        }
        self.claim_round_robin()
    }

    /// Claims the next idle slot after the last one claimed (see [`Core::claim_any`]).
    #[inline(never)]
    fn claim_round_robin(&self) -> Option<(usize, &Slot<M>)> {
        // Slots fill lowest first, so the open ones are (nearly) the first `open`.
        let allocated = self.slots.allocated();
        if allocated == 0 {
            return None;
        }
        let open = self.open.load(Ordering::Relaxed).clamp(1, allocated);
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % open;
        (0..allocated).map(|k| (start + k) % allocated).find_map(|index| {
            let slot = self.slots.get(index);
            slot.try_claim().then_some((index, slot))
        })
    }

    /// Claims the lowest idle slot.
    #[inline(never)]
    fn claim_lowest(&self) -> Option<(usize, &Slot<M>)> {
        self.slots
            .iter()
            .find_map(|(index, slot)| slot.try_claim().then_some((index, slot)))
    }

    /// Reserves the lowest empty slot, if the cap allows: it is counted as opening and holds a
    /// reference to the pool.
    fn reserve_slot(&self, inner: &mut Inner) -> Option<usize> {
        if inner.open >= self.cap(inner) {
            return None;
        }
        let owner = self.owner.upgrade()?;
        let index = (0..self.slots.capacity()).find(|&i| self.slots.ensure(i).state() == EMPTY)?;
        let slot = self.slots.get(index);
        // SAFETY: an empty slot is only handed out here, under the lock: nobody else owns it.
        #[allow(unsafe_code)]
        unsafe {
            *slot.owner() = Some(owner);
        }
        slot.set(TAKEN);
        inner.open += 1;
        inner.opening += 1;
        // Sequentially consistent, as the return's read of it after marking its slot PENDING:
        // see `put`.
        self.open.store(inner.open, Ordering::SeqCst);
        Some(index)
    }

    /// Empties an owned slot whose connection is gone, freeing it (the count drops); returns the
    /// slot's reference to the pool, to be dropped last.
    fn empty_slot(&self, inner: &mut Inner, index: usize) -> Release<M> {
        let slot = self.slots.get(index);
        // SAFETY: the caller owns the slot.
        #[allow(unsafe_code)]
        let owner = unsafe { slot.owner().take() };
        slot.set(EMPTY);
        inner.open -= 1;
        self.open.store(inner.open, Ordering::SeqCst);
        owner
    }

    /// Hands what is free to the waiters, oldest first: idle slots, then free slots within the
    /// cap and the connect limit. Returns whether a slot was being given back (PENDING) when the
    /// claim was tried, in which case a waiter must look again soon.
    fn dispatch(&self, inner: &mut Inner, options: &PoolOptions) -> bool {
        let mut unsettled = false;
        if inner.suspended {
            return unsettled;
        }
        while !inner.waiters.is_empty() {
            // Looked for before the claim: a slot PENDING then may turn IDLE just after the
            // claim fails, when its owner's one nudge is already spent. A slot that turns
            // PENDING after this look is followed by a nudge this waiter will see.
            let pending = self.any_pending();
            if let Some((index, _)) = self.claim_any() {
                self.grant(inner, 0, Acquired::Idle(index));
                continue;
            }
            unsettled = pending;
            if inner.opening >= options.connect_concurrency {
                break;
            }
            // A free slot goes to the oldest waiter without a connect of its own in flight.
            let Some(at) = Self::first_opener(inner) else {
                break;
            };
            match self.reserve_slot(inner) {
                Some(index) => self.grant(inner, at, Acquired::Slot(index)),
                None => break,
            }
        }
        unsettled
    }

    /// The oldest waiter that may be handed a free slot: one not opening a connection of its
    /// own on a background thread.
    fn first_opener(inner: &Inner) -> Option<usize> {
        inner.waiters.iter().position(|w| !w.hedging)
    }

    /// Gives an owned slot to the waiter at `at` in the queue (0 is the oldest).
    fn grant(&self, inner: &mut Inner, at: usize, acquired: Acquired) {
        let waiter = inner.waiters.remove(at).expect("granting needs a waiter");
        self.waiting.store(inner.waiters.len(), Ordering::SeqCst);
        inner.granted.push((waiter.ticket, acquired));
        self.refresh_strict(inner, Instant::now());
        waiter.wake.notify_one();
    }

    /// Gives back an owned slot whose connection may be kept: to the oldest waiter, idle, or
    /// (when the pool is closed, `pool_size` are idle already, or more are open than the sizes
    /// allow) to be closed by the caller.
    #[inline]
    pub(crate) fn put(&self, slot: &Slot<M>, index: usize) -> Returned {
        // The fast path: no waiter past the fairness window, no more open than the sizes allow,
        // neither closed nor suspended, and no overflow to drain (no more than `pool_size` open,
        // or fewer than `pool_size` idle).
        if self.gate.load(Ordering::SeqCst) & DETOUR == 0 {
            slot.set_pending();
            // Checked again after PENDING is visible: either this sees a waiter turn the queue
            // strict (or `close`, `suspend`, smaller sizes), or that waiter (or `close`, or the
            // look `resize` takes at the idle slots) sees this slot. Idle connections are
            // counted after it too, as every return that keeps one does (`keep_idle_or_close`
            // as well): of two returns racing to keep the last place, one sees the other.
            // `open` too is read after PENDING is visible: a connection opened meanwhile (whose
            // return then counts this slot) is seen here, or its return sees this slot PENDING;
            // read before, a stale count could keep this one idle without counting the others.
            let gate = self.gate.load(Ordering::SeqCst);
            let open = self.open.load(Ordering::SeqCst);
            if gate & DETOUR == 0
                && open <= gate_cap(gate)
                && (open <= gate_pool_size(gate) || self.idle_besides(index) < gate_pool_size(gate))
            {
                // Looked at before it is swapped: while a wake-up is on its way (or a quiet
                // period runs) every return would otherwise write the line, for nothing.
                if self.waiting.load(Ordering::SeqCst) > 0
                    && !self.nudged.load(Ordering::SeqCst)
                    && !self.nudged.swap(true, Ordering::SeqCst)
                {
                    // Wake the oldest waiter to take it, unless a running thread does first.
                    // Before letting go: after that the pool is not this thread's to touch.
                    self.nudge();
                }
                slot.set(IDLE);
                slots::remember(self.id, index);
                return Returned::Kept;
            }
        }
        self.put_queued(slot, index)
    }

    /// [`Core::put`] through the queue, under the lock.
    #[inline(never)]
    fn put_queued(&self, slot: &Slot<M>, index: usize) -> Returned {
        let mut inner = self.lock();
        if inner.closed {
            slot.set(TAKEN);
            inner.closing += 1;
            return Returned::Close(crate::observe::CloseReason::PoolClosed);
        }
        // Handed on only while no more are open than the sizes allow (a smaller `resize` can
        // leave more): otherwise it goes, and the waiters wait for what the sizes allow.
        if !inner.suspended
            && self.within_cap(&inner)
            && let Some(waiter) = inner.waiters.pop_front()
        {
            slot.set(TAKEN);
            self.waiting.store(inner.waiters.len(), Ordering::SeqCst);
            inner.granted.push((waiter.ticket, Acquired::Idle(index)));
            drop(inner);
            // Woken once the lock is released, so the waiter does not wake only to wait for it.
            waiter.wake.notify_one();
            return Returned::Kept;
        }
        let kept = self.keep_idle_or_close(inner, index);
        if kept == Returned::Kept {
            slots::remember(self.id, index);
        }
        kept
    }

    /// With nobody to hand it to: keeps the connection in the owned slot `index` idle, unless
    /// `pool_size` are idle already or more are open than the sizes allow (then its slot is
    /// counted as closing, for the caller to close). Releases the lock.
    fn keep_idle_or_close(&self, mut inner: MutexGuard<'_, Inner>, index: usize) -> Returned {
        let slot = self.slots.get(index);
        // Connections on their way to idle (PENDING) count too, and this one is marked PENDING
        // before the others are counted, as the fast path of `put` does without the lock: of
        // two returns racing to keep the last place, one sees the other, and no more than
        // `pool_size` stay idle.
        slot.set_pending();
        if !self.within_cap(&inner) || self.idle_besides(index) >= inner.sizes.pool_size {
            slot.set(TAKEN);
            inner.closing += 1;
            return Returned::Close(crate::observe::CloseReason::Overflow);
        }
        drop(inner);
        // Let go only after the lock is released: from here on the slot is not ours.
        slot.set(IDLE);
        Returned::Kept
    }

    /// Connections idle or on their way to idle (PENDING), other than the one in `index`: what
    /// a connection coming back is measured against `pool_size` with.
    #[inline(never)]
    fn idle_besides(&self, index: usize) -> usize {
        self.slots
            .iter()
            .filter(|&(i, s)| i != index && matches!(s.state(), IDLE | PENDING))
            .count()
    }

    /// Wakes the oldest waiter, to look for an idle connection.
    fn nudge(&self) {
        let wake = self.lock().waiters.front().map(|w| Arc::clone(&w.wake));
        if let Some(wake) = wake {
            wake.notify_one();
        }
    }

    /// An owned slot's connection is about to be closed.
    pub(crate) fn mark_closing(&self) {
        self.lock().closing += 1;
    }

    /// An owned slot's connection was closed: the slot goes to the oldest waiter, who opens a
    /// connection in it, or is freed.
    pub(crate) fn closed_slot(&self, options: &PoolOptions, index: usize) -> Release<M> {
        let mut inner = self.lock();
        inner.closing -= 1;
        self.free_or_grant(&mut inner, options, index)
    }

    /// Opening a connection in an owned slot failed.
    pub(crate) fn connect_failed(&self, options: &PoolOptions, index: usize, error: String) -> Release<M> {
        let mut inner = self.lock();
        inner.opening -= 1;
        inner.last_connect_error = Some(error);
        self.free_or_grant(&mut inner, options, index)
    }

    fn free_or_grant(&self, inner: &mut Inner, options: &PoolOptions, index: usize) -> Release<M> {
        // Handed on as it is only while no more are open than the sizes allow (a smaller
        // `resize` can leave more), and not while suspended.
        if !inner.closed
            && !inner.suspended
            && self.within_cap(inner)
            && inner.opening < options.connect_concurrency
            && let Some(at) = Self::first_opener(inner)
        {
            inner.opening += 1;
            self.grant(inner, at, Acquired::Slot(index));
            return None;
        }
        let owner = self.empty_slot(inner, index);
        self.dispatch(inner, options);
        owner
    }

    /// A connection was opened in an owned slot: it is in use now, and one more may be opened.
    pub(crate) fn opened(&self, options: &PoolOptions) {
        let mut inner = self.lock();
        inner.opening -= 1;
        inner.unreported = None;
        self.dispatch(&mut inner, options);
    }

    /// A background connect (see [`Core::start_hedge`]) opened a connection in an owned slot: it
    /// enters the pool as a connection given back does, to the oldest waiter (whoever started
    /// the connect), else idle, else (the pool closed, or `pool_size` idle already) to be
    /// closed by the caller. If it goes to another waiter than the one it was earmarked for,
    /// that waiter's own connect in flight, if it had one, is earmarked for this one instead;
    /// otherwise this one may be handed a free slot again.
    pub(crate) fn hedge_opened(&self, options: &PoolOptions, index: usize, ticket: u64) -> Returned {
        let mut inner = self.lock();
        inner.opening -= 1;
        let earmarked = Self::end_hedge(&mut inner, ticket).earmarked;
        if inner.closed {
            inner.closing += 1;
            return Returned::Close(crate::observe::CloseReason::PoolClosed);
        }
        // A connection arrived: a try_get's older failure is no news any more.
        inner.unreported = None;
        // Handed out only while no more are open than the sizes allow, and not while suspended.
        let may_hand_out = !inner.suspended && self.within_cap(&inner);
        if may_hand_out && let Some((front, hedging)) = inner.waiters.front().map(|w| (w.ticket, w.hedging)) {
            // To a waiter with a connect of its own in flight, it is as good as that connect:
            // it waited for the database, not for the pool. To a waiter queued with none (the
            // connect limit was reached), it is a connection that came its way while it
            // waited: a wait.
            let acquired = if hedging {
                Acquired::Opened(index)
            } else {
                Acquired::Idle(index)
            };
            if front != earmarked {
                match inner.hedges.iter_mut().find(|h| h.earmarked == front) {
                    Some(hedge) => hedge.earmarked = earmarked,
                    None => Self::unhedge(&mut inner, earmarked),
                }
            }
            self.grant(&mut inner, 0, acquired);
            // One fewer opening: another waiter may open one now.
            self.dispatch(&mut inner, options);
            return Returned::Kept;
        }
        // Kept idle or closed: the waiter it was earmarked for, if any, has no connect in
        // flight any more.
        Self::unhedge(&mut inner, earmarked);
        self.keep_idle_or_close(inner, index)
    }

    /// A background connect failed. If the waiter that started it (`ticket`) still waits, it
    /// leaves the queue with `error`; if it was served meanwhile, the error is only kept as the
    /// last connect error (as it is in both cases). A waiter it was earmarked for that still
    /// waits may be handed a free slot again. The slot is freed, or handed to a waiter to open
    /// a connection in it.
    pub(crate) fn hedge_failed(
        &self,
        options: &PoolOptions,
        index: usize,
        ticket: u64,
        message: String,
        error: Error,
    ) -> Release<M> {
        let mut inner = self.lock();
        // Counted under the lock that records the failure: whoever sees the count and then asks
        // (a `try_get`) finds the failure, and whoever sees the opening end sees the count.
        Counters::bump(&self.counters.connect_errors);
        inner.opening -= 1;
        inner.last_connect_error = Some(message);
        let hedge = Self::end_hedge(&mut inner, ticket);
        Self::unhedge(&mut inner, hedge.earmarked);
        if let Some(at) = inner.waiters.iter().position(|w| w.ticket == ticket) {
            let waiter = inner.waiters.remove(at).expect("found just now");
            self.waiting.store(inner.waiters.len(), Ordering::SeqCst);
            inner.failed.push((ticket, error));
            self.refresh_strict(&inner, Instant::now());
            waiter.wake.notify_one();
        } else if hedge.detached {
            inner.unreported = Some(error);
        }
        self.free_or_grant(&mut inner, options, index)
    }

    /// For a checkout whose connection failed its checks, and which keeps its turn whoever
    /// waits: an idle slot or a free one, if there is one.
    pub(crate) fn take_next_now(&self, options: &PoolOptions) -> Option<Acquired> {
        let mut inner = self.lock();
        if inner.suspended {
            return None;
        }
        self.take_next(&mut inner, options)
    }

    /// Reserves up to `want` slots for connections the reaper opens, within the cap.
    pub(crate) fn reserve(&self, want: impl FnOnce(&State) -> usize) -> Vec<usize> {
        let mut inner = self.lock();
        if inner.closed {
            return Vec::new();
        }
        let state = self.state_of(&inner);
        (0..want(&state))
            .map_while(|_| self.reserve_slot(&mut inner))
            .collect()
    }

    /// Claims every idle slot (waiting for those being given back), for the caller to inspect
    /// and then give back or close.
    pub(crate) fn claim_idle(&self) -> Vec<usize> {
        let mut claimed = Vec::new();
        for (index, slot) in self.slots.iter() {
            loop {
                match slot.state() {
                    IDLE if slot.try_claim() => {
                        claimed.push(index);
                        break;
                    }
                    IDLE | PENDING => std::thread::yield_now(),
                    _ => break,
                }
            }
        }
        claimed
    }

    /// Closes the queue: later checkouts and all waiters get `Error::Closed`. Returns the slots
    /// the caller must close (idle ones and those granted to waiters that never woke), each
    /// counted as closing, and the references to drop last.
    pub(crate) fn close(&self) -> (Vec<usize>, Vec<Arc<Shared<M>>>) {
        let mut inner = self.lock();
        inner.closed = true;
        self.publish(&inner, None);
        let mut doomed = Vec::new();
        let mut releases = Vec::new();
        for (_, acquired) in std::mem::take(&mut inner.granted) {
            match acquired {
                Acquired::Idle(index) | Acquired::Opened(index) => doomed.push(index),
                Acquired::Slot(index) => {
                    inner.opening -= 1;
                    releases.extend(self.empty_slot(&mut inner, index));
                }
            }
        }
        for waiter in inner.waiters.drain(..) {
            waiter.wake.notify_one();
        }
        self.waiting.store(0, Ordering::SeqCst);
        drop(inner);
        doomed.extend(self.claim_idle());
        self.lock().closing += doomed.len();
        (doomed, releases)
    }

    /// Stops the reaper's periodic round.
    pub(crate) fn stop_reaper(&self) {
        self.workers.stop_periodic();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.gate.load(Ordering::Acquire) & CLOSED != 0
    }

    pub(crate) fn state(&self) -> State {
        let inner = self.lock();
        self.state_of(&inner)
    }

    fn state_of(&self, inner: &Inner) -> State {
        let idle = self
            .slots
            .iter()
            .filter(|(_, slot)| matches!(slot.state(), IDLE | PENDING))
            .count();
        State {
            pool_size: inner.sizes.pool_size,
            max_overflow: inner.sizes.max_overflow,
            open: inner.open,
            idle,
            in_use: inner.open.saturating_sub(idle + inner.opening + inner.closing),
            overflow: inner.open.saturating_sub(inner.sizes.pool_size),
            opening: inner.opening,
            closing: inner.closing,
            waiting: inner.waiters.len(),
            closed: inner.closed,
            suspended: inner.suspended,
        }
    }

    pub(crate) fn wait_stats(&self) -> WaitStats {
        self.lock().waits.clone()
    }

    /// Checkouts through every slot.
    pub(crate) fn checkouts(&self) -> u64 {
        self.slots.iter().map(|(_, slot)| slot.checkouts()).sum()
    }

    /// Resets through every slot.
    pub(crate) fn resets(&self) -> u64 {
        self.slots.iter().map(|(_, slot)| slot.resets()).sum()
    }

    pub(crate) fn last_connect_error(&self) -> Option<String> {
        self.lock().last_connect_error.clone()
    }

    pub(crate) fn lease(&self, id: u64, lease: Lease) {
        self.lock().leases.insert(id, lease);
    }

    /// Ends a watched checkout; returns how long it was held if it had been reported as a leak.
    pub(crate) fn end_lease(&self, id: u64, now: super::clock::Nanos) -> Option<Duration> {
        let lease = self.lock().leases.remove(&id)?;
        lease.reported.then(|| super::clock::since(now, lease.since))
    }

    /// Marks and returns the checkouts held longer than `threshold` not yet reported.
    pub(crate) fn new_leaks(
        &self,
        now: super::clock::Nanos,
        threshold: Duration,
    ) -> Vec<(u64, Duration, Arc<std::backtrace::Backtrace>)> {
        let mut inner = self.lock();
        let mut leaks = Vec::new();
        for (id, lease) in inner.leases.iter_mut() {
            let held = super::clock::since(now, lease.since);
            if !lease.reported && held >= threshold {
                lease.reported = true;
                leaks.push((*id, held, Arc::clone(&lease.backtrace)));
            }
        }
        leaks
    }
}
