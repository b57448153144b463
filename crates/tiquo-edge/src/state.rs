//! What every request handler can reach.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{SigningKey, Verifier};
use crate::blob::BlobStore;
use crate::store::Store;

/// Shared application state; cloning is cheap.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Access-token verification.
    pub verifier: Arc<Verifier>,
    /// The built-in issuer's key (its public half is published as JWKS).
    pub signing_key: Arc<SigningKey>,
    /// Uploaded bytes.
    pub blobs: BlobStore,
    /// Base of every URL the API hands out, without a trailing slash.
    pub public_url: Arc<str>,
    /// Lifetime of an upload URL.
    pub upload_url_ttl: Duration,
}
