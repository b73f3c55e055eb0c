//! `pool.close()`: idle connections closed now, in-use ones when they come back, waiters and every
//! later checkout refused with `Error::Closed`; and the pool's events and their `echo`.

use crate::common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Fake, capture_log, eventually, settle};
use millpond::{
    Error, Pool,
    observe::{CloseReason, Event, HandleEvent},
};

const LIMIT: Duration = Duration::from_secs(5);

#[test]
fn close_closes_idle_connections_now_and_in_use_ones_when_they_come_back() {
    let fake = Fake::new();
    let pool = Pool::builder().pool_size(3).build(fake.clone()).unwrap();
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    let held = pool.get().unwrap();
    drop((a, b));
    assert_eq!(pool.state().idle, 2);
    assert_eq!(fake.state.closes(), 0);

    pool.close();
    // Synchronously: no waiting for a worker.
    assert_eq!(
        fake.state.closes(),
        2,
        "the idle connections were not closed by close()"
    );
    assert_eq!(pool.stats().pool_closes, 2);
    assert!(pool.is_closed());
    assert!(pool.state().closed);

    // The borrowed one is left alone until it comes back.
    assert_eq!(fake.state.live(), 1);
    assert_eq!(held.serial, 3);
    settle(&pool);
    assert_eq!(
        fake.state.closes(),
        2,
        "a connection in use was closed under its borrower"
    );

    drop(held);
    assert!(
        eventually(LIMIT, || fake.state.closes() == 3),
        "{:?}",
        pool.state()
    );
    settle(&pool);
    assert_eq!(fake.state.live(), 0);
    assert_eq!(pool.stats().pool_closes, 3);
    let state = pool.state();
    assert_eq!((state.open, state.idle, state.in_use), (0, 0, 0), "{state:?}");
}

#[test]
fn a_waiting_thread_gets_closed_promptly() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .timeout(Duration::from_secs(30))
        .build(fake.clone())
        .unwrap();
    let held = pool.get().unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = pool.get().map(|conn| conn.serial);
            tx.send(started.elapsed()).unwrap();
            result
        })
    };
    assert!(
        eventually(LIMIT, || pool.state().waiting == 1),
        "the waiter never queued: {:?}",
        pool.state()
    );

    pool.close();
    let waited = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the waiter was not woken by close()");
    let result = waiter.join().unwrap();
    assert!(matches!(result, Err(Error::Closed)), "{result:?}");
    assert!(
        waited < Duration::from_secs(10),
        "the waiter woke only after {waited:?}"
    );
    assert_eq!(pool.state().waiting, 0);
    assert_eq!(pool.stats().timeouts, 0);

    assert_eq!(fake.state.closes(), 0);
    drop(held);
    assert!(
        eventually(LIMIT, || fake.state.closes() == 1),
        "{:?}",
        pool.state()
    );
}

#[test]
fn every_checkout_after_close_is_refused() {
    let fake = Fake::new();
    let pool = Pool::builder().pool_size(2).build(fake.clone()).unwrap();
    drop(pool.get().unwrap());
    let other_handle = pool.clone();
    assert!(!pool.is_closed());
    pool.close();
    assert!(pool.is_closed());
    assert!(other_handle.is_closed());

    assert!(matches!(pool.get(), Err(Error::Closed)));
    assert!(matches!(other_handle.get(), Err(Error::Closed)));
    assert!(matches!(
        pool.get_timeout(Duration::from_millis(10)),
        Err(Error::Closed)
    ));
    assert!(matches!(pool.try_get(), Err(Error::Closed)));
    assert_eq!(fake.state.opens(), 1, "a closed pool opened a connection");
    assert_eq!(pool.stats().checkouts, 1);

    // Closing twice is harmless.
    pool.close();
    assert!(pool.is_closed());
    assert_eq!(fake.state.closes(), 1);
}

#[test]
fn the_reaper_stops_when_the_pool_is_closed() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(3)
        .min_idle(2)
        .reaper_rate(Duration::from_millis(10))
        .build(fake.clone())
        .unwrap();
    assert_eq!(fake.state.opens(), 2);
    pool.close();
    assert_eq!(fake.state.closes(), 2);
    // Several reaper periods: a running reaper would open min_idle again.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(fake.state.opens(), 2);
    assert_eq!(fake.state.live(), 0);
}

/// Records each event as a short line.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl HandleEvent for Recorder {
    fn handle(&self, event: &Event<'_>) {
        let line = match event {
            Event::Connect { id, .. } => format!("connect {id}"),
            Event::ConnectFailed { .. } => "connect failed".to_owned(),
            Event::Checkout { id, .. } => format!("checkout {id}"),
            Event::Checkin { id } => format!("checkin {id}"),
            Event::Reset { id, ok } => format!("reset {id} {ok}"),
            Event::Invalidate { generation, .. } => format!("invalidate {generation}"),
            Event::Close { id, reason } => format!("close {id} {reason:?}"),
            other => format!("{other:?}"),
        };
        self.0.lock().unwrap().push(line);
    }
}

#[test]
fn the_event_handler_sees_each_event_in_order() {
    let fake = Fake::new();
    let recorder = Recorder::default();
    let pool = Pool::builder()
        .pool_size(2)
        .event_handler(recorder.clone())
        .build(fake.clone())
        .unwrap();
    let mut conn = pool.get().unwrap();
    conn.in_transaction = true;
    drop(conn);
    let conn = pool.get().unwrap();
    drop(conn);
    pool.close();

    let events = recorder.0.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "connect 1",
            "checkout 1",
            "reset 1 true",
            "checkin 1",
            "checkout 1",
            "checkin 1",
            &format!("close 1 {:?}", CloseReason::PoolClosed),
        ]
    );
}

#[test]
fn echo_logs_every_event() {
    let log = capture_log();
    let fake = Fake::new();
    let pool = Pool::builder()
        .name("echo-test")
        .echo(true)
        .build(fake.clone())
        .unwrap();
    drop(pool.get().unwrap());
    pool.close();

    let lines = log.lines_with("[echo-test]");
    for (i, kind) in ["Connect", "Checkout", "Checkin", "Close"].iter().enumerate() {
        let line = lines
            .get(i)
            .unwrap_or_else(|| panic!("no line for {kind}: {lines:#?}"));
        assert!(line.starts_with("INFO millpond::pool [echo-test]"), "{line}");
        assert!(line.contains(kind), "expected {kind} at {i}: {lines:#?}");
    }
    assert_eq!(lines.len(), 4, "{lines:#?}");
}

#[test]
fn no_echo_no_event_lines() {
    let log = capture_log();
    let fake = Fake::new();
    let pool = Pool::builder().name("quiet-test").build(fake.clone()).unwrap();
    drop(pool.get().unwrap());
    pool.close();
    assert!(
        log.lines_with("[quiet-test]").is_empty(),
        "{:?}",
        log.lines_with("[quiet-test]")
    );
}
