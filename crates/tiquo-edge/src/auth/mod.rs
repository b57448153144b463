//! Authentication: who is calling.
//!
//! - [`signing_key`]: the built-in issuer's RSA key (generated on first start) and token signing;
//! - [`verifier`]: access-token verification against the built-in and trusted issuers;
//! - [`remote_jwks`]: the cached JWKS of a trusted issuer;
//! - [`keyring`]: the built-in keys shared through the database, and their rotation;
//! - [`revocation`]: revoked sessions, cached in memory;
//! - [`extractor`]: the axum extractor that turns a bearer token into an [`Identity`].

pub mod extractor;
pub mod keyring;
pub mod remote_jwks;
pub mod revocation;
pub mod signing_key;
pub mod verifier;

pub use keyring::KeyRing;
pub use revocation::RevokedSessions;
pub use signing_key::{IssuedToken, SigningKey, TokenRequest, generate_pem};
pub use verifier::Verifier;

/// The organization a token without `organization_id` belongs to.
pub const DEFAULT_ORGANIZATION: &str = "org_default";

/// A verified token's identity: the key of its account link plus the claims
/// the API shows or uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `organization_id` claim, or [`DEFAULT_ORGANIZATION`].
    pub organization_id: String,
    /// `iss` claim.
    pub issuer: String,
    /// `sub` claim.
    pub subject: String,
    /// `email` claim.
    pub email: Option<String>,
    /// `email_verified` claim (false when absent).
    pub email_verified: bool,
    /// `sid` claim of the built-in issuer's sign-in tokens.
    pub session_id: Option<String>,
}
