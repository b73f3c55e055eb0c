//! [`Date`], [`Time`], [`Timestamp`] and [`TimestampTz`]: plain calendar values, checked on
//! construction, shown and parsed in ISO 8601 form.

use std::fmt;
use std::str::FromStr;

use super::ValueError;

/// A calendar date (proleptic Gregorian), without a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// The year (`-9999..=9999`; 0 is 1 BC).
    pub year: i32,
    /// The month, `1..=12`.
    pub month: u8,
    /// The day of the month, `1..=31` as the month allows.
    pub day: u8,
}

/// A time of day, without a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    /// The hour, `0..=23`.
    pub hour: u8,
    /// The minute, `0..=59`.
    pub minute: u8,
    /// The second, `0..=59`.
    pub second: u8,
    /// The fraction of the second in nanoseconds, `0..=999_999_999`.
    pub nanosecond: u32,
}

/// A date and a time of day, without a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// The date.
    pub date: Date,
    /// The time of day.
    pub time: Time,
}

/// A date and time of day at an offset from UTC: the wall-clock time where that offset holds,
/// and the offset (`2024-07-01 12:00:00+02:00` is 10:00 UTC). What PostgreSQL's `timestamptz`
/// reads as, in the session's `TimeZone`.
///
/// Two values are equal when both fields are: `12:00+02:00` and `10:00+00:00` are the same
/// instant, but not equal (as `java.time.OffsetDateTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampTz {
    /// The date and time of day at `offset_seconds` from UTC.
    pub timestamp: Timestamp,
    /// The offset from UTC in seconds, east positive (`7200` for `+02:00`), less than a day
    /// either way.
    pub offset_seconds: i32,
}

/// The largest offset from UTC, in seconds: one less than a day.
const MAX_OFFSET_SECONDS: i32 = 86_399;

fn invalid(target: &'static str, reason: impl Into<String>) -> ValueError {
    ValueError::Invalid {
        target,
        reason: reason.into(),
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// A date, checked: the month `1..=12`, the day within the month, the year `-9999..=9999`.
    pub fn new(year: i32, month: u8, day: u8) -> Result<Date, ValueError> {
        if !(-9999..=9999).contains(&year) {
            return Err(invalid("Date", format!("year {year} is outside -9999..=9999")));
        }
        if !(1..=12).contains(&month) {
            return Err(invalid("Date", format!("month {month} is outside 1..=12")));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(invalid(
                "Date",
                format!("day {day} is not in month {month} of {year}"),
            ));
        }
        Ok(Date { year, month, day })
    }
}

impl Time {
    /// A time, checked: hour `0..=23`, minute and second `0..=59`, nanosecond below one second.
    pub fn new(hour: u8, minute: u8, second: u8, nanosecond: u32) -> Result<Time, ValueError> {
        if hour > 23 || minute > 59 || second > 59 || nanosecond > 999_999_999 {
            return Err(invalid(
                "Time",
                format!(
                    "{hour:02}:{minute:02}:{second:02}.{nanosecond} is not a time of day \
                     (hours 0-23, minutes and seconds 0-59, nanoseconds below 1e9)"
                ),
            ));
        }
        Ok(Time {
            hour,
            minute,
            second,
            nanosecond,
        })
    }
}

impl Timestamp {
    /// A timestamp from its date and time.
    pub fn new(date: Date, time: Time) -> Timestamp {
        Timestamp { date, time }
    }
}

impl TimestampTz {
    /// A timestamp at an offset from UTC, checked: the offset (seconds east of UTC) is less
    /// than a day either way.
    pub fn new(timestamp: Timestamp, offset_seconds: i32) -> Result<TimestampTz, ValueError> {
        if offset_seconds.abs() > MAX_OFFSET_SECONDS {
            return Err(invalid(
                "TimestampTz",
                format!("an offset of {offset_seconds} seconds is a day or more"),
            ));
        }
        Ok(TimestampTz {
            timestamp,
            offset_seconds,
        })
    }
}

/// `2024-02-29`; years outside 0..=9999 with a sign.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if (0..=9999).contains(&self.year) {
            write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
        } else {
            write!(f, "{:+05}-{:02}-{:02}", self.year, self.month, self.day)
        }
    }
}

