//! Fairness: once the oldest waiter has waited `fairness_window`, waiters are served first come,
//! first served; a returned connection (or a freed slot) goes straight to the oldest waiter, and
//! nobody arriving later can take it. Most tests here set the window to zero, which makes the
//! queue strict from the first waiter; the last ones show the window itself.

use crate::common;

use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::Fake;
use millpond::Pool;

const WAIT_LIMIT: Duration = Duration::from_secs(5);

/// A pool of one connection and no overflow, so that every other caller waits, strictly first
/// come, first served.
fn pool_of_one(fake: &Fake) -> Pool<Fake> {
    Pool::builder()
        .fairness_window(Duration::ZERO)
        .pool_size(1)
        .max_overflow(Some(0))
        .timeout(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap()
}

/// Starts a waiter that, once it has a connection, pushes `label` to `order` while holding it,
/// then gives it back. Returns after the waiter has joined the queue (the pool counts
/// `queued_before + 1` waiters), so waiters started one after another arrive in that order.
fn start_waiter(
    pool: &Pool<Fake>,
    order: &Arc<Mutex<Vec<usize>>>,
    label: usize,
    queued_before: usize,
) -> thread::JoinHandle<()> {
    let handle = {
        let pool = pool.clone();
        let order = Arc::clone(order);
        thread::spawn(move || {
            let conn = pool.get().unwrap_or_else(|e| panic!("waiter {label}: {e}"));
            order.lock().unwrap().push(label);
            drop(conn);
        })
    };
    assert!(
        common::eventually(WAIT_LIMIT, || pool.state().waiting == queued_before + 1),
        "waiter {label} did not queue: {:?}",
        pool.state()
    );
    handle
}

/// Eight waiters queued one by one behind the only connection are served in arrival order, and
/// the pool's wait statistics record them.
#[test]
fn waiters_are_served_in_arrival_order() {
    const WAITERS: usize = 8;
    let fake = Fake::new();
    let pool = pool_of_one(&fake);
    let order = Arc::new(Mutex::new(Vec::new()));
    let holder = pool.get().unwrap();

    let waiters: Vec<_> = (0..WAITERS).map(|k| start_waiter(&pool, &order, k, k)).collect();
    assert_eq!(pool.state().waiting, WAITERS);
    drop(holder);
    for w in waiters {
        w.join().unwrap();
    }

    assert_eq!(*order.lock().unwrap(), (0..WAITERS).collect::<Vec<_>>());
    assert_eq!(
        fake.state.opens(),
        1,
        "one connection, handed from waiter to waiter"
    );
    let stats = pool.stats();
    assert_eq!(stats.waits, WAITERS as u64, "{stats:?}");
    assert_eq!(stats.checkouts, WAITERS as u64 + 1, "{stats:?}");
    assert!(stats.wait_time_max > Duration::ZERO, "{stats:?}");
    assert!(stats.wait_time_total >= stats.wait_time_max, "{stats:?}");
    assert_eq!(
        stats.wait_histogram.iter().sum::<u64>(),
        WAITERS as u64,
        "{stats:?}"
    );
    assert_eq!(stats.timeouts, 0);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.waiting), (1, 1, 0), "{s:?}");
}

