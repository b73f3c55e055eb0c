//! Columns: each value decoded from its binary form by its type into a [`Cell`]: a [`Value`],
//! or what the server must still be asked for (a `timestamptz`'s offset in the session's time
//! zone, a type's text form), gathered in [`Lookups`] and asked in one statement.

use std::collections::{HashMap, HashSet};

use postgres::types::{FromSql, Kind, Type};

use super::calendar::{MICROS_PER_DAY, date_at, pg_days_text, pg_timestamp_text, time_at, timestamp_at};
use super::{BoxError, Reader, base_type, numeric, text};
use crate::sql::{TimestampTz, Value};

/// A column value as read, before the server's answers are in.
#[derive(Debug, PartialEq)]
pub(super) enum Cell {
    Value(Value),
    /// An array's elements; sub-arrays for more dimensions.
    Array(Vec<Cell>),
    /// A `timestamptz`, microseconds since 2000-01-01 UTC: it is shown at the session time
    /// zone's offset at that instant.
    Instant(i64),
    /// The server's text form of a value, asked for ([`Lookups::texts`]).
    ServerText(usize),
    /// An anonymous record's fields, shown as the server's row literal.
    Record(Vec<(Type, Cell)>),
}

/// What the server must be asked about the values read: each distinct one once.
#[derive(Debug, Default)]
pub(super) struct Lookups {
    /// Values whose text form only the server has (their type and binary form).
    pub(super) texts: Vec<(Type, Vec<u8>)>,
    text_index: HashMap<(u32, Vec<u8>), usize>,
    /// Instants whose offset in the session's time zone is asked for.
    pub(super) instants: Vec<i64>,
    instants_seen: HashSet<i64>,
}

impl Lookups {
    pub(super) fn is_empty(&self) -> bool {
        self.texts.is_empty() && self.instants.is_empty()
    }

    fn server_text(&mut self, ty: &Type, raw: &[u8]) -> Cell {
        let next = self.texts.len();
        let index = *self.text_index.entry((ty.oid(), raw.to_vec())).or_insert(next);
        if index == next {
            self.texts.push((ty.clone(), raw.to_vec()));
        }
        Cell::ServerText(index)
    }

    fn instant(&mut self, micros: i64) -> Cell {
        if self.instants_seen.insert(micros) {
            self.instants.push(micros);
        }
        Cell::Instant(micros)
    }
}

/// The server's answers: [`Lookups::texts`] in order, and the offset of every instant.
#[derive(Debug, Default)]
pub(super) struct Answers {
    pub(super) texts: Vec<String>,
    pub(super) offsets: HashMap<i64, i32>,
}

fn utf8(raw: &[u8]) -> Result<Value, BoxError> {
    Ok(Value::Text(std::str::from_utf8(raw)?.to_owned()))
}

/// The text after a version byte of 1 (`jsonb`, `jsonpath`).
fn versioned_utf8(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    match raw.split_first() {
        Some((1, text)) => utf8(text),
        _ => Err(format!("an unknown version of {ty}'s binary form").into()),
    }
}

