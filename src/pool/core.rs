//! The queue: one mutex over the idle list, the slot counts and the waiters, one condvar per
//! waiter so a returned connection goes straight to the oldest one.
//!
//! Nothing here does I/O or calls user code; callers do that after the lock is released.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use scheduled_thread_pool::{JobHandle, ScheduledThreadPool};

use super::conn::Conn;
use super::observe::{Counters, State, WaitStats};
use crate::config::PoolOptions;
use crate::error::{Error, TimeoutDetails};
use crate::manage::ManageConnection;

/// One process's pool: made at build, and made anew in a forked child.
pub(crate) struct Core<M: ManageConnection> {
    /// The fork generation this core belongs to.
    pub(crate) fork_generation: u64,
    inner: Mutex<Inner<M>>,
    pub(crate) counters: Counters,
    pub(crate) next_id: AtomicU64,
    /// The reaper and the background closer.
    pub(crate) workers: ScheduledThreadPool,
    pub(crate) reaper_job: Mutex<Option<JobHandle>>,
}

struct Inner<M: ManageConnection> {
    idle: VecDeque<Conn<M>>,
    /// Slots taken: connections that exist, are being opened or are being closed.
    open: usize,
    opening: usize,
    closing: usize,
    waiters: VecDeque<Waiter>,
    /// What was handed to waiters that have not woken yet, by ticket.
    granted: Vec<(u64, Grant<M>)>,
    next_ticket: u64,
    closed: bool,
    last_connect_error: Option<String>,
    /// Checkouts under watch for leaks (only when `leak_threshold` is set).
    leases: HashMap<u64, Lease>,
    waits: WaitStats,
}

struct Waiter {
    ticket: u64,
    wake: Arc<Condvar>,
}

enum Grant<M: ManageConnection> {
    Conn(Conn<M>),
    /// A free slot: the waiter opens a connection in it.
    Slot,
}

/// What a checkout got from the queue.
pub(crate) enum Acquired<M: ManageConnection> {
    /// An idle connection, to be checked before it is handed out.
    Idle(Conn<M>),
    /// A reserved slot: open a connection in it, or give it back with [`Core::slot_done`].
    Slot,
}

/// A checkout watched for leaks.
pub(crate) struct Lease {
    pub(crate) since: Instant,
    pub(crate) backtrace: Arc<std::backtrace::Backtrace>,
    pub(crate) reported: bool,
}

/// Why a slot stops being used by an opening or closing connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotEnd {
    /// A connect failed.
    ConnectFailed,
    /// A close finished.
    Closed,
}

/// What a connection coming back to the queue ended as.
pub(crate) enum Returned<M: ManageConnection> {
    /// Kept idle or handed to a waiter.
    Kept,
    /// To be closed by the caller (the slot is counted as closing), for this reason.
    Close(Conn<M>, super::observe::CloseReason),
}

