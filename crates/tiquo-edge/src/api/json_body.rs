//! The JSON request-body extractor: size limit, Content-Type, syntax, each
//! refused with the API's own error instead of axum's plain-text rejections.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use http_body_util::BodyExt;
use serde_json::Value;

use super::JSON_BODY_LIMIT;
use crate::error::ApiError;

/// A body larger than the limit is still read, and thrown away, up to this
/// many bytes before the 413 is sent: a client that is still sending would
/// otherwise see its connection reset and never read the answer.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// A request body that is JSON (any value; handlers decide the shape).
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = read_limited(&parts.headers, body, JSON_BODY_LIMIT as u64).await?;
        parse_json(&parts.headers, &bytes).map(JsonBody)
    }
}

/// A request body that is empty or JSON, for endpoints whose body is optional.
#[derive(Debug)]
pub struct OptionalJsonBody(pub Option<Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let bytes = read_limited(&parts.headers, body, JSON_BODY_LIMIT as u64).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        parse_json(&parts.headers, &bytes).map(|v| Self(Some(v)))
    }
}

fn parse_json(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::InvalidRequest(format!(
            "Content-Type must be application/json, not '{}'",
            if mime.is_empty() { "(none)" } else { mime }
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("The request body is not valid JSON: {e}")))
}

/// Reads the whole body if it has at most `limit` bytes, whether or not it
/// declares a Content-Length.
async fn read_limited(headers: &HeaderMap, mut body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("The request body is larger than {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let mut kept = Vec::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            ApiError::InvalidRequest("The request body could not be read".to_owned())
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            return Err(too_large());
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}
