//! A coarse monotonic clock for the hot path. Expiry, the pre-ping bypass window, idle and
//! keepalive times and leak thresholds are all milliseconds to minutes, so the kernel's coarse
//! clock (a few milliseconds of resolution, and no hardware counter read) serves them; on the
//! machines measured it costs a quarter of `Instant::now`. Waits and deadlines keep `Instant`.

use std::time::Duration;

/// Nanoseconds on the coarse monotonic clock.
pub(crate) type Nanos = u64;

/// Now, on the coarse clock.
#[cfg(target_os = "linux")]
#[inline]
pub(crate) fn now() -> Nanos {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given, and CLOCK_MONOTONIC_COARSE
    // exists on every Linux this builds for.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Now, on the monotonic clock, elsewhere.
#[cfg(not(target_os = "linux"))]
#[inline]
pub(crate) fn now() -> Nanos {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    nanos(BASE.get_or_init(std::time::Instant::now).elapsed())
}

/// A duration in nanoseconds, saturating.
#[inline]
pub(crate) fn nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How long from `earlier` to `later`, zero if `later` is not later.
#[inline]
pub(crate) fn since(later: Nanos, earlier: Nanos) -> Duration {
    Duration::from_nanos(later.saturating_sub(earlier))
}
