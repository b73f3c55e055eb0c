//! Every public duration option and argument accepts any `Duration`: driven through extreme
//! values (0, 1 ns, 1 ms, `Duration::MAX`, values near what `Instant` and `u64` seconds hold),
//! through the builder and through every settings form (URL, `POOL_OPTIONS`, environment),
//! across the checkout paths (`get`, `get_timeout`, `try_get`, an idle connection that fails
//! its checks, a failed pre-ping, a wait behind held connections), nothing panics and no slot
//! is lost: once every guard is dropped, `state()` shows nothing opening, nobody waiting,
//! nothing in use and no more open than the pool allows.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::Ordering::SeqCst;
use std::thread;
use std::time::Duration;

use common::{Fake, eventually};
use millpond::{
    Builder, Error, Pool, PoolOptions,
    settings::{DatabaseSettings, Databases, Engine, SettingValue},
};
use proptest::prelude::*;

/// The pool every case starts from: two connections, no overflow, nothing optional, so that a
/// case's one extreme value is the only thing out of the ordinary.
const LIMIT: usize = 2;

fn base() -> PoolOptions {
    let mut o = PoolOptions::default();
    o.pool_size = LIMIT;
    o.max_overflow = Some(0);
    o.timeout = Duration::from_secs(5);
    o.recycle = None;
    o.idle_timeout = None;
    o.pre_ping_bypass = Duration::ZERO;
    o.name = "durations".to_owned();
    o
}

/// Durations at the edges: zero, the smallest, a small one, what `Instant` can no longer add
/// on Linux (`i64::MAX` seconds and just past it), values near `u64::MAX` seconds, the largest.
const EXTREMES: [Duration; 10] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_millis(1),
    Duration::from_secs(i64::MAX as u64),
    Duration::from_secs(i64::MAX as u64 + 1),
    Duration::from_secs(10_000_000_000_000_000_000),
    Duration::from_secs(u64::MAX - 1),
    Duration::from_secs(u64::MAX),
    Duration::new(u64::MAX, 999_999_998),
    Duration::MAX,
];

/// One duration option: its builder name, its settings key, its builder setter, and whether
/// zero is refused (the others accept zero).
struct DurationOption {
    name: &'static str,
    key: &'static str,
    set: fn(Builder<Fake>, Duration) -> Builder<Fake>,
    zero_refused: bool,
}

const OPTIONS: [DurationOption; 10] = [
    DurationOption {
        name: "fairness_window",
        key: "FAIRNESS_WINDOW",
        set: |b, d| b.fairness_window(d),
        zero_refused: false,
    },
    DurationOption {
        name: "timeout",
        key: "TIMEOUT",
        set: |b, d| b.timeout(d),
        zero_refused: true,
    },
    DurationOption {
        name: "recycle",
        key: "RECYCLE",
        set: |b, d| b.recycle(d),
        zero_refused: true,
    },
    DurationOption {
        name: "idle_timeout",
        key: "IDLE_TIMEOUT",
        set: |b, d| b.idle_timeout(d),
        zero_refused: true,
    },
    DurationOption {
        name: "pre_ping_bypass",
        key: "PRE_PING_BYPASS",
        set: |b, d| b.pre_ping_bypass(d),
        zero_refused: false,
    },
    DurationOption {
        name: "validation_timeout",
        key: "VALIDATION_TIMEOUT",
        set: |b, d| b.validation_timeout(d),
        zero_refused: true,
    },
    DurationOption {
        name: "leak_threshold",
        key: "LEAK_THRESHOLD",
        set: |b, d| b.leak_threshold(d),
        zero_refused: true,
    },
    DurationOption {
        name: "reaper_rate",
        key: "REAPER_RATE",
        set: |b, d| b.reaper_rate(d),
        zero_refused: true,
    },
    DurationOption {
        name: "keepalive",
        key: "KEEPALIVE",
        set: |b, d| b.keepalive(d),
        zero_refused: true,
    },
    DurationOption {
        name: "metrics_interval",
        key: "METRICS_INTERVAL",
        set: |b, d| b.metrics_interval(d),
        zero_refused: true,
    },
];

/// A checkout's outcome as the time it was allowed makes acceptable: a connection, or a timeout
/// when that time was too short to open one. Anything else fails the case.
fn served<T>(result: Result<T, Error>, allowed: Duration, what: &str) -> Option<T> {
    match result {
        Ok(conn) => Some(conn),
        Err(err) if err.is_timeout() && allowed < Duration::from_secs(1) => None,
        Err(err) => panic!("{what} (allowed {allowed:?}): {err}"),
    }
}

