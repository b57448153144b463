//! The response envelope every Client API answer is wrapped in.

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// `{"success":true,"data":…,"timestamp":"…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuccessEnvelope<T> {
    /// Always `true`.
    pub success: bool,
    /// The payload.
    pub data: T,
    /// When the server produced the answer, ISO-8601 UTC with milliseconds.
    pub timestamp: String,
}

/// `{"success":false,"error":"…","code":"…","timestamp":"…","field":"…"?}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    /// A message meant for a person.
    pub error: String,
    /// A stable machine-readable code.
    pub code: ErrorCode,
    /// When the server produced the answer, ISO-8601 UTC with milliseconds.
    pub timestamp: String,
    /// The request field at fault, when exactly one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
