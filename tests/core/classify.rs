//! The error classifier (`Builder::classify_errors`, HikariCP's `SQLExceptionOverride`): where
//! the pool meets a backend error (a ping, the reset on return, a connect), the classifier's
//! `LostServer` invalidates the pool, `Broken` closes the connection alone, `Harmless` keeps
//! it, and `Backend` leaves the error to the backend's own `is_lost_server`.

use crate::common;

use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Fake, FakeError, settle};
use millpond::observe::{Event, HandleEvent, InvalidateReason};
use millpond::{Builder, Error, ErrorClass, Pool};

/// Records the reasons of the pool's invalidations.
#[derive(Clone, Default)]
struct Invalidations(Arc<Mutex<Vec<InvalidateReason>>>);

impl HandleEvent for Invalidations {
    fn handle(&self, event: &Event<'_>) {
        if let Event::Invalidate { reason, .. } = event {
            self.0.lock().unwrap().push((*reason).clone());
        }
    }
}

impl Invalidations {
    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// A pool that pings every idle connection it hands out, with `classify` as its classifier,
/// its invalidations recorded.
fn pool_with(
    fake: &Fake,
    classify: impl Fn(&FakeError) -> ErrorClass + Send + Sync + 'static,
) -> (Pool<Fake>, Invalidations) {
    let invalidations = Invalidations::default();
    let pool = pinging(Pool::builder())
        .classify_errors(classify)
        .event_handler(invalidations.clone())
        .build(fake.clone())
        .unwrap();
    (pool, invalidations)
}

fn pinging(builder: Builder<Fake>) -> Builder<Fake> {
    builder
        .pool_size(2)
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .timeout(Duration::from_secs(10))
}

/// The errors the fake's pings fail with carry their message: the classifier reads it.
fn by_message(err: &FakeError) -> ErrorClass {
    match err.message.as_str() {
        "server closed the connection (fake)" => ErrorClass::LostServer,
        _ => ErrorClass::Backend,
    }
}

/// A ping error the backend calls merely broken, classified `LostServer`, invalidates the pool:
/// the other idle connection, opened before, is replaced too.
#[test]
fn a_ping_error_classified_lost_server_invalidates_the_pool() {
    let fake = Fake::new();
    let (pool, invalidations) = pool_with(&fake, by_message);
    common::check_out_and_return(&pool, 2);
    fake.state.fail_ping.store(true, SeqCst);
    fake.state.ping_says_lost.store(false, SeqCst);
    let first = pool.get();
    fake.state.fail_ping.store(false, SeqCst);
    let conn = first.unwrap();
    assert_eq!(conn.serial, 3, "both connections opened before were given up");
    assert_eq!(invalidations.count(), 1);
    assert!(
        matches!(&invalidations.0.lock().unwrap()[0], InvalidateReason::LostServer(why) if why.contains("server closed the connection")),
        "{:?}",
        invalidations.0.lock().unwrap()
    );
    drop(conn);
    settle(&pool);
    let stats = pool.stats();
    assert_eq!((stats.ping_failures, stats.invalidated), (1, 1), "{stats:?}");
}

/// A ping error the backend calls a lost server, classified `Broken`, closes that connection
/// alone: no invalidation, the other idle connection is kept.
#[test]
fn a_lost_server_classified_broken_closes_one_connection() {
    let fake = Fake::new();
    let (pool, invalidations) = pool_with(&fake, |_| ErrorClass::Broken);
    common::check_out_and_return(&pool, 2);
    fake.state.fail_ping.store(true, SeqCst);
    fake.state.ping_says_lost.store(true, SeqCst);
    let got = pool.get();
    fake.state.fail_ping.store(false, SeqCst);
    // Both idle connections failed their pings; the checkout went on with a new one.
    let conn = got.unwrap();
    assert_eq!(conn.serial, 3);
    assert_eq!(invalidations.count(), 0);
    drop(conn);
    settle(&pool);
    let stats = pool.stats();
    assert_eq!((stats.invalidated, stats.broken), (0, 2), "{stats:?}");
}

/// A ping error classified `Harmless` keeps the connection, which is handed out; the failure
/// is counted all the same.
#[test]
fn a_ping_error_classified_harmless_keeps_the_connection() {
    let fake = Fake::new();
    let (pool, invalidations) = pool_with(&fake, |_| ErrorClass::Harmless);
    common::check_out_and_return(&pool, 1);
    fake.state.fail_ping.store(true, SeqCst);
    fake.state.ping_says_lost.store(true, SeqCst);
    for _ in 0..3 {
        assert_eq!(pool.get().unwrap().serial, 1);
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.pings, stats.ping_failures, stats.broken),
        (3, 3, 0),
        "{stats:?}"
    );
    assert_eq!(invalidations.count(), 0);
    assert_eq!(fake.state.opens(), 1);
}

