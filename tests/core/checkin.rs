//! Checkin: the reset on return and its policies, and the connections that are closed instead of
//! kept (panicking borrower, `has_broken`, the borrower's `invalidate`, a failed reset), `detach`,
//! and closes that run in the background without delaying anyone.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use common::{Fake, closed_then_settle, eventually, fake_pool, settle};
use millpond::{Pool, ResetOnReturn};

const LIMIT: Duration = Duration::from_secs(5);

fn reset_log(fake: &Fake) -> Vec<String> {
    fake.state.reset_log.lock().unwrap().clone()
}

fn pool_with(reset: ResetOnReturn) -> (Fake, Pool<Fake>) {
    fake_pool(|b| b.pool_size(2).reset_on_return(reset))
}

/// A pool of one connection and no overflow.
fn single_slot_pool() -> (Fake, Pool<Fake>) {
    fake_pool(|b| b.pool_size(1).max_overflow(0))
}

/// Checks out a connection, opens a transaction on it and gives it back.
fn return_in_transaction(pool: &Pool<Fake>) {
    let mut conn = pool.get().unwrap();
    conn.in_transaction = true;
    drop(conn);
}

#[test]
fn rollback_only_when_a_transaction_is_open() {
    let (fake, pool) = pool_with(ResetOnReturn::Rollback);

    drop(pool.get().unwrap());
    assert_eq!(fake.state.resets(), 0, "a clean connection costs no round trip");
    assert_eq!(pool.stats().resets, 0);

    return_in_transaction(&pool);
    assert_eq!(reset_log(&fake), ["Rollback"]);
    assert_eq!(pool.stats().resets, 1);

    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 1, "a connection reset successfully is kept");
    assert!(!conn.in_transaction, "the transaction was rolled back");
    drop(conn);
    assert_eq!(reset_log(&fake), ["Rollback"], "no reset for a clean return");
}

#[test]
fn the_default_policy_is_rollback() {
    let (fake, pool) = fake_pool(|b| b.pool_size(1));
    return_in_transaction(&pool);
    assert_eq!(reset_log(&fake), ["Rollback"]);
}

#[test]
fn commit_policy_commits_an_open_transaction() {
    let (fake, pool) = pool_with(ResetOnReturn::Commit);
    drop(pool.get().unwrap());
    assert_eq!(fake.state.resets(), 0, "nothing to commit, no round trip");
    return_in_transaction(&pool);
    assert_eq!(reset_log(&fake), ["Commit"]);
    assert_eq!(pool.get().unwrap().serial, 1);
}

#[test]
fn nothing_policy_never_resets() {
    let (fake, pool) = pool_with(ResetOnReturn::Nothing);
    return_in_transaction(&pool);
    assert_eq!(fake.state.resets(), 0);
    assert_eq!(pool.stats().resets, 0);
    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 1);
    assert!(conn.in_transaction, "the borrower's transaction was left alone");
}

