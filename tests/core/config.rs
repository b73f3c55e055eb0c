//! Options: every bad value is refused at build with `Error::Config`, naming the option and what
//! is accepted; the defaults are the documented ones; r2d2's builder names map onto ours.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Fake, eventually};
use millpond::{
    Builder, Error, Pool, PoolOptions, ResetOnReturn,
    observe::{Event, HandleEvent},
};

/// Builds a pool (both with `build` and `build_unchecked`) from options changed by `change`,
/// expects both to be refused, and returns the option named and the message. No connection may
/// be attempted for a refused configuration.
fn refused(change: impl Fn(&mut PoolOptions)) -> (&'static str, String) {
    let mut options = PoolOptions::default();
    change(&mut options);
    let fake = Fake::new();
    let mut seen = Vec::new();
    for unchecked in [false, true] {
        let builder = Builder::<Fake>::from_options(options.clone());
        let result = if unchecked {
            builder.build_unchecked(fake.clone())
        } else {
            builder.build(fake.clone())
        };
        match result {
            Err(Error::Config(err)) => {
                // Display names the option too.
                let shown = Error::Config(err.clone()).to_string();
                assert!(
                    shown.contains(&format!("`{}`", err.option)) && shown.contains(&err.message),
                    "{shown}"
                );
                seen.push((err.option, err.message));
            }
            Err(other) => panic!("expected Error::Config, got {other:?}"),
            Ok(pool) => panic!("options were accepted: {:?}", pool.options()),
        }
    }
    assert_eq!(seen[0], seen[1], "build and build_unchecked disagree");
    // `validate` says the same thing without a manager.
    let err = options
        .validate()
        .expect_err("validate accepted what build refused");
    assert_eq!((err.option, err.message.clone()), seen[0]);
    assert_eq!(
        fake.state.attempts.load(SeqCst),
        0,
        "a refused pool attempted a connection"
    );
    seen.remove(0)
}

fn assert_refused(change: impl Fn(&mut PoolOptions), option: &str, accepted: &[&str]) {
    let (named, message) = refused(change);
    assert_eq!(named, option, "wrong option named: {message}");
    for needle in accepted {
        assert!(
            message.contains(needle),
            "the message for `{option}` should say {needle:?}: {message}"
        );
    }
}

#[test]
fn pool_size_zero_is_refused() {
    assert_refused(
        |o| o.pool_size = 0,
        "pool_size",
        &["at least 1", "got 0", "max_overflow"],
    );
}

#[test]
fn zero_durations_are_refused() {
    assert_refused(|o| o.timeout = Duration::ZERO, "timeout", &["greater than zero"]);
    assert_refused(
        |o| o.validation_timeout = Duration::ZERO,
        "validation_timeout",
        &["greater than zero"],
    );
    assert_refused(
        |o| o.reaper_rate = Duration::ZERO,
        "reaper_rate",
        &["greater than zero"],
    );
    assert_refused(
        |o| o.recycle = Some(Duration::ZERO),
        "recycle",
        &["greater than zero"],
    );
    assert_refused(
        |o| o.idle_timeout = Some(Duration::ZERO),
        "idle_timeout",
        &["greater than zero"],
    );
    assert_refused(
        |o| o.leak_threshold = Some(Duration::ZERO),
        "leak_threshold",
        &["greater than zero"],
    );
    assert_refused(
        |o| o.keepalive = Some(Duration::ZERO),
        "keepalive",
        &["greater than zero"],
    );
}

#[test]
fn idle_timeout_longer_than_recycle_is_refused() {
    assert_refused(
        |o| {
            o.recycle = Some(Duration::from_secs(60));
            o.idle_timeout = Some(Duration::from_secs(61));
        },
        "idle_timeout",
        &["recycle", "60s", "61s", "None"],
    );
    // Equal is fine, and so is any idle_timeout when connections never expire.
    let mut ok = PoolOptions::default();
    ok.recycle = Some(Duration::from_secs(60));
    ok.idle_timeout = Some(Duration::from_secs(60));
    ok.validate().unwrap();
    ok.recycle = None;
    ok.idle_timeout = Some(Duration::from_secs(86_400 * 365));
    ok.validate().unwrap();
}

