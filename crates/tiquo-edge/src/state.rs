//! What every request handler can reach.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{KeyRing, RevokedSessions, Verifier};
use crate::blob::BlobStore;
use crate::config::SignInConfig;
use crate::mail::Mailer;
use crate::store::Store;

/// Shared application state; cloning is cheap.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Access-token verification.
    pub verifier: Arc<Verifier>,
    /// The built-in issuer's keys (their public halves are the JWKS).
    pub keys: Arc<KeyRing>,
    /// Sessions ended by logout or refresh-token reuse.
    pub revoked: Arc<RevokedSessions>,
    /// Where sign-in codes go.
    pub mailer: Arc<Mailer>,
    /// Sign-in lifetimes and options.
    pub sign_in: Arc<SignInConfig>,
    /// `iss` of the built-in issuer's tokens.
    pub issuer: Arc<str>,
    /// `aud` of every access token.
    pub audience: Arc<str>,
    /// Uploaded bytes.
    pub blobs: BlobStore,
    /// Base of every URL the API hands out, without a trailing slash.
    pub public_url: Arc<str>,
    /// Lifetime of an upload URL.
    pub upload_url_ttl: Duration,
}
