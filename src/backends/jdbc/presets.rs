//! Presets: a [`JdbcManager`] per database, its URL built from host, port and database, its
//! driver class named. User and password go in as properties, never in the URL.

use super::config::JdbcManager;
use super::error::Vendor;

fn preset(url: String, class: &str, jar: &'static str, vendor: Vendor) -> JdbcManager {
    let mut manager = JdbcManager::new(url).driver_class(class).vendor(vendor);
    manager.driver_jar_hint = Some(jar);
    manager
}

/// An IPv6 address in brackets, as URLs need it.
fn host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// Oracle Database through ojdbc (`ojdbc8.jar`/`ojdbc11.jar`, not in Debian: add it with
/// [`JdbcManager::jar`]): `jdbc:oracle:thin:@//host:port/service`, `oracle.jdbc.OracleDriver`.
/// The usual port is 1521.
pub fn oracle(host_name: &str, port: u16, service: &str) -> JdbcManager {
    preset(
        format!("jdbc:oracle:thin:@//{}:{port}/{service}", host(host_name)),
        "oracle.jdbc.OracleDriver",
        "ojdbc11.jar or ojdbc8.jar",
        Vendor::Oracle,
    )
}

/// OceanBase through its Connector/J (`oceanbase-client.jar`, add it with
/// [`JdbcManager::jar`]): `jdbc:oceanbase://host:port/database`, `com.oceanbase.jdbc.Driver`.
/// The usual port is 2881.
pub fn oceanbase(host_name: &str, port: u16, database: &str) -> JdbcManager {
    preset(
        format!("jdbc:oceanbase://{}:{port}/{database}", host(host_name)),
        "com.oceanbase.jdbc.Driver",
        "oceanbase-client.jar",
        Vendor::OceanBase,
    )
}

/// PostgreSQL through pgjdbc (`/usr/share/java/postgresql.jar` from Debian's
/// libpostgresql-jdbc-java): `jdbc:postgresql://host:port/database`, `org.postgresql.Driver`.
/// The usual port is 5432.
pub fn postgresql(host_name: &str, port: u16, database: &str) -> JdbcManager {
    preset(
        format!("jdbc:postgresql://{}:{port}/{database}", host(host_name)),
        "org.postgresql.Driver",
        "postgresql.jar",
        Vendor::PostgreSql,
    )
}

/// MariaDB (and MySQL) through MariaDB Connector/J (`/usr/share/java/mariadb-java-client.jar`
/// from libmariadb-java): `jdbc:mariadb://host:port/database`, `org.mariadb.jdbc.Driver`. The
/// usual port is 3306.
pub fn mariadb(host_name: &str, port: u16, database: &str) -> JdbcManager {
    preset(
        format!("jdbc:mariadb://{}:{port}/{database}", host(host_name)),
        "org.mariadb.jdbc.Driver",
        "mariadb-java-client.jar",
        Vendor::MySql,
    )
}

/// MySQL through MySQL Connector/J (`mysql-connector-j.jar`): `jdbc:mysql://host:port/database`,
/// `com.mysql.cj.jdbc.Driver`. MariaDB's driver serves MySQL too: see [`mariadb`].
pub fn mysql(host_name: &str, port: u16, database: &str) -> JdbcManager {
    preset(
        format!("jdbc:mysql://{}:{port}/{database}", host(host_name)),
        "com.mysql.cj.jdbc.Driver",
        "mysql-connector-j.jar",
        Vendor::MySql,
    )
}

/// H2 (`/usr/share/java/h2.jar` from libh2-java), embedded: `jdbc:h2:{database}`, where
/// `database` is `mem:name` (in memory; add `;DB_CLOSE_DELAY=-1` to keep it while no
/// connection is open), a file path, or `tcp://host:port/name` for a server; `org.h2.Driver`.
pub fn h2(database: &str) -> JdbcManager {
    preset(
        format!("jdbc:h2:{database}"),
        "org.h2.Driver",
        "h2.jar",
        Vendor::H2,
    )
}

