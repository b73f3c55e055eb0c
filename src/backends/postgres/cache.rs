//! The statement cache: the statements a connection prepared for SQL text, kept so that a query
//! run again costs one round trip instead of a prepare and an execute (the driver prepares
//! every `query(&str)` afresh). Least recently used out first; per connection, so a statement
//! is only ever run on the connection that prepared it.
//!
//! Behind PgBouncer (`pgbouncer=true`) it keeps no statement: only the parameter types the
//! server reported for the SQL text, which the statement sent unnamed then declares (see
//! [`super::unnamed`]).

use std::collections::HashMap;
use std::sync::Arc;

use postgres::Statement;
use postgres::error::SqlState;
use postgres::types::Type;

use super::commit::{PreparedCommits, begins_transaction, ends_transaction};
use super::sql::Sql;

/// How many statements a connection keeps by default (sqlx's default too).
pub(super) const DEFAULT_CAPACITY: usize = 100;

/// The statements of one connection, by SQL text.
#[derive(Debug)]
pub(super) struct StatementCache {
    capacity: usize,
    entries: HashMap<Box<str>, Entry>,
    /// Bumped on every use; an entry's `used` is the tick of its last.
    clock: u64,
    /// Behind PgBouncer: SQL text runs unnamed, and only parameter types are kept.
    unnamed: bool,
    /// Behind PgBouncer, the driver looked up a type of its own with a named statement, which it
    /// keeps for the connection's life although the server connection it was made on is gone:
    /// the connection must be closed rather than pooled again.
    retire: bool,
}

#[derive(Debug)]
struct Entry {
    kept: Kept,
    used: u64,
    /// The statement begins or ends a transaction.
    tx_control: bool,
}

/// What is kept for a SQL text.
#[derive(Debug, Clone)]
enum Kept {
    /// A statement prepared on this connection.
    Prepared(Statement),
    /// The parameter types the server reported (behind PgBouncer).
    Described(Arc<[Type]>),
}

/// A statement found in the cache, and whether it begins or ends a transaction.
pub(super) struct Cached {
    pub(super) statement: Statement,
    pub(super) tx_control: bool,
}

impl StatementCache {
    /// A cache of `capacity` statements; 0 keeps none.
    pub(super) fn new(capacity: usize) -> Self {
        StatementCache {
            capacity,
            entries: HashMap::new(),
            clock: 0,
            unnamed: false,
            retire: false,
        }
    }

    /// A cache for a connection behind PgBouncer in transaction mode: it keeps the parameter
    /// types of up to `capacity` SQL texts, and never a statement.
    pub(super) fn unnamed(capacity: usize) -> Self {
        StatementCache {
            unnamed: true,
            ..StatementCache::new(capacity)
        }
    }

    /// Whether SQL text runs unnamed (behind PgBouncer).
    pub(super) fn is_unnamed(&self) -> bool {
        self.unnamed
    }

    /// Notes that the connection must be closed when it goes back (see `retire`).
    pub(super) fn retire(&mut self) {
        self.retire = true;
    }

    /// Whether the connection must be closed when it goes back.
    pub(super) fn must_retire(&self) -> bool {
        self.retire
    }

    /// Whether statements are kept at all.
    pub(super) fn is_on(&self) -> bool {
        self.capacity > 0 && !self.unnamed
    }

    /// How many statements are kept now.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// What is kept for `sql`, marked as just used.
    fn get(&mut self, sql: &str) -> Option<&Entry> {
        self.clock += 1;
        let entry = self.entries.get_mut(sql)?;
        entry.used = self.clock;
        Some(entry)
    }

