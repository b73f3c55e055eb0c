//! Turns the benchmark programs' results (`target/bench/*.tsv`) into BENCHMARKS.md and
//! benchmarks.svg: the tables, the ratios, and where each goal stands. Run by `scripts/bench`
//! after the benchmarks; it measures nothing itself.
//!
//! ```text
//! cargo bench --bench report -- [--in target/bench] [--md BENCHMARKS.md] [--svg benchmarks.svg]
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// One result: (load, peer, threads, pool, metric) → value.
#[derive(Default)]
struct Results {
    values: BTreeMap<(String, String, String, String, String), f64>,
    /// Peers in the order they first appear, per load.
    peers: BTreeMap<String, Vec<String>>,
    /// The spike's time series: peer → (µs, open).
    series: BTreeMap<String, Vec<(f64, f64)>>,
}

impl Results {
    fn get(&self, load: &str, peer: &str, threads: &str, pool: &str, metric: &str) -> Option<f64> {
        self.values
            .get(&(
                load.into(),
                peer.into(),
                threads.into(),
                pool.into(),
                metric.into(),
            ))
            .copied()
    }

    /// The value for a load and peer whatever its threads and pool columns say.
    fn any(&self, load: &str, peer: &str, metric: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|((l, p, _, _, m), _)| l == load && p == peer && m == metric)
            .map(|(_, v)| *v)
    }

    fn peers(&self, load: &str) -> &[String] {
        self.peers.get(load).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn read(dir: &Path) -> Results {
    let mut results = Results::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("report: no results in {} (run scripts/bench)", dir.display());
        std::process::exit(1);
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if name == "spike_series.tsv" {
            for line in text.lines().skip(1) {
                let cols: Vec<&str> = line.split('\t').collect();
                if let [t, peer, open, ..] = cols[..]
                    && let (Ok(t), Ok(open)) = (t.parse::<f64>(), open.parse::<f64>())
                {
                    results.series.entry(peer.to_owned()).or_default().push((t, open));
                }
            }
            continue;
        }
        if !name.ends_with(".tsv") {
            continue;
        }
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [load, peer, threads, pool, metric, value, _unit] = cols[..] else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else { continue };
            let peers = results.peers.entry(load.to_owned()).or_default();
            if !peers.iter().any(|p| p == peer) {
                peers.push(peer.to_owned());
            }
            results.values.insert(
                (
                    load.into(),
                    peer.into(),
                    threads.into(),
                    pool.into(),
                    metric.into(),
                ),
                value,
            );
        }
    }
    results
}

fn mops(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.2} M/s", v / 1e6))
}

fn kops(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| {
        if v >= 1e6 {
            format!("{:.2} M/s", v / 1e6)
        } else {
            format!("{:.1} k/s", v / 1e3)
        }
    })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn x(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.2}×"))
}

fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

