//! The hedged connect: a checkout that must open a connection opens it on a background thread
//! and takes whichever comes first, a connection given back or its own, never waiting past its
//! deadline. A cold start does the same (nothing can come back then, but the deadline holds);
//! `try_get` starts the connect and does not wait for it.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::thread;
use std::time::{Duration, Instant};

use common::{Fake, eventually};
use millpond::{Error, Pool};

const SLOW: u64 = 300;

fn pool(fake: &Fake, pool_size: usize, timeout: Duration) -> Pool<Fake> {
    Pool::builder()
        .pool_size(pool_size)
        .max_overflow(Some(0))
        .timeout(timeout)
        .build(fake.clone())
        .unwrap()
}

fn connect_threads(fake: &Fake) -> Vec<thread::ThreadId> {
    fake.state.connect_threads.lock().unwrap().clone()
}

/// Gives `conn` back from another thread once a caller waits in the queue beside its connect.
fn give_back_once_queued(
    pool: &Pool<Fake>,
    conn: millpond::PooledConnection<Fake>,
) -> thread::JoinHandle<()> {
    let pool = pool.clone();
    thread::spawn(move || {
        assert!(
            eventually(Duration::from_secs(5), || pool.state().waiting == 1),
            "no caller queued beside its connect: {:?}",
            pool.state()
        );
        drop(conn);
    })
}

/// One connection in use, a 300 ms connect: a second caller is served by the connection given
/// back while it waits, and the connection opened meanwhile ends up idle.
#[test]
fn a_connection_given_back_serves_before_a_slow_connect() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, Duration::from_secs(5));
    let first = pool.get().unwrap();
    let first_serial = first.serial;
    fake.state.connect_delay_ms.store(SLOW, SeqCst);

    let holder = give_back_once_queued(&pool, first);
    let started = Instant::now();
    let second = pool.get().unwrap();
    let elapsed = started.elapsed();
    holder.join().unwrap();
    assert_eq!(second.serial, first_serial, "served by the connection given back");
    assert!(
        elapsed < Duration::from_millis(SLOW - 100),
        "waited {elapsed:?}, as long as the connect"
    );
    // The background connect may not have begun yet: it was given no time to.
    assert!(
        eventually(Duration::from_secs(3), || connect_threads(&fake).len() == 2),
        "{:?}",
        connect_threads(&fake)
    );
    let threads = connect_threads(&fake);
    assert_ne!(
        threads[1],
        thread::current().id(),
        "the second connect ran on a background thread"
    );
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use, s.waiting), (2, 1, 1, 0), "{s:?}");

    // The connection opened meanwhile is kept idle.
    assert!(
        eventually(Duration::from_secs(3), || pool.state().opening == 0),
        "{:?}",
        pool.state()
    );
    let s = pool.state();
    assert_eq!(
        (s.open, s.idle, s.in_use, s.opening, s.waiting),
        (2, 1, 1, 0, 0),
        "{s:?}"
    );
    drop(second);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 2, 0), "{s:?}");
    let stats = pool.stats();
    assert_eq!((stats.connects, stats.connect_errors), (2, 0), "{stats:?}");
    assert!(fake.state.max_live() <= 2);
    assert_eq!(fake.state.live(), 2);
}

/// A slow connect that fails while the caller that started it still waits: that caller gets
/// the connect error as soon as it happens, not a timeout.
#[test]
fn a_failed_background_connect_reaches_its_waiting_caller() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, Duration::from_secs(5));
    let held = pool.get().unwrap();
    fake.state.connect_delay_ms.store(SLOW, SeqCst);
    fake.state.fail_connect.store(true, SeqCst);

    let started = Instant::now();
    let err = pool.get().expect_err("the backend refuses");
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let printed = common::chain(&err);
    assert!(printed.contains("connection refused (fake)"), "{printed}");
    assert!(
        elapsed >= Duration::from_millis(SLOW - 20) && elapsed < Duration::from_millis(SLOW + 700),
        "the error came after {elapsed:?}"
    );
    assert_ne!(connect_threads(&fake)[1], thread::current().id());
    let stats = pool.stats();
    assert_eq!((stats.connect_errors, stats.timeouts), (1, 0), "{stats:?}");
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use, s.waiting), (1, 0, 1, 0), "{s:?}");
    drop(held);
}

