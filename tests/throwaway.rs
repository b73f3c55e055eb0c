//! The throwaway servers of `tests/common/throwaway.rs` themselves: each starts on a port of its
//! own with the roles and the database the tests expect, and is gone (server stopped, directory
//! deleted) when the test drops it and also when the test process is killed without running any
//! `Drop`.
#![cfg(any(feature = "postgres", feature = "mysql"))]

mod common;

use std::any::Any;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::eventually;

/// Whether something accepts connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The `millpond-KIND-*` directories this process (pid `pid`) made under the temporary directory.
fn dirs_of(kind: &str, pid: u32) -> Vec<PathBuf> {
    let prefix = format!("millpond-{kind}-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// Set (to the test's name) in the child process of [`killed_while_holding_a_server`].
const CHILD: &str = "MILLPOND_THROWAWAY_CHILD";
/// What the child prints before its server's port.
const PORT_MARK: &str = "throwaway server port: ";

/// Runs this test binary again for `test` alone; in that child, `start` starts a server (it
/// returns the port and the handle), the child prints the port and holds the server until its
/// standard input closes. Here, the child is killed with SIGKILL as soon as it has printed the
/// port, so that no `Drop` of its runs; returns the port and the child's pid. Never returns in
/// the child.
fn killed_while_holding_a_server(test: &str, start: fn() -> (u16, Box<dyn Any>)) -> (u16, u32) {
    if std::env::var(CHILD).as_deref() == Ok(test) {
        let (port, server) = start();
        // On a line of its own: libtest has printed "test NAME ... " without a newline.
        println!("\n{PORT_MARK}{port}");
        std::io::stdout().flush().unwrap();
        // Killed before this returns; if the parent died instead, end tidily.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        drop(server);
        std::process::exit(0);
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines
        .find_map(|line| line.ok()?.strip_prefix(PORT_MARK)?.parse().ok())
        .expect("the child reports the port of its server (it failed to start one otherwise)");
    assert!(listening(port), "the child's server listens on {port}");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    (port, pid)
}

/// After the killed child: its server stops listening and its directory goes, by the watcher.
fn assert_cleaned_up_after_kill(kind: &str, port: u16, child: u32) {
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(20), || !listening(port)
            && dirs_of(kind, child).is_empty()),
        "the {kind} server of a killed test process is still there after 20 s: listening {}, directories {:?}",
        listening(port),
        dirs_of(kind, child)
    );
    println!("{kind}: cleaned up {:?} after the kill", started.elapsed());
}

#[cfg(feature = "postgres")]
mod throwaway_postgres {
    use super::*;
    use common::throwaway::{PG_PASSWORD, PG_PASSWORD_ROLE, Postgres};

    fn connect(url: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(url, postgres::NoTls)
    }

    #[test]
    fn a_throwaway_postgres_has_its_roles_restarts_and_is_gone_when_dropped() {
        let started = Instant::now();
        let server = Postgres::start();
        println!("throwaway PostgreSQL started in {:?}", started.elapsed());
        let port = server.port();
        assert_ne!(port, 5432);
        assert!(listening(port));

        let mut su = connect(&server.url()).expect("the superuser logs in by trust");
        let row = su.query_one("SELECT current_user::text, current_database()::text, rolsuper FROM pg_roles WHERE rolname = current_user", &[]).unwrap();
        assert_eq!(
            (
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, bool>(2)
            ),
            ("postgres".to_owned(), "test".to_owned(), true)
        );
        let mut pw = connect(&server.password_url(PG_PASSWORD)).expect("the password role logs in");
        let me: String = pw.query_one("SELECT current_user::text", &[]).unwrap().get(0);
        assert_eq!(me, PG_PASSWORD_ROLE);
        let Err(wrong) = connect(&server.password_url("wrong")) else {
            panic!("a wrong password let the password role in");
        };
        assert!(
            format!("{wrong:?}").contains("password authentication failed"),
            "the password role must give its password: {wrong:?}"
        );
        let tagged = postgres::Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname=test application_name=mp-tagged"),
            postgres::NoTls,
        )
        .unwrap();
        assert_eq!(server.backend_pids("mp-tagged").len(), 1);

        let postmaster = server.postmaster_pid();
        let started = Instant::now();
        server.restart();
        println!("restart took {:?}", started.elapsed());
        assert_ne!(server.postmaster_pid(), postmaster, "a new postmaster");
        assert!(
            su.is_closed() || su.simple_query("SELECT 1").is_err(),
            "the restart ended the sessions"
        );
        drop((su, pw, tagged));
        assert_eq!(server.port(), port);
        assert!(connect(&server.url()).is_ok(), "back on the same port");

        server.stop();
        assert!(!listening(port));
        server.start_again();
        assert!(listening(port));

        let dir = server.dir().to_owned();
        assert!(dir.join("data/postmaster.pid").is_file());
        let started = Instant::now();
        drop(server);
        println!("stop and cleanup took {:?}", started.elapsed());
        assert!(!listening(port), "the server stopped with the drop");
        assert!(!dir.exists(), "{} deleted with the drop", dir.display());
    }

    #[test]
    fn a_throwaway_postgres_goes_when_its_test_process_is_killed() {
        let (port, child) = killed_while_holding_a_server(
            "throwaway_postgres::a_throwaway_postgres_goes_when_its_test_process_is_killed",
            || {
                let server = Postgres::start();
                (server.port(), Box::new(server))
            },
        );
        assert_cleaned_up_after_kill("pg", port, child);
    }
}

