//! Text forms of values the dynamic layer returns as [`Value::Text`], printed from their binary
//! form exactly as the server prints them (with its default settings), and the row literal of
//! an anonymous record.

use std::fmt::Write;

use postgres::types::{Kind, Type};

use super::calendar::{
    offset_text, pg_date_text, pg_micros, pg_time_text, pg_time_value_text, pg_timestamp_text, push_fraction,
};
use super::{BoxError, Reader, base_type};
use crate::sql::Value;

/// `uuid`: `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`.
pub(super) fn uuid(raw: &[u8]) -> Result<String, BoxError> {
    let bytes: &[u8; 16] = raw.try_into().map_err(|_| "a uuid of other than 16 bytes")?;
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        let _ = write!(text, "{byte:02x}");
    }
    Ok(text)
}

/// `interval` as the default `IntervalStyle` (`postgres`) prints it: `1 year 2 mons 3 days
/// 04:05:06.5`, `-1 days +02:00:00`, `00:00:00`.
pub(super) fn interval(raw: &[u8]) -> Result<String, BoxError> {
    let mut reader = Reader(raw);
    let (micros, days, months) = (reader.i64()?, reader.i32()?, reader.i32()?);
    reader.end()?;
    // PostgreSQL 17's infinite intervals.
    if (micros, days, months) == (i64::MAX, i32::MAX, i32::MAX) {
        return Ok("infinity".to_owned());
    }
    if (micros, days, months) == (i64::MIN, i32::MIN, i32::MIN) {
        return Ok("-infinity".to_owned());
    }
    let mut text = String::new();
    // As the server's EncodeInterval: a field's sign is written when it differs from the one
    // before; a `+` only after a negative field.
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [
        (i64::from(months / 12), "year"),
        (i64::from(months % 12), "mon"),
        (i64::from(days), "day"),
    ] {
        if value == 0 {
            continue;
        }
        let space = if is_zero { "" } else { " " };
        let plus = if is_before && value > 0 { "+" } else { "" };
        let plural = if value == 1 { "" } else { "s" };
        let _ = write!(text, "{space}{plus}{value} {unit}{plural}");
        is_before = value < 0;
        is_zero = false;
    }
    if is_zero || micros != 0 {
        let sign = if micros < 0 {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let space = if is_zero { "" } else { " " };
        let abs = micros.unsigned_abs();
        let seconds = abs / 1_000_000;
        let _ = write!(
            text,
            "{space}{sign}{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        );
        push_fraction(&mut text, (abs % 1_000_000) as i64);
    }
    Ok(text)
}

/// `inet` and `cidr`: `192.168.0.1`, `10.1.0.0/16`, `2001:db8::1/64`; `cidr` always with its
/// mask length.
pub(super) fn inet(raw: &[u8]) -> Result<String, BoxError> {
    let mut reader = Reader(raw);
    let (family, bits, is_cidr, len) = (reader.u8()?, reader.u8()?, reader.u8()?, reader.u8()?);
    let address = reader.take(usize::from(len))?;
    reader.end()?;
    let (mut text, max_bits) = match (family, address) {
        (2, [a, b, c, d]) => (format!("{a}.{b}.{c}.{d}"), 32),
        (3, address) if address.len() == 16 => (ipv6(address), 128),
        _ => return Err(format!("an inet of family {family} and {len} bytes").into()),
    };
    if bits != max_bits || is_cidr != 0 {
        let _ = write!(text, "/{bits}");
    }
    Ok(text)
}

/// An IPv6 address as the server's `inet_net_ntop` writes it: the first longest run of two or
/// more zero groups as `::`, and the last 32 bits as IPv4 after `::` or `::ffff:`.
fn ipv6(address: &[u8]) -> String {
    let words: Vec<u16> = address
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    let mut best: Option<(usize, usize)> = None;
    let mut run: Option<(usize, usize)> = None;
    for (i, word) in words.iter().enumerate() {
        if *word == 0 {
            let (start, len) = run.unwrap_or((i, 0));
            run = Some((start, len + 1));
        } else {
            run = None;
        }
        if let Some((start, len)) = run
            && best.is_none_or(|(_, best_len)| len > best_len)
        {
            best = Some((start, len));
        }
    }
    let best = best.filter(|(_, len)| *len >= 2);
    let mut text = String::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((start, len)) = best
            && i == start
        {
            text.push(':');
            i += len;
            continue;
        }
        if i != 0 {
            text.push(':');
        }
        let embeds_ipv4 =
            best.is_some_and(|(start, len)| start == 0 && (len == 6 || len == 5 && words[5] == 0xffff));
        if i == 6 && embeds_ipv4 {
            let _ = write!(
                text,
                "{}.{}.{}.{}",
                address[12], address[13], address[14], address[15]
            );
            return text;
        }
        let _ = write!(text, "{:x}", words[i]);
        i += 1;
    }
    if best.is_some_and(|(start, len)| start + len == words.len()) {
        text.push(':');
    }
    text
}

/// `macaddr` and `macaddr8`: `08:00:2b:01:02:03`.
pub(super) fn mac(raw: &[u8]) -> Result<String, BoxError> {
    if raw.len() != 6 && raw.len() != 8 {
        return Err("a MAC address of other than 6 or 8 bytes".into());
    }
    Ok(raw
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// `bit` and `varbit`: `0101`.
pub(super) fn bits(raw: &[u8]) -> Result<String, BoxError> {
    let mut reader = Reader(raw);
    let count = usize::try_from(reader.i32()?).map_err(|_| "a negative bit count")?;
    let bytes = reader.take(count.div_ceil(8))?;
    reader.end()?;
    Ok((0..count)
        .map(|i| {
            if bytes[i / 8] & (0x80 >> (i % 8)) != 0 {
                '1'
            } else {
                '0'
            }
        })
        .collect())
}

/// `pg_lsn`: `16/B374D848`.
pub(super) fn lsn(raw: &[u8]) -> Result<String, BoxError> {
    let mut reader = Reader(raw);
    let lsn = reader.u64()?;
    reader.end()?;
    Ok(format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF))
}

/// `tid`: `(0,1)`, block and item.
pub(super) fn tid(raw: &[u8]) -> Result<String, BoxError> {
    let mut reader = Reader(raw);
    let (block, item) = (reader.u32()?, reader.u16()?);
    reader.end()?;
    Ok(format!("({block},{item})"))
}

/// `timetz`: `12:00:00+02`. The binary form holds the offset in seconds west of UTC.
pub(super) fn timetz(raw: &[u8]) -> Result<String, BoxError> {
    let mut reader = Reader(raw);
    let (micros, west) = (reader.i64()?, reader.i32()?);
    reader.end()?;
    if !(0..=super::calendar::MICROS_PER_DAY).contains(&micros) {
        return Err(format!("a timetz of {micros} microseconds").into());
    }
    let east = west.checked_neg().ok_or("a timetz offset out of range")?;
    Ok(pg_time_text(micros) + &offset_text(east))
}

/// `"char"`, one byte: itself when ASCII, `\ooo` otherwise, nothing for a zero byte.
pub(super) fn pg_char(raw: &[u8]) -> Result<String, BoxError> {
    match raw {
        [] | [0] => Ok(String::new()),
        [b] if b.is_ascii() => Ok(char::from(*b).to_string()),
        [b] => Ok(format!("\\{b:03o}")),
        _ => Err("a \"char\" of more than one byte".into()),
    }
}

/// A `double precision` as the server prints it (`extra_float_digits` 1): the shortest text
/// that reads back the same, in exponent form below 1e-4 and from 1e15.
pub(super) fn float8(x: f64) -> String {
    special(x).unwrap_or_else(|| shortest(&format!("{x:e}"), 15))
}

/// A `real` as the server prints it: as [`float8`], exponent form from 1e6.
pub(super) fn float4(x: f32) -> String {
    special(f64::from(x)).unwrap_or_else(|| shortest(&format!("{x:e}"), 6))
}

fn special(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("NaN".to_owned())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned())
    } else {
        None
    }
}

