//! Database servers of a test's own, for the tests that restart, stop, freeze or reconfigure a
//! server: the shared servers (PostgreSQL on 5432, MariaDB on 3306) are only connected to and
//! queried, because other people's tests and databases use them at the same time.
//!
//! Each server lives in a temporary directory of its own (its data, its socket, its log), listens
//! on 127.0.0.1 on a free port of its own, and is stopped and deleted when its handle is dropped,
//! also when the test panics. A watcher process guards against the test process dying without
//! running `Drop` (a SIGKILL, an abort, Ctrl-C): it blocks reading a pipe only this process
//! writes, and when the pipe closes it stops the server and deletes the directory.
//!
//! Run as root (as `scripts/test` is), the servers run as the `postgres` and `mysql` OS users,
//! since `initdb` and `pg_ctl` refuse to run as root; run as anyone else, as that user.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The password role every throwaway PostgreSQL has (it logs in by `scram-sha-256`).
pub const PG_PASSWORD_ROLE: &str = "millpond_pw";
/// The password of [`PG_PASSWORD_ROLE`].
pub const PG_PASSWORD: &str = "secret";

/// Up to how many ports a start tries: a free port can be taken by someone else between the
/// check and the server's own bind.
pub(crate) const PORT_ATTEMPTS: usize = 5;

/// The OS user a server runs as: `Some((uid, gid))` of `name` when this process is root, `None`
/// (run as ourselves) otherwise.
pub(crate) fn server_user(name: &str) -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd is readable");
    let ids = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let (uid, gid) = (fields.nth(1)?, fields.next()?);
        Some((uid.parse().ok()?, gid.parse().ok()?))
    });
    Some(ids.unwrap_or_else(|| {
        panic!(
            "running as root, the throwaway servers need the OS user `{name}` (the server packages create it)"
        )
    }))
}

/// `program` to be run as `user` (see [`server_user`]), output captured.
pub(crate) fn command_as(user: Option<(u32, u32)>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    // Somewhere the server's user may enter, whatever the test's own directory is.
    cmd.stdin(Stdio::null()).current_dir("/");
    cmd
}

/// Runs `cmd`, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|err| panic!("{what}: cannot run {cmd:?}: {err}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh directory under the system's temporary directory, owned by `user`.
pub(crate) fn temp_dir(kind: &str, user: Option<(u32, u32)>) -> PathBuf {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "millpond-{kind}-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, SeqCst)
    ));
    // A directory left by an earlier process with the same pid (its watcher removes it, but a
    // reboot in between would not).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    }
    dir
}

/// A port on 127.0.0.1 that nothing listens on now, below the kernel's ephemeral range: an
/// outgoing connection can then never take it, even while the server is down for a restart.
pub(crate) fn free_port() -> u16 {
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let low: u16 = 10_000;
    let span = u32::from(ephemeral_low.saturating_sub(low).max(1000));
    // Start somewhere different in each process and call, so that concurrent test binaries
    // rarely try the same ports.
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let seed = nanos
        ^ std::process::id().wrapping_mul(2_654_435_761)
        ^ CALLS.fetch_add(1, SeqCst).wrapping_mul(7919);
    (0..span)
        .map(|i| low + ((seed.wrapping_add(i)) % span) as u16)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port on 127.0.0.1")
}

/// Why a server did not start on the port it was given.
pub(crate) enum Refused {
    /// Something else bound the port between `free_port`'s look and the server's own bind: the
    /// server said this.
    PortTaken(String),
    /// Anything else: what went wrong.
    Failed(String),
}

/// Starts a server with `start` on one free port after another while the port it was given
/// turns out taken, up to [`PORT_ATTEMPTS`] ports: what `start` returned and the port, or why
/// it failed, with the ports tried, for the test's panic.
pub(crate) fn start_on_free_port<T>(
    mut start: impl FnMut(u16) -> Result<T, Refused>,
) -> Result<(T, u16), String> {
    let mut tried = Vec::new();
    loop {
        let port = free_port();
        match start(port) {
            Ok(started) => return Ok((started, port)),
            Err(Refused::PortTaken(_)) if tried.len() + 1 < PORT_ATTEMPTS => tried.push(port),
            Err(Refused::PortTaken(why) | Refused::Failed(why)) => {
                return Err(format!("ports tried: {tried:?} and {port}:\n{why}"));
            }
        }
    }
}

/// What became of a server process waited for by [`wait_until_ready`].
pub(crate) enum Start {
    /// `ready` said yes.
    Ready,
    /// The process ended first, with this status.
    Exited(std::process::ExitStatus),
    /// Neither within the limit; the process was killed.
    TooSlow,
}

