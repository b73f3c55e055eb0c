//! The pool core's tests, one module per concern, in one test binary (one link instead of
//! thirteen), all on the fake backend of `tests/common`. Every test here may run beside any
//! other in the same process: none changes process-wide state but the capturing logger, and
//! the tests that read it look only at the lines of their own pool's name.

#[path = "../common/mod.rs"]
mod common;

mod checkin;
mod classify;
mod close;
mod config;
mod connect_errors;
mod fairness;
mod hedged_connect;
mod hooks;
mod max_waiting;
mod model;
mod overflow;
mod pre_ping;
#[cfg(feature = "r2d2")]
mod r2d2_adapter;
mod reaper;
mod recycle;
mod resize;
mod suspend;
mod timeout;