/// The caller that started a connect was served by a connection given back; the connect fails
/// later: the failure is counted, its slot freed, and a later timeout names it.
#[test]
fn a_failure_after_its_caller_was_served_is_counted_and_named_later() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, Duration::from_secs(5));
    let first = pool.get().unwrap();
    fake.state.connect_delay_ms.store(SLOW, SeqCst);
    fake.state.fail_connect.store(true, SeqCst);

    let holder = give_back_once_queued(&pool, first);
    let started = Instant::now();
    let second = pool.get().expect("served by the connection given back");
    assert!(started.elapsed() < Duration::from_millis(SLOW - 100));
    holder.join().unwrap();
    assert_eq!(pool.last_connect_error(), None, "the connect has not failed yet");

    assert!(
        eventually(Duration::from_secs(3), || pool.stats().connect_errors == 1),
        "{:?}",
        pool.stats()
    );
    assert_eq!(
        pool.last_connect_error().as_deref(),
        Some("connection refused (fake)")
    );
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use, s.waiting), (1, 0, 1, 0), "{s:?}");

    // Fill the freed slot, then time out on the full pool: the error names the failure.
    fake.state.fail_connect.store(false, SeqCst);
    fake.state.connect_delay_ms.store(0, SeqCst);
    let third = pool.get().unwrap();
    let err = pool
        .get_timeout(Duration::from_millis(100))
        .expect_err("the pool is full");
    let Error::Timeout(details) = &err else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(
        details.last_connect_error.as_deref(),
        Some("connection refused (fake)")
    );
    assert!(err.to_string().contains("connection refused (fake)"), "{err}");
    let stats = pool.stats();
    assert_eq!(
        (stats.connects, stats.connect_errors, stats.timeouts),
        (2, 1, 1),
        "{stats:?}"
    );
    drop((second, third));
}

/// A checkout of 100 ms beside a connect of 1 s: a timeout after about 100 ms; the connect goes
/// on and its connection, when it arrives, is kept idle.
#[test]
fn the_deadline_holds_while_a_connect_is_in_flight() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, Duration::from_secs(5));
    let held = pool.get().unwrap();
    fake.state.connect_delay_ms.store(1000, SeqCst);

    let started = Instant::now();
    let err = pool
        .get_timeout(Duration::from_millis(100))
        .expect_err("nothing comes back in time");
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_millis(600),
        "timed out after {elapsed:?}"
    );
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use, s.waiting), (2, 1, 1, 0), "{s:?}");

    assert!(
        eventually(Duration::from_secs(3), || pool.state().idle == 1),
        "{:?}",
        pool.state()
    );
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use, s.idle), (2, 0, 1, 1), "{s:?}");
    let stats = pool.stats();
    assert_eq!(
        (stats.connects, stats.connect_errors, stats.timeouts),
        (2, 0, 1),
        "{stats:?}"
    );
    // The connection that arrived late serves the next checkout at once.
    fake.state.connect_delay_ms.store(0, SeqCst);
    let next = pool.get_timeout(Duration::from_millis(100)).unwrap();
    assert_eq!(next.serial, 2);
    drop((held, next));
}

