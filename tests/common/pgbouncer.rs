//! A PgBouncer of the test's own in front of the shared PostgreSQL (127.0.0.1:5432, user
//! `postgres`, database `test`), for the tests that pause it or read its admin console: the
//! shared server is only connected to and queried through it.
//!
//! It runs in the foreground as a child of the test (as the `postgres` OS user when the test
//! runs as root: PgBouncer refuses to run as root), from a temporary directory of its own holding
//! its configuration, auth file, pidfile and log; it listens on 127.0.0.1 on a free port, with no
//! Unix socket, in transaction mode. Dropping the handle kills it and deletes the directory; a
//! watcher process does the same if the test process dies without running `Drop` (see
//! `throwaway.rs`).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::time::Duration;

use postgres::{NoTls, SimpleQueryMessage, SimpleQueryRow};

use super::throwaway::{
    KILL_AND_REMOVE, Refused, Start, command_as, finish_watcher, log_tail, server_user, spawn_watcher,
    start_on_free_port, temp_dir, wait_until_ready,
};

/// How long a start may take before the test fails.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The settings of a PgBouncer that tests vary.
#[derive(Debug, Clone)]
pub struct PgBouncerConfig {
    /// Server connections per user and database (`default_pool_size`; no reserve pool).
    pub default_pool_size: u32,
    /// How long a client may wait for a server connection before PgBouncer disconnects it
    /// (`query_wait_timeout`); PgBouncer checks about three times a second.
    pub query_wait_timeout: Duration,
}

impl Default for PgBouncerConfig {
    fn default() -> Self {
        PgBouncerConfig {
            default_pool_size: 4,
            // PgBouncer's own default: never reached by a test that does not ask for it.
            query_wait_timeout: Duration::from_secs(120),
        }
    }
}

/// A running PgBouncer of the test's own; see the module's docs.
pub struct PgBouncer {
    dir: PathBuf,
    port: u16,
    config: PgBouncerConfig,
    server: Child,
    watcher: Child,
    pipe: Option<ChildStdin>,
}

/// `pgbouncer` from /usr/sbin, where Debian puts it (not on every user's PATH), else from PATH.
fn program() -> PathBuf {
    let debian = Path::new("/usr/sbin/pgbouncer");
    if debian.is_file() {
        debian.to_owned()
    } else {
        PathBuf::from("pgbouncer")
    }
}

/// The configuration: the database `test` of the shared server as user `postgres`; clients by
/// `trust`; `postgres` may use the admin console.
fn ini_text(dir: &Path, port: u16, config: &PgBouncerConfig) -> String {
    format!(
        "[databases]\n\
         test = host=127.0.0.1 port=5432 dbname=test user=postgres\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {dir}/userlist.txt\n\
         admin_users = postgres\n\
         pool_mode = transaction\n\
         default_pool_size = {pool_size}\n\
         min_pool_size = 0\n\
         reserve_pool_size = 0\n\
         max_client_conn = 200\n\
         ; The `postgres` crate sends only client_encoding, user, database, application_name and\n\
         ; (when set) options; JDBC drivers send extra_float_digits, which production setups ignore.\n\
         ignore_startup_parameters = extra_float_digits\n\
         query_wait_timeout = {query_wait:.3}\n\
         logfile = {dir}/pgbouncer.log\n\
         pidfile = {dir}/pgbouncer.pid\n",
        dir = dir.display(),
        pool_size = config.default_pool_size,
        query_wait = config.query_wait_timeout.as_secs_f64(),
    )
}

/// What PgBouncer said before it failed: its stderr (a bad setting, before the log is open) and
/// the end of its log.
fn failure_text(dir: &Path) -> String {
    format!(
        "stderr:\n{}\nlog:\n{}",
        log_tail(&dir.join("stderr.log"), 20),
        log_tail(&dir.join("pgbouncer.log"), 20)
    )
}

/// A connection to the admin console (the database `pgbouncer`) on `port`.
fn admin_client(port: u16) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=pgbouncer connect_timeout=5"),
        NoTls,
    )
}

impl PgBouncer {
    /// Starts one with the default settings (4 server connections).
    pub fn start() -> PgBouncer {
        PgBouncer::start_with(PgBouncerConfig::default())
    }

