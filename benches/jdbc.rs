//! The JDBC bridge against HikariCP on the same driver jar: how much the bridge (JNI calls,
//! values across it, the pool around it) costs next to a Java application that pools the same
//! driver with HikariCP. Loads, each at 1 and 8 threads on a pool of 8 (no overflow, timeout
//! 8 s):
//!
//! - `jdbc-h2-query`: H2 in memory, a checkout per query: `SELECT name FROM t WHERE id = ?` with
//!   an id that varies over the table's 1,000 rows, the one row read, the connection given back;
//! - `jdbc-h2-checkout`: checkout + return alone, on real H2 connections;
//! - `jdbc-postgres-query`: the query load through PgJDBC against the local PostgreSQL
//!   (127.0.0.1:5432, user `postgres`, database `test`, no TLS).
//!
//! Peers, alternated round by round (the order rotates each round):
//!
//! - `millpond`: the JDBC manager with its defaults (pre-ping on, with its 500 ms bypass window,
//!   a statement cache of 100 per connection), in a JVM started in this process with the driver
//!   jars on its class path; a query run again on a connection is one JNI call (the bridge class
//!   binds, executes and reads the row in Java);
//! - `millpond-no-cache` (query loads): the same with `statement_cache_capacity(0)`, each query
//!   prepared afresh and its columns read again, as HikariCP's application does, and each bind,
//!   `executeQuery`, `next` and column read a JNI call of its own;
//! - `hikaricp`: HikariCP (Debian's libhikaricp-java) in one JVM started for the whole run and
//!   driven over a pipe (benches/hikari/JdbcBench.java, compiled here with `javac` into
//!   `DIR/hikari/`), with the same driver jars; per query it does what a JDBC application does:
//!   `getConnection`, `prepareStatement`, `setLong`, `executeQuery`, `next`, `getString`, and
//!   closes the three;
//! - `hikaricp-same-jvm` (PostgreSQL only): the same harness loaded into millpond's JVM (its
//!   class path given when the JVM starts) and run through JNI, its threads Java's: HikariCP and
//!   millpond then share the process, the JVM, its collector and compiler, so that what differs
//!   between the two is the bridge and the pool, not the process around them. Between two
//!   processes the ratio moves by ±15% from one run to the next on a shared 2-core machine with
//!   the database on it. Not for H2, which runs inside the JVM: HikariCP's H2 rounds there would
//!   share the JIT's profile of H2's code with millpond's.
//!
//! Both JVMs run the driver's code, so both get warmed up before anything is measured (an
//! unmeasured round of four times a round's length per peer and thread count: with 8 threads a
//! JVM's compiler takes seconds to settle); each peer keeps its pool for the whole load.
//! The figure is the median of the rounds in operations per second, and the ratio millpond /
//! HikariCP is of the medians. Both JVMs share the machine's cores with the database (and with
//! anything else running): read the ratios, not the absolute figures. Beside the rates, each
//! process's CPU time per operation (all its threads, the JVM's compiler and collector
//! included, from `getrusage`; the database's excluded) moves less with what else runs. For the
//! PostgreSQL load, the server's CPU time per operation is given too (every `postgres` process,
//! from `/proc/<pid>/schedstat`, over each peer's rounds): the same queries cost the server more
//! or less depending on how its client drives it.
//!
//! ```text
//! cargo bench --features jdbc --bench jdbc                  # 5 rounds of 0.5 s per peer and point
//! cargo bench --features jdbc --bench jdbc -- --quick       # 3 rounds of 0.3 s
//! cargo bench --features jdbc --bench jdbc -- --out DIR     # DIR/jdbc.tsv (default target/bench)
//! cargo bench --features jdbc --bench jdbc -- --no-hikari   # without HikariCP (no javac needed)
//! cargo bench --features jdbc --bench jdbc -- --no-postgres # H2 only (no server needed)
//! cargo bench --features jdbc --bench jdbc -- --no-h2       # PostgreSQL only
//! ```
//!
//! Needs a JDK (`java`, `javac`), HikariCP's jar and slf4j-api's, and the driver jars
//! `/usr/share/java/h2.jar` and `/usr/share/java/postgresql.jar`, each only for its loads
//! (Debian: `apt-get install -y default-jdk-headless libhikaricp-java libh2-java
//! libpostgresql-jdbc-java`).
//!
//! Rows of `DIR/jdbc.tsv` (loads above; peers `millpond`, `millpond-no-cache`, `hikaricp`,
//! `hikaricp-same-jvm`):
//! `ops_per_s` (median), `ops_per_s_min`, `ops_per_s_max` in `ops/s`, `cpu_us_per_op` (median)
//! in `us`, and for `jdbc-postgres-query` `db_cpu_us_per_op` (median, the server's) in `us`; for peer `millpond` also `ratio_vs_hikaricp` (of the rates) and
//! `cpu_ratio_vs_hikaricp` (HikariCP's CPU per operation over millpond's, so that above 1 is
//! better as for the rates) and `ratio_vs_hikaricp_same_jvm` in `x`.

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Jvm, Tsv, median, ops};
use millpond::jdbc::{self, JdbcManager, JvmOptions};
use millpond::{Pool, sql::Value};