#[test]
fn min_idle_above_pool_size_is_refused() {
    assert_refused(
        |o| {
            o.pool_size = 3;
            o.min_idle = 4;
        },
        "min_idle",
        &["at most pool_size", "(3)", "got 4"],
    );
    let mut ok = PoolOptions::default();
    ok.pool_size = 3;
    ok.min_idle = 3;
    ok.validate().unwrap();
}

#[test]
fn keepalive_not_shorter_than_recycle_is_refused() {
    for keepalive in [60, 61] {
        assert_refused(
            |o| {
                o.recycle = Some(Duration::from_secs(60));
                o.idle_timeout = None;
                o.keepalive = Some(Duration::from_secs(keepalive));
            },
            "keepalive",
            &["shorter than recycle", "60s"],
        );
    }
    let mut ok = PoolOptions::default();
    ok.recycle = Some(Duration::from_secs(60));
    ok.idle_timeout = None;
    ok.keepalive = Some(Duration::from_secs(59));
    ok.validate().unwrap();
    ok.recycle = None;
    ok.keepalive = Some(Duration::from_secs(3600));
    ok.validate().unwrap();
}

#[test]
fn empty_reset_statement_is_refused() {
    for sql in ["", "   ", "\n\t"] {
        assert_refused(
            |o| o.reset_on_return = ResetOnReturn::Statement(sql.to_owned()),
            "reset_on_return",
            &["must not be empty", "ResetOnReturn::Nothing"],
        );
    }
    let mut ok = PoolOptions::default();
    ok.reset_on_return = ResetOnReturn::Statement("DISCARD ALL".to_owned());
    ok.validate().unwrap();
}

#[test]
fn empty_name_is_refused() {
    assert_refused(|o| o.name = String::new(), "name", &["must not be empty"]);
}

/// Records the name of the thread each connect and close happens in.
#[derive(Clone, Default)]
struct ThreadNames(Arc<Mutex<Vec<String>>>);

impl HandleEvent for ThreadNames {
    fn handle(&self, event: &Event<'_>) {
        if matches!(event, Event::Connect { .. } | Event::Close { .. }) {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            self.0.lock().unwrap().push(name);
        }
    }
}

impl ThreadNames {
    fn any(&self, wanted: impl Fn(&str) -> bool) -> bool {
        self.0.lock().unwrap().iter().any(|n| wanted(n))
    }
}

/// A pool named `name`, its manager and the thread names its events were seen in.
fn named_pool(name: &str) -> (Fake, Pool<Fake>, ThreadNames) {
    let names = ThreadNames::default();
    let fake = Fake::new();
    let pool = Pool::builder()
        .name(name)
        .pool_size(2)
        .max_overflow(0)
        .event_handler(names.clone())
        .build(fake.clone())
        .expect("any non-empty name is accepted");
    (fake, pool, names)
}