/// Rust's shortest exponent form (`-1.5e-5`) in the server's layout.
fn shortest(exponent_form: &str, fixed_below: i32) -> String {
    let (mantissa, exponent) = exponent_form.split_once('e').unwrap_or((exponent_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if digits.bytes().all(|b| b == b'0') {
        return format!("{sign}0");
    }
    if (-4..fixed_below).contains(&exponent) {
        let point = exponent + 1;
        if point <= 0 {
            return format!("{sign}0.{}{digits}", "0".repeat(point.unsigned_abs() as usize));
        }
        let point = point as usize;
        if digits.len() <= point {
            return format!("{sign}{digits}{}", "0".repeat(point - digits.len()));
        }
        return format!("{sign}{}.{}", &digits[..point], &digits[point..]);
    }
    let (first, rest) = digits.split_at(1);
    let point = if rest.is_empty() { "" } else { "." };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!(
        "{sign}{first}{point}{rest}e{exponent_sign}{:02}",
        exponent.unsigned_abs()
    )
}

/// The text the server would print for `value`, read from a column of type `ty`; `None` for
/// NULL. For the fields of an anonymous record, the one place the layer builds a text itself.
fn output(ty: &Type, value: &Value) -> Option<String> {
    let ty = base_type(ty);
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => if *b { "t" } else { "f" }.to_owned(),
        Value::Int(n) => n.to_string(),
        #[allow(clippy::cast_possible_truncation)]
        Value::Float(x) if *ty == Type::FLOAT4 => float4(*x as f32),
        Value::Float(x) => float8(*x),
        Value::Decimal(d) | Value::Text(d) => d.clone(),
        Value::Bytes(bytes) => {
            let mut text = String::from("\\x");
            for b in bytes {
                let _ = write!(text, "{b:02x}");
            }
            text
        }
        Value::Date(d) => pg_date_text(*d),
        Value::Time(t) => pg_time_value_text(*t),
        Value::Timestamp(ts) => pg_timestamp_text(pg_micros(*ts)?, None)?,
        // The wall-clock time, then its offset.
        Value::TimestampTz(ts) => pg_timestamp_text(pg_micros(ts.timestamp)?, Some(ts.offset_seconds))?,
        Value::Array(items) => {
            let element = match ty.kind() {
                Kind::Array(element) => element,
                _ => ty,
            };
            array_literal(element, items)
        }
    })
}