/// `13:45:07`, with the fraction when there is one (`13:45:07.250`, trailing zeros dropped).
impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.hour, self.minute, self.second)?;
        if self.nanosecond > 0 {
            let fraction = format!("{:09}", self.nanosecond);
            write!(f, ".{}", fraction.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

/// `2024-02-29 13:45:07.25`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.date, self.time)
    }
}

/// `2024-07-01 12:00:00+02:00`: the timestamp, then the offset as `±HH:MM` (and `:SS` when it
/// has seconds).
impl fmt::Display for TimestampTz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.offset_seconds < 0 { '-' } else { '+' };
        let offset = self.offset_seconds.unsigned_abs();
        let (hours, minutes, seconds) = (offset / 3600, offset / 60 % 60, offset % 60);
        write!(f, "{}{sign}{hours:02}:{minutes:02}", self.timestamp)?;
        if seconds > 0 {
            write!(f, ":{seconds:02}")?;
        }
        Ok(())
    }
}

fn number<T: FromStr>(
    target: &'static str,
    text: &str,
    digits: std::ops::RangeInclusive<usize>,
) -> Result<T, ValueError> {
    if !digits.contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            target,
            format!("`{text}` is not a number of {digits:?} digits"),
        ));
    }
    text.parse()
        .map_err(|_| invalid(target, format!("`{text}` is not a number")))
}

/// `YYYY-MM-DD` (a leading `-` or `+` for other years).
impl FromStr for Date {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Date, ValueError> {
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'-') => (-1, &s[1..]),
            Some(b'+') => (1, &s[1..]),
            _ => (1, s),
        };
        let mut parts = rest.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("Date", format!("`{s}` is not YYYY-MM-DD")));
        };
        let year: i32 = number("Date", y, 4..=4)?;
        Date::new(sign * year, number("Date", m, 2..=2)?, number("Date", d, 2..=2)?)
    }
}

/// `HH:MM:SS` with an optional fraction of up to nine digits (`13:45:07.25`).
impl FromStr for Time {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Time, ValueError> {
        let (hms, fraction) = s.split_once('.').unwrap_or((s, ""));
        let mut parts = hms.splitn(3, ':');
        let (Some(h), Some(m), Some(sec)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("Time", format!("`{s}` is not HH:MM:SS[.fraction]")));
        };
        let nanosecond = if fraction.is_empty() {
            if s.ends_with('.') {
                return Err(invalid("Time", format!("`{s}` has an empty fraction")));
            }
            0
        } else {
            let digits: u32 = number("Time", fraction, 1..=9)?;
            let scale = 10u32.pow(9 - u32::try_from(fraction.len()).unwrap_or(9));
            digits * scale
        };
        Time::new(
            number("Time", h, 2..=2)?,
            number("Time", m, 2..=2)?,
            number("Time", sec, 2..=2)?,
            nanosecond,
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]`, or with a `T` between date and time.
impl FromStr for Timestamp {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Timestamp, ValueError> {
        let at = s.rfind([' ', 'T']).ok_or_else(|| {
            invalid(
                "Timestamp",
                format!("`{s}` is not YYYY-MM-DD HH:MM:SS[.fraction]"),
            )
        })?;
        Ok(Timestamp::new(s[..at].parse()?, s[at + 1..].parse()?))
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` then an offset: `Z`, `±HH`, `±HHMM`, `±HH:MM` or
/// `±HH:MM:SS` (a space before it allowed); a `T` may stand between date and time.
impl FromStr for TimestampTz {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<TimestampTz, ValueError> {
        let shape = || {
            invalid(
                "TimestampTz",
                format!("`{s}` is not YYYY-MM-DD HH:MM:SS[.fraction] with an offset such as +02:00 or Z"),
            )
        };
        // The time has no sign and no letter: the offset starts at the first one after it.
        let time_at = s
            .get(1..)
            .and_then(|rest| rest.find([' ', 'T']))
            .ok_or_else(shape)?
            + 2;
        let offset_at = s[time_at..].find(['+', '-', 'Z', 'z']).ok_or_else(shape)? + time_at;
        let timestamp: Timestamp = s[..offset_at].trim_end().parse()?;
        let offset = &s[offset_at..];
        let offset_seconds = match offset {
            "Z" | "z" => 0,
            _ => {
                let sign = if offset.starts_with('-') { -1 } else { 1 };
                let digits = &offset[1..];
                if !digits.bytes().all(|b| b.is_ascii_digit() || b == b':') {
                    return Err(shape());
                }
                let (hours, rest) = match digits.split_once(':') {
                    Some((h, rest)) => (h, rest),
                    None if digits.len() == 4 => digits.split_at(2),
                    None => (digits, ""),
                };
                let (minutes, seconds) = rest.split_once(':').unwrap_or((rest, ""));
                let part = |text: &str| -> Result<i32, ValueError> {
                    if text.is_empty() {
                        Ok(0)
                    } else {
                        number("TimestampTz", text, 2..=2)
                    }
                };
                let (hours, minutes, seconds) = (part(hours)?, part(minutes)?, part(seconds)?);
                if hours == 0 && digits.is_empty() || minutes > 59 || seconds > 59 {
                    return Err(shape());
                }
                sign * (hours * 3600 + minutes * 60 + seconds)
            }
        };
        TimestampTz::new(timestamp, offset_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        assert!(Date::new(2024, 2, 29).is_ok());
        assert!(Date::new(2023, 2, 29).is_err());
        assert!(Date::new(1900, 2, 29).is_err());
        assert!(Date::new(2000, 2, 29).is_ok());
        assert!(Date::new(2024, 13, 1).is_err());
        assert!(Date::new(2024, 4, 31).is_err());
        assert!(Time::new(23, 59, 59, 999_999_999).is_ok());
        assert!(Time::new(24, 0, 0, 0).is_err());
    }