/// Waits until `ready` says the server process `server` accepts connections, it exits, or
/// `limit` passes (then it is killed and reaped).
pub(crate) fn wait_until_ready(
    server: &mut Child,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) -> Start {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            return Start::Exited(status);
        }
        if ready() {
            return Start::Ready;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            let _ = server.wait();
            return Start::TooSlow;
        }
        // A process starting up: nothing to be woken by, so it is looked at again.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last `lines` lines of a log file, for failure messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The guard process: `script` runs under `sh` as `user`, in a process group of its own (so a
/// Ctrl-C meant for the test does not kill it first), reading from a pipe only this process
/// holds. It gets a line when the test stops the server itself, end of file when the test
/// process is gone.
pub(crate) fn spawn_watcher(
    user: Option<(u32, u32)>,
    script: &str,
    args: &[&std::ffi::OsStr],
) -> (Child, ChildStdin) {
    let mut watcher = command_as(user, "sh")
        .arg("-c")
        .arg(script)
        .arg("millpond-watcher")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("sh runs");
    let pipe = watcher.stdin.take().unwrap();
    (watcher, pipe)
}

/// The watcher's script for a server run as a child process of the test: it is told the pid of
/// each server started (`server PID`) and when the test has stopped and reaped it (`stopped`: the
/// pid may be reused from then on); at end of file (or `done`) it kills the server it knows of,
/// then deletes the directory `$1`.
pub(crate) const KILL_AND_REMOVE: &str = r#"pid=
while read -r what arg; do
    case $what in server) pid=$arg ;; stopped) pid= ;; done) break ;; esac
done
if [ -n "$pid" ]; then kill -KILL "$pid"; fi
rm -rf "$1""#;

/// Tells the watcher the test is done with the server, and waits until it has stopped it and
/// deleted its directory.
pub(crate) fn finish_watcher(watcher: &mut Child, pipe: Option<ChildStdin>) {
    if let Some(mut pipe) = pipe {
        let _ = pipe.write_all(b"done\n");
    }
    let _ = watcher.wait();
}

#[cfg(feature = "postgres")]
// Not every test binary that links this file uses it.
#[allow(unused_imports)]
pub use self::postgres_server::Postgres;

#[cfg(feature = "postgres")]
mod postgres_server {
    use super::*;

    /// The directory of the newest PostgreSQL's programs: Debian's
    /// `/usr/lib/postgresql/N/bin`, else whatever `pg_config --bindir` says.
    fn bin_dir() -> PathBuf {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return bin;
        }
        let out = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("PostgreSQL's server programs: none under /usr/lib/postgresql/*/bin, and no pg_config");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    /// A PostgreSQL server of the test's own: `initdb` into a temporary directory, its own port
    /// on 127.0.0.1, the superuser `postgres` by trust and [`PG_PASSWORD_ROLE`] by password
    /// (its own `pg_hba.conf`), a database `test`. Dropping it stops the server and deletes
    /// everything.
    pub struct Postgres {
        dir: PathBuf,
        port: u16,
        user: Option<(u32, u32)>,
        bin: PathBuf,
        watcher: Child,
        pipe: Option<ChildStdin>,
    }

    impl Postgres {
        /// Creates and starts the server; panics (the test fails) when it cannot.
        pub fn start() -> Postgres {
            let user = server_user("postgres");
            let bin = bin_dir();
            let dir = temp_dir("pg", user);
            let data = dir.join("data");
            // The watcher first, so that nothing below can outlive this process.
            let (watcher, pipe) = spawn_watcher(
                user,
                r#"read -r line; "$1" -D "$2" -m immediate -w stop; rm -rf "$3""#,
                &[bin.join("pg_ctl").as_os_str(), data.as_os_str(), dir.as_os_str()],
            );
            let mut server = Postgres {
                dir,
                port: 0,
                user,
                bin,
                watcher,
                pipe: Some(pipe),
            };
            run(
                command_as(user, server.bin.join("initdb"))
                    .arg("-D")
                    .arg(&data)
                    .args([
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--no-sync",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ]),
                "initdb",
            );
            std::fs::write(
                data.join("pg_hba.conf"),
                "# A throwaway server of millpond's tests: the superuser by trust, every other role by password.\n\
                 local all postgres trust\n\
                 host all postgres 127.0.0.1/32 trust\n\
                 host all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .unwrap();
            // Durability is no concern here; the socket stays out of /var/run/postgresql.
            writeln!(
                conf,
                "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n\
                 synchronous_commit = off\nfull_page_writes = off\npassword_encryption = 'scram-sha-256'",
                server.dir.display()
            )
            .unwrap();
            drop(conf);

            start_on_free_port(|port| {
                server.port = port;
                match server.pg_ctl(&["-w", "-t", "60", "start"]) {
                    Ok(()) => Ok(()),
                    Err(log) if log.contains("could not bind") => Err(Refused::PortTaken(log)),
                    Err(log) => Err(Refused::Failed(log)),
                }
            })
            .unwrap_or_else(|why| panic!("the throwaway PostgreSQL did not start ({why})"));
            let mut admin = server.connect_db("postgres");
            // Two statements: CREATE DATABASE cannot run in the implicit transaction of a batch.
            admin.batch_execute("CREATE DATABASE test").unwrap();
            admin
                .batch_execute(&format!(
                    "CREATE ROLE {PG_PASSWORD_ROLE} LOGIN PASSWORD '{PG_PASSWORD}'"
                ))
                .unwrap();
            server
        }

        /// Runs `pg_ctl` on this server's data directory with `args` (the port passed on every
        /// start); `Err` holds the end of the server's log.
        fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
            let log = self.dir.join("log");
            let out = command_as(self.user, self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(format!("-p {}", self.port))
                .args(args)
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "pg_ctl {args:?}: {}{}\nlog:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    log_tail(&log, 20)
                ))
            }
        }

