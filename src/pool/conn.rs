//! A pooled connection's bookkeeping: when it was made, when it expires, when it was last used.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::cap::CapPermit;
use super::clock::{Nanos, nanos};

use crate::manage::ManageConnection;
use crate::observe::Lent;

/// A connection and what the pool knows about it.
pub(crate) struct Conn<M: ManageConnection> {
    pub(crate) raw: M::Connection,
    pub(crate) id: u64,
    /// When it must be replaced (`recycle` less its jitter); `Nanos::MAX` is never, so the hot
    /// path tests it with one comparison.
    pub(crate) expires: Nanos,
    /// The pool's invalidation generation when it was opened.
    pub(crate) generation: u64,
    /// The fork generation of the process that opened it.
    pub(crate) fork_generation: u64,
    /// When it was opened.
    pub(crate) opened: Nanos,
    /// Its slot's checkout count when it was opened: what the slot counted since is its own.
    pub(crate) checkouts_before: u64,
    /// When it was last given back (or opened): the pre-ping bypass window and the idle timeout
    /// count from here.
    pub(crate) last_used: Nanos,
    /// When it was last known to work (given back, or pinged): the pre-ping bypass window and
    /// keepalive count from here.
    pub(crate) alive_at: Nanos,
    /// Its slot of the cross-process cap, given back when the connection is dropped.
    #[allow(dead_code, reason = "held for its Drop, which gives the slot back")]
    pub(crate) cap_permit: Option<CapPermit>,
    /// When it was checked out, for the use-time metric (only with `metrics_every_checkout`).
    pub(crate) lent: Lent,
}

impl<M: ManageConnection> Conn<M> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        raw: M::Connection,
        id: u64,
        opened: Nanos,
        recycle: Option<Duration>,
        generation: u64,
        fork_generation: u64,
        checkouts_before: u64,
        cap_permit: Option<CapPermit>,
    ) -> Self {
        Conn {
            raw,
            id,
            expires: recycle.map_or(Nanos::MAX, |lifetime| {
                opened.saturating_add(nanos(jittered(lifetime, id)))
            }),
            generation,
            fork_generation,
            opened,
            checkouts_before,
            last_used: opened,
            alive_at: opened,
            cap_permit,
            lent: Lent::default(),
        }
    }

    pub(crate) fn is_expired(&self, now: Nanos) -> bool {
        now >= self.expires
    }
}

/// A lifetime shortened by a random 0–2.5%, so connections opened together expire apart.
fn jittered(lifetime: Duration, id: u64) -> Duration {
    static SEED: AtomicU64 = AtomicU64::new(0);
    let mut seed = SEED.load(Ordering::Relaxed);
    if seed == 0 {
        seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 | 1);
        SEED.store(seed, Ordering::Relaxed);
    }
    let fraction = (splitmix64(seed ^ id) >> 11) as f64 / (1u64 << 53) as f64;
    shortened(lifetime, fraction)
}

/// `lifetime` less `fraction` (0 to 1) of 2.5% of it. Counted in nanoseconds, as expiry is, so
/// that any lifetime works: `Duration::mul_f64` panics on `Duration::MAX` times 1.0.
fn shortened(lifetime: Duration, fraction: f64) -> Duration {
    let whole = nanos(lifetime);
    let cut = (whole as f64 * 0.025 * fraction) as u64;
    Duration::from_nanos(whole.saturating_sub(cut))
}

/// One step of splitmix64: a well-mixed 64-bit value from any input.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_two_and_a_half_percent_and_varies() {
        let lifetime = Duration::from_secs(1000);
        let lifetimes: Vec<Duration> = (0..1000).map(|id| jittered(lifetime, id)).collect();
        for l in &lifetimes {
            assert!(*l <= lifetime && *l >= Duration::from_secs(975), "{l:?}");
        }
        let min = lifetimes.iter().min().unwrap();
        let max = lifetimes.iter().max().unwrap();
        assert!(*max - *min > Duration::from_secs(20), "spread {min:?}..{max:?}");
    }

    #[test]
    fn any_lifetime_can_be_shortened() {
        for lifetime in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
            for fraction in [0.0, 0.5, 1.0] {
                assert!(shortened(lifetime, fraction) <= lifetime);
            }
        }
        assert_eq!(
            shortened(Duration::from_secs(1000), 1.0),
            Duration::from_secs(975)
        );
    }
}
