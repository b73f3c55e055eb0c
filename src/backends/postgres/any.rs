//! The dynamic layer over PostgreSQL. The table of what each type becomes is in
//! [`crate::any`]'s documentation; how:
//!
//! - Parameters ([`encode`]): a [`Value`] goes in the binary form of the type the server inferred
//!   for its parameter where one is exact (an `Int` for an `int4`, a `Date` for a `date`), and
//!   as text otherwise, for the server to read with the type's input function as psql and
//!   psycopg have it do: always for a [`Value::Text`] (so a command-line tool can pass what
//!   its user typed for an `int`, a `uuid`, an `interval`, an enum, a domain, an array), and for
//!   a few typed values the server must read itself (a `Timestamp` for a `timestamptz` is in
//!   the session's time zone). The server's complaint about bad text is the error.
//! - Columns ([`decode`]): the driver reads every result in binary. The common types are
//!   decoded here into their [`Value`]s, and a few into the text the server would print
//!   ([`text`]: intervals, network addresses). Two things only the server knows are asked for
//!   afterwards, each distinct value once, in one more statement for the whole result: the
//!   session time zone's offset at each `timestamptz` instant, and the text form of types
//!   without a decoder here (money, ranges, composite and geometric types, extensions' types).

use std::error::Error as StdError;
use std::fmt::Write;
use std::sync::Arc;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::backends::postgres::PgConnection;
use crate::sql::error::AnyError;
use crate::sql::{Row, Value, ValueError};

mod calendar;
mod decode;
mod encode;
mod numeric;
mod text;

use decode::{Answers, Lookups, decode, finish};
use encode::PgParam;

type BoxError = Box<dyn StdError + Sync + Send>;

/// How many values one statement asks the server about (a statement takes at most 65 535
/// parameters; a thousand keep its text short).
const QUESTIONS_PER_STATEMENT: usize = 1000;

// SQL text through the connection's statement cache: prepared once per connection, and
// prepared again when the server says the kept one went stale.
pub(crate) fn execute(conn: &mut PgConnection, sql: &str, values: Vec<Value>) -> Result<u64, AnyError> {
    let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    conn.execute(sql, &refs).map_err(AnyError::database)
}

pub(crate) fn query(conn: &mut PgConnection, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, AnyError> {
    let params: Vec<PgParam<'_>> = values.iter().map(PgParam).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = conn.query(sql, &refs).map_err(AnyError::database)?;
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns = first.columns();
    let names: Arc<[String]> = columns.iter().map(|c| c.name().to_owned()).collect();
    let mut lookups = Lookups::default();
    let mut cells = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut row_cells = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let Raw(raw) = row.try_get(i).map_err(AnyError::database)?;
            let cell = decode(column.type_(), raw, &mut lookups).map_err(|err| {
                unreadable(
                    &format!("column `{}` of type {}", column.name(), column.type_()),
                    &err,
                )
            })?;
            row_cells.push(cell);
        }
        cells.push(row_cells);
    }
    let answers = if lookups.is_empty() {
        Answers::default()
    } else {
        ask(conn, &lookups)?
    };
    cells
        .into_iter()
        .map(|row_cells| {
            let values = row_cells
                .into_iter()
                .map(|cell| finish(cell, &answers))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| unreadable("a value", &err))?;
            Ok(Row::new(Arc::clone(&names), values))
        })
        .collect()
}

fn unreadable(what: &str, err: &BoxError) -> AnyError {
    AnyError::Value(ValueError::Invalid {
        target: "PostgreSQL value",
        reason: format!("{what} could not be read: {err}"),
    })
}

