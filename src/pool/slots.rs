//! The connections' homes: one slot per connection the pool may hold, each on its own cache
//! line, claimed and given back with a single atomic operation. This is what lets a checkout
//! and a checkin skip the pool's lock when nobody waits (HikariCP's `ConcurrentBag` idea).
//!
//! A slot's `state` says who may touch its contents:
//!
//! - `EMPTY`: no connection; only the pool's lock hands it out (to open a connection in it);
//! - `IDLE`: a connection anyone may claim with a compare-and-swap;
//! - `TAKEN`: one owner (a borrower, an opener, a closer, the reaper) has it to itself;
//! - `PENDING`: its owner is giving it back and checks for waiters before letting go; nobody
//!   claims it, and whoever must wait for it (a waiter, `close`) waits for it to settle.
//!
//! Every slot that is not `EMPTY` holds a strong reference to the pool, so a borrowed
//! connection keeps the pool alive without touching a shared reference count on every checkout.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::Shared;
use super::conn::Conn;
use crate::manage::ManageConnection;

pub(crate) const EMPTY: u8 = 0;
pub(crate) const IDLE: u8 = 1;
pub(crate) const TAKEN: u8 = 2;
pub(crate) const PENDING: u8 = 3;

/// Slots are allocated in chunks of this many, when first needed.
const CHUNK: usize = 16;

/// The most slots a pool with unlimited overflow can use.
pub(crate) const UNLIMITED: usize = 4096;

/// One connection's home.
#[repr(align(64))]
pub(crate) struct Slot<M: ManageConnection> {
    state: AtomicU8,
    /// Checkouts through this slot; written only by its owner, so never contended.
    checkouts: AtomicU64,
    /// Resets of connections given back through this slot, counted as `checkouts` is: a
    /// counter shared by the pool, bumped by every return of a manager that cannot tell its
    /// transaction state, made that return contend on one cache line.
    resets: AtomicU64,
    conn: UnsafeCell<Option<Conn<M>>>,
    /// The pool, kept alive while the slot is not `EMPTY`.
    owner: UnsafeCell<Option<Arc<Shared<M>>>>,
}

// SAFETY: `conn` and `owner` are only touched by the slot's single owner, as `state` decides
// (claiming it is an acquire, giving it back a release), and what they hold is `Send`.
#[allow(unsafe_code)]
unsafe impl<M: ManageConnection> Sync for Slot<M> {}
// SAFETY: as above: what the cells hold (a connection, an `Arc` of the pool) is `Send`.
#[allow(unsafe_code)]
unsafe impl<M: ManageConnection> Send for Slot<M> {}

impl<M: ManageConnection> Slot<M> {
    fn new() -> Self {
        Slot {
            state: AtomicU8::new(EMPTY),
            checkouts: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            conn: UnsafeCell::new(None),
            owner: UnsafeCell::new(None),
        }
    }

