//! Fork detection and the child hooks: a counter bumped in every forked child, read with one
//! relaxed load, and the few things that must happen in a child before anything else runs there
//! (the cap closing its inherited descriptors) or around every fork (the registry keeping its
//! locks free). The pool, the cap, the registry and the JVM register here rather than with
//! each other.
//!
//! `getpid` is a system call on current glibc, too dear for every checkout; a
//! `pthread_atfork` child handler costs nothing until a fork happens.

use std::sync::Once;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// How many forks lie between the first process and this one.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

static REGISTER: Once = Once::new();

/// The hooks run in a forked child, in the order they were registered, after the generation
/// is bumped: `fn()` pointers in a fixed table of atomics, because the handler may take no lock
/// and allocate nothing, and registering takes none either (a fork while a hook is being
/// registered leaves the child nothing half-done to wait for; the hook being set then reads as
/// set or as empty).
static CHILD_HOOKS: [AtomicPtr<()>; 4] = [const { AtomicPtr::new(std::ptr::null_mut()) }; 4];

#[cfg(unix)]
extern "C" fn on_fork_child() {
    // Only atomics and the hooks (close(2) for the cap): async-signal-safe, as a child
    // handler must be.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
    for slot in &CHILD_HOOKS {
        let hook = slot.load(Ordering::Acquire);
        if !hook.is_null() {
            // SAFETY: `on_child` is the only writer of the table, and stores only `fn()`
            // pointers, cast to data pointers of the same size.
            #[allow(unsafe_code)]
            let hook = unsafe { std::mem::transmute::<*mut (), fn()>(hook) };
            hook();
        }
    }
}

/// Installs the fork handler, once per process. Called whenever a pool is made, before any
/// fork the pool could live through.
pub(crate) fn watch() {
    REGISTER.call_once(|| {
        #[cfg(unix)]
        {
            // SAFETY: registering a handler that only touches atomics and runs the child hooks
            // (each async-signal-safe); no prepare or parent handler is installed.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
            if rc != 0 {
                log::warn!(target: "millpond::fork", "pthread_atfork failed ({rc}): pools cannot detect a fork");
            }
        }
    });
}

/// Runs `hook` in every forked child, after the generation is bumped (and installs the fork
/// handler if no pool has yet). `hook` runs in the child of a multi-threaded process: it must
/// be async-signal-safe (atomics and system calls such as close(2); no allocation, no lock).
/// Registering the same hook again does nothing; two threads registering it at once may both
/// succeed, so a hook must bear running twice.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn on_child(hook: fn()) {
    watch();
    let hook = hook as *mut ();
    for slot in &CHILD_HOOKS {
        match slot.compare_exchange(std::ptr::null_mut(), hook, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(set) if set == hook => return,
            Err(_) => {}
        }
    }
    // Only the crate registers hooks, a known few: more is a bug here.
    unreachable!("more fork child hooks than CHILD_HOOKS holds");
}

/// Installs `pthread_atfork` handlers of a part that must act before and after every fork
/// (the registry, which keeps its locks free across one). The child handler runs in the child
/// of a multi-threaded process: it must be async-signal-safe. See `pthread_atfork(3)`.
#[cfg(unix)]
pub(crate) fn around(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> Result<(), i32> {
    // SAFETY: the caller's handlers are plain `extern "C"` functions that touch only its own
    // state (documented above); registering them has no other effect.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    if rc == 0 { Ok(()) } else { Err(rc) }
}

/// The current fork generation; it changes in a child after `fork`.
#[inline]
pub(crate) fn generation() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}
