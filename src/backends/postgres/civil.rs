//! Days since 1970-01-01 to and from calendar dates (proleptic Gregorian), for backends that
//! send dates as day counts.

use crate::sql::Date;

/// Days from 1970-01-01 to `date` (negative before it). Howard Hinnant's `days_from_civil`.
pub(crate) fn days_from_civil(date: Date) -> i64 {
    let (m, d) = (i64::from(date.month), i64::from(date.day));
    let y = i64::from(date.year) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01. Howard Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (y, m, d, days) in [
            (1970, 1, 1, 0),
            (2000, 1, 1, 10_957),
            (1969, 12, 31, -1),
            (2024, 2, 29, 19_782),
        ] {
            let date = Date::new(y, m, d).unwrap();
            assert_eq!(days_from_civil(date), days);
            assert_eq!(civil_from_days(days), (i64::from(y), m, d));
        }
    }
}
