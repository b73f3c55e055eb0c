//! The pool's background threads: the reaper's periodic round and the closes borrowers hand
//! off. Built on std's `Mutex` and `Condvar`, which keep no process-wide lock tables: a fork at
//! any moment leaves nothing locked that the child's own workers will need. (parking_lot, under
//! scheduled-thread-pool, keeps a global table whose lock a parent's thread may hold at the
//! instant of the fork; a child's new threads then hang on it for good.)

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send + 'static>;
type Round = Arc<dyn Fn() + Send + Sync + 'static>;

/// A few threads running one-off jobs as they come and a few periodic rounds (the reaper's, the
/// metrics').
pub(crate) struct Workers {
    queue: Arc<Queue>,
    threads: usize,
}

struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

struct QueueState {
    jobs: VecDeque<Job>,
    periodic: Vec<Periodic>,
    shutdown: bool,
}

struct Periodic {
    /// When the round runs next; `None` when the rate is beyond what the clock can add (the
    /// round never runs).
    next: Option<Instant>,
    rate: Duration,
    round: Round,
    /// A round is running: another thread must not start one.
    running: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Workers {
    /// Starts `threads` threads named after the pool. A thread that cannot be started is logged;
    /// with none, jobs run in the thread that hands them over.
    pub(crate) fn new(name: &str, threads: usize) -> Self {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::new(),
                periodic: Vec::new(),
                shutdown: false,
            }),
            ready: Condvar::new(),
        });
        let started = (0..threads)
            .filter(|i| {
                let queue = Arc::clone(&queue);
                let spawned = std::thread::Builder::new()
                    .name(thread_name(name, &format!("worker-{i}")))
                    .spawn(move || work(&queue));
                if let Err(err) = &spawned {
                    log::warn!(target: "millpond::pool", "[{name}] could not start a worker thread: {err}");
                }
                spawned.is_ok()
            })
            .count();
        Workers {
            queue,
            threads: started,
        }
    }

    /// Runs `job` on a worker thread, soon.
    pub(crate) fn execute(&self, job: impl FnOnce() + Send + 'static) {
        if self.threads == 0 {
            job();
            return;
        }
        self.queue.lock().jobs.push_back(Box::new(job));
        self.queue.ready.notify_one();
    }

    /// Runs `round` every `rate`, the first time `rate` from now, beside the rounds already
    /// scheduled. Any rate is accepted: one the clock cannot add to now means never.
    pub(crate) fn every(&self, rate: Duration, round: impl Fn() + Send + Sync + 'static) {
        self.queue.lock().periodic.push(Periodic {
            next: Instant::now().checked_add(rate),
            rate,
            round: Arc::new(round),
            running: false,
        });
        self.queue.ready.notify_all();
    }

    /// Stops the periodic rounds (one already running finishes).
    pub(crate) fn stop_periodic(&self) {
        self.queue.lock().periodic.clear();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Not joined: the last reference to the pool may be dropped on one of these threads.
        self.queue.lock().shutdown = true;
        self.queue.ready.notify_all();
    }
}

/// The name of one of a pool's threads: `{pool}-{role}`. A pool's name is any text, but a
/// thread's name may not hold a NUL byte (spawning panics) and the system shows control
/// characters raw, so each control character becomes `?`. The pool's own name is unchanged.
pub(crate) fn thread_name(pool: &str, role: &str) -> String {
    let pool: String = pool
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!("{pool}-{role}")
}

/// A worker thread's life.
fn work(queue: &Queue) {
    let mut state = queue.lock();
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            // A panicking job (a backend's close) must not take the worker with it.
            let _ = catch_unwind(AssertUnwindSafe(job));
            state = queue.lock();
            continue;
        }
        if state.shutdown {
            return;
        }
        let now = Instant::now();
        let due = state
            .periodic
            .iter_mut()
            .find(|p| !p.running && p.next.is_some_and(|next| now >= next));
        if let Some(periodic) = due {
            periodic.running = true;
            periodic.next = now.checked_add(periodic.rate);
            let round = Arc::clone(&periodic.round);
            drop(state);
            let _ = catch_unwind(AssertUnwindSafe(|| round()));
            state = queue.lock();
            // Found by identity: the rounds may have been stopped (and others scheduled) meanwhile.
            if let Some(periodic) = state.periodic.iter_mut().find(|p| Arc::ptr_eq(&p.round, &round)) {
                periodic.running = false;
            }
            continue;
        }
        let wait = state
            .periodic
            .iter()
            .filter(|p| !p.running)
            .filter_map(|p| p.next)
            .min()
            .map(|next| next.saturating_duration_since(now));
        state = match wait {
            Some(wait) => {
                queue
                    .ready
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => queue.ready.wait(state).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_rate_beyond_the_clock_is_accepted_and_never_runs_while_jobs_still_do() {
        let workers = Workers::new("rates", 1);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for rate in [
            Duration::from_secs(i64::MAX as u64),
            Duration::from_secs(10_000_000_000_000_000_000),
            Duration::MAX,
        ] {
            let ran = Arc::clone(&ran);
            workers.every(rate, move || ran.store(true, std::sync::atomic::Ordering::SeqCst));
        }
        // The worker still serves jobs (and so did not die on the rate).
        let (tx, rx) = mpsc::channel();
        workers.execute(move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(5)).expect("the job ran");
        assert!(workers.queue.lock().periodic.iter().all(|p| p.next.is_none()));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "a round ran");
    }

    #[test]
    fn several_rounds_each_run_at_their_own_rate_until_stopped() {
        let workers = Workers::new("rounds", 2);
        let (tx, rx) = mpsc::channel();
        for (round, rate) in [
            ("reaper", Duration::from_millis(3)),
            ("metrics", Duration::from_millis(5)),
        ] {
            let tx = std::sync::Mutex::new(tx.clone());
            workers.every(rate, move || {
                let _ = tx.lock().unwrap().send(round);
            });
        }
        drop(tx);
        let (mut reaper, mut metrics) = (0, 0);
        while reaper < 3 || metrics < 3 {
            match rx
                .recv_timeout(Duration::from_secs(5))
                .expect("both rounds keep running")
            {
                "reaper" => reaper += 1,
                _ => metrics += 1,
            }
        }
        workers.stop_periodic();
        assert!(workers.queue.lock().periodic.is_empty());
    }

    #[test]
    fn thread_names_replace_control_characters_and_keep_the_rest() {
        assert_eq!(thread_name("a\0b", "worker-0"), "a?b-worker-0");
        assert_eq!(thread_name("x\n\u{7f}\u{85}y", "connect"), "x???y-connect");
        assert_eq!(thread_name("réplica ✓", "connect"), "réplica ✓-connect");
        // And such a name makes threads.
        let workers = Workers::new("a\0b", 1);
        assert_eq!(workers.threads, 1);
    }
}