impl<M: ManageConnection> Core<M> {
    pub(crate) fn new(options: &PoolOptions, fork_generation: u64) -> Self {
        let workers = ScheduledThreadPool::builder()
            .num_threads(2)
            .thread_name_pattern(&format!("{}-worker-{{}}", options.name))
            .on_drop_behavior(scheduled_thread_pool::OnPoolDropBehavior::DiscardPendingScheduled)
            .build();
        Core {
            fork_generation,
            inner: Mutex::new(Inner {
                idle: VecDeque::with_capacity(options.pool_size),
                open: 0,
                opening: 0,
                closing: 0,
                waiters: VecDeque::new(),
                granted: Vec::new(),
                next_ticket: 0,
                closed: false,
                last_connect_error: None,
                leases: HashMap::new(),
                waits: WaitStats::default(),
            }),
            counters: Counters::default(),
            next_id: AtomicU64::new(1),
            workers,
            reaper_job: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<M>> {
        // No code that can panic runs under this lock, but a poisoned lock must not take the
        // whole pool down with it either.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an idle connection or a free slot, waiting until `deadline` if `wait` allows.
    /// `Ok(None)` means nothing was free and `wait` was false.
    pub(crate) fn acquire(
        &self,
        options: &PoolOptions,
        start: Instant,
        deadline: Instant,
        wait: bool,
    ) -> Result<Option<(Acquired<M>, Duration)>, Error> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(Error::Closed);
        }
        // First come, first served: with others waiting, nothing is free anyway except what is
        // already granted to them.
        if inner.waiters.is_empty()
            && let Some(acquired) = inner.take_next(options)
        {
            return Ok(Some((acquired, Duration::ZERO)));
        }
        if !wait {
            return Ok(None);
        }

        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        let wake = Arc::new(Condvar::new());
        inner.waiters.push_back(Waiter {
            ticket,
            wake: Arc::clone(&wake),
        });
        loop {
            let now = Instant::now();
            if let Some(at) = inner.granted.iter().position(|(t, _)| *t == ticket) {
                let (_, grant) = inner.granted.swap_remove(at);
                let waited = now.saturating_duration_since(start);
                inner.waits.acquired += 1;
                inner.waits.record_wait(waited);
                let acquired = match grant {
                    Grant::Conn(conn) => Acquired::Idle(conn),
                    Grant::Slot => Acquired::Slot,
                };
                return Ok(Some((acquired, waited)));
            }
            if inner.closed || now >= deadline {
                inner.waiters.retain(|w| w.ticket != ticket);
                if inner.closed {
                    return Err(Error::Closed);
                }
                inner.waits.timeouts += 1;
                let state = inner.state(options);
                return Err(Error::Timeout(TimeoutDetails {
                    waited: now.saturating_duration_since(start),
                    pool_size: options.pool_size,
                    max_overflow: options.max_overflow,
                    in_use: state.in_use,
                    idle: state.idle,
                    waiting: state.waiting,
                    last_connect_error: inner.last_connect_error.clone(),
                }));
            }
            inner = wake
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A connection is back (returned, freshly opened, or pinged by the reaper): hand it to the
    /// oldest waiter, keep it idle, or say it must be closed. `was_opening` is true when it
    /// fills a slot that was counted as opening.
    pub(crate) fn put(&self, options: &PoolOptions, conn: Conn<M>, was_opening: bool) -> Returned<M> {
        let mut inner = self.lock();
        if was_opening {
            inner.opening -= 1;
        }
        if inner.closed {
            inner.closing += 1;
            return Returned::Close(conn, super::observe::CloseReason::PoolClosed);
        }
        if let Some(waiter) = inner.waiters.pop_front() {
            inner.granted.push((waiter.ticket, Grant::Conn(conn)));
            drop(inner);
            waiter.wake.notify_one();
            return Returned::Kept;
        }
        if inner.idle.len() < options.pool_size {
            // Keep the idle list ordered by last use, so LIFO and FIFO hold even for a connection
            // the reaper took out to ping; a plain return is always the newest.
            if inner
                .idle
                .back()
                .is_none_or(|last| last.last_used <= conn.last_used)
            {
                inner.idle.push_back(conn);
            } else {
                let at = inner.idle.partition_point(|c| c.last_used <= conn.last_used);
                inner.idle.insert(at, conn);
            }
            return Returned::Kept;
        }
        inner.closing += 1;
        Returned::Close(conn, super::observe::CloseReason::Overflow)
    }

    /// A checked-out connection (or an opened one never handed out) is about to be closed.
    pub(crate) fn mark_closing(&self, was_opening: bool) {
        let mut inner = self.lock();
        if was_opening {
            inner.opening -= 1;
        }
        inner.closing += 1;
    }

    /// A slot's connection is gone (closed, or never opened): give the slot to the oldest waiter,
    /// who opens a connection in it, or free it.
    pub(crate) fn slot_done(&self, end: SlotEnd, connect_error: Option<String>) {
        let mut inner = self.lock();
        match end {
            SlotEnd::ConnectFailed => inner.opening -= 1,
            SlotEnd::Closed => inner.closing -= 1,
        }
        if connect_error.is_some() {
            inner.last_connect_error = connect_error;
        }
        if !inner.closed
            && let Some(waiter) = inner.waiters.pop_front()
        {
            inner.opening += 1;
            inner.granted.push((waiter.ticket, Grant::Slot));
            drop(inner);
            waiter.wake.notify_one();
            return;
        }
        inner.open -= 1;
    }

    /// For a checkout whose connection failed its checks, and which keeps its turn whoever
    /// waits: an idle connection or a free slot, if there is one.
    pub(crate) fn take_next(&self, options: &PoolOptions) -> Option<Acquired<M>> {
        self.lock().take_next(options)
    }

    /// A checked-out connection was closed by its borrower, who opens a new one in its slot.
    pub(crate) fn reopen_slot(&self) {
        let mut inner = self.lock();
        inner.opening += 1;
        inner.waits.acquired += 1;
    }

    /// A connection was opened for a borrower: it is in use now.
    pub(crate) fn opened(&self) {
        self.lock().opening -= 1;
    }

    /// Reserves up to `want` slots for connections the reaper opens, within the cap.
    pub(crate) fn reserve(&self, options: &PoolOptions, want: impl FnOnce(&State) -> usize) -> usize {
        let mut inner = self.lock();
        if inner.closed {
            return 0;
        }
        let state = inner.state(options);
        let mut n = want(&state);
        if let Some(cap) = options.max_connections() {
            n = n.min(cap.saturating_sub(inner.open));
        }
        inner.open += n;
        inner.opening += n;
        n
    }

    /// Takes out the idle connections `pick` chooses (oldest returned first), counting them as
    /// in use; they come back through [`Core::put`] or are closed.
    pub(crate) fn take_idle(&self, mut pick: impl FnMut(&Conn<M>, usize) -> bool) -> Vec<Conn<M>> {
        let mut inner = self.lock();
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(inner.idle.len());
        let mut remaining = inner.idle.len();
        while let Some(conn) = inner.idle.pop_front() {
            if pick(&conn, remaining) {
                remaining -= 1;
                taken.push(conn);
            } else {
                kept.push_back(conn);
            }
        }
        inner.idle = kept;
        taken
    }

    /// Closes the queue: later checkouts and all waiters get `Error::Closed`. Returns the idle
    /// connections (counted as closing) for the caller to close.
    pub(crate) fn close(&self) -> Vec<Conn<M>> {
        let mut inner = self.lock();
        inner.closed = true;
        let mut doomed: Vec<Conn<M>> = inner.idle.drain(..).collect();
        for (_, grant) in std::mem::take(&mut inner.granted) {
            match grant {
                Grant::Conn(conn) => doomed.push(conn),
                Grant::Slot => {
                    inner.opening -= 1;
                    inner.open -= 1;
                }
            }
        }
        inner.closing += doomed.len();
        for waiter in inner.waiters.drain(..) {
            waiter.wake.notify_one();
        }
        doomed
    }

    /// Cancels the reaper's periodic job, if it runs.
    pub(crate) fn stop_reaper(&self) {
        if let Some(job) = self
            .reaper_job
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            job.cancel();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn state(&self, options: &PoolOptions) -> State {
        self.lock().state(options)
    }

    pub(crate) fn wait_stats(&self) -> WaitStats {
        self.lock().waits.clone()
    }

    pub(crate) fn last_connect_error(&self) -> Option<String> {
        self.lock().last_connect_error.clone()
    }

    pub(crate) fn lease(&self, id: u64, lease: Lease) {
        self.lock().leases.insert(id, lease);
    }

    /// Ends a watched checkout; returns how long it was held if it had been reported as a leak.
    pub(crate) fn end_lease(&self, id: u64, now: Instant) -> Option<Duration> {
        let lease = self.lock().leases.remove(&id)?;
        lease.reported.then(|| now.saturating_duration_since(lease.since))
    }

    /// Marks and returns the checkouts held longer than `threshold` not yet reported.
    pub(crate) fn new_leaks(
        &self,
        now: Instant,
        threshold: Duration,
    ) -> Vec<(u64, Duration, Arc<std::backtrace::Backtrace>)> {
        let mut inner = self.lock();
        let mut leaks = Vec::new();
        for (id, lease) in inner.leases.iter_mut() {
            let held = now.saturating_duration_since(lease.since);
            if !lease.reported && held >= threshold {
                lease.reported = true;
                leaks.push((*id, held, Arc::clone(&lease.backtrace)));
            }
        }
        leaks
    }
}

impl<M: ManageConnection> Inner<M> {
    /// An idle connection (newest or oldest first, per `lifo`) or a reserved free slot.
    fn take_next(&mut self, options: &PoolOptions) -> Option<Acquired<M>> {
        let idle = if options.lifo {
            self.idle.pop_back()
        } else {
            self.idle.pop_front()
        };
        let acquired = match idle {
            Some(conn) => Acquired::Idle(conn),
            None if options.max_connections().is_none_or(|cap| self.open < cap) => {
                self.open += 1;
                self.opening += 1;
                Acquired::Slot
            }
            None => return None,
        };
        self.waits.acquired += 1;
        Some(acquired)
    }

    fn state(&self, options: &PoolOptions) -> State {
        let idle = self.idle.len();
        State {
            pool_size: options.pool_size,
            max_overflow: options.max_overflow,
            open: self.open,
            idle,
            in_use: self.open - idle - self.opening - self.closing,
            overflow: self.open.saturating_sub(options.pool_size),
            opening: self.opening,
            closing: self.closing,
            waiting: self.waiters.len(),
            closed: self.closed,
        }
    }
}
