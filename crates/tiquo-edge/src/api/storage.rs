//! `/storage/…`: the public side of uploaded objects. `POST /storage/upload/{ticket}`
//! receives the bytes (see [`super::upload`]); `GET`/`HEAD /storage/{storageId}`
//! serves an attached photo like a CDN would: immutable, cacheable for a
//! year, with conditional and range requests.

use std::ops::Range;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use object_store::GetRange;

use super::CLIENT_API;
use super::upload::upload;
use crate::domain::StorageId;
use crate::error::ApiError;
use crate::state::AppState;

/// An object's bytes never change under its id.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/storage/upload/{ticket}", post(upload))
        .route("/storage/{storage_id}", get(serve).head(serve))
}

/// The public URL of an object.
pub fn object_url(public_url: &str, id: &StorageId) -> String {
    format!("{public_url}{CLIENT_API}/storage/{id}")
}

async fn serve(
    State(state): State<AppState>,
    Path(storage_id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = StorageId::parse(&storage_id).ok_or(ApiError::NotFound)?;
    // Only attached objects are served: an upload is not public until its
    // owner makes it their photo.
    let object = state
        .store
        .stored_object(id.as_str())
        .await?
        .filter(|o| o.attached_at_ms.is_some())
        .ok_or(ApiError::NotFound)?;
    let size = u64::try_from(object.size_bytes).unwrap_or(0);
    let etag = format!("\"{}\"", object.sha256);

    let mut response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, IMMUTABLE)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'")
        .header(header::ACCEPT_RANGES, "bytes");
    if header_str(&headers, header::IF_NONE_MATCH).is_some_and(|c| none_match(c, &etag)) {
        return Ok(response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(anyhow::Error::from)?);
    }
    // A range is honoured only for the representation the client has, when
    // it says which one (If-Range); otherwise the whole object is sent.
    let if_range_ok = header_str(&headers, header::IF_RANGE).is_none_or(|tag| tag == etag);
    let range = match header_str(&headers, header::RANGE) {
        Some(value) if if_range_ok => parse_range(value, size)?,
        _ => None,
    };
    response = response.header(header::CONTENT_TYPE, &object.content_type);
    response = match &range {
        Some(r) => response
            .status(StatusCode::PARTIAL_CONTENT)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            )
            .header(header::CONTENT_LENGTH, r.end - r.start),
        None => response
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, size),
    };
    if method == Method::HEAD {
        return Ok(response.body(Body::empty()).map_err(anyhow::Error::from)?);
    }
    let got = state
        .blobs
        .get(&id, range.clone().map(GetRange::Bounded))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading object failed: {e}")))?
        .ok_or(ApiError::NotFound)?;
    Ok(response
        .body(Body::from_stream(got.into_stream()))
        .map_err(anyhow::Error::from)?)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
}

/// `If-None-Match` under weak comparison: `*` or a list holding the tag.
fn none_match(condition: &str, etag: &str) -> bool {
    condition
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// One `bytes=` range of an object of `size` bytes, as a half-open range.
/// Forms this server does not handle (several ranges, other units, bad
/// syntax) give `None`: the whole object is sent, as RFC 9110 allows.
fn parse_range(value: &str, size: u64) -> Result<Option<Range<u64>>, ApiError> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match number(last) {
            Some(0) => Err(ApiError::RangeNotSatisfiable(size)),
            Some(n) => Ok(Some(size.saturating_sub(n)..size)),
            None => Ok(None),
        },
        // bytes=A-
        (false, true) => match number(first) {
            Some(start) if start >= size => Err(ApiError::RangeNotSatisfiable(size)),
            Some(start) => Ok(Some(start..size)),
            None => Ok(None),
        },
        // bytes=A-B
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    Err(ApiError::RangeNotSatisfiable(size))
                } else {
                    Ok(Some(start..end.min(size - 1) + 1))
                }
            }
            _ => Ok(None),
        },
        (true, true) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some(0..10));
        assert_eq!(parse_range("bytes=90-200", 100).unwrap(), Some(90..100));
        assert_eq!(parse_range("bytes=95-", 100).unwrap(), Some(95..100));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some(90..100));
        assert_eq!(parse_range("bytes=-500", 100).unwrap(), Some(0..100));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=100-200", 100).is_err());
        assert!(parse_range("bytes=-0", 100).is_err());
        assert_eq!(parse_range("bytes=5-1", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert_eq!(parse_range("bytes=x-1", 100).unwrap(), None);
    }

    #[test]
    fn if_none_match() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\", \"x\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
    }
}
