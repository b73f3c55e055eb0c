//! The reaper: a periodic task on the pool's worker threads that closes expired and long-idle
//! connections, keeps `min_idle` open, pings idle ones (keepalive) and reports leaks.

use std::sync::{PoisonError, Weak};
use std::time::Instant;

use super::core::Core;
use super::observe::{CloseReason, Counters};
use super::{CloseIn, Shared};
use crate::config::PoolOptions;
use crate::manage::ManageConnection;

/// Schedules the reaper on `core`'s workers. It holds only a weak reference, so it never keeps
/// a dropped pool alive.
pub(super) fn start<M: ManageConnection>(core: &Core<M>, options: &PoolOptions, shared: Weak<Shared<M>>) {
    let job = core
        .workers
        .execute_at_fixed_rate(options.reaper_rate, options.reaper_rate, move || {
            if let Some(shared) = shared.upgrade() {
                shared.reap();
            }
        });
    *core.reaper_job.lock().unwrap_or_else(PoisonError::into_inner) = Some(job);
}

impl<M: ManageConnection> Shared<M> {
    /// One round of the reaper.
    pub(crate) fn reap(&self) {
        let core = self.core();
        if core.is_closed() {
            return;
        }
        let options = &self.options;
        let now = Instant::now();
        let generation = self.generation.load(std::sync::atomic::Ordering::Relaxed);

        let doomed = core.take_idle(|conn, remaining| {
            conn.is_expired(now)
                || conn.generation < generation
                || options.idle_timeout.is_some_and(|limit| {
                    remaining > options.min_idle && now.saturating_duration_since(conn.last_used) >= limit
                })
        });
        for conn in doomed {
            let reason = if conn.is_expired(now) {
                CloseReason::Recycled
            } else if conn.generation < generation {
                CloseReason::Invalidated
            } else {
                CloseReason::IdleTimeout
            };
            self.dispose(core, conn, reason, CloseIn::ThisThread, false);
        }

        if let Some(keepalive) = options.keepalive {
            let stale = core.take_idle(|conn, _| now.saturating_duration_since(conn.alive_at) >= keepalive);
            for mut conn in stale {
                let result = self.ping(core, &mut conn, options.validation_timeout);
                match result {
                    Ok(()) => {
                        conn.alive_at = Instant::now();
                        self.put_back(core, conn, false, CloseIn::ThisThread);
                    }
                    Err(err) => {
                        log::warn!(target: "millpond::pool", "[{}] idle connection {} failed its keepalive ping and is closed: {err}", options.name, conn.id);
                        self.dispose(core, conn, CloseReason::PingFailed, CloseIn::ThisThread, false);
                    }
                }
            }
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
            log::warn!(target: "millpond::pool", "[{}] could not open connections up to min_idle ({}): {err}", options.name, options.min_idle);
        }
    }
}
