//! `Pool::suspend` and `Pool::resume` (HikariCP's `suspendPool`): while suspended, checkouts
//! wait in the queue, never past their deadlines, and nothing is handed out, neither idle
//! connections, nor connections given back, nor those a connect under way brings; `resume`
//! serves the waiters at once, oldest first.

use crate::common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use common::{Fake, eventually};
use millpond::{Error, Pool};

const LIMIT: Duration = Duration::from_secs(10);
/// How late a checkout may come back after its deadline: generous, for a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(1000);

fn pool(fake: &Fake, pool_size: usize) -> Pool<Fake> {
    Pool::builder()
        .pool_size(pool_size)
        .max_overflow(0)
        .timeout(LIMIT)
        .build(fake.clone())
        .unwrap()
}

/// Suspended with a connection idle: `try_get` finds nothing, `get` waits, and the idle
/// connection stays where it is; `resume` hands it to the waiters, oldest first.
#[test]
fn suspended_checkouts_wait_and_resume_serves_them_in_order() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .fairness_window(Duration::ZERO)
        .timeout(LIMIT)
        .build(fake.clone())
        .unwrap();
    common::check_out_and_return(&pool, 1);
    pool.suspend();
    pool.suspend();
    let s = pool.state();
    assert!(s.suspended && s.idle == 1, "{s:?}");
    assert!(s.to_string().ends_with(", suspended"), "{s}");
    assert!(
        pool.try_get().unwrap().is_none(),
        "nothing is handed out while suspended"
    );

    let order = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for label in 0..3 {
            let (pool, order) = (&pool, &order);
            scope.spawn(move || {
                let conn = pool.get().unwrap_or_else(|e| panic!("waiter {label}: {e}"));
                order.lock().unwrap().push(label);
                drop(conn);
            });
            assert!(
                eventually(LIMIT, || pool.state().waiting == label + 1),
                "waiter {label} did not queue: {:?}",
                pool.state()
            );
        }
        let s = pool.state();
        assert_eq!((s.idle, s.in_use, s.waiting), (1, 0, 3), "{s:?}");
        assert!(order.lock().unwrap().is_empty());
        pool.resume();
    });
    assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
    assert_eq!(fake.state.opens(), 1, "the idle connection served them all");
    let s = pool.state();
    assert!(!s.suspended && s.waiting == 0, "{s:?}");
    pool.resume();
    assert!(!pool.state().suspended);
}

/// A checkout on a suspended pool times out at its deadline, not before and not much later,
/// and the error says the pool is suspended.
#[test]
fn a_suspended_checkout_times_out_at_its_deadline_and_says_so() {
    let fake = Fake::new();
    let pool = pool(&fake, 2);
    common::check_out_and_return(&pool, 1);
    pool.suspend();
    let timeout = Duration::from_millis(150);
    let started = Instant::now();
    let err = pool.get_timeout(timeout).unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout && elapsed < timeout + MARGIN, "{elapsed:?}");
    let shown = err.to_string();
    let Error::Timeout(details) = err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert!(details.suspended && details.idle == 1, "{details:?}");
    assert!(
        shown.contains("the pool is suspended (Pool::resume ends it)"),
        "{shown}"
    );
    assert_eq!(pool.stats().timeouts, 1);
    pool.resume();
    assert!(pool.try_get().unwrap().is_some());
}

/// While suspended, a connection given back stays idle rather than going to a waiter, and so
/// does the connection a connect under way brings (the checkout that started it keeps
/// waiting for it); both serve the waiters at `resume`.
#[test]
fn nothing_given_back_or_opened_is_handed_out_while_suspended() {
    let fake = Fake::new();
    let pool = pool(&fake, 2);
    let held = pool.get().unwrap();
    thread::scope(|scope| {
        // Held in the scope: a failing assertion releases it before the scope joins the opener.
        let gate = fake.state.connect_gate.hold();
        // A checkout whose connect is under way when the pool is suspended.
        let opener = scope.spawn(|| pool.get().map(|conn| conn.serial));
        assert!(
            eventually(LIMIT, || pool.state().opening == 1),
            "{:?}",
            pool.state()
        );
        pool.suspend();
        // Another that queues while suspended.
        let late = scope.spawn(|| pool.get().map(|conn| conn.serial));
        assert!(
            eventually(LIMIT, || pool.state().waiting == 2),
            "{:?}",
            pool.state()
        );
        // The connect finishes: its connection stays idle.
        drop(gate);
        assert!(
            eventually(LIMIT, || pool.state().opening == 0),
            "{:?}",
            pool.state()
        );
        drop(held);
        common::settle(&pool);
        let s = pool.state();
        assert_eq!((s.open, s.idle, s.in_use, s.waiting), (2, 2, 0, 2), "{s:?}");
        pool.resume();
        let mut served = vec![opener.join().unwrap().unwrap(), late.join().unwrap().unwrap()];
        served.sort();
        assert_eq!(served, [1, 2]);
    });
    assert_eq!(fake.state.opens(), 2);
}

