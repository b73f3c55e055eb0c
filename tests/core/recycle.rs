//! Lifetime (`recycle`) and invalidation: expired or stale connections are replaced at checkout,
//! at checkin and by the reaper; `pool.invalidate()` and a lost server replace every older one.
//!
//! The per-connection jitter (0–2.5% off each lifetime) is covered by the unit test in
//! `src/pool/conn.rs`; here every wait past a lifetime is long enough for any jitter.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{check_out_and_return, closed_then_settle, fake_pool, settle};

const RECYCLE: Duration = Duration::from_millis(50);
/// Comfortably past `RECYCLE`.
const PAST_RECYCLE: Duration = Duration::from_millis(80);

#[test]
fn an_expired_idle_connection_is_replaced_at_checkout() {
    let (fake, pool) = fake_pool(|b| b.pool_size(1).max_overflow(0).recycle(RECYCLE).idle_timeout(None));
    let first = pool.get().unwrap();
    assert_eq!(first.serial, 1);
    drop(first);
    assert_eq!(pool.state().idle, 1);

    std::thread::sleep(PAST_RECYCLE);
    // The only slot is held by the expired connection until its background close ends: the
    // checkout must still get a fresh one within its deadline.
    let second = pool.get_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(second.serial, 2, "the expired connection must not be handed out");
    settle(&pool);
    assert_eq!(fake.state.closes(), 1, "the expired connection is closed");
    assert_eq!(fake.state.live(), 1);
    let stats = pool.stats();
    assert_eq!(stats.recycled, 1, "{stats:?}");
    assert_eq!(stats.broken, 0, "{stats:?}");
    assert_eq!(stats.connects, 2, "{stats:?}");
}

#[test]
fn a_connection_held_past_its_lifetime_is_closed_when_given_back() {
    let (fake, pool) = fake_pool(|b| b.pool_size(2).recycle(RECYCLE).idle_timeout(None));
    let conn = pool.get().unwrap();
    std::thread::sleep(PAST_RECYCLE);
    drop(conn);
    assert_eq!(pool.state().idle, 0, "an expired connection is not kept idle");
    closed_then_settle(&fake, &pool, 1, "the expired connection is never closed");
    let state = pool.state();
    assert_eq!((state.open, state.idle, state.in_use), (0, 0, 0), "{state:?}");
    assert_eq!(fake.state.live(), 0);
    assert_eq!(pool.stats().recycled, 1);

    let next = pool.get().unwrap();
    assert_eq!(next.serial, 2);
}

#[test]
fn the_reaper_closes_expired_idle_connections_without_any_checkout() {
    let (fake, pool) = fake_pool(|b| {
        b.pool_size(3)
            .recycle(RECYCLE)
            .idle_timeout(None)
            .reaper_rate(Duration::from_millis(20))
    });
    check_out_and_return(&pool, 3);
    assert_eq!(pool.state().idle, 3);

    closed_then_settle(
        &fake,
        &pool,
        3,
        "the reaper did not close the expired idle connections",
    );
    let state = pool.state();
    assert_eq!((state.open, state.idle), (0, 0), "{state:?}");
    let stats = pool.stats();
    assert_eq!(stats.recycled, 3, "{stats:?}");
    assert_eq!(stats.idle_closes, 0, "idle_timeout is off: {stats:?}");
    assert_eq!(stats.checkouts, 3, "no checkout was needed: {stats:?}");
    assert_eq!(fake.state.live(), 0);
}

#[test]
fn invalidate_replaces_every_connection_opened_before_it() {
    let (fake, pool) = fake_pool(|b| b.pool_size(4));
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    let held = pool.get().unwrap();
    assert_eq!((a.serial, b.serial, held.serial), (1, 2, 3));
    drop((a, b));
    assert_eq!(pool.state().idle, 2);

    pool.invalidate();
    closed_then_settle(&fake, &pool, 2, "the idle connections were not closed at once");
    assert_eq!(pool.state().idle, 0);
    assert_eq!(pool.stats().invalidated, 2);
    assert_eq!(
        fake.state.live(),
        1,
        "the checked-out connection is not closed under its borrower"
    );
    assert_eq!(held.serial, 3);

    // A connection opened after the invalidation is kept.
    let fresh = pool.get().unwrap();
    assert_eq!(fresh.serial, 4, "an idle connection survived the invalidation");
    drop(fresh);
    assert_eq!(pool.state().idle, 1);

    // The checked-out one is closed when it comes back, not kept.
    drop(held);
    closed_then_settle(&fake, &pool, 3, "the stale connection was kept after its return");
    assert_eq!(pool.stats().invalidated, 3);
    let state = pool.state();
    assert_eq!((state.open, state.idle), (1, 1), "{state:?}");

    let again = pool.get().unwrap();
    assert_eq!(
        again.serial, 4,
        "the connection opened after invalidate() must be reused"
    );
    assert_eq!(fake.state.opens(), 4);
    assert_eq!(pool.stats().invalidated, 3);
}

#[test]
fn a_pre_ping_that_finds_the_server_lost_invalidates_the_pool() {
    let (fake, pool) = fake_pool(|b| {
        b.pool_size(3)
            .pre_ping(true)
            .pre_ping_bypass(Duration::from_millis(10))
    });
    check_out_and_return(&pool, 3);
    assert_eq!(pool.state().idle, 3);
    std::thread::sleep(Duration::from_millis(30)); // past the bypass window
    fake.state.fail_ping.store(true, SeqCst);
    fake.state.ping_says_lost.store(true, SeqCst);

    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 4, "a fresh connection replaces the whole stale pool");
    assert_eq!(
        fake.state.pings(),
        1,
        "after a lost-server ping the other idle connections are replaced, not pinged"
    );
    settle(&pool);
    assert_eq!(
        fake.state.closes(),
        3,
        "every connection opened before the lost server is closed"
    );
    let stats = pool.stats();
    assert_eq!(stats.ping_failures, 1, "{stats:?}");
    assert_eq!(stats.broken, 1, "the pinged one is closed as broken: {stats:?}");
    assert_eq!(
        stats.invalidated, 2,
        "the other idle ones as invalidated: {stats:?}"
    );
    let state = pool.state();
    assert_eq!((state.open, state.idle, state.in_use), (1, 0, 1), "{state:?}");
}
