//! Transaction-state tracking for backends whose driver does not report it: each statement the
//! borrower runs is classified by its leading keywords, so a connection given back with no
//! transaction open needs no rollback round trip.
//!
//! The rules err one way only: when in doubt the state becomes [`TransactionState::Unknown`]
//! or `Active`, which costs one rollback on return, never a transaction left open for the next
//! borrower.

#![cfg_attr(
    not(all(feature = "postgres", feature = "mysql", feature = "oracle")),
    allow(dead_code)
)]

use crate::manage::TransactionState;

/// Whose rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// PostgreSQL: transactions are opened explicitly (`BEGIN`, `START TRANSACTION`).
    Postgres,
    /// MySQL and MariaDB with autocommit on: as PostgreSQL; `SET autocommit` and XA make the
    /// state unknown from then on.
    MySql,
    /// Oracle: any DML opens a transaction implicitly; DDL commits.
    Oracle,
}

/// A connection's transaction state as inferred from the statements run on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxTracker {
    dialect: Dialect,
    state: TransactionState,
    /// Once the session's transaction mode was changed behind our back, nothing is certain.
    sticky_unknown: bool,
}

impl TxTracker {
    pub(crate) fn new(dialect: Dialect) -> Self {
        TxTracker {
            dialect,
            state: TransactionState::Idle,
            sticky_unknown: false,
        }
    }

    /// The state to report to the pool.
    pub(crate) fn state(&self) -> TransactionState {
        if self.sticky_unknown {
            TransactionState::Unknown
        } else {
            self.state
        }
    }

    /// Records that the transaction was ended by the driver's own API (commit, rollback, a
    /// transaction object dropped) or by the pool's reset.
    pub(crate) fn ended(&mut self) {
        self.state = TransactionState::Idle;
    }

    /// Records that a transaction was begun through the driver's own API.
    pub(crate) fn began(&mut self) {
        self.state = TransactionState::Active;
    }

    /// Records SQL sent through a path the tracker cannot see into (a raw handle lent out).
    pub(crate) fn lost_track(&mut self) {
        self.state = TransactionState::Unknown;
    }

    /// Classifies every statement in `sql`, in order. Call it before sending the SQL: if the
    /// statement fails half-way, the state errs towards a rollback.
    pub(crate) fn observe(&mut self, sql: &str) {
        // Most statements are a single query that cannot touch the transaction: classify those
        // without splitting the text into words (no allocation per statement).
        if self.dialect != Dialect::Oracle
            && !sql.contains(';')
            && leading_word(sql).is_some_and(|word| {
                [
                    "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "SHOW", "EXPLAIN", "TABLE",
                ]
                .iter()
                .any(|neutral| word.eq_ignore_ascii_case(neutral))
            })
        {
            return;
        }
        let statements = statements(sql);
        if self.dialect == Dialect::Oracle {
            // Oracle runs one statement per call; its semicolons belong to PL/SQL blocks.
            if let Some(first) = statements.first() {
                self.observe_statement(first);
            }
            return;
        }
        for words in statements {
            self.observe_statement(&words);
        }
    }

    fn observe_statement(&mut self, words: &[String]) {
        let first = words.first().map(String::as_str).unwrap_or("");
        let second = words.get(1).map(String::as_str).unwrap_or("");
        let ends = matches!(first, "COMMIT" | "END" | "ABORT")
            || (first == "ROLLBACK" && !matches!(second, "TO"))
            || (first == "PREPARE" && second == "TRANSACTION");
        let begins = first == "BEGIN" || (first == "START" && second == "TRANSACTION");
        match self.dialect {
            Dialect::Postgres => {
                if ends {
                    self.state = TransactionState::Idle;
                } else if begins {
                    self.state = TransactionState::Active;
                }
            }
            Dialect::MySql => {
                if first == "XA" || (first == "SET" && words.iter().any(|w| w == "AUTOCOMMIT")) {
                    self.sticky_unknown = true;
                } else if ends && first != "END" && first != "ABORT" {
                    self.state = TransactionState::Idle;
                } else if begins {
                    self.state = TransactionState::Active;
                }
            }
            Dialect::Oracle => {
                let dml = matches!(first, "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "LOCK" | "CALL")
                    || (first == "SELECT" && words.windows(2).any(|w| w[0] == "FOR" && w[1] == "UPDATE"));
                let ddl = matches!(
                    first,
                    "CREATE"
                        | "ALTER"
                        | "DROP"
                        | "TRUNCATE"
                        | "RENAME"
                        | "GRANT"
                        | "REVOKE"
                        | "COMMENT"
                        | "PURGE"
                );
                // An anonymous PL/SQL block may do anything, including commit halfway.
                let block = matches!(first, "BEGIN" | "DECLARE");
                let ends = first == "COMMIT" || (first == "ROLLBACK" && second != "TO");
                if ends || ddl {
                    self.state = TransactionState::Idle;
                } else if dml || block || (first == "SET" && second == "TRANSACTION") {
                    self.state = TransactionState::Active;
                }
            }
        }
    }
}

/// The first word of `sql`, after white space and comments; `None` if it does not start with a
/// word (a quoted string, a parenthesis, a dollar-quoted body…).
pub(crate) fn leading_word(sql: &str) -> Option<&str> {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            // Nested comments are rare here; anything unusual goes the slow, exact way.
            let (body, next) = after.split_once("*/")?;
            if body.contains("/*") {
                return None;
            }
            rest = next;
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0 && rest.as_bytes()[0].is_ascii_alphabetic()).then(|| &rest[..end])
}

