//! Random, URL-safe identifiers from the operating system's CSPRNG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `prefix` followed by `bytes` random bytes in unpadded base64url.
pub fn random_id(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("the system random generator failed");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_and_distinct() {
        let a = random_id("cust_", 16);
        let b = random_id("cust_", 16);
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 22);
        assert!(
            a[5..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
