//! The pool's side of its metrics: a [`Meter`] per pool whose methods do nothing without the
//! `metrics` feature, or with `metrics_interval` off, so the pool's emission points need no
//! `cfg`. The hot path calls only [`Meter::checked_out`] and [`Meter::checked_in`], inlined
//! tests of a flag (and of the wait) that with the default settings return at once.

use std::time::Duration;

/// A pool's handle on the metrics recorder (see [`super::metrics`] with the feature).
#[derive(Debug)]
pub(crate) struct Meter {
    #[cfg(feature = "metrics")]
    inner: Option<Box<super::metrics::PoolMetrics>>,
    /// `metrics_every_checkout`, with the metrics on: kept here, beside the pool's other
    /// read-mostly fields, so the checkout reads one flag and no more.
    #[cfg(feature = "metrics")]
    every_checkout: bool,
}

/// When a connection was checked out, kept with it while `metrics_every_checkout` samples
/// use times; empty otherwise.
#[derive(Debug, Default)]
pub(crate) struct Lent {
    #[cfg(feature = "metrics")]
    at: Option<std::time::Instant>,
}

impl Meter {
    /// The meter of the pool named `pool`: off without the feature or without an interval.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(pool: &str, interval: Option<Duration>, every_checkout: bool) -> Meter {
        Meter {
            #[cfg(feature = "metrics")]
            inner: interval.map(|interval| Box::new(super::metrics::PoolMetrics::new(pool, interval))),
            #[cfg(feature = "metrics")]
            every_checkout: every_checkout && interval.is_some(),
        }
    }

    /// How often the pool publishes its gauges and counters, if it does.
    #[cfg(feature = "metrics")]
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.inner.as_ref().map(|m| m.interval)
    }

    /// The metrics, when they are on.
    #[cfg(feature = "metrics")]
    pub(crate) fn metrics(&self) -> Option<&super::metrics::PoolMetrics> {
        self.inner.as_deref()
    }

    /// A connection was opened in `took`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn connected(&self, took: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            m.connected(took);
        }
    }

    /// A connection is handed out after `waited` (zero when one was ready): a sample if the
    /// checkout waited, or for every checkout with `metrics_every_checkout`, which also marks
    /// `lent` for the use time.
    #[inline(always)]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn checked_out(&self, waited: Duration, lent: &mut Lent) {
        #[cfg(feature = "metrics")]
        if self.every_checkout || !waited.is_zero() {
            self.sample_checkout(waited, lent);
        }
    }

    /// The sample of [`Meter::checked_out`], out of the hot path's way.
    #[cfg(feature = "metrics")]
    #[inline(never)]
    fn sample_checkout(&self, waited: Duration, lent: &mut Lent) {
        if let Some(m) = &self.inner {
            if self.every_checkout {
                lent.at = Some(std::time::Instant::now());
            }
            m.waited(waited);
        }
    }

    /// A connection marked by [`Meter::checked_out`] is given back: a use-time sample.
    #[inline(always)]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn checked_in(&self, lent: &mut Lent) {
        #[cfg(feature = "metrics")]
        if self.every_checkout
            && let Some(m) = &self.inner
            && let Some(at) = lent.at.take()
        {
            m.used(at.elapsed());
        }
    }
}