        /// Its port on 127.0.0.1.
        pub fn port(&self) -> u16 {
            self.port
        }

        /// The temporary directory it lives in (deleted with it).
        pub fn dir(&self) -> &Path {
            &self.dir
        }

        /// The URL of the superuser `postgres` (trust) and the database `test`.
        pub fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:{}/test", self.port)
        }

        /// The URL of [`PG_PASSWORD_ROLE`] with `password` (right or wrong) and the database `test`.
        pub fn password_url(&self, password: &str) -> String {
            format!(
                "postgres://{PG_PASSWORD_ROLE}:{password}@127.0.0.1:{}/test",
                self.port
            )
        }

        /// A superuser connection to `db` of the test's own, outside any pool.
        fn connect_db(&self, db: &str) -> postgres::Client {
            postgres::Client::connect(
                &format!(
                    "host=127.0.0.1 port={} user=postgres dbname={db} application_name=mp-throwaway connect_timeout=5",
                    self.port
                ),
                postgres::NoTls,
            )
            .unwrap_or_else(|err| panic!("connecting to the throwaway PostgreSQL on port {}: {err}", self.port))
        }

        /// A superuser connection to `test` of the test's own, outside any pool.
        pub fn client(&self) -> postgres::Client {
            self.connect_db("test")
        }

        /// The postmaster's process id (the first line of `postmaster.pid`).
        pub fn postmaster_pid(&self) -> i32 {
            let text = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
                .expect("postmaster.pid: the server is running");
            text.lines().next().unwrap().trim().parse().unwrap()
        }

        /// The process ids of the server processes serving connections tagged `application_name`.
        pub fn backend_pids(&self, application_name: &str) -> Vec<i32> {
            self.client()
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid",
                    &[&application_name],
                )
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect()
        }

        /// Restarts the server as an operator would (`pg_ctl restart`, fast mode: every session
        /// is terminated) and returns when it accepts connections again.
        pub fn restart(&self) {
            self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "restart"])
                .unwrap_or_else(|err| panic!("{err}"));
        }

        /// Stops the server (fast mode) and returns when it is down; [`Postgres::start_again`]
        /// brings it back on the same port.
        pub fn stop(&self) {
            self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "stop"])
                .unwrap_or_else(|err| panic!("{err}"));
        }

        /// Starts the stopped server again, on the same port; returns when it accepts connections.
        pub fn start_again(&self) {
            self.pg_ctl(&["-w", "-t", "60", "start"])
                .unwrap_or_else(|err| panic!("{err}"));
        }
    }

    impl Drop for Postgres {
        fn drop(&mut self) {
            finish_watcher(&mut self.watcher, self.pipe.take());
        }
    }
}

#[cfg(feature = "mysql")]
// Not every test binary that links this file uses it.
#[allow(unused_imports)]
pub use self::mariadb_server::MariaDb;

#[cfg(feature = "mysql")]
mod mariadb_server {
    use super::*;