/// The leading keywords (upper-cased) of each statement in `sql`, statements being separated by
/// `;` outside strings, quoted identifiers, comments and dollar-quoted bodies. Only words are
/// kept; up to 16 per statement (enough to find `FOR UPDATE` in a short query; a longer one is
/// scanned whole for that alone).
pub(crate) fn statements(sql: &str) -> Vec<Vec<String>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    let push_word = |words: &mut Vec<String>, w: &str| {
        let upper = w.to_ascii_uppercase();
        if words.len() < 16 || upper == "FOR" || upper == "UPDATE" {
            words.push(upper);
        }
    };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b';' => {
                if !words.is_empty() {
                    out.push(std::mem::take(&mut words));
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' => {
                // MySQL's line comment; elsewhere `#` is an operator, never a keyword start.
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = crate::sql::block_comment_end(bytes, i);
            }
            b'\'' | b'"' | b'`' => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\\' && c == b'\'' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == c {
                        if bytes.get(i + 1) == Some(&c) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
                words.push(String::from("?"));
            }
            b'$' => {
                // A dollar-quoted body: $$ … $$ or $tag$ … $tag$.
                let tag_end = bytes[i + 1..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .map(|p| i + 1 + p);
                match tag_end {
                    Some(end) if bytes[end] == b'$' => {
                        let tag = &sql[i..=end];
                        let body_start = end + 1;
                        i = sql[body_start..]
                            .find(tag)
                            .map_or(bytes.len(), |p| body_start + p + tag.len());
                        words.push(String::from("?"));
                    }
                    _ => i += 1,
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                push_word(&mut words, &sql[start..i]);
            }
            _ => i += 1,
        }
    }
    if !words.is_empty() {
        out.push(words);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(dialect: Dialect, sqls: &[&str]) -> TransactionState {
        let mut t = TxTracker::new(dialect);
        for sql in sqls {
            t.observe(sql);
        }
        t.state()
    }

    #[test]
    fn statements_skip_strings_comments_and_dollar_bodies() {
        let s =
            statements("select 'a;b' ; -- begin;\n /* commit; /* nested */ */ Begin; $x$ ; commit $x$; end");
        let firsts: Vec<&str> = s.iter().map(|w| w[0].as_str()).collect();
        assert_eq!(firsts, ["SELECT", "BEGIN", "?", "END"]);
    }

    #[test]
    fn leading_word_skips_white_space_and_comments() {
        assert_eq!(leading_word("  -- hi\n /* c */ select 1"), Some("select"));
        assert_eq!(leading_word("/* a /* b */ */ BEGIN"), None);
        assert_eq!(leading_word("(SELECT 1)"), None);
        assert_eq!(leading_word("BEGIN"), Some("BEGIN"));
        // The fast path leaves the state alone; a transaction opened before stays open.
        let mut t = TxTracker::new(Dialect::Postgres);
        t.observe("BEGIN");
        t.observe("/* read */ SELECT 1");
        assert_eq!(t.state(), TransactionState::Active);
        t.observe("select 1; commit");
        assert_eq!(t.state(), TransactionState::Idle);
    }

    #[test]
    fn postgres_rules() {
        use TransactionState::*;
        assert_eq!(after(Dialect::Postgres, &["SELECT 1"]), Idle);
        assert_eq!(
            after(Dialect::Postgres, &["BEGIN", "INSERT INTO t VALUES (1)"]),
            Active
        );
        assert_eq!(
            after(Dialect::Postgres, &["begin; insert into t values (1); commit"]),
            Idle
        );
        assert_eq!(
            after(
                Dialect::Postgres,
                &["START TRANSACTION ISOLATION LEVEL SERIALIZABLE"]
            ),
            Active
        );
        assert_eq!(
            after(Dialect::Postgres, &["BEGIN", "ROLLBACK TO SAVEPOINT a"]),
            Active
        );
        assert_eq!(after(Dialect::Postgres, &["BEGIN", "end"]), Idle);
        assert_eq!(
            after(Dialect::Postgres, &["SELECT 'BEGIN'", "/* BEGIN */ SELECT 1"]),
            Idle
        );
    }

    #[test]
    fn mysql_rules() {
        use TransactionState::*;
        assert_eq!(
            after(Dialect::MySql, &["START TRANSACTION", "INSERT INTO t VALUES (1)"]),
            Active
        );
        assert_eq!(after(Dialect::MySql, &["BEGIN", "ROLLBACK"]), Idle);
        assert_eq!(after(Dialect::MySql, &["SET autocommit = 0", "COMMIT"]), Unknown);
        assert_eq!(after(Dialect::MySql, &["# BEGIN\nSELECT 1"]), Idle);
    }

    #[test]
    fn oracle_rules() {
        use TransactionState::*;
        assert_eq!(after(Dialect::Oracle, &["SELECT * FROM dual"]), Idle);
        assert_eq!(after(Dialect::Oracle, &["INSERT INTO t VALUES (1)"]), Active);
        assert_eq!(after(Dialect::Oracle, &["UPDATE t SET x = 1", "COMMIT"]), Idle);
        assert_eq!(
            after(Dialect::Oracle, &["DELETE FROM t", "CREATE TABLE u (x NUMBER)"]),
            Idle
        );
        assert_eq!(
            after(Dialect::Oracle, &["SELECT x FROM t WHERE y = 1 FOR UPDATE"]),
            Active
        );
        assert_eq!(after(Dialect::Oracle, &["BEGIN p; COMMIT; END;"]), Active);
    }
}
