//! A coarse monotonic clock for the hot path. Expiry, the pre-ping bypass window, idle and
//! keepalive times and leak thresholds are all milliseconds to minutes, so the kernel's coarse
//! clock (a few milliseconds of resolution, and no hardware counter read) serves them; on the
//! machines measured it costs a quarter of `Instant::now`. Waits and deadlines keep `Instant`.

use std::time::{Duration, Instant};

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

/// `start + span`, or, when that is past what `Instant` can hold, a point a century away: as
/// good as never, and safe to compute with. Every deadline and window end goes through here, so
/// no `Duration` (`Duration::MAX` included) can overflow.
#[inline]
pub(crate) fn after(start: Instant, span: Duration) -> Instant {
    start.checked_add(span).unwrap_or_else(|| far_after(start))
}

#[cold]
fn far_after(start: Instant) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    start
        .checked_add(CENTURY)
        .or_else(|| start.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(start)
}

/// The precise `Instant` at which a call that began at `entered` (on the coarse clock) began:
/// the checkout's fast path reads only the coarse clock, and a deadline, once needed, is counted
/// from the call's start, never from the moment it was first needed. The coarse clock can
/// overstate the time since by up to its resolution: that much is taken off, so the start found
/// is never before the real one and a deadline never comes early (it may come that much late).
#[cold]
pub(crate) fn started_at(entered: Nanos) -> Instant {
    let now = Instant::now();
    let elapsed = since(self::now(), entered).saturating_sub(resolution());
    now.checked_sub(elapsed).unwrap_or(now)
}

/// The coarse clock's resolution (a scheduler tick, typically 1–4 ms).
#[cfg(target_os = "linux")]
fn resolution() -> Duration {
    static RESOLUTION: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *RESOLUTION.get_or_init(|| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_getres only writes the timespec it is given.
        #[allow(unsafe_code)]
        let status = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        if status == 0 {
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        } else {
            Duration::from_millis(10)
        }
    })
}

/// Elsewhere the "coarse" clock is `Instant` itself.
#[cfg(not(target_os = "linux"))]
fn resolution() -> Duration {
    Duration::ZERO
}
