//! Connect errors: reported at once as `Error::Connect` with the backend's own error, to every
//! caller, never disguised as a timeout, and never costing a slot.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{Fake, FakeError, eventually};

/// How long a background connect of the fake may take to be seen.
const WAIT_LIMIT: Duration = Duration::from_secs(5);
use millpond::{Error, Pool};

const REFUSED: &str = "connection refused (fake)";
/// Far longer than any test here may take: a caller that waits it out has been made to wait.
const LONG_TIMEOUT: Duration = Duration::from_secs(30);
/// A connect error must come back well within this.
const AT_ONCE: Duration = Duration::from_secs(1);

fn pool(fake: &Fake, pool_size: usize, max_overflow: usize) -> Pool<Fake> {
    Pool::builder()
        .pool_size(pool_size)
        .max_overflow(Some(max_overflow))
        .timeout(LONG_TIMEOUT)
        .build(fake.clone())
        .unwrap()
}

/// Asserts `err` is `Error::Connect` carrying the fake's refusal, and returns nothing else.
fn assert_refused(err: &Error) {
    assert!(
        matches!(err, Error::Connect(_)),
        "expected Error::Connect, got {err:?}"
    );
    assert!(!err.is_timeout());
    let source = err.connect_source().expect("a connect error has a source");
    let fake = source
        .downcast_ref::<FakeError>()
        .unwrap_or_else(|| panic!("the source is the manager's own error, got {source:?}"));
    assert_eq!(fake.message, REFUSED);
    let printed = common::chain(err);
    assert!(printed.contains(REFUSED), "{printed}");
    let std_source = std::error::Error::source(err).expect("Error::source is set for Connect");
    assert!(std_source.downcast_ref::<FakeError>().is_some());
}

/// `get()` with a refusing backend fails at once with the backend's error, not after the
/// 30 s timeout, and gives its slot back.
#[test]
fn get_returns_the_connect_error_at_once() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, 1);
    fake.state.fail_connect.store(true, SeqCst);

    let started = Instant::now();
    let err = pool.get().expect_err("the backend refuses");
    let elapsed = started.elapsed();
    assert_refused(&err);
    assert!(elapsed < AT_ONCE, "a connect error took {elapsed:?}");

    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use, s.waiting), (0, 0, 0, 0), "{s:?}");
    let stats = pool.stats();
    assert_eq!(stats.connect_errors, 1, "{stats:?}");
    assert_eq!(stats.connects, 0);
    assert_eq!(stats.timeouts, 0);
    assert_eq!(pool.last_connect_error().as_deref(), Some(REFUSED));
    assert_eq!(fake.state.attempts.load(SeqCst), 1);
    assert_eq!(fake.state.live(), 0);
}

/// 16 threads at once against a refusing backend and a pool of 4 + 4: all 16 get `Connect`
/// (those queued behind the 8 slots too), none a timeout, none slowly; no slot is lost, so once
/// the backend accepts again all 8 connections can be held at the same time.
#[test]
fn concurrent_callers_all_get_connect_errors_and_no_slot_is_lost() {
    const CALLERS: usize = 16;
    let fake = Fake::new();
    let pool = pool(&fake, 4, 4);
    fake.state.fail_connect.store(true, SeqCst);

    let outcomes = common::together(CALLERS, |_| {
        let started = Instant::now();
        let result = pool.get();
        (result.map(|_| ()), started.elapsed())
    });
    for (result, elapsed) in outcomes {
        let err = result.expect_err("the backend refuses");
        assert_refused(&err);
        assert!(
            elapsed < AT_ONCE,
            "a caller waited {elapsed:?} for a connect error"
        );
    }

    let stats = pool.stats();
    assert_eq!(stats.connect_errors, CALLERS as u64, "{stats:?}");
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(
        fake.state.attempts.load(SeqCst),
        CALLERS,
        "each caller tried exactly once"
    );
    assert!(fake.state.max_live() <= 8, "the cap holds while connects fail");
    let s = pool.state();
    assert_eq!(
        (s.open, s.opening, s.in_use, s.idle, s.waiting),
        (0, 0, 0, 0, 0),
        "{s:?}"
    );

    // Every slot is still there: 8 connections held at once (each thread hands back the one
    // it got, which stays checked out until dropped here).
    fake.state.fail_connect.store(false, SeqCst);
    let results = common::together(8, |_| pool.get_timeout(Duration::from_secs(2)));
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "a slot was lost: {failures:?}");
    let s = pool.state();
    assert_eq!((s.open, s.in_use, s.overflow), (8, 8, 4), "{s:?}");
    assert!(pool.try_get().unwrap().is_none(), "the cap is 8");
    drop(results);
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle), (4, 4), "{s:?}");
}

