//! [`Sql`]: what the query methods of [`PgConnection`](super::PgConnection) and
//! [`PgTransaction`](super::PgTransaction) take.

use postgres::{Statement, ToStatement};

/// SQL text or a statement prepared on the same connection: what [`PgConnection`](super::PgConnection)'s query
/// methods take. Text is classified to follow the transaction state; a [`Statement`] is not
/// (see [`PgConnection::prepare`](super::PgConnection::prepare)).
pub trait Sql: ToStatement {
    /// The SQL text, or `None` for a prepared statement.
    fn sql_text(&self) -> Option<&str>;

    /// The prepared statement, or `None` for SQL text.
    fn statement(&self) -> Option<&Statement> {
        None
    }
}

impl Sql for str {
    fn sql_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl Sql for String {
    fn sql_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl Sql for Statement {
    fn sql_text(&self) -> Option<&str> {
        None
    }

    fn statement(&self) -> Option<&Statement> {
        Some(self)
    }
}