const THREADS: [usize; 2] = [1, 8];
const POOL: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(8);
/// Rows in the table the query loads read.
const ROWS: u64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    H2Query,
    H2Checkout,
    PostgresQuery,
}

impl Load {
    /// The load's name in the TSV file.
    fn id(self) -> &'static str {
        match self {
            Load::H2Query => "jdbc-h2-query",
            Load::H2Checkout => "jdbc-h2-checkout",
            Load::PostgresQuery => "jdbc-postgres-query",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Load::H2Query => "H2 in memory, `SELECT name FROM t WHERE id = ?`, a checkout per query",
            Load::H2Checkout => "H2 in memory, checkout + return alone",
            Load::PostgresQuery => {
                "PostgreSQL through PgJDBC, `SELECT name FROM t WHERE id = ?`, a checkout per query"
            }
        }
    }

    fn queries(self) -> bool {
        self != Load::H2Checkout
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Millpond,
    MillpondNoCache,
    Hikari,
    HikariSameJvm,
}

impl Peer {
    fn id(self) -> &'static str {
        match self {
            Peer::Millpond => "millpond",
            Peer::MillpondNoCache => "millpond-no-cache",
            Peer::Hikari => "hikaricp",
            Peer::HikariSameJvm => "hikaricp-same-jvm",
        }
    }

    fn title(self, hikari: Option<&Jvm>) -> String {
        let version = hikari.map_or("?", |h| h.hikari_version.as_str());
        match self {
            Peer::Millpond => "millpond".into(),
            Peer::MillpondNoCache => "millpond, statement cache off".into(),
            Peer::Hikari => format!("HikariCP {version}"),
            Peer::HikariSameJvm => format!("HikariCP {version} in millpond's JVM"),
        }
    }
}

/// Where a HikariCP peer runs the harness (benches/hikari/JdbcBench.java): in a JVM of its
/// own, over a pipe, or in millpond's, through JNI on the thread that drives the rounds.
enum Harness<'a> {
    Own(&'a mut Jvm),
    SameJvm,
}

impl Harness<'_> {
    /// Carries out one harness command; returns the rest of its answer after `word`.
    fn ask(&mut self, command: &str, word: &str) -> String {
        match self {
            Harness::Own(jvm) => {
                jvm.send(command);
                jvm.reply(word)
            }
            Harness::SameJvm => {
                let answer = same_jvm_command(command);
                match answer.strip_prefix(word) {
                    Some(rest) => rest.trim().to_string(),
                    None => panic!("unexpected answer from the harness in millpond's JVM: `{answer}`"),
                }
            }
        }
    }
}

/// The harnesses of a load's HikariCP peers: its own JVM, and millpond's for PostgreSQL.
fn harnesses(own: &mut Jvm, postgres: bool) -> Vec<Harness<'_>> {
    let mut harnesses = vec![Harness::Own(own)];
    if postgres {
        harnesses.push(Harness::SameJvm);
    }
    harnesses
}

