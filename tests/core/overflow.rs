//! Overflow: the pool never holds more than `pool_size + max_overflow` connections (counting
//! those being opened), grows into overflow under demand, and drains back to `pool_size` idle.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::Duration;

use common::Fake;
use millpond::Pool;

const POOL_SIZE: usize = 4;
const MAX_OVERFLOW: usize = 4;
const CAP: usize = POOL_SIZE + MAX_OVERFLOW;

fn pool_4_plus_4(fake: &Fake) -> Pool<Fake> {
    Pool::builder()
        .pool_size(POOL_SIZE)
        .max_overflow(Some(MAX_OVERFLOW))
        .timeout(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap()
}

/// 64 threads, 3200 checkouts, on a pool of 4 + 4: never more than 8 connections open or
/// opening, neither at the backend (checked at every open) nor in the pool's own counts; once
/// everything is back, the surplus is closed and exactly `pool_size` stay idle.
///
/// The work comes in bursts: between them every thread has given its connection back, so the
/// pool drains to 4 (the surplus closing in the background, slowly) while the next burst opens
/// new ones. Connects and closes take a millisecond so that they overlap.
#[test]
fn hammering_never_exceeds_pool_size_plus_overflow_and_drains_back() {
    const THREADS: usize = 64;
    const BURSTS: usize = 5;
    const ROUNDS: usize = 10;
    // The first checkout of a burst by these threads waits, connection in hand, until all of
    // them hold one: this takes the pool to its cap in every burst, whatever the scheduler does.
    const HOLDERS: usize = CAP;

    let fake = Fake::new();
    fake.state.connect_delay_ms.store(1, SeqCst);
    fake.state.close_delay_ms.store(1, SeqCst);
    let pool = pool_4_plus_4(&fake);
    let burst = Barrier::new(THREADS);
    let all_held = Barrier::new(HOLDERS);
    let max_seen_open = AtomicUsize::new(0);
    let at_cap = Mutex::new(Vec::new());
    let at_start = Mutex::new(Vec::new());

    common::together(THREADS, |t| {
        for b in 0..BURSTS {
            if burst.wait().is_leader() {
                // Every connection is back; looked at before anyone takes one again.
                at_start.lock().unwrap().push(pool.state());
            }
            burst.wait();
            for round in 0..ROUNDS {
                let conn = pool
                    .get()
                    .unwrap_or_else(|e| panic!("thread {t} burst {b} round {round}: {e}"));
                let state = pool.state();
                max_seen_open.fetch_max(state.open, SeqCst);
                assert!(state.open <= CAP, "thread {t} saw {state:?}");
                assert!(state.in_use <= CAP, "thread {t} saw {state:?}");
                if round == 0 && t < HOLDERS {
                    if all_held.wait().is_leader() {
                        at_cap.lock().unwrap().push(pool.state());
                    }
                    // Nobody gives back before the leader has looked.
                    all_held.wait();
                }
                thread::yield_now();
                drop(conn);
            }
        }
    });

    // Between bursts every connection is back, and at most `pool_size` of them stay idle (two
    // returns racing under the lock once kept one connection too many).
    for (b, s) in at_start.lock().unwrap().iter().enumerate() {
        assert!(s.idle <= POOL_SIZE && s.in_use == 0, "burst {b} began with {s:?}");
    }
    let at_cap = at_cap.lock().unwrap();
    assert_eq!(at_cap.len(), BURSTS);
    for s in at_cap.iter() {
        assert_eq!(
            (s.open, s.in_use, s.idle, s.overflow),
            (CAP, CAP, 0, MAX_OVERFLOW),
            "{s:?}"
        );
    }
    assert!(
        fake.state.max_live() <= CAP,
        "backend saw {} live",
        fake.state.max_live()
    );
    assert_eq!(fake.state.max_live(), CAP, "the holders took the pool to its cap");
    assert!(max_seen_open.load(SeqCst) <= CAP);

    common::settle(&pool);
    let s = pool.state();
    assert_eq!(
        (s.open, s.idle, s.in_use, s.overflow, s.waiting),
        (4, 4, 0, 0, 0),
        "{s:?}"
    );
    assert_eq!(fake.state.live(), POOL_SIZE);
    let stats = pool.stats();
    // Every burst took the pool to 8 and the end of every burst took it back to 4.
    assert!(
        stats.overflow_closes >= (MAX_OVERFLOW * BURSTS) as u64,
        "{stats:?}"
    );
    // Nothing else closes connections here: every one opened beyond the four kept was closed
    // as overflow.
    assert_eq!(
        stats.overflow_closes,
        stats.connects - POOL_SIZE as u64,
        "{stats:?}"
    );
    assert_eq!(fake.state.closes(), fake.state.opens() - POOL_SIZE);
    assert_eq!(stats.checkouts, (THREADS * BURSTS * ROUNDS) as u64, "{stats:?}");
    assert_eq!(stats.timeouts, 0);
}

/// The `overflow` field counts the connections beyond `pool_size`; overflow connections are
/// kept while fewer than `pool_size` are idle and closed once `pool_size` are.
#[test]
fn state_overflow_counts_connections_beyond_pool_size() {
    let fake = Fake::new();
    let pool = pool_4_plus_4(&fake);
    let mut held = Vec::new();
    for k in 1..=CAP {
        held.push(pool.get().expect("a slot is free"));
        let s = pool.state();
        assert_eq!((s.open, s.in_use, s.idle), (k, k, 0), "{s:?}");
        assert_eq!(s.overflow, k.saturating_sub(POOL_SIZE), "{s:?}");
    }
    assert!(pool.try_get().unwrap().is_none(), "the cap is reached");
    assert_eq!(fake.state.opens(), CAP);

    // The first four back are kept (fewer than pool_size idle): overflow stays at 4.
    for k in 1..=POOL_SIZE {
        drop(held.pop());
        common::settle(&pool);
        let s = pool.state();
        assert_eq!(
            (s.open, s.idle, s.in_use, s.overflow),
            (CAP, k, CAP - k, MAX_OVERFLOW),
            "{s:?}"
        );
    }
    assert_eq!(pool.stats().overflow_closes, 0);
    // The rest are closed: pool_size are idle already.
    for k in 1..=MAX_OVERFLOW {
        drop(held.pop());
        common::settle(&pool);
        let s = pool.state();
        assert_eq!(
            (s.open, s.idle, s.overflow),
            (CAP - k, POOL_SIZE, MAX_OVERFLOW - k),
            "{s:?}"
        );
        assert_eq!(pool.stats().overflow_closes, k as u64);
        assert_eq!(fake.state.live(), CAP - k);
    }
    assert!(held.is_empty());

    // Demand again: idle ones are reused before anything new is opened.
    let again: Vec<_> = (0..POOL_SIZE).map(|_| pool.get().unwrap()).collect();
    assert_eq!(fake.state.opens(), CAP, "idle connections were reused");
    assert_eq!(pool.state().overflow, 0);
    let extra = pool.get().unwrap();
    assert_eq!(fake.state.opens(), CAP + 1);
    assert_eq!(pool.state().overflow, 1);
    drop(extra);
    drop(again);
    common::settle(&pool);
    let s = pool.state();
    assert_eq!((s.open, s.idle, s.overflow), (POOL_SIZE, POOL_SIZE, 0), "{s:?}");
}

/// With unlimited overflow (`max_overflow: None`) the pool grows as far as demand goes, and
/// drains back to `pool_size` idle connections.
#[test]
fn unlimited_overflow_grows_past_pool_size_and_drains_back() {
    const POOL: usize = 2;
    const DEMAND: usize = 24;
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(POOL)
        .max_overflow(None)
        // Every caller opens its own at once: the connect limit is not what is tested here.
        .connect_concurrency(DEMAND)
        .timeout(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap();

    // Many threads at once, each handing back the connection it got, so that all are held at
    // once: none may wait.
    // With no cap a slot is always free: each connects at once, never waiting for another
    // thread's connection.
    let held = common::together(DEMAND, |_| pool.get());
    let s = pool.state();
    let max_live = fake.state.max_live();
    for conn in held {
        conn.expect("unlimited overflow never makes a caller wait");
    }
    assert_eq!((s.open, s.in_use, s.idle), (DEMAND, DEMAND, 0), "{s:?}");
    assert_eq!(s.overflow, DEMAND - POOL, "{s:?}");
    assert_eq!(s.max_overflow, None);
    assert_eq!(max_live, DEMAND);

    common::settle(&pool);
    let s = pool.state();
    assert_eq!(
        (s.open, s.idle, s.in_use, s.overflow),
        (POOL, POOL, 0, 0),
        "{s:?}"
    );
    assert_eq!(fake.state.live(), POOL);
    assert_eq!(pool.stats().overflow_closes, (DEMAND - POOL) as u64);
    let stats = pool.stats();
    assert_eq!(stats.waits, 0, "{stats:?}");
}

/// Eight connections given back at once, six of them overflow: each return decides without the
/// pool's lock whether to keep its connection (fewer than `pool_size` idle) or go to the lock to
/// close it, counting the others after marking its own. However the returns interleave, exactly
/// `pool_size` stay idle and the other six are closed as overflow.
#[test]
fn returns_racing_for_the_last_idle_places_keep_exactly_pool_size() {
    const THREADS: usize = 8;
    const KEPT: usize = 2;
    const ROUNDS: usize = 100;
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(KEPT)
        .max_overflow(Some(THREADS - KEPT))
        .timeout(Duration::from_secs(10))
        .build(fake.clone())
        .unwrap();
    let all_held = Barrier::new(THREADS);
    for round in 0..ROUNDS {
        common::together(THREADS, |_| {
            let conn = pool.get().expect("a slot is free for every thread");
            // Every connection is out before any comes back: six of them are overflow.
            all_held.wait();
            drop(conn);
        });
        common::settle(&pool);
        let s = pool.state();
        assert_eq!(
            (s.open, s.idle, s.in_use, s.overflow),
            (KEPT, KEPT, 0, 0),
            "round {round}: {s:?}"
        );
        assert_eq!(fake.state.live(), KEPT, "round {round}");
    }
    let stats = pool.stats();
    assert_eq!(
        stats.overflow_closes,
        ((THREADS - KEPT) * ROUNDS) as u64,
        "{stats:?}"
    );
}