fn cycle(r: &Results, md: &mut String) {
    let peers = r.peers("cycle");
    if peers.is_empty() {
        return;
    }
    writeln!(md, "## Connection cycle\n").unwrap();
    writeln!(
        md,
        "HikariCP's own benchmark: each thread loops `get` + drop against a stub that does no I/O; no \
         overflow, min idle 0, timeout 8 s. Median of alternated rounds, operations per second. \
         HikariCP 2.7.9 runs in one JVM beside the Rust peers, warmed up first. millpond is a \
         default build (no `metrics`, no `tracing`; their cost has a table of its own below). \
         `millpond` runs on a stub manager that reports its transaction state, as the crate's \
         backends do; `millpond-unknown-state` on one with the trait's default (`Unknown`), as \
         r2d2-adapted managers have, so that every return goes through `reset`.\n"
    )
    .unwrap();
    let mut pools: Vec<String> = r
        .values
        .keys()
        .filter(|k| k.0 == "cycle")
        .map(|k| k.3.clone())
        .collect();
    pools.sort_by_key(|p| p.parse::<usize>().unwrap_or(0));
    pools.dedup();
    let mut threads: Vec<String> = r
        .values
        .keys()
        .filter(|k| k.0 == "cycle")
        .map(|k| k.2.clone())
        .collect();
    threads.sort_by_key(|t| t.parse::<usize>().unwrap_or(0));
    threads.dedup();
    writeln!(
        md,
        "| pool | threads | {} | millpond / HikariCP | unknown state / HikariCP | millpond / r2d2 (no test) |",
        peers.join(" | ")
    )
    .unwrap();
    writeln!(md, "|---:|---:|{}---:|---:|---:|", "---:|".repeat(peers.len())).unwrap();
    // The goals: twice HikariCP for the manager that tracks its state, HikariCP's own for the
    // trait default, at 1, 8 and 32 threads on pool 16 and 32 threads on pool 8.
    let goal_point =
        |pool: &str, t: &str| (pool == "16" && matches!(t, "1" | "8" | "32")) || (pool == "8" && t == "32");
    let (mut twice_hikari, mut unknown_hikari) = (None::<bool>, None::<bool>);
    let mut five_r2d2 = None::<bool>;
    for pool in &pools {
        for t in &threads {
            let cells: Vec<String> = peers
                .iter()
                .map(|p| mops(r.get("cycle", p, t, pool, "ops_per_s")))
                .collect();
            let mp = r.get("cycle", "millpond", t, pool, "ops_per_s");
            let hikari = r.get("cycle", "hikaricp", t, pool, "ops_per_s");
            let vs_h = ratio(mp, hikari);
            let unknown_vs_h = ratio(
                r.get("cycle", "millpond-unknown-state", t, pool, "ops_per_s"),
                hikari,
            );
            let vs_r = ratio(mp, r.get("cycle", "r2d2-no-test", t, pool, "ops_per_s"));
            if goal_point(pool, t) {
                if let Some(v) = vs_h {
                    twice_hikari = Some(twice_hikari.unwrap_or(true) && v >= 2.0);
                }
                if let Some(v) = unknown_vs_h {
                    unknown_hikari = Some(unknown_hikari.unwrap_or(true) && v >= 1.0);
                }
            }
            if t == "32"
                && let Some(v) = vs_r
            {
                five_r2d2 = Some(five_r2d2.unwrap_or(true) && v >= 5.0);
            }
            writeln!(
                md,
                "| {pool} | {t} | {} | {} | {} | {} |",
                cells.join(" | "),
                x(vs_h),
                x(unknown_vs_h),
                x(vs_r)
            )
            .unwrap();
        }
    }
    writeln!(
        md,
        "\nGoals, at 1, 8 and 32 threads on pool 16 and 32 threads on pool 8: at least twice HikariCP's \
         throughput: {}; with the trait-default manager, at least HikariCP's: {}. At least 5× r2d2 (no \
         checkout test) at 32 threads: {}.\n",
        mark(twice_hikari),
        mark(unknown_hikari),
        mark(five_r2d2)
    )
    .unwrap();
    hotpath(r, md);
}

/// Instructions per get + drop on one thread (`hotpath.tsv`, written by `scripts/bench` from
/// callgrind runs of `benches/hotpath.rs`): the figure no noise moves.
fn hotpath(r: &Results, md: &mut String) {
    let peers = r.peers("hotpath");
    if peers.is_empty() {
        return;
    }
    writeln!(
        md,
        "Instructions per get + drop, one thread, pool 8, counted by `valgrind --tool=callgrind` \
         (the difference between runs of 200 000 and 100 000 cycles of `benches/hotpath.rs`, so \
         set-up cancels out); the same binary gives the same count whatever the machine is doing. \
         Goal for millpond: at most 150.\n"
    )
    .unwrap();
    writeln!(md, "| {} |", peers.join(" | ")).unwrap();
    writeln!(md, "|{}", "---:|".repeat(peers.len())).unwrap();
    let cells: Vec<String> = peers
        .iter()
        .map(|p| {
            r.get("hotpath", p, "1", "8", "instructions_per_cycle")
                .map_or("—".into(), |v| format!("{v:.0}"))
        })
        .collect();
    writeln!(md, "| {} |\n", cells.join(" | ")).unwrap();
}