/// `JdbcBench.command(command)` in millpond's JVM.
fn same_jvm_command(command: &str) -> String {
    let vm = jdbc::java_vm().expect("millpond's JVM");
    let mut env = vm
        .attach_current_thread_permanently()
        .expect("attach to millpond's JVM");
    let answer = env.with_local_frame(8, |env| {
        let line = env.new_string(command)?;
        let answer = env
            .call_static_method(
                "JdbcBench",
                "command",
                "(Ljava/lang/String;)Ljava/lang/String;",
                &[(&line).into()],
            )?
            .l()?;
        let answer: String = env.get_string(&answer.into())?.into();
        Ok::<_, jdbc::jni::errors::Error>(answer)
    });
    answer.unwrap_or_else(|err| {
        let _ = env.exception_describe();
        panic!("`{command}` failed in millpond's JVM: {err}")
    })
}

/// A Debian driver jar; exits with a message when it is missing.
fn jar(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/share/java").join(name);
    if !path.is_file() {
        eprintln!(
            "jdbc: {} is missing (Debian: apt-get install -y libh2-java libpostgresql-jdbc-java)",
            path.display()
        );
        std::process::exit(1);
    }
    path
}

/// What a round measured.
#[derive(Clone, Copy, Debug)]
struct Round {
    ops_per_s: f64,
    /// Operations done.
    ops: f64,
    /// CPU time of the whole process (every thread, the JVM's own included) per operation, in
    /// microseconds: steadier than the rate on a shared machine.
    cpu_us_per_op: f64,
    /// The local PostgreSQL server's CPU time per operation, in microseconds (0 for H2).
    db_us_per_op: f64,
}

/// CPU time of every process named `postgres` (the server and its backends), from
/// `/proc/<pid>/schedstat` (nanoseconds): what the database spent, whoever its client was.
fn postgres_cpu() -> Duration {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let nanos = processes
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("schedstat")).ok())
        .filter_map(|schedstat| schedstat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// This process's CPU time, user and system, of every thread, those that ended included
/// (`getrusage`, which the kernel keeps to the nanosecond, where `/proc/self/stat` rounds to
/// 10 ms ticks).
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs `threads` threads doing `op(n)` (n counting up from a place of the thread's own) for
/// `duration`.
fn run(threads: usize, duration: Duration, op: impl Fn(u64) + Sync) -> Round {
    let cpu_before = process_cpu();
    // Each thread starts at its own place in the table.
    let (ops, seconds) = common::run_for(threads, duration, |thread, n| op(thread as u64 * 7919 + n));
    let ops = ops as f64;
    Round {
        ops_per_s: ops / seconds,
        ops,
        cpu_us_per_op: process_cpu().saturating_sub(cpu_before).as_secs_f64() * 1e6 / ops.max(1.0),
        db_us_per_op: 0.0,
    }
}

/// millpond's pool for a load, filled (every connection opened) before it is measured.
fn millpond_pool(manager: JdbcManager) -> Pool<JdbcManager> {
    let pool = Pool::builder()
        .pool_size(POOL)
        .max_overflow(0)
        .timeout(TIMEOUT)
        .build(manager)
        .expect("pool");
    let held: Vec<_> = (0..POOL).map(|_| pool.get().expect("connect")).collect();
    drop(held);
    pool
}

/// One round of `load` through millpond's pool.
fn millpond_round(
    pool: &Pool<JdbcManager>,
    load: Load,
    table: &str,
    threads: usize,
    duration: Duration,
) -> Round {
    let sql = format!("SELECT name FROM {table} WHERE id = ?");
    if load.queries() {
        run(threads, duration, |n| {
            let id = (n % ROWS + 1) as i64;
            let mut conn = pool.get().expect("checkout");
            let row = conn.query_row(&sql, [id]).expect("query").expect("a row");
            assert!(matches!(row[0], Value::Text(_)), "no name for id {id}");
        })
    } else {
        run(threads, duration, |_| drop(pool.get().expect("checkout")))
    }
}

/// One round of `load` in a HikariCP harness, on its pool `id`.
fn hikari_round(
    mut harness: Harness<'_>,
    load: Load,
    id: &str,
    table: &str,
    threads: usize,
    duration: Duration,
) -> Round {
    let millis = duration.as_millis();
    let command = if load.queries() {
        format!("query {id} {threads} {millis} {ROWS} {table}")
    } else {
        format!("cycle {id} {threads} {millis}")
    };
    let reply = harness.ask(&command, "ops");
    let numbers: Vec<f64> = reply.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    match numbers[..] {
        [ops_per_s, cpu_us_per_op, ops] => Round {
            ops_per_s,
            ops,
            cpu_us_per_op,
            db_us_per_op: 0.0,
        },
        _ => panic!("unexpected reply from the HikariCP harness: `ops {reply}`"),
    }
}

/// The table the query loads read: `ROWS` rows of (id, name).
fn create_table(pool: &Pool<JdbcManager>, table: &str, postgres: bool) {
    let mut conn = pool.get().expect("checkout");
    conn.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
        .expect("drop");
    conn.execute_unprepared(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(20))"
    ))
    .expect("create");
    let fill = if postgres {
        format!("INSERT INTO {table} SELECT g, 'name ' || g FROM generate_series(1, {ROWS}) g")
    } else {
        format!("INSERT INTO {table} SELECT x, 'name ' || x FROM SYSTEM_RANGE(1, {ROWS})")
    };
    conn.execute_unprepared(&fill).expect("fill");
}