    #[test]
    fn iso_text_round_trips() {
        for text in ["2024-02-29", "0001-01-01", "-0044-03-15", "9999-12-31"] {
            assert_eq!(text.parse::<Date>().unwrap().to_string(), text);
        }
        for text in ["00:00:00", "13:45:07.25", "23:59:59.999999999", "01:02:03.000001"] {
            assert_eq!(text.parse::<Time>().unwrap().to_string(), text);
        }
        let ts: Timestamp = "2024-02-29T13:45:07.5".parse().unwrap();
        assert_eq!(ts.to_string(), "2024-02-29 13:45:07.5");
        assert_eq!(ts.time.nanosecond, 500_000_000);
        for bad in ["2024-2-29", "2024-02-30", "24-02-01", "x"] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
        for bad in ["1:02:03", "12:60:00", "12:00:00.", "12:00:00.1234567890", "12:00"] {
            assert!(bad.parse::<Time>().is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_with_offsets_round_trip() {
        let noon: Timestamp = "2024-07-01 12:00:00".parse().unwrap();
        for (text, offset_seconds) in [
            ("2024-07-01 12:00:00+02:00", 7200),
            ("2024-07-01T12:00:00+02", 7200),
            ("2024-07-01 12:00:00 +0200", 7200),
            ("2024-07-01 12:00:00-05:30", -19_800),
            ("2024-07-01 12:00:00Z", 0),
            ("2024-07-01 12:00:00+05:53:28", 21_208),
        ] {
            let parsed: TimestampTz = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed, TimestampTz::new(noon, offset_seconds).unwrap(), "{text}");
        }
        let shown = TimestampTz::new("-0044-03-15 12:00:00.5".parse().unwrap(), -19_800).unwrap();
        assert_eq!(shown.to_string(), "-0044-03-15 12:00:00.5-05:30");
        assert_eq!(shown.to_string().parse::<TimestampTz>().unwrap(), shown);
        assert_eq!(
            TimestampTz::new(noon, 0).unwrap().to_string(),
            "2024-07-01 12:00:00+00:00"
        );
        assert_eq!(
            TimestampTz::new(noon, 21_208).unwrap().to_string(),
            "2024-07-01 12:00:00+05:53:28"
        );
        for bad in [
            "2024-07-01 12:00:00",
            "2024-07-01 12:00:00+",
            "2024-07-01 12:00:00+2",
            "2024-07-01 12:00:00+02:60",
            "2024-07-01 12:00:00+24",
            "2024-07-01+02:00",
            "x",
            "",
        ] {
            assert!(bad.parse::<TimestampTz>().is_err(), "{bad}");
        }
        assert!(TimestampTz::new(noon, 86_400).is_err());
    }
}
