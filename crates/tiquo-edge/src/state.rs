//! What every request handler can reach.

use std::sync::Arc;

use crate::auth::{SigningKey, Verifier};
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
}
