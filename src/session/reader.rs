//! Lazy reads on a thread of their own, for drivers whose results borrow their connection (a
//! `rusqlite` statement, a `mysql` result): such a result cannot travel with the checked-out
//! connection in one value without `unsafe`, so a reader thread owns both and hands the rows
//! over through a bounded channel.

use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

/// Rows read ahead of the consumer.
const READ_AHEAD: usize = 256;

/// The reader thread's end: says whether the query started, then sends its rows.
pub(crate) struct RowSender<R, E> {
    started: SyncSender<Result<(), E>>,
    rows: SyncSender<Result<R, E>>,
}

impl<R, E> RowSender<R, E> {
    /// Says whether the query started (an error here is what the cursor's opening returns).
    /// `false` when the cursor is gone already.
    pub(crate) fn started(&self, outcome: Result<(), E>) -> bool {
        self.started.send(outcome).is_ok()
    }

    /// Sends a row, or the error that ends the rows. `false` when the cursor was dropped: stop
    /// reading.
    pub(crate) fn send(&self, row: Result<R, E>) -> bool {
        self.rows.send(row).is_ok()
    }
}

/// The cursor's end. The reader thread owns the connection, so the connection goes back when
/// the rows run out (before the last [`next`](Self::next) returns `None`) or when this is
/// dropped (before `drop` returns): both wait for the thread to end.
pub(crate) struct RowReader<R, E> {
    /// `None` once finished; dropping it tells a reader blocked on a full channel to stop.
    rows: Option<Receiver<Result<R, E>>>,
    reader: Option<JoinHandle<()>>,
    /// The backend, for the log line should its reader panic.
    backend: &'static str,
}

/// How a backend's error is made from what went wrong outside the driver.
pub(crate) trait ReaderError {
    /// An error that is not the driver's, with this message.
    fn reader_error(kind: io::ErrorKind, message: String) -> Self;
}

impl<R: Send + 'static, E: ReaderError + Send + 'static> RowReader<R, E> {
    /// Starts `read` on a thread of its own and waits until it says whether the query started;
    /// its error then is returned here, after the thread has ended (and given the connection
    /// back), as a bad statement is by the other backends.
    pub(crate) fn start(
        backend: &'static str,
        read: impl FnOnce(RowSender<R, E>) + Send + 'static,
    ) -> Result<Self, E> {
        let (rows_in, rows) = mpsc::sync_channel(READ_AHEAD);
        let (started_in, started) = mpsc::sync_channel(1);
        let sender = RowSender {
            started: started_in,
            rows: rows_in,
        };
        let reader = thread::Builder::new()
            .name(format!("millpond-{backend}-rows"))
            .spawn(move || read(sender))
            // The closure, and the connection with it, was dropped: it is back in the pool.
            .map_err(|err| {
                E::reader_error(
                    err.kind(),
                    format!("could not start the thread that reads the rows: {err}"),
                )
            })?;
        let mut cursor = RowReader {
            rows: Some(rows),
            reader: Some(reader),
            backend,
        };
        match started.recv() {
            Ok(Ok(())) => Ok(cursor),
            Ok(Err(err)) => {
                cursor.finish();
                Err(err)
            }
            Err(_) => {
                cursor.finish();
                Err(E::reader_error(
                    io::ErrorKind::Other,
                    "the thread that reads the rows stopped before the query started".to_owned(),
                ))
            }
        }
    }
}

impl<R, E> RowReader<R, E> {
    /// The next row; `None` once the reader is done and the connection back.
    pub(crate) fn next(&mut self) -> Option<Result<R, E>> {
        match self.rows.as_ref()?.recv() {
            Ok(item) => Some(item),
            Err(_) => {
                // The reader is done; joining it makes sure the connection is back.
                self.finish();
                None
            }
        }
    }

    /// Whether the reader may still hold the connection.
    pub(crate) fn is_open(&self) -> bool {
        self.reader.is_some()
    }

    /// Stops the reader and waits until it has given the connection back.
    fn finish(&mut self) {
        // Dropping the receiver first wakes a reader blocked on a full channel.
        self.rows = None;
        if let Some(reader) = self.reader.take()
            && reader.join().is_err()
        {
            log::warn!(
                target: "millpond::session",
                "the thread reading {} rows panicked; its connection was closed",
                self.backend
            );
        }
    }
}

impl<R, E> Drop for RowReader<R, E> {
    fn drop(&mut self) {
        self.finish();
    }
}
