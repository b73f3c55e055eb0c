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
        let core = self.core();
        let figures = crate::observe::metrics::Figures {
            state: core.state(&self.options),
            stats: self.stats(),
            invalidations: self.generation.load(std::sync::atomic::Ordering::Relaxed),
            min_idle: self.options.min_idle,
            max_connections: self
                .options
                .max_connections()
                .unwrap_or(super::slots::UNLIMITED)
                .min(super::slots::UNLIMITED),
        };
        metrics.publish(&figures, last);
    }
}