/// An array as the server prints it: `{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b","x\"y"}`.
fn array_literal(element: &Type, items: &[Value]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| match item {
            Value::Array(inner) => array_literal(element, inner),
            _ => match output(element, item) {
                None => "NULL".to_owned(),
                Some(text) => quote_if(&text, |c| "{},\"\\".contains(c) || is_c_space(c), true),
            },
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// C's `isspace`, which the server's printers quote for.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

/// `text` in double quotes when it is empty, is `NULL` (for an array element), or holds a
/// character `special` picks; inside, `"` and `\` escaped by a backslash (array) or doubled
/// (record).
fn quote_if(text: &str, special: impl Fn(char) -> bool, array: bool) -> String {
    let needs = text.is_empty() || text.chars().any(&special) || array && text.eq_ignore_ascii_case("NULL");
    if !needs {
        return text.to_owned();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            quoted.push(if array { '\\' } else { c });
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// An anonymous record as the server prints it: `(1,abc,"a b",)`, a NULL field empty.
pub(super) fn record_literal(fields: &[(Type, Value)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(ty, value)| match output(ty, value) {
            None => String::new(),
            Some(text) => quote_if(&text, |c| "(),\"\\".contains(c) || is_c_space(c), false),
        })
        .collect();
    format!("({})", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval_of(micros: i64, days: i32, months: i32) -> String {
        let mut raw = micros.to_be_bytes().to_vec();
        raw.extend(days.to_be_bytes());
        raw.extend(months.to_be_bytes());
        interval(&raw).unwrap()
    }

    #[test]
    fn intervals_print_as_the_server_prints_them() {
        assert_eq!(
            interval_of(14_706_500_000, 3, 14),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(interval_of(-1_000_000, -1, 0), "-1 days -00:00:01");
        assert_eq!(interval_of(0, -1, 1), "1 mon -1 days");
        assert_eq!(interval_of(0, 1, -1), "-1 mons +1 day");
        assert_eq!(interval_of(0, 0, 0), "00:00:00");
        assert_eq!(interval_of(-7_200_000_000, 0, 0), "-02:00:00");
        assert_eq!(interval_of(360_000_000_000, 0, 0), "100:00:00");
        assert_eq!(
            interval_of(-14_706_000_001, 3, -14),
            "-1 years -2 mons +3 days -04:05:06.000001"
        );
        assert_eq!(interval_of(i64::MAX, i32::MAX, i32::MAX), "infinity");
        assert_eq!(interval_of(i64::MIN, 0, 0), "-2562047788:00:54.775808");
        assert!(interval(&[0; 15]).is_err());
    }

    fn inet_of(family: u8, bits: u8, cidr: bool, address: &[u8]) -> String {
        let mut raw = vec![family, bits, u8::from(cidr), address.len() as u8];
        raw.extend(address);
        inet(&raw).unwrap()
    }

    #[test]
    fn addresses_print_as_the_server_prints_them() {
        assert_eq!(inet_of(2, 32, false, &[192, 168, 0, 1]), "192.168.0.1");
        assert_eq!(inet_of(2, 16, false, &[10, 1, 0, 0]), "10.1.0.0/16");
        assert_eq!(inet_of(2, 32, true, &[10, 1, 2, 3]), "10.1.2.3/32");
        let v6 = |words: [u16; 8]| -> Vec<u8> { words.iter().flat_map(|w| w.to_be_bytes()).collect() };
        assert_eq!(
            inet_of(3, 128, false, &v6([0, 0, 0, 0, 0, 0, 0x102, 0x304])),
            "::1.2.3.4"
        );
        assert_eq!(
            inet_of(3, 128, false, &v6([0, 0, 0, 0, 0, 0xffff, 0x102, 0x304])),
            "::ffff:1.2.3.4"
        );
        assert_eq!(
            inet_of(3, 128, false, &v6([1, 0, 0, 2, 0, 0, 0, 3])),
            "1:0:0:2::3"
        );
        assert_eq!(inet_of(3, 0, true, &v6([0; 8])), "::/0");
        assert_eq!(
            inet_of(3, 32, true, &v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0])),
            "2001:db8::/32"
        );
        assert_eq!(
            inet_of(3, 128, false, &v6([1, 0, 0, 0, 1, 0, 0, 0])),
            "1::1:0:0:0"
        );
        assert_eq!(inet_of(3, 128, false, &v6([0, 0, 0, 0, 0, 0, 0, 1])), "::1");
        assert_eq!(
            inet_of(3, 128, false, &v6([1, 0, 2, 0, 3, 0, 4, 0])),
            "1:0:2:0:3:0:4:0"
        );
        assert!(inet(&[2, 32, 0, 4, 1, 2, 3]).is_err());
        assert!(inet(&[9, 32, 0, 4, 1, 2, 3, 4]).is_err());
    }

    #[test]
    fn small_types_print_as_the_server_prints_them() {
        assert_eq!(mac(&[8, 0, 0x2b, 1, 2, 3]).unwrap(), "08:00:2b:01:02:03");
        assert_eq!(bits(&[0, 0, 0, 4, 0b0101_0000]).unwrap(), "0101");
        assert_eq!(bits(&[0, 0, 0, 0]).unwrap(), "");
        assert!(bits(&[0, 0, 0, 9, 0]).is_err());
        assert_eq!(lsn(&0x16_B374_D848u64.to_be_bytes()).unwrap(), "16/B374D848");
        assert_eq!(tid(&[0, 0, 0, 0, 0, 1]).unwrap(), "(0,1)");
        let mut timetz_raw = 43_200_000_000i64.to_be_bytes().to_vec();
        timetz_raw.extend((-7200i32).to_be_bytes());
        assert_eq!(timetz(&timetz_raw).unwrap(), "12:00:00+02");
        assert_eq!(pg_char(b"a").unwrap(), "a");
        assert_eq!(pg_char(&[0xe9]).unwrap(), "\\351");
        assert_eq!(
            uuid(&[
                0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
                0x11
            ])
            .unwrap(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert!(uuid(&[0; 15]).is_err());
    }

    #[test]
    fn floats_print_as_the_server_prints_them() {
        for (x, text) in [
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e100, "1e+100"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (123.456, "123.456"),
            (f64::INFINITY, "Infinity"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(float8(x), text, "{x}");
        }
        assert_eq!(float4(123_456.0), "123456");
        assert_eq!(float4(1_234_567.0), "1.234567e+06");
        assert_eq!(float4(0.1), "0.1");
    }

    #[test]
    fn records_and_arrays_print_as_the_server_prints_them() {
        let fields = [
            (Type::INT4, Value::Int(1)),
            (Type::TEXT, Value::Text("a b".into())),
            (Type::TEXT, Value::Text(String::new())),
            (Type::TEXT, Value::Null),
            (Type::TEXT, Value::Text("say \"hi\"".into())),
            (Type::BOOL, Value::Bool(true)),
            (Type::FLOAT4, Value::Float(f64::from(0.1f32))),
            (Type::INT4_ARRAY, Value::Array(vec![Value::Int(1), Value::Null])),
            (
                Type::TEXT_ARRAY,
                Value::Array(vec![Value::Text("x y".into()), Value::Text("null".into())]),
            ),
        ];
        assert_eq!(
            record_literal(&fields),
            r#"(1,"a b","",,"say ""hi""",t,0.1,"{1,NULL}","{""x y"",""null""}")"#
        );
    }
}
