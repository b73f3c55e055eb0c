//! Fork detection: a counter bumped in every forked child, read with one relaxed load.
//!
//! `getpid` is a system call on current glibc, too dear for every checkout; a
//! `pthread_atfork` child handler costs nothing until a fork happens.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many forks lie between the first process and this one.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

static REGISTER: Once = Once::new();

#[cfg(unix)]
extern "C" fn on_fork_child() {
    // Only atomics and close(2): async-signal-safe, as a child handler must be.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
    #[cfg(target_os = "linux")]
    super::cap::close_inherited();
}

/// Installs the fork handler, once per process. Called whenever a pool is made, before any
/// fork the pool could live through.
pub(crate) fn watch() {
    REGISTER.call_once(|| {
        #[cfg(unix)]
        {
            // SAFETY: registering a handler that only touches atomics and closes descriptors; no prepare or parent
            // handler is installed.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
            if rc != 0 {
                log::warn!(target: "millpond::pool", "pthread_atfork failed ({rc}): pools cannot detect a fork");
            }
        }
    });
}

/// The current fork generation; it changes in a child after `fork`.
#[inline]
pub(crate) fn generation() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}
