//! MySQL and MariaDB in a session: statements through [`MySqlConnection`]'s watched
//! `Queryable`, so the pool keeps knowing whether a transaction is open.

use ::mysql::prelude::Queryable;

use super::connection::SessionConnection;
use crate::backends::mysql::MySqlConnection;

impl SessionConnection for MySqlConnection {
    type Error = ::mysql::Error;

    /// The text protocol; a query's rows are read and dropped.
    fn run_sql(&mut self, sql: &str) -> Result<(), ::mysql::Error> {
        self.query_drop(sql)
    }

    /// `START TRANSACTION`: MySQL's `BEGIN` means something else inside stored programs.
    fn begin_transaction(&mut self) -> Result<(), ::mysql::Error> {
        self.run_sql("START TRANSACTION")
    }
}