/// The cost of the `metrics` and `tracing` features in the connection cycle (peers of
/// `cycle.rs` built with them, under load `cycle-features`).
fn cycle_features(r: &Results, md: &mut String) {
    let peers = r.peers("cycle-features");
    if peers.is_empty() {
        return;
    }
    writeln!(
        md,
        "## Cost of the metrics and tracing features
"
    )
    .unwrap();
    writeln!(
        md,
        "The connection cycle again, in the same alternation, built with `--features metrics,tracing`. \
         Each column is millpond's throughput against `metrics-off` (the features compiled in, the \
         pool's metrics turned off with `metrics_interval(None)`): `metrics-no-recorder` is the \
         defaults with no recorder installed, `metrics-recorder` the defaults with \
         `metrics-exporter-prometheus`'s recorder, `metrics-every-checkout` that recorder with \
         `metrics_every_checkout(true)` (a sample per checkout into two histograms), \
         `tracing-subscriber` the defaults under a subscriber that takes every span.\n"
    )
    .unwrap();
    let others: Vec<&String> = peers.iter().filter(|p| *p != "metrics-off").collect();
    let names: Vec<&str> = others.iter().map(|p| p.as_str()).collect();
    writeln!(md, "| pool | threads | metrics-off | {} |", names.join(" | ")).unwrap();
    writeln!(md, "|---:|---:|---:|{}", "---:|".repeat(others.len())).unwrap();
    let mut points: Vec<(String, String)> = r
        .values
        .keys()
        .filter(|k| k.0 == "cycle-features")
        .map(|k| (k.3.clone(), k.2.clone()))
        .collect();
    points.sort_by_key(|(pool, threads)| {
        (
            pool.parse::<usize>().unwrap_or(0),
            threads.parse::<usize>().unwrap_or(0),
        )
    });
    points.dedup();
    let mut worst_recorder = None::<f64>;
    for (pool, threads) in &points {
        let get = |peer: &str, metric: &str| r.get("cycle-features", peer, threads, pool, metric);
        let cells: Vec<String> = others.iter().map(|p| x(get(p, "ratio_vs_metrics-off"))).collect();
        for peer in ["metrics-no-recorder", "metrics-recorder"] {
            if let Some(v) = get(peer, "ratio_vs_metrics-off") {
                worst_recorder = Some(worst_recorder.map_or(v, |w| w.min(v)));
            }
        }
        writeln!(
            md,
            "| {pool} | {threads} | {} | {} |",
            mops(get("metrics-off", "ops_per_s")),
            cells.join(" | ")
        )
        .unwrap();
    }
    writeln!(
        md,
        "\nGoal: with the defaults, at least 0.9× with or without a recorder at every grid point: {} (lowest {}). \
         `metrics_every_checkout` is off by default for the reason its column shows.\n",
        mark(worst_recorder.map(|w| w >= 0.9)),
        x(worst_recorder)
    )
    .unwrap();
}

fn servers(r: &Results, md: &mut String) {
    for (load, title) in [("postgres", "PostgreSQL"), ("mariadb", "MariaDB")] {
        let peers = r.peers(load);
        if peers.is_empty() {
            continue;
        }
        writeln!(md, "## Real server: {title}\n").unwrap();
        writeln!(
            md,
            "`SELECT 1` per checkout, 16 threads, pool 8, over loopback; median of alternated rounds.\n"
        )
        .unwrap();
        writeln!(md, "| peer | operations/s | millpond / peer |").unwrap();
        writeln!(md, "|---|---:|---:|").unwrap();
        let mp = r.any(load, "millpond", "ops_per_s");
        for peer in peers {
            let v = r.any(load, peer, "ops_per_s");
            writeln!(md, "| {peer} | {} | {} |", kops(v), x(ratio(mp, v))).unwrap();
        }
        let r2d2 = ratio(mp, r.any(load, "r2d2 (defaults)", "ops_per_s"));
        let cpr = ratio(mp, r.any(load, "connect per request", "ops_per_s"));
        let persistent = ratio(mp, r.any(load, "persistent per thread", "ops_per_s"));
        let pgbench = ratio(mp, r.any(load, "pgbench", "ops_per_s"));
        write!(
            md,
            "\nGoals: ≥ 1.9× r2d2's defaults: {} ({}); ≥ 20× connect per request: {} ({}); within 3% of one persistent connection per thread: {} ({})",
            mark(r2d2.map(|v| v >= 1.9)),
            x(r2d2),
            mark(cpr.map(|v| v >= 20.0)),
            x(cpr),
            mark(persistent.map(|v| v >= 0.97)),
            x(persistent)
        )
        .unwrap();
        if load == "postgres" {
            write!(
                md,
                "; ≥ 90% of pgbench's persistent rate: {} ({})",
                mark(pgbench.map(|v| v >= 0.9)),
                x(pgbench)
            )
            .unwrap();
        }
        writeln!(md, ".\n").unwrap();
        // One persistent connection per thread is the driver's own rate with nothing in
        // between: what a pool can be measured against, and the bound of the ratios above.
        let persistent_rate = r.any(load, "persistent per thread", "ops_per_s");
        if load == "postgres"
            && let Some(ceiling) = ratio(persistent_rate, r.any(load, "pgbench", "ops_per_s"))
        {
            writeln!(
                md,
                "For scale: one persistent connection per thread, the driver's own rate with no \
                 pool, ran at {} of pgbench's (libpq, 16 clients multiplexed on 2 threads); a \
                 pool on this driver gets past 90% only by beating persistent connections.\n",
                x(Some(ceiling))
            )
            .unwrap();
        }
        if load == "mariadb"
            && let Some(connects) = r.any(load, "connect per request", "ops_per_s")
        {
            // MariaDB opens connections cheaply over loopback, which bounds that ratio.
            writeln!(
                md,
                "MariaDB opened {:.0} connections a second here, so 20× connect per request would \
                 need {:.0} operations a second through the pool; one persistent connection per \
                 thread, with no pool at all, reached {} of connect per request.\n",
                connects,
                connects * 20.0,
                x(ratio(persistent_rate, Some(connects)))
            )
            .unwrap();
        }
    }
}