#[cfg(feature = "mysql")]
mod throwaway_mariadb {
    use super::*;
    use common::throwaway::MariaDb;
    use millpond::mysql::Queryable;

    #[test]
    fn a_throwaway_mariadb_lets_the_test_create_users_and_is_gone_when_dropped() {
        let started = Instant::now();
        let server = MariaDb::start();
        println!("throwaway MariaDB started in {:?}", started.elapsed());
        let port = server.port();
        assert_ne!(port, 3306);
        let mut root = mysql::Conn::new(mysql::Opts::from_url(&server.url()).unwrap()).unwrap();
        root.query_drop("CREATE USER 'mp_user'@'%' IDENTIFIED BY 'pw'")
            .unwrap();
        let mut user = mysql::Conn::new(
            mysql::Opts::from_url(&format!("mysql://mp_user:pw@{}/", server.addr())).unwrap(),
        )
        .unwrap();
        let me: Option<String> = user.query_first("SELECT CURRENT_USER()").unwrap();
        assert_eq!(me.as_deref(), Some("mp_user@%"));
        drop((root, user));
        let dir = server.dir().to_owned();
        assert!(dir.join("data").is_dir());
        let started = Instant::now();
        drop(server);
        println!("stop and cleanup took {:?}", started.elapsed());
        assert!(!listening(port), "the server stopped with the drop");
        assert!(!dir.exists(), "{} deleted with the drop", dir.display());
    }

    #[test]
    fn a_throwaway_mariadb_goes_when_its_test_process_is_killed() {
        let (port, child) = killed_while_holding_a_server(
            "throwaway_mariadb::a_throwaway_mariadb_goes_when_its_test_process_is_killed",
            || {
                let server = MariaDb::start();
                (server.port(), Box::new(server))
            },
        );
        assert_cleaned_up_after_kill("mariadb", port, child);
    }
}

/// A start whose port turns out taken is tried again on another free port, up to
/// `PORT_ATTEMPTS` ports; then it fails with what the server said and the ports it tried. Any
/// other failure ends it at once.
#[test]
fn a_start_whose_port_is_taken_tries_another_port() {
    use common::throwaway::{PORT_ATTEMPTS, Refused, start_on_free_port};

    let mut ports = Vec::new();
    let (tries, port) = start_on_free_port(|port| {
        ports.push(port);
        if ports.len() < 3 {
            Err(Refused::PortTaken("could not bind".into()))
        } else {
            Ok(ports.len())
        }
    })
    .unwrap();
    assert_eq!((tries, port), (3, ports[2]));

    let mut attempts = 0;
    let err = start_on_free_port(|_| {
        attempts += 1;
        Err::<(), _>(Refused::PortTaken("Address already in use".into()))
    })
    .unwrap_err();
    assert_eq!(attempts, PORT_ATTEMPTS);
    assert!(
        err.contains("Address already in use") && err.contains("ports tried"),
        "{err}"
    );

    let mut attempts = 0;
    let err = start_on_free_port(|_| {
        attempts += 1;
        Err::<(), _>(Refused::Failed("initdb failed".into()))
    })
    .unwrap_err();
    assert_eq!(attempts, 1);
    assert!(err.contains("initdb failed"), "{err}");
}
