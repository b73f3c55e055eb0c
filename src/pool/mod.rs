//! The pool: its public handle, the per-process core behind it, checkout and checkin.

mod conn;
mod core;
mod fork;
mod guard;
mod observe;
mod reaper;

use std::backtrace::Backtrace;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use self::conn::Conn;
use self::core::{Acquired, Core, Lease, Returned, SlotEnd};
pub use self::guard::PooledConnection;
use self::observe::{BothHandlers, Counters, EchoEvents};
pub use self::observe::{CloseReason, Event, HandleEvent, InvalidateReason, State, Stats, WAIT_BUCKETS};
use crate::config::{Builder, PoolOptions};
use crate::error::Error;
use crate::manage::ManageConnection;

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
    shared: Arc<Shared<M>>,
}

impl<M: ManageConnection> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: ManageConnection> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.shared.options.name)
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
    pub(crate) events: Option<Arc<dyn HandleEvent>>,
    /// Set by `close`, outside any core, so a pool closed before a fork stays closed in the
    /// child (whose fresh core knows nothing of the parent's).
    closed: AtomicBool,
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

    pub(crate) fn from_parts(manager: M, options: PoolOptions) -> Pool<M> {
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
        let shared = Arc::new_cyclic(|myself: &Weak<Shared<M>>| {
            let core = Box::new(Core::new(&options, fork::generation()));
            reaper::start(&core, &options, myself.clone());
            Shared {
                manager,
                options,
                core: AtomicPtr::new(Box::into_raw(core)),
                generation: AtomicU64::new(0),
                events,
                closed: AtomicBool::new(false),
                myself: myself.clone(),
            }
        });
        Pool { shared }
    }

    /// Checks out a connection, waiting up to the pool's `timeout`.
    pub fn get(&self) -> Result<PooledConnection<M>, Error> {
        self.get_timeout(self.shared.options.timeout)
    }

    /// Checks out a connection, waiting up to `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<PooledConnection<M>, Error> {
        self.shared
            .checkout(timeout, true)
            .map(|conn| conn.expect("a waiting checkout returns a connection or an error"))
    }

    /// Checks out a connection only if one is idle or a slot is free, without waiting for
    /// another thread to give one back. `Ok(None)` means the pool is busy; a connect error is
    /// still an error (r2d2's `try_get` returns `None` for both).
    pub fn try_get(&self) -> Result<Option<PooledConnection<M>>, Error> {
        self.shared.checkout(self.shared.options.timeout, false)
    }

    /// The pool's counts now.
    pub fn state(&self) -> State {
        self.shared.core().state(&self.shared.options)
    }

    /// The pool's cumulative counters.
    pub fn stats(&self) -> Stats {
        let core = self.shared.core();
        let mut stats = Stats::default();
        // Counters first: a failed acquisition is counted after its acquisition, so reading the
        // failures before the acquisitions never makes `checkouts` count low.
        core.counters.fill(&mut stats);
        let unlent = core.counters.unlent.load(Ordering::Relaxed);
        core.wait_stats().fill(&mut stats, unlent);
        stats
    }

    /// Marks every connection open now as stale: idle ones are closed at once (in the
    /// background), checked-out ones when they come back. SQLAlchemy's `pool.invalidate()`,
    /// HikariCP's `softEvictConnections`.
    pub fn invalidate(&self) {
        self.shared.invalidate(InvalidateReason::Requested);
    }

    /// Closes the pool: idle connections now, checked-out ones when they are given back.
    /// Waiting threads and every later checkout get [`Error::Closed`]. The reaper stops.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.core().is_closed()
    }

    /// The options the pool was built with.
    pub fn options(&self) -> &PoolOptions {
        &self.shared.options
    }

    /// The connection manager.
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }

    /// The last connect error the pool saw, if any.
    pub fn last_connect_error(&self) -> Option<String> {
        self.shared.core().last_connect_error()
    }

    /// Opens connections until `min_idle` are idle; the first connect error is returned.
    pub(crate) fn fill_min_idle(&self) -> Result<(), Error> {
        self.shared.fill_min_idle()
    }
}

