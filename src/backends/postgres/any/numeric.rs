//! `numeric` in its binary form: a count of base-10000 digits, the weight of the first, a sign
//! and the display scale, then the digits.

use bytes::{BufMut, BytesMut};

use super::{BoxError, Reader};
use crate::sql::Value;

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const INFINITY: u16 = 0xD000;
const NEGATIVE_INFINITY: u16 = 0xF000;
/// The largest display scale (digits after the point) the server keeps.
const MAX_SCALE: usize = 0x3FFF;

/// Writes an exact decimal (`-12.3400`: an optional sign, digits, an optional point and digits,
/// as [`Value::decimal`] checks) in `numeric`'s binary form.
pub(super) fn encode(text: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let text = text.trim();
    if Value::decimal(text).is_err() {
        return Err(format!("`{text}` is not a decimal number such as -12.50").into());
    }
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = whole.trim_start_matches('0');
    if fraction.len() > MAX_SCALE {
        return Err(format!(
            "{} digits after the point are more than numeric keeps",
            fraction.len()
        )
        .into());
    }
    // Base-10000 digits aligned on the point: the whole part padded on the left, the fraction
    // on the right, to groups of four.
    let lead = (4 - whole.len() % 4) % 4;
    let trail = (4 - fraction.len() % 4) % 4;
    let decimal_digits = std::iter::repeat_n(0, lead)
        .chain(whole.bytes().chain(fraction.bytes()).map(|b| u16::from(b - b'0')))
        .chain(std::iter::repeat_n(0, trail))
        .collect::<Vec<u16>>();
    let mut groups: Vec<u16> = decimal_digits
        .chunks(4)
        .map(|c| c.iter().fold(0, |n, d| n * 10 + d))
        .collect();
    let mut weight = i64::try_from((lead + whole.len()) / 4)? - 1;
    let leading_zeros = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading_zeros);
    weight -= i64::try_from(leading_zeros)?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let sign = if negative && !groups.is_empty() {
        NEGATIVE
    } else {
        POSITIVE
    };
    out.put_i16(i16::try_from(groups.len()).map_err(|_| "a number too long for numeric")?);
    out.put_i16(i16::try_from(weight).map_err(|_| "a number too large for numeric")?);
    out.put_u16(sign);
    out.put_u16(u16::try_from(fraction.len())?);
    for group in groups {
        out.put_u16(group);
    }
    Ok(())
}

/// `numeric`'s binary form as an exact [`Value::Decimal`]; `NaN`, `Infinity` and `-Infinity`
/// as [`Value::Text`] (a decimal has no such values).
pub(super) fn decode(raw: &[u8]) -> Result<Value, BoxError> {
    let mut reader = Reader(raw);
    let count = usize::try_from(reader.i16()?).map_err(|_| "a negative numeric digit count")?;
    let weight = i64::from(reader.i16()?);
    let sign = reader.u16()?;
    let scale = usize::from(reader.u16()?) & MAX_SCALE;
    let groups = (0..count)
        .map(|_| reader.u16())
        .collect::<Result<Vec<u16>, BoxError>>()?;
    if groups.iter().any(|g| *g > 9999) {
        return Err("a numeric digit above 9999".into());
    }
    match sign {
        POSITIVE | NEGATIVE => {}
        NAN => return Ok(Value::Text("NaN".into())),
        INFINITY => return Ok(Value::Text("Infinity".into())),
        NEGATIVE_INFINITY => return Ok(Value::Text("-Infinity".into())),
        other => return Err(format!("a numeric sign of {other:#x}").into()),
    }
    // The group `i` places before the point's right (0 is the units' group), or 0 past the
    // digits given.
    let group = |index: i64| -> u16 {
        usize::try_from(weight - index)
            .ok()
            .and_then(|i| groups.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == NEGATIVE {
        text.push('-');
    }
    let mut whole = String::new();
    for index in (0..=weight.max(0)).rev() {
        whole.push_str(&format!("{:04}", group(index)));
    }
    let whole = whole.trim_start_matches('0');
    text.push_str(if whole.is_empty() { "0" } else { whole });
    if scale > 0 {
        let mut fraction = String::with_capacity(scale + 4);
        let mut index = -1;
        while fraction.len() < scale {
            fraction.push_str(&format!("{:04}", group(index)));
            index -= 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(Value::Decimal(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_through_the_binary_form() {
        for text in [
            "0",
            "1",
            "-12.3400",
            "10000",
            "0.0001",
            "123456789.987654321",
            "-0.5",
            "0.00",
            "99999999",
            "100000000.00000001",
        ] {
            let mut out = BytesMut::new();
            encode(text, &mut out).unwrap();
            assert_eq!(decode(&out).unwrap(), Value::Decimal(text.into()), "{text}");
        }
        for (given, read) in [
            ("+7", "7"),
            ("007.50", "7.50"),
            (".5", "0.5"),
            ("-0.00", "0.00"),
            ("5.", "5"),
        ] {
            let mut out = BytesMut::new();
            encode(given, &mut out).unwrap();
            assert_eq!(decode(&out).unwrap(), Value::Decimal(read.into()), "{given}");
        }
    }

    #[test]
    fn the_binary_form_is_the_servers() {
        // 12345.678 = digits 1, 2345, 6780 with weight 1 and scale 3.
        let mut out = BytesMut::new();
        encode("-12345.678", &mut out).unwrap();
        let words: Vec<u16> = out.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        assert_eq!(words, [3, 1, NEGATIVE, 3, 1, 2345, 6780]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in ["", "1e5", "abc", "1.2.3", "-", "0x10"] {
            assert!(encode(bad, &mut BytesMut::new()).is_err(), "{bad}");
        }
        for raw in [
            &[][..],
            &[0, 1, 0, 0, 0, 0, 0, 0][..],
            &[0xff, 0xff, 0, 0, 0, 0, 0, 0][..],
            &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10][..],
            &[0, 0, 0, 0, 0x12, 0x34, 0, 0][..],
        ] {
            assert!(decode(raw).is_err(), "{raw:?}");
        }
        assert_eq!(
            decode(&[0, 0, 0, 0, 0xC0, 0, 0, 0]).unwrap(),
            Value::Text("NaN".into())
        );
        // The largest weight and scale finish.
        let huge = [0, 1, 0x7f, 0xff, 0, 0, 0x3f, 0xff, 0, 1];
        assert!(matches!(decode(&huge), Ok(Value::Decimal(_))));
    }
}
