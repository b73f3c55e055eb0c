//! A fake backend for the pool core's tests: it counts opens, closes and live connections
//! (checked at every open), and fails, stalls or reports a lost server on demand.
#![allow(dead_code, unreachable_pub)]

#[cfg(unix)]
pub mod fork;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(feature = "postgres")]
pub mod pgbouncer;
pub mod proxy;
pub mod silent;
pub mod threads;
pub mod throwaway;

// Not every test binary starts threads together or forks (dead_code, allowed above, does not
// cover re-exports).
#[cfg(unix)]
#[allow(unused_imports)]
pub use fork::{fork_child, fork_lock, in_child, wait_child, wait_child_within};
#[allow(unused_imports)]
pub use threads::{race, together};

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use millpond::{Builder, ManageConnection, Pool, ResetAction, TransactionState};

/// What the fake manager saw and what it is told to do. Shared by the manager and its connections.
#[derive(Default)]
pub struct FakeState {
    /// Connect attempts, successful or not.
    pub attempts: AtomicUsize,
    /// Connections opened.
    pub opens: AtomicUsize,
    /// Connections closed (dropped).
    pub closes: AtomicUsize,
    /// Connections open or being opened right now.
    pub live: AtomicUsize,
    /// The most `live` ever reached, as checked at every open.
    pub max_live: AtomicUsize,
    /// Connects running right now, and the most ever running at once.
    pub connecting: AtomicUsize,
    pub max_connecting: AtomicUsize,
    pub pings: AtomicUsize,
    pub resets: AtomicUsize,
    /// The reset actions asked for, in order.
    pub reset_log: Mutex<Vec<String>>,
    pub fail_connect: AtomicBool,
    pub fail_ping: AtomicBool,
    /// Failed pings say the server is lost.
    pub ping_says_lost: AtomicBool,
    pub fail_reset: AtomicBool,
    /// Pings stall for their whole budget, then fail: a server that stopped answering.
    pub stall_ping: AtomicBool,
    /// The budget every ping was given, in order.
    pub ping_budgets: Mutex<Vec<Duration>>,
    pub connect_delay_ms: AtomicU64,
    /// While held, connects wait (counted in `connecting`) until it is released: a connect
    /// under way for exactly as long as a test needs, however slow the machine.
    pub connect_gate: Gate,
    pub close_delay_ms: AtomicU64,
    /// The thread of every connect attempt, in order.
    pub connect_threads: Mutex<Vec<std::thread::ThreadId>>,
}

/// A gate threads wait at while it is held (see [`FakeState::connect_gate`]).
#[derive(Default)]
pub struct Gate {
    held: Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    /// From now on, threads passing wait, until the returned guard is dropped (so that a test
    /// that fails while holding it never leaves a thread waiting, and its scope joined forever).
    #[must_use = "the gate opens again when the guard is dropped"]
    pub fn hold(&self) -> GateHeld<'_> {
        *self.held.lock().unwrap() = true;
        GateHeld(self)
    }

    /// Lets every waiting thread through, and those that come after.
    fn release(&self) {
        *self.held.lock().unwrap() = false;
        self.opened.notify_all();
    }

    /// Returns once the gate is not held.
    fn pass(&self) {
        let mut held = self.held.lock().unwrap();
        while *held {
            held = self.opened.wait(held).unwrap();
        }
    }
}

/// A held [`Gate`]; dropping it releases the gate.
pub struct GateHeld<'a>(&'a Gate);

impl Drop for GateHeld<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl FakeState {
    pub fn live(&self) -> usize {
        self.live.load(SeqCst)
    }
    pub fn opens(&self) -> usize {
        self.opens.load(SeqCst)
    }
    pub fn closes(&self) -> usize {
        self.closes.load(SeqCst)
    }
    pub fn max_live(&self) -> usize {
        self.max_live.load(SeqCst)
    }
    pub fn max_connecting(&self) -> usize {
        self.max_connecting.load(SeqCst)
    }
    pub fn pings(&self) -> usize {
        self.pings.load(SeqCst)
    }
    pub fn resets(&self) -> usize {
        self.resets.load(SeqCst)
    }
}

/// The fake manager. Clone it to keep a handle on its state.
#[derive(Clone, Default)]
pub struct Fake {
    pub state: Arc<FakeState>,
}

impl Fake {
    pub fn new() -> Self {
        Fake::default()
    }
}

/// A fake connection.
#[derive(Debug)]
pub struct FakeConn {
    /// 1 for the first connection opened, 2 for the next…
    pub serial: usize,
    /// A transaction is open (the borrower sets it).
    pub in_transaction: bool,
    /// `has_broken` answers this.
    pub broken: bool,
    state: Arc<FakeState>,
}

impl fmt::Debug for FakeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FakeState {{ opens: {}, closes: {}, live: {} }}",
            self.opens(),
            self.closes(),
            self.live()
        )
    }
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        let delay = self.state.close_delay_ms.load(SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        self.state.closes.fetch_add(1, SeqCst);
        self.state.live.fetch_sub(1, SeqCst);
    }
}

/// The fake's error; `lost` marks a lost server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeError {
    pub message: String,
    pub lost: bool,
}

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FakeError {}

impl ManageConnection for Fake {
    type Connection = FakeConn;
    type Error = FakeError;

