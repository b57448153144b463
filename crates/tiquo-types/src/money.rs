//! Exact money amounts.
//!
//! Amounts are kept as an integer count of minor units (cents) so no binary
//! floating point ever touches them, and are written on the wire as a JSON
//! number in major units with two decimals (`150.00`), as the Tiquo docs show.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{Error as _, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// An amount of money in minor units (1/100 of the currency's major unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    /// An amount from a count of minor units (cents).
    pub const fn from_minor(minor: i64) -> Self {
        Self(minor)
    }

    /// The amount in minor units.
    pub const fn minor(self) -> i64 {
        self.0
    }

    /// Parses a decimal in major units with at most two decimals (`150`, `150.5`, `-3.25`).
    pub fn parse_major(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 2 {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let frac: i64 = format!("{frac:0<2}").parse().ok()?;
        let minor = whole.checked_mul(100)?.checked_add(frac)?;
        Some(Self(if negative { -minor } else { minor }))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A raw JSON number keeps the two decimals exactly as written.
        let raw = RawValue::from_string(self.to_string()).map_err(S::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Money::parse_major(raw.get())
            .ok_or_else(|| de::Error::custom("expected an amount with at most two decimals"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_two_decimals() {
        assert_eq!(
            serde_json::to_string(&Money::from_minor(15000)).unwrap(),
            "150.00"
        );
        assert_eq!(
            serde_json::to_string(&Money::from_minor(5)).unwrap(),
            "0.05"
        );
        assert_eq!(
            serde_json::to_string(&Money::from_minor(-1234)).unwrap(),
            "-12.34"
        );
    }

    #[test]
    fn round_trips() {
        for minor in [0, 1, 99, 100, 15000, 20050, -7, i64::MAX / 1000] {
            let m = Money::from_minor(minor);
            let back: Money = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            assert_eq!(back, m);
        }
        let m: Money = serde_json::from_str("150").unwrap();
        assert_eq!(m.minor(), 15000);
        let m: Money = serde_json::from_str("0.5").unwrap();
        assert_eq!(m.minor(), 50);
    }

    #[test]
    fn refuses_inexact_or_garbage() {
        assert!(Money::parse_major("1.005").is_none());
        assert!(Money::parse_major("1e3").is_none());
        assert!(Money::parse_major("").is_none());
        assert!(Money::parse_major(".5").is_none());
        assert!(serde_json::from_str::<Money>("\"1.00\"").is_err());
    }
}