    /// `name` from /usr/sbin or /usr/bin, where Debian puts MariaDB's programs (/usr/sbin is not
    /// on every user's PATH), else from PATH.
    fn program(name: &str) -> PathBuf {
        ["/usr/sbin", "/usr/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|path| path.is_file())
            .unwrap_or_else(|| PathBuf::from(name))
    }

    /// A MariaDB server of the test's own: `mariadb-install-db` into a temporary directory, its
    /// own port on 127.0.0.1, `root` without a password, a database `test`. The test may create
    /// users on it. Dropping it stops the server and deletes everything.
    pub struct MariaDb {
        dir: PathBuf,
        port: u16,
        server: Child,
        watcher: Child,
        pipe: Option<ChildStdin>,
    }

    impl MariaDb {
        /// Creates and starts the server; panics (the test fails) when it cannot.
        pub fn start() -> MariaDb {
            let user = server_user("mysql");
            let dir = temp_dir("mariadb", user);
            let data = dir.join("data");
            // The watcher first, so that nothing below can outlive this process.
            let (mut watcher, mut pipe) = spawn_watcher(user, KILL_AND_REMOVE, &[dir.as_os_str()]);
            run(
                command_as(user, program("mariadb-install-db"))
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    // A temporary directory of its own: bootstraps running at once in the
                    // shared /tmp remove each other's temporary tables (2 installs in 18 failed
                    // with "Unknown table 'mysql.tmp_user_sys'", 0 in 24 with this).
                    .arg(format!("--tmpdir={}", dir.display()))
                    .args(["--auth-root-authentication-method=normal", "--skip-test-db"]),
                "mariadb-install-db",
            );
            let log = dir.join("error.log");
            let started = start_on_free_port(|port| {
                let mut server = command_as(user, program("mariadbd"))
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    .arg(format!("--socket={}", dir.join("sock").display()))
                    .arg(format!("--tmpdir={}", dir.display()))
                    .arg(format!("--pid-file={}", dir.join("pid").display()))
                    .arg(format!("--log-error={}", log.display()))
                    .arg(format!("--port={port}"))
                    .args([
                        "--bind-address=127.0.0.1",
                        "--skip-log-bin",
                        "--innodb-buffer-pool-size=16M",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    // Not in the test's process group: a Ctrl-C is the watcher's to handle.
                    .process_group(0)
                    .spawn()
                    .map_err(|err| {
                        Refused::Failed(format!("mariadbd does not run (install mariadb-server): {err}"))
                    })?;
                writeln!(pipe, "server {}", server.id()).expect("the watcher is alive");
                let url = format!("mysql://root@127.0.0.1:{port}/");
                let ready = || match mysql::Conn::new(mysql::Opts::from_url(&url).unwrap()) {
                    Ok(mut conn) => {
                        use mysql::prelude::Queryable;
                        conn.query_drop("CREATE DATABASE test").unwrap();
                        true
                    }
                    Err(_) => false,
                };
                let start = wait_until_ready(&mut server, Duration::from_secs(60), ready);
                if let Start::Ready = start {
                    return Ok(server);
                }
                writeln!(pipe, "stopped").expect("the watcher is alive");
                let why = log_tail(&log, 20);
                match start {
                    // Someone took the port between our check and the server's bind.
                    Start::Exited(_) if why.contains("Address already in use") => {
                        Err(Refused::PortTaken(why))
                    }
                    Start::Exited(status) => {
                        Err(Refused::Failed(format!("exited at start ({status}):\n{why}")))
                    }
                    _ => Err(Refused::Failed(format!(
                        "no connection accepted within 60 s:\n{why}"
                    ))),
                }
            });
            match started {
                Ok((server, port)) => MariaDb {
                    dir,
                    port,
                    server,
                    watcher,
                    pipe: Some(pipe),
                },
                Err(why) => {
                    finish_watcher(&mut watcher, Some(pipe));
                    panic!("the throwaway MariaDB did not start ({why})");
                }
            }
        }

        /// Its port on 127.0.0.1.
        pub fn port(&self) -> u16 {
            self.port
        }

        /// The temporary directory it lives in (deleted with it).
        pub fn dir(&self) -> &Path {
            &self.dir
        }

        /// `127.0.0.1:PORT`.
        pub fn addr(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }

        /// The URL of `root` (no password) and the database `test`.
        pub fn url(&self) -> String {
            format!("mysql://root@127.0.0.1:{}/test", self.port)
        }

        /// The server's process id.
        pub fn pid(&self) -> u32 {
            self.server.id()
        }
    }

    impl Drop for MariaDb {
        fn drop(&mut self) {
            // A throwaway: no need for a clean shutdown.
            let _ = self.server.kill();
            let _ = self.server.wait();
            if let Some(pipe) = self.pipe.as_mut() {
                let _ = writeln!(pipe, "stopped");
            }
            finish_watcher(&mut self.watcher, self.pipe.take());
        }
    }
}