/// Decodes one column value of type `ty` (`None` for NULL).
pub(super) fn decode(ty: &Type, raw: Option<&[u8]>, lookups: &mut Lookups) -> Result<Cell, BoxError> {
    let Some(raw) = raw else {
        return Ok(Cell::Value(Value::Null));
    };
    let ty = base_type(ty);
    match ty.kind() {
        Kind::Array(element) => return decode_array(Some(element), raw, lookups),
        // An enum's binary form is its label.
        Kind::Enum(_) => return utf8(raw).map(Cell::Value),
        Kind::Range(_) | Kind::Multirange(_) | Kind::Composite(_) => return Ok(lookups.server_text(ty, raw)),
        _ => {}
    }
    let value = match *ty {
        Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
        Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
        Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
        Type::OID | Type::XID | Type::CID => Value::Int(Reader::whole(raw, Reader::u32)?.into()),
        Type::XID8 => {
            let n = Reader::whole(raw, Reader::u64)?;
            i64::try_from(n).map_or_else(|_| Value::Decimal(n.to_string()), Value::Int)
        }
        Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
        Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => numeric::decode(raw)?,
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::JSON
        | Type::XML
        | Type::REFCURSOR
        | Type::CSTRING
        | Type::PG_NODE_TREE => utf8(raw)?,
        Type::JSONB | Type::JSONPATH => versioned_utf8(ty, raw)?,
        Type::CHAR => Value::Text(text::pg_char(raw)?),
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::UUID => Value::Text(text::uuid(raw)?),
        Type::DATE => {
            let days = i32::from_sql(ty, raw)?;
            match date_at(i64::from(days)) {
                Some(date) if days != i32::MAX && days != i32::MIN => Value::Date(date),
                _ => Value::Text(pg_days_text(days).ok_or("a date out of range")?),
            }
        }
        Type::TIME => {
            let micros = Reader::whole(raw, Reader::i64)?;
            match time_at(micros) {
                Some(time) => Value::Time(time),
                None if micros == MICROS_PER_DAY => Value::Text("24:00:00".into()),
                None => return Err(format!("a time of {micros} microseconds").into()),
            }
        }
        Type::TIMESTAMP => {
            let micros = Reader::whole(raw, Reader::i64)?;
            match timestamp_at(micros) {
                Some(ts) if micros != i64::MAX && micros != i64::MIN => Value::Timestamp(ts),
                _ => Value::Text(pg_timestamp_text(micros, None).ok_or("a timestamp out of range")?),
            }
        }
        Type::TIMESTAMPTZ => {
            let micros = Reader::whole(raw, Reader::i64)?;
            if micros == i64::MAX || micros == i64::MIN {
                Value::Text(pg_timestamp_text(micros, None).ok_or("a timestamp out of range")?)
            } else {
                return Ok(lookups.instant(micros));
            }
        }
        Type::TIMETZ => Value::Text(text::timetz(raw)?),
        Type::INTERVAL => Value::Text(text::interval(raw)?),
        Type::INET | Type::CIDR => Value::Text(text::inet(raw)?),
        Type::MACADDR | Type::MACADDR8 => Value::Text(text::mac(raw)?),
        Type::BIT | Type::VARBIT => Value::Text(text::bits(raw)?),
        Type::PG_LSN => Value::Text(text::lsn(raw)?),
        Type::TID => Value::Text(text::tid(raw)?),
        // What a function returning nothing returns.
        Type::VOID => Value::Null,
        Type::RECORD => return decode_record(raw, lookups),
        // An array whose element type is in its data (`pg_stats.most_common_vals`).
        Type::ANYARRAY => return decode_array(None, raw, lookups),
        // Statistics in an internal form the server cannot read back to print.
        Type::PG_NDISTINCT
        | Type::PG_DEPENDENCIES
        | Type::PG_MCV_LIST
        | Type::PG_BRIN_BLOOM_SUMMARY
        | Type::PG_BRIN_MINMAX_MULTI_SUMMARY => Value::Bytes(raw.to_vec()),
        // citext (an extension) sends its text.
        _ if ty.name() == "citext" => utf8(raw)?,
        // money, geometric types, tsvector, reg* (the names), hstore, other extensions' types:
        // the server's own text.
        _ => return Ok(lookups.server_text(ty, raw)),
    };
    Ok(Cell::Value(value))
}

/// An array: dimensions, a NULL flag, the element type, each dimension's length and lower
/// bound, then the elements, each after its length (-1 for NULL). The lower bounds are dropped.
/// The element type is the column's, or (`None`, for `anyarray`) the one the data names.
fn decode_array(element: Option<&Type>, raw: &[u8], lookups: &mut Lookups) -> Result<Cell, BoxError> {
    let mut reader = Reader(raw);
    let dimensions = reader.i32()?;
    if !(0..=6).contains(&dimensions) {
        return Err(format!("an array of {dimensions} dimensions").into());
    }
    let _has_null = reader.i32()?;
    let named = type_of(reader.u32()?);
    let element = element.unwrap_or(&named);
    let mut lengths = Vec::new();
    for _ in 0..dimensions {
        lengths.push(usize::try_from(reader.i32()?).map_err(|_| "a negative array length")?);
        let _lower_bound = reader.i32()?;
    }
    let count = lengths
        .iter()
        .try_fold(usize::from(!lengths.is_empty()), |n, len| n.checked_mul(*len))
        .filter(|count| *count <= raw.len() / 4)
        .ok_or("array lengths larger than the array")?;
    let mut flat = Vec::with_capacity(count);
    for _ in 0..count {
        let item = match reader.i32()? {
            -1 => None,
            len => Some(reader.take(usize::try_from(len).map_err(|_| "a negative element length")?)?),
        };
        flat.push(decode(element, item, lookups)?);
    }
    reader.end()?;
    Ok(nest(&lengths, &mut flat.into_iter()))
}