/// The connection returned is handed to the oldest waiter directly: a `try_get()` right after
/// the return finds nothing, and a newcomer queued behind later waiters is served after them.
#[test]
fn returned_connection_goes_to_the_oldest_waiter_not_a_newcomer() {
    let fake = Fake::new();
    let pool = pool_of_one(&fake);
    let order = Arc::new(Mutex::new(Vec::new()));
    let holder = pool.get().unwrap();

    // The oldest waiter keeps the connection until told to let go.
    let (got_tx, got_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let oldest = {
        let pool = pool.clone();
        let order = Arc::clone(&order);
        thread::spawn(move || {
            let conn = pool.get().unwrap();
            order.lock().unwrap().push(0);
            got_tx.send(conn.serial).unwrap();
            release_rx.recv().unwrap();
            drop(conn);
        })
    };
    assert!(common::eventually(WAIT_LIMIT, || pool.state().waiting == 1));
    let second = start_waiter(&pool, &order, 1, 1);

    let serial = holder.serial;
    drop(holder);
    // Handed over under the lock, before the oldest waiter even wakes: nothing is idle and
    // nobody else may take it, whatever the scheduler does next.
    assert!(
        pool.try_get().unwrap().is_none(),
        "a newcomer took the connection: {:?}",
        pool.state()
    );
    let s = pool.state();
    assert_eq!((s.idle, s.in_use, s.waiting), (0, 1, 1), "{s:?}");
    assert_eq!(got_rx.recv_timeout(WAIT_LIMIT).unwrap(), serial);

    // A newcomer arriving now queues behind the second waiter.
    let newcomer = start_waiter(&pool, &order, 2, 1);
    assert!(
        pool.try_get().unwrap().is_none(),
        "try_get must not jump the queue"
    );
    release_tx.send(()).unwrap();
    for t in [oldest, second, newcomer] {
        t.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    assert_eq!(fake.state.opens(), 1);
}

/// A newcomer racing the return (it calls `try_get`, then `get` if that found nothing, at the
/// moment the holder gives the connection back) never gets it before the waiter already queued.
#[test]
fn newcomer_racing_a_return_does_not_jump_the_queue() {
    const ROUNDS: usize = 50;
    let fake = Fake::new();
    let pool = pool_of_one(&fake);
    for round in 0..ROUNDS {
        let order = Arc::new(Mutex::new(Vec::new()));
        let holder = pool.get().unwrap();
        let waiter = start_waiter(&pool, &order, 0, 0);

        common::race(
            || drop(holder),
            || {
                // Some only once the waiter has had the connection and given it back; the
                // order says which.
                let conn = match pool.try_get().unwrap() {
                    Some(conn) => conn,
                    None => pool.get().unwrap(),
                };
                order.lock().unwrap().push(1);
                drop(conn);
            },
        );
        waiter.join().unwrap();
        assert_eq!(*order.lock().unwrap(), vec![0, 1], "round {round}");
    }
    assert_eq!(fake.state.opens(), 1);
}

/// A slot freed by a closed connection is also handed to the oldest waiter, who opens a new
/// connection in it; the others follow in arrival order.
#[test]
fn freed_slot_goes_to_the_oldest_waiter() {
    const WAITERS: usize = 4;
    let fake = Fake::new();
    let pool = pool_of_one(&fake);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut holder = pool.get().unwrap();

    let waiters: Vec<_> = (0..WAITERS).map(|k| start_waiter(&pool, &order, k, k)).collect();
    holder.broken = true;
    drop(holder); // closed in the background, then its slot goes to waiter 0
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..WAITERS).collect::<Vec<_>>());
    assert_eq!(fake.state.opens(), 2, "the broken connection was replaced once");
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.waiting), (1, 1, 0), "{s:?}");
    assert_eq!(pool.stats().broken, 1);
    assert_eq!(pool.stats().waits, WAITERS as u64);
}

/// The oldest waiter keeps its turn when the connection handed to it fails its checks (here a
/// pre-ping): it is closed and the slot it frees goes back to that waiter ("close it and go to
/// 3"), not to a waiter that arrived later.
#[test]
fn oldest_waiter_keeps_its_turn_when_its_connection_fails_the_pre_ping() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .fairness_window(Duration::ZERO)
        .pool_size(1)
        .max_overflow(Some(0))
        .timeout(Duration::from_secs(10))
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .build(fake.clone())
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let holder = pool.get().unwrap();
    let waiters: Vec<_> = (0..2).map(|k| start_waiter(&pool, &order, k, k)).collect();

    fake.state
        .fail_ping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    drop(holder); // handed to waiter 0, whose pre-ping fails
    for w in waiters {
        w.join().unwrap();
    }
    assert!(pool.stats().ping_failures >= 1, "{:?}", pool.stats());
    assert_eq!(*order.lock().unwrap(), vec![0, 1], "waiter 1 overtook waiter 0");
}

/// `lifo` (the default): a thread keeps getting back the connection it returned last, even
/// with others idle; `lifo(false)` hands idle connections out round robin.
#[test]
fn idle_connections_go_out_lifo_by_default_and_round_robin_with_fifo() {
    for lifo in [true, false] {
        let fake = Fake::new();
        let pool = Pool::builder()
            .pool_size(3)
            .max_overflow(0)
            .lifo(lifo)
            .build(fake.clone())
            .unwrap();
        let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        drop(held);
        let serials: Vec<usize> = (0..6).map(|_| pool.get().unwrap().serial).collect();
        let distinct = serials.iter().collect::<std::collections::BTreeSet<_>>().len();
        if lifo {
            assert_eq!(distinct, 1, "lifo reuses one connection: {serials:?}");
        } else {
            assert_eq!(distinct, 3, "fifo spreads use over all three: {serials:?}");
        }
        assert_eq!(fake.state.opens(), 3);
    }
}

