//! `Pool::resize`: new sizes in force at once. Larger ones serve waiters at once; smaller ones
//! close idle connections now and borrowed ones on return, and no connection is opened while
//! more are open than the new sizes allow, not even while many threads hammer the pool.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Fake, eventually};
use millpond::{Error, Pool};

const LIMIT: Duration = Duration::from_secs(10);

fn pool(fake: &Fake, pool_size: usize, max_overflow: Option<usize>) -> Pool<Fake> {
    Pool::builder()
        .pool_size(pool_size)
        .max_overflow(max_overflow)
        .timeout(LIMIT)
        .build(fake.clone())
        .unwrap()
}

/// The sizes in force are `state()`'s at once, with the builder's argument types (`0`, `None`);
/// the options keep what the pool was built with; a zero `pool_size` is refused, naming it and
/// what to do instead, and changes nothing.
#[test]
fn state_reports_the_new_sizes_and_a_zero_pool_size_is_refused() {
    let fake = Fake::new();
    let pool = pool(&fake, 4, Some(4));
    pool.resize(2, 0).unwrap();
    let s = pool.state();
    assert_eq!((s.pool_size, s.max_overflow), (2, Some(0)), "{s:?}");
    pool.resize(3, None).unwrap();
    let s = pool.state();
    assert_eq!((s.pool_size, s.max_overflow), (3, None), "{s:?}");
    pool.resize(5, Some(1)).unwrap();
    assert_eq!(pool.state().max_overflow, Some(1));
    assert_eq!(
        (pool.options().pool_size, pool.options().max_overflow),
        (4, Some(4)),
        "the options are those the pool was built with"
    );

    let err = pool.resize(0, 3).unwrap_err();
    assert_eq!(err.option, "pool_size");
    assert!(err.message.contains("at least 1 (got 0)"), "{err}");
    assert!(err.message.contains("Pool::suspend"), "{err}");
    let s = pool.state();
    assert_eq!((s.pool_size, s.max_overflow), (5, Some(1)), "{s:?}");

    // A timeout names the sizes in force.
    let held: Vec<_> = (0..6).map(|_| pool.get().unwrap()).collect();
    let err = pool.get_timeout(Duration::from_millis(20)).unwrap_err();
    let Error::Timeout(details) = err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!((details.pool_size, details.max_overflow), (5, Some(1)));
    drop(held);
}

/// A checkout waiting on a full pool is served as soon as the pool is made larger: its
/// connect starts at once, without waiting for anything to come back.
#[test]
fn growing_serves_waiters_at_once() {
    let fake = Fake::new();
    let pool = pool(&fake, 1, Some(0));
    let held = pool.get().unwrap();
    let (got_tx, got_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || {
            let conn = pool.get().unwrap();
            got_tx.send(conn.serial).unwrap();
            // Held until the test has looked at the pool.
            let _ = done_rx.recv();
        })
    };
    assert!(
        eventually(LIMIT, || pool.state().waiting == 1),
        "{:?}",
        pool.state()
    );

    pool.resize(2, 0).unwrap();
    let serial = got_rx.recv_timeout(LIMIT).expect("the waiter was served");
    assert_eq!(serial, 2, "a new connection, opened for the waiter");
    let s = pool.state();
    assert_eq!((s.open, s.in_use, s.waiting, s.pool_size), (2, 2, 0, 2), "{s:?}");
    done_tx.send(()).unwrap();
    waiter.join().unwrap();
    drop(held);
    common::settle(&pool);
    assert_eq!(pool.state().idle, 2);
    assert_eq!(fake.state.live(), 2);
}

