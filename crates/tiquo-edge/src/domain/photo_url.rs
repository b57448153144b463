//! Profile photo URLs given by the client.

use url::{Host, Url};

use super::has_control;

/// An absolute `https` URL (or `http` for a loopback host), at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoUrl(String);

const RULE: &str = "profilePhoto must be an absolute https URL (http only for localhost, 127.0.0.1 and [::1]) of at most 2048 characters";

impl PhotoUrl {
    /// Longest accepted URL, in characters.
    pub const MAX: usize = 2048;

    /// Checks the URL and keeps it as the client wrote it (trimmed).
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Control characters are refused anywhere, ends included (trimming
        // would otherwise hide a tab or newline). The URL parser also silently
        // drops inner tabs and newlines, so this must come before parsing.
        if has_control(raw) {
            return Err(RULE.to_owned());
        }
        let trimmed = raw.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > Self::MAX
            || trimmed.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(RULE.to_owned());
        }
        let url = Url::parse(trimmed).map_err(|_| RULE.to_owned())?;
        let loopback = match url.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
            None => return Err(RULE.to_owned()),
        };
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        if !scheme_ok {
            return Err(RULE.to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("profilePhoto must not contain a user name or password".to_owned());
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://cdn.example.com/p/1.jpg",
            " https://cdn.example.com/a?b=c ",
            "http://localhost:3000/me.png",
            "http://127.0.0.1/me.png",
            "http://[::1]:8080/me.png",
        ] {
            assert!(PhotoUrl::parse(ok).is_ok(), "{ok}");
        }
        let long = format!("https://e.com/{}", "a".repeat(2048 - 14));
        assert_eq!(long.len(), 2048);
        assert!(PhotoUrl::parse(&long).is_ok());
        assert!(PhotoUrl::parse(&format!("{long}a")).is_err());
    }

    #[test]
    fn refuses_others() {
        for bad in [
            "http://example.com/x.jpg",
            "ftp://example.com/x.jpg",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "/relative/path.jpg",
            "https://exa mple.com/x.jpg",
            "https://example.com/x\n.jpg",
            "https://example.com/x.jpg\t",
            "\nhttps://example.com/x.jpg",
            "https://user:pw@example.com/x.jpg",
            "http://localhost.evil.com/x.jpg",
            "",
        ] {
            assert!(PhotoUrl::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