/// SQLite through sqlite-jdbc (`/usr/share/java/sqlite-jdbc.jar` from
/// libxerial-sqlite-jdbc-java): `jdbc:sqlite:{path}` (`:memory:` for memory), `org.sqlite.JDBC`.
pub fn sqlite(path: &str) -> JdbcManager {
    preset(
        format!("jdbc:sqlite:{path}"),
        "org.sqlite.JDBC",
        "sqlite-jdbc.jar",
        Vendor::Sqlite,
    )
}

/// Apache Derby, embedded (`/usr/share/java/derby.jar` from libderby-java):
/// `jdbc:derby:{database}` (`memory:name;create=true` in memory),
/// `org.apache.derby.jdbc.EmbeddedDriver`.
pub fn derby(database: &str) -> JdbcManager {
    preset(
        format!("jdbc:derby:{database}"),
        "org.apache.derby.jdbc.EmbeddedDriver",
        "derby.jar",
        Vendor::Derby,
    )
}

/// HSQLDB (`/usr/share/java/hsqldb1.8.0.jar` or a newer `hsqldb.jar`): `jdbc:hsqldb:{database}`
/// (`mem:name` in memory), `org.hsqldb.jdbcDriver`.
pub fn hsqldb(database: &str) -> JdbcManager {
    preset(
        format!("jdbc:hsqldb:{database}"),
        "org.hsqldb.jdbcDriver",
        "hsqldb.jar",
        Vendor::Hsqldb,
    )
}

/// Any database: its JDBC URL and driver class (`None` to let `DriverManager` find a JDBC 4
/// driver on the class path).
pub fn generic(url: &str, driver_class: Option<&str>) -> JdbcManager {
    let manager = JdbcManager::new(url);
    match driver_class {
        Some(class) => manager.driver_class(class),
        None => manager,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_build_urls_and_name_drivers() {
        let cases = [
            (
                oracle("db.example", 1521, "FREEPDB1"),
                "jdbc:oracle:thin:@//db.example:1521/FREEPDB1",
                "oracle.jdbc.OracleDriver",
            ),
            (
                oceanbase("ob", 2881, "test"),
                "jdbc:oceanbase://ob:2881/test",
                "com.oceanbase.jdbc.Driver",
            ),
            (
                postgresql("::1", 5432, "app"),
                "jdbc:postgresql://[::1]:5432/app",
                "org.postgresql.Driver",
            ),
            (
                mariadb("h", 3306, "test"),
                "jdbc:mariadb://h:3306/test",
                "org.mariadb.jdbc.Driver",
            ),
            (
                mysql("h", 3306, "test"),
                "jdbc:mysql://h:3306/test",
                "com.mysql.cj.jdbc.Driver",
            ),
            (h2("mem:t"), "jdbc:h2:mem:t", "org.h2.Driver"),
            (sqlite(":memory:"), "jdbc:sqlite::memory:", "org.sqlite.JDBC"),
            (
                derby("memory:d;create=true"),
                "jdbc:derby:memory:d;create=true",
                "org.apache.derby.jdbc.EmbeddedDriver",
            ),
            (hsqldb("mem:h"), "jdbc:hsqldb:mem:h", "org.hsqldb.jdbcDriver"),
            (generic("jdbc:x:y", Some("X")), "jdbc:x:y", "X"),
        ];
        for (manager, url, class) in cases {
            assert_eq!(manager.url(), url);
            assert_eq!(manager.driver_class_name(), Some(class));
        }
        assert_eq!(oracle("h", 1, "s").vendor_kind(), Vendor::Oracle);
        assert_eq!(generic("jdbc:h2:mem:", None).driver_class_name(), None);
    }

    #[test]
    fn passwords_never_show() {
        let m = postgresql("h", 5432, "db")
            .user("u")
            .password("s3cr3t")
            .property("sslpassword", "k3y");
        let shown = format!("{m:?} {m}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("k3y"), "{shown}");
        let m = generic("jdbc:mysql://u:s3cr3t@h/db", None);
        let shown = format!("{m:?} {m}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
