//! [`JdbcStatement`]: a prepared statement, run many times or batched.

use std::fmt;
use std::ops::ControlFlow;

use jni::objects::JObject;

use super::bridge::BridgeSlot;
use super::conn::{JdbcConnection, add_batch_bound, query_bound, update_bound, values_to_bind};
use super::error::{JavaResult, JdbcError};
use super::jvm::JavaRef;
use super::methods::{self, close_quietly};
use super::rows::Columns;
use crate::sql::{Params, Row, Translated, Value};

/// A `PreparedStatement` on a [`JdbcConnection`], closed when dropped. Its result's columns are
/// read on its first run and kept for the next, which (as each update and each batch entry)
/// binds, runs and reads in one call into the JVM through the connection's query bridge.
pub struct JdbcStatement<'conn> {
    conn: &'conn mut JdbcConnection,
    stmt: JavaRef,
    translated: Translated,
    sql: String,
    batched: usize,
    columns: Option<Columns>,
}

impl fmt::Debug for JdbcStatement<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcStatement")
            .field("sql", &self.translated.sql())
            .field("batched", &self.batched)
            .finish_non_exhaustive()
    }
}

impl<'conn> JdbcStatement<'conn> {
    pub(super) fn new(conn: &'conn mut JdbcConnection, sql: &str) -> Result<JdbcStatement<'conn>, JdbcError> {
        let translated = conn.translator.translate(sql)?;
        let stmt = conn.call(|env, c| {
            let stmt = methods::prepare_statement(env, c, translated.sql())?;
            let kept = JavaRef::new(env, &stmt);
            env.delete_local_ref(stmt).or_throw(env)?;
            kept
        })?;
        Ok(JdbcStatement {
            conn,
            stmt,
            translated,
            sql: sql.to_owned(),
            batched: 0,
            columns: None,
        })
    }

    /// The SQL as sent to the driver (placeholders rewritten to `?`).
    pub fn sql(&self) -> &str {
        self.translated.sql()
    }

    /// `f` runs the statement with `params` as its values (given its SQL as the driver has
    /// it, the columns kept from its last run and the connection's bridge).
    fn run<T>(
        &mut self,
        params: Params,
        f: impl FnOnce(
            &mut jni::JNIEnv<'_>,
            &JObject<'static>,
            &str,
            &[Value],
            &mut Option<Columns>,
            &mut BridgeSlot,
        ) -> Result<T, JdbcError>,
    ) -> Result<T, JdbcError> {
        let values = values_to_bind(&self.translated, params)?;
        let ddl = self.conn.observe(&self.sql);
        let stmt = self.stmt.as_obj();
        let (sql, columns) = (self.translated.sql(), &mut self.columns);
        let result = self
            .conn
            .call_bridged(|env, _, bridge| f(env, stmt, sql, &values, columns, bridge));
        self.conn.ran(ddl);
        result
    }

    /// Runs the statement with `params`; returns the number of rows changed.
    pub fn execute(&mut self, params: impl Into<Params>) -> Result<u64, JdbcError> {
        self.run(params.into(), |env, stmt, _, values, _, bridge| {
            update_bound(env, stmt, values, bridge)
        })
    }

    /// Runs the statement as a query with `params`; returns its rows.
    pub fn query(&mut self, params: impl Into<Params>) -> Result<Vec<Row>, JdbcError> {
        let mut rows = Vec::new();
        self.run(params.into(), |env, stmt, sql, values, columns, bridge| {
            let mut push = |row| {
                rows.push(row);
                Ok(ControlFlow::Continue(()))
            };
            query_bound(env, stmt, sql, values, columns, bridge, i32::MAX, &mut push)
                .map_err(|err| err.into_inner())
        })?;
        Ok(rows)
    }

    /// Adds one set of parameters to the batch (`addBatch`).
    pub fn add_batch(&mut self, params: impl Into<Params>) -> Result<(), JdbcError> {
        let values = values_to_bind(&self.translated, params.into())?;
        let stmt = self.stmt.as_obj();
        self.conn
            .call_bridged(|env, _, bridge| add_batch_bound(env, stmt, &values, bridge))?;
        self.batched += 1;
        Ok(())
    }

    /// Sends the batch (`executeBatch`) and returns each entry's update count (`-2` when the
    /// driver does not say).
    pub fn execute_batch(&mut self) -> Result<Vec<i64>, JdbcError> {
        let ddl = self.conn.observe(&self.sql);
        let stmt = self.stmt.as_obj();
        let counts = self.conn.call(|env, _| methods::execute_batch(env, stmt));
        self.conn.ran(ddl);
        let counts = counts?;
        self.batched = 0;
        Ok(counts.into_iter().map(i64::from).collect())
    }
}

impl Drop for JdbcStatement<'_> {
    fn drop(&mut self) {
        let stmt = self.stmt.as_obj();
        let _ = self.conn.jvm.with_env(|env| {
            close_quietly(env, stmt);
            Ok(())
        });
    }
}