/// Threads hammer the pool with a short timeout while it is suspended and resumed again and
/// again: every checkout comes back by its deadline (measured from its call), a timeout within
/// a suspension says the pool was suspended, and after each resume checkouts are served again.
/// (Outside a suspension a checkout may time out too, when the machine keeps a holder off its
/// core past the timeout: that is the pool doing its job.)
#[test]
fn suspend_under_load_holds_no_caller_past_its_timeout() {
    const THREADS: usize = 8;
    const CYCLES: usize = 3;
    let timeout = Duration::from_millis(60);
    let fake = Fake::new();
    let pool = pool(&fake, 3);
    let stop = AtomicBool::new(false);
    // Odd from just after `suspend` until just before `resume`: a call that began and ended in
    // the same odd phase ran wholly within a suspension.
    let phase = AtomicUsize::new(0);
    let timeouts = AtomicUsize::new(0);
    let suspended_timeouts = AtomicUsize::new(0);
    let latest = Mutex::new(Duration::ZERO);

    thread::scope(|scope| {
        for t in 0..THREADS {
            let (pool, stop, phase, timeouts, suspended_timeouts, latest) =
                (&pool, &stop, &phase, &timeouts, &suspended_timeouts, &latest);
            scope.spawn(move || {
                while !stop.load(SeqCst) {
                    let phase_before = phase.load(SeqCst);
                    let started = Instant::now();
                    let result = pool.get_timeout(timeout);
                    let elapsed = started.elapsed();
                    let within_suspension = phase_before % 2 == 1 && phase.load(SeqCst) == phase_before;
                    {
                        let mut latest = latest.lock().unwrap();
                        *latest = (*latest).max(elapsed);
                    }
                    assert!(
                        elapsed < timeout + MARGIN,
                        "thread {t}: a checkout took {elapsed:?} of {timeout:?}"
                    );
                    match result {
                        Ok(conn) => {
                            assert!(!within_suspension, "thread {t}: served while suspended");
                            thread::yield_now();
                            drop(conn);
                        }
                        Err(Error::Timeout(details)) => {
                            assert!(elapsed >= timeout, "thread {t}: timed out early: {elapsed:?}");
                            if within_suspension {
                                assert!(details.suspended, "thread {t}: {details:?}");
                            }
                            timeouts.fetch_add(1, SeqCst);
                            if details.suspended {
                                suspended_timeouts.fetch_add(1, SeqCst);
                            }
                        }
                        Err(err) => panic!("thread {t}: {err}"),
                    }
                }
            });
        }
        for cycle in 0..CYCLES {
            let checkouts = pool.stats().checkouts;
            assert!(
                eventually(LIMIT, || pool.stats().checkouts >= checkouts + 200),
                "cycle {cycle}: served before the suspension: {:?}",
                pool.state()
            );
            pool.suspend();
            phase.fetch_add(1, SeqCst);
            let timed_out = suspended_timeouts.load(SeqCst);
            assert!(
                eventually(LIMIT, || suspended_timeouts.load(SeqCst) >= timed_out + THREADS),
                "cycle {cycle}: {:?}",
                pool.state()
            );
            phase.fetch_add(1, SeqCst);
            pool.resume();
        }
        stop.store(true, SeqCst);
    });
    println!(
        "{} timeouts, {} of them while suspended; the longest checkout took {:?} of {timeout:?}",
        timeouts.load(SeqCst),
        suspended_timeouts.load(SeqCst),
        latest.lock().unwrap()
    );
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.in_use, s.waiting, s.open), (0, 0, s.idle), "{s:?}");
    assert_eq!(pool.stats().timeouts as usize, timeouts.load(SeqCst));
    assert_eq!(fake.state.live(), s.open);
}

/// A pool closed while suspended gives its waiters `Error::Closed`, at once.
#[test]
fn closing_a_suspended_pool_ends_its_waiters() {
    let fake = Fake::new();
    let pool = pool(&fake, 1);
    pool.suspend();
    thread::scope(|scope| {
        let waiter = scope.spawn(|| pool.get().map(|_| ()));
        assert!(eventually(LIMIT, || pool.state().waiting == 1));
        pool.close();
        assert!(matches!(waiter.join().unwrap(), Err(Error::Closed)));
    });
}
