//! Person and display names.

use super::has_control;

/// A first or last name: trimmed, 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

/// A display name: trimmed, 1–256 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

fn parse_bounded(field: &str, raw: &str, max: usize) -> Result<String, String> {
    if has_control(raw) {
        return Err(format!(
            "{field} must not contain control characters (tabs, newlines, …)"
        ));
    }
    let trimmed = raw.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > max {
        return Err(format!(
            "{field} must be 1 to {max} characters long after trimming"
        ));
    }
    Ok(trimmed.to_owned())
}

impl PersonName {
    /// Longest accepted name, in characters.
    pub const MAX: usize = 100;

    /// Checks `raw` as the value of `field` (the field name goes into the message).
    pub fn parse(field: &str, raw: &str) -> Result<Self, String> {
        parse_bounded(field, raw, Self::MAX).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl DisplayName {
    /// Longest accepted display name, in characters.
    pub const MAX: usize = 256;

    /// Checks `raw` as the value of `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, String> {
        parse_bounded(field, raw, Self::MAX).map(Self)
    }

    /// The display name derived from first and last name: both joined by one
    /// space, leaving out a part that is missing; `None` when both are.
    pub fn from_parts(first: Option<&str>, last: Option<&str>) -> Option<String> {
        match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
            (None, None) => None,
        }
    }

    /// The display name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_counts_characters() {
        assert_eq!(
            PersonName::parse("firstName", "  John ").unwrap().as_str(),
            "John"
        );
        assert!(PersonName::parse("firstName", "   ").is_err());
        assert!(PersonName::parse("firstName", "").is_err());
        // 100 multi-byte characters are fine, 101 are not.
        assert!(PersonName::parse("firstName", &"é".repeat(100)).is_ok());
        assert!(PersonName::parse("firstName", &"é".repeat(101)).is_err());
        assert!(DisplayName::parse("displayName", &"x".repeat(256)).is_ok());
        assert!(DisplayName::parse("displayName", &"x".repeat(257)).is_err());
    }

    #[test]
    fn refuses_control_characters_anywhere() {
        for bad in ["Jo\nhn", "John\t", "\u{7f}x", "a\u{85}b", "\u{0}"] {
            let err = PersonName::parse("lastName", bad).unwrap_err();
            assert!(err.contains("lastName"), "{err}");
        }
    }

    #[test]
    fn derives_display_name() {
        assert_eq!(
            DisplayName::from_parts(Some("John"), Some("Smith")).unwrap(),
            "John Smith"
        );
        assert_eq!(
            DisplayName::from_parts(None, Some("Smith")).unwrap(),
            "Smith"
        );
        assert_eq!(DisplayName::from_parts(Some("John"), None).unwrap(), "John");
        assert_eq!(DisplayName::from_parts(None, None), None);
    }
}
