//! The metrics round (feature `metrics`): every `metrics_interval`, on the pool's worker
//! threads, the pool's counts and counters go to the `metrics` recorder. Each process's core
//! has its own round, started with its reaper, so a forked worker publishes its own figures.

use std::sync::Weak;

use super::Shared;
use super::core::Core;
use crate::manage::ManageConnection;
use crate::observe::Meter;

/// Schedules the round on `core`'s workers, if the pool's metrics are on. It holds only a weak
/// reference, so it never keeps a dropped pool alive.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(super) fn start<M: ManageConnection>(core: &Core<M>, meter: &Meter, shared: Weak<Shared<M>>) {
    #[cfg(feature = "metrics")]
    if let Some(interval) = meter.interval() {
        let last = std::sync::Mutex::new(crate::observe::metrics::Published::default());
        core.workers.every(interval, move || {
            if let Some(shared) = shared.upgrade() {
                let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                shared.publish(&mut last);
            }
        });
    }
}

#[cfg(feature = "metrics")]
impl<M: ManageConnection> Shared<M> {
    /// One round: this process's state and stats, published.
    fn publish(&self, last: &mut crate::observe::metrics::Published) {
        let Some(metrics) = self.meter.metrics() else {
            return;
        };
        // The sizes in force, after any resize.
        let state = self.core().state();
        let max_connections = state
            .max_overflow
            .map_or(super::slots::UNLIMITED, |overflow| {
                state.pool_size.saturating_add(overflow)
            })
            .min(super::slots::UNLIMITED);
        let figures = crate::observe::metrics::Figures {
            // A `min_idle` above a smaller `pool_size` keeps only `pool_size` idle.
            min_idle: self.options.min_idle.min(state.pool_size),
            state,
            stats: self.stats(),
            invalidations: self.generation.load(std::sync::atomic::Ordering::Relaxed),
            max_connections,
        };
        metrics.publish(&figures, last);
    }
}
