//! Reading a `ResultSet`: its columns (labels, and how to read each) read once per kept
//! statement and checked on each run, then its rows, one at a time.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jni::JNIEnv;
use jni::objects::JObject;

use super::error::{JdbcError, JdbcErrorKind};
use super::jvm::FRAME_CAPACITY;
use super::methods::{self, close_quietly};
use super::values::{Reader, leaves_references, read};
use crate::backends::txn::{leading_word, statements};
use crate::sql::{Row, Value};

/// Bumped whenever SQL that may change a table's shape (see [`changes_schema`]) runs on any JDBC
/// connection of this process: columns read before it are read again.
static SCHEMA_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Notes that a table's shape may have changed (DDL ran, or work went through a raw connection).
pub(super) fn schema_may_have_changed() {
    SCHEMA_GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn schema_generation() -> u64 {
    SCHEMA_GENERATION.load(Ordering::Relaxed)
}

/// Whether `sql` may change the shape of what a query returns: a statement of it begins with
/// `CREATE`, `ALTER`, `DROP` or `RENAME` (any case). Such SQL is not kept prepared either: it
/// runs once.
pub(super) fn changes_schema(sql: &str) -> bool {
    // Most SQL is one statement that starts with a word that cannot be DDL: no scan beyond it.
    if !sql.contains(';')
        && let Some(word) = leading_word(sql)
    {
        return is_ddl(word);
    }
    statements(sql)
        .iter()
        .any(|words| words.first().is_some_and(|word| is_ddl(word)))
}

fn is_ddl(word: &str) -> bool {
    ["CREATE", "ALTER", "DROP", "RENAME"]
        .iter()
        .any(|ddl| word.eq_ignore_ascii_case(ddl))
}

/// The columns of a result: labels and readers, read from the result's metadata.
#[derive(Debug, Clone)]
pub(super) struct Columns {
    names: Arc<[String]>,
    readers: Box<[Reader]>,
    /// The schema generation when they were read.
    generation: u64,
    /// The SQL has a `*`: its columns may follow a table's definition (see [`read_results`]).
    star: bool,
    /// The SQL is one statement: it may run with `executeQuery`.
    single: bool,
}

impl Columns {
    /// Reads them from `meta`, a `ResultSetMetaData` of `count` columns, for `sql`.
    fn read(env: &mut JNIEnv<'_>, meta: &JObject<'_>, count: i32, sql: &str) -> Result<Columns, JdbcError> {
        let generation = schema_generation();
        let mut names = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut readers = Vec::with_capacity(names.capacity());
        for i in 1..=count {
            names.push(methods::get_column_label(env, meta, i)?);
            let code = methods::get_column_type(env, meta, i)?;
            // The type's name is asked only where it can change the reader: integers that are
            // dates (sqlite-jdbc) and pgjdbc's `timestamptz`.
            let reader = match Reader::for_type(code) {
                Reader::Int | Reader::Timestamp => {
                    Reader::for_column(code, &methods::get_column_type_name(env, meta, i)?)
                }
                reader => reader,
            };
            readers.push(reader);
        }
        Ok(Columns {
            names: Arc::from(names),
            readers: readers.into_boxed_slice(),
            generation,
            star: sql.contains('*'),
            single: !sql.contains(';'),
        })
    }

    /// How many columns there are.
    pub(super) fn len(&self) -> usize {
        self.readers.len()
    }

    /// Their labels.
    pub(super) fn names(&self) -> &Arc<[String]> {
        &self.names
    }

    /// How each is read.
    pub(super) fn readers(&self) -> &[Reader] {
        &self.readers
    }

    /// Whether the next run of their statement may go through the bridge, read as they say
    /// (see [`read_results`]): no DDL ran since they were read, and the SQL is one statement
    /// (so it runs with `executeQuery`). SQL with a `*` goes too, its column count
    /// [checked](Columns::checked).
    pub(super) fn through_bridge(&self) -> bool {
        self.generation == schema_generation() && self.single
    }

    /// Whether the result's column count is to be checked on each run: the SQL has a `*`.
    pub(super) fn checked(&self) -> bool {
        self.star
    }
}

/// How reading a result ended early.
#[derive(Debug)]
pub(super) enum ReadError {
    /// The driver (or the bridge) failed.
    Driver(JdbcError),
    /// The caller's function for the rows returned this error: nothing is wrong with the
    /// statement or the connection.
    Caller(JdbcError),
}

impl ReadError {
    pub(super) fn into_inner(self) -> JdbcError {
        match self {
            ReadError::Driver(err) | ReadError::Caller(err) => err,
        }
    }
}

impl From<JdbcError> for ReadError {
    fn from(err: JdbcError) -> ReadError {
        ReadError::Driver(err)
    }
}

/// Runs a prepared statement of `sql` (as the driver was given it), then hands each row of its
/// (first) result set to `f` (nothing when it returned an update count); the result set is
/// closed before this returns. A single statement known to return rows runs with
/// `executeQuery`, one call where `execute` and `getResultSet` are two (drivers refuse it for
/// SQL of several statements).
///
/// `columns` holds the columns read for an earlier run of the same statement, if any: they are
/// used as they are while no DDL ran through millpond since (see [`changes_schema`]) and, for
/// SQL with a `*` (`SELECT *`, `t.*`, `RETURNING *`; a `count(*)` too), while the result has as
/// many columns; else they are read again and kept there. A table changed elsewhere can change
/// only the columns of such SQL (the driver may prepare the statement again without a word, as
/// PgJDBC does), and checking the count costs two calls, so other SQL is not checked.
pub(super) fn read_results(
    env: &mut JNIEnv<'_>,
    stmt: &JObject<'_>,
    sql: &str,
    columns: &mut Option<Columns>,
    f: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
) -> Result<(), ReadError> {
    let rs = if columns.as_ref().is_some_and(|columns| columns.single) {
        methods::execute_query(env, stmt)?
    } else if methods::execute(env, stmt)? {
        methods::get_result_set(env, stmt)?
    } else {
        return Ok(());
    };
    read_result_set(env, rs, sql, columns, f)
}

/// Hands each row of `rs`, a result of `sql`, to `f`, its columns those kept in `columns` while
/// they hold (see [`read_results`]), else read now and kept; then closes `rs` and frees its
/// local reference.
pub(super) fn read_result_set(
    env: &mut JNIEnv<'_>,
    rs: JObject<'_>,
    sql: &str,
    columns: &mut Option<Columns>,
    f: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
) -> Result<(), ReadError> {
    if rs.is_null() {
        return Err(JdbcError::new(JdbcErrorKind::Jni, "the driver gave no result set").into());
    }
    let result = read_columns(env, &rs, sql, columns).and_then(|columns| read_rows(env, &rs, columns, f));
    close_quietly(env, &rs);
    env.delete_local_ref(rs).map_err(JdbcError::jni)?;
    result
}

/// The columns of `rs`: those kept in `kept` when they still hold (see [`read_results`]), else
/// read now and kept.
fn read_columns<'c>(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    sql: &str,
    kept: &'c mut Option<Columns>,
) -> Result<&'c Columns, ReadError> {
    let holds = match kept {
        Some(columns) if columns.generation == schema_generation() => {
            !columns.star || {
                let count = env.with_local_frame(FRAME_CAPACITY, |env| {
                    let meta = methods::get_meta_data(env, rs)?;
                    methods::get_column_count(env, &meta)
                })?;
                usize::try_from(count).is_ok_and(|count| count == columns.len())
            }
        }
        _ => false,
    };
    if !holds {
        let read = env.with_local_frame(FRAME_CAPACITY, |env| {
            let meta = methods::get_meta_data(env, rs)?;
            let count = methods::get_column_count(env, &meta)?;
            Columns::read(env, &meta, count, sql)
        })?;
        *kept = Some(read);
    }
    Ok(kept.as_ref().expect("just read"))
}

