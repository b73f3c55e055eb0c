//! Commits that are not: PostgreSQL answers a `COMMIT` (or `END`, or `PREPARE TRANSACTION`) in a
//! transaction that has failed with a rollback, and the driver reports that as success, since
//! only the command tag (`ROLLBACK`) tells, and the `postgres` crate does not show it. Every
//! commit sent through this backend is therefore made to fail in a failed transaction: a
//! statement sent just before it in the same transaction is refused with SQLSTATE 25P02
//! (`in_failed_sql_transaction`), and that error is returned instead of a silent rollback.

use postgres::error::SqlState;
use postgres::{Client, Error, Statement, Transaction};

use super::sql::Sql;
use crate::backends::txn::{Dialect, TxTracker, leading_word, statements};
use crate::manage::TransactionState;

/// A commit that reports a server-side rollback as an error, in one round trip: `SELECT 1`
/// fails in a failed transaction and the batch stops there.
pub(super) const CHECKED_COMMIT: &str = "SELECT 1; COMMIT";

/// What can run a batch of statements: the client, or a transaction of the driver's.
pub(super) trait Batch {
    fn batch(&mut self, sql: &str) -> Result<(), Error>;
}

impl Batch for Client {
    fn batch(&mut self, sql: &str) -> Result<(), Error> {
        self.batch_execute(sql)
    }
}

impl Batch for Transaction<'_> {
    fn batch(&mut self, sql: &str) -> Result<(), Error> {
        self.batch_execute(sql)
    }
}

/// Whether `err` is the refusal of a statement in a failed transaction.
pub(super) fn is_failed_transaction(err: &Error) -> bool {
    err.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION)
}

/// Whether the first statement of `sql` commits. Only the first matters: any other statement
/// before a commit fails in a failed transaction (except `ROLLBACK TO SAVEPOINT`, which
/// mends it), and the batch stops there.
pub(super) fn commits(sql: &str) -> bool {
    // Most statements start with a plain word that is none of these: no allocation for them.
    if let Some(word) = leading_word(sql)
        && !["COMMIT", "END", "PREPARE"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w))
    {
        return false;
    }
    statements(sql).first().is_some_and(|words| {
        let first = words[0].as_str();
        matches!(first, "COMMIT" | "END")
            || (first == "PREPARE" && words.get(1).is_some_and(|w| w == "TRANSACTION"))
    })
}

/// Prepared statements that commit, so that running one can be checked like the text.
#[derive(Debug, Default)]
pub(super) struct PreparedCommits {
    /// The `Debug` form of each, which names the server-side statement. The driver exposes no
    /// other identity; were a later version to drop the name, statements with the same (empty)
    /// parameters and columns would match too, which costs a check, never a missed one.
    seen: Vec<String>,
}

impl PreparedCommits {
    pub(super) fn note(&mut self, sql: &str, statement: &Statement) {
        if commits(sql) {
            self.seen.push(format!("{statement:?}"));
        }
    }

    /// Whether running `query` may commit.
    pub(super) fn commits<T: ?Sized + Sql>(&self, query: &T) -> bool {
        match (query.sql_text(), query.statement()) {
            (Some(sql), _) => commits(sql),
            (None, Some(statement)) => {
                !self.seen.is_empty()
                    && statement.params().is_empty()
                    && statement.columns().is_empty()
                    && self.seen.contains(&format!("{statement:?}"))
            }
            (None, None) => false,
        }
    }
}

/// What a failed check did to the transaction.
pub(super) enum Checked {
    /// The transaction had failed: it was rolled back, as the commit would have done.
    RolledBack(Error),
    /// Something else went wrong (the connection, say); the state is not known.
    Failed(Error),
}

impl Checked {
    pub(super) fn into_error(self) -> Error {
        match self {
            Checked::RolledBack(err) | Checked::Failed(err) => err,
        }
    }
}

/// Before a statement that commits: a round trip that fails if the transaction has failed, in
/// which case the transaction is rolled back (as the commit would have done) and the server's
/// 25P02 error is returned.
pub(super) fn check_before_commit(conn: &mut impl Batch) -> Result<(), Checked> {
    match conn.batch("SELECT 1") {
        Ok(()) => Ok(()),
        Err(err) if is_failed_transaction(&err) && conn.batch("ROLLBACK").is_ok() => {
            Err(Checked::RolledBack(err))
        }
        Err(err) => Err(Checked::Failed(err)),
    }
}

/// Whether `sql` contains a statement that begins a transaction.
pub(super) fn begins_transaction(sql: &str) -> bool {
    let mut probe = TxTracker::new(Dialect::Postgres);
    probe.observe(sql);
    probe.state() != TransactionState::Idle
}

/// Whether `sql` contains a statement that ends a transaction.
pub(super) fn ends_transaction(sql: &str) -> bool {
    let mut probe = TxTracker::new(Dialect::Postgres);
    probe.began();
    probe.observe(sql);
    probe.state() == TransactionState::Idle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_commit_are_recognised() {
        for sql in [
            "COMMIT",
            "commit and chain",
            "END",
            "end transaction",
            " /* done */ COMMIT; BEGIN",
            "-- x\nCOMMIT",
            "PREPARE TRANSACTION 'x'",
        ] {
            assert!(commits(sql), "{sql}");
        }
        for sql in [
            "SELECT 1; COMMIT",
            "ROLLBACK",
            "ROLLBACK TO SAVEPOINT a; COMMIT",
            "PREPARE q AS SELECT 1",
            "SELECT 'COMMIT'",
            "INSERT INTO t VALUES (1)",
            "BEGIN",
            "",
        ] {
            assert!(!commits(sql), "{sql}");
        }
    }

    #[test]
    fn transaction_control_is_recognised() {
        assert!(begins_transaction("BEGIN"));
        assert!(begins_transaction("start transaction read only"));
        assert!(!begins_transaction("SELECT 'BEGIN'"));
        assert!(ends_transaction("COMMIT"));
        assert!(ends_transaction("rollback"));
        assert!(!ends_transaction("ROLLBACK TO SAVEPOINT a"));
        assert!(!ends_transaction("DISCARD ALL"));
    }
}