/// Below the fairness window a connection that comes back is left for anyone to take, and the
/// oldest waiter is woken to take it: a lone waiter does not wait for the window to run out.
#[test]
fn below_the_fairness_window_a_lone_waiter_still_gets_a_returned_connection_at_once() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .fairness_window(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap();
    let holder = pool.get().unwrap();
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || {
            let asked = std::time::Instant::now();
            let conn = pool.get().unwrap();
            (conn.serial, asked.elapsed())
        })
    };
    assert!(
        common::eventually(WAIT_LIMIT, || pool.state().waiting == 1),
        "{:?}",
        pool.state()
    );
    drop(holder);
    let (serial, waited) = waiter.join().unwrap();
    assert_eq!(serial, 1);
    assert!(
        waited < Duration::from_secs(5),
        "the waiter waited for the window: {waited:?}"
    );
}

/// Past the fairness window, a returned connection goes to the waiter, not to a newcomer.
#[test]
fn past_the_fairness_window_the_oldest_waiter_is_served_before_a_newcomer() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .fairness_window(Duration::from_millis(20))
        .build(fake.clone())
        .unwrap();
    let holder = pool.get().unwrap();
    let (release, released) = mpsc::channel::<()>();
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || {
            let conn = pool.get().unwrap();
            released.recv().unwrap();
            conn.serial
        })
    };
    assert!(
        common::eventually(WAIT_LIMIT, || pool.state().waiting == 1),
        "{:?}",
        pool.state()
    );
    // Let the waiter's wait run past the window (it wakes at the window's end to say so).
    thread::sleep(Duration::from_millis(100));
    drop(holder);
    assert!(
        pool.try_get().unwrap().is_none(),
        "a newcomer took the waiter's connection"
    );
    release.send(()).unwrap();
    assert_eq!(waiter.join().unwrap(), 1);
}

/// The same, many times over, with the return racing the waiter's look: a connection that
/// comes back idle after the waiter's claim failed (its owner's nudge already spent) must still
/// be found, never left idle while the waiter sleeps out the window.
#[test]
fn a_return_racing_the_waiters_look_is_never_missed() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .fairness_window(Duration::from_secs(10))
        .pre_ping(false)
        .build(fake.clone())
        .unwrap();
    for round in 0..300 {
        let holder = pool.get().unwrap();
        let waiter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let asked = std::time::Instant::now();
                drop(pool.get().unwrap());
                asked.elapsed()
            })
        };
        while pool.state().waiting == 0 {
            thread::yield_now();
        }
        drop(holder);
        let waited = waiter.join().unwrap();
        assert!(
            waited < Duration::from_secs(2),
            "round {round}: the waiter slept {waited:?} beside an idle connection"
        );
    }
}

/// This thread's voluntary context switches so far: how often it slept.
fn sleeps_of_this_thread() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) }, 0);
    usage.ru_nvcsw
}

/// One thread takes the only connection, holds it 20 µs, gives it back and takes it again at
/// once, in a loop, below the fairness window, while another thread waits. Each return would
/// wake the waiter only for it to find the connection taken again: after such futile wake-ups,
/// returns stop nudging for a while (up to a millisecond), so the waiter sleeps about once a
/// millisecond, not once per return (5 to 7 times a millisecond here before). When the loop
/// stops, the waiter still gets the connection at once.
#[test]
fn a_thread_retaking_its_connection_does_not_wake_the_waiter_for_every_return() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .fairness_window(Duration::from_secs(10))
        .pre_ping(false)
        .build(fake.clone())
        .unwrap();
    let (mut total_sleeps, mut total_waited) = (0_i64, Duration::ZERO);
    for round in 0..3 {
        let holder = pool.get().unwrap();
        let waiter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let (before, asked) = (sleeps_of_this_thread(), Instant::now());
                let conn = pool.get().unwrap();
                let (sleeps, got_at) = (sleeps_of_this_thread() - before, Instant::now());
                drop(conn);
                (sleeps, got_at - asked, got_at)
            })
        };
        assert!(
            common::eventually(WAIT_LIMIT, || pool.state().waiting == 1),
            "{:?}",
            pool.state()
        );
        drop(holder);
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(150) {
            // Should the waiter win a race, this loop waits like anyone.
            let conn = pool.get().unwrap();
            let held = Instant::now();
            while held.elapsed() < Duration::from_micros(20) {
                std::hint::spin_loop();
            }
            drop(conn);
        }
        let stopped = Instant::now();
        let (sleeps, waited, got_at) = waiter.join().unwrap();
        let late = got_at.saturating_duration_since(stopped);
        assert!(
            late < Duration::from_secs(1),
            "round {round}: the waiter got the connection {late:?} after the loop stopped giving it back"
        );
        total_sleeps += sleeps;
        total_waited += waited;
    }
    let per_ms = total_sleeps as f64 / total_waited.as_secs_f64() / 1000.0;
    assert!(
        per_ms < 2.5,
        "the waiter slept {total_sleeps} times in {total_waited:?} ({per_ms:.1} a millisecond): \
         woken for returns it could not use"
    );
}
