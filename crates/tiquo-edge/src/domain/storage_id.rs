//! `StorageId`: the opaque name of an uploaded object, as clients see it.

use std::fmt;

use super::random_id;

/// Random bytes in a new id (160 bits: unguessable, so the id alone may be
/// published in a URL).
const ID_BYTES: usize = 20;

/// An uploaded object's id: unpadded base64url, so it is safe in URLs and in
/// object-store keys without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageId(String);

impl StorageId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(random_id("", ID_BYTES))
    }

    /// Checks the shape of an id a client sent (not that it exists).
    pub fn parse(text: &str) -> Option<Self> {
        let plausible = (16..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StorageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_odd_ones_do_not() {
        let id = StorageId::generate();
        assert_eq!(StorageId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(StorageId::generate(), id);
        assert!(StorageId::parse("short").is_none());
        assert!(StorageId::parse("../../etc/passwd-and-more").is_none());
        assert!(StorageId::parse("abcdefghijklmnop%2F").is_none());
        assert!(StorageId::parse(&"a".repeat(65)).is_none());
    }
}
