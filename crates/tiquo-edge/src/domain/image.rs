//! The image types a profile photo may have, recognised by their leading
//! bytes ("magic numbers") rather than trusted from the declared type alone.

/// Images must be smaller than this many bytes (5 MiB).
pub const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;

/// How many leading bytes [`ImageType::sniff`] needs at most.
pub const SNIFF_LEN: usize = 64;

/// An accepted image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// `image/jpeg`
    Jpeg,
    /// `image/png`
    Png,
    /// `image/gif`
    Gif,
    /// `image/webp`
    Webp,
    /// `image/avif`
    Avif,
}

/// The accepted types, for error messages.
pub const ACCEPTED: &str = "image/jpeg, image/png, image/gif, image/webp, image/avif";

impl ImageType {
    const ALL: [Self; 5] = [Self::Jpeg, Self::Png, Self::Gif, Self::Webp, Self::Avif];

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Avif => "image/avif",
        }
    }

    /// The type a `Content-Type` value declares (parameters and case ignored),
    /// or the message to refuse it with.
    pub fn from_content_type(value: Option<&str>) -> Result<Self, String> {
        let essence = value
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        Self::ALL
            .into_iter()
            .find(|t| t.mime().eq_ignore_ascii_case(essence))
            .ok_or_else(|| {
                let shown = if essence.is_empty() {
                    "(none)"
                } else {
                    essence
                };
                format!("Content-Type {shown} is not accepted; send one of: {ACCEPTED}")
            })
    }

    /// The format `head` (the first bytes of a file, up to [`SNIFF_LEN`])
    /// starts with, if it is an accepted one.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if is_avif(head) {
            Some(Self::Avif)
        } else {
            None
        }
    }

    /// Parses a stored MIME type (as written by an upload).
    pub fn from_mime(mime: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.mime() == mime)
    }
}

/// An ISO-BMFF `ftyp` box naming the AVIF brand, as major brand or among the
/// compatible brands that fit in `head`.
fn is_avif(head: &[u8]) -> bool {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return false;
    }
    let box_len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let is_avif_brand = |brand: &[u8]| brand == b"avif" || brand == b"avis";
    if is_avif_brand(&head[8..12]) {
        return true;
    }
    let end = box_len.min(head.len());
    // Compatible brands start after the major brand and the minor version.
    head.get(16..end)
        .is_some_and(|brands| brands.chunks_exact(4).any(is_avif_brand))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_format() {
        assert_eq!(
            ImageType::sniff(b"\xFF\xD8\xFF\xE0rest"),
            Some(ImageType::Jpeg)
        );
        assert_eq!(
            ImageType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageType::Png)
        );
        assert_eq!(ImageType::sniff(b"GIF89a...."), Some(ImageType::Gif));
        assert_eq!(
            ImageType::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageType::Webp)
        );
        assert_eq!(
            ImageType::sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            Some(ImageType::Avif)
        );
        assert_eq!(
            ImageType::sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf"),
            Some(ImageType::Avif)
        );
        assert_eq!(
            ImageType::sniff(b"\0\0\0\x18ftypmp42\0\0\0\0isommp42"),
            None
        );
        assert_eq!(
            ImageType::sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(ImageType::sniff(b"<!DOCTYPE html>"), None);
        assert_eq!(ImageType::sniff(b"\xFF\xD8"), None);
        assert_eq!(ImageType::sniff(b""), None);
    }

    #[test]
    fn declared_types() {
        assert_eq!(
            ImageType::from_content_type(Some("IMAGE/PNG; charset=binary")),
            Ok(ImageType::Png)
        );
        let refused = ImageType::from_content_type(Some("image/svg+xml")).unwrap_err();
        assert!(refused.contains("image/svg+xml") && refused.contains(ACCEPTED));
        assert!(
            ImageType::from_content_type(None)
                .unwrap_err()
                .contains("(none)")
        );
        assert!(ImageType::from_content_type(Some("text/html")).is_err());
    }
}