/// Waits until the pool is at rest (background connects and closes finished), then checks that
/// no slot was lost.
fn assert_nothing_lost(pool: &Pool<Fake>, what: &str) {
    let settled = eventually(Duration::from_secs(5), || {
        let s = pool.state();
        s.opening == 0 && s.closing == 0 && s.waiting == 0 && s.in_use == 0
    });
    let s = pool.state();
    assert!(
        settled && s.open <= LIMIT && s.idle <= s.open,
        "{what}: a slot was lost: {s:?}"
    );
}

/// Runs `pool` through every checkout path, with `arg` as the `get_timeout` argument.
fn exercise(pool: &Pool<Fake>, fake: &Fake, arg: Duration) {
    let timeout = pool.options().timeout;

    // A cold pool: the checkouts open connections.
    let a = served(pool.get(), timeout, "get on a cold pool");
    let b = served(pool.get_timeout(arg), arg, "get_timeout on a cold pool");
    drop((a, b));
    assert_nothing_lost(pool, "after the cold checkouts");

    // A warm pool.
    let c = pool.try_get().expect("try_get on a warm pool");
    drop(c);
    drop(served(pool.get(), timeout, "get on a warm pool"));

    // An idle connection that fails its checks (invalidated: the path of an expired one).
    pool.invalidate();
    drop(served(
        pool.get_timeout(arg),
        arg,
        "get_timeout with an invalidated idle connection",
    ));
    assert_nothing_lost(pool, "after an idle connection failed its checks");

    // An idle connection that fails its pre-ping (when the bypass window lets it be pinged).
    drop(served(pool.get(), timeout, "get to leave a connection idle"));
    fake.state.fail_ping.store(true, SeqCst);
    let pinged = pool.get_timeout(arg);
    fake.state.fail_ping.store(false, SeqCst);
    drop(served(
        pinged,
        arg,
        "get_timeout with an idle connection failing its pre-ping",
    ));
    assert_nothing_lost(pool, "after a failed pre-ping");

    // Every connection held: `try_get` finds none, a short checkout waits in the queue and
    // times out, a long one is served by a connection given back.
    let mut held: Vec<_> = (0..LIMIT)
        .map(|_| {
            pool.get_timeout(Duration::from_secs(5))
                .expect("a pool with free slots serves")
        })
        .collect();
    assert!(matches!(pool.try_get(), Ok(None)), "try_get on a full pool");
    let err = pool
        .get_timeout(Duration::from_millis(20))
        .expect_err("a full pool times out");
    assert!(err.is_timeout(), "{err}");
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || pool.get_timeout(arg).map(drop))
    };
    assert!(
        eventually(Duration::from_secs(5), || pool.state().waiting == 1
            || waiter.is_finished()),
        "the waiter never queued: {:?}",
        pool.state()
    );
    drop(held.pop());
    if !eventually(Duration::from_secs(5), || waiter.is_finished()) {
        // Never served: closing the pool wakes it, so the case fails instead of hanging.
        pool.close();
        panic!(
            "a waiter was not served by a connection given back: {:?}",
            pool.state()
        );
    }
    match waiter.join() {
        Ok(result) => drop(served(result, arg, "a waiter behind held connections")),
        Err(panic) => resume_unwind(panic),
    }
    drop(held);
    assert_nothing_lost(pool, "after the wait behind held connections");
}

/// Builds from `builder` and exercises the pool with each extreme `get_timeout` argument; a
/// refusal must be a config error naming `option`, and only for zero where zero is refused.
fn build_and_exercise(builder: Builder<Fake>, option: &DurationOption, value: Duration, arg: Duration) {
    let fake = Fake::new();
    match builder.build(fake.clone()) {
        Ok(pool) => {
            assert!(
                !(option.zero_refused && value.is_zero()),
                "{} = 0 was accepted",
                option.name
            );
            exercise(&pool, &fake, arg);
        }
        Err(Error::Config(err)) => {
            assert!(
                option.zero_refused && value.is_zero(),
                "{} = {value:?} was refused: {err}",
                option.name
            );
            assert_eq!(err.option, option.name, "{err}");
        }
        Err(other) => panic!("{} = {value:?}: {other}", option.name),
    }
}