/// Made smaller, the pool closes idle connections at once (those beyond the new
/// `pool_size + max_overflow` and beyond `pool_size` idle), and borrowed ones when they come
/// back while more are open than allowed. Meanwhile nothing new is opened: `try_get` finds
/// nothing, and `get` waits for the count to come down.
#[test]
fn shrinking_closes_idle_now_and_borrowed_on_return() {
    let fake = Fake::new();
    let pool = pool(&fake, 4, Some(4));
    let mut held: Vec<_> = (0..6).map(|_| pool.get().unwrap()).collect();
    held.drain(..3);
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (6, 3, 3), "{s:?}");

    pool.resize(2, 0).unwrap();
    // Six open, two allowed: every idle one went, in this thread.
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use, s.closing), (3, 0, 3, 0), "{s:?}");
    assert_eq!(fake.state.live(), 3);
    assert_eq!(pool.stats().overflow_closes, 3);
    assert!(
        pool.try_get().unwrap().is_none(),
        "no connect while 3 are open of 2"
    );
    assert_eq!(fake.state.opens(), 6);

    // The first back is closed (3 open of 2); the next two stay, idle.
    held.pop();
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 0, 2), "{s:?}");
    held.pop();
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 1, 1), "{s:?}");
    held.pop();
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use, s.overflow), (2, 2, 0, 0), "{s:?}");
    assert_eq!(fake.state.live(), 2);
    assert_eq!(fake.state.max_live(), 6);

    // A smaller pool_size alone trims the idle ones down to it.
    pool.resize(1, 5).unwrap();
    let s = pool.state();
    assert_eq!((s.open, s.idle), (1, 1), "{s:?}");
    assert_eq!(fake.state.live(), 1);
    assert_eq!(fake.state.opens(), 6, "nothing was opened meanwhile");
}

/// Sixteen threads hammer the pool while it is resized up and down. From each resize on, no
/// more connections exist than the larger of what was open then and what the new sizes
/// allow; once the borrowed surplus has come back, never more than the new sizes allow, as
/// the fake backend counts them at every connect (`max_live`). Nobody times out, and once
/// the threads stop the counts add up.
#[test]
fn resizing_under_load_never_exceeds_the_new_limits() {
    const THREADS: usize = 16;
    const SIZES: &[(usize, usize)] = &[(1, 0), (6, 2), (2, 1), (3, 0), (8, 8), (1, 1), (4, 2)];
    const CHECKOUTS_PER_STEP: u64 = 1000;

    let fake = Fake::new();
    fake.state.connect_delay_ms.store(1, SeqCst);
    fake.state.close_delay_ms.store(1, SeqCst);
    let pool = pool(&fake, 4, Some(4));
    let stop = AtomicBool::new(false);
    let failures = AtomicUsize::new(0);

    thread::scope(|scope| {
        for t in 0..THREADS {
            let (pool, stop, failures) = (&pool, &stop, &failures);
            scope.spawn(move || {
                while !stop.load(SeqCst) {
                    match pool.get() {
                        Ok(conn) => {
                            thread::yield_now();
                            drop(conn);
                        }
                        Err(err) => {
                            failures.fetch_add(1, SeqCst);
                            panic!("thread {t}: {err}");
                        }
                    }
                }
            });
        }

        for &(pool_size, max_overflow) in SIZES {
            let limit = pool_size + max_overflow;
            pool.resize(pool_size, max_overflow).unwrap();
            // From here on the count never rises above the larger of what is open now and the
            // new limit: the backend's count (which never exceeds the pool's) is watched anew.
            let open_then = pool.state().open;
            restart_max_live(&fake);
            let bound = open_then.max(limit);
            println!("resized to {pool_size} + {max_overflow} with {open_then} open");
            assert!(
                eventually(LIMIT, || pool.state().open <= limit),
                "resized to {pool_size} + {max_overflow}: {:?}",
                pool.state()
            );
            assert!(
                fake.state.max_live() <= bound,
                "resized to {pool_size} + {max_overflow} with {open_then} open: the backend saw {} live",
                fake.state.max_live()
            );

            // The surplus is gone: from now on the new limit holds, however hard the threads
            // push.
            restart_max_live(&fake);
            let target = pool.stats().checkouts + CHECKOUTS_PER_STEP;
            assert!(
                eventually(LIMIT, || pool.stats().checkouts >= target
                    || failures.load(SeqCst) > 0),
                "{:?}",
                pool.state()
            );
            let s = pool.state();
            assert!(s.open <= limit, "resized to {pool_size} + {max_overflow}: {s:?}");
            assert!(
                fake.state.max_live() <= limit,
                "resized to {pool_size} + {max_overflow}: the backend saw {} live",
                fake.state.max_live()
            );
            assert_eq!((s.pool_size, s.max_overflow), (pool_size, Some(max_overflow)));
        }
        stop.store(true, SeqCst);
    });

    assert_eq!(failures.load(SeqCst), 0);
    common::settle(&pool);
    let s = pool.state();
    let (pool_size, _) = *SIZES.last().unwrap();
    assert_eq!((s.in_use, s.waiting), (0, 0), "{s:?}");
    assert!(s.idle <= pool_size && s.open == s.idle, "{s:?}");
    assert_eq!(fake.state.live(), s.open, "{s:?}");
    let stats = pool.stats();
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(
        stats.connects as usize - fake.state.closes(),
        s.open,
        "every connection opened is open or was closed: {stats:?}"
    );
}

