//! Checkout timeouts: not before the timeout, soon after it, with an error that says what the
//! pool looked like; a waiter that timed out never receives a connection.

use crate::common;

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
    (*details, shown)
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

/// A timeout names the pool and prints its duration rounded, as people read it.
#[test]
fn a_timeout_names_the_pool_and_rounds_its_duration() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .name("orders")
        .pool_size(1)
        .max_overflow(Some(0))
        .timeout(TIMEOUT)
        .build(fake.clone())
        .unwrap();
    let held = pool.get().unwrap();
    let (details, shown) = expect_timeout(TIMEOUT, || pool.get());
    assert_eq!(details.pool, "orders");
    assert!(shown.starts_with("pool `orders`: timed out after "), "{shown}");
    let after = shown
        .strip_prefix("pool `orders`: timed out after ")
        .and_then(|rest| rest.split(" waiting").next())
        .unwrap();
    let (number, unit) = after.split_once(' ').expect("a number and a unit");
    assert!(number.parse::<u64>().is_ok(), "{after:?} in {shown}");
    assert_eq!(unit, "ms", "{shown}");
    drop(held);
}

/// Idle connections whose server stopped answering: each pre-ping gets what is left of the
/// checkout's deadline, never a fresh `validation_timeout`, so the call ends near its timeout
/// (on an idle pool of 4 it used to take 4 pre-pings of a second each, then a connect).
#[test]
fn pre_pings_share_the_checkouts_deadline() {
    const BUDGET: Duration = Duration::from_millis(400);
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(Some(0))
        .timeout(BUDGET)
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .validation_timeout(BUDGET)
        .build(fake.clone())
        .unwrap();
    let warm: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    drop(warm);
    common::settle(&pool);
    assert_eq!(pool.state().idle, 4);
    fake.state
        .stall_ping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    fake.state
        .connect_delay_ms
        .store(10_000, std::sync::atomic::Ordering::SeqCst);

    let (details, _) = expect_timeout(BUDGET, || pool.get());
    let budgets = fake.state.ping_budgets.lock().unwrap().clone();
    let spent: Duration = budgets.iter().sum();
    assert!(
        spent <= BUDGET,
        "the pre-pings were given {budgets:?}, more than the {BUDGET:?} timeout"
    );
    assert!(details.waited >= BUDGET, "{details:?}");
    let s = pool.state();
    assert_eq!((s.waiting, s.in_use), (0, 0), "{s:?}");
}

/// `Duration::MAX` is a duration: a checkout with it whose idle connection fails its checks
/// (expired, or a failed pre-ping) opens another, and loses no slot.
#[test]
fn the_longest_timeout_survives_an_idle_connection_that_fails_its_checks() {
    for expire in [true, false] {
        let fake = Fake::new();
        let pool = Pool::builder()
            .pool_size(1)
            .max_overflow(Some(0))
            .recycle(Some(if expire {
                Duration::from_millis(1)
            } else {
                Duration::from_secs(3600)
            }))
            .pre_ping(!expire)
            .pre_ping_bypass(Duration::ZERO)
            .validation_timeout(Duration::MAX)
            .timeout(Duration::MAX)
            .build(fake.clone())
            .unwrap();
        drop(pool.get_timeout(Duration::MAX).unwrap());
        common::settle(&pool);
        // Time, not another thread, is what this waits for: the 1 ms lifetime to run out, on a
        // clock that ticks every few milliseconds.
        thread::sleep(Duration::from_millis(20));
        fake.state
            .fail_ping
            .store(!expire, std::sync::atomic::Ordering::SeqCst);
        let conn = pool.get_timeout(Duration::MAX).unwrap();
        assert_eq!(conn.serial, 2, "expire {expire}: the failed one was replaced");
        drop(conn);
        drop(pool.get().unwrap());
        common::settle(&pool);
        let s = pool.state();
        assert_eq!(
            (s.open, s.opening, s.waiting, s.in_use),
            (1, 0, 0, 0),
            "expire {expire}: {s:?}"
        );
    }
}
