//! The API's one error type: every failure a handler can meet becomes an
//! [`ApiError`], which knows its status, its stable code and its envelope.
//!
//! Internal failures answer with a generic message and are logged once, here,
//! with their cause; their text never reaches the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tiquo_types::{ErrorCode, ErrorEnvelope};

use crate::clock;
use crate::store::StoreError;

/// The message every authentication failure carries; deliberately the same for
/// all causes so it tells an attacker nothing.
pub const INVALID_TOKEN_MESSAGE: &str = "Invalid or expired access token";

/// A failure the API answers with.
#[derive(Debug)]
pub enum ApiError {
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken,
    /// 400: the token has no customer.
    NoCustomerProfile,
    /// 400: one field is at fault.
    InvalidField {
        /// The field's wire name.
        field: String,
        /// What is wrong, for a person.
        message: String,
    },
    /// 400: the request as a whole is malformed.
    InvalidRequest(String),
    /// 412: `If-Match` did not match.
    PreconditionFailed,
    /// 413: the body is too large.
    PayloadTooLarge(String),
    /// 404.
    NotFound,
    /// 405 (the `Allow` header is added by the router).
    MethodNotAllowed,
    /// 415: not an accepted image, or bytes that contradict the declared type.
    UnsupportedMediaType(String),
    /// 404: unknown, expired or used upload URL (one answer for all three).
    UploadUrlInvalid,
    /// 400: the `storageId` cannot become this customer's photo.
    InvalidStorageId(String),
    /// 416: the range starts past the end of an object of this many bytes.
    RangeNotSatisfiable(u64),
    /// 408: the request body stopped arriving.
    RequestTimeout,
    /// 401: wrong, expired or used-up sign-in code.
    InvalidCode,
    /// 401: refresh token unknown, expired, used or revoked.
    InvalidRefreshToken,
    /// 429 with `Retry-After` (seconds).
    TooManyRequests(u64),
    /// 500: logged with its cause, answered generically.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 400 naming one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidToken | Self::InvalidCode | Self::InvalidRefreshToken => {
                StatusCode::UNAUTHORIZED
            }
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NoCustomerProfile
            | Self::InvalidField { .. }
            | Self::InvalidRequest(_)
            | Self::InvalidStorageId(_) => StatusCode::BAD_REQUEST,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UploadUrlInvalid => StatusCode::NOT_FOUND,
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::NoCustomerProfile => ErrorCode::NoCustomerProfile,
            Self::InvalidField { .. } => ErrorCode::InvalidField,
            Self::InvalidRequest(_) | Self::RequestTimeout => ErrorCode::InvalidRequest,
            Self::PreconditionFailed => ErrorCode::PreconditionFailed,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::UploadUrlInvalid => ErrorCode::UploadUrlInvalid,
            Self::InvalidStorageId(_) => ErrorCode::InvalidStorageId,
            Self::RangeNotSatisfiable(_) => ErrorCode::RangeNotSatisfiable,
            Self::InvalidCode => ErrorCode::InvalidCode,
            Self::InvalidRefreshToken => ErrorCode::InvalidRefreshToken,
            Self::TooManyRequests(_) => ErrorCode::TooManyRequests,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::InvalidToken => INVALID_TOKEN_MESSAGE.to_owned(),
            Self::NoCustomerProfile => "No customer profile linked to this account".to_owned(),
            Self::InvalidField { message, .. } => message.clone(),
            Self::InvalidRequest(message)
            | Self::PayloadTooLarge(message)
            | Self::UnsupportedMediaType(message)
            | Self::InvalidStorageId(message) => message.clone(),
            Self::UploadUrlInvalid => {
                "This upload URL is unknown, expired or already used; request a new one".to_owned()
            }
            Self::RangeNotSatisfiable(size) => {
                format!("The requested range is outside the object ({size} bytes)")
            }
            Self::RequestTimeout => "The request body stopped arriving".to_owned(),
            Self::InvalidCode => "Invalid or expired code".to_owned(),
            Self::InvalidRefreshToken => {
                "Invalid, expired or already used refresh token".to_owned()
            }
            Self::TooManyRequests(secs) => {
                format!("Too many requests; try again in {secs} seconds")
            }
            Self::PreconditionFailed => {
                "The profile was changed since you read it (If-Match does not match the current ETag)"
                    .to_owned()
            }
            Self::NotFound => "Not found".to_owned(),
            Self::MethodNotAllowed => "Method not allowed for this path".to_owned(),
            Self::Internal(_) => "Internal server error".to_owned(),
        }
    }

    /// The envelope this error answers with.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            success: false,
            error: self.message(),
            code: self.code(),
            timestamp: clock::now_iso(),
            field: match self {
                Self::InvalidField { field, .. } => Some(field.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = (self.status(), axum::Json(self.envelope())).into_response();
        match self {
            Self::InvalidToken => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Self::RangeNotSatisfiable(size) => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
            }
            Self::TooManyRequests(secs) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            other => Self::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}