#[test]
fn statement_policy_runs_on_every_return() {
    let (fake, pool) = pool_with(ResetOnReturn::Statement("DISCARD ALL".into()));
    drop(pool.get().unwrap());
    return_in_transaction(&pool);
    assert_eq!(
        reset_log(&fake),
        [r#"Statement("DISCARD ALL")"#, r#"Statement("DISCARD ALL")"#]
    );
    assert_eq!(pool.stats().resets, 2);
    assert_eq!(pool.get().unwrap().serial, 1);
}

#[test]
fn a_failed_reset_closes_the_connection() {
    let (fake, pool) = pool_with(ResetOnReturn::Rollback);
    let mut conn = pool.get().unwrap();
    conn.in_transaction = true;
    fake.state.fail_reset.store(true, SeqCst);
    drop(conn);
    assert_eq!(
        pool.state().idle,
        0,
        "a connection whose reset failed is not kept"
    );
    closed_then_settle(
        &fake,
        &pool,
        1,
        "the connection whose reset failed is never closed",
    );
    let stats = pool.stats();
    assert_eq!(stats.resets, 1, "{stats:?}");
    assert_eq!(stats.reset_failures, 1, "{stats:?}");
    assert_eq!(stats.broken, 1, "{stats:?}");
    fake.state.fail_reset.store(false, SeqCst);
    assert_eq!(pool.get().unwrap().serial, 2);
}

#[test]
fn a_panicking_borrower_frees_its_slot() {
    let (fake, pool) = single_slot_pool();
    let borrower = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let conn = pool.get().unwrap();
            assert_eq!(conn.serial, 1);
            panic!("the borrower panics while holding connection {}", conn.serial);
        })
    };
    assert!(borrower.join().is_err(), "the borrower was meant to panic");

    let started = Instant::now();
    let conn = pool.get_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the slot came free only after {:?}",
        started.elapsed()
    );
    assert_eq!(
        conn.serial, 2,
        "a connection held by a panicking thread must not be reused"
    );
    settle(&pool);
    assert_eq!(fake.state.closes(), 1);
    assert_eq!(pool.stats().broken, 1);
    assert_eq!(
        pool.stats().resets,
        0,
        "a panicked connection is closed, not reset"
    );
}

#[test]
fn has_broken_closes_the_connection_without_a_reset() {
    let (fake, pool) = pool_with(ResetOnReturn::Rollback);
    let mut conn = pool.get().unwrap();
    conn.broken = true;
    conn.in_transaction = true;
    drop(conn);
    assert_eq!(pool.state().idle, 0);
    closed_then_settle(&fake, &pool, 1, "the broken connection is never closed");
    assert_eq!(fake.state.resets(), 0, "a broken connection is not reset");
    assert_eq!(pool.stats().broken, 1);
    assert_eq!(pool.get().unwrap().serial, 2);
}

#[test]
fn the_borrowers_invalidate_closes_only_that_connection() {
    let (fake, pool) = pool_with(ResetOnReturn::Rollback);
    let mut doomed = pool.get().unwrap();
    let other = pool.get().unwrap();
    assert_eq!((doomed.serial, other.serial), (1, 2));
    drop(other);
    doomed.invalidate();
    drop(doomed);
    closed_then_settle(&fake, &pool, 1, "the invalidated connection is never closed");
    let stats = pool.stats();
    assert_eq!(stats.broken, 1, "{stats:?}");
    assert_eq!(
        stats.invalidated, 0,
        "the pool itself is not invalidated: {stats:?}"
    );
    let state = pool.state();
    assert_eq!((state.open, state.idle), (1, 1), "{state:?}");
    assert_eq!(pool.get().unwrap().serial, 2, "the other connection is kept");
}

#[test]
fn detach_frees_the_slot_and_keeps_the_connection_alive() {
    let (fake, pool) = single_slot_pool();
    let raw = pool.get().unwrap().detach();
    assert_eq!(raw.serial, 1);
    let state = pool.state();
    assert_eq!(
        (state.open, state.in_use, state.idle, state.closing),
        (0, 0, 0, 0),
        "{state:?}"
    );

    let conn = pool.get().expect("the detached connection's slot is free");
    assert_eq!(conn.serial, 2);
    assert_eq!(fake.state.live(), 2, "the detached connection is still open");
    assert_eq!(fake.state.closes(), 0);
    drop(conn);
    settle(&pool);
    assert_eq!(
        fake.state.closes(),
        0,
        "the pool never closes a detached connection"
    );
    assert_eq!(pool.stats().broken, 0);

    drop(raw);
    assert_eq!(fake.state.closes(), 1);
    assert_eq!(pool.state().open, 1, "the pool forgot the detached connection");
}

