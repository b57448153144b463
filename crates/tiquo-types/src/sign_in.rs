//! Email sign-in and sessions: send a code, verify it for tokens, refresh
//! them, log out. Token fields are snake_case, as Tiquo's token endpoints
//! spell them; everything else is camelCase.

use serde::{Deserialize, Serialize};

use crate::User;

/// Body of `POST /auth/otp/send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendCode {
    /// Where to send the code.
    pub email: String,
    /// The organization signed in to (default `org_default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

/// `data` of `POST /auth/otp/send`: always `{"sent":true}`, whatever the
/// address, so the answer reveals no accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeSent {
    /// Always true.
    pub sent: bool,
}

/// Body of `POST /auth/otp/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyCode {
    /// The address the code was sent to.
    pub email: String,
    /// The six digits.
    pub code: String,
    /// As in the send request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

/// Body of `POST /refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The current refresh token (`rt_…`).
    pub refresh_token: String,
}

/// `data` of verify and refresh: a new token pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Single-use token for `POST /refresh`.
    pub refresh_token: String,
    /// Access-token lifetime, seconds.
    pub expires_in: u64,
    /// Access-token expiry, Unix milliseconds.
    pub expires_at: i64,
    /// Who signed in.
    pub user: User,
}

/// `data` of `POST /logout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedOut {
    /// True when a session was ended (false for a token without one).
    pub session_revoked: bool,
}