fn main() {
    let args = common::args("jdbc", &["--no-hikari", "--no-postgres", "--no-h2"]);
    let quick = args.quick;
    let rounds = if quick { 3 } else { 5 };
    let duration = Duration::from_millis(if quick { 300 } else { 500 });
    let warm_up = duration * 4;
    let with_h2 = !args.has("--no-h2");
    let with_postgres = !args.has("--no-postgres");
    // Only the jars of the drivers this run uses, so that each side can run without the other's.
    let jars: Vec<PathBuf> = [(with_h2, "h2.jar"), (with_postgres, "postgresql.jar")]
        .into_iter()
        .filter(|(wanted, _)| *wanted)
        .map(|(_, name)| jar(name))
        .collect();

    let mut hikari = common::hikari(&args, "jdbc", "JdbcBench");
    if let Some(h) = &mut hikari {
        for jar in &jars {
            h.send(&format!("jar {}", jar.display()));
            h.reply("ok");
        }
    }
    // The driver jars on the class path from the start, as the HikariCP JVM has them; and the
    // harness, for HikariCP in millpond's JVM.
    let harness = hikari.iter().flat_map(|h| h.classpath.iter());
    let options = jars
        .iter()
        .chain(harness)
        .fold(JvmOptions::new(), |options, jar| options.jar(jar));
    jdbc::start_jvm(&options).expect("start the JVM");
    println!(
        "JDBC: median ops/s of {rounds} alternated rounds of {} ms, pool {POOL} (no overflow), one pool per \
         peer and load, every JVM warmed up by an unmeasured round of {} ms per peer and thread count.",
        duration.as_millis(),
        warm_up.as_millis()
    );
    if let Some(h) = &hikari {
        println!(
            "HikariCP {} on Java {} in a JVM of its own, with the same driver jars; and the same \
             harness in millpond's JVM, its threads Java's, as a second peer.",
            h.hikari_version, h.java_version
        );
    }

    let table = format!("millpond_jdbc_bench_{}", std::process::id());
    let h2_url = format!("mem:millpond_jdbc_bench_{};DB_CLOSE_DELAY=-1", std::process::id());
    let pg_url = "jdbc:postgresql://127.0.0.1:5432/test?sslmode=disable";
    let mut loads = Vec::new();
    if with_h2 {
        loads.extend([Load::H2Query, Load::H2Checkout]);
    }
    if with_postgres {
        loads.push(Load::PostgresQuery);
    }
    let mut tsv = Tsv::new("jdbc");
    for load in loads {
        let postgres = load == Load::PostgresQuery;
        let manager = if postgres {
            jdbc::postgresql("127.0.0.1", 5432, "test")
                .user("postgres")
                .property("sslmode", "disable")
        } else {
            jdbc::h2(&h2_url)
        };
        let pool = millpond_pool(manager.clone());
        create_table(&pool, &table, postgres);
        let peers: Vec<Peer> = [
            Peer::Millpond,
            Peer::MillpondNoCache,
            Peer::Hikari,
            Peer::HikariSameJvm,
        ]
        .into_iter()
        .filter(|&peer| !matches!(peer, Peer::Hikari | Peer::HikariSameJvm) || hikari.is_some())
        .filter(|&peer| peer != Peer::MillpondNoCache || load.queries())
        // Only where the database is a server (see the top of this file).
        .filter(|&peer| peer != Peer::HikariSameJvm || postgres)
        .collect();
        let no_cache = load
            .queries()
            .then(|| millpond_pool(manager.statement_cache_capacity(0)));
        let hikari_id = load.id();
        if let Some(h) = &mut hikari {
            for mut harness in harnesses(h, postgres) {
                let pool = if postgres {
                    format!("pool {hikari_id} {POOL} org.postgresql.Driver {pg_url} postgres")
                } else {
                    // An in-memory database of its own.
                    let url = format!(
                        "jdbc:h2:mem:hikari_jdbc_bench_{};DB_CLOSE_DELAY=-1",
                        std::process::id()
                    );
                    format!("pool {hikari_id} {POOL} org.h2.Driver {url}")
                };
                harness.ask(&pool, "ok");
                if !postgres {
                    // With the same table (PostgreSQL's is shared).
                    for sql in [
                        format!("DROP TABLE IF EXISTS {table}"),
                        format!("CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(20))"),
                        format!("INSERT INTO {table} SELECT x, 'name ' || x FROM SYSTEM_RANGE(1, {ROWS})"),
                    ] {
                        harness.ask(&format!("exec {hikari_id} {sql}"), "ok");
                    }
                }
            }
        }

        println!("\n{}:\n", load.title());
        let titles: Vec<String> = peers.iter().map(|p| p.title(hikari.as_ref())).collect();
        let ratio_title = if hikari.is_some() {
            " millpond / HikariCP | millpond / HikariCP in millpond's JVM |"
        } else {
            ""
        };
        println!("| threads | {} |{ratio_title}", titles.join(" | "));
        println!(
            "|---:|{}{}",
            "---:|".repeat(peers.len()),
            if hikari.is_some() { "---:|---:|" } else { "" }
        );
        let mut measure_peer = |peer: Peer, threads: usize, duration: Duration| match peer {
            Peer::Millpond => millpond_round(&pool, load, &table, threads, duration),
            Peer::MillpondNoCache => millpond_round(
                no_cache.as_ref().expect("a query load"),
                load,
                &table,
                threads,
                duration,
            ),
            Peer::Hikari => hikari_round(
                Harness::Own(hikari.as_mut().expect("HikariCP is running")),
                load,
                hikari_id,
                &table,
                threads,
                duration,
            ),
            Peer::HikariSameJvm => hikari_round(Harness::SameJvm, load, hikari_id, &table, threads, duration),
        };
        // The database's CPU over the whole round, the peer's threads starting and ending
        // included, as the process CPU is.
        let mut measure = |peer: Peer, threads: usize, duration: Duration| {
            let db_before = postgres.then(postgres_cpu);
            let mut round = measure_peer(peer, threads, duration);
            if let Some(before) = db_before {
                let spent = postgres_cpu().saturating_sub(before);
                round.db_us_per_op = spent.as_secs_f64() * 1e6 / round.ops.max(1.0);
            }
            round
        };
        let mut cpu_lines = Vec::new();
        let mut db_lines = Vec::new();
        for threads in THREADS {
            // Warm-up: the driver's code runs in both JVMs, and both JIT it.
            for &peer in &peers {
                measure(peer, threads, warm_up);
            }
            let mut samples: Vec<Vec<Round>> = vec![Vec::new(); peers.len()];
            for round in 0..rounds {
                for k in 0..peers.len() {
                    let i = (k + round) % peers.len();
                    samples[i].push(measure(peers[i], threads, duration));
                }
            }
            let rates: Vec<Vec<f64>> = samples
                .iter()
                .map(|s| s.iter().map(|r| r.ops_per_s).collect())
                .collect();
            let medians: Vec<f64> = rates.iter().map(|s| median(s)).collect();
            let cpu: Vec<f64> = samples
                .iter()
                .map(|s| median(&s.iter().map(|r| r.cpu_us_per_op).collect::<Vec<_>>()))
                .collect();
            let db: Vec<f64> = samples
                .iter()
                .map(|s| median(&s.iter().map(|r| r.db_us_per_op).collect::<Vec<_>>()))
                .collect();
            let mut row = |peer: Peer, metric: &str, value: f64, unit: &str| {
                tsv.row(load.id(), peer.id(), threads, POOL, metric, value, unit);
            };
            for (i, &peer) in peers.iter().enumerate() {
                let min = rates[i].iter().copied().fold(f64::INFINITY, f64::min);
                let max = rates[i].iter().copied().fold(0.0, f64::max);
                row(peer, "ops_per_s", medians[i].round(), "ops/s");
                row(peer, "ops_per_s_min", min.round(), "ops/s");
                row(peer, "ops_per_s_max", max.round(), "ops/s");
                row(peer, "cpu_us_per_op", (cpu[i] * 1000.0).round() / 1000.0, "us");
                if postgres {
                    row(peer, "db_cpu_us_per_op", (db[i] * 1000.0).round() / 1000.0, "us");
                }
            }
            let mut ratio_cell = String::new();
            let mut cpu_ratio_cell = String::new();
            if let Some(h) = peers.iter().position(|&p| p == Peer::Hikari) {
                let ratio = medians[0] / medians[h];
                row(
                    Peer::Millpond,
                    "ratio_vs_hikaricp",
                    (ratio * 1000.0).round() / 1000.0,
                    "x",
                );
                ratio_cell = format!(" {ratio:.2}× |");
                // As the rate ratio reads: above 1, millpond spends less CPU per operation.
                let cpu_ratio = cpu[h] / cpu[0];
                row(
                    Peer::Millpond,
                    "cpu_ratio_vs_hikaricp",
                    (cpu_ratio * 1000.0).round() / 1000.0,
                    "x",
                );
                cpu_ratio_cell = format!(" {cpu_ratio:.2}× |");
            }
            if let Some(same) = peers.iter().position(|&p| p == Peer::HikariSameJvm) {
                let ratio = medians[0] / medians[same];
                row(
                    Peer::Millpond,
                    "ratio_vs_hikaricp_same_jvm",
                    (ratio * 1000.0).round() / 1000.0,
                    "x",
                );
                ratio_cell.push_str(&format!(" {ratio:.2}× |"));
            }
            let cells: Vec<String> = medians.iter().map(|&m| ops(m)).collect();
            println!("| {threads} | {} |{ratio_cell}", cells.join(" | "));
            let cpu_cells: Vec<String> = cpu.iter().map(|&c| format!("{c:.2} µs")).collect();
            cpu_lines.push(format!(
                "| {threads} | {} |{cpu_ratio_cell}",
                cpu_cells.join(" | ")
            ));
            let db_cells: Vec<String> = db.iter().map(|&c| format!("{c:.2} µs")).collect();
            db_lines.push(format!("| {threads} | {} |", db_cells.join(" | ")));
        }
        println!("\nCPU time per operation (the whole process, every thread):\n");
        println!(
            "| threads | {} |{}",
            titles.join(" | "),
            if hikari.is_some() {
                " HikariCP / millpond |"
            } else {
                ""
            }
        );
        println!(
            "|---:|{}{}",
            "---:|".repeat(peers.len()),
            if hikari.is_some() { "---:|" } else { "" }
        );
        for line in cpu_lines {
            println!("{line}");
        }
        if postgres {
            println!("\nThe database's CPU time per operation (every `postgres` process):\n");
            println!("| threads | {} |", titles.join(" | "));
            println!("|---:|{}", "---:|".repeat(peers.len()));
            for line in db_lines {
                println!("{line}");
            }
        }
        if let Some(h) = &mut hikari {
            for mut harness in harnesses(h, postgres) {
                harness.ask(&format!("close {hikari_id}"), "ok");
            }
        }
        if postgres {
            let mut conn = pool.get().expect("checkout");
            conn.execute_unprepared(&format!("DROP TABLE {table}"))
                .expect("drop the table");
        }
    }
    drop(hikari);
    tsv.write(&args);
}