/// Elements in order, nested by the lengths of the dimensions after the first.
fn nest(lengths: &[usize], flat: &mut impl Iterator<Item = Cell>) -> Cell {
    match lengths.split_first() {
        None => Cell::Array(Vec::new()),
        Some((len, [])) => Cell::Array(flat.take(*len).collect()),
        Some((len, rest)) => Cell::Array((0..*len).map(|_| nest(rest, flat)).collect()),
    }
}

/// An anonymous record: the number of fields, then each field's type, length and value.
fn decode_record(raw: &[u8], lookups: &mut Lookups) -> Result<Cell, BoxError> {
    let mut reader = Reader(raw);
    let count = reader.i32()?;
    let mut fields = Vec::new();
    for _ in 0..count.max(0) {
        let oid = reader.u32()?;
        let item = match reader.i32()? {
            -1 => None,
            len => Some(reader.take(usize::try_from(len).map_err(|_| "a negative field length")?)?),
        };
        let ty = type_of(oid);
        let cell = decode(&ty, item, lookups)?;
        fields.push((ty, cell));
    }
    reader.end()?;
    Ok(Cell::Record(fields))
}

/// The type numbered `oid`. One the driver does not know by its number (an enum, a composite) is
/// printed by the server, which does.
fn type_of(oid: u32) -> Type {
    Type::from_oid(oid).unwrap_or_else(|| Type::new(format!("oid {oid}"), oid, Kind::Simple, String::new()))
}

/// The [`Value`] of a cell, with the server's answers.
pub(super) fn finish(cell: Cell, answers: &Answers) -> Result<Value, BoxError> {
    Ok(match cell {
        Cell::Value(value) => value,
        Cell::Array(cells) => Value::Array(
            cells
                .into_iter()
                .map(|cell| finish(cell, answers))
                .collect::<Result<_, _>>()?,
        ),
        Cell::Instant(micros) => {
            let offset = *answers
                .offsets
                .get(&micros)
                .ok_or("no offset for a timestamptz")?;
            at_offset(micros, offset)?
        }
        Cell::ServerText(index) => {
            Value::Text(answers.texts.get(index).ok_or("no text for a value")?.clone())
        }
        Cell::Record(fields) => {
            let fields = fields
                .into_iter()
                .map(|(ty, cell)| Ok((ty, finish(cell, answers)?)))
                .collect::<Result<Vec<_>, BoxError>>()?;
            Value::Text(text::record_literal(&fields))
        }
    })
}

