//! A connection's transaction state: the statement tracker and the session attribute once proven.

use crate::backends::txn::{Dialect, TxTracker};
use crate::manage::TransactionState;

/// The transaction state of one connection: the statement tracker, and whether the session's
/// own transaction attribute has proved itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct TxState {
    tracker: TxTracker,
    /// Set once `OCI_ATTR_TRANSACTION_IN_PROGRESS` has reported a transaction on this
    /// connection: from then on its "no transaction" is believed too.
    attribute_trusted: bool,
}

impl TxState {
    pub(super) fn new() -> Self {
        TxState {
            tracker: TxTracker::new(Dialect::Oracle),
            attribute_trusted: false,
        }
    }

    /// Before `sql` is sent. With autocommit on, no statement leaves a transaction open once
    /// it succeeds, so only `after` matters.
    pub(super) fn before(&mut self, sql: &str, autocommit: bool) {
        if !autocommit {
            self.tracker.observe(sql);
        }
    }

    /// After a statement ran (`ok`) or failed. A failure keeps what `before` assumed.
    pub(super) fn after(&mut self, ok: bool, autocommit: bool) {
        if ok && autocommit {
            self.tracker.ended();
        }
    }

    pub(super) fn ended(&mut self) {
        self.tracker.ended();
    }

    pub(super) fn lost_track(&mut self) {
        self.tracker.lost_track();
    }

    /// The state to report, given what the session attribute says (`None` when it cannot be
    /// read: Oracle Client older than 12.1, or a closed connection).
    pub(super) fn report(&mut self, in_progress: Option<bool>) -> TransactionState {
        // What the attribute says is also recorded in the tracker, which answers alone when
        // the attribute cannot be read.
        match in_progress {
            Some(true) => {
                self.attribute_trusted = true;
                self.tracker.began();
                TransactionState::Active
            }
            Some(false) if self.attribute_trusted => {
                self.tracker.ended();
                TransactionState::Idle
            }
            _ => self.tracker.state(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(steps: &[(&str, bool)]) -> TransactionState {
        let mut s = TxState::new();
        for (sql, autocommit) in steps {
            s.before(sql, *autocommit);
            s.after(true, *autocommit);
        }
        s.report(None)
    }

    #[test]
    fn the_tracker_follows_statements_and_autocommit() {
        use TransactionState::*;
        assert_eq!(after(&[("SELECT 1 FROM dual", false)]), Idle);
        assert_eq!(after(&[("INSERT INTO t VALUES (1)", false)]), Active);
        assert_eq!(
            after(&[
                ("INSERT INTO t VALUES (1)", false),
                ("CREATE TABLE u (x NUMBER)", false)
            ]),
            Idle
        );
        assert_eq!(after(&[("SELECT x FROM t FOR UPDATE", false)]), Active);
        // Autocommit: DML commits as it succeeds, and commits what was open before.
        assert_eq!(after(&[("INSERT INTO t VALUES (1)", true)]), Idle);
        assert_eq!(
            after(&[("UPDATE t SET x = 1", false), ("SELECT 1 FROM dual", true)]),
            Idle
        );
        assert_eq!(after(&[("BEGIN p; END;", true)]), Idle);

        // A failed statement keeps the assumption made before it ran.
        let mut s = TxState::new();
        s.before("INSERT INTO t VALUES (1)", true);
        s.after(false, true);
        assert_eq!(s.report(None), Idle);
        s.before("INSERT INTO t VALUES (1)", false);
        s.after(false, false);
        assert_eq!(s.report(None), Active);
        s.ended();
        assert_eq!(s.report(None), Idle);
        s.lost_track();
        assert_eq!(s.report(None), Unknown);
    }

    #[test]
    fn the_session_attribute_is_believed_once_it_has_reported_a_transaction() {
        use TransactionState::*;
        let mut s = TxState::new();
        // Not yet proven: "no transaction" does not overrule the tracker.
        s.before("BEGIN p; END;", false);
        assert_eq!(s.report(Some(false)), Active);
        s.lost_track();
        assert_eq!(s.report(Some(false)), Unknown);
        // A transaction the tracker cannot see (a query over a database link).
        s.ended();
        s.before("SELECT * FROM t@remote", false);
        assert_eq!(s.report(Some(true)), Active);
        // Proven: from now on it decides.
        s.before("BEGIN p; COMMIT; END;", false);
        assert_eq!(s.report(Some(false)), Idle);
        s.lost_track();
        assert_eq!(s.report(Some(false)), Idle);
        assert_eq!(s.report(Some(true)), Active);
        // Unreadable (closed connection): the tracker again, which has heard the attribute.
        assert_eq!(s.report(None), Active);
        s.lost_track();
        assert_eq!(s.report(None), Unknown);
    }
}
