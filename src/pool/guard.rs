//! The borrowed connection: a handle on a slot the borrower owns until it drops it.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use super::conn::Conn;
use super::core::Core;
use super::slots::Slot;
use super::{Shared, clock};
use crate::fork;
use crate::manage::ManageConnection;

/// A connection checked out of a [`Pool`](crate::Pool). Derefs to the backend's connection;
/// dropping it gives the connection back.
pub struct PooledConnection<M: ManageConnection> {
    // The slot this connection lives in holds a reference to the pool while it is owned, so
    // these pointers stay valid until the connection is given back; no reference count is
    // touched per checkout.
    shared: NonNull<Shared<M>>,
    core: NonNull<Core<M>>,
    slot: NonNull<Slot<M>>,
    index: usize,
    conn: NonNull<Conn<M>>,
    invalidated: bool,
}

// SAFETY: the guard owns its slot and the connection in it exclusively; sending it sends that
// ownership, which is sound because connections are `Send` (the trait requires it). Shared
// access gives out `&M::Connection` only, hence `Sync` when the connection is.
#[allow(unsafe_code)]
unsafe impl<M: ManageConnection> Send for PooledConnection<M> {}
// SAFETY: as above: `&PooledConnection` hands out `&M::Connection` only.
#[allow(unsafe_code)]
unsafe impl<M: ManageConnection> Sync for PooledConnection<M> where M::Connection: Sync {}

impl<M: ManageConnection> PooledConnection<M> {
    #[inline]
    pub(super) fn new(
        shared: &Shared<M>,
        core: &Core<M>,
        slot: &Slot<M>,
        index: usize,
        conn: &mut Conn<M>,
    ) -> Self {
        PooledConnection {
            shared: NonNull::from(shared),
            core: NonNull::from(core),
            slot: NonNull::from(slot),
            index,
            conn: NonNull::from(conn),
            invalidated: false,
        }
    }

    fn conn(&self) -> &Conn<M> {
        // SAFETY: see the struct's fields: the slot, and so the connection, is ours.
        #[allow(unsafe_code)]
        unsafe {
            self.conn.as_ref()
        }
    }

    fn conn_mut(&mut self) -> &mut Conn<M> {
        // SAFETY: as in `conn`, and `&mut self` makes the access exclusive.
        #[allow(unsafe_code)]
        unsafe {
            self.conn.as_mut()
        }
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
    pub fn detach(self) -> M::Connection {
        // Not given back when this function is done with it: its connection is the caller's.
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: as in `conn`; the slot is ours until `closed_slot` below frees it.
        #[allow(unsafe_code)]
        let (shared, core, slot) = unsafe { (this.shared.as_ref(), this.core.as_ref(), this.slot.as_ref()) };
        // SAFETY: the slot is ours.
        #[allow(unsafe_code)]
        let conn = unsafe { slot.conn() }
            .take()
            .expect("a borrowed slot holds its connection");
        if shared.options.leak_threshold.is_some() {
            core.end_lease(conn.id, clock::now());
        }
        let release = (conn.fork_generation == core.fork_generation).then(|| {
            core.mark_closing();
            core.closed_slot(&shared.options, this.index)
        });
        // The pool may live on only through this reference: drop it when nothing borrows from
        // the pool any more.
        drop(release);
        conn.raw
    }
}

impl<M: ManageConnection> Drop for PooledConnection<M> {
    fn drop(&mut self) {
        // SAFETY: see the struct's fields.
        #[allow(unsafe_code)]
        let (shared, core, slot) = unsafe { (self.shared.as_ref(), self.core.as_ref(), self.slot.as_ref()) };
        if self.conn().fork_generation != fork::generation() {
            // Borrowed before a fork and given back in the child: the connection is the
            // parent's, so the child neither closes it nor keeps it, nor lets go of the pool.
            // SAFETY: the slot is ours (in this process's copy of the parent's memory).
            #[allow(unsafe_code)]
            unsafe {
                std::mem::forget(slot.conn().take());
                std::mem::forget(slot.owner().take());
            }
            return;
        }
        // SAFETY: as in `conn`; the slot and its connection are handed over to the checkin.
        #[allow(unsafe_code)]
        let conn = unsafe { self.conn.as_mut() };
        shared.checkin(core, slot, self.index, conn, self.invalidated);
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
