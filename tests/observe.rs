//! What the pool shows a dashboard and a trace (features `metrics` and `tracing`): the figures
//! the `metrics` recorder gets, and the spans a subscriber sees. The recorder and the subscriber
//! are process-wide, so this binary installs capturing ones of its own, once; every test names
//! its pool apart and reads only what carries that name. The echo handler still logs through
//! `log` beside them.

#[path = "common/mod.rs"]
mod common;

#[path = "observe/metrics_capture.rs"]
mod metrics_capture;
#[path = "observe/spans_capture.rs"]
mod spans_capture;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{Fake, capture_log, eventually, fake_pool, settle};
use metrics_capture::recorder;
use millpond::observe::metrics as names;
use millpond::{Error, Pool};
use spans_capture::subscriber;

const LIMIT: Duration = Duration::from_secs(10);

/// Waits until `pool` has a thread waiting for a connection.
fn until_waiting(pool: &Pool<Fake>, waiting: usize) {
    assert!(
        eventually(LIMIT, || pool.state().waiting == waiting),
        "no waiter: {}",
        pool.state()
    );
}

/// A checkout that waits behind a held connection: returns how long it waited as the pool
/// counted it.
fn one_wait(pool: &Pool<Fake>) -> Duration {
    let held = pool.get().unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| drop(pool.get().unwrap()));
        until_waiting(pool, 1);
        drop(held);
        waiter.join().unwrap();
    });
    pool.stats().wait_time_total
}

mod metrics {
    use super::*;

    #[test]
    fn gauges_and_counters_agree_with_state_and_stats_every_interval() {
        let figures = recorder();
        let name = "metrics-agree";
        let (_fake, pool) = fake_pool(|b| {
            b.name(name)
                .pool_size(3)
                .max_overflow(2)
                .min_idle(1)
                .metrics_interval(Duration::from_millis(20))
        });
        common::check_out_and_return(&pool, 2);
        let held = pool.get().unwrap();
        pool.invalidate();
        settle(&pool);
        let (state, stats) = (pool.state(), pool.stats());
        assert_eq!((state.in_use, state.waiting), (1, 0), "{state}");
        let gauge = |metric: &str, labels: &[(&str, &str)]| figures.gauge(metric, name, labels);
        let counter = |metric: &str, labels: &[(&str, &str)]| figures.counter(metric, name, labels);
        let agree = || {
            gauge(names::CONNECTION_COUNT, &[(names::STATE, "idle")]) == Some(state.idle as f64)
                && gauge(names::CONNECTION_COUNT, &[(names::STATE, "used")]) == Some(1.0)
                && gauge(names::PENDING_REQUESTS, &[]) == Some(0.0)
                && counter(names::CHECKOUTS, &[]) == Some(stats.checkouts)
                && counter(names::INVALIDATIONS, &[]) == Some(1)
        };
        assert!(
            eventually(LIMIT, agree),
            "the published figures never matched {state} / {stats}: {}",
            figures.dump(name)
        );
        assert_eq!(gauge(names::IDLE_MAX, &[]), Some(3.0));
        assert_eq!(gauge(names::IDLE_MIN, &[]), Some(1.0));
        assert_eq!(gauge(names::MAX, &[]), Some(5.0));
        // A counter that never grew was never raised.
        assert_eq!(counter(names::WAITS, &[]).unwrap_or(0), stats.waits);
        assert_eq!(counter(names::TIMEOUTS, &[]).unwrap_or(0), stats.timeouts);
        assert_eq!(
            counter(names::CLOSES, &[(names::REASON, "invalidated")]),
            Some(stats.invalidated),
            "{}",
            figures.dump(name)
        );
        assert!(stats.invalidated >= 1, "{stats}");
        // Counters go up by what grew: more checkouts show as more, not as a reset.
        drop(held);
        let before = stats.checkouts;
        for _ in 0..5 {
            drop(pool.get().unwrap());
        }
        assert!(
            eventually(LIMIT, || counter(names::CHECKOUTS, &[]) == Some(before + 5)),
            "{}",
            figures.dump(name)
        );
    }

