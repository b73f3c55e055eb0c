//! Checkout timeouts: not before the timeout, soon after it, with an error that says what the
//! pool looked like; a waiter that timed out never receives a connection.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::Fake;
use millpond::{Error, Pool, TimeoutDetails};

const TIMEOUT: Duration = Duration::from_millis(200);
/// How late a timeout may come back: generous, for a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn pool(fake: &Fake, pool_size: usize, max_overflow: usize, timeout: Duration) -> Pool<Fake> {
    Pool::builder()
        .pool_size(pool_size)
        .max_overflow(Some(max_overflow))
        .timeout(timeout)
        .build(fake.clone())
        .unwrap()
}

/// Runs `checkout`, asserts it timed out within `[timeout, timeout + MARGIN)`, returns the details.
fn expect_timeout<T: std::fmt::Debug>(
    timeout: Duration,
    checkout: impl FnOnce() -> Result<T, Error>,
) -> (TimeoutDetails, String) {
    let started = Instant::now();
    let result = checkout();
    let elapsed = started.elapsed();
    let err = result.expect_err("the pool is full");
    assert!(
        elapsed >= timeout,
        "timed out early: after {elapsed:?} of {timeout:?}"
    );
    assert!(
        elapsed < timeout + MARGIN,
        "timed out late: after {elapsed:?} of {timeout:?}"
    );
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.connect_source().is_none());
    let shown = err.to_string();
    let Error::Timeout(details) = err else {
        panic!("expected Error::Timeout, got {err:?}");
    };
    assert!(
        details.waited >= timeout && details.waited <= elapsed,
        "{details:?} vs {elapsed:?}"
    );
    (details, shown)
}

/// A full pool of 2 + 0 times out after the pool's timeout, not before and not much later, and
/// the error names the sizes and the counts.
#[test]
fn full_pool_times_out_after_the_timeout_with_details() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0, TIMEOUT);
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();

    let (details, shown) = expect_timeout(TIMEOUT, || pool.get());
    assert_eq!(details.pool_size, 2);
    assert_eq!(details.max_overflow, Some(0));
    assert_eq!(details.in_use, 2);
    assert_eq!(details.idle, 0);
    assert_eq!(details.waiting, 0);
    assert_eq!(details.last_connect_error, None);
    for part in [
        "timed out",
        "pool_size 2",
        "max_overflow 0",
        "2 in use",
        "0 idle",
        "0 other waiting",
    ] {
        assert!(shown.contains(part), "{part:?} missing from {shown:?}");
    }
    assert!(!shown.contains("last connect error"), "{shown}");

    let stats = pool.stats();
    assert_eq!(stats.timeouts, 1, "{stats:?}");
    assert_eq!(stats.checkouts, 2, "{stats:?}");
    let s = pool.state();
    assert_eq!((s.open, s.in_use, s.idle, s.waiting), (2, 2, 0, 0), "{s:?}");
    drop((a, b));
}

/// The sizes in the error are the pool's own, overflow included.
#[test]
fn timeout_details_name_the_overflow() {
    let fake = Fake::new();
    let pool = pool(&fake, 1, 2, TIMEOUT);
    let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    let (details, shown) = expect_timeout(TIMEOUT, || pool.get());
    assert_eq!(
        (details.pool_size, details.max_overflow, details.in_use),
        (1, Some(2), 3)
    );
    assert!(
        shown.contains("pool_size 1") && shown.contains("max_overflow 2"),
        "{shown}"
    );
    assert!(shown.contains("3 in use"), "{shown}");
    drop(held);
}