/// The parameterised loads on PostgreSQL, directly and through PgBouncer (`servers.rs`).
fn parameterised(r: &Results, md: &mut String) {
    let direct = [
        ("postgres, SELECT $1::int", "`SELECT $1::int` with `query_one`"),
        (
            "postgres, one row by id",
            "a one-row `SELECT id, name, n … WHERE id = $1` on a 1,000-row table",
        ),
    ];
    let through = "pgbouncer, SELECT $1::int";
    if direct.iter().all(|(load, _)| r.peers(load).is_empty()) && r.peers(through).is_empty() {
        return;
    }
    writeln!(
        md,
        "## Parameterised queries: PostgreSQL, and through PgBouncer
"
    )
    .unwrap();
    writeln!(
        md,
        "A checkout per query, 16 threads, pool 16, over loopback; median of alternated rounds. \
         millpond runs SQL text through its statement cache (directly) or unnamed with \
         `pgbouncer=true` (through a PgBouncer 1.18 of the bench's own in transaction mode, \
         `default_pool_size` 8).\n"
    )
    .unwrap();
    for (load, what) in direct
        .iter()
        .copied()
        .chain([(through, "`SELECT $1::int` through PgBouncer")])
    {
        let peers = r.peers(load);
        if peers.is_empty() {
            continue;
        }
        writeln!(md, "{what}:\n").unwrap();
        writeln!(md, "| peer | operations/s | millpond / peer |").unwrap();
        writeln!(md, "|---|---:|---:|").unwrap();
        let mp = r.any(load, "millpond", "ops_per_s");
        for peer in peers {
            let v = r.any(load, peer, "ops_per_s");
            writeln!(md, "| {peer} | {} | {} |", kops(v), x(ratio(mp, v))).unwrap();
        }
        if load == through {
            let simple = ratio(mp, r.any(load, "millpond, simple protocol", "ops_per_s"));
            writeln!(
                md,
                "\nGoal: ≥ 0.9× the simple protocol through the same PgBouncer: {} ({}).\n",
                mark(simple.map(|v| v >= 0.9)),
                x(simple)
            )
            .unwrap();
        } else {
            let text = ratio(mp, r.any(load, "persistent client, query_one(&str)", "ops_per_s"));
            let prepared = ratio(mp, r.any(load, "persistent client, prepared once", "ops_per_s"));
            writeln!(
                md,
                "\nGoals: ≥ 2× the driver's `query_one(&str)` on a persistent client: {} ({}); ≥ 0.9× a \
                 statement prepared once by hand: {} ({}).\n",
                mark(text.map(|v| v >= 2.0)),
                x(text),
                mark(prepared.map(|v| v >= 0.9)),
                x(prepared)
            )
            .unwrap();
        }
    }
}

