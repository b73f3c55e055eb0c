//! The cap across processes (`max_total_connections` + `cap_file`): pools that name the same
//! file never hold more connections together than the cap, in one process or in many; waiting
//! for a slot counts against the checkout timeout; a worker killed with SIGKILL gives its
//! slots back at once.
//!
//! The forking test runs its children without panicking across the fork: each reports through
//! its exit code, and the parent `waitpid`s for it.
#![cfg(target_os = "linux")]

mod common;

use common::pg::{count_tagged, monitor};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Fake, eventually, fork_child, wait_child};
use millpond::postgres::{PostgresManager, SslMode};
use millpond::{Error, Pool};

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn cap_file(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("millpond-cap-{test}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn capped_fake(file: &Path, cap: usize, pool_size: usize, overflow: usize) -> (Fake, Pool<Fake>) {
    let fake = Fake::new();
    let pool = Pool::builder()
        .pool_size(pool_size)
        .max_overflow(overflow)
        .max_total_connections(cap)
        .cap_file(file)
        .timeout(Duration::from_secs(5))
        .pre_ping(false)
        .build(fake.clone())
        .unwrap();
    (fake, pool)
}

#[test]
fn two_pools_sharing_a_cap_never_open_more_than_it_together() {
    let file = cap_file("two-pools");
    let (fake_a, a) = capped_fake(&file, 3, 4, 0);
    let (fake_b, b) = capped_fake(&file, 3, 4, 0);

    let held: Vec<_> = (0..2).map(|_| a.get().unwrap()).collect();
    let one_of_b = b.get().unwrap();
    let started = Instant::now();
    let err = b.get_timeout(Duration::from_millis(200)).unwrap_err();
    let waited = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("max_total_connections"),
        "the error names the cap: {text}"
    );
    assert!(text.contains("3 slots"), "and its size: {text}");
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(2),
        "waiting for a slot counts against the checkout timeout: {waited:?}"
    );
    assert_eq!(
        fake_a.state.live() + fake_b.state.live(),
        3,
        "never more than the cap"
    );
    assert_eq!(b.stats().timeouts, 1);
    let stats = b.stats();
    assert_eq!(stats.cap_waits, 1, "the wait for the cap is counted: {stats:?}");
    assert!(
        stats.cap_wait_time_total >= Duration::from_millis(190),
        "{stats:?}"
    );
    assert_eq!(a.stats().cap_waits, 0, "a never found the cap full");

    // A slot given back by one pool (its connection closed) is taken by the other's waiter.
    let waiter = {
        let b = b.clone();
        thread::spawn(move || b.get_timeout(Duration::from_secs(5)).map(|_| ()))
    };
    // The waiter has found the cap full and waits for a slot of it (its reserved slot of b,
    // `opening == 1`, comes before that: a slot given back then is taken without a wait).
    assert!(
        eventually(Duration::from_secs(2), || b.stats().cap_waits == 2),
        "the waiter never waited for the cap: {:?} {:?}",
        b.state(),
        b.stats()
    );
    drop(held);
    a.close();
    waiter.join().unwrap().expect("b gets the slot a gave back");
    assert_eq!(b.stats().cap_waits, 2);
    assert!(fake_a.state.live() + fake_b.state.live() <= 3);
    drop(one_of_b);
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_connection_coming_back_to_the_pool_serves_a_checkout_waiting_for_the_cap() {
    let file = cap_file("own-return");
    // This pool may open 4 but the cap allows 1: the second checkout waits on the cap, and the
    // first connection coming back must reach it (it would otherwise wait for nothing).
    let (fake, pool) = capped_fake(&file, 1, 4, 0);
    let first = pool.get().unwrap();
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || {
            let started = Instant::now();
            pool.get_timeout(Duration::from_secs(5))
                .map(|_| started.elapsed())
        })
    };
    // The waiter has found the cap full and waits for it.
    assert!(
        eventually(Duration::from_secs(2), || pool.stats().cap_waits == 1),
        "the waiter never waited for the cap: {:?} {:?}",
        pool.state(),
        pool.stats()
    );
    drop(first);
    let waited = waiter
        .join()
        .unwrap()
        .expect("the returned connection serves the waiter");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(fake.state.opens(), 1, "no second connection was opened");
    assert_eq!(pool.stats().cap_waits, 1, "{:?}", pool.stats());
    let _ = std::fs::remove_file(file);
}

