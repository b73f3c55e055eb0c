//! Pre-ping: an idle connection not used within the bypass window is validated before it is
//! handed out; one that fails is replaced within the same checkout.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{Fake, check_out_and_return, fake_pool, settle};
use millpond::{Builder, Pool};

/// A pool of `size` with pre-ping on and the given bypass window.
fn pre_ping_pool(size: usize, bypass: Duration) -> (Fake, Pool<Fake>) {
    fake_pool(|b| pre_ping(b.pool_size(size), bypass))
}

fn pre_ping(builder: Builder<Fake>, bypass: Duration) -> Builder<Fake> {
    builder.pre_ping(true).pre_ping_bypass(bypass)
}

/// Leaves the idle connections unused past a 10 ms bypass window, then makes every ping fail.
fn age_past_the_window_and_fail_pings(fake: &Fake) {
    std::thread::sleep(Duration::from_millis(30));
    fake.state.fail_ping.store(true, SeqCst);
}

#[test]
fn no_ping_inside_the_bypass_window() {
    let (fake, pool) = pre_ping_pool(2, Duration::from_secs(10));
    let conn = pool.get().unwrap();
    assert_eq!(fake.state.pings(), 0, "a freshly opened connection is not pinged");
    drop(conn);
    for _ in 0..3 {
        let conn = pool.get().unwrap();
        assert_eq!(conn.serial, 1);
        drop(conn);
    }
    assert_eq!(
        fake.state.pings(),
        0,
        "a connection used within the bypass window was pinged"
    );
    assert_eq!(pool.stats().pings, 0);
    assert_eq!(pool.stats().checkouts, 4);
}

#[test]
fn a_ping_outside_the_bypass_window() {
    let (fake, pool) = pre_ping_pool(2, Duration::from_millis(20));
    drop(pool.get().unwrap());
    assert_eq!(fake.state.pings(), 0);

    std::thread::sleep(Duration::from_millis(40));
    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 1, "a connection that passes its ping is handed out");
    assert_eq!(fake.state.pings(), 1);
    assert_eq!(pool.stats().pings, 1);
    assert_eq!(pool.stats().ping_failures, 0);
    drop(conn);

    // Given back just now: inside the window again.
    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 1);
    assert_eq!(fake.state.pings(), 1);
}

#[test]
fn pre_ping_off_never_pings() {
    let (fake, pool) = fake_pool(|b| {
        b.pool_size(2)
            .pre_ping(false)
            .pre_ping_bypass(Duration::from_millis(20))
    });
    drop(pool.get().unwrap());
    std::thread::sleep(Duration::from_millis(40));
    // Even a failing ping would not matter: there is none.
    fake.state.fail_ping.store(true, SeqCst);
    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 1);
    assert_eq!(fake.state.pings(), 0);
    assert_eq!(pool.stats().pings, 0);
}

#[test]
fn a_failed_ping_replaces_the_connection_within_the_same_checkout() {
    let (fake, pool) = fake_pool(|b| {
        pre_ping(b.pool_size(1).max_overflow(0), Duration::from_millis(10)).timeout(Duration::from_secs(5))
    });
    drop(pool.get().unwrap());
    age_past_the_window_and_fail_pings(&fake);

    // The only slot belongs to the failed connection until its close ends; the checkout still
    // gets a fresh connection within its own deadline.
    let conn = pool.get().unwrap();
    assert_eq!(
        conn.serial, 2,
        "the connection that failed its ping was handed out"
    );
    assert_eq!(fake.state.pings(), 1, "the fresh connection is not pinged");
    settle(&pool);
    assert_eq!(fake.state.closes(), 1);
    let stats = pool.stats();
    assert_eq!(stats.ping_failures, 1, "{stats:?}");
    assert_eq!(stats.broken, 1, "{stats:?}");
    assert_eq!(
        stats.invalidated, 0,
        "a ping failure that is not a lost server does not invalidate: {stats:?}"
    );
    assert_eq!(stats.timeouts, 0, "{stats:?}");
}

#[test]
fn every_idle_connection_failing_its_ping_still_gives_a_connection() {
    let (fake, pool) = fake_pool(|b| {
        pre_ping(b.pool_size(4).max_overflow(0), Duration::from_millis(10)).timeout(Duration::from_secs(5))
    });
    check_out_and_return(&pool, 4);
    assert_eq!(pool.state().idle, 4);
    // Left on: every ping fails from now on, so a pinged fresh connection would fail too.
    age_past_the_window_and_fail_pings(&fake);

    let conn = pool.get().unwrap();
    assert_eq!(
        conn.serial, 5,
        "a fresh connection is opened once every idle one failed"
    );
    assert_eq!(
        fake.state.pings(),
        4,
        "each idle connection is pinged once; the fresh one not at all"
    );
    settle(&pool);
    assert_eq!(fake.state.closes(), 4);
    let stats = pool.stats();
    assert_eq!(stats.ping_failures, 4, "{stats:?}");
    assert_eq!(stats.broken, 4, "{stats:?}");
    let state = pool.state();
    assert_eq!((state.open, state.idle, state.in_use), (1, 0, 1), "{state:?}");
}

/// `Stats::checkouts` is documented as "successful checkouts": one per `get` that returned a
/// connection, however many idle connections it had to throw away first.
#[test]
fn stats_count_one_checkout_per_get_however_many_connections_were_replaced() {
    let (fake, pool) = pre_ping_pool(3, Duration::from_millis(10));
    check_out_and_return(&pool, 3);
    assert_eq!(pool.stats().checkouts, 3);
    age_past_the_window_and_fail_pings(&fake);

    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 4);
    assert_eq!(
        fake.state.pings(),
        3,
        "three idle connections were tried and replaced"
    );
    let stats = pool.stats();
    assert_eq!(stats.checkouts, 4, "four gets returned a connection: {stats:?}");
}