fn spike(r: &Results, md: &mut String) {
    let peers = r.peers("spike");
    if peers.is_empty() {
        return;
    }
    writeln!(md, "## Spike\n").unwrap();
    writeln!(
        md,
        "HikariCP's spike test: connecting takes 150 ms and a request holds its connection 2 ms; up to \
         50 connections, 5 kept idle; 50 requests arrive at once. Connections are counted by the stub \
         (established, not yet closed).\n"
    )
    .unwrap();
    writeln!(md, "| peer | open at end | 1 s later | connects | peak open | time to serve all | latency p50 | latency max |").unwrap();
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    let n = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}"));
    let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1} ms"));
    for peer in peers {
        let g = |m: &str| r.any("spike", peer, m);
        writeln!(
            md,
            "| {peer} | {} | {} | {} | {} | {} | {} | {} |",
            n(g("open_at_end")),
            n(g("open_after_1s")),
            n(g("connects")),
            n(g("peak_open")),
            ms(g("total_ms")),
            ms(g("latency_p50_ms")),
            ms(g("latency_max_ms"))
        )
        .unwrap();
    }
    let end = r.any("spike", "millpond", "open_at_end");
    writeln!(
        md,
        "\nGoal: 8 connections or fewer at the end: {} ({}).\n",
        mark(end.map(|v| v <= 8.0)),
        n(end)
    )
    .unwrap();
}

fn oversubscription(r: &Results, md: &mut String) {
    let peers = r.peers("oversubscription");
    if peers.is_empty() {
        return;
    }
    writeln!(md, "## Oversubscription\n").unwrap();
    writeln!(
        md,
        "64 threads, pool 8, each holding its connection 100 µs (spinning); every checkout's wait recorded.\n"
    )
    .unwrap();
    writeln!(
        md,
        "| peer | checkouts/s | wait p50 | p99 | p99.9 | max | fewest checkouts by one thread |"
    )
    .unwrap();
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    let us = |v: Option<f64>| {
        v.map_or("—".into(), |v| {
            if v >= 1000.0 {
                format!("{:.2} ms", v / 1000.0)
            } else {
                format!("{v:.1} µs")
            }
        })
    };
    for peer in peers {
        let g = |m: &str| r.any("oversubscription", peer, m);
        writeln!(
            md,
            "| {peer} | {} | {} | {} | {} | {} | {} |",
            kops(g("ops_per_s")),
            us(g("wait_p50_us")),
            us(g("wait_p99_us")),
            us(g("wait_p999_us")),
            us(g("wait_max_us")),
            g("thread_checkouts_min").map_or("—".into(), |v| format!("{v:.0}"))
        )
        .unwrap();
    }
    let mp = r.any("oversubscription", "millpond", "wait_p99_us");
    let best_r2d2 = ["r2d2-no-test", "r2d2-default"]
        .iter()
        .filter_map(|p| r.any("oversubscription", p, "wait_p99_us"))
        .reduce(f64::min);
    writeln!(
        md,
        "\nGoal: p99 wait no worse than r2d2's: {} (millpond {}, r2d2 {}); max wait bounded and no thread starved: see the last two columns.\n",
        mark(mp.zip(best_r2d2).map(|(a, b)| a <= b)),
        us(mp),
        us(best_r2d2)
    )
    .unwrap();
}

/// The session load: `Session` against a connection held for the whole request, per pool size.
fn session(r: &Results, md: &mut String) {
    let mut rows: Vec<(String, usize, f64)> = r
        .values
        .iter()
        .filter(|((l, _, _, _, m), _)| l == "session" && m == "requests_per_s")
        .filter_map(|((_, peer, _, pool, _), v)| Some((peer.clone(), pool.parse().ok()?, *v)))
        .collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by_key(|(peer, pool, _)| (peer != "session", *pool));
    let session = rows
        .iter()
        .find(|(peer, _, _)| peer == "session")
        .map(|row| (row.1, row.2));
    writeln!(
        md,
        "## Sessions
"
    )
    .unwrap();
    writeln!(
        md,
        "64 threads; each request runs `SELECT 1`, spends 20 ms off the database, runs `SELECT 1` again; \
         PostgreSQL, no overflow. A `Session` gives the connection back after each statement; the pinned \
         style holds one `PooledConnection` for the whole request.\n"
    )
    .unwrap();
    writeln!(md, "| style | pool | requests/s | session / this |").unwrap();
    writeln!(md, "|---|---:|---:|---:|").unwrap();
    for (peer, pool, value) in &rows {
        let style = if peer == "session" {
            "`Session`"
        } else {
            "`PooledConnection` held for the request"
        };
        let versus = x(ratio(session.map(|s| s.1), Some(*value)));
        writeln!(md, "| {style} | {pool} | {value:.0} | {versus} |").unwrap();
    }
    let at_same_pool = session.and_then(|(pool, v)| {
        rows.iter()
            .find(|(peer, p, _)| peer != "session" && *p == pool)
            .and_then(|row| ratio(Some(v), Some(row.2)))
    });
    let needed = r.any("session", "pinned", "pool_to_match").filter(|n| *n > 0.0);
    writeln!(
        md,
        "
Goal: at least 5× the pinned style's throughput at pool 4: {} ({}). The pinned style needs {} to serve as much.
",
        mark(at_same_pool.map(|r| r >= 5.0)),
        x(at_same_pool),
        needed.map_or("more connections than any pool measured here".to_owned(), |n| format!("a pool of {n:.0}"))
    )
    .unwrap();
    if let Some(failed) = r.any("session", "all", "failed_requests") {
        writeln!(
            md,
            "**{failed:.0} requests failed during this run.**
"
        )
        .unwrap();
    }
}