    /// Starts one with `config`, and returns when it accepts connections; panics (the test
    /// fails) when it cannot.
    pub fn start_with(config: PgBouncerConfig) -> PgBouncer {
        let user = server_user("postgres");
        let dir = temp_dir("pgbouncer", user);
        // The watcher first, so that nothing below can outlive this process.
        let (mut watcher, mut pipe) = spawn_watcher(user, KILL_AND_REMOVE, &[dir.as_os_str()]);
        // `trust` still wants the user in the auth file; no password is asked.
        std::fs::write(dir.join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
        let ini = dir.join("pgbouncer.ini");
        let started = start_on_free_port(|port| {
            std::fs::write(&ini, ini_text(&dir, port, &config)).unwrap();
            let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
            let mut server = command_as(user, program())
                .arg(&ini)
                .stdout(Stdio::null())
                .stderr(stderr)
                // Not in the test's process group: a Ctrl-C is the watcher's to handle.
                .process_group(0)
                .spawn()
                .map_err(|err| {
                    Refused::Failed(format!(
                        "cannot run {}: {err} (scripts/pgbouncer.sh installs it)",
                        program().display()
                    ))
                })?;
            writeln!(pipe, "server {}", server.id()).expect("the watcher is alive");
            let start = wait_until_ready(&mut server, START_LIMIT, || admin_client(port).is_ok());
            if let Start::Ready = start {
                return Ok(server);
            }
            writeln!(pipe, "stopped").expect("the watcher is alive");
            let why = failure_text(&dir);
            match start {
                // Someone took the port between our check and PgBouncer's bind.
                Start::Exited(_) if why.contains("Address already in use") => Err(Refused::PortTaken(why)),
                Start::Exited(status) => Err(Refused::Failed(format!("exited at start ({status}):\n{why}"))),
                _ => Err(Refused::Failed(format!(
                    "no connection accepted within {START_LIMIT:?}:\n{why}"
                ))),
            }
        });
        match started {
            Ok((server, port)) => PgBouncer {
                dir,
                port,
                config,
                server,
                watcher,
                pipe: Some(pipe),
            },
            Err(why) => {
                finish_watcher(&mut watcher, Some(pipe));
                panic!("the test's PgBouncer did not start ({why})");
            }
        }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The settings it was started with.
    pub fn config(&self) -> &PgBouncerConfig {
        &self.config
    }

    /// The temporary directory it lives in (deleted with it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of the database `test` through it, as user `postgres`, without TLS (PgBouncer
    /// has no certificate here); more parameters go after `&`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test?sslmode=disable", self.port)
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.dir.join("pgbouncer.log"), lines)
    }

    /// A connection to the database `test` through it, outside any pool.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=test connect_timeout=5",
                self.port
            ),
            NoTls,
        )
        .unwrap_or_else(|err| panic!("connecting through the test's PgBouncer: {err}"))
    }

    /// Runs an admin console command (`PAUSE test`, `RESUME test`, `SHOW POOLS`, …) on a
    /// connection of its own, and returns the rows it answers with (none for a command).
    pub fn admin(&self, command: &str) -> Vec<SimpleQueryRow> {
        let mut admin = admin_client(self.port).unwrap_or_else(|err| {
            panic!(
                "connecting to the test's PgBouncer's admin console: {err}\nlog:\n{}",
                self.log_tail(20)
            )
        });
        admin
            .simple_query(command)
            .unwrap_or_else(|err| panic!("{command} on the test's PgBouncer: {err}"))
            .into_iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            })
            .collect()
    }

    /// The rows of `SHOW {what}` for the database `test`, each as its `column` value.
    pub fn show_column(&self, what: &str, column: &str) -> Vec<String> {
        self.admin(&format!("SHOW {what}"))
            .iter()
            .filter(|row| row.get("database") == Some("test"))
            .map(|row| row.get(column).unwrap_or_default().to_owned())
            .collect()
    }

    /// The process ids of the PostgreSQL server processes behind its server connections to
    /// `test` now (`SHOW SERVERS`, `remote_pid`).
    pub fn server_pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .show_column("SERVERS", "remote_pid")
            .iter()
            .map(|pid| pid.parse().expect("remote_pid is a number"))
            .collect();
        pids.sort_unstable();
        pids
    }
}

impl Drop for PgBouncer {
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