    #[test]
    fn a_checkout_that_waited_is_sampled_with_the_wait_the_pool_counted_and_a_ready_one_is_not() {
        let figures = recorder();
        let name = "metrics-waits";
        let (fake, pool) = fake_pool(|b| b.name(name).pool_size(1).max_overflow(0));
        // The first checkout of a cold pool waits for its connection to be opened: sampled, but
        // not a wait for another thread (`Stats::waits`).
        drop(pool.get().unwrap());
        let cold = figures.samples(names::WAIT_TIME, name);
        assert_eq!(cold.len(), 1, "{cold:?}");
        assert!(cold[0] > 0.0 && pool.stats().waits == 0);
        for _ in 0..10 {
            drop(pool.get().unwrap());
        }
        // Samples are taken where they happen, not at the interval.
        assert_eq!(figures.samples(names::CREATE_TIME, name).len(), 1);
        assert_eq!(
            figures.samples(names::WAIT_TIME, name),
            cold,
            "a ready checkout was sampled"
        );
        let waited = one_wait(&pool);
        let samples = figures.samples(names::WAIT_TIME, name);
        assert_eq!(
            samples[1..],
            [waited.as_secs_f64()],
            "one sample more, the wait in stats"
        );
        assert!(
            figures.samples(names::USE_TIME, name).is_empty(),
            "use time is not sampled by default"
        );
        // A connect that fails is no creation.
        fake.state.fail_connect.store(true, SeqCst);
        pool.invalidate();
        settle(&pool);
        assert!(matches!(pool.get(), Err(Error::Connect(_))));
        assert_eq!(figures.samples(names::CREATE_TIME, name).len(), 1);
    }

    #[test]
    fn every_checkout_samples_each_wait_and_each_use() {
        let figures = recorder();
        let name = "metrics-every-checkout";
        let (_fake, pool) = fake_pool(|b| b.name(name).pool_size(2).metrics_every_checkout(true));
        let hold = Duration::from_millis(3);
        for _ in 0..4 {
            let conn = pool.get().unwrap();
            // The work a borrower does with its connection, measured.
            std::thread::sleep(hold);
            drop(conn);
        }
        let waits = figures.samples(names::WAIT_TIME, name);
        let uses = figures.samples(names::USE_TIME, name);
        assert_eq!(waits.len(), 4, "{waits:?}");
        assert!(
            waits[1..].iter().all(|w| *w == 0.0),
            "ready connections waited: {waits:?}"
        );
        assert_eq!(uses.len(), 4, "{uses:?}");
        assert!(uses.iter().all(|u| *u >= hold.as_secs_f64()), "{uses:?}");
    }

    #[test]
    fn a_pool_with_its_metrics_off_records_nothing() {
        let figures = recorder();
        let (_fake, pool) = fake_pool(|b| {
            b.name("metrics-off")
                .pool_size(1)
                .max_overflow(0)
                .metrics_interval(None)
                .metrics_every_checkout(true)
        });
        one_wait(&pool);
        // Another pool's rounds mark the time that passed: three of them, and still nothing.
        let (_other_fake, other) = fake_pool(|b| {
            b.name("metrics-off-clock")
                .metrics_interval(Duration::from_millis(5))
        });
        let rounds = || figures.publishes("metrics-off-clock");
        assert!(eventually(LIMIT, || rounds() >= 3));
        assert_eq!(
            figures.dump("metrics-off"),
            "",
            "figures of a pool with its metrics off"
        );
        drop(other);
    }
}

mod spans {
    use super::*;

    #[test]
    fn a_checkout_that_waits_has_a_span_with_its_wait_and_outcome_and_a_ready_one_has_none() {
        let spans = subscriber();
        let name = "span-wait";
        let (_fake, pool) = fake_pool(|b| b.name(name).pool_size(1).max_overflow(0));
        // The first checkout waits for its connection to be opened.
        drop(pool.get().unwrap());
        assert_eq!(spans.named("millpond.checkout", name).len(), 1);
        drop(pool.get().unwrap());
        drop(pool.get().unwrap());
        assert_eq!(
            spans.named("millpond.checkout", name).len(),
            1,
            "a ready checkout made a span"
        );
        let waited = one_wait(&pool);
        let checkouts = spans.named("millpond.checkout", name);
        assert_eq!(checkouts.len(), 2, "{checkouts:?}");
        let span = &checkouts[1];
        assert!(span.closed, "{span:?}");
        assert_eq!(span.field("outcome"), Some("ok"));
        assert_eq!(
            span.field("wait_time"),
            Some(waited.as_secs_f64().to_string().as_str())
        );
        assert_eq!(span.level, tracing::Level::INFO);
    }

    #[test]
    fn a_checkout_that_times_out_says_so_and_why() {
        let spans = subscriber();
        let name = "span-timeout";
        let (_fake, pool) = fake_pool(|b| b.name(name).pool_size(1).max_overflow(0));
        let held = pool.get().unwrap();
        let err = pool
            .get_timeout(Duration::from_millis(20))
            .expect_err("a timeout");
        drop(held);
        let span = spans.named("millpond.checkout", name).pop().expect("a span");
        assert_eq!(span.field("outcome"), Some("timeout"), "{span:?}");
        let error = span.field("error").expect("the error");
        assert!(error.contains(name) && error == common::chain(&err), "{error}");
    }

