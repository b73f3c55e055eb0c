//! The hooks: `after_connect` (an error fails the connect), `before_checkout` (a refusal closes
//! the connection and the checkout goes on within its deadline), `after_checkin` (keep or
//! close), and `Pool::retain`. Each runs outside the pool's lock, is told what the pool knows of
//! the connection, and when it panics frees the slot it held: the counts stay right and no
//! capacity is lost.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{Fake, FakeConn, eventually, settle};
use millpond::{ConnectionInfo, Error, Pool};

const LIMIT: Duration = Duration::from_secs(10);
/// How late a checkout may come back after its deadline: generous, for a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(1000);

/// Asserts the pool holds exactly `open` connections, all idle, and the backend agrees.
fn assert_all_idle(fake: &Fake, pool: &Pool<Fake>, open: usize) {
    settle(pool);
    let s = pool.state();
    assert_eq!(
        (s.open, s.idle, s.in_use, s.opening, s.closing),
        (open, open, 0, 0, 0),
        "{s:?}"
    );
    assert_eq!(fake.state.live(), open, "{s:?}");
}

/// `after_connect` runs on every new connection before anyone uses it: opened by a checkout
/// (on its connect thread), by `build` for `min_idle`, by the reaper.
#[test]
fn after_connect_runs_on_every_new_connection() {
    let fake = Fake::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pool = {
        let seen = Arc::clone(&seen);
        Pool::builder()
            .pool_size(3)
            .min_idle(1)
            .reaper_rate(Duration::from_millis(10))
            .after_connect(move |conn: &mut FakeConn| {
                seen.lock().unwrap().push(conn.serial);
                conn.in_transaction = false;
                Ok(())
            })
            .build(fake.clone())
            .unwrap()
    };
    assert_eq!(*seen.lock().unwrap(), [1], "build's min_idle connection");
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    // The reaper refills min_idle with a third.
    assert!(
        eventually(LIMIT, || seen.lock().unwrap().len() == 3),
        "{:?}",
        pool.state()
    );
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    assert!(format!("{:?}", Pool::<Fake>::builder().after_connect(|_| Ok(()))).contains("after_connect"));
    drop((a, b));
}

/// An error from `after_connect` fails that connect as a connect error does, at once: the
/// connection is closed, its slot freed, and the error says the hook refused it, with the
/// hook's own error as its source.
#[test]
fn an_after_connect_error_fails_the_connect() {
    let fake = Fake::new();
    let refuse = Arc::new(AtomicBool::new(true));
    let pool = {
        let refuse = Arc::clone(&refuse);
        Pool::builder()
            .pool_size(2)
            .timeout(LIMIT)
            .after_connect(move |_conn: &mut FakeConn| {
                if refuse.load(SeqCst) {
                    return Err("SET search_path failed: schema \"app\" does not exist".into());
                }
                Ok(())
            })
            .build(fake.clone())
            .unwrap()
    };
    let started = Instant::now();
    let err = pool.get().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let printed = common::assert_prints_once(&err);
    assert_eq!(
        printed,
        "could not open a database connection: the after_connect hook refused the new connection: SET search_path failed: schema \"app\" does not exist"
    );
    assert_eq!(
        (fake.state.opens(), fake.state.closes(), fake.state.live()),
        (1, 1, 0)
    );
    let stats = pool.stats();
    assert_eq!((stats.connects, stats.connect_errors), (0, 1), "{stats:?}");
    assert!(
        pool.last_connect_error()
            .unwrap()
            .contains("schema \"app\" does not exist")
    );
    assert_all_idle(&fake, &pool, 0);

    refuse.store(false, SeqCst);
    assert_eq!(pool.get().unwrap().serial, 2);
}

