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

/// A few threads running one-off jobs as they come and one periodic round.
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
    periodic: Option<Periodic>,
    shutdown: bool,
}

struct Periodic {
    next: Instant,
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
                periodic: None,
                shutdown: false,
            }),
            ready: Condvar::new(),
        });
        let started = (0..threads)
            .filter(|i| {
                let queue = Arc::clone(&queue);
                let spawned = std::thread::Builder::new()
                    .name(format!("{name}-worker-{i}"))
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

    /// Runs `round` every `rate`, the first time `rate` from now.
    pub(crate) fn every(&self, rate: Duration, round: impl Fn() + Send + Sync + 'static) {
        self.queue.lock().periodic = Some(Periodic {
            next: Instant::now() + rate,
            rate,
            round: Arc::new(round),
            running: false,
        });
        self.queue.ready.notify_one();
    }

    /// Stops the periodic round (one already running finishes).
    pub(crate) fn stop_periodic(&self) {
        self.queue.lock().periodic = None;
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Not joined: the last reference to the pool may be dropped on one of these threads.
        self.queue.lock().shutdown = true;
        self.queue.ready.notify_all();
    }
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
        let wait = match &mut state.periodic {
            Some(periodic) if !periodic.running && now >= periodic.next => {
                periodic.running = true;
                periodic.next = now + periodic.rate;
                let round = Arc::clone(&periodic.round);
                drop(state);
                let _ = catch_unwind(AssertUnwindSafe(|| round()));
                state = queue.lock();
                if let Some(periodic) = &mut state.periodic {
                    periodic.running = false;
                }
                continue;
            }
            Some(periodic) if !periodic.running => Some(periodic.next - now),
            _ => None,
        };
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
