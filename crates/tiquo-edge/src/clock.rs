//! Time helpers: the one place that reads the wall clock and formats instants.
//!
//! Instants are kept as Unix milliseconds (an `i64`) in the database so both
//! backends store them the same way; on the wire they are ISO-8601 UTC with
//! milliseconds, like `2025-01-15T10:30:00.000Z`.

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

const ISO_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A duration in milliseconds, saturating far beyond any configured value.
pub fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Formats Unix milliseconds as ISO-8601 UTC with milliseconds.
pub fn iso_from_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(ISO_MILLIS).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

/// The current time as ISO-8601 UTC with milliseconds.
pub fn now_iso() -> String {
    iso_from_ms(now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_docs() {
        assert_eq!(iso_from_ms(1_736_937_000_000), "2025-01-15T10:30:00.000Z");
        assert_eq!(iso_from_ms(1_736_937_000_042), "2025-01-15T10:30:00.042Z");
    }
}