    fn connect(&self) -> Result<FakeConn, FakeError> {
        let s = &self.state;
        s.attempts.fetch_add(1, SeqCst);
        s.connect_threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        let live = s.live.fetch_add(1, SeqCst) + 1;
        s.max_live.fetch_max(live, SeqCst);
        let connecting = s.connecting.fetch_add(1, SeqCst) + 1;
        s.max_connecting.fetch_max(connecting, SeqCst);
        let delay = s.connect_delay_ms.load(SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        s.connect_gate.pass();
        s.connecting.fetch_sub(1, SeqCst);
        if s.fail_connect.load(SeqCst) {
            s.live.fetch_sub(1, SeqCst);
            return Err(FakeError {
                message: "connection refused (fake)".into(),
                lost: false,
            });
        }
        let serial = s.opens.fetch_add(1, SeqCst) + 1;
        Ok(FakeConn {
            serial,
            in_transaction: false,
            broken: false,
            state: Arc::clone(s),
        })
    }

    fn is_valid(&self, _conn: &mut FakeConn, timeout: Duration) -> Result<(), FakeError> {
        self.state.pings.fetch_add(1, SeqCst);
        self.state.ping_budgets.lock().unwrap().push(timeout);
        if self.state.stall_ping.load(SeqCst) {
            std::thread::sleep(timeout);
            return Err(FakeError {
                message: "no answer within the validation budget (fake)".into(),
                lost: false,
            });
        }
        if self.state.fail_ping.load(SeqCst) {
            return Err(FakeError {
                message: "server closed the connection (fake)".into(),
                lost: self.state.ping_says_lost.load(SeqCst),
            });
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut FakeConn) -> bool {
        conn.broken
    }

    fn transaction_state(&self, conn: &mut FakeConn) -> TransactionState {
        if conn.in_transaction {
            TransactionState::Active
        } else {
            TransactionState::Idle
        }
    }

    fn reset(&self, conn: &mut FakeConn, action: ResetAction<'_>) -> Result<(), FakeError> {
        self.state.resets.fetch_add(1, SeqCst);
        self.state.reset_log.lock().unwrap().push(format!("{action:?}"));
        if self.state.fail_reset.load(SeqCst) {
            return Err(FakeError {
                message: "reset failed (fake)".into(),
                lost: false,
            });
        }
        conn.in_transaction = false;
        Ok(())
    }

    fn is_lost_server(&self, error: &FakeError) -> bool {
        error.lost
    }
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held. For effects
/// that happen on the pool's worker threads (background closes, the reaper), which a test
/// cannot join.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until no connect or close is in flight in `pool` (both run on threads of their own).
pub fn settle<M: ManageConnection>(pool: &millpond::Pool<M>) {
    // A connect started beside a checkout that was served first goes on after it; its
    // connection then turns idle or is closed, in one step under the pool's lock, so one look at
    // both counts is enough.
    assert!(
        eventually(Duration::from_secs(10), || {
            let state = pool.state();
            state.closing == 0 && state.opening == 0
        }),
        "connects or closes still in flight after 10 s: {:?}",
        pool.state()
    );
}

/// A fresh fake manager and a pool built on it with the settings `configure` adds to
/// `Pool::builder()`.
pub fn fake_pool(configure: impl FnOnce(Builder<Fake>) -> Builder<Fake>) -> (Fake, Pool<Fake>) {
    let fake = Fake::new();
    let pool = configure(Pool::builder()).build(fake.clone()).unwrap();
    (fake, pool)
}

/// Checks out `n` connections at once and gives them all back, so that `n` sit idle.
pub fn check_out_and_return<M: ManageConnection>(pool: &Pool<M>, n: usize) {
    let conns: Vec<_> = (0..n).map(|_| pool.get().unwrap()).collect();
    drop(conns);
}

/// Asserts that `fake` has closed `closes` connections in all within 5 s (`what` says what
/// failed otherwise), then waits until no close is in flight in `pool`.
pub fn closed_then_settle(fake: &Fake, pool: &Pool<Fake>, closes: usize, what: &str) {
    assert!(
        eventually(Duration::from_secs(5), || fake.state.closes() == closes),
        "{what}: {:?}, {:?}",
        pool.state(),
        pool.stats()
    );
    settle(pool);
}

/// A logger that keeps every line, so tests can read what the pool logged.
pub struct CaptureLog {
    lines: Mutex<Vec<String>>,
}

impl log::Log for CaptureLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.lines.lock().unwrap().push(format!(
            "{} {} {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary) and returns it.
pub fn capture_log() -> &'static CaptureLog {
    static LOG: OnceLock<&'static CaptureLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let logger: &'static CaptureLog = Box::leak(Box::new(CaptureLog {
            lines: Mutex::new(Vec::new()),
        }));
        log::set_logger(logger).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        logger
    })
}

impl CaptureLog {
    /// The lines logged so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}

/// An error and its causes on one line, joined with `": "` as anyhow's `{:#}` prints them. The
/// tests check what a user reads this way, now that a wrapper's message leaves its cause to
/// `source()`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Asserts that every message in `err`'s chain is printed exactly once by [`chain`] (no wrapper
/// repeats its source), and returns the printed chain for further checks.
pub fn assert_prints_once(err: &dyn std::error::Error) -> String {
    let printed = chain(err);
    let mut link: Option<&dyn std::error::Error> = Some(err);
    let mut depth = 0;
    while let Some(e) = link {
        let message = e.to_string();
        assert!(
            !message.is_empty(),
            "link {depth} of the chain has no message: {printed}"
        );
        let times = printed.matches(message.as_str()).count();
        assert_eq!(
            times, 1,
            "link {depth} of the chain ({message:?}) is printed {times} times: {printed}"
        );
        link = e.source();
        depth += 1;
    }
    printed
}
