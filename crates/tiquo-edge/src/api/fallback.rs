//! Answers nobody's handler wrote: unknown paths, wrong methods and bodies the
//! router refused. Each gets the same JSON envelope as handler errors.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Rewrites an error response whose body is not JSON into the envelope,
/// keeping its status and headers (such as `Allow` on a 405).
pub async fn envelope_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST => {
            ApiError::InvalidRequest("The request is malformed".to_owned())
        }
        _ => ApiError::Internal(anyhow::anyhow!("unexpected bare {status} response")),
    };
    let (mut parts, _) = response.into_parts();
    let fresh = error.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in fresh.headers() {
        parts.headers.insert(name, value.clone());
    }
    let (_, body) = fresh.into_parts();
    Response::from_parts(parts, Body::new(body))
}
