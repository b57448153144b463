//! Success responses in the Tiquo envelope.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tiquo_types::SuccessEnvelope;

use crate::clock;

/// `{"success":true,"data":…,"timestamp":…}`.
pub fn envelope_json<T: Serialize>(data: T) -> Response {
    json_response(
        StatusCode::OK,
        &SuccessEnvelope {
            success: true,
            data,
            timestamp: clock::now_iso(),
        },
    )
}

/// Any serializable body as `application/json`.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Adds a strong `ETag` for a customer version.
pub fn with_etag(mut response: Response, version: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The strong entity tag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}
