//! The reaper: idle trimming down to `min_idle`, filling up to `min_idle`, keepalive pings, leak
//! reports, and its weak hold on the pool.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{Fake, capture_log, check_out_and_return, closed_then_settle, eventually, fake_pool, settle};
use millpond::{Error, Pool};

const RATE: Duration = Duration::from_millis(20);
const LIMIT: Duration = Duration::from_secs(5);

/// Two connections, pre-ping off, a keepalive ping for those idle longer than `keepalive`.
fn keepalive_pool(keepalive: Duration) -> (Fake, Pool<Fake>) {
    fake_pool(|b| {
        b.pool_size(2)
            .pre_ping(false)
            .keepalive(keepalive)
            .reaper_rate(RATE)
    })
}

/// A pool named `name` whose reaper reports checkouts held longer than `threshold`.
fn leak_watched_pool(name: &str, threshold: Duration) -> (Fake, Pool<Fake>) {
    fake_pool(|b| b.name(name).leak_threshold(threshold).reaper_rate(RATE))
}

#[test]
fn idle_connections_are_trimmed_down_to_min_idle() {
    // No overflow, so that the reaper cannot open extra connections while all six are out.
    let (fake, pool) = fake_pool(|b| {
        b.pool_size(6)
            .max_overflow(0)
            .min_idle(2)
            .idle_timeout(Duration::from_millis(50))
            .reaper_rate(RATE)
    });
    check_out_and_return(&pool, 6);
    assert_eq!(fake.state.opens(), 6);

    assert!(
        eventually(LIMIT, || pool.state().idle == 2 && pool.stats().idle_closes == 4),
        "the idle connections were not trimmed to min_idle: {:?}, {:?}",
        pool.state(),
        pool.stats()
    );
    settle(&pool);
    // Several more rounds, each past the idle timeout: min_idle stay.
    std::thread::sleep(Duration::from_millis(150));
    let state = pool.state();
    assert_eq!((state.open, state.idle), (2, 2), "{state:?}");
    let stats = pool.stats();
    assert_eq!(stats.idle_closes, 4, "{stats:?}");
    assert_eq!(stats.recycled + stats.broken + stats.invalidated, 0, "{stats:?}");
    assert_eq!(fake.state.closes(), 4);
    assert_eq!(
        fake.state.opens(),
        6,
        "trimming must not be followed by reopening"
    );
}

#[test]
fn min_idle_is_opened_at_build_and_refilled_by_the_reaper() {
    let (fake, pool) = fake_pool(|b| b.pool_size(5).min_idle(3).reaper_rate(RATE));
    // build() opens them itself, before returning.
    assert_eq!(fake.state.opens(), 3);
    assert_eq!(pool.state().idle, 3);

    pool.invalidate();
    assert!(
        eventually(LIMIT, || fake.state.closes() == 3
            && fake.state.opens() == 6
            && pool.state().idle == 3),
        "the reaper did not refill min_idle: {:?}, {:?}",
        pool.state(),
        fake.state
    );
    settle(&pool);
    assert_eq!(pool.stats().invalidated, 3);
    // Refilled, not overfilled.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(fake.state.opens(), 6);
    assert_eq!(pool.state().open, 3);
    // The refilled connections are of the new generation: they are handed out.
    let conn = pool.get().unwrap();
    assert!(
        conn.serial > 3,
        "a connection from before the invalidation: {}",
        conn.serial
    );
}

#[test]
fn build_fails_when_min_idle_cannot_be_opened() {
    let fake = Fake::new();
    fake.state.fail_connect.store(true, SeqCst);
    let err = Pool::builder().min_idle(2).build(fake.clone()).unwrap_err();
    match &err {
        Error::Connect(source) => assert_eq!(source.to_string(), "connection refused (fake)"),
        other => panic!("expected Error::Connect, got {other:?}"),
    }
    assert_eq!(fake.state.opens(), 0);
    assert_eq!(fake.state.live(), 0);
}

#[test]
fn build_unchecked_succeeds_and_the_reaper_fills_min_idle_later() {
    let fake = Fake::new();
    fake.state.fail_connect.store(true, SeqCst);
    let pool = Pool::builder()
        .min_idle(2)
        .reaper_rate(RATE)
        .build_unchecked(fake.clone())
        .expect("build_unchecked opens nothing, so it cannot fail to connect");
    assert_eq!(pool.state().open, 0);
    // The reaper tries, and fails, while the server is down.
    assert!(
        eventually(LIMIT, || pool.stats().connect_errors >= 1),
        "the reaper never tried to open min_idle: {:?}",
        pool.stats()
    );
    assert_eq!(fake.state.opens(), 0);

    fake.state.fail_connect.store(false, SeqCst);
    assert!(
        eventually(LIMIT, || pool.state().idle == 2),
        "the reaper did not open min_idle once the server came back: {:?}",
        pool.state()
    );
    assert_eq!(fake.state.opens(), 2);
}

