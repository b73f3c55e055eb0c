//! The r2d2 adapter: any `r2d2::ManageConnection` pooled by millpond through `R2d2Manager`.
//! Checkouts work, `is_valid` is the pre-ping outside the bypass window, `has_broken` on return
//! closes the connection, and connect errors come back whole.

use crate::common;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use millpond::{
    Error, Pool, R2d2Manager,
    observe::{Event, HandleEvent},
};

/// What the r2d2 manager saw, and what it is told to do.
#[derive(Default)]
struct Counts {
    connects: AtomicUsize,
    is_valid: AtomicUsize,
    has_broken: AtomicUsize,
    drops: AtomicUsize,
    fail_connect: AtomicBool,
    fail_valid: AtomicBool,
}

/// A plain r2d2 manager, as r2d2_postgres or r2d2_mysql would be.
#[derive(Clone, Default)]
struct Manager(Arc<Counts>);

#[derive(Debug)]
struct Conn {
    serial: usize,
    broken: bool,
    counts: Arc<Counts>,
}

impl fmt::Debug for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counts {{ connects: {} }}", self.connects.load(SeqCst))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.counts.drops.fetch_add(1, SeqCst);
    }
}

#[derive(Debug)]
struct ManagerError(&'static str);

impl fmt::Display for ManagerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ManagerError {}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = ManagerError;

    fn connect(&self) -> Result<Conn, ManagerError> {
        if self.0.fail_connect.load(SeqCst) {
            return Err(ManagerError("password authentication failed (r2d2 test manager)"));
        }
        let serial = self.0.connects.fetch_add(1, SeqCst) + 1;
        Ok(Conn {
            serial,
            broken: false,
            counts: Arc::clone(&self.0),
        })
    }

    fn is_valid(&self, _conn: &mut Conn) -> Result<(), ManagerError> {
        self.0.is_valid.fetch_add(1, SeqCst);
        if self.0.fail_valid.load(SeqCst) {
            return Err(ManagerError("server closed the connection (r2d2 test manager)"));
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        self.0.has_broken.fetch_add(1, SeqCst);
        conn.broken
    }
}

fn count(c: &AtomicUsize) -> usize {
    c.load(SeqCst)
}

#[test]
fn checkouts_work_through_the_adapter() {
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .build(R2d2Manager(manager))
        .unwrap();
    // The r2d2 manager is reachable through the adapter.
    assert!(Arc::ptr_eq(&pool.manager().0.0, &counts));

    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    assert_ne!(a.serial, b.serial);
    assert!(
        pool.try_get().unwrap().is_none(),
        "a pool of 2 without overflow is full"
    );
    assert_eq!(count(&counts.connects), 2);
    let (a_serial, b_serial) = (a.serial, b.serial);
    drop(a);
    drop(b);
    common::settle(&pool);
    assert_eq!(
        count(&counts.has_broken),
        2,
        "has_broken is asked on every return"
    );
    assert_eq!(count(&counts.drops), 0, "healthy connections are kept");

    // Reused, most recently returned first; nothing new is opened.
    for _ in 0..10 {
        let c = pool.get().unwrap();
        assert_eq!(c.serial, b_serial);
    }
    let c = pool.get().unwrap();
    let d = pool.get().unwrap();
    assert_eq!((c.serial, d.serial), (b_serial, a_serial));
    assert_eq!(count(&counts.connects), 2);
    drop((c, d));
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 2, 0), "{s:?}");
    assert_eq!(pool.stats().checkouts, 14);

    // Closing the pool drops the r2d2 connections.
    pool.close();
    assert_eq!(count(&counts.drops), 2);
    assert!(matches!(pool.get(), Err(Error::Closed)));
}