/// A panicking `after_connect` frees the slot, as a panicking connect does: the panic reaches
/// the caller, the connection is closed, and the pool keeps its whole capacity.
#[test]
fn a_panicking_after_connect_frees_its_slot() {
    let fake = Fake::new();
    let panic_now = Arc::new(AtomicBool::new(true));
    let pool = {
        let panic_now = Arc::clone(&panic_now);
        Pool::builder()
            .pool_size(1)
            .max_overflow(0)
            .timeout(LIMIT)
            .after_connect(move |_conn: &mut FakeConn| {
                assert!(!panic_now.load(SeqCst), "the hook's own bug");
                Ok(())
            })
            .build(fake.clone())
            .unwrap()
    };
    // The checkout's connect runs on a thread of its own: the panic comes back as its error.
    let err = pool.get().unwrap_err();
    assert!(common::chain(&err).contains("the hook's own bug"), "{err}");
    assert_all_idle(&fake, &pool, 0);
    assert_eq!(fake.state.closes(), 1);
    panic_now.store(false, SeqCst);
    assert_eq!(pool.get().unwrap().serial, 2, "the only slot is free again");
}

/// `before_checkout` sees each connection before it is handed out, idle or new, with its age,
/// idle time, uses so far, generation and what is left of the deadline.
#[test]
fn before_checkout_is_told_what_the_pool_knows() {
    let fake = Fake::new();
    let seen: Arc<Mutex<Vec<(usize, ConnectionInfo)>>> = Arc::default();
    let pool = {
        let seen = Arc::clone(&seen);
        Pool::builder()
            .pool_size(2)
            .timeout(LIMIT)
            .before_checkout(move |conn: &mut FakeConn, info| {
                seen.lock().unwrap().push((conn.serial, *info));
                Ok(())
            })
            .build(fake.clone())
            .unwrap()
    };
    for _ in 0..3 {
        drop(pool.get().unwrap());
    }
    pool.invalidate();
    drop(pool.get().unwrap());
    let seen = seen.lock().unwrap();
    let serials: Vec<usize> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(serials, [1, 1, 1, 2]);
    let uses: Vec<u64> = seen.iter().map(|(_, i)| i.uses).collect();
    assert_eq!(uses, [0, 1, 2, 0]);
    let generations: Vec<u64> = seen.iter().map(|(_, i)| i.generation).collect();
    assert_eq!(generations, [0, 0, 0, 1]);
    for (_, info) in seen.iter() {
        let left = info.time_left.expect("a checkout has a deadline");
        assert!(left > Duration::ZERO && left <= LIMIT, "{info:?}");
        assert!(info.age < LIMIT && info.idle <= info.age, "{info:?}");
    }
    assert_ne!(seen[0].1.id, seen[3].1.id);
}

/// A connection `before_checkout` refuses is closed and replaced within the same checkout,
/// which keeps its deadline: refusing every connection times the checkout out on time.
#[test]
fn a_refused_connection_is_replaced_within_the_same_deadline() {
    let fake = Fake::new();
    let refuse_below = Arc::new(AtomicUsize::new(2));
    let pool = {
        let refuse_below = Arc::clone(&refuse_below);
        Pool::builder()
            .pool_size(2)
            .max_overflow(0)
            .timeout(LIMIT)
            .before_checkout(move |conn: &mut FakeConn, _| {
                if conn.serial < refuse_below.load(SeqCst) {
                    return Err(format!("connection {} is too old for us", conn.serial).into());
                }
                Ok(())
            })
            .build(fake.clone())
            .unwrap()
    };
    let conn = pool.get().unwrap();
    assert_eq!(conn.serial, 2, "the refused connection was replaced by a new one");
    drop(conn);
    // Serial 1 was refused at its first checkout: the same call got serial 2.
    assert_eq!(fake.state.opens(), 2);
    assert_all_idle(&fake, &pool, 1);
    assert_eq!(pool.stats().discarded, 1);

    // Every connection refused: the checkout keeps replacing them until its deadline.
    refuse_below.store(usize::MAX, SeqCst);
    let timeout = Duration::from_millis(150);
    let started = Instant::now();
    let err = pool.get_timeout(timeout).unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(elapsed >= timeout && elapsed < timeout + MARGIN, "{elapsed:?}");
    settle(&pool);
    assert!(pool.stats().discarded > 1);
    let s = pool.state();
    assert_eq!((s.in_use, s.opening, s.closing, s.waiting), (0, 0, 0, 0), "{s:?}");
    assert_eq!(fake.state.live(), s.open);

    refuse_below.store(0, SeqCst);
    pool.get().unwrap();
}