/// Asks the server what only it knows about the values read, in as few statements as
/// [`QUESTIONS_PER_STATEMENT`] allows: `SELECT ARRAY[pg_catalog.format('%s', $1), EXTRACT(TIMEZONE FROM
/// $2)::int4::text, …]`, each value sent back in the binary form it came in. `format` prints
/// with the type's output function, as psql shows it (a cast to text may differ: `inet`'s keeps
/// the `/32`). Unprepared, so no statement is left behind (and it is safe behind PgBouncer).
fn ask(conn: &mut PgConnection, lookups: &Lookups) -> Result<Answers, AnyError> {
    let timestamptz = Type::TIMESTAMPTZ;
    let instants: Vec<[u8; 8]> = lookups
        .instants
        .iter()
        .map(|micros| micros.to_be_bytes())
        .collect();
    // (type, binary form, whether the offset is asked for rather than the text)
    let questions: Vec<(&Type, &[u8], bool)> = lookups
        .texts
        .iter()
        .map(|(ty, raw)| (ty, raw.as_slice(), false))
        .chain(instants.iter().map(|raw| (&timestamptz, &raw[..], true)))
        .collect();
    let mut replies: Vec<String> = Vec::with_capacity(questions.len());
    for chunk in questions.chunks(QUESTIONS_PER_STATEMENT) {
        let mut sql = String::from("SELECT ARRAY[");
        for (i, (_, _, offset)) in chunk.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            let n = i + 1;
            let _ = if *offset {
                write!(sql, "{separator}EXTRACT(TIMEZONE FROM ${n})::int4::text")
            } else {
                write!(sql, "{separator}pg_catalog.format('%s', ${n})")
            };
        }
        sql.push_str("]::text[]");
        let raw_params: Vec<RawParam<'_>> = chunk.iter().map(|(_, raw, _)| RawParam(raw)).collect();
        let params: Vec<(&(dyn ToSql + Sync), Type)> = chunk
            .iter()
            .zip(&raw_params)
            .map(|((ty, ..), param)| (param as &(dyn ToSql + Sync), (*ty).clone()))
            .collect();
        let rows = conn.query_typed(&sql, &params).map_err(AnyError::database)?;
        let texts: Vec<String> = match rows.first() {
            Some(row) => row.try_get(0).map_err(AnyError::database)?,
            None => Vec::new(),
        };
        if texts.len() != chunk.len() {
            return Err(unreadable(
                "the server's text of a value",
                &format!("{} answers to {} questions", texts.len(), chunk.len()).into(),
            ));
        }
        replies.extend(texts);
    }
    let offsets = replies.split_off(lookups.texts.len());
    let offsets = lookups
        .instants
        .iter()
        .zip(offsets)
        .map(|(micros, offset)| {
            let offset = offset.parse().map_err(|_| {
                unreadable(
                    "a timestamptz",
                    &format!("the offset `{offset}` is not a number").into(),
                )
            })?;
            Ok((*micros, offset))
        })
        .collect::<Result<_, AnyError>>()?;
    Ok(Answers {
        texts: replies,
        offsets,
    })
}

/// A column value as the driver has it: its binary form, or `None` for NULL.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A value sent back to the server in the binary form it came in.
#[derive(Debug)]
struct RawParam<'a>(&'a [u8]);

impl ToSql for RawParam<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The type a domain is over (through domains over domains); any other type itself.
fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(base) => base_type(base),
        _ => ty,
    }
}

/// Reads a binary form front to back; running short is an error, never a panic.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// Reads all of `raw` with `read`: bytes left over are an error.
    fn whole<T>(
        raw: &'a [u8],
        read: impl FnOnce(&mut Reader<'a>) -> Result<T, BoxError>,
    ) -> Result<T, BoxError> {
        let mut reader = Reader(raw);
        let value = read(&mut reader)?;
        reader.end()?;
        Ok(value)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], BoxError> {
        if len > self.0.len() {
            return Err("a value shorter than its type's binary form".into());
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], BoxError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, BoxError> {
        Ok(self.bytes::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16, BoxError> {
        self.bytes().map(i16::from_be_bytes)
    }

    fn u16(&mut self) -> Result<u16, BoxError> {
        self.bytes().map(u16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, BoxError> {
        self.bytes().map(i32::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, BoxError> {
        self.bytes().map(u32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64, BoxError> {
        self.bytes().map(i64::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, BoxError> {
        self.bytes().map(u64::from_be_bytes)
    }

    /// Nothing is left.
    fn end(&self) -> Result<(), BoxError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err("a value longer than its type's binary form".into())
        }
    }
}