/// Waiters queued behind a full pool are handed the slot a broken connection frees; when the
/// connect in it fails, each of them gets `Connect` at once (the slot passing on to the next),
/// not a timeout after 30 s.
#[test]
fn queued_waiters_get_the_freed_slot_and_see_connect_errors() {
    const WAITERS: usize = 4;
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0);
    let a = pool.get().unwrap();
    let mut b = pool.get().unwrap();

    let (tx, rx) = mpsc::channel();
    let waiters: Vec<_> = (0..WAITERS)
        .map(|k| {
            let waiter_pool = pool.clone();
            let tx = tx.clone();
            let t = thread::spawn(move || {
                let started = Instant::now();
                let result = waiter_pool.get().map(|_| ());
                tx.send((result, started.elapsed())).unwrap();
            });
            assert!(
                common::eventually(Duration::from_secs(5), || pool.state().waiting == k + 1),
                "waiter {k} did not queue: {:?}",
                pool.state()
            );
            t
        })
        .collect();

    fake.state.fail_connect.store(true, SeqCst);
    let returned = Instant::now();
    b.broken = true;
    drop(b); // closed in the background; its slot goes to the oldest waiter

    for _ in 0..WAITERS {
        let (result, _waited) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a waiter answered");
        let err = result.expect_err("the backend refuses");
        assert_refused(&err);
    }
    let since_return = returned.elapsed();
    assert!(
        since_return < AT_ONCE,
        "the waiters took {since_return:?} after the slot freed"
    );
    for w in waiters {
        w.join().unwrap();
    }

    common::settle(&pool);
    let s = pool.state();
    assert_eq!(
        (s.open, s.in_use, s.idle, s.opening, s.waiting),
        (1, 1, 0, 0, 0),
        "{s:?}"
    );
    let stats = pool.stats();
    assert_eq!(stats.connect_errors, WAITERS as u64, "{stats:?}");
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(stats.broken, 1, "{stats:?}");
    assert_eq!(pool.last_connect_error().as_deref(), Some(REFUSED));
    assert_eq!(fake.state.live(), 1);

    // The freed slot is still free: with the backend back, the pool fills to 2 again.
    fake.state.fail_connect.store(false, SeqCst);
    let c = pool.get().expect("the freed slot is free");
    assert_eq!(pool.state().open, 2);
    drop((a, c));
}

/// `try_get()` waits for no connect, but a connect error is still an error: the connect it
/// started in the background failed, and the next `try_get` says so instead of `Ok(None)`.
#[test]
fn try_get_reports_the_error_of_the_connect_it_started() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0);
    fake.state.fail_connect.store(true, SeqCst);
    assert!(
        pool.try_get().unwrap().is_none(),
        "the connect runs in the background"
    );
    assert!(eventually(WAIT_LIMIT, || pool.stats().connect_errors == 1));
    let err = pool
        .try_get()
        .map(|c| c.is_some())
        .expect_err("the backend refused");
    assert_refused(&err);
    let s = pool.state();
    assert_eq!(
        (s.open, s.opening),
        (0, 0),
        "reporting it started no other: {s:?}"
    );
    assert!(pool.try_get().unwrap().is_none(), "reported once");
    assert!(eventually(WAIT_LIMIT, || pool.stats().connect_errors == 2));

    fake.state.fail_connect.store(false, SeqCst);
    assert_refused(&pool.try_get().map(|_| ()).unwrap_err());
    let a = pool.get().expect("both slots are free");
    assert!(pool.try_get().unwrap().is_none(), "a second connect starts");
    assert!(eventually(WAIT_LIMIT, || pool.state().idle == 1));
    let b = pool.try_get().unwrap().expect("the connection it started");
    assert!(pool.try_get().unwrap().is_none(), "full: None, not an error");
    assert_eq!(pool.state().opening, 0, "full: no connect started");
    drop((a, b));
}

/// The last connect error is kept: `last_connect_error()` has it, and a later timeout names it
/// as the likely reason nothing came free.
#[test]
fn last_connect_error_is_reported_by_the_pool_and_in_timeouts() {
    let fake = Fake::new();
    let pool = pool(&fake, 1, 0);
    assert_eq!(pool.last_connect_error(), None);

    fake.state.fail_connect.store(true, SeqCst);
    for _ in 0..3 {
        assert_refused(&pool.get().unwrap_err());
    }
    assert_eq!(pool.stats().connect_errors, 3);
    assert_eq!(pool.last_connect_error().as_deref(), Some(REFUSED));

    fake.state.fail_connect.store(false, SeqCst);
    let held = pool.get().unwrap();
    let err = pool
        .get_timeout(Duration::from_millis(50))
        .map(|_| ())
        .unwrap_err();
    let Error::Timeout(details) = &err else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(details.last_connect_error.as_deref(), Some(REFUSED));
    let shown = err.to_string();
    assert!(
        shown.contains(&format!("last connect error: {REFUSED}")),
        "{shown}"
    );
    // A success does not erase what the pool last saw going wrong.
    assert_eq!(pool.last_connect_error().as_deref(), Some(REFUSED));
    drop(held);
}