#[test]
fn a_name_with_control_characters_is_kept_and_its_worker_threads_are_named_without_them() {
    let name = "a\0b\nc";
    let (_fake, pool, names) = named_pool(name);
    assert_eq!(pool.options().name, name, "the pool's name is unchanged");
    assert!(
        format!("{pool:?}").contains(r#""a\0b\nc""#),
        "Debug shows it as given: {pool:?}"
    );
    // A connection given back broken is closed on one of the pool's worker threads.
    let mut conn = pool.get().unwrap();
    conn.broken = true;
    drop(conn);
    assert!(
        eventually(Duration::from_secs(5), || names.any(|n| n.contains("-worker-"))),
        "no close on a worker thread: {:?}",
        names.0.lock().unwrap()
    );
    assert!(
        names.any(|n| n == "a?b?c-worker-0" || n == "a?b?c-worker-1"),
        "{:?}",
        names.0.lock().unwrap()
    );
}

#[test]
fn a_name_with_control_characters_names_the_background_connect_thread_without_them() {
    let (_fake, pool, names) = named_pool("a\0b");
    // With a connection in use that may come back first, a checkout finding a free slot opens
    // its connection on a thread of its own (the hedged connect).
    let held = pool.get().unwrap();
    let second = pool.get().expect("the hedged connect serves");
    assert!(names.any(|n| n == "a?b-connect"), "{:?}", names.0.lock().unwrap());
    drop((held, second));
    let state = pool.state();
    assert_eq!(
        (state.opening, state.in_use, state.waiting),
        (0, 0, 0),
        "{state:?}"
    );
}

#[test]
fn defaults_are_the_documented_ones() {
    let o = PoolOptions::default();
    assert_eq!(o.pool_size, 10);
    assert_eq!(o.max_overflow, Some(10));
    assert_eq!(o.max_connections(), Some(20));
    assert_eq!(o.min_idle, 0);
    assert_eq!(o.timeout, Duration::from_secs(30));
    assert_eq!(o.recycle, Some(Duration::from_secs(900)));
    assert_eq!(o.idle_timeout, Some(Duration::from_secs(600)));
    assert!(o.pre_ping);
    assert_eq!(o.pre_ping_bypass, Duration::from_millis(500));
    assert_eq!(o.validation_timeout, Duration::from_secs(5));
    assert_eq!(o.reset_on_return, ResetOnReturn::Rollback);
    assert_eq!(ResetOnReturn::default(), ResetOnReturn::Rollback);
    assert!(o.lifo);
    assert_eq!(o.leak_threshold, None);
    assert_eq!(o.reaper_rate, Duration::from_secs(30));
    assert_eq!(o.keepalive, None);
    assert!(!o.echo);
    assert_eq!(o.name, "millpond");
    assert!(o.event_handler.is_none());
    o.validate().expect("the defaults are valid");

    // The builder and Pool::new start from the same defaults.
    let fake = Fake::new();
    let from_builder = Pool::<Fake>::builder();
    assert_eq!(format!("{:?}", from_builder.options()), format!("{o:?}"));
    let pool = Pool::new(fake.clone()).unwrap();
    assert_eq!(format!("{:?}", pool.options()), format!("{o:?}"));
    // Pool::new opens nothing; a fresh pool is empty.
    assert_eq!(fake.state.attempts.load(SeqCst), 0);
    let s = pool.state();
    assert_eq!(
        (s.pool_size, s.max_overflow, s.open, s.idle),
        (10, Some(10), 0, 0),
        "{s:?}"
    );
    // Unlimited overflow has no cap.
    let mut unlimited = PoolOptions::default();
    unlimited.max_overflow = None;
    assert_eq!(unlimited.max_connections(), None);
}

#[test]
fn builder_setters_land_in_the_options() {
    let b = Pool::<Fake>::builder()
        .pool_size(3)
        .max_overflow(None)
        .min_idle(2)
        .timeout(Duration::from_secs(7))
        .recycle(Some(Duration::from_secs(70)))
        .idle_timeout(Some(Duration::from_secs(40)))
        .pre_ping(false)
        .pre_ping_bypass(Duration::from_millis(5))
        .validation_timeout(Duration::from_secs(2))
        .reset_on_return(ResetOnReturn::Commit)
        .lifo(false)
        .leak_threshold(Some(Duration::from_secs(9)))
        .reaper_rate(Duration::from_secs(11))
        .keepalive(Some(Duration::from_secs(20)))
        .echo(true)
        .name("orders");
    let o = b.options();
    assert_eq!(o.pool_size, 3);
    assert_eq!(o.max_overflow, None);
    assert_eq!(o.min_idle, 2);
    assert_eq!(o.timeout, Duration::from_secs(7));
    assert_eq!(o.recycle, Some(Duration::from_secs(70)));
    assert_eq!(o.idle_timeout, Some(Duration::from_secs(40)));
    assert!(!o.pre_ping);
    assert_eq!(o.pre_ping_bypass, Duration::from_millis(5));
    assert_eq!(o.validation_timeout, Duration::from_secs(2));
    assert_eq!(o.reset_on_return, ResetOnReturn::Commit);
    assert!(!o.lifo);
    assert_eq!(o.leak_threshold, Some(Duration::from_secs(9)));
    assert_eq!(o.reaper_rate, Duration::from_secs(11));
    assert_eq!(o.keepalive, Some(Duration::from_secs(20)));
    assert!(o.echo);
    assert_eq!(o.name, "orders");
    o.validate().unwrap();
}

#[test]
fn r2d2_aliases_map_onto_the_pool_options() {
    let b = Pool::<Fake>::builder()
        .max_size(7)
        .connection_timeout(Duration::from_secs(3))
        .max_lifetime(Some(Duration::from_secs(1200)))
        .test_on_check_out(false);
    let o = b.options();
    assert_eq!(o.pool_size, 7);
    assert_eq!(o.max_overflow, Some(0), "r2d2's max_size has no overflow");
    assert_eq!(o.max_connections(), Some(7));
    assert_eq!(o.timeout, Duration::from_secs(3));
    assert_eq!(o.recycle, Some(Duration::from_secs(1200)));
    assert!(!o.pre_ping);
    assert_eq!(Pool::<Fake>::builder().max_lifetime(None).options().recycle, None);
    assert!(Pool::<Fake>::builder().test_on_check_out(true).options().pre_ping);

    // max_size overrides an overflow set before it, and the pool really stops at max_size.
    let fake = Fake::new();
    let pool = Pool::builder()
        .max_overflow(Some(5))
        .max_size(2)
        .build(fake.clone())
        .unwrap();
    let a = pool.get().expect("first");
    let b = pool.get().expect("second");
    assert!(
        pool.try_get().unwrap().is_none(),
        "max_size 2 allowed a third connection"
    );
    assert_eq!(fake.state.opens(), 2);
    drop((a, b));
    common::settle(&pool);
    assert_eq!(pool.state().idle, 2);
}

#[test]
fn build_opens_min_idle_connections_and_reports_a_connect_error() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(4)
        .min_idle(3)
        .build(fake.clone())
        .unwrap();
    assert_eq!(fake.state.opens(), 3);
    assert_eq!(pool.state().idle, 3);

    let failing = Fake::new();
    failing.state.fail_connect.store(true, SeqCst);
    match Pool::builder().pool_size(4).min_idle(1).build(failing.clone()) {
        Err(Error::Connect(source)) => assert!(source.to_string().contains("refused"), "{source}"),
        other => panic!("expected Error::Connect, got {other:?}"),
    }
    // build_unchecked opens nothing, so it cannot fail to connect.
    let pool = Pool::builder()
        .pool_size(4)
        .min_idle(1)
        .build_unchecked(failing.clone())
        .unwrap();
    assert_eq!(pool.state().open, 0);
}