/// Runs `case` for every item, catching panics, and fails once at the end listing every failed
/// case: one run shows every failure, not just the first.
fn every_case<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>, case: impl Fn(&T)) {
    let mut failures = Vec::new();
    let mut count = 0;
    for item in items {
        count += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| case(&item))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{item:?}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_duration_option_set_through_the_builder_accepts_any_duration() {
    let cases = OPTIONS
        .iter()
        .flat_map(|o| EXTREMES.iter().map(move |d| (o.name, *d)));
    every_case(cases, |(name, value)| {
        let option = OPTIONS.iter().find(|o| o.name == *name).unwrap();
        let builder = (option.set)(Builder::from_options(base()), *value);
        build_and_exercise(builder, option, *value, Duration::from_secs(5));
    });
}

#[test]
fn get_timeout_accepts_any_duration_on_every_checkout_path() {
    every_case(EXTREMES.iter().skip(1), |arg| {
        let fake = Fake::new();
        let pool = Builder::from_options(base()).build(fake.clone()).unwrap();
        exercise(&pool, &fake, **arg);
    });
}

#[test]
fn get_timeout_zero_never_waits_and_loses_nothing() {
    let (fake, pool) = common::fake_pool(|b| b.pool_size(LIMIT).max_overflow(0));
    // Zero: an idle connection may be handed out, nothing is waited for.
    for _ in 0..3 {
        match pool.get_timeout(Duration::ZERO) {
            Ok(conn) => drop(conn),
            Err(err) => assert!(err.is_timeout(), "{err}"),
        }
    }
    let held: Vec<_> = (0..LIMIT).map(|_| pool.get().unwrap()).collect();
    assert!(pool.get_timeout(Duration::ZERO).unwrap_err().is_timeout());
    drop(held);
    fake.state.fail_ping.store(true, SeqCst);
    let _ = pool.get_timeout(Duration::ZERO);
    fake.state.fail_ping.store(false, SeqCst);
    assert_nothing_lost(&pool, "after get_timeout(0)");
}

#[test]
fn get_timeout_max_with_an_expired_idle_connection_replaces_it() {
    let (fake, pool) = common::fake_pool(|b| {
        b.pool_size(LIMIT)
            .max_overflow(0)
            .recycle(Duration::from_millis(1))
    });
    drop(pool.get().unwrap());
    // The lifetime must pass on the pool's coarse clock (a few milliseconds a tick): this is
    // time passing, not a wait for another thread.
    thread::sleep(Duration::from_millis(20));
    let conn = pool
        .get_timeout(Duration::MAX)
        .expect("the expired connection is replaced");
    assert_eq!(conn.serial, 2, "a new connection");
    drop(conn);
    // The expired one is closed on a worker thread. (The new one may have outlived its 1 ms
    // too by the time it came back, and been closed on return.)
    assert!(
        eventually(Duration::from_secs(5), || pool.stats().recycled >= 1),
        "{:?}",
        pool.stats()
    );
    assert_eq!(fake.state.opens(), 2);
    assert_nothing_lost(&pool, "after get_timeout(MAX) replaced an expired connection");
}

#[test]
fn get_timeout_max_with_an_idle_connection_failing_its_pre_ping_replaces_it() {
    let (fake, pool) =
        common::fake_pool(|b| b.pool_size(LIMIT).max_overflow(0).pre_ping_bypass(Duration::ZERO));
    drop(pool.get().unwrap());
    fake.state.fail_ping.store(true, SeqCst);
    let result = catch_unwind(AssertUnwindSafe(|| pool.get_timeout(Duration::MAX).map(drop)));
    fake.state.fail_ping.store(false, SeqCst);
    match result {
        Ok(result) => result.expect("the connection is replaced"),
        Err(panic) => {
            // The state left behind is the bug that matters: show it with the panic.
            eprintln!("state after the panic: {:?}", pool.state());
            resume_unwind(panic)
        }
    }
    assert_eq!(fake.state.opens(), 2);
    assert_nothing_lost(
        &pool,
        "after get_timeout(MAX) replaced a connection failing its ping",
    );
}

// --- The settings forms -------------------------------------------------------------------

/// Seconds as settings spell them, with what each must give: `Some(d)` a duration of about `d`
/// (to be accepted or refused by validation as the builder would), `None` a settings error.
const SECONDS: [(&str, Option<Duration>); 17] = [
    ("0", Some(Duration::ZERO)),
    ("1e-9", Some(Duration::from_nanos(1))),
    ("0.001", Some(Duration::from_millis(1))),
    ("1", Some(Duration::from_secs(1))),
    ("9223372036854775807", Some(Duration::from_secs(i64::MAX as u64))),
    ("9.3e18", Some(Duration::from_secs(9_300_000_000_000_000_000))),
    ("1e19", Some(Duration::from_secs(10_000_000_000_000_000_000))),
    ("1.8e19", Some(Duration::from_secs(18_000_000_000_000_000_000))),
    // u64::MAX is 2^64 as a float: beyond what a Duration holds.
    ("18446744073709551615", None),
    ("18446744073709551616", None),
    ("1e20", None),
    ("1e300", None),
    ("inf", None),
    ("-inf", None),
    ("NaN", None),
    ("-0.5", None),
    ("-2", None),
];

/// Builds from settings `options` (or their error) and checks the outcome against `expected`.
fn settings_case(
    option: &DurationOption,
    text: &str,
    expected: Option<Duration>,
    options: Result<PoolOptions, millpond::ConfigError>,
) {
    let options = match (options, expected) {
        (Ok(options), Some(_)) => options,
        (Err(err), None) => {
            let shown = err.to_string();
            assert!(
                shown.to_ascii_uppercase().contains(option.key),
                "the error names the option: {shown}"
            );
            assert!(
                shown.contains("seconds"),
                "the error says what is accepted: {shown}"
            );
            return;
        }
        (Ok(options), None) => panic!("{} = {text} was accepted: {options:?}", option.key),
        (Err(err), Some(_)) => panic!("{} = {text} was refused: {err}", option.key),
    };
    let value = expected.unwrap();
    let builder = Builder::from_options(options).name("durations-settings");
    build_and_exercise(builder, option, value, Duration::from_secs(5));
}

/// The settings a case starts from, as `POOL_OPTIONS` entries: those of [`base`].
const BASE_SETTINGS: [(&str, &str); 4] = [
    ("POOL_SIZE", "2"),
    ("MAX_OVERFLOW", "0"),
    ("RECYCLE", "-1"),
    ("IDLE_TIMEOUT", "-1"),
];

fn seconds_cases() -> impl Iterator<Item = (&'static str, &'static str, Option<Duration>)> {
    OPTIONS.iter().flat_map(|o| {
        SECONDS
            .iter()
            .map(move |(text, expected)| (o.key, *text, *expected))
    })
}

#[test]
fn every_duration_option_in_a_settings_url_is_a_duration_or_a_clear_error() {
    every_case(seconds_cases(), |(key, text, expected)| {
        let option = OPTIONS.iter().find(|o| o.key == *key).unwrap();
        let mut url = "sqlite::memory:?".to_owned();
        for (k, v) in BASE_SETTINGS {
            url.push_str(&format!("{}={v}&", k.to_ascii_lowercase()));
        }
        url.push_str(&format!("{}={text}", key.to_ascii_lowercase()));
        let options = DatabaseSettings::from_url(&url).map(|s| s.pool_options());
        settings_case(option, text, *expected, options);
    });
}

#[test]
fn every_duration_option_in_pool_options_is_a_duration_or_a_clear_error() {
    every_case(seconds_cases(), |(key, text, expected)| {
        let option = OPTIONS.iter().find(|o| o.key == *key).unwrap();
        // As a number where it is one (a TOML or Python float), else as text.
        let value = match text.parse::<f64>() {
            Ok(x) if x.fract() == 0.0 && x.abs() < 9e18 => SettingValue::Int(x as i64),
            Ok(x) => SettingValue::Float(x),
            Err(_) => SettingValue::Str((*text).to_owned()),
        };
        let mut settings = DatabaseSettings::new(Engine::Sqlite);
        for (k, v) in BASE_SETTINGS {
            settings = settings.pool_option(k, v).unwrap();
        }
        let options = settings.pool_option(key, value).map(|s| s.pool_options());
        settings_case(option, text, *expected, options);
    });
}

#[test]
fn every_duration_option_in_the_environment_is_a_duration_or_a_clear_error() {
    const PREFIX: &str = "MILLPOND_DATABASES__DEFAULT__";
    every_case(seconds_cases(), |(key, text, expected)| {
        let option = OPTIONS.iter().find(|o| o.key == *key).unwrap();
        let mut vars = vec![(format!("{PREFIX}ENGINE"), Engine::Sqlite.to_string())];
        for (k, v) in BASE_SETTINGS {
            vars.push((format!("{PREFIX}POOL_OPTIONS__{k}"), v.to_owned()));
        }
        vars.push((format!("{PREFIX}POOL_OPTIONS__{key}"), (*text).to_owned()));
        let options = Databases::from_vars(vars)
            .map(|d| d.get("default").unwrap().pool_options())
            .map_err(millpond::ConfigError::from);
        settings_case(option, text, *expected, options);
    });
}

#[test]
fn a_settings_url_with_huge_durations_or_a_control_character_in_its_name_makes_a_working_pool() {
    // The inputs that panicked in the fuzzing of issue 12, made into pools by the registry as a
    // user's configuration would be.
    let queries = [
        "reaper_rate=1e19",
        "fairness_window=1e19",
        "name=a%00b",
        "name=a%0Ab%1B",
        "timeout=1.8e19&validation_timeout=1.8e19&fairness_window=1.8e19&reaper_rate=1.8e19",
    ];
    every_case(queries, |query| {
        let url = format!("sqlite::memory:?pool_size=1&max_overflow=0&{query}");
        let settings = DatabaseSettings::from_url(&url).unwrap();
        let registry = millpond::settings::Registry::new(Databases::new().with("default", settings));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let pool = registry
                .pool::<millpond::sqlite::SqliteManager>("default")
                .unwrap_or_else(|err| panic!("{err}"));
            if let Some(name) = query.strip_prefix("name=") {
                let decoded = name
                    .replace("%00", "\0")
                    .replace("%0A", "\n")
                    .replace("%1B", "\u{1b}");
                assert_eq!(pool.options().name, decoded, "the name is kept as given");
            }
            let held = pool.get().unwrap();
            // A waiting checkout, behind the held connection.
            let err = pool.get_timeout(Duration::from_millis(20)).unwrap_err();
            assert!(err.is_timeout(), "{err}");
            drop(held);
            let s = pool.state();
            assert!(
                s.opening == 0 && s.waiting == 0 && s.in_use == 0 && s.open <= 1,
                "{s:?}"
            );
        }));
        registry.close_all();
        if let Err(panic) = outcome {
            resume_unwind(panic);
        }
    });
}

