//! [`JdbcStatement`]: a prepared statement, run many times or batched.

use std::fmt;

use jni::objects::JObject;

use super::conn::{JdbcConnection, bind_all, close_quietly, execute_update, prepare, read_results};
use super::error::{JavaResult, JdbcError};
use super::jvm::JavaRef;
use crate::sql::{Params, Row, Translated};

/// A `PreparedStatement` on a [`JdbcConnection`], closed when dropped.
pub struct JdbcStatement<'conn> {
    conn: &'conn mut JdbcConnection,
    stmt: JavaRef,
    translated: Translated,
    sql: String,
    batched: usize,
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
            let stmt = prepare(env, c, translated.sql())?;
            JavaRef::new(env, &stmt)
        })?;
        Ok(JdbcStatement {
            conn,
            stmt,
            translated,
            sql: sql.to_owned(),
            batched: 0,
        })
    }

    /// The SQL as sent to the driver (placeholders rewritten to `?`).
    pub fn sql(&self) -> &str {
        self.translated.sql()
    }

    fn run<T>(
        &mut self,
        params: Params,
        f: impl FnOnce(&mut jni::JNIEnv<'_>, &JObject<'static>) -> Result<T, JdbcError>,
    ) -> Result<T, JdbcError> {
        let values = self.translated.values(&params)?;
        self.conn.observe(&self.sql);
        let stmt = self.stmt.as_obj();
        self.conn.call(|env, _| {
            bind_all(env, stmt, &values)?;
            f(env, stmt)
        })
    }

    /// Runs the statement with `params`; returns the number of rows changed.
    pub fn execute(&mut self, params: impl Into<Params>) -> Result<u64, JdbcError> {
        self.run(params.into(), |env, stmt| execute_update(env, stmt))
    }

    /// Runs the statement as a query with `params`; returns its rows.
    pub fn query(&mut self, params: impl Into<Params>) -> Result<Vec<Row>, JdbcError> {
        let mut rows = Vec::new();
        self.run(params.into(), |env, stmt| {
            read_results(env, stmt, |row| {
                rows.push(row);
                Ok(())
            })
        })?;
        Ok(rows)
    }

    /// Adds one set of parameters to the batch (`addBatch`).
    pub fn add_batch(&mut self, params: impl Into<Params>) -> Result<(), JdbcError> {
        let values = self.translated.values(&params.into())?;
        let stmt = self.stmt.as_obj();
        self.conn.call(|env, _| {
            bind_all(env, stmt, &values)?;
            env.call_method(stmt, "addBatch", "()V", &[]).or_throw(env)?;
            Ok(())
        })?;
        self.batched += 1;
        Ok(())
    }

    /// Sends the batch (`executeBatch`) and returns each entry's update count (`-2` when the
    /// driver does not say).
    pub fn execute_batch(&mut self) -> Result<Vec<i64>, JdbcError> {
        self.conn.observe(&self.sql);
        let stmt = self.stmt.as_obj();
        let counts = self.conn.call(|env, _| {
            let array = env
                .call_method(stmt, "executeBatch", "()[I", &[])
                .and_then(|v| v.l())
                .or_throw(env)?;
            let array = jni::objects::JIntArray::from(array);
            let len = env.get_array_length(&array).or_throw(env)?;
            let mut counts = vec![0i32; usize::try_from(len).unwrap_or(0)];
            env.get_int_array_region(&array, 0, &mut counts).or_throw(env)?;
            Ok(counts)
        })?;
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