/// Each row of `rs` to `f`, until it breaks. No local reference outlives its column: text,
/// bytes and decimals free theirs, and the other object readers run in a frame of their own.
fn read_rows(
    env: &mut JNIEnv<'_>,
    rs: &JObject<'_>,
    columns: &Columns,
    f: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, JdbcError>,
) -> Result<(), ReadError> {
    while methods::next(env, rs)? {
        let mut values = Vec::with_capacity(columns.len());
        for (i, &reader) in columns.readers.iter().enumerate() {
            let index = i32::try_from(i + 1).unwrap_or(i32::MAX);
            let value: Value = if leaves_references(reader) {
                env.with_local_frame(16, |env| read(env, rs, index, reader))?
            } else {
                read(env, rs, index, reader)?
            };
            values.push(value);
        }
        if f(Row::new(Arc::clone(&columns.names), values))
            .map_err(ReadError::Caller)?
            .is_break()
        {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_is_recognised_in_any_statement() {
        assert!(changes_schema("CREATE TABLE t (x INT)"));
        assert!(changes_schema("  alter table t add column y int"));
        assert!(changes_schema("-- note\nDROP TABLE t"));
        assert!(changes_schema("SELECT 1; rename table a to b"));
        assert!(!changes_schema("SELECT created FROM t WHERE x = 'DROP'"));
        assert!(!changes_schema("INSERT INTO t VALUES (1)"));
        assert!(!changes_schema("UPDATE t SET x = 1; DELETE FROM t"));
        assert!(!changes_schema(""));
    }
}
