//! Phone numbers in compact international form.

use super::has_control;

/// `+` then 7 to 15 digits, the first not 0 (the E.164 shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

const RULE: &str = "phone must be + followed by 7 to 15 digits, the first not 0 (spaces, dots, dashes and parentheses are ignored)";

impl Phone {
    /// Accepts `+1 (234) 567-890` and stores `+1234567890`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if has_control(raw) {
            return Err(RULE.to_owned());
        }
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
            .collect();
        let Some(digits) = compact.strip_prefix('+') else {
            return Err(RULE.to_owned());
        };
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(compact))
        } else {
            Err(RULE.to_owned())
        }
    }

    /// The compact form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_compacts() {
        assert_eq!(Phone::parse("+1234567890").unwrap().as_str(), "+1234567890");
        assert_eq!(
            Phone::parse(" +44 (20) 7946.0958 ").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(Phone::parse("+1234567").unwrap().as_str(), "+1234567");
        assert_eq!(
            Phone::parse("+123456789012345").unwrap().as_str(),
            "+123456789012345"
        );
    }

    #[test]
    fn refuses_bad_numbers() {
        for bad in [
            "1234567890",
            "+0123456789",
            "+123456",
            "+1234567890123456",
            "+12345abc90",
            "++1234567890",
            "+1234\t567890",
            "",
            "+",
            "+١٢٣٤٥٦٧٨",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
