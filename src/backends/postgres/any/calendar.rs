//! Dates and times to and from PostgreSQL's binary forms (days and microseconds since
//! 2000-01-01), and their text forms as the server prints them (`DateStyle` ISO).

use std::fmt::Write;

use super::super::civil::{civil_from_days, days_from_civil};
use crate::sql::{Date, Time, Timestamp};

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
pub(super) const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Days from 2000-01-01 to `date`.
pub(super) fn pg_days(date: Date) -> i64 {
    days_from_civil(date) - PG_EPOCH_DAYS
}

/// Microseconds since midnight, the nanoseconds rounded to the nearest microsecond (as the
/// server rounds a longer fraction given as text).
pub(super) fn micros_of_day(t: Time) -> i64 {
    ((i64::from(t.hour) * 60 + i64::from(t.minute)) * 60 + i64::from(t.second)) * MICROS_PER_SECOND
        + (i64::from(t.nanosecond) + 500) / 1000
}

/// Microseconds from 2000-01-01 00:00 to `ts`; `None` past the range of an `i64`.
pub(super) fn pg_micros(ts: Timestamp) -> Option<i64> {
    pg_days(ts.date)
        .checked_mul(MICROS_PER_DAY)?
        .checked_add(micros_of_day(ts.time))
}

/// The calendar date `days` after 2000-01-01 as (year, month, day), the year astronomical (0
/// is 1 BC) and unbounded.
fn civil_at(days: i64) -> Option<(i64, u8, u8)> {
    // Far enough for any i32 day count or i64 microsecond count, and no overflow inside.
    if days.unsigned_abs() > 1 << 40 {
        return None;
    }
    Some(civil_from_days(days + PG_EPOCH_DAYS))
}

/// The date `days` after 2000-01-01; `None` outside [`Date`]'s years.
pub(super) fn date_at(days: i64) -> Option<Date> {
    let (year, month, day) = civil_at(days)?;
    Date::new(i32::try_from(year).ok()?, month, day).ok()
}

/// The time `micros` after midnight; `None` outside one day (PostgreSQL's `24:00:00` included).
pub(super) fn time_at(micros: i64) -> Option<Time> {
    if !(0..MICROS_PER_DAY).contains(&micros) {
        return None;
    }
    let seconds = micros / MICROS_PER_SECOND;
    let nanosecond = u32::try_from(micros % MICROS_PER_SECOND * 1000).ok()?;
    let [hour, minute, second] = [seconds / 3600, seconds / 60 % 60, seconds % 60].map(|n| n as u8);
    Time::new(hour, minute, second, nanosecond).ok()
}

/// The timestamp `micros` after 2000-01-01 00:00; `None` outside [`Date`]'s years.
pub(super) fn timestamp_at(micros: i64) -> Option<Timestamp> {
    Some(Timestamp::new(
        date_at(micros.div_euclid(MICROS_PER_DAY))?,
        time_at(micros.rem_euclid(MICROS_PER_DAY))?,
    ))
}

/// `2024-02-29`, `0044-03-15 BC` for an astronomical year of -43, as the server prints and reads
/// dates; the era comes last in a timestamp, so it is returned apart.
fn date_text(year: i64, month: u8, day: u8) -> (String, &'static str) {
    if year > 0 {
        (format!("{year:04}-{month:02}-{day:02}"), "")
    } else {
        (format!("{:04}-{month:02}-{day:02}", 1 - year), " BC")
    }
}

/// A date as the server prints and reads it (`0044-03-15 BC` for year -43).
pub(super) fn pg_date_text(date: Date) -> String {
    let (text, era) = date_text(i64::from(date.year), date.month, date.day);
    text + era
}

/// `13:45:07`, with the microseconds when there are any (`13:45:07.25`): the server's form.
fn time_text(micros_of_day: i64) -> String {
    let seconds = micros_of_day / MICROS_PER_SECOND;
    let mut text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    push_fraction(&mut text, micros_of_day % MICROS_PER_SECOND);
    text
}