/// `stats().checkouts` is documented as "successful checkouts": a `get()` that ends in a
/// connect error is not one.
#[test]
fn failed_connects_are_not_counted_as_checkouts() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0);
    fake.state.fail_connect.store(true, SeqCst);
    for _ in 0..3 {
        assert_refused(&pool.get().unwrap_err());
    }
    assert!(pool.try_get().unwrap().is_none());
    assert!(eventually(WAIT_LIMIT, || pool.stats().connect_errors == 4));
    assert_refused(&pool.try_get().map(|_| ()).unwrap_err());
    assert_eq!(pool.stats().checkouts, 0, "{:?}", pool.stats());

    fake.state.fail_connect.store(false, SeqCst);
    drop(pool.get().unwrap());
    assert_eq!(pool.stats().checkouts, 1, "{:?}", pool.stats());
}

/// A `try_get` connect error that nobody asked for again is no news once a connect succeeds:
/// after the server recovered, `try_get` does not answer with the old error.
#[test]
fn a_try_get_error_is_forgotten_once_a_connect_succeeds() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0);
    fake.state.fail_connect.store(true, SeqCst);
    assert!(pool.try_get().unwrap().is_none());
    assert!(eventually(WAIT_LIMIT, || pool.stats().connect_errors == 1));
    fake.state.fail_connect.store(false, SeqCst);
    let held = pool.get().expect("the server is back");
    let answer = pool.try_get().map(|conn| conn.is_some());
    assert!(
        matches!(answer, Ok(false)),
        "the stale error came back: {answer:?}"
    );
    drop(held);
}

/// A backend error that follows the standard library's convention: its message says what it
/// was doing and its cause is the source, as a real driver's often is.
#[derive(Debug)]
struct Layered {
    cause: std::io::Error,
}

impl std::fmt::Display for Layered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connecting to the layered server")
    }
}

impl std::error::Error for Layered {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// A manager whose connects fail, while told to, with a [`Layered`] error.
#[derive(Clone, Default)]
struct LayeredManager {
    fail: Arc<std::sync::atomic::AtomicBool>,
}

const LAYERED_CAUSE: &str = "the layered server refused (io)";

impl millpond::ManageConnection for LayeredManager {
    type Connection = ();
    type Error = Layered;

    fn connect(&self) -> Result<(), Layered> {
        if self.fail.load(SeqCst) {
            return Err(Layered {
                cause: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, LAYERED_CAUSE),
            });
        }
        Ok(())
    }

    fn is_valid(&self, _conn: &mut (), _timeout: Duration) -> Result<(), Layered> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut ()) -> bool {
        false
    }
}

/// Printed as anyhow's `{:#}` prints a chain, a connect error names its cause once: the pool's
/// message does not repeat the backend's, which stays reachable (and downcastable) as the source.
#[test]
fn a_connect_error_prints_each_message_once_and_keeps_its_cause() {
    let fake = Fake::new();
    let pool = pool(&fake, 1, 0);
    fake.state.fail_connect.store(true, SeqCst);
    let err = pool.get().unwrap_err();
    assert_refused(&err);
    let printed = common::assert_prints_once(&err);
    assert_eq!(
        printed,
        format!("could not open a database connection: {REFUSED}")
    );
    let source = std::error::Error::source(&err).expect("the backend's error is the source");
    assert!(source.downcast_ref::<FakeError>().is_some(), "{source:?}");

    // A backend error with a cause of its own: the whole chain, each part once, and the
    // pool's record of the last connect error keeps the cause too.
    let manager = LayeredManager::default();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .timeout(Duration::from_millis(200))
        .build_unchecked(manager.clone())
        .unwrap();
    manager.fail.store(true, SeqCst);
    let err = pool.get().unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let printed = common::assert_prints_once(&err);
    assert_eq!(
        printed,
        format!("could not open a database connection: connecting to the layered server: {LAYERED_CAUSE}")
    );
    let last = pool.last_connect_error().expect("the failure was recorded");
    assert_eq!(last, format!("connecting to the layered server: {LAYERED_CAUSE}"));

    // A timeout after it says what the last connect error was, cause included.
    manager.fail.store(false, SeqCst);
    let held = pool.get().expect("the server is back");
    let err = pool.get().unwrap_err();
    let Error::Timeout(details) = &err else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(details.last_connect_error.as_deref(), Some(last.as_str()));
    let printed = common::assert_prints_once(&err);
    assert!(printed.contains(LAYERED_CAUSE), "{printed}");
    drop(held);
}

/// A refused option prints once: `Error::Config` shows the `ConfigError`'s message and does not
/// give it again as its source.
#[test]
fn a_config_error_prints_once() {
    let err = Pool::builder()
        .pool_size(0)
        .max_overflow(Some(0))
        .build(Fake::new())
        .unwrap_err();
    let Error::Config(config) = &err else {
        panic!("expected Error::Config, got {err:?}");
    };
    let printed = common::assert_prints_once(&err);
    assert_eq!(printed, config.to_string());
    assert!(printed.contains("`pool_size`"), "{printed}");
}
