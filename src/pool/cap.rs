//! The cap across processes (`max_total_connections`): one byte of a shared file per slot,
//! held with an open-file-description lock for as long as a connection is open.
//!
//! Why these locks: the kernel drops them when the last descriptor of the description closes,
//! so the slots of a worker killed with SIGKILL come back at once; and unlike classic POSIX
//! record locks, two pools of one process (each with its own description) do conflict, and
//! closing an unrelated descriptor of the file releases nothing.
//!
//! Locks of one description never conflict with each other, so each description remembers
//! which bytes it holds itself. A forked child inherits the parent's descriptions: the fork
//! handler closes the child's copies (without unlocking, which would release the parent's
//! slots), and a cap made before the fork does nothing in the child.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::fork;

/// Descriptors of cap files open in this process, for the fork handler to close in a child.
/// A fixed table of atomics, because the handler may take no lock.
static OPEN_CAP_FILES: [AtomicI32; 64] = [const { AtomicI32::new(-1) }; 64];

/// Closes, in a freshly forked child, the descriptors of the parent's cap files: otherwise a
/// child would keep the parent's slots held after the parent died. Async-signal-safe, and
/// harmless if run twice: a fork child hook, registered with the fork module as the first cap
/// file is opened.
#[cfg(target_os = "linux")]
fn close_inherited() {
    for entry in &OPEN_CAP_FILES {
        let fd = entry.swap(-1, Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: the descriptor was this process's (inherited); nothing else in the child
            // uses it: every cap made before the fork checks its fork generation first.
            #[allow(unsafe_code)]
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// The slots of one cap file, as seen by one pool in one process.
#[derive(Debug, Clone)]
pub(crate) struct ProcessCap {
    file: Arc<CapFile>,
}

#[derive(Debug)]
struct CapFile {
    /// Owned by this process while `fork_generation` is current; after a fork the handler has
    /// closed it and it must not be touched (the number may be reused).
    fd: i32,
    /// Where the descriptor sits in `OPEN_CAP_FILES`, if it found room.
    table_entry: Option<usize>,
    fork_generation: u64,
    path: PathBuf,
    max: usize,
    /// The bytes this description holds.
    held: Mutex<Vec<bool>>,
    /// Where the next search starts, so processes do not all contend for byte 0.
    next: AtomicUsize,
}

/// One slot of the cap, held until dropped.
#[derive(Debug)]
pub(crate) struct CapPermit {
    file: Arc<CapFile>,
    byte: usize,
}

impl Drop for CapPermit {
    fn drop(&mut self) {
        self.file.release(self.byte);
    }
}

impl ProcessCap {
    /// Opens (creating if missing) the file whose bytes are the slots.
    pub(crate) fn open(path: &Path, max: usize) -> io::Result<ProcessCap> {
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (path, max);
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "max_total_connections needs open file description locks, which only Linux has",
            ));
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::IntoRawFd;
            use std::os::unix::fs::OpenOptionsExt;
            // Before any descriptor is in the table, the child closes those in it. (Registered
            // again on every open, which finds it there: no lock a fork could leave taken.)
            fork::on_child(close_inherited);
            let file: File = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!(
                            "cannot open cap_file {} for max_total_connections: {err}",
                            path.display()
                        ),
                    )
                })?;
            let fd = file.into_raw_fd();
            let table_entry = OPEN_CAP_FILES.iter().position(|entry| {
                entry
                    .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            });
            if table_entry.is_none() {
                log::warn!(target: "millpond::pool", "more than {} cap files open: a forked child will keep {} open", OPEN_CAP_FILES.len(), path.display());
            }
            Ok(ProcessCap {
                file: Arc::new(CapFile {
                    fd,
                    table_entry,
                    fork_generation: fork::generation(),
                    path: path.to_owned(),
                    max,
                    held: Mutex::new(vec![false; max]),
                    next: AtomicUsize::new(std::process::id() as usize),
                }),
            })
        }
    }

    /// Takes a free slot without waiting; `None` when every slot is held.
    pub(crate) fn try_acquire(&self) -> io::Result<Option<CapPermit>> {
        self.file.try_acquire().map(|byte| {
            byte.map(|byte| CapPermit {
                file: Arc::clone(&self.file),
                byte,
            })
        })
    }

    /// Why a checkout could not open a connection, for the timeout error.
    pub(crate) fn describe_full(&self) -> String {
        format!(
            "every one of the {} slots of max_total_connections (cap_file {}) was held",
            self.file.max,
            self.file.path.display()
        )
    }
}