#[test]
fn pre_ping_calls_is_valid_outside_the_bypass_window_only() {
    // Inside a bypass window that never passes: no validation at all.
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let pool = Pool::builder()
        .pre_ping(true)
        .pre_ping_bypass(Duration::from_secs(3600))
        .build(R2d2Manager(manager))
        .unwrap();
    for _ in 0..5 {
        drop(pool.get().unwrap());
    }
    assert_eq!(count(&counts.is_valid), 0);
    assert_eq!(pool.stats().pings, 0);

    // No window: every checkout of an idle connection validates it (a fresh one is not).
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let pool = Pool::builder()
        .pre_ping(true)
        .pre_ping_bypass(Duration::ZERO)
        .build(R2d2Manager(manager))
        .unwrap();
    for _ in 0..5 {
        drop(pool.get().unwrap());
    }
    assert_eq!(count(&counts.connects), 1);
    assert_eq!(count(&counts.is_valid), 4);
    assert_eq!(pool.stats().pings, 4);

    // r2d2's test_on_check_out(false) turns it off.
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let pool = Pool::builder()
        .test_on_check_out(false)
        .pre_ping_bypass(Duration::ZERO)
        .build(R2d2Manager(manager))
        .unwrap();
    for _ in 0..5 {
        drop(pool.get().unwrap());
    }
    assert_eq!(count(&counts.is_valid), 0);

    // A real window: within it no ping, once it has passed one ping.
    let window = Duration::from_millis(50);
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let pool = Pool::builder()
        .pre_ping_bypass(window)
        .build(R2d2Manager(manager))
        .unwrap();
    let c = pool.get().unwrap();
    let returning = Instant::now();
    drop(c);
    let c = pool.get().unwrap();
    // Only checkable when this thread was not descheduled for the whole window.
    if returning.elapsed() < window {
        assert_eq!(count(&counts.is_valid), 0, "pinged inside the bypass window");
    }
    drop(c);
    let before = count(&counts.is_valid);
    let returned = Instant::now();
    // Waiting out the window is the point here, not a stand-in for synchronisation.
    std::thread::sleep(window + Duration::from_millis(10));
    assert!(returned.elapsed() > window);
    drop(pool.get().unwrap());
    assert_eq!(
        count(&counts.is_valid),
        before + 1,
        "no ping once the window had passed"
    );
}

#[test]
fn a_failed_is_valid_replaces_the_connection() {
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(Some(0))
        .pre_ping_bypass(Duration::ZERO)
        .build(R2d2Manager(manager))
        .unwrap();
    let first = pool.get().unwrap().serial;
    counts.fail_valid.store(true, SeqCst);
    let c = pool.get().unwrap();
    assert_ne!(
        c.serial, first,
        "the connection that failed is_valid was handed out"
    );
    assert_eq!(count(&counts.is_valid), 1);
    assert_eq!(count(&counts.connects), 2);
    drop(c);
    common::settle(&pool);
    assert_eq!(count(&counts.drops), 1, "the failed connection was not closed");
    let st = pool.stats();
    assert_eq!((st.pings, st.ping_failures, st.broken), (1, 1, 1), "{st:?}");
    assert_eq!(pool.state().open, 1);
}

#[test]
fn has_broken_on_return_closes_the_connection() {
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let pool = Pool::builder()
        .pool_size(2)
        .pre_ping(false)
        .build(R2d2Manager(manager))
        .unwrap();
    let mut c = pool.get().unwrap();
    let broken_serial = c.serial;
    c.broken = true;
    drop(c);
    common::settle(&pool);
    assert_eq!(count(&counts.has_broken), 1);
    assert_eq!(count(&counts.drops), 1, "a broken connection must be closed");
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (0, 0, 0), "{s:?}");
    assert_eq!(pool.stats().broken, 1);

    // The next checkout gets a new connection, which is kept when it comes back healthy.
    let c = pool.get().unwrap();
    assert_ne!(c.serial, broken_serial);
    drop(c);
    common::settle(&pool);
    assert_eq!(count(&counts.has_broken), 2);
    assert_eq!(count(&counts.drops), 1);
    assert_eq!(pool.state().idle, 1);
}

#[test]
fn connect_errors_come_back_whole() {
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    counts.fail_connect.store(true, SeqCst);
    let pool = Pool::builder()
        .timeout(Duration::from_secs(5))
        .build(R2d2Manager(manager))
        .unwrap();
    let started = Instant::now();
    let err = pool.get().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reported as a wait, not at once"
    );
    let source = err.connect_source().expect("an Error::Connect");
    let inner = source
        .downcast_ref::<ManagerError>()
        .expect("the r2d2 manager's own error");
    assert!(inner.0.contains("password authentication failed"));
    let printed = common::chain(&err);
    assert!(printed.contains("password authentication failed"), "{printed}");
    assert_eq!(pool.state().open, 0, "the slot was not given back");
    assert_eq!(
        pool.last_connect_error().as_deref(),
        Some("password authentication failed (r2d2 test manager)")
    );
    counts.fail_connect.store(false, SeqCst);
    assert_eq!(pool.get().unwrap().serial, 1);
}