struct CountEvents(Arc<AtomicUsize>);

impl HandleEvent for CountEvents {
    fn handle(&self, _event: &Event<'_>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn debug_shows_the_options_with_an_event_handler_set() {
    let events = Arc::new(AtomicUsize::new(0));
    let builder = Pool::<Fake>::builder()
        .pool_size(4)
        .name("debugged")
        .event_handler(CountEvents(Arc::clone(&events)));
    let options = builder.options().clone();
    assert!(options.event_handler.is_some());
    let shown = format!("{options:?}");
    assert!(shown.starts_with("PoolOptions {"), "{shown}");
    assert!(shown.contains("pool_size: 4"), "{shown}");
    assert!(shown.contains("name: \"debugged\""), "{shown}");
    assert!(shown.contains("event_handler: Some("), "{shown}");
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("Builder") && shown.contains("event_handler: Some("),
        "{shown}"
    );
    let without = format!("{:?}", PoolOptions::default());
    assert!(without.contains("event_handler: None"), "{without}");

    // The handler set through the builder is the one the pool calls.
    let pool = builder.build(Fake::new()).unwrap();
    drop(pool.get().unwrap());
    assert!(
        events.load(SeqCst) >= 3,
        "connect, checkout and checkin should have been seen"
    );
    let shown = format!("{pool:?}");
    assert!(shown.contains("debugged"), "{shown}");
}

#[test]
fn a_default_idle_timeout_longer_than_a_chosen_recycle_is_dropped_not_refused() {
    // r2d2's `.max_lifetime(5 min)` alone must build, as it does in r2d2 (HikariCP likewise
    // turns the idle timeout off); an idle_timeout chosen longer than recycle is still refused.
    let pool = Pool::builder()
        .max_lifetime(Duration::from_secs(300))
        .build_unchecked(Fake::new())
        .expect("a default idle_timeout gives way to a shorter recycle");
    assert_eq!(pool.options().idle_timeout, None);
    assert_eq!(pool.options().recycle, Some(Duration::from_secs(300)));
    let err = Pool::builder()
        .recycle(Duration::from_secs(300))
        .idle_timeout(Duration::from_secs(600))
        .build_unchecked(Fake::new())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(c) if c.option == "idle_timeout"),
        "{err}"
    );
}