/// Nothing in use (a cold start): the checkout connects in its own thread and returns the
/// connect error itself; a connect slower than the timeout ends the call at its deadline, and
/// the connection, when it comes, joins the pool.
#[test]
fn a_cold_start_connects_beside_the_caller_and_keeps_its_deadline() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, Duration::from_secs(5));
    fake.state.connect_delay_ms.store(100, SeqCst);
    fake.state.fail_connect.store(true, SeqCst);

    let started = Instant::now();
    let err = pool.get().expect_err("the backend refuses");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let threads = connect_threads(&fake);
    assert_eq!(threads.len(), 1);
    assert_ne!(threads[0], thread::current().id(), "connected beside the caller");

    fake.state.fail_connect.store(false, SeqCst);
    let conn = pool.get().unwrap();
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use), (1, 0, 1), "{s:?}");
    assert_eq!(
        pool.stats().waits,
        0,
        "a connect is not a wait: {:?}",
        pool.stats()
    );
    drop(conn);

    // A connect slower than the whole timeout: the caller gets its timeout on time.
    let fake = Fake::new();
    let short = Pool::builder()
        .pool_size(2)
        .timeout(Duration::from_millis(100))
        .build(fake.clone())
        .unwrap();
    fake.state.connect_delay_ms.store(SLOW, SeqCst);
    let started = Instant::now();
    let err = short
        .get()
        .map(|_| ())
        .expect_err("the connect outlasts the timeout");
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        elapsed < Duration::from_millis(200),
        "the caller was held {elapsed:?}"
    );
    assert!(
        eventually(Duration::from_secs(5), || short.state().idle == 1),
        "the late connection joins the pool: {:?}",
        short.state()
    );
}

/// `try_get` never waits for a connect: it starts one in the background and returns
/// `Ok(None)`; the connection, once open, is there for the next call.
#[test]
fn try_get_starts_a_connect_and_does_not_wait_for_it() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, Duration::from_secs(5));
    fake.state.connect_delay_ms.store(SLOW, SeqCst);
    let started = Instant::now();
    assert!(pool.try_get().unwrap().is_none(), "nothing idle yet");
    assert!(
        started.elapsed() < Duration::from_millis(SLOW / 2),
        "try_get waited {:?} for a connect",
        started.elapsed()
    );
    assert_eq!(pool.state().opening, 1);
    assert!(eventually(Duration::from_secs(5), || pool.state().idle == 1));
    let conn = pool.try_get().unwrap().expect("the connection it started");
    let threads = connect_threads(&fake);
    assert_eq!(threads.len(), 1);
    assert_ne!(threads[0], thread::current().id());
    drop(conn);
}

/// Many callers on a pool with slow connects, connections held briefly: every caller is
/// served, the cap holds at every instant and the counts settle.
#[test]
fn counts_hold_under_a_spike() {
    const CALLERS: usize = 24;
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(4)
        .max_overflow(Some(4))
        .timeout(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap();
    common::check_out_and_return(&pool, 2);
    fake.state.connect_delay_ms.store(60, SeqCst);
    common::together(CALLERS, |_| {
        for _ in 0..3 {
            let conn = pool.get().unwrap();
            let s = pool.state();
            assert!(s.open <= 8, "{s:?}");
            thread::sleep(Duration::from_millis(2));
            drop(conn);
        }
    });
    assert!(
        eventually(Duration::from_secs(3), || pool.state().opening == 0),
        "{:?}",
        pool.state()
    );
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.in_use, s.opening, s.waiting, s.closing), (0, 0, 0, 0), "{s:?}");
    assert!(fake.state.max_live() <= 8, "{}", fake.state.max_live());
    assert_eq!(s.open, fake.state.live(), "{s:?}");
    assert_eq!(s.open, s.idle);
}

