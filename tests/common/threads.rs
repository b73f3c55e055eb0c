//! Threads started together: for the tests that need several callers at the pool at once.

use std::panic::resume_unwind;
use std::sync::Barrier;
use std::thread;

/// Runs `body(0)` … `body(n - 1)` on `n` threads lined up behind a barrier, so that they start
/// at once, and returns what each returned, in order; a panic in a thread is raised again here.
pub fn together<T: Send>(n: usize, body: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = Barrier::new(n);
    let (start, body) = (&start, &body);
    thread::scope(|scope| {
        let threads: Vec<_> = (0..n)
            .map(|i| {
                scope.spawn(move || {
                    start.wait();
                    body(i)
                })
            })
            .collect();
        join_all(threads)
    })
}

/// Runs `here` on this thread and `there` on another, released at the same instant by a
/// barrier; returns both results, raising a panic of `there` again here.
pub fn race<A, B: Send>(here: impl FnOnce() -> A, there: impl FnOnce() -> B + Send) -> (A, B) {
    let go = Barrier::new(2);
    let go = &go;
    thread::scope(|scope| {
        let other = scope.spawn(move || {
            go.wait();
            there()
        });
        go.wait();
        let a = here();
        let b = join_all(vec![other]).pop().expect("one thread");
        (a, b)
    })
}

/// Joins every thread, then raises the first panic among them again (with its own message).
fn join_all<T>(threads: Vec<thread::ScopedJoinHandle<'_, T>>) -> Vec<T> {
    let results: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|panic| resume_unwind(panic)))
        .collect()
}