impl CapFile {
    fn is_ours(&self) -> bool {
        self.fork_generation == fork::generation()
    }

    fn try_acquire(&self) -> io::Result<Option<usize>> {
        if !self.is_ours() {
            return Err(io::Error::other(
                "a cap made before fork cannot be used in the child",
            ));
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..self.max {
            let byte = (start + k) % self.max;
            if held[byte] {
                continue;
            }
            if lock_byte(self.fd, byte, true)? {
                held[byte] = true;
                return Ok(Some(byte));
            }
        }
        Ok(None)
    }

    fn release(&self, byte: usize) {
        if !self.is_ours() {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = lock_byte(self.fd, byte, false) {
            log::warn!(target: "millpond::pool", "cannot release slot {byte} of {}: {err}", self.path.display());
        }
        held[byte] = false;
    }
}

impl Drop for CapFile {
    fn drop(&mut self) {
        if !self.is_ours() {
            return;
        }
        if let Some(entry) = self.table_entry {
            let _ = OPEN_CAP_FILES[entry].compare_exchange(self.fd, -1, Ordering::AcqRel, Ordering::Relaxed);
        }
        // SAFETY: the descriptor is this process's and nothing else holds it.
        #[allow(unsafe_code)]
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// Takes (`lock`) or gives back one byte's write lock on the description; `Ok(false)` when
/// another description holds it.
#[cfg(target_os = "linux")]
fn lock_byte(fd: i32, byte: usize, lock: bool) -> io::Result<bool> {
    // SAFETY: a zeroed flock is a valid value of the C struct.
    #[allow(unsafe_code)]
    let mut range: libc::flock = unsafe { std::mem::zeroed() };
    range.l_type = if lock { libc::F_WRLCK } else { libc::F_UNLCK } as libc::c_short;
    range.l_whence = libc::SEEK_SET as libc::c_short;
    range.l_start = byte as libc::off_t;
    range.l_len = 1;
    // l_pid must be 0 for open file description locks.
    // SAFETY: fcntl with a valid descriptor and a pointer to a live flock.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::fcntl(fd, libc::F_OFD_SETLK, &range) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn lock_byte(_fd: i32, _byte: usize, _lock: bool) -> io::Result<bool> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "open file description locks need Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("millpond-cap-{}-{name}", std::process::id()))
    }

    #[test]
    fn two_descriptions_share_the_slots_and_a_drop_gives_one_back() {
        let path = temp_path("share");
        let a = ProcessCap::open(&path, 3).unwrap();
        let b = ProcessCap::open(&path, 3).unwrap();
        let first = a.try_acquire().unwrap().expect("a slot");
        let second = a.try_acquire().unwrap().expect("a slot");
        assert_ne!(
            first.byte, second.byte,
            "one description must not take a byte twice"
        );
        let third = b.try_acquire().unwrap().expect("the last slot");
        assert!(a.try_acquire().unwrap().is_none(), "all three held");
        assert!(b.try_acquire().unwrap().is_none(), "all three held");
        drop(second);
        let again = b.try_acquire().unwrap().expect("the slot given back");
        assert!(a.try_acquire().unwrap().is_none());
        drop((first, third, again));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let err = ProcessCap::open(Path::new("/nonexistent-dir/x.cap"), 2).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cap_file /nonexistent-dir/x.cap"), "{text}");
        assert!(text.contains("max_total_connections"), "{text}");
    }
}
