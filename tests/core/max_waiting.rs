//! `max_waiting` (psycopg_pool's): past that many checkouts waiting, a checkout that would wait
//! fails at once with `Error::QueueFull`, which names the counts.

use crate::common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Fake, eventually};
use millpond::{Error, Pool};

const LIMIT: Duration = Duration::from_secs(10);

/// Two checkouts wait on a full pool with `max_waiting(2)`: a third is refused at once, with
/// the counts, and counted; `try_get` is never refused (it does not wait). When the waiters
/// have been served, checkouts queue again.
#[test]
fn past_max_waiting_a_checkout_fails_at_once_naming_the_counts() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .max_waiting(2)
        .timeout(LIMIT)
        .name("shedding")
        .build(fake.clone())
        .unwrap();
    let held = pool.get().unwrap();
    thread::scope(|scope| {
        let waiters: Vec<_> = (0..2)
            .map(|k| {
                let waiter = scope.spawn(|| pool.get().map(|conn| conn.serial));
                assert!(eventually(LIMIT, || pool.state().waiting == k + 1));
                waiter
            })
            .collect();

        let started = Instant::now();
        let err = pool.get().unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let shown = err.to_string();
        let Error::QueueFull(details) = err else {
            panic!("expected QueueFull, got {err:?}")
        };
        assert_eq!(
            (details.max_waiting, details.waiting, details.in_use, details.idle),
            (2, 2, 1, 0),
            "{details:?}"
        );
        assert_eq!((details.pool_size, details.max_overflow), (1, Some(0)));
        assert_eq!(details.pool, "shedding");
        for part in [
            "pool `shedding`",
            "refused without waiting",
            "2 checkouts are waiting already and max_waiting is 2",
            "1 in use",
        ] {
            assert!(shown.contains(part), "{part:?} missing from {shown:?}");
        }
        assert!(pool.try_get().unwrap().is_none());
        assert_eq!(pool.stats().queue_full, 1);
        assert_eq!(pool.state().waiting, 2, "the waiters stay queued");

        drop(held);
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap().unwrap(), 1);
        }
    });
    let stats = pool.stats();
    assert_eq!(
        (stats.queue_full, stats.timeouts, stats.checkouts),
        (1, 0, 3),
        "{stats:?}"
    );

    // The queue has room again.
    let held = pool.get().unwrap();
    thread::scope(|scope| {
        let waiter = scope.spawn(|| pool.get().map(|_| ()));
        assert!(eventually(LIMIT, || pool.state().waiting == 1));
        drop(held);
        waiter.join().unwrap().unwrap();
    });
}

/// `max_waiting` 0 (the default) sets no limit: many checkouts wait, and all are served.
#[test]
fn no_limit_by_default() {
    const WAITERS: usize = 12;
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(1)
        .max_overflow(0)
        .timeout(LIMIT)
        .build(fake.clone())
        .unwrap();
    assert_eq!(pool.options().max_waiting, 0);
    let held = pool.get().unwrap();
    thread::scope(|scope| {
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| scope.spawn(|| pool.get().map(|_| ())))
            .collect();
        assert!(eventually(LIMIT, || pool.state().waiting == WAITERS));
        drop(held);
        for waiter in waiters {
            waiter.join().unwrap().unwrap();
        }
    });
    assert_eq!(pool.stats().queue_full, 0);
}

/// A suspended pool queues its checkouts too: past `max_waiting`, they are refused, and the
/// error says the pool is suspended.
#[test]
fn a_suspended_pool_refuses_past_max_waiting_and_says_so() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(2)
        .max_waiting(1)
        .timeout(LIMIT)
        .build(fake.clone())
        .unwrap();
    pool.suspend();
    thread::scope(|scope| {
        let waiter = scope.spawn(|| pool.get().map(|_| ()));
        assert!(eventually(LIMIT, || pool.state().waiting == 1));
        let err = pool.get().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("; the pool is suspended (Pool::resume ends it)"),
            "{err}"
        );
        pool.resume();
        waiter.join().unwrap().unwrap();
    });
}