/// The JDBC bridge against HikariCP on the same driver jars (`jdbc.rs`).
fn jdbc(r: &Results, md: &mut String) {
    let loads = [
        (
            "jdbc-h2-query",
            "H2 in memory, `SELECT name FROM t WHERE id = ?` with a varying id, a checkout per query",
        ),
        ("jdbc-h2-checkout", "H2 in memory, checkout + return alone"),
        (
            "jdbc-postgres-query",
            "The same query through PgJDBC against the local PostgreSQL",
        ),
    ];
    if loads.iter().all(|(load, _)| r.peers(load).is_empty()) {
        return;
    }
    writeln!(md, "## JDBC: the bridge against HikariCP on the same driver\n").unwrap();
    writeln!(
        md,
        "Pool 8, no overflow; HikariCP 2.7.9 in a JVM of its own with the same driver jars, doing per \
         query what a JDBC application does (`prepareStatement`, `setLong`, `executeQuery`, `next`, \
         `getString`, three closes); millpond's JVM runs in its process. Both warmed up; median of \
         alternated rounds, operations per second, and each process's CPU time per operation (every \
         thread, the database's excluded), which moves less with what else runs on the machine. \
         Through PgJDBC, the server's CPU time per operation too (every `postgres` process), for the \
         same queries. `hikaricp-same-jvm` (PostgreSQL only) is the same harness loaded into millpond's \
         JVM and run through JNI: the two then share the process and the JVM, and what differs is the bridge \
         and the pool; between two processes the ratio moves by ±15% from run to run here.\n"
    )
    .unwrap();
    let mut goals = Vec::new();
    for (load, what) in loads {
        let peers = r.peers(load);
        if peers.is_empty() {
            continue;
        }
        let mut threads: Vec<String> = r
            .values
            .keys()
            .filter(|k| k.0 == load)
            .map(|k| k.2.clone())
            .collect();
        threads.sort_by_key(|t| t.parse::<usize>().unwrap_or(0));
        threads.dedup();
        // The server's CPU, measured where the database is a server of its own.
        let with_db = threads
            .iter()
            .any(|t| r.get(load, "millpond", t, "8", "db_cpu_us_per_op").is_some());
        writeln!(md, "{what}:\n").unwrap();
        let with_same_jvm = peers.iter().any(|p| p == "hikaricp-same-jvm");
        writeln!(
            md,
            "| threads | {} | millpond / HikariCP |{} CPU per operation: HikariCP / millpond |{}",
            peers.join(" | "),
            if with_same_jvm {
                " millpond / HikariCP in millpond's JVM |"
            } else {
                ""
            },
            if with_db {
                " server CPU per operation: HikariCP / millpond |"
            } else {
                ""
            }
        )
        .unwrap();
        writeln!(
            md,
            "|---:|{}---:|{}---:|{}",
            "---:|".repeat(peers.len()),
            if with_same_jvm { "---:|" } else { "" },
            if with_db { "---:|" } else { "" }
        )
        .unwrap();
        let mut ratios = Vec::new();
        for t in &threads {
            let cells: Vec<String> = peers
                .iter()
                .map(|p| kops(r.get(load, p, t, "8", "ops_per_s")))
                .collect();
            let vs = ratio(
                r.get(load, "millpond", t, "8", "ops_per_s"),
                r.get(load, "hikaricp", t, "8", "ops_per_s"),
            );
            ratios.push((t.clone(), vs));
            let cpu = ratio(
                r.get(load, "hikaricp", t, "8", "cpu_us_per_op"),
                r.get(load, "millpond", t, "8", "cpu_us_per_op"),
            );
            let db_cell = if with_db {
                let db = ratio(
                    r.get(load, "hikaricp", t, "8", "db_cpu_us_per_op"),
                    r.get(load, "millpond", t, "8", "db_cpu_us_per_op"),
                );
                format!(" {} |", x(db))
            } else {
                String::new()
            };
            let same_jvm_cell = if with_same_jvm {
                let same = ratio(
                    r.get(load, "millpond", t, "8", "ops_per_s"),
                    r.get(load, "hikaricp-same-jvm", t, "8", "ops_per_s"),
                );
                format!(" {} |", x(same))
            } else {
                String::new()
            };
            writeln!(
                md,
                "| {t} | {} | {} |{same_jvm_cell} {} |{db_cell}",
                cells.join(" | "),
                x(vs),
                x(cpu)
            )
            .unwrap();
        }
        writeln!(md).unwrap();
        let at_one = ratios.iter().find(|(t, _)| t == "1").and_then(|(_, v)| *v);
        let worst = ratios
            .iter()
            .map(|(_, v)| *v)
            .try_fold(f64::INFINITY, |worst, v| v.map(|v| worst.min(v)))
            .filter(|v| v.is_finite());
        match load {
            "jdbc-h2-query" => goals.push(format!(
                "H2 query ≥ 0.6× HikariCP at 1 thread: {} ({})",
                mark(at_one.map(|v| v >= 0.6)),
                x(at_one)
            )),
            "jdbc-h2-checkout" => goals.push(format!(
                "checkout + return alone ≥ 0.5× HikariCP at every thread count: {} (lowest {})",
                mark(worst.map(|v| v >= 0.5)),
                x(worst)
            )),
            _ => goals.push(format!(
                "through PgJDBC ≥ 0.9× HikariCP at every thread count: {} (lowest {})",
                mark(worst.map(|v| v >= 0.9)),
                x(worst)
            )),
        }
    }
    writeln!(md, "Goals: {}.\n", goals.join("; ")).unwrap();
}