// --- Any combination ------------------------------------------------------------------------

fn extreme() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => proptest::sample::select(EXTREMES.to_vec()),
        1 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        1 => (0u64..10_000_000).prop_map(Duration::from_micros),
    ]
}

fn optional() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![1 => Just(None), 2 => extreme().prop_map(Some)]
}

#[derive(Debug, Clone)]
struct Combination {
    fairness_window: Duration,
    timeout: Duration,
    recycle: Option<Duration>,
    idle_timeout: Option<Duration>,
    pre_ping: bool,
    pre_ping_bypass: Duration,
    validation_timeout: Duration,
    leak_threshold: Option<Duration>,
    reaper_rate: Duration,
    keepalive: Option<Duration>,
    arg: Duration,
}

fn combination() -> impl Strategy<Value = Combination> {
    (
        (
            extreme(),
            extreme(),
            optional(),
            optional(),
            any::<bool>(),
            extreme(),
        ),
        (extreme(), optional(), extreme(), optional(), extreme()),
    )
        .prop_map(
            |(
                (fairness_window, timeout, recycle, idle_timeout, pre_ping, pre_ping_bypass),
                (validation_timeout, leak_threshold, reaper_rate, keepalive, arg),
            )| Combination {
                fairness_window,
                timeout,
                recycle,
                idle_timeout,
                pre_ping,
                pre_ping_bypass,
                validation_timeout,
                leak_threshold,
                reaper_rate,
                keepalive,
                arg,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_combination_of_durations_is_refused_clearly_or_works(c in combination()) {
        let mut o = base();
        o.fairness_window = c.fairness_window;
        o.timeout = c.timeout;
        o.recycle = c.recycle;
        o.idle_timeout = c.idle_timeout;
        o.pre_ping = c.pre_ping;
        o.pre_ping_bypass = c.pre_ping_bypass;
        o.validation_timeout = c.validation_timeout;
        o.leak_threshold = c.leak_threshold;
        o.reaper_rate = c.reaper_rate;
        o.keepalive = c.keepalive;
        let fake = Fake::new();
        match Builder::from_options(o).build(fake.clone()) {
            Ok(pool) => exercise(&pool, &fake, c.arg),
            Err(Error::Config(err)) => {
                // Only zero where zero is refused, or the documented combinations.
                let shown = err.to_string();
                prop_assert!(
                    shown.contains("greater than zero")
                        || (err.option == "idle_timeout" && shown.contains("longer than recycle"))
                        || (err.option == "keepalive" && shown.contains("shorter than recycle")),
                    "{}", shown
                );
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}
