//! Calendar dates as the catalog writes them, `YYYY-MM-DD`: promotion validity windows and the business date
//! a basket is priced on.
//!
//! Owns parsing, checking (real days only: no 31 April, 29 February only in leap years) and ordering of such
//! dates. Must never read the system clock: a device has no trustworthy clock, so "today" is always a date
//! handed in by the caller (see [`crate::pricing::PricingContext`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A day of the Gregorian calendar, without time or time zone. Ordered by date.
///
/// Written and read as `YYYY-MM-DD` (exactly ten characters, zero-padded), the form of ISO 8601 dates and of
/// JSON in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate {
    // Field order is the ordering: derive(Ord) compares year, then month, then day.
    year: u16,
    month: u8,
    day: u8,
}

/// Why a text or a triple is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not of the form `YYYY-MM-DD`.
    #[error("\"{0}\" is not a date of the form YYYY-MM-DD")]
    Form(String),
    /// The year is out of range.
    #[error("year {0} is out of range 1..=9999")]
    Year(u16),
    /// The month is not 1..=12.
    #[error("month {0} is not 1..=12")]
    Month(u8),
    /// The day does not exist in that month.
    #[error("day {day} does not exist in {year}-{month:02}")]
    Day {
        /// Year.
        year: u16,
        /// Month.
        month: u8,
        /// Day.
        day: u8,
    },
}

impl CalendarDate {
    /// 1970-01-01: the date of last resort when nothing better is known (no clock, no sale yet).
    pub const UNIX_EPOCH: CalendarDate = CalendarDate {
        year: 1970,
        month: 1,
        day: 1,
    };

    /// The date `year-month-day`, if it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Result<CalendarDate, DateError> {
        if !(1..=9999).contains(&year) {
            return Err(DateError::Year(year));
        }
        if !(1..=12).contains(&month) {
            return Err(DateError::Month(month));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(DateError::Day { year, month, day });
        }
        Ok(CalendarDate { year, month, day })
    }

    /// Year, 1..=9999.
    pub fn year(self) -> u16 {
        self.year
    }

    /// Month, 1..=12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Day of the month, 1..=31.
    pub fn day(self) -> u8 {
        self.day
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl FromStr for CalendarDate {
    type Err = DateError;

    fn from_str(s: &str) -> Result<CalendarDate, DateError> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        // Strict form only: "2026-3-1" or "2026-03-01T00:00" would be guesses about what central meant.
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
            return Err(DateError::Form(s.to_owned()));
        }
        let num = |r: std::ops::Range<usize>| b[r].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        // Two digits are at most 99: the narrowing cannot lose anything.
        CalendarDate::new(num(0..4), num(5..7) as u8, num(8..10) as u8)
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for CalendarDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CalendarDate, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_catalog_form() {
        let d: CalendarDate = "2026-03-01".parse().expect("a real date");
        assert_eq!((d.year(), d.month(), d.day()), (2026, 3, 1));
        assert_eq!(d.to_string(), "2026-03-01");
        assert_eq!(serde_json::to_string(&d).expect("serialises"), "\"2026-03-01\"");
    }

    #[test]
    fn refuses_days_that_do_not_exist_and_other_forms() {
        for (text, want) in [
            ("2026-02-29", "day 29 does not exist in 2026-02"),
            ("2026-04-31", "day 31 does not exist in 2026-04"),
            ("2026-13-01", "month 13"),
            ("2026-00-10", "month 0"),
            ("0000-01-01", "year 0"),
            ("2026-3-1", "not a date of the form"),
            ("2026-03-01T10:00", "not a date of the form"),
            ("26-03-01", "not a date of the form"),
            ("2026/03/01", "not a date of the form"),
            ("２０２６-03-01", "not a date of the form"),
        ] {
            let err = text.parse::<CalendarDate>().expect_err(text).to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn knows_leap_years() {
        assert!("2024-02-29".parse::<CalendarDate>().is_ok());
        assert!("2000-02-29".parse::<CalendarDate>().is_ok());
        assert!("1900-02-29".parse::<CalendarDate>().is_err());
    }

    #[test]
    fn orders_by_day() {
        let d = |s: &str| s.parse::<CalendarDate>().expect("valid");
        assert!(d("2026-01-31") < d("2026-02-01"));
        assert!(d("2025-12-31") < d("2026-01-01"));
        assert!(d("2026-02-10") > d("2026-02-09"));
    }
}
