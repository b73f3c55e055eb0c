//! Helpers shared by the benchmark programs: their command line, the measuring loop of `cycle`
//! and `jdbc`, the stub manager that does no I/O, medians and percentiles, the HikariCP JVM, and
//! the TSV file every program writes for the report.
//!
//! The TSV format (one header line, then one row per figure, tab-separated, `-` where a column
//! does not apply):
//!
//! ```text
//! load    peer    threads pool    metric  value   unit
//! cycle   millpond        8       16      ops_per_s       5061234.5       ops/s
//! ```

// Each program uses its own subset of these helpers.
#![allow(dead_code)]

use std::convert::Infallible;
use std::fmt::{self, Display, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

/// What every program accepts.
pub struct Args {
    /// `--quick`: a small run, for smoke tests.
    pub quick: bool,
    /// `--out DIR` (default `target/bench`): where `<program>.tsv` is written.
    pub out: PathBuf,
    /// The program's own boolean flags that were given (from `extra`).
    pub flags: Vec<&'static str>,
}

impl Args {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }
}

/// Parses the command line. `extra` lists the program's own boolean flags. `cargo bench` adds
/// `--bench`, which is ignored; anything else unknown is refused, so a typo never runs the long
/// benchmark by mistake.
pub fn args(program: &str, extra: &[&'static str]) -> Args {
    let mut args = Args {
        quick: false,
        out: PathBuf::from("target/bench"),
        flags: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--bench" => {}
            "--out" => match it.next() {
                Some(dir) => args.out = PathBuf::from(dir),
                None => usage(program, extra, "--out needs a directory"),
            },
            other => {
                if let Some(dir) = other.strip_prefix("--out=") {
                    args.out = PathBuf::from(dir);
                } else if let Some(flag) = extra.iter().find(|flag| **flag == other) {
                    args.flags.push(flag);
                } else {
                    usage(program, extra, &format!("unknown argument `{other}`"));
                }
            }
        }
    }
    args
}

fn usage(program: &str, extra: &[&str], problem: &str) -> ! {
    let extra: String = extra.iter().map(|flag| format!(" [{flag}]")).collect();
    eprintln!("{program}: {problem}\nusage: cargo bench --bench {program} -- [--quick] [--out DIR]{extra}");
    std::process::exit(2);
}

/// Runs `threads` threads doing `op(thread, n)` (`n` counting that thread's operations from 0),
/// in batches of 64 between looks at the stop flag, for `duration`; returns how many operations
/// were done and the seconds they took, the last batches after the stop included.
///
/// The clock starts when the first thread, worker or not, passes the start line: with more
/// threads than cores the main thread may be scheduled long after the workers began, and a
/// clock started by it alone would leave their first operations untimed (at 64 threads on 2
/// cores that once doubled the figure). The Java harnesses measure the same way
/// (CycleBench.java, JdbcBench.java).
pub fn run_for(threads: usize, duration: Duration, op: impl Fn(usize, u64) + Sync) -> (u64, f64) {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start_line = Barrier::new(threads + 1);
    let started = OnceLock::new();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (stop, total, start_line, started, op) = (&stop, &total, &start_line, &started, &op);
            scope.spawn(move || {
                start_line.wait();
                started.get_or_init(Instant::now);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..64 {
                        op(thread, n + i);
                    }
                    n += 64;
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        start_line.wait();
        let started = *started.get_or_init(Instant::now);
        std::thread::sleep(duration.saturating_sub(started.elapsed()));
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.get().expect("the clock started").elapsed().as_secs_f64();
    (total.load(Ordering::Relaxed), seconds)
}

/// A connection that is nothing at all: the pool's own cost is all that is measured.
pub struct StubConnection;

/// A manager whose connections do no I/O, for millpond and for r2d2.
#[derive(Clone, Copy)]
pub struct Stub;

impl millpond::ManageConnection for Stub {
    type Connection = StubConnection;
    type Error = Infallible;
    fn connect(&self) -> Result<StubConnection, Infallible> {
        Ok(StubConnection)
    }
    fn is_valid(&self, _: &mut StubConnection, _: Duration) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut StubConnection) -> bool {
        false
    }
    // A real backend tracks its transaction state; the stub never opens one.
    fn transaction_state(&self, _: &mut StubConnection) -> millpond::TransactionState {
        millpond::TransactionState::Idle
    }
}

/// The stub with the trait's default `transaction_state` (`Unknown`), as every r2d2-adapted and
/// most hand-written managers have: each return goes through `reset`, which does nothing.
#[derive(Clone, Copy)]
pub struct UnknownStateStub;

impl millpond::ManageConnection for UnknownStateStub {
    type Connection = StubConnection;
    type Error = Infallible;
    fn connect(&self) -> Result<StubConnection, Infallible> {
        Ok(StubConnection)
    }
    fn is_valid(&self, _: &mut StubConnection, _: Duration) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut StubConnection) -> bool {
        false
    }
}