/// The error counts the other threads still waiting; when a connection comes back it goes to
/// the waiter that is still there.
#[test]
fn timeout_details_count_other_waiters() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0, Duration::from_secs(30));
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    let a_serial = a.serial;

    let (tx, rx) = mpsc::channel();
    let patient = {
        let pool = pool.clone();
        thread::spawn(move || {
            let conn = pool.get_timeout(Duration::from_secs(10)).unwrap();
            tx.send(conn.serial).unwrap();
        })
    };
    assert!(common::eventually(Duration::from_secs(5), || pool
        .state()
        .waiting
        == 1));

    let (details, shown) = expect_timeout(TIMEOUT, || pool.get_timeout(TIMEOUT));
    assert_eq!(
        (details.in_use, details.idle, details.waiting),
        (2, 0, 1),
        "{details:?}"
    );
    assert!(shown.contains("1 other waiting"), "{shown}");
    assert_eq!(pool.state().waiting, 1, "the patient waiter is still queued");

    drop(a);
    let got = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the patient waiter got a connection");
    assert_eq!(got, a_serial, "the returned connection went to the waiter");
    patient.join().unwrap();
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use, s.waiting), (2, 1, 1, 0), "{s:?}");
    assert_eq!(pool.stats().timeouts, 1);
    drop(b);
}

/// Waiters that timed out leave the queue: the next connection returned goes idle instead of
/// to a departed waiter, and nothing is lost.
#[test]
fn timed_out_waiters_never_receive_a_connection() {
    const WAITERS: usize = 4;
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0, TIMEOUT);
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    let a_serial = a.serial;

    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                let started = Instant::now();
                let result = pool.get().map(|_| ());
                (result, started.elapsed())
            })
        })
        .collect();
    for w in waiters {
        let (result, elapsed) = w.join().unwrap();
        let err = result.expect_err("nothing comes free");
        assert!(err.is_timeout(), "{err:?}");
        assert!(elapsed >= TIMEOUT, "{elapsed:?}");
    }
    let s = pool.state();
    assert_eq!((s.open, s.in_use, s.idle, s.waiting), (2, 2, 0, 0), "{s:?}");
    assert_eq!(pool.stats().timeouts, WAITERS as u64);

    drop(a);
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.in_use, s.idle, s.waiting), (2, 1, 1, 0), "{s:?}");
    let again = pool.try_get().unwrap().expect("the returned connection is idle");
    assert_eq!(again.serial, a_serial);
    drop((again, b));
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.in_use, s.idle), (2, 0, 2), "{s:?}");
    assert_eq!(fake.state.opens(), 2);
    assert_eq!(fake.state.closes(), 0);
    assert_eq!(pool.stats().checkouts, 3);
}

/// `get()` waits the pool's `timeout`; `get_timeout` waits its own, shorter or longer.
#[test]
fn get_uses_the_pool_timeout_and_get_timeout_its_own() {
    let fake = Fake::new();

    // A long pool timeout does not stretch a short get_timeout.
    let long = pool(&fake, 1, 0, Duration::from_secs(30));
    let held = long.get().unwrap();
    let short = Duration::from_millis(150);
    expect_timeout(short, || long.get_timeout(short));
    drop(held);

    // A short pool timeout: get() stops after it, get_timeout(longer) waits longer.
    let quick = pool(&fake, 1, 0, short);
    let held = quick.get().unwrap();
    expect_timeout(short, || quick.get());
    let longer = Duration::from_millis(600);
    expect_timeout(longer, || quick.get_timeout(longer));
    assert_eq!(quick.stats().timeouts, 2);
    drop(held);
}

/// `try_get()` on a full pool is `Ok(None)` at once: no wait, no timeout counted, nobody queued.
#[test]
fn try_get_on_a_full_pool_is_none_at_once() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, 0, Duration::from_secs(30));
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();

    let started = Instant::now();
    let got = pool.try_get().expect("a full pool is not an error");
    let elapsed = started.elapsed();
    assert!(got.is_none());
    assert!(elapsed < Duration::from_millis(500), "try_get took {elapsed:?}");
    let s = pool.state();
    assert_eq!((s.open, s.in_use, s.waiting), (2, 2, 0), "{s:?}");
    assert_eq!(pool.stats().timeouts, 0);

    drop(a);
    common::settle(&pool);
    assert!(
        pool.try_get().unwrap().is_some(),
        "a returned connection is there for try_get"
    );
    drop(b);
}