/// The pool closed while a background connect is in flight: the waiting caller gets `Closed`,
/// and the connection, when it arrives, is closed too.
#[test]
fn a_close_during_a_background_connect_closes_its_connection() {
    let fake = Fake::new();
    let pool = pool(&fake, 2, Duration::from_secs(5));
    let held = pool.get().unwrap();
    fake.state.connect_delay_ms.store(200, SeqCst);
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || pool.get().map(|_| ()))
    };
    assert!(
        eventually(Duration::from_secs(2), || pool.state().waiting == 1),
        "{:?}",
        pool.state()
    );
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use), (2, 1, 1), "{s:?}");
    pool.close();
    let result = waiter.join().unwrap();
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    assert!(
        eventually(Duration::from_secs(3), || fake.state.closes() == 1
            && pool.state().opening == 0),
        "{:?} {:?}",
        fake.state,
        pool.state()
    );
    drop(held);
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.opening, s.in_use, s.idle), (0, 0, 0, 0), "{s:?}");
    assert_eq!(fake.state.live(), 0);
}

/// Threads that all hold a connection at once open one each, no more: a waiter served by
/// another waiter's background connect hands its own connect on to that waiter instead of
/// leaving it to open a third (the JDBC driver test saw 5 connects for 4 threads).
#[test]
fn threads_holding_at_once_open_one_connection_each() {
    const THREADS: usize = 4;
    for _ in 0..20 {
        let fake = Fake::new();
        let pool = Pool::builder()
            .pool_size(THREADS)
            .max_overflow(Some(10))
            .timeout(Duration::from_secs(10))
            .build(fake.clone())
            .unwrap();
        fake.state.connect_delay_ms.store(15, SeqCst);
        // Each thread hands back the connection it got: all are held at once until dropped here.
        let held = common::together(THREADS, |_| pool.get().unwrap());
        drop(held);
        assert!(
            eventually(Duration::from_secs(3), || pool.state().opening == 0),
            "{:?}",
            pool.state()
        );
        let stats = pool.stats();
        assert_eq!(stats.connects, THREADS as u64, "{stats:?} {:?}", pool.state());
        assert_eq!(pool.state().open, THREADS);
    }
}

/// A manager whose `connect` panics while `panics` is set (a bug in a backend, say).
#[derive(Clone, Default)]
struct PanickingConnect {
    panics: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl millpond::ManageConnection for PanickingConnect {
    type Connection = ();
    type Error = std::io::Error;

    fn connect(&self) -> Result<(), std::io::Error> {
        if self.panics.load(SeqCst) {
            // A short sleep, so a caller waiting beside this connect is really waiting.
            thread::sleep(Duration::from_millis(50));
            panic!("the backend's connect blew up");
        }
        Ok(())
    }

    fn is_valid(&self, _: &mut (), _: Duration) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn has_broken(&self, _: &mut ()) -> bool {
        false
    }
}

/// A cold start whose connect panics gets a connect error naming the panic, and its slot is
/// freed: the pool of one still has its one connection to open.
#[test]
fn a_cold_start_whose_connect_panics_frees_its_slot() {
    let manager = PanickingConnect::default();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        // Room for the panic's report: with RUST_BACKTRACE=1 the first backtrace of the
        // process is symbolised under the panic hook's lock, which took over 450 ms on a
        // loaded machine (500 ms here timed out now and then, under --test-threads=32).
        .timeout(Duration::from_secs(5))
        .build(manager.clone())
        .unwrap();
    manager.panics.store(true, SeqCst);
    let err = pool.get().map(|_| ()).expect_err("the connect panicked");
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let printed = common::chain(&err);
    assert!(printed.contains("panicked"), "{printed}");
    let state = pool.state();
    assert_eq!((state.open, state.in_use), (0, 0), "{state:?}");
    assert_eq!(pool.stats().connect_errors, 1);
    manager.panics.store(false, SeqCst);
    pool.get()
        .expect("the slot of the panicked connect is free again");
}

/// A background connect that panics gives its waiting caller a connect error at once, naming
/// the panic, never a timeout; the slot is freed and later checkouts open connections as usual.
#[test]
fn a_background_connect_that_panics_reaches_its_caller_as_a_connect_error() {
    let manager = PanickingConnect::default();
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .timeout(Duration::from_secs(5))
        .build(manager.clone())
        .unwrap();
    let held = pool.get().unwrap();
    manager.panics.store(true, SeqCst);
    let started = Instant::now();
    let err = pool.get().expect_err("the connect panicked");
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let printed = common::chain(&err);
    assert!(printed.contains("panicked"), "{printed}");
    assert!(
        elapsed < Duration::from_secs(2),
        "took {elapsed:?}, as long as a timeout"
    );
    let state = pool.state();
    assert_eq!((state.open, state.in_use), (1, 1), "{state:?}");
    manager.panics.store(false, SeqCst);
    let second = pool.get().expect("the slot is free again");
    assert_eq!(pool.state().open, 2);
    drop((held, second));
}

/// A checkout out of time before its connect could start (a zero timeout on a cold pool) still
/// starts it, for the next caller, as `try_get` does: a poller with `get_timeout(0)` is served
/// once the connection is open (before, no connect ever started and every call timed out).
#[test]
fn a_zero_timeout_on_a_cold_pool_starts_the_connect_for_the_next_call() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(2)
        .pre_ping(false)
        .build(fake.clone())
        .unwrap();
    let err = pool.get_timeout(Duration::ZERO).map(|_| ()).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        eventually(Duration::from_secs(5), || pool.state().idle == 1),
        "the connect it started: {:?}",
        pool.state()
    );
    let conn = pool
        .get_timeout(Duration::ZERO)
        .expect("the connection opened for it is idle");
    assert_eq!(conn.serial, 1);
    assert_eq!(fake.state.attempts.load(SeqCst), 1);
}