/// `Backend` leaves the error to the backend's own rules, as with no classifier: a lost
/// server invalidates, a plain failure closes the connection alone.
#[test]
fn backend_leaves_the_error_to_the_backend() {
    for (says_lost, invalidated) in [(true, 1), (false, 0)] {
        let fake = Fake::new();
        let (pool, invalidations) = pool_with(&fake, |_| ErrorClass::Backend);
        common::check_out_and_return(&pool, 1);
        fake.state.fail_ping.store(true, SeqCst);
        fake.state.ping_says_lost.store(says_lost, SeqCst);
        let conn = pool.get();
        fake.state.fail_ping.store(false, SeqCst);
        assert_eq!(conn.unwrap().serial, 2);
        assert_eq!(invalidations.count(), invalidated, "lost: {says_lost}");
    }
}

/// The reset on return: `Harmless` keeps the connection as if the reset had worked,
/// `LostServer` invalidates the pool and closes it.
#[test]
fn reset_errors_are_classified_too() {
    let fake = Fake::new();
    let class = Arc::new(Mutex::new(ErrorClass::Harmless));
    let (pool, invalidations) = {
        let class = Arc::clone(&class);
        pool_with(&fake, move |_| *class.lock().unwrap())
    };
    fake.state.fail_reset.store(true, SeqCst);
    let mut conn = pool.get().unwrap();
    conn.in_transaction = true;
    drop(conn);
    settle(&pool);
    assert_eq!(pool.state().idle, 1, "kept");
    assert_eq!(pool.stats().reset_failures, 1);

    *class.lock().unwrap() = ErrorClass::LostServer;
    let mut conn = pool.get().unwrap();
    assert_eq!(conn.serial, 1);
    conn.in_transaction = true;
    drop(conn);
    settle(&pool);
    assert_eq!(invalidations.count(), 1);
    assert_eq!(pool.state().open, 0);
}

/// A connect error classified `LostServer` invalidates the pool: the idle connection opened
/// before is replaced at its next checkout. By the backend's rules alone, a failed connect
/// invalidates nothing.
#[test]
fn a_connect_error_classified_lost_server_invalidates_the_pool() {
    for classified in [true, false] {
        let fake = Fake::new();
        let invalidations = Invalidations::default();
        let mut builder = Pool::builder().pool_size(2).event_handler(invalidations.clone());
        if classified {
            builder = builder.classify_errors(|err: &FakeError| {
                if err.message.contains("refused") {
                    ErrorClass::LostServer
                } else {
                    ErrorClass::Backend
                }
            });
        }
        let pool = builder.build(fake.clone()).unwrap();
        let held = pool.get().unwrap();
        fake.state.fail_connect.store(true, SeqCst);
        assert!(matches!(pool.get(), Err(Error::Connect(_))));
        fake.state.fail_connect.store(false, SeqCst);
        drop(held);
        settle(&pool);
        let serial = pool.get().unwrap().serial;
        if classified {
            assert_eq!(invalidations.count(), 1);
            assert_eq!(serial, 2, "the connection opened before was replaced");
        } else {
            assert_eq!(invalidations.count(), 0);
            assert_eq!(serial, 1);
        }
    }
}

/// A classifier that panics is taken to have no opinion: the backend's rules decide, and the
/// panic is logged.
#[test]
fn a_panicking_classifier_leaves_the_error_to_the_backend() {
    let log = common::capture_log();
    let fake = Fake::new();
    let invalidations = Invalidations::default();
    let pool = pinging(Pool::builder())
        .name("classify-panics")
        .classify_errors(|_| panic!("the classifier's own bug"))
        .event_handler(invalidations.clone())
        .build(fake.clone())
        .unwrap();
    common::check_out_and_return(&pool, 1);
    fake.state.fail_ping.store(true, SeqCst);
    fake.state.ping_says_lost.store(true, SeqCst);
    let conn = pool.get();
    fake.state.fail_ping.store(false, SeqCst);
    assert_eq!(conn.unwrap().serial, 2);
    assert_eq!(invalidations.count(), 1, "the backend said lost server");
    let lines = log.lines_with("[classify-panics] the error classifier panicked");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("the classifier's own bug"), "{lines:?}");
}