#[test]
fn many_threads_over_two_pools_stay_within_the_cap() {
    let file = cap_file("threads");
    let (fake_a, a) = capped_fake(&file, 5, 4, 4);
    let (fake_b, b) = capped_fake(&file, 5, 4, 4);
    let peak = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (fa, fb, peak, stop) = (
            fake_a.clone(),
            fake_b.clone(),
            Arc::clone(&peak),
            Arc::clone(&stop),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(fa.state.live() + fb.state.live(), Ordering::Relaxed);
                thread::sleep(Duration::from_micros(100));
            }
        })
    };
    common::together(16, |i| {
        let pool = if i % 2 == 0 { &a } else { &b };
        for _ in 0..200 {
            let conn = pool.get().expect("within the 5 s timeout");
            thread::sleep(Duration::from_micros(200));
            drop(conn);
        }
    });
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak <= 5, "peak {peak} connections over a cap of 5");
    assert!(peak >= 4, "the load should reach the cap (peak {peak})");
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_cap_file_that_cannot_be_opened_is_a_connect_error_naming_it() {
    let fake = Fake::new();
    let pool = Pool::builder()
        .max_total_connections(2)
        .cap_file("/nonexistent-millpond-dir/slots")
        .build(fake.clone())
        .unwrap();
    let err = pool.get().unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
    let text = common::assert_prints_once(&err);
    assert!(
        text.contains("/nonexistent-millpond-dir/slots") && text.contains("cap_file"),
        "{text}"
    );
    // The operating system's answer is kept for matching, not only its words.
    let io = err
        .connect_source()
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .unwrap_or_else(|| panic!("the source is an io::Error: {err:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound, "{io}");
    assert_eq!(fake.state.opens(), 0);
    // And nothing is lost: the slot was given back.
    assert_eq!(pool.state().open, 0);
}

#[test]
fn the_options_go_together() {
    let err = Pool::builder()
        .max_total_connections(4)
        .build(Fake::new())
        .unwrap_err();
    assert!(err.to_string().contains("needs cap_file"), "{err}");
    let err = Pool::builder().cap_file("/tmp/x").build(Fake::new()).unwrap_err();
    assert!(err.to_string().contains("max_total_connections is not"), "{err}");
    let err = Pool::builder()
        .max_total_connections(0)
        .cap_file("/tmp/x")
        .build(Fake::new())
        .unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
}

// --- PostgreSQL, with real forked workers ---------------------------------------------------

fn pg_pool(
    tag: &str,
    file: &Path,
    cap: usize,
    size: usize,
    overflow: usize,
    timeout: Duration,
) -> Pool<PostgresManager> {
    let manager = PostgresManager::from_url(URL)
        .unwrap()
        .ssl_mode(SslMode::Disable)
        .application_name(tag);
    Pool::builder()
        .pool_size(size)
        .max_overflow(overflow)
        .max_total_connections(cap)
        .cap_file(file)
        .timeout(timeout)
        .build(manager)
        .unwrap()
}

#[test]
fn forked_workers_under_load_stay_within_the_cap_and_a_killed_one_frees_its_slots_at_once() {
    let file = cap_file("pg-workers");
    let tag = format!("mp-cap-{}", std::process::id());
    let mut mon = monitor();

    // Four workers of (4 + 4) each, with a cap of 10: 32 connections allowed per process, 10 in all.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (tag, file) = (tag.clone(), file.clone());
            fork_child(move || {
                let pool = pg_pool(&tag, &file, 10, 4, 4, Duration::from_secs(20));
                let failures = Arc::new(AtomicUsize::new(0));
                let threads: Vec<_> = (0..12)
                    .map(|_| {
                        let (pool, failures) = (pool.clone(), Arc::clone(&failures));
                        thread::spawn(move || {
                            let until = Instant::now() + Duration::from_secs(3);
                            while Instant::now() < until {
                                match pool.get() {
                                    Ok(mut conn) => {
                                        if conn.batch_execute("SELECT pg_sleep(0.003)").is_err() {
                                            failures.fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
                                    Err(_) => {
                                        failures.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    let _ = t.join();
                }
                i32::from(failures.load(Ordering::Relaxed) > 0)
            })
        })
        .collect();

    let mut peak = 0;
    let mut samples = 0;
    let until = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < until {
        peak = peak.max(count_tagged(&mut mon, &tag));
        samples += 1;
        thread::sleep(Duration::from_millis(5));
    }
    for pid in workers {
        assert_eq!(wait_child(pid), 0, "a worker saw a failed checkout or query");
    }
    assert!(
        peak <= 10,
        "the server saw {peak} connections of the workers, over the cap of 10"
    );
    assert!(
        peak >= 8,
        "the load should reach the cap (peak {peak} over {samples} samples)"
    );

    // A worker takes every slot and is killed while holding them.
    let (ready_read, ready_write) = {
        let mut fds = [0; 2];
        // SAFETY: a pipe for the child to say it holds its connections.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        (fds[0], fds[1])
    };
    let hog = {
        let (tag, file) = (tag.clone(), file.clone());
        fork_child(move || {
            let pool = pg_pool(&tag, &file, 10, 10, 0, Duration::from_secs(10));
            let held: Vec<_> = (0..10).filter_map(|_| pool.get().ok()).collect();
            let byte = [held.len() as u8];
            // SAFETY: writing one byte to the pipe.
            unsafe { libc::write(ready_write, byte.as_ptr().cast(), 1) };
            loop {
                thread::sleep(Duration::from_secs(60));
            }
        })
    };
    let mut byte = [0u8];
    // SAFETY: reading one byte from the pipe.
    assert_eq!(unsafe { libc::read(ready_read, byte.as_mut_ptr().cast(), 1) }, 1);
    assert_eq!(byte[0], 10, "the hog holds every slot");

    let parent = pg_pool(&tag, &file, 10, 2, 0, Duration::from_secs(5));
    let err = parent.get_timeout(Duration::from_millis(300)).unwrap_err();
    assert!(
        err.is_timeout() && err.to_string().contains("max_total_connections"),
        "{err}"
    );

    // SAFETY: killing our own child.
    unsafe { libc::kill(hog, libc::SIGKILL) };
    assert_eq!(wait_child(hog), -libc::SIGKILL);
    let started = Instant::now();
    let mut conn = parent
        .get_timeout(Duration::from_secs(5))
        .expect("the killed worker's slots are free");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_millis(500),
        "slots came back at once, not after {waited:?}"
    );
    let one: i32 = conn.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    drop(conn);
    assert!(eventually(Duration::from_secs(5), || count_tagged(
        &mut mon, &tag
    ) <= 2));
    let _ = std::fs::remove_file(file);
}

/// A pipe: (read end, write end).
fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) into a two-element array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn read_exact(fd: i32, buf: &mut [u8]) {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the buffer's unfilled tail.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        assert!(n > 0, "the child reports before it blocks");
        got += n as usize;
    }
}

#[test]
fn a_killed_parent_s_slots_come_back_even_while_its_forked_child_lives_on() {
    let file = cap_file("inherited");
    let (worker_read, worker_write) = pipe();
    let (master_read, master_write) = pipe();
    // The "master" takes both slots, forks a "worker" that inherits its descriptors and lives
    // on, then is killed. The worker must not keep the master's slots held.
    let master = {
        let file = file.clone();
        fork_child(move || {
            let (_fake, pool) = capped_fake(&file, 2, 2, 0);
            let held: Vec<_> = (0..2).filter_map(|_| pool.get().ok()).collect();
            // SAFETY: fork from the master; the worker only writes a byte and sleeps.
            let worker = unsafe { libc::fork() };
            if worker == 0 {
                // SAFETY: one byte to the pipe.
                unsafe { libc::write(worker_write, [1u8].as_ptr().cast(), 1) };
                loop {
                    thread::sleep(Duration::from_secs(60));
                }
            }
            let mut message = worker.to_le_bytes().to_vec();
            message.push(held.len() as u8);
            // SAFETY: writing the message to the pipe.
            unsafe { libc::write(master_write, message.as_ptr().cast(), message.len()) };
            loop {
                thread::sleep(Duration::from_secs(60));
            }
        })
    };
    let mut message = [0u8; 5];
    read_exact(master_read, &mut message);
    let mut ready = [0u8];
    read_exact(worker_read, &mut ready);
    let worker = i32::from_le_bytes(message[..4].try_into().unwrap());
    assert_eq!(message[4], 2, "the master holds both slots");
    let (_fake, pool) = capped_fake(&file, 2, 2, 0);
    assert!(
        pool.get_timeout(Duration::from_millis(200)).is_err(),
        "both slots are held"
    );
    // SAFETY: killing our own child.
    unsafe { libc::kill(master, libc::SIGKILL) };
    assert_eq!(wait_child(master), -libc::SIGKILL);
    let started = Instant::now();
    let got = pool.get_timeout(Duration::from_secs(3));
    let waited = started.elapsed();
    // SAFETY: the worker is the master's orphaned child: kill it by pid.
    unsafe { libc::kill(worker, libc::SIGKILL) };
    got.expect("the dead master's slots are free although its worker lives on");
    assert!(waited < Duration::from_millis(500), "{waited:?}");
    let _ = std::fs::remove_file(file);
}