/// A panicking `before_checkout` closes the connection and frees its slot before the panic
/// reaches the caller of `get`.
#[test]
fn a_panicking_before_checkout_frees_its_slot() {
    let fake = Fake::new();
    let panic_now = Arc::new(AtomicBool::new(true));
    let pool = {
        let panic_now = Arc::clone(&panic_now);
        Pool::builder()
            .pool_size(1)
            .max_overflow(0)
            .timeout(LIMIT)
            .before_checkout(move |_conn: &mut FakeConn, _| {
                assert!(!panic_now.load(SeqCst), "the hook's own bug");
                Ok(())
            })
            .build(fake.clone())
            .unwrap()
    };
    {
        assert!(catch_unwind(AssertUnwindSafe(|| pool.get())).is_err());
    }
    assert_all_idle(&fake, &pool, 0);
    assert_eq!(pool.stats().discarded, 1);
    panic_now.store(false, SeqCst);
    assert_eq!(pool.get().unwrap().serial, 2, "the only slot is free again");
}

/// `after_checkin` decides whether a connection given back stays: `false` closes it. It sees
/// the uses so far, this one included, and no idle time. It is not asked about a connection
/// that goes anyway (broken, here).
#[test]
fn after_checkin_keeps_or_closes() {
    let fake = Fake::new();
    let seen: Arc<Mutex<Vec<ConnectionInfo>>> = Arc::default();
    let pool = {
        let seen = Arc::clone(&seen);
        Pool::builder()
            .pool_size(2)
            .after_checkin(move |_conn: &mut FakeConn, info| {
                seen.lock().unwrap().push(*info);
                info.uses < 3
            })
            .build(fake.clone())
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(pool.get().unwrap().serial, 1);
    }
    settle(&pool);
    assert_eq!(fake.state.closes(), 1, "closed after its third use");
    assert_eq!(pool.stats().discarded, 1);
    let uses: Vec<u64> = seen.lock().unwrap().iter().map(|i| i.uses).collect();
    assert_eq!(uses, [1, 2, 3]);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|i| i.idle.is_zero() && i.time_left.is_none())
    );

    let mut conn = pool.get().unwrap();
    assert_eq!(conn.serial, 2);
    conn.broken = true;
    drop(conn);
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "a broken connection goes without asking"
    );
    assert_all_idle(&fake, &pool, 0);
}

/// A panicking `after_checkin` closes the connection, frees its slot, and the panic reaches the
/// thread that gave it back.
#[test]
fn a_panicking_after_checkin_frees_its_slot() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .after_checkin(|conn: &mut FakeConn, _| {
            assert!(conn.serial > 1, "the hook's own bug");
            true
        })
        .build(fake.clone())
        .unwrap();
    let conn = pool.get().unwrap();
    {
        assert!(catch_unwind(AssertUnwindSafe(|| drop(conn))).is_err());
    }
    assert_all_idle(&fake, &pool, 0);
    assert_eq!(pool.stats().discarded, 1);
    assert_eq!(pool.get().unwrap().serial, 2, "the only slot is free again");
}

/// The hooks run outside the pool's lock: each may look at the pool (which takes the lock)
/// without deadlocking it.
#[test]
fn hooks_run_outside_the_lock() {
    let fake = Fake::new();
    let cell: Arc<OnceLock<Pool<Fake>>> = Arc::default();
    let looks = Arc::new(AtomicUsize::new(0));
    let look = {
        let (cell, looks) = (Arc::clone(&cell), Arc::clone(&looks));
        move || {
            if let Some(pool) = cell.get() {
                let _ = pool.state();
                let _ = pool.stats();
                looks.fetch_add(1, SeqCst);
            }
        }
    };
    let (a, b, c) = (look.clone(), look.clone(), look);
    let pool = Pool::builder()
        .pool_size(2)
        .after_connect(move |_: &mut FakeConn| {
            a();
            Ok(())
        })
        .before_checkout(move |_: &mut FakeConn, _| {
            b();
            Ok(())
        })
        .after_checkin(move |_: &mut FakeConn, _| {
            c();
            true
        })
        .build(fake.clone())
        .unwrap();
    assert!(cell.set(pool.clone()).is_ok());
    drop(pool.get().unwrap());
    assert_eq!(looks.load(SeqCst), 3);
    // The pool holds itself through its hooks: closing it is up to the test.
    pool.close();
}

