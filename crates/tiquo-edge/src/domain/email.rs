//! Email addresses as the admin commands accept them.

use super::has_control;

/// A plausible email address (`local@domain`), trimmed, at most 254 characters.
/// Uniqueness is case-insensitive: [`Email::normalized`] is the lookup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Checks the shape only; whether the address receives mail is not ours to know.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let rule = || {
            format!(
                "'{}' is not an email address (expected name@domain)",
                trimmed.escape_debug()
            )
        };
        if trimmed.chars().count() > 254
            || has_control(raw)
            || trimmed.chars().any(char::is_whitespace)
        {
            return Err(rule());
        }
        let (local, domain) = trimmed.split_once('@').ok_or_else(rule)?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(rule());
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key.
    pub fn normalized(&self) -> String {
        normalize(&self.0)
    }
}

/// The case-insensitive form of any address (also used for token claims).
pub fn normalize(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            Email::parse(" A@Example.com ").unwrap().normalized(),
            "a@example.com"
        );
        for bad in ["", "a", "a@", "@b", "a@b@c", "a b@c", "a@\u{7}b", "a@b\n"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