impl r2d2::ManageConnection for Stub {
    type Connection = StubConnection;
    type Error = Infallible;
    fn connect(&self) -> Result<StubConnection, Infallible> {
        Ok(StubConnection)
    }
    fn is_valid(&self, _: &mut StubConnection) -> Result<(), Infallible> {
        Ok(())
    }
    fn has_broken(&self, _: &mut StubConnection) -> bool {
        false
    }
}

/// The median (the upper one of an even count). Panics on an empty list.
pub fn median(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

/// The nearest-rank percentile `p` (0–100) of sorted values. Panics on an empty list.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Operations per second, readable: `12.40 M/s`, `18.7 k/s`.
pub fn ops(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M/s", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k/s", value / 1e3)
    } else {
        format!("{value:.0} /s")
    }
}

/// A duration in nanoseconds, readable: `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
pub fn nanos(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// A column that may not apply (`-` in the file).
pub enum Col {
    Num(usize),
    None,
}

impl Display for Col {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Col::Num(n) => write!(f, "{n}"),
            Col::None => f.write_str("-"),
        }
    }
}

impl From<usize> for Col {
    fn from(n: usize) -> Col {
        Col::Num(n)
    }
}

impl From<Option<usize>> for Col {
    fn from(n: Option<usize>) -> Col {
        n.map_or(Col::None, Col::Num)
    }
}

/// The rows of one program's TSV file.
pub struct Tsv {
    program: &'static str,
    text: String,
}

pub const TSV_HEADER: &str = "load\tpeer\tthreads\tpool\tmetric\tvalue\tunit";

impl Tsv {
    pub fn new(program: &'static str) -> Tsv {
        Tsv {
            program,
            text: format!("{TSV_HEADER}\n"),
        }
    }

    /// Adds a row. `value` is written in plain decimal (never `NaN` or an exponent).
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        load: &str,
        peer: &str,
        threads: impl Into<Col>,
        pool: impl Into<Col>,
        metric: &str,
        value: f64,
        unit: &str,
    ) {
        assert!(value.is_finite(), "{load} {peer} {metric}: not a finite value");
        for field in [load, peer, metric, unit] {
            assert!(
                !field.contains(['\t', '\n']),
                "a TSV field holds a tab or newline: {field:?}"
            );
        }
        let (threads, pool) = (threads.into(), pool.into());
        writeln!(
            self.text,
            "{load}\t{peer}\t{threads}\t{pool}\t{metric}\t{value}\t{unit}"
        )
        .unwrap();
    }

    /// Writes `DIR/<program>.tsv` and says where on stderr.
    pub fn write(&self, args: &Args) {
        write_file(args, &format!("{}.tsv", self.program), &self.text);
    }
}

/// Writes `DIR/<name>`, creating `DIR`; exits with a message if it cannot.
pub fn write_file(args: &Args, name: &str, text: &str) {
    let path = args.out.join(name);
    let written = std::fs::create_dir_all(&args.out).and_then(|()| std::fs::write(&path, text));
    match written {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(err) => {
            eprintln!("cannot write {}: {err}", path.display());
            std::process::exit(1);
        }
    }
}

/// HikariCP in a JVM of its own, driven over a pipe: the harness in `benches/hikari/`
/// (compiled here with `javac` into `DIR/hikari/`) started as `java … <class> --serve`.
pub struct Jvm {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    /// HikariCP's version, from its jar.
    pub hikari_version: String,
    /// The JVM's `java.version`.
    pub java_version: String,
    /// Its class path: the compiled harness, HikariCP's and slf4j's jars (what another JVM needs
    /// to run the harness too).
    pub classpath: Vec<PathBuf>,
}