/// A returned connection whose close is slow (1 s): neither its return nor a concurrent
/// checkout waits for the close. With `idle_available` a second connection is idle; without,
/// the checkout opens one in a free slot.
fn slow_close_does_not_delay(idle_available: bool) {
    let (fake, pool) = fake_pool(|b| b.pool_size(2).max_overflow(0));
    let mut slow = pool.get().unwrap();
    if idle_available {
        drop(pool.get().unwrap()); // serial 2, idle
    }
    slow.broken = true;
    fake.state.close_delay_ms.store(1000, SeqCst);

    let started = Instant::now();
    drop(slow);
    let drop_took = started.elapsed();
    let started = Instant::now();
    let conn = pool.get().unwrap();
    let get_took = started.elapsed();
    let closes_then = fake.state.closes();

    assert!(
        drop_took < Duration::from_millis(300),
        "the return took {drop_took:?}"
    );
    assert!(
        get_took < Duration::from_millis(300),
        "the checkout took {get_took:?}"
    );
    assert_eq!(conn.serial, 2);
    assert_eq!(
        closes_then, 0,
        "the slow close was still running when the checkout returned"
    );

    assert!(
        eventually(LIMIT, || fake.state.closes() == 1),
        "the slow close never ended"
    );
    fake.state.close_delay_ms.store(0, SeqCst);
    settle(&pool);
    let state = pool.state();
    assert_eq!((state.open, state.in_use), (1, 1), "{state:?}");
    assert_eq!(pool.stats().broken, 1);
}

#[test]
fn a_slow_close_does_not_delay_a_borrower_of_an_idle_connection() {
    slow_close_does_not_delay(true);
}

#[test]
fn a_slow_close_does_not_delay_a_borrower_of_a_free_slot() {
    slow_close_does_not_delay(false);
}

/// An event handler that panics on every event, under load with borrowers that panic too: no
/// panic of the handler reaches a caller, and no slot is lost (before, a handler panicking on
/// `Checkout` left the connection checked out by nobody, for good).
#[test]
fn a_panicking_event_handler_and_panicking_borrowers_lose_nothing() {
    struct Explodes;
    impl millpond::observe::HandleEvent for Explodes {
        fn handle(&self, _: &millpond::observe::Event<'_>) {
            panic!("the event handler blew up");
        }
    }
    const THREADS: usize = 8;
    const ROUNDS: usize = 50;
    let (fake, pool) = fake_pool(|b| {
        b.pool_size(2)
            .max_overflow(Some(2))
            .timeout(LIMIT)
            .event_handler(Explodes)
    });
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let conn = pool.get().expect("a handler's panic never reaches the caller");
                    if (t + round) % 7 == 0 {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                            let _held = conn;
                            panic!("the borrower blew up");
                        }));
                    } else {
                        drop(conn);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    settle(&pool);
    let s = pool.state();
    assert_eq!((s.in_use, s.opening, s.closing, s.waiting), (0, 0, 0, 0), "{s:?}");
    assert!(s.open <= 4 && s.idle == s.open, "{s:?}");
    assert_eq!(fake.state.live(), s.open);
    assert_eq!(pool.stats().checkouts, (THREADS * ROUNDS) as u64);
}

/// Resets are counted where each connection lives, by the thread that owns it, and summed by
/// `stats()`: eight threads returning connections with a transaction open through a pool of
/// four lose no count.
#[test]
fn resets_from_many_threads_are_all_counted() {
    const THREADS: usize = 8;
    const RETURNS: usize = 500;
    let (fake, pool) = fake_pool(|b| b.pool_size(4).max_overflow(0).timeout(Duration::from_secs(10)));
    common::together(THREADS, |_| {
        for _ in 0..RETURNS {
            let mut conn = pool.get().unwrap();
            conn.in_transaction = true;
            drop(conn);
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.resets, (THREADS * RETURNS) as u64, "{stats:?}");
    assert_eq!(fake.state.resets(), THREADS * RETURNS);
    assert_eq!(stats.reset_failures, 0);
}