/// The instant `utc` (microseconds since 2000-01-01 UTC) at `offset` seconds east: a
/// [`TimestampTz`], or the server's text where the year is past 9999.
fn at_offset(utc: i64, offset: i32) -> Result<Value, BoxError> {
    let local = utc
        .checked_add(i64::from(offset) * 1_000_000)
        .ok_or("a timestamptz out of range")?;
    match timestamp_at(local) {
        Some(ts) => Ok(Value::TimestampTz(TimestampTz::new(ts, offset)?)),
        None => Ok(Value::Text(
            pg_timestamp_text(local, Some(offset)).ok_or("a timestamptz out of range")?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array_raw(dimensions: &[(i32, i32)], element: u32, items: &[Option<&[u8]>]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend((dimensions.len() as i32).to_be_bytes());
        raw.extend(i32::from(items.iter().any(Option::is_none)).to_be_bytes());
        raw.extend(element.to_be_bytes());
        for (len, lower) in dimensions {
            raw.extend(len.to_be_bytes());
            raw.extend(lower.to_be_bytes());
        }
        for item in items {
            match item {
                None => raw.extend((-1i32).to_be_bytes()),
                Some(bytes) => {
                    raw.extend((bytes.len() as i32).to_be_bytes());
                    raw.extend(*bytes);
                }
            }
        }
        raw
    }

    fn read(ty: &Type, raw: &[u8]) -> Value {
        let mut lookups = Lookups::default();
        let cell = decode(ty, Some(raw), &mut lookups).unwrap();
        assert!(lookups.is_empty());
        finish(cell, &Answers::default()).unwrap()
    }

    #[test]
    fn arrays_decode_with_their_dimensions() {
        let one = 1i32.to_be_bytes();
        let two = 2i32.to_be_bytes();
        let raw = array_raw(&[(3, 1)], 23, &[Some(&one), None, Some(&two)]);
        assert_eq!(
            read(&Type::INT4_ARRAY, &raw),
            Value::Array(vec![Value::Int(1), Value::Null, Value::Int(2)])
        );
        let raw = array_raw(&[(2, 0), (1, 5)], 23, &[Some(&one), Some(&two)]);
        assert_eq!(
            read(&Type::INT4_ARRAY, &raw),
            Value::Array(vec![
                Value::Array(vec![Value::Int(1)]),
                Value::Array(vec![Value::Int(2)])
            ])
        );
        assert_eq!(
            read(&Type::INT4_ARRAY, &array_raw(&[], 23, &[])),
            Value::Array(vec![])
        );
        assert_eq!(
            read(&Type::TEXT_ARRAY, &array_raw(&[(1, 1)], 25, &[Some(b"a")])),
            Value::Array(vec![Value::Text("a".into())])
        );
    }

    #[test]
    fn malformed_arrays_are_errors_not_panics() {
        let one = 1i32.to_be_bytes();
        for raw in [
            array_raw(&[(2, 1)], 23, &[Some(&one)]),
            array_raw(&[(-1, 1)], 23, &[]),
            array_raw(&[(i32::MAX, 1), (i32::MAX, 1)], 23, &[]),
            array_raw(&[(1, 1); 7], 23, &[Some(&one)]),
            array_raw(&[(1, 1)], 23, &[Some(&[1, 2])]),
            vec![0, 0, 0, 1],
        ] {
            assert!(
                decode(&Type::INT4_ARRAY, Some(&raw), &mut Lookups::default()).is_err(),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn special_dates_and_times_are_text() {
        assert_eq!(
            read(&Type::DATE, &i32::MAX.to_be_bytes()),
            Value::Text("infinity".into())
        );
        assert_eq!(
            read(&Type::TIMESTAMP, &i64::MIN.to_be_bytes()),
            Value::Text("-infinity".into())
        );
        assert_eq!(
            read(&Type::TIME, &MICROS_PER_DAY.to_be_bytes()),
            Value::Text("24:00:00".into())
        );
        assert_eq!(
            read(&Type::TIMESTAMPTZ, &i64::MAX.to_be_bytes()),
            Value::Text("infinity".into())
        );
        assert_eq!(
            read(&Type::DATE, &(2_914_000i32).to_be_bytes()),
            Value::Date(crate::sql::Date::new(9978, 4, 6).unwrap())
        );
        assert_eq!(
            read(&Type::DATE, &(3_000_000i32).to_be_bytes()),
            Value::Text("10213-09-21".into())
        );
    }

    #[test]
    fn instants_take_the_offset_the_server_gives() {
        let mut lookups = Lookups::default();
        let cell = decode(&Type::TIMESTAMPTZ, Some(&0i64.to_be_bytes()), &mut lookups).unwrap();
        assert_eq!(lookups.instants, [0]);
        let answers = Answers {
            texts: Vec::new(),
            offsets: HashMap::from([(0, -3600)]),
        };
        assert_eq!(
            finish(cell, &answers).unwrap(),
            Value::TimestampTz("1999-12-31 23:00:00-01:00".parse().unwrap())
        );
    }

    #[test]
    fn unknown_types_are_asked_once_per_value() {
        let mut lookups = Lookups::default();
        let money = decode(&Type::MONEY, Some(&[0, 0, 0, 0, 0, 0, 0, 100]), &mut lookups).unwrap();
        let again = decode(&Type::MONEY, Some(&[0, 0, 0, 0, 0, 0, 0, 100]), &mut lookups).unwrap();
        assert_eq!((money, again), (Cell::ServerText(0), Cell::ServerText(0)));
        assert_eq!(lookups.texts.len(), 1);
    }
}
