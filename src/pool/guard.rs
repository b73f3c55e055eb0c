//! The borrowed connection, and what happens when it is given back.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::conn::Conn;
use super::core::SlotEnd;
use super::observe::{CloseReason, Counters, Event, InvalidateReason};
use super::{CloseIn, Shared, fork};
use crate::config::ResetOnReturn;
use crate::manage::{ManageConnection, ResetAction, TransactionState};

/// A connection checked out of a [`Pool`](crate::Pool). Derefs to the backend's connection;
/// dropping it gives the connection back.
pub struct PooledConnection<M: ManageConnection> {
    shared: Arc<Shared<M>>,
    conn: Option<Conn<M>>,
    invalidated: bool,
}

impl<M: ManageConnection> PooledConnection<M> {
    pub(super) fn new(shared: Arc<Shared<M>>, conn: Conn<M>) -> Self {
        PooledConnection {
            shared,
            conn: Some(conn),
            invalidated: false,
        }
    }

    fn conn(&self) -> &Conn<M> {
        self.conn
            .as_ref()
            .expect("a pooled connection is present until it is dropped")
    }

    fn conn_mut(&mut self) -> &mut Conn<M> {
        self.conn
            .as_mut()
            .expect("a pooled connection is present until it is dropped")
    }

    /// The connection's id, unique within its pool (as in events and leak reports).
    pub fn id(&self) -> u64 {
        self.conn().id
    }

    /// Closes this connection when it is given back instead of keeping it, for a borrower that
    /// knows it is unusable. SQLAlchemy's `connection.invalidate()`.
    pub fn invalidate(&mut self) {
        self.invalidated = true;
    }

    /// Takes the connection out of the pool for good: its slot is freed, and the pool forgets it.
    /// SQLAlchemy's `connection.detach()`.
    pub fn detach(mut self) -> M::Connection {
        let conn = self
            .conn
            .take()
            .expect("a pooled connection is present until it is dropped");
        let core = self.shared.core();
        if self.shared.options.leak_threshold.is_some() {
            core.end_lease(conn.id, Instant::now());
        }
        if conn.fork_generation == core.fork_generation {
            core.mark_closing(false);
            core.slot_done(SlotEnd::Closed, None);
        }
        conn.raw
    }
}

/// Why a connection given back must not be reused, if it must not: the checks of checkin, in
/// order, including the reset.
fn verdict<M: ManageConnection>(
    shared: &Shared<M>,
    conn: &mut Conn<M>,
    invalidated: bool,
) -> Option<CloseReason> {
    if std::thread::panicking() {
        return Some(CloseReason::Panicked);
    }
    if invalidated {
        return Some(CloseReason::InvalidatedByBorrower);
    }
    if shared.manager.has_broken(&mut conn.raw) {
        return Some(CloseReason::Broken);
    }
    let action = match &shared.options.reset_on_return {
        ResetOnReturn::Nothing => return None,
        ResetOnReturn::Statement(sql) => ResetAction::Statement(sql),
        ResetOnReturn::Rollback | ResetOnReturn::Commit
            if shared.manager.transaction_state(&mut conn.raw) == TransactionState::Idle =>
        {
            return None;
        }
        ResetOnReturn::Rollback => ResetAction::Rollback,
        ResetOnReturn::Commit => ResetAction::Commit,
    };
    let core = shared.core();
    Counters::bump(&core.counters.resets);
    let result = shared.manager.reset(&mut conn.raw, action);
    shared.emit(&Event::Reset {
        id: conn.id,
        ok: result.is_ok(),
    });
    match result {
        Ok(()) => None,
        Err(err) => {
            Counters::bump(&core.counters.reset_failures);
            log::warn!(target: "millpond::pool", "[{}] resetting connection {} failed, closing it: {err}", shared.options.name, conn.id);
            if shared.manager.is_lost_server(&err) {
                shared.invalidate(InvalidateReason::LostServer(err.to_string()));
            }
            Some(CloseReason::ResetFailed)
        }
    }
}

impl<M: ManageConnection> Drop for PooledConnection<M> {
    fn drop(&mut self) {
        let Some(fork_generation) = self.conn.as_ref().map(|c| c.fork_generation) else {
            return; // detached
        };
        if fork_generation != fork::generation() {
            // Borrowed before a fork and given back in the child: the connection is the
            // parent's, so the child neither closes it nor keeps it.
            std::mem::forget(self.conn.take());
            return;
        }
        let shared = &*self.shared;
        let mut conn = self.conn.take().expect("taken only here and in detach");
        let mut reason = verdict(shared, &mut conn, self.invalidated);
        let core = shared.core();
        let now = Instant::now();
        if shared.options.leak_threshold.is_some()
            && let Some(held) = core.end_lease(conn.id, now)
        {
            log::warn!(target: "millpond::pool", "[{}] connection {} reported as a possible leak came back after {held:?}", shared.options.name, conn.id);
        }
        if reason.is_none() {
            if conn.is_expired(now) {
                reason = Some(CloseReason::Recycled);
            } else if conn.generation < shared.generation.load(Ordering::Relaxed) {
                reason = Some(CloseReason::Invalidated);
            }
        }
        shared.emit(&Event::Checkin { id: conn.id });
        match reason {
            Some(reason) => shared.dispose(core, conn, reason, CloseIn::Background, false),
            None => {
                conn.last_used = now;
                conn.alive_at = now;
                shared.put_back(core, conn, false, CloseIn::Background);
            }
        }
    }
}

impl<M: ManageConnection> Deref for PooledConnection<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.conn().raw
    }
}

impl<M: ManageConnection> DerefMut for PooledConnection<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        &mut self.conn_mut().raw
    }
}

impl<M: ManageConnection> fmt::Debug for PooledConnection<M>
where
    M::Connection: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("id", &self.conn().id)
            .field("connection", &self.conn().raw)
            .finish()
    }
}