/// `build` opens its `min_idle` connections no more than `connect_concurrency` at once.
#[test]
fn build_opens_min_idle_within_the_connect_limit() {
    let fake = Fake::new();
    fake.state.connect_delay_ms.store(50, SeqCst);
    let pool = Pool::builder()
        .pool_size(6)
        .min_idle(6)
        .connect_concurrency(2)
        .timeout(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap();
    assert_eq!(pool.state().idle, 6);
    assert_eq!(
        fake.state.max_live(),
        6,
        "every connection opened, and none closed"
    );
    assert!(
        fake.state.max_connecting() <= 2,
        "{} connects at once with connect_concurrency 2",
        fake.state.max_connecting()
    );
}

/// A waiter queued behind another's connect (no slot free for it) and served by it waited for
/// the pool: it counts as a wait, with its real wait time. The waiter the connect was for had a
/// free slot: whatever serves it (here a connection given back before its connect ended) came
/// while it waited for the database, so it does not count, as `Stats::waits` says.
#[test]
fn a_waiter_served_by_another_waiters_connect_counts_as_a_wait() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .connect_concurrency(1)
        .timeout(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap();
    let first = pool.get().unwrap();
    let before = pool.stats();
    fake.state.connect_delay_ms.store(SLOW, SeqCst);
    // A takes the last slot and waits beside its connect; B queues behind it.
    let a = {
        let pool = pool.clone();
        thread::spawn(move || pool.get().unwrap())
    };
    assert!(eventually(Duration::from_secs(5), || pool.state().waiting == 1));
    let b = {
        let pool = pool.clone();
        thread::spawn(move || {
            let started = Instant::now();
            let conn = pool.get().unwrap();
            (started.elapsed(), conn)
        })
    };
    assert!(eventually(Duration::from_secs(5), || pool.state().waiting == 2));
    // `first` comes back to the oldest, A; A's connect, when it arrives, serves B.
    drop(first);
    let a_conn = a.join().unwrap();
    let (b_waited, b_conn) = b.join().unwrap();
    assert_eq!((a_conn.serial, b_conn.serial), (1, 2));
    let stats = pool.stats();
    assert_eq!(
        stats.waits - before.waits,
        1,
        "only B waited for the pool: {stats:?}"
    );
    assert!(
        stats.wait_time_max >= b_waited.saturating_sub(Duration::from_millis(50)),
        "B waited {b_waited:?}: {stats:?}"
    );
}
