//! Stable machine-readable error codes. Clients branch on these, never on the
//! human-readable message, so a code is never renamed once published.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every `code` the Client API can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: the bearer token is missing, malformed, expired or not trusted.
    InvalidToken,
    /// 400: the token is valid but no customer is linked to it.
    NoCustomerProfile,
    /// 400: one named field has a wrong value or type, or is not allowed.
    InvalidField,
    /// 400: the request as a whole is malformed (bad JSON, wrong content type, not an object).
    InvalidRequest,
    /// 412: `If-Match` did not match the current version.
    PreconditionFailed,
    /// 413: the request body is too large.
    PayloadTooLarge,
    /// 404: no such route or resource.
    NotFound,
    /// 405: the route exists but not for this method.
    MethodNotAllowed,
    /// 500: something failed on the server; details are in its log.
    InternalError,
    /// 415: the upload is not one of the accepted image types, or its bytes
    /// contradict the declared `Content-Type`.
    UnsupportedMediaType,
    /// 404: the upload URL is unknown, expired or already used.
    UploadUrlInvalid,
    /// 400: the `storageId` names no finished upload of this customer's
    /// that can be a profile photo.
    InvalidStorageId,
    /// 416: the `Range` asked for starts past the end of the object.
    RangeNotSatisfiable,
    /// 401: the sign-in code is wrong, expired or used up (one answer for all).
    InvalidCode,
    /// 401: the refresh token is unknown, expired, already used or revoked.
    InvalidRefreshToken,
    /// 429: too many requests; `Retry-After` says when to try again.
    TooManyRequests,
    /// A code this version of the contract does not know (newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The wire spelling, e.g. `invalid_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::NoCustomerProfile => "no_customer_profile",
            Self::InvalidField => "invalid_field",
            Self::InvalidRequest => "invalid_request",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InternalError => "internal_error",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UploadUrlInvalid => "upload_url_invalid",
            Self::InvalidStorageId => "invalid_storage_id",
            Self::RangeNotSatisfiable => "range_not_satisfiable",
            Self::InvalidCode => "invalid_code",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::TooManyRequests => "too_many_requests",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for code in [
            ErrorCode::InvalidToken,
            ErrorCode::NoCustomerProfile,
            ErrorCode::InvalidField,
            ErrorCode::InvalidRequest,
            ErrorCode::PreconditionFailed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::InternalError,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::UploadUrlInvalid,
            ErrorCode::InvalidStorageId,
            ErrorCode::RangeNotSatisfiable,
            ErrorCode::InvalidCode,
            ErrorCode::InvalidRefreshToken,
            ErrorCode::TooManyRequests,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        let unknown: ErrorCode = serde_json::from_str("\"from_the_future\"").unwrap();
        assert_eq!(unknown, ErrorCode::Unknown);
    }
}