/// One colour per peer, the same in every panel.
fn colour(peer: &str) -> RGBColor {
    match peer {
        "millpond" => RED,
        "hikaricp" => BLUE,
        "r2d2-no-test" => GREEN,
        "r2d2-default" | "r2d2" => MAGENTA,
        "millpond-overflow" => RGBColor(230, 140, 0),
        _ => BLACK,
    }
}

fn plot(r: &Results, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1200, 1150)).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(800);
    let areas = upper.split_evenly((2, 2));
    let peers = r.peers("cycle").to_vec();
    let threads = [1.0, 8.0, 32.0];
    for (area, pool) in areas.iter().zip(["8", "16", "32"]) {
        let top = peers
            .iter()
            .flat_map(|p| {
                threads
                    .iter()
                    .filter_map(|t| r.get("cycle", p, &format!("{t}"), pool, "ops_per_s"))
            })
            .fold(1.0f64, f64::max)
            / 1e6;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("connection cycle, pool {pool} (M ops/s)"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0f64..2.0f64, 0.0f64..top * 1.15)?;
        chart
            .configure_mesh()
            .x_labels(3)
            .x_label_formatter(&|v| format!("{} threads", threads[(v.round() as usize).min(2)]))
            .draw()?;
        for peer in &peers {
            let colour = colour(peer);
            let points: Vec<(f64, f64)> = threads
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    r.get("cycle", peer, &format!("{t}"), pool, "ops_per_s")
                        .map(|v| (i as f64, v / 1e6))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(peer.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    if !r.series.is_empty() {
        let end = r.series.values().flatten().map(|(t, _)| *t).fold(1.0, f64::max) / 1000.0;
        let top = r.series.values().flatten().map(|(_, o)| *o).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&areas[3])
            .caption("spike: connections open over time (ms)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0f64..end, 0.0f64..top * 1.15)?;
        chart.configure_mesh().draw()?;
        for (peer, points) in &r.series {
            let colour = colour(peer);
            let points: Vec<(f64, f64)> = points.iter().map(|(t, o)| (t / 1000.0, *o)).collect();
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
                .label(peer.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    plot_jdbc(r, &lower)?;
    root.present()?;
    Ok(())
}

/// The JDBC panel: millpond's rate over HikariCP's on the same driver, per load and thread
/// count (HikariCP in a JVM of its own, and in millpond's), beside each load's goal from issue
/// 17.
fn plot_jdbc<DB: DrawingBackend>(
    r: &Results,
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    // (load, label, goal)
    let loads = [
        ("jdbc-h2-query", "H2 query", 0.6),
        ("jdbc-h2-checkout", "H2 checkout + return", 0.5),
        ("jdbc-postgres-query", "PgJDBC query", 0.9),
    ];
    let versus = |load: &str, t: &str, peer: &str| {
        ratio(
            r.get(load, "millpond", t, "8", "ops_per_s"),
            r.get(load, peer, t, "8", "ops_per_s"),
        )
    };
    // (label, vs its own JVM, vs millpond's JVM, goal)
    let bars: Vec<(String, Option<f64>, Option<f64>, f64)> = loads
        .iter()
        .flat_map(|&(load, label, goal)| {
            ["1", "8"].into_iter().map(move |t| {
                (
                    format!("{label}, {t} thr."),
                    versus(load, t, "hikaricp"),
                    versus(load, t, "hikaricp-same-jvm"),
                    goal,
                )
            })
        })
        .filter(|bar| bar.1.is_some() || bar.2.is_some())
        .collect();
    if bars.is_empty() {
        return Ok(());
    }
    let top = bars
        .iter()
        .flat_map(|b| [b.1, b.2])
        .flatten()
        .fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "JDBC: millpond / HikariCP on the same driver (rate ratio; black: the goal)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(-0.5f64..bars.len() as f64 - 0.5, 0.0f64..top * 1.15)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()?;
    let same_colour = RGBColor(230, 140, 0);
    for (offset, colour, label, pick) in [
        (-0.2, RED, "HikariCP in its own JVM", 1),
        (0.2, same_colour, "HikariCP in millpond's JVM", 2),
    ] {
        let value = |b: &(String, Option<f64>, Option<f64>, f64)| if pick == 1 { b.1 } else { b.2 };
        let points: Vec<(f64, f64)> = bars
            .iter()
            .enumerate()
            .filter_map(|(i, b)| value(b).map(|v| (i as f64 + offset, v)))
            .collect();
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, v)| Rectangle::new([(x - 0.17, 0.0), (x + 0.17, v)], colour.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
        chart.draw_series(
            points
                .iter()
                .map(|&(x, v)| Text::new(format!("{v:.2}×"), (x - 0.15, v + top * 0.04), ("sans-serif", 13))),
        )?;
    }
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let x = i as f64;
        PathElement::new(vec![(x - 0.45, b.3), (x + 0.45, b.3)], BLACK.stroke_width(2))
    }))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut md_path, mut svg_path) = (
        PathBuf::from("target/bench"),
        PathBuf::from("BENCHMARKS.md"),
        PathBuf::from("benchmarks.svg"),
    );
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--in" => dir = args.next().map(PathBuf::from).unwrap_or(dir),
            "--md" => md_path = args.next().map(PathBuf::from).unwrap_or(md_path),
            "--svg" => svg_path = args.next().map(PathBuf::from).unwrap_or(svg_path),
            "--bench" => {}
            other => {
                eprintln!("report: unknown argument {other}; accepted: --in DIR, --md FILE, --svg FILE");
                std::process::exit(2);
            }
        }
    }
    let results = read(&dir);
    let mut md = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    writeln!(md, "# Benchmarks\n").unwrap();
    writeln!(
        md,
        "Written by `scripts/bench` from one run of the programs in `benches/` on {cores} cores ({cpu}). \
         Every peer ran in the same invocation, alternated round by round; the machine is shared, so \
         read the ratios rather than the absolute figures. Never timed tests.\n"
    )
    .unwrap();
    writeln!(md, "![benchmarks](benchmarks.svg)\n").unwrap();
    cycle(&results, &mut md);
    cycle_features(&results, &mut md);
    servers(&results, &mut md);
    parameterised(&results, &mut md);
    spike(&results, &mut md);
    oversubscription(&results, &mut md);
    session(&results, &mut md);
    jdbc(&results, &mut md);
    std::fs::write(&md_path, md).expect("write BENCHMARKS.md");
    if let Err(err) = plot(&results, &svg_path) {
        eprintln!("report: could not draw {}: {err}", svg_path.display());
        std::process::exit(1);
    }
    println!("wrote {} and {}", md_path.display(), svg_path.display());
}