    /// The state, read sequentially consistent: the scans that read it pair with the
    /// PENDING store of a thread giving a connection back.
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::SeqCst)
    }

    /// Claims an idle slot; on success the caller owns it.
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        self.state.load(Ordering::Relaxed) == IDLE
            && self
                .state
                .compare_exchange(IDLE, TAKEN, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Claims the slot if it holds an idle connection, waiting for one on its way back
    /// (`PENDING`) to settle; on success the caller owns it.
    pub(crate) fn claim_settled(&self) -> bool {
        loop {
            match self.state() {
                IDLE if self.try_claim() => return true,
                IDLE | PENDING => std::thread::yield_now(),
                _ => return false,
            }
        }
    }

    /// Hands an owned slot on: `IDLE` to let anyone claim it, `TAKEN` for a new owner.
    #[inline]
    pub(crate) fn set(&self, state: u8) {
        self.state.store(state, Ordering::Release);
    }

    /// Starts giving an owned slot back: nobody may claim it until [`Slot::set`] says `IDLE`.
    /// Sequentially consistent, so that either the caller then sees a waiter that registered,
    /// or the waiter sees this slot.
    #[inline]
    pub(crate) fn set_pending(&self) {
        self.state.store(PENDING, Ordering::SeqCst);
    }

    /// The owned slot's connection.
    ///
    /// # Safety
    /// The caller owns the slot (it claimed it, reserved it or was handed it).
    #[allow(unsafe_code, clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn conn(&self) -> &mut Option<Conn<M>> {
        // SAFETY: per the contract, nobody else touches the cell while the caller owns the slot.
        unsafe { &mut *self.conn.get() }
    }

    /// The owned slot's reference to the pool.
    ///
    /// # Safety
    /// As for [`Slot::conn`].
    #[allow(unsafe_code, clippy::mut_from_ref)]
    pub(crate) unsafe fn owner(&self) -> &mut Option<Arc<Shared<M>>> {
        // SAFETY: as in `conn`.
        unsafe { &mut *self.owner.get() }
    }

    /// Counts a checkout through this owned slot.
    #[inline]
    pub(crate) fn count_checkout(&self) {
        // Only the owner writes: a load and a store, no read-modify-write on a shared line.
        let n = self.checkouts.load(Ordering::Relaxed);
        self.checkouts.store(n + 1, Ordering::Relaxed);
    }

    pub(crate) fn checkouts(&self) -> u64 {
        self.checkouts.load(Ordering::Relaxed)
    }

    /// Counts a reset of the connection in this owned slot.
    #[inline]
    pub(crate) fn count_reset(&self) {
        // As in `count_checkout`: only the owner writes.
        let n = self.resets.load(Ordering::Relaxed);
        self.resets.store(n + 1, Ordering::Relaxed);
    }

    pub(crate) fn resets(&self) -> u64 {
        self.resets.load(Ordering::Relaxed)
    }
}

/// A run of slots, allocated when first needed; a fixed-size array behind a thin pointer, so
/// finding a slot in it takes no bounds check.
type Chunk<M> = OnceLock<Box<[Slot<M>; CHUNK]>>;

/// All the slots of one pool (of one process).
pub(crate) struct Slots<M: ManageConnection> {
    chunks: Box<[Chunk<M>]>,
}

impl<M: ManageConnection> Slots<M> {
    pub(crate) fn new(capacity: usize) -> Self {
        let chunks = capacity.div_ceil(CHUNK);
        Slots {
            chunks: (0..chunks).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The slot at `index`, which must have been handed out before (its chunk exists).
    #[inline]
    pub(crate) fn get(&self, index: usize) -> &Slot<M> {
        let chunk = self.chunks[index / CHUNK]
            .get()
            .expect("a slot handed out lives in an allocated chunk");
        &chunk[index % CHUNK]
    }

    /// The slot at `index`, allocating its chunk if needed.
    pub(crate) fn ensure(&self, index: usize) -> &Slot<M> {
        let chunk = self.chunks[index / CHUNK].get_or_init(|| Box::new(std::array::from_fn(|_| Slot::new())));
        &chunk[index % CHUNK]
    }

    /// How many slots are allocated (a multiple of the chunk size).
    pub(crate) fn allocated(&self) -> usize {
        self.chunks
            .iter()
            .take_while(|chunk| chunk.get().is_some())
            .count()
            * CHUNK
    }

    /// How many slots there may be.
    pub(crate) fn capacity(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    /// Every allocated slot with its index. Chunks are allocated lowest first, so the walk stops
    /// at the first one missing.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Slot<M>)> {
        self.chunks
            .iter()
            .map_while(|chunk| chunk.get())
            .enumerate()
            .flat_map(|(c, chunk)| {
                chunk
                    .iter()
                    .enumerate()
                    .map(move |(i, slot)| (c * CHUNK + i, slot))
            })
    }
}

thread_local! {
    /// The slot this thread gave back last, and the pool it belongs to: the first place its next
    /// checkout looks, so a thread keeps reusing "its" connection on a cache line of its own.
    static RECENT: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

/// The slot this thread last gave back to the pool `pool_id`, if any.
#[inline]
pub(crate) fn recent(pool_id: u64) -> Option<usize> {
    let (id, index) = RECENT.with(Cell::get);
    (id == pool_id).then_some(index)
}

/// Remembers the slot this thread just gave back.
#[inline]
pub(crate) fn remember(pool_id: u64, index: usize) {
    RECENT.with(|recent| recent.set((pool_id, index)));
}