/// Starts a new watch of the most connections the fake backend holds at once: what a connect
/// records from now on, or what is live now, whichever is more.
fn restart_max_live(fake: &Fake) {
    fake.state.max_live.store(0, SeqCst);
    fake.state.max_live.fetch_max(fake.state.live(), SeqCst);
}

/// A pool resized below `min_idle` keeps only `pool_size` connections idle: round after
/// round the reaper (which pings every idle connection each round here, so its rounds can be
/// counted) opens none beyond it; resized up again, it fills up to the new `pool_size`.
#[test]
fn a_pool_resized_below_min_idle_keeps_pool_size_idle() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(4)
        .min_idle(4)
        .reaper_rate(Duration::from_millis(10))
        .keepalive(Duration::from_millis(1))
        .build(fake.clone())
        .unwrap();
    assert_eq!(pool.state().idle, 4);
    pool.resize(2, 0).unwrap();
    assert_eq!(pool.state().idle, 2);
    let opens = fake.state.opens();
    // Three rounds at least: each pings both idle connections.
    let pings = fake.state.pings();
    assert!(eventually(LIMIT, || fake.state.pings() >= pings + 6));
    assert_eq!(pool.state().idle, 2, "{:?}", pool.state());
    assert_eq!(fake.state.opens(), opens);

    pool.resize(3, 0).unwrap();
    assert!(
        eventually(LIMIT, || fake.state.opens() == opens + 1),
        "the reaper fills up to the new pool_size: {:?}",
        pool.state()
    );
    let pings = fake.state.pings();
    assert!(eventually(LIMIT, || fake.state.pings() >= pings + 9));
    assert_eq!(pool.state().idle, 3, "{:?}", pool.state());
    assert_eq!(fake.state.opens(), opens + 1);
}

/// After a smaller `resize`, connections coming back while the surplus is still being closed
/// close only the surplus: those being closed already count as gone. (Counting them as open,
/// every return during slow closes closed its connection too, and the pool fell to none.)
#[test]
fn shrinking_with_slow_closes_closes_only_the_surplus() {
    let fake = Fake::new();
    fake.state.close_delay_ms.store(200, SeqCst);
    let pool = pool(&fake, 6, Some(0));
    let held: Vec<_> = (0..6).map(|_| pool.get().unwrap()).collect();
    pool.resize(3, 0).unwrap();
    // All back within far less than one close takes.
    drop(held);
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (3, 3, 0), "{s:?}");
    assert_eq!(pool.stats().overflow_closes, 3, "{:?}", pool.stats());
    assert_eq!(fake.state.live(), 3);
}
