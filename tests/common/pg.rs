//! The local PostgreSQL seen from outside the pool: a monitor connection of the test's own, and
//! the count of server processes whose connection carries a tag (`application_name`).

/// A connection of the test's own, outside any pool. Fails (never skips) when the server is
/// not there.
pub fn monitor() -> postgres::Client {
    postgres::Client::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test application_name=mp-monitor connect_timeout=5",
        postgres::NoTls,
    )
    .expect("the local PostgreSQL server must be running at 127.0.0.1:5432 (user postgres, database test)")
}

/// Server processes whose connection carries `tag`.
pub fn count_tagged(mon: &mut postgres::Client, tag: &str) -> i64 {
    mon.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
        &[&tag],
    )
    .unwrap()
    .get(0)
}
