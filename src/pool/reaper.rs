//! The reaper: a periodic task on the pool's worker threads that closes expired and long-idle
//! connections, keeps `min_idle` open, pings idle ones (keepalive) and reports leaks.

use std::sync::Weak;

use super::clock;
use super::core::Core;
use super::slots::IDLE;
use super::{CloseIn, Shared};
use crate::manage::ManageConnection;
use crate::observe::{CloseReason, Counters, spans};
use crate::options::PoolOptions;

/// Schedules the reaper on `core`'s workers. It holds only a weak reference, so it never keeps
/// a dropped pool alive.
pub(super) fn start<M: ManageConnection>(core: &Core<M>, options: &PoolOptions, shared: Weak<Shared<M>>) {
    core.workers.every(options.reaper_rate, move || {
        if let Some(shared) = shared.upgrade() {
            shared.reap();
        }
    });
}

impl<M: ManageConnection> Shared<M> {
    /// One round of the reaper. Idle connections are looked at one at a time, from the highest
    /// slot down (the fast path favours low slots, so high ones are the least used), each
    /// claimed only while it is looked at.
    pub(crate) fn reap(&self) {
        let core = self.core();
        if core.is_closed() {
            return;
        }
        let options = &self.options;
        let now = clock::now();
        let generation = self.generation.load(std::sync::atomic::Ordering::Relaxed);
        let slots: Vec<usize> = core.slots.iter().map(|(index, _)| index).collect();
        let mut idle = core.slots.iter().filter(|(_, slot)| slot.state() == IDLE).count();
        // A pool resized below `min_idle` keeps only `pool_size` idle.
        let min_idle = options.min_idle.min(core.sizes().pool_size);

        for index in slots.into_iter().rev() {
            if !core.slots.get(index).try_claim() {
                continue;
            }
            // SAFETY: the reaper claimed the slot just above.
            #[allow(unsafe_code)]
            let conn = unsafe { self.conn_in(core, index) };
            let reason = if conn.is_expired(now) {
                Some(CloseReason::Recycled)
            } else if conn.generation < generation {
                Some(CloseReason::Invalidated)
            } else if idle > min_idle
                && options
                    .idle_timeout
                    .is_some_and(|limit| clock::since(now, conn.last_used) >= limit)
            {
                Some(CloseReason::IdleTimeout)
            } else {
                None
            };
            if let Some(reason) = reason {
                idle -= 1;
                self.dispose(core, index, reason, CloseIn::ThisThread);
                continue;
            }
            if let Some(keepalive) = options.keepalive
                && clock::since(now, conn.alive_at) >= keepalive
            {
                let span = spans::Ping::keepalive(&options.name, conn.id);
                let pinged = self.ping(core, conn, options.validation_timeout);
                span.end(pinged.as_ref().map(drop));
                if let Err(err) = pinged {
                    log::warn!(target: "millpond::pool", "[{}] idle connection {} failed its keepalive ping and is closed: {}", options.name, conn.id, crate::error::Chain(&err));
                    idle -= 1;
                    self.dispose(core, index, CloseReason::PingFailed, CloseIn::ThisThread);
                    continue;
                }
                conn.alive_at = clock::now();
            }
            self.put_back(core, index, CloseIn::ThisThread);
        }

        if let Some(threshold) = options.leak_threshold {
            for (id, held, backtrace) in core.new_leaks(now, threshold) {
                Counters::bump(&core.counters.leaks);
                log::warn!(
                    target: "millpond::pool",
                    "[{}] connection {id} has been checked out for {held:?}, longer than leak_threshold ({threshold:?}): a possible leak. It was checked out at:\n{backtrace}",
                    options.name
                );
            }
        }

        if options.min_idle > 0
            && let Err(err) = self.fill_min_idle()
        {
            log::warn!(target: "millpond::pool", "[{}] could not open connections up to min_idle ({}): {}", options.name, options.min_idle, crate::error::Chain(&err));
        }
    }
}