#[derive(Clone, Default)]
struct ResetEvents(Arc<Mutex<Vec<u64>>>);

impl HandleEvent for ResetEvents {
    fn handle(&self, event: &Event<'_>) {
        if let Event::Reset { id, .. } = event {
            self.0.lock().unwrap().push(*id);
        }
    }
}

/// An r2d2 manager cannot reset a connection: `R2d2Manager` says returned connections "are not
/// reset (as in r2d2)", and `Stats::resets` counts "resets that made a round trip". So a return
/// through the adapter is neither counted nor reported as a reset (the adapter answers
/// `transaction_state` with `Idle` rather than the default `Unknown`).
#[test]
fn returns_through_the_adapter_report_no_reset() {
    let events = ResetEvents::default();
    let pool = Pool::builder()
        .event_handler(events.clone())
        .build(R2d2Manager(Manager::default()))
        .unwrap();
    for _ in 0..5 {
        drop(pool.get().unwrap());
    }
    assert_eq!(pool.stats().resets, 0, "{:?}", pool.stats());
    assert!(
        events.0.lock().unwrap().is_empty(),
        "Reset events for resets that never ran"
    );
}

/// An r2d2 `CustomizeConnection` that tags each connection on acquire (refusing some), and
/// records each one released.
#[derive(Debug, Default)]
struct Customizer {
    refuse: AtomicBool,
    acquired: Mutex<Vec<usize>>,
    released: Mutex<Vec<usize>>,
}

/// Shared by the test and the pool (r2d2 takes the customizer boxed).
#[derive(Debug, Clone, Default)]
struct Shared(Arc<Customizer>);

impl r2d2::CustomizeConnection<Conn, ManagerError> for Shared {
    fn on_acquire(&self, conn: &mut Conn) -> Result<(), ManagerError> {
        if self.0.refuse.load(SeqCst) {
            return Err(ManagerError("SET ROLE app failed (r2d2 customizer)"));
        }
        self.0.acquired.lock().unwrap().push(conn.serial);
        Ok(())
    }

    fn on_release(&self, conn: Conn) {
        self.0.released.lock().unwrap().push(conn.serial);
    }
}

/// r2d2's `connection_customizer` plugs in as it is: `on_acquire` runs on every new
/// connection (an error fails that connect, as r2d2's does, and the refused connection is not
/// released), `on_release` gets every connection the pool closes.
#[test]
fn an_r2d2_connection_customizer_plugs_in() {
    let manager = Manager::default();
    let counts = Arc::clone(&manager.0);
    let customizer = Shared::default();
    let pool = Pool::builder()
        .pool_size(2)
        .max_overflow(Some(0))
        .connection_customizer(Box::new(customizer.clone()))
        .build(R2d2Manager(manager))
        .unwrap();
    let a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    assert_eq!(*customizer.0.acquired.lock().unwrap(), [1, 2]);
    b.broken = true;
    drop(b);
    common::settle(&pool);
    assert_eq!(*customizer.0.released.lock().unwrap(), [2]);

    customizer.0.refuse.store(true, SeqCst);
    let err = pool.get().unwrap_err();
    assert_eq!(
        common::chain(&err),
        "could not open a database connection: the connection customizer's on_acquire hook refused the new connection: SET ROLE app failed (r2d2 customizer)"
    );
    assert_eq!(count(&counts.drops), 2, "the refused connection was dropped");
    assert_eq!(*customizer.0.released.lock().unwrap(), [2], "but not released");
    customizer.0.refuse.store(false, SeqCst);

    drop(a);
    pool.close();
    let mut released = customizer.0.released.lock().unwrap().clone();
    released.sort();
    assert_eq!(released, [1, 2]);
    assert_eq!(count(&counts.drops), 3);
}