/// How a connection that must go is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseIn {
    /// In this thread, now (checkin, the reaper, `close`).
    ThisThread,
    /// On the pool's worker thread, so a slow close never delays a borrower.
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
        let fresh = Box::new(Core::new(&self.options, fork::generation()));
        if self.closed.load(Ordering::Acquire) {
            fresh.close();
        } else {
            reaper::start(&fresh, &self.options, self.myself.clone());
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

    pub(crate) fn emit(&self, event: &Event<'_>) {
        if let Some(events) = &self.events {
            events.handle(event);
        }
    }

    fn checkout(
        self: &Arc<Self>,
        timeout: Duration,
        wait: bool,
    ) -> Result<Option<PooledConnection<M>>, Error> {
        let core = self.core();
        let start = Instant::now();
        // A deadline past what Instant can hold is as good as none.
        let deadline = start
            .checked_add(timeout)
            .unwrap_or_else(|| start + Duration::from_secs(86_400 * 365));
        // What to try next without going back to the queue: after a connection failed its
        // checks, the caller keeps its turn.
        let mut next = None;
        loop {
            let (acquired, waited) = match next.take() {
                Some(next) => next,
                None => match core.acquire(&self.options, start, deadline, wait)? {
                    Some(acquired) => acquired,
                    None => return Ok(None),
                },
            };
            let now = if waited.is_zero() { start } else { Instant::now() };
            let conn = match acquired {
                Acquired::Idle(conn) => match self.check_idle(core, conn, now, deadline) {
                    Ok(conn) => conn,
                    Err((failed, reason)) => {
                        Counters::bump(&core.counters.unlent);
                        next = Some((self.replace(core, failed, reason), waited));
                        continue;
                    }
                },
                Acquired::Slot => {
                    let conn = self
                        .open(core)
                        .inspect_err(|_| Counters::bump(&core.counters.unlent))?;
                    core.opened();
                    conn
                }
            };
            return Ok(Some(self.lend(core, conn, now, waited)));
        }
    }

    /// The checks before an idle connection is handed out: lifetime, invalidation, pre-ping.
    /// A connection that fails them comes back with the reason, for [`Shared::replace`].
    fn check_idle(
        &self,
        core: &Core<M>,
        mut conn: Conn<M>,
        now: Instant,
        deadline: Instant,
    ) -> Result<Conn<M>, (Conn<M>, CloseReason)> {
        if conn.is_expired(now) {
            return Err((conn, CloseReason::Recycled));
        }
        if conn.generation < self.generation.load(Ordering::Relaxed) {
            return Err((conn, CloseReason::Invalidated));
        }
        if self.options.pre_ping
            && now.saturating_duration_since(conn.alive_at) >= self.options.pre_ping_bypass
        {
            let budget = self
                .options
                .validation_timeout
                .min(deadline.saturating_duration_since(now));
            if let Err(err) = self.ping(core, &mut conn, budget) {
                log::warn!(target: "millpond::pool", "[{}] connection {} failed its pre-ping and is replaced: {err}", self.options.name, conn.id);
                return Err((conn, CloseReason::PingFailed));
            }
        }
        Ok(conn)
    }

    /// What a checkout tries after its connection failed the checks, keeping its turn: another
    /// idle connection or a free slot, the failed one being closed in the background; or, with
    /// the pool at its cap, the failed connection's own slot, closed here first so the cap holds.
    fn replace(&self, core: &Core<M>, failed: Conn<M>, reason: CloseReason) -> Acquired<M> {
        match core.take_next(&self.options) {
            Some(acquired) => {
                self.dispose(core, failed, reason, CloseIn::Background, false);
                acquired
            }
            None => {
                self.close_now(core, failed, reason);
                Acquired::Slot
            }
        }
    }

    /// Validates a connection; a failure that means a lost server invalidates the pool.
    fn ping(&self, core: &Core<M>, conn: &mut Conn<M>, budget: Duration) -> Result<(), M::Error> {
        Counters::bump(&core.counters.pings);
        let result = self.manager.is_valid(&mut conn.raw, budget);
        if let Err(err) = &result {
            Counters::bump(&core.counters.ping_failures);
            if self.manager.is_lost_server(err) {
                self.invalidate(InvalidateReason::LostServer(err.to_string()));
            }
        }
        result
    }

    /// Opens a connection in a slot already reserved; on failure the slot is given up and the
    /// backend's error returned as `Error::Connect`.
    fn open(&self, core: &Core<M>) -> Result<Conn<M>, Error> {
        let started = Instant::now();
        // Read before connecting: a connect that began before an invalidation is suspect too.
        let generation = self.generation.load(Ordering::Relaxed);
        match self.manager.connect() {
            Ok(raw) => {
                let now = Instant::now();
                Counters::bump(&core.counters.connects);
                let id = core.next_id.fetch_add(1, Ordering::Relaxed);
                let conn = Conn::new(
                    raw,
                    id,
                    now,
                    self.options.recycle,
                    generation,
                    core.fork_generation,
                );
                self.emit(&Event::Connect {
                    id,
                    duration: now - started,
                });
                Ok(conn)
            }
            Err(err) => {
                Counters::bump(&core.counters.connect_errors);
                let message = err.to_string();
                core.slot_done(SlotEnd::ConnectFailed, Some(message));
                self.emit(&Event::ConnectFailed {
                    error: &err,
                    duration: started.elapsed(),
                });
                Err(Error::Connect(Box::new(err)))
            }
        }
    }

    fn lend(
        self: &Arc<Self>,
        core: &Core<M>,
        conn: Conn<M>,
        now: Instant,
        waited: Duration,
    ) -> PooledConnection<M> {
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
        self.emit(&Event::Checkout { id: conn.id, waited });
        PooledConnection::new(Arc::clone(self), conn)
    }

    /// Closes a connection that has left the queue, then frees (or hands on) its slot.
    /// `counted` says whether the queue already counts it as closing.
    pub(crate) fn dispose(
        &self,
        core: &Core<M>,
        conn: Conn<M>,
        reason: CloseReason,
        how: CloseIn,
        counted: bool,
    ) {
        if !counted {
            core.mark_closing(false);
        }
        match how {
            CloseIn::ThisThread => self.finish_close(core, conn, reason),
            CloseIn::Background => match self.myself.upgrade() {
                Some(shared) => {
                    core.workers.execute(move || {
                        let core = shared.core();
                        shared.finish_close(core, conn, reason);
                    });
                }
                None => self.finish_close(core, conn, reason),
            },
        }
    }

    fn finish_close(&self, core: &Core<M>, conn: Conn<M>, reason: CloseReason) {
        let id = conn.id;
        if conn.fork_generation != core.fork_generation {
            // Opened by the parent process: closing it would end the parent's session.
            std::mem::forget(conn);
            return;
        }
        drop(conn);
        core.counters.closed(reason);
        core.slot_done(SlotEnd::Closed, None);
        self.emit(&Event::Close { id, reason });
    }

    /// Closes a checked-out connection in this thread and keeps its slot for a new connection
    /// this thread opens.
    fn close_now(&self, core: &Core<M>, conn: Conn<M>, reason: CloseReason) {
        let id = conn.id;
        drop(conn);
        core.counters.closed(reason);
        core.reopen_slot();
        self.emit(&Event::Close { id, reason });
    }

    /// Gives a connection back to the queue, or closes it here if the queue will not keep it.
    pub(crate) fn put_back(&self, core: &Core<M>, conn: Conn<M>, was_opening: bool, how: CloseIn) {
        if let Returned::Close(conn, reason) = core.put(&self.options, conn, was_opening) {
            self.dispose(core, conn, reason, how, true);
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
        let stale = core.take_idle(|conn, _| conn.generation < generation);
        for conn in stale {
            self.dispose(core, conn, CloseReason::Invalidated, CloseIn::Background, false);
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let core = self.core();
        core.stop_reaper();
        for conn in core.close() {
            self.finish_close(core, conn, CloseReason::PoolClosed);
        }
    }

    fn fill_min_idle(&self) -> Result<(), Error> {
        let core = self.core();
        let min_idle = self.options.min_idle;
        let n = core.reserve(&self.options, |state| {
            min_idle.saturating_sub(state.idle + state.opening)
        });
        let mut first_error = None;
        for _ in 0..n {
            match self.open(core) {
                Ok(conn) => self.put_back(core, conn, true, CloseIn::ThisThread),
                Err(err) => {
                    if first_error.is_none() {
                        first_error = Some(err);
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
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