impl Jvm {
    /// Compiles the harness and starts `class` in server mode; `Err` says what is missing.
    pub fn start(out: &std::path::Path, class: &str) -> Result<Jvm, String> {
        use std::process::{Command, Stdio};
        let install = "install them with `apt-get install -y default-jdk-headless libhikaricp-java` \
                       (Debian), or run with --no-hikari to leave HikariCP out";
        for tool in ["java", "javac"] {
            let found = Command::new(tool)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !found {
                return Err(format!("`{tool}` was not found on PATH; {install}"));
            }
        }
        let missing = |var: &str, stem: &str| {
            format!(
                "{stem}'s jar was not found (looked for ${var}, /usr/share/java/{stem}.jar and \
                 /usr/share/java/{stem}-*.jar); {install}"
            )
        };
        let hikari_jar = find_jar("MILLPOND_HIKARICP_JAR", "HikariCP")
            .ok_or_else(|| missing("MILLPOND_HIKARICP_JAR", "HikariCP"))?;
        let slf4j_jar = find_jar("MILLPOND_SLF4J_JAR", "slf4j-api")
            .ok_or_else(|| missing("MILLPOND_SLF4J_JAR", "slf4j-api"))?;
        let mut classpath = vec![hikari_jar, slf4j_jar];
        // HikariCP logs through slf4j; the no-op binding keeps its INFO lines (and slf4j's
        // warning about a missing binding) out of the output.
        classpath.extend(find_jar("MILLPOND_SLF4J_NOP_JAR", "slf4j-nop"));

        let classes = out.join("hikari");
        std::fs::create_dir_all(&classes)
            .map_err(|err| format!("cannot create {}: {err}", classes.display()))?;
        let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/hikari");
        let mut javac = Command::new("javac");
        javac
            .arg("-nowarn")
            .arg("-d")
            .arg(&classes)
            .arg("-cp")
            .arg(join_paths(&classpath));
        // Every harness file at once: CycleBench, SpikeBench and the stubs they share.
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sources)
            .map_err(|err| format!("cannot read {}: {err}", sources.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "java"))
            .collect();
        files.sort();
        javac.args(&files);
        let compiled = javac.status().map_err(|err| format!("cannot run javac: {err}"))?;
        if !compiled.success() {
            return Err(format!(
                "javac failed to compile the harness in {}",
                sources.display()
            ));
        }

        classpath.insert(0, classes);
        let mut child = Command::new("java")
            .arg("-cp")
            .arg(join_paths(&classpath))
            .arg(class)
            .arg("--serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot start java: {err}"))?;
        let input = child.stdin.take().expect("piped");
        let output = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut jvm = Jvm {
            child,
            input,
            output,
            hikari_version: String::new(),
            java_version: String::new(),
            classpath,
        };
        let ready = jvm.reply("ready");
        let mut words = ready.split_whitespace();
        jvm.hikari_version = words.next().unwrap_or("?").to_string();
        jvm.java_version = words.next().unwrap_or("?").to_string();
        Ok(jvm)
    }

    /// Sends one command line.
    pub fn send(&mut self, command: &str) {
        use std::io::Write;
        writeln!(self.input, "{command}")
            .and_then(|()| self.input.flush())
            .unwrap_or_else(|err| panic!("the HikariCP JVM is gone: {err}"));
    }

    /// The next line the JVM prints, without its line end.
    pub fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        let n = self
            .output
            .read_line(&mut line)
            .expect("reading from the HikariCP JVM");
        if n == 0 {
            let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("the HikariCP JVM ended unexpectedly ({status}); see its messages above");
        }
        line.trim_end().to_string()
    }

    /// Reads lines until one starts with `word`; returns the rest of it.
    pub fn reply(&mut self, word: &str) -> String {
        loop {
            let line = self.line();
            if let Some(rest) = line.strip_prefix(word) {
                return rest.trim().to_string();
            }
        }
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = writeln!(self.input, "quit").and_then(|()| self.input.flush());
        let _ = self.child.wait();
    }
}

/// Starts the HikariCP harness unless `--no-hikari` was given; exits with a clear message if
/// it cannot run.
pub fn hikari(args: &Args, program: &str, class: &str) -> Option<Jvm> {
    if args.has("--no-hikari") {
        return None;
    }
    match Jvm::start(&args.out, class) {
        Ok(jvm) => Some(jvm),
        Err(problem) => {
            eprintln!("{program}: HikariCP is one of this benchmark's peers and cannot run: {problem}");
            std::process::exit(1);
        }
    }
}

/// The jar named by `var`, else `/usr/share/java/<stem>.jar`, else the highest-sorting
/// `/usr/share/java/<stem>-*.jar`.
fn find_jar(var: &str, stem: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let dir = std::path::Path::new("/usr/share/java");
    let plain = dir.join(format!("{stem}.jar"));
    if plain.is_file() {
        return Some(plain);
    }
    let prefix = format!("{stem}-");
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(&prefix) && name.ends_with(".jar")
        })
        .collect();
    versioned.sort();
    versioned.pop()
}

fn join_paths(paths: &[PathBuf]) -> String {
    let parts: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    parts.join(":")
}