#[test]
fn keepalive_pings_idle_connections() {
    let (fake, pool) = keepalive_pool(Duration::from_millis(30));
    check_out_and_return(&pool, 2);
    assert_eq!(fake.state.pings(), 0);

    assert!(
        eventually(LIMIT, || fake.state.pings() >= 4),
        "the idle connections were not pinged repeatedly: {} pings",
        fake.state.pings()
    );
    let state = pool.state();
    assert_eq!(state.open, 2, "{state:?}");
    assert_eq!(
        fake.state.closes(),
        0,
        "a successful keepalive keeps the connection"
    );
    assert!(pool.stats().pings >= 4);
    assert_eq!(pool.stats().checkouts, 2, "no checkout was involved");
}

#[test]
fn a_failed_keepalive_closes_the_idle_connection() {
    let (fake, pool) = fake_pool(|b| {
        b.pool_size(2)
            .keepalive(Duration::from_millis(30))
            .reaper_rate(RATE)
    });
    check_out_and_return(&pool, 2);
    fake.state.fail_ping.store(true, SeqCst);
    closed_then_settle(
        &fake,
        &pool,
        2,
        "the connections failing their keepalive were kept",
    );
    assert_eq!(pool.state().open, 0);
    let stats = pool.stats();
    assert_eq!((stats.ping_failures, stats.broken), (2, 2), "{stats:?}");
}

#[test]
fn a_leak_is_reported_once_with_the_borrowers_backtrace() {
    let log = capture_log();
    let (_fake, pool) = leak_watched_pool("leak-test", Duration::from_millis(50));
    let conn = pool.get().unwrap();
    std::thread::sleep(Duration::from_millis(150));

    let reports = || log.lines_with("[leak-test]");
    let reports_with =
        |needle: &str| -> Vec<String> { reports().into_iter().filter(|l| l.contains(needle)).collect() };
    assert!(
        eventually(LIMIT, || reports().iter().any(|l| l.contains("possible leak"))),
        "no leak report: {:?}",
        reports()
    );
    // More rounds of the reaper: still one report.
    std::thread::sleep(Duration::from_millis(100));
    let leaks = reports_with("possible leak");
    assert_eq!(leaks.len(), 1, "{leaks:#?}");
    let report = &leaks[0];
    assert!(report.starts_with("WARN millpond::pool"), "{report}");
    assert!(
        report.contains("a_leak_is_reported_once_with_the_borrowers_backtrace"),
        "the report lacks the borrower's backtrace: {report}"
    );
    assert_eq!(pool.stats().leaks, 1);
    assert!(reports().iter().all(|l| !l.contains("came back")));

    drop(conn);
    let back = reports_with("came back");
    assert_eq!(back.len(), 1, "{:#?}", reports());
    assert!(back[0].starts_with("WARN millpond::pool"), "{}", back[0]);
    assert_eq!(pool.stats().leaks, 1);
}

#[test]
fn a_short_checkout_is_not_a_leak() {
    let log = capture_log();
    let (_fake, pool) = leak_watched_pool("no-leak-test", Duration::from_secs(10));
    let conn = pool.get().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(conn);
    assert_eq!(pool.stats().leaks, 0);
    assert!(
        log.lines_with("[no-leak-test]").is_empty(),
        "{:?}",
        log.lines_with("[no-leak-test]")
    );
}

#[test]
fn dropping_every_handle_closes_the_pool_despite_the_reaper() {
    let (fake, pool) = fake_pool(|b| b.pool_size(4).min_idle(2).reaper_rate(Duration::from_millis(10)));
    let other_handle = pool.clone();
    // Take the two idle ones out and let the reaper open two more: it has run on this pool.
    let conns: Vec<_> = (0..2).map(|_| pool.get().unwrap()).collect();
    assert!(
        eventually(LIMIT, || pool.state().idle == 2),
        "the reaper did not refill min_idle: {:?}",
        pool.state()
    );
    drop(conns);
    assert_eq!(fake.state.live(), 4);

    drop(pool);
    assert_eq!(fake.state.live(), 4, "another handle still holds the pool");
    drop(other_handle);
    assert!(
        eventually(LIMIT, || fake.state.live() == 0),
        "the reaper keeps the pool alive: {:?}",
        fake.state
    );
    let opens = fake.state.opens();
    // Several reaper periods: a reaper still holding the pool would refill min_idle.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(fake.state.opens(), opens, "the reaper ran on a dropped pool");
    assert_eq!(fake.state.live(), 0);
}

/// Pinging an idle connection must not move it: with LIFO the most recently *returned* one is
/// handed out first (and the older ones are left to age out).
#[test]
fn keepalive_keeps_the_most_recently_returned_connection_first() {
    let (fake, pool) = keepalive_pool(Duration::from_millis(80));
    let older = pool.get().unwrap();
    let newer = pool.get().unwrap();
    assert_eq!((older.serial, newer.serial), (1, 2));
    drop(older);
    std::thread::sleep(Duration::from_millis(60));
    drop(newer);
    // The older one goes stale 20 ms later, the newer one 80 ms later: the first keepalive
    // round after that pings the older one alone (or, on a slow machine, both).
    assert!(eventually(LIMIT, || fake.state.pings() >= 1), "no keepalive ping");
    let conn = pool.get().unwrap();
    assert_eq!(
        conn.serial, 2,
        "LIFO: the most recently returned connection comes out first"
    );
}
