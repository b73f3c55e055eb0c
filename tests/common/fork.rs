//! Forked children: the child runs a closure and reports through its exit code, leaving with
//! `_exit` so that nothing of the test harness runs twice; the parent waits for it, and kills it
//! if it hangs.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The exit code of a child whose closure panicked.
pub const PANICKED: i32 = 99;

/// How long [`wait_child`] gives a child before it kills it and fails the test.
pub const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// Held by the tests of a binary that fork while other tests run, across the fork and the wait.
static FORK_LOCK: Mutex<()> = Mutex::new(());

/// Takes the fork lock, so that no two such forks overlap (a test that failed holding it does not
/// keep the others out).
pub fn fork_lock() -> MutexGuard<'static, ()> {
    FORK_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Forks; the child runs `body` and ends with `_exit` and the code `body` returns ([`PANICKED`]
/// if it panics), never returning into the harness. Returns the child's pid.
pub fn fork_child(body: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only runs `body` (the caller's to keep fit for a forked child of a
    // multi-threaded process) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(PANICKED);
        // SAFETY: ends the child at once, without running the harness's exit path.
        unsafe { libc::_exit(code) }
    }
    pid
}

/// Waits up to `limit` for the child `pid` to end: its exit code, or minus the signal that ended
/// it; `None` if it was still running (it is then killed and reaped).
pub fn wait_child_within(pid: libc::pid_t, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waiting on our own child with a valid status pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc == pid {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -libc::WTERMSIG(status)
            });
        }
        if rc == -1 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            panic!("waitpid: {}", std::io::Error::last_os_error());
        }
        if Instant::now() >= deadline {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for the child `pid` to end, failing the test if it runs past [`CHILD_LIMIT`] (it is
/// killed then): its exit code, or minus the signal that ended it.
pub fn wait_child(pid: libc::pid_t) -> i32 {
    wait_child_within(pid, CHILD_LIMIT).unwrap_or_else(|| {
        panic!("child {pid} did not finish within {CHILD_LIMIT:?} (a deadlock after fork?)")
    })
}

/// Runs `body` in a forked child ([`fork_child`]) and waits for it ([`wait_child`]): its exit
/// code, or minus the signal that ended it.
pub fn in_child(body: impl FnOnce() -> i32) -> i32 {
    wait_child(fork_child(body))
}