/// `retain` closes the idle connections its closure rejects, now, and leaves the others and
/// the borrowed ones alone; a panic in it keeps the connection it looked at.
#[test]
fn retain_closes_the_idle_connections_it_rejects() {
    let fake = Fake::new();
    let pool = Pool::builder().pool_size(4).build(fake.clone()).unwrap();
    let mut held: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    let borrowed = held.remove(0);
    drop(held);
    settle(&pool);
    let mut looked = Vec::new();
    let closed = pool.retain(|conn, info| {
        looked.push(conn.serial);
        assert!(info.time_left.is_none() && info.uses == 1, "{info:?}");
        conn.serial % 2 == 1
    });
    looked.sort();
    assert_eq!(looked, [2, 3, 4], "the idle ones, not the borrowed one");
    assert_eq!(closed, 2);
    assert_eq!(fake.state.live(), 2);
    assert_eq!(pool.stats().discarded, 2);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 1, 1), "{s:?}");

    {
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            pool.retain(|_, _| panic!("the closure's own bug"))
        }));
        assert!(panicked.is_err());
    }
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.in_use), (2, 1, 1), "kept: {s:?}");
    drop(borrowed);
    assert_all_idle(&fake, &pool, 2);
}

/// Many threads with every hook refusing or panicking now and then: whatever they do, no slot
/// is lost, the counts add up, and the backend agrees.
#[test]
fn hooks_refusing_and_panicking_under_load_leak_nothing() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    let fake = Fake::new();
    let tick = Arc::new(AtomicUsize::new(0));
    let pool = {
        let (t1, t2, t3) = (Arc::clone(&tick), Arc::clone(&tick), Arc::clone(&tick));
        Pool::builder()
            .pool_size(3)
            .max_overflow(2)
            .timeout(LIMIT)
            .after_connect(move |_: &mut FakeConn| match t1.fetch_add(1, SeqCst) % 7 {
                0 => Err("refused".into()),
                _ => Ok(()),
            })
            .before_checkout(move |_: &mut FakeConn, _| match t2.fetch_add(1, SeqCst) % 11 {
                0 => Err("refused".into()),
                5 => panic!("before_checkout's own bug"),
                _ => Ok(()),
            })
            .after_checkin(move |_: &mut FakeConn, _| match t3.fetch_add(1, SeqCst) % 13 {
                0 => false,
                6 => panic!("after_checkin's own bug"),
                _ => true,
            })
            .build(fake.clone())
            .unwrap()
    };
    let outcomes = common::together(THREADS, |_| {
        let (mut served, mut failed) = (0, 0);
        for _ in 0..ROUNDS {
            match catch_unwind(AssertUnwindSafe(|| pool.get().map(drop))) {
                Ok(Ok(())) => served += 1,
                Ok(Err(Error::Connect(_))) | Err(_) => failed += 1,
                Ok(Err(err)) => panic!("{err}"),
            }
            thread::yield_now();
        }
        (served, failed)
    });
    let served: usize = outcomes.iter().map(|(s, _)| s).sum();
    assert!(served > 0 && outcomes.iter().all(|(_, f)| *f < ROUNDS));
    settle(&pool);
    let s = pool.state();
    assert_eq!((s.in_use, s.opening, s.closing, s.waiting), (0, 0, 0, 0), "{s:?}");
    assert_eq!(s.open, s.idle, "{s:?}");
    assert!(s.open <= 3, "{s:?}");
    assert_eq!(fake.state.live(), s.open, "{s:?}");
    assert!(fake.state.max_live() <= 5);
    // The whole capacity is still there.
    let all: Vec<_> = (0..5)
        .map(|_| {
            loop {
                if let Ok(Ok(conn)) = catch_unwind(AssertUnwindSafe(|| pool.get())) {
                    break conn;
                }
            }
        })
        .collect();
    assert_eq!(pool.state().in_use, 5);
    for conn in all {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(conn)));
    }
    settle(&pool);
    assert_eq!(fake.state.live(), pool.state().open);
}