/// `.25` for 250 000 microseconds, nothing for none: six digits, trailing zeros dropped.
pub(super) fn push_fraction(text: &mut String, micros: i64) {
    if micros != 0 {
        let digits = format!("{:06}", micros.unsigned_abs());
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
}

/// An offset from UTC as the server prints it: `+02`, `-05:30`, `+05:53:28`.
pub(super) fn offset_text(offset_seconds: i32) -> String {
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let offset = offset_seconds.unsigned_abs();
    let (hours, minutes, seconds) = (offset / 3600, offset / 60 % 60, offset % 60);
    let mut text = format!("{sign}{hours:02}");
    if minutes != 0 || seconds != 0 {
        let _ = write!(text, ":{minutes:02}");
    }
    if seconds != 0 {
        let _ = write!(text, ":{seconds:02}");
    }
    text
}

/// A timestamp `micros` after 2000-01-01 as the server prints it, with `offset` appended
/// (`2024-07-01 12:00:00+02`), or `infinity`; `None` only where no calendar date is.
pub(super) fn pg_timestamp_text(micros: i64, offset: Option<i32>) -> Option<String> {
    match micros {
        i64::MAX => return Some("infinity".to_owned()),
        i64::MIN => return Some("-infinity".to_owned()),
        _ => {}
    }
    let (year, month, day) = civil_at(micros.div_euclid(MICROS_PER_DAY))?;
    let (date, era) = date_text(year, month, day);
    let time = time_text(micros.rem_euclid(MICROS_PER_DAY));
    let offset = offset.map(offset_text).unwrap_or_default();
    Some(format!("{date} {time}{offset}{era}"))
}

/// A date `days` after 2000-01-01 as the server prints it, or `infinity`.
pub(super) fn pg_days_text(days: i32) -> Option<String> {
    match days {
        i32::MAX => Some("infinity".to_owned()),
        i32::MIN => Some("-infinity".to_owned()),
        _ => {
            let (year, month, day) = civil_at(i64::from(days))?;
            let (date, era) = date_text(year, month, day);
            Some(date + era)
        }
    }
}

/// A time of day `micros` after midnight (up to `24:00:00`) as the server prints it.
pub(super) fn pg_time_text(micros: i64) -> String {
    time_text(micros)
}

/// A [`Time`] as the server prints it (the nanoseconds rounded to microseconds).
pub(super) fn pg_time_value_text(time: Time) -> String {
    time_text(micros_of_day(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_microseconds() {
        for text in [
            "2000-01-01 00:00:00",
            "1999-12-31 23:59:59.999999",
            "1969-07-20 20:17:40.5",
            "-4712-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
        ] {
            let ts: Timestamp = text.parse().unwrap();
            let micros = pg_micros(ts).unwrap();
            assert_eq!(timestamp_at(micros), Some(ts), "{text}");
        }
        assert_eq!(
            pg_micros("2000-01-02 00:00:00".parse().unwrap()),
            Some(MICROS_PER_DAY)
        );
        // Years past 9999 are no Date, but still a text.
        let far = pg_micros("9999-12-31 00:00:00".parse().unwrap()).unwrap() + 2 * MICROS_PER_DAY;
        assert_eq!(timestamp_at(far), None);
        assert_eq!(pg_timestamp_text(far, None).unwrap(), "10000-01-02 00:00:00");
        let bc = pg_micros("-0043-03-15 12:00:00.5".parse().unwrap()).unwrap();
        assert_eq!(
            pg_timestamp_text(bc, Some(3600)).unwrap(),
            "0044-03-15 12:00:00.5+01 BC"
        );
        assert_eq!(pg_timestamp_text(i64::MAX, None).unwrap(), "infinity");
        assert_eq!(pg_days_text(i32::MIN).unwrap(), "-infinity");
        assert_eq!(pg_days_text(0).unwrap(), "2000-01-01");
    }

    #[test]
    fn times_and_offsets_print_as_the_server_prints_them() {
        assert_eq!(time_at(MICROS_PER_DAY), None);
        assert_eq!(pg_time_text(MICROS_PER_DAY), "24:00:00");
        assert_eq!(pg_time_text(45_907_250_000), "12:45:07.25");
        assert_eq!(offset_text(7200), "+02");
        assert_eq!(offset_text(-19_800), "-05:30");
        assert_eq!(offset_text(21_208), "+05:53:28");
        assert_eq!(offset_text(0), "+00");
        let late = Time::new(23, 59, 59, 999_999_600).unwrap();
        assert_eq!(micros_of_day(late), MICROS_PER_DAY, "rounded to the microsecond");
        assert_eq!(pg_date_text(Date::new(0, 1, 1).unwrap()), "0001-01-01 BC");
    }
}