    /// Keeps `kept` for `sql`, putting out the least recently used entry when full. (The
    /// driver closes a statement on the server once its last handle is dropped.)
    fn insert(&mut self, sql: &str, kept: Kept, tx_control: bool) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity
            && !self.entries.contains_key(sql)
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(sql, _)| sql.clone())
        {
            self.entries.remove(&oldest);
        }
        self.clock += 1;
        self.entries.insert(
            sql.into(),
            Entry {
                kept,
                used: self.clock,
                tx_control,
            },
        );
    }

    /// The SQL text of `query` to run through the cache: `None` when the cache is off (or
    /// statements run unnamed), for a prepared statement, and for SQL that drops prepared
    /// statements (run as it is).
    pub(super) fn key<'q, T: ?Sized + Sql>(&self, query: &'q T) -> Option<&'q str> {
        query
            .sql_text()
            .filter(|sql| self.is_on() && !forgets_statements(sql))
    }

    /// The SQL text of `query` to run unnamed: `Some` behind PgBouncer, for SQL text.
    pub(super) fn unnamed_key<'q, T: ?Sized + Sql>(&self, query: &'q T) -> Option<&'q str> {
        query.sql_text().filter(|_| self.unnamed)
    }

    /// The parameter types kept for `sql`, or learned now by `describe` and kept.
    pub(super) fn get_or_describe(
        &mut self,
        sql: &str,
        describe: impl FnOnce(&str) -> Result<Arc<[Type]>, postgres::Error>,
    ) -> Result<Arc<[Type]>, postgres::Error> {
        if let Some(Entry {
            kept: Kept::Described(types),
            ..
        }) = self.get(sql)
        {
            return Ok(Arc::clone(types));
        }
        let types = describe(sql)?;
        self.insert(sql, Kept::Described(Arc::clone(&types)), false);
        Ok(types)
    }

    /// The statement kept for `sql`, or one made now by `prepare` and kept (noted in `commits`
    /// if it commits).
    pub(super) fn get_or_prepare(
        &mut self,
        sql: &str,
        commits: &mut PreparedCommits,
        prepare: impl FnOnce(&str) -> Result<Statement, postgres::Error>,
    ) -> Result<Cached, postgres::Error> {
        if let Some(Entry {
            kept: Kept::Prepared(statement),
            tx_control,
            ..
        }) = self.get(sql)
        {
            return Ok(Cached {
                statement: statement.clone(),
                tx_control: *tx_control,
            });
        }
        let statement = prepare(sql)?;
        let tx_control = begins_transaction(sql) || ends_transaction(sql);
        commits.note(sql, &statement);
        self.insert(sql, Kept::Prepared(statement.clone()), tx_control);
        Ok(Cached {
            statement,
            tx_control,
        })
    }

    /// Forgets the statement for `sql` (the server no longer has it, or it went stale).
    pub(super) fn remove(&mut self, sql: &str) {
        self.entries.remove(sql);
    }

    /// Forgets every statement (the server dropped them: `DEALLOCATE ALL`, `DISCARD ALL`).
    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Whether the server refused a cached statement as gone (`26000`, the statement was
/// deallocated behind the cache's back) or stale (`0A000`, "cached plan must not change result
/// type": a table it reads changed shape). Either way, preparing it again fixes it.
pub(super) fn is_stale(err: &postgres::Error) -> bool {
    match err.code() {
        Some(code) if *code == SqlState::INVALID_SQL_STATEMENT_NAME => true,
        Some(code) if *code == SqlState::FEATURE_NOT_SUPPORTED => err
            .as_db_error()
            .is_some_and(|db| db.message().contains("cached plan must not change result type")),
        _ => false,
    }
}

/// Whether `sql` may drop the session's prepared statements: a statement of it begins with
/// `DEALLOCATE` or `DISCARD` (any case). Read loosely, erring towards yes: emptying the cache
/// needlessly costs a prepare per statement; missing one costs a failed run (and, outside a
/// transaction, a retry).
pub(super) fn forgets_statements(sql: &str) -> bool {
    sql.split(';').any(|statement| {
        let mut rest = statement.trim_start();
        // Leading comments.
        loop {
            if let Some(after) = rest.strip_prefix("--") {
                rest = after.split_once('\n').map_or("", |(_, next)| next).trim_start();
            } else if let Some(after) = rest.strip_prefix("/*") {
                rest = after.split_once("*/").map_or("", |(_, next)| next).trim_start();
            } else {
                break;
            }
        }
        let word: String = rest
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        word == "deallocate" || word == "discard"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_drop_prepared_ones_are_recognised() {
        assert!(forgets_statements("DEALLOCATE ALL"));
        assert!(forgets_statements("deallocate prepare s1"));
        assert!(forgets_statements("SELECT 1; DISCARD ALL"));
        assert!(forgets_statements("-- reset\n  /* all */ discard all"));
        assert!(!forgets_statements("SELECT 'discard'"));
        assert!(!forgets_statements("SELECT discarded FROM t"));
        assert!(!forgets_statements(""));
    }
}
