//! Bounding a ping, reset or rollback with the socket's read and write timeouts.

use std::io;
use std::time::Duration;

use ::mysql::Error;

use super::Result;
use super::config::Timeouts;
use super::conn::MySqlConnection;
use super::error::{io_error, is_timeout_kind, timed_out};

impl MySqlConnection {
    /// Runs `op` with the socket's read and write timeouts set to `timeout`, then puts the
    /// lasting ones back. When `op` fails the short timeouts stay, so that closing the broken
    /// connection (which writes `COM_QUIT`) cannot hang either.
    pub(super) fn bounded<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        if let Err(err) = self.set_socket_timeouts(Some(timeout), Some(timeout)) {
            self.track.broken = true;
            return Err(err.into());
        }
        match op(self) {
            Ok(value) => {
                self.restore_socket_timeouts()?;
                Ok(value)
            }
            Err(err) => {
                if io_error(&err).is_some_and(|e| is_timeout_kind(e.kind())) {
                    // The answer may still come and would be taken for the next one's.
                    self.track.broken = true;
                    return Err(timed_out(what, timeout));
                }
                if !self.track.broken {
                    // A server error (a bad reset statement, say): the connection goes on.
                    self.restore_socket_timeouts()?;
                }
                Err(err)
            }
        }
    }

    pub(super) fn restore_socket_timeouts(&mut self) -> Result<()> {
        let Timeouts { read, write, .. } = self.timeouts;
        self.set_socket_timeouts(read, write).map_err(|err| {
            self.track.broken = true;
            Error::IoError(err)
        })
    }

    #[cfg(unix)]
    fn set_socket_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        use std::os::unix::io::AsRawFd;
        sockopt::set_timeouts(self.conn.as_raw_fd(), read, write)
    }

    /// The driver does not expose its socket here: operations are bounded only by the lasting
    /// timeouts, which `connect_opts` gave the driver.
    #[cfg(not(unix))]
    fn set_socket_timeouts(&self, _read: Option<Duration>, _write: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
mod sockopt {
    use std::io;
    use std::os::unix::io::RawFd;
    use std::time::Duration;

    /// A socket timeout as `setsockopt` takes it: zero means none, so a zero duration becomes
    /// one microsecond.
    pub(super) fn timeval(timeout: Option<Duration>) -> libc::timeval {
        let Some(timeout) = timeout else {
            return libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
        };
        let secs = timeout.as_secs().min(i32::MAX as u64);
        let micros = match (secs, timeout.subsec_micros()) {
            (0, 0) => 1,
            (_, micros) => micros,
        };
        libc::timeval {
            tv_sec: secs as libc::time_t,
            tv_usec: micros as libc::suseconds_t,
        }
    }

    /// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO` on the socket (`None`: no timeout).
    #[allow(unsafe_code)]
    pub(super) fn set_timeouts(fd: RawFd, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        for (option, timeout) in [(libc::SO_RCVTIMEO, read), (libc::SO_SNDTIMEO, write)] {
            let value = timeval(timeout);
            // SAFETY: `fd` is the socket of a connection the caller borrows for the whole call,
            // so it is open and not reused; `value` is a live `timeval` and its exact size is
            // passed, which is what SO_RCVTIMEO and SO_SNDTIMEO read.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    option,
                    (&raw const value).cast::<libc::c_void>(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn timevals_never_mean_forever_by_accident() {
        let tv = sockopt::timeval(Some(Duration::ZERO));
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 1));
        let tv = sockopt::timeval(Some(Duration::from_millis(1500)));
        assert_eq!((tv.tv_sec, tv.tv_usec), (1, 500_000));
        let tv = sockopt::timeval(None);
        assert_eq!((tv.tv_sec, tv.tv_usec), (0, 0));
    }
}