    #[test]
    fn a_connect_has_a_span_with_the_connection_or_the_error_and_a_background_one_sits_in_its_checkout() {
        let spans = subscriber();
        let name = "span-connect";
        let (fake, pool) = fake_pool(|b| b.name(name).pool_size(1).max_overflow(0));
        // A cold pool: the connect runs on a thread of its own while the checkout waits.
        let conn = pool.get().unwrap();
        let id = conn.id().to_string();
        drop(conn);
        let checkout = spans
            .named("millpond.checkout", name)
            .pop()
            .expect("the checkout waited for its connect");
        let connect = spans
            .named("millpond.connect", name)
            .pop()
            .expect("a connect span");
        assert_eq!(connect.field("outcome"), Some("ok"));
        assert_eq!(connect.field("id"), Some(id.as_str()));
        assert_eq!(
            connect.parent,
            Some(checkout.id),
            "{connect:?} not inside {checkout:?}"
        );
        fake.state.fail_connect.store(true, SeqCst);
        pool.invalidate();
        settle(&pool);
        assert!(pool.get().is_err());
        let failed = spans.named("millpond.connect", name).pop().unwrap();
        assert_eq!(failed.field("outcome"), Some("error"));
        assert_eq!(failed.field("error"), Some("connection refused (fake)"));
        let checkout = spans.named("millpond.checkout", name).pop().unwrap();
        assert_eq!(checkout.field("outcome"), Some("connect_error"));
    }

    #[test]
    fn pre_pings_resets_and_closes_have_spans() {
        let spans = subscriber();
        let name = "span-checks";
        let (fake, pool) = fake_pool(|b| b.name(name).pool_size(1).pre_ping_bypass(Duration::ZERO));
        drop(pool.get().unwrap());
        let mut conn = pool.get().unwrap();
        let first = conn.id().to_string();
        conn.in_transaction = true;
        drop(conn);
        let ping = spans
            .named("millpond.pre_ping", name)
            .pop()
            .expect("a pre-ping span");
        assert_eq!(
            (ping.field("outcome"), ping.field("id")),
            (Some("ok"), Some(first.as_str()))
        );
        assert_eq!(ping.level, tracing::Level::DEBUG);
        let reset = spans.named("millpond.reset", name).pop().expect("a reset span");
        assert_eq!(reset.field("outcome"), Some("ok"));
        assert_eq!(reset.field("action"), Some("Rollback"));
        // The idle connection fails its pre-ping and is replaced by a new one (never pinged).
        fake.state.fail_ping.store(true, SeqCst);
        drop(pool.get().unwrap());
        let failed = spans
            .named("millpond.pre_ping", name)
            .into_iter()
            .find(|s| s.field("outcome") == Some("error"))
            .expect("a failed pre-ping span");
        assert_eq!(failed.field("error"), Some("server closed the connection (fake)"));
        // Closed on a worker thread.
        assert!(eventually(LIMIT, || !spans
            .named("millpond.close", name)
            .is_empty()));
        let close = spans.named("millpond.close", name).remove(0);
        assert_eq!(
            (close.field("id"), close.field("reason")),
            (Some(first.as_str()), Some("PingFailed"))
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_connect_error_in_a_span_never_shows_the_password() {
        let spans = subscriber();
        let name = "span-password";
        // Nothing listens on port 1 of loopback: the connect is refused at once.
        let manager = millpond::postgres::PostgresManager::from_url(
            "postgres://app:hunter2-secret@127.0.0.1:1/app?connect_timeout=2",
        )
        .unwrap();
        let pool = Pool::builder().name(name).build_unchecked(manager).unwrap();
        let err = pool.get().map(drop).expect_err("refused");
        let printed = common::chain(&err);
        let connect = spans
            .named("millpond.connect", name)
            .pop()
            .expect("a connect span");
        let error = connect.field("error").expect("the error").to_owned();
        assert!(
            !error.is_empty() && printed.contains(&error),
            "{error} / {printed}"
        );
        for span in spans.all_of(name) {
            assert!(!format!("{span:?}").contains("hunter2"), "{span:?}");
        }
    }

    #[test]
    fn echo_still_logs_every_event_through_log() {
        let _spans = subscriber();
        let log = capture_log();
        let name = "span-echo";
        let (_fake, pool) = fake_pool(|b| b.name(name).echo(true));
        drop(pool.get().unwrap());
        let lines = log.lines_with(&format!("[{name}]"));
        for event in ["Connect", "Checkout", "Checkin"] {
            assert!(lines.iter().any(|l| l.contains(event)), "no {event} in {lines:?}");
        }
    }
}
