//! Access-token verification.
//!
//! The token's `iss` (read before the signature is checked, only to pick a key
//! set) selects the built-in issuer or one trusted issuer; its `kid` selects a
//! key in that set. The key decides the algorithm: a token whose header names
//! another algorithm is refused, so `none`, HMAC and algorithm-confusion
//! tricks cannot work, and `jku`/`x5u`/`jwk`/`x5c` headers are never read.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;

use super::remote_jwks::RemoteJwks;
use super::{DEFAULT_ORGANIZATION, Identity, KeyRing, RevokedSessions};
use crate::config::TrustedIssuer;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// Tokens longer than this are refused without parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A public key with the one algorithm it verifies.
#[derive(Clone)]
pub struct VerifyKey {
    /// `kid`, when the key set names its keys.
    pub kid: Option<String>,
    /// RS256 or ES256.
    pub algorithm: Algorithm,
    /// The key material.
    pub key: Arc<DecodingKey>,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Picks the key for `kid` from `keys`: by id, or the only key when the token
/// names none.
pub fn select_key(keys: &[VerifyKey], kid: Option<&str>) -> Option<VerifyKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
        None if keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}

/// Why a token was refused; logged at debug level, never shown to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a JWT, or too long.
    Malformed,
    /// The header names an algorithm other than RS256/ES256.
    Algorithm,
    /// `iss` is neither the built-in nor a trusted issuer.
    UnknownIssuer,
    /// No key with the token's `kid`.
    UnknownKey,
    /// Signature, `exp`, `nbf`, `aud`, `iss` or a required claim failed.
    Invalid,
    /// `iat` lies in the future.
    IssuedInFuture,
    /// The token's session was revoked (logout, refresh-token reuse).
    Revoked,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

#[derive(Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    #[serde(default)]
    iat: Option<Value>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    sid: Option<String>,
}

/// Verifies access tokens for the built-in issuer and the trusted ones.
#[derive(Debug)]
pub struct Verifier {
    audience: String,
    builtin_issuer: String,
    keyring: Arc<KeyRing>,
    revoked: Arc<RevokedSessions>,
    trusted: HashMap<String, RemoteJwks>,
}

impl Verifier {
    /// A verifier for the built-in keys (under `builtin_issuer`), minus
    /// revoked sessions, and for each trusted issuer.
    pub fn new(
        audience: String,
        builtin_issuer: String,
        keyring: Arc<KeyRing>,
        revoked: Arc<RevokedSessions>,
        trusted: &[TrustedIssuer],
        http: reqwest::Client,
    ) -> Self {
        let trusted = trusted
            .iter()
            .map(|t| {
                (
                    t.issuer.clone(),
                    RemoteJwks::new(t.jwks_url.clone(), http.clone()),
                )
            })
            .collect();
        Self {
            audience,
            builtin_issuer,
            keyring,
            revoked,
            trusted,
        }
    }

    /// Checks `token` and returns its identity.
    pub async fn verify(&self, token: &str) -> Result<Identity, Rejection> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::Malformed);
        }
        let header = decode_header(token).map_err(|_| Rejection::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Rejection::Algorithm);
        }
        let IssuerOnly { iss } = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| Rejection::Malformed)?;
        let kid = header.kid.as_deref();
        let builtin = iss == self.builtin_issuer;
        let key = if builtin {
            let found = select_key(&self.keyring.keys().verify, kid);
            match found {
                // Another instance may have rotated: look once more.
                None if kid.is_some() && self.keyring.reload_for_unknown_kid().await => {
                    select_key(&self.keyring.keys().verify, kid)
                }
                found => found,
            }
        } else if let Some(remote) = self.trusted.get(&iss) {
            remote.find(kid).await
        } else {
            return Err(Rejection::UnknownIssuer);
        }
        .ok_or(Rejection::UnknownKey)?;
        if key.algorithm != header.alg {
            return Err(Rejection::Algorithm);
        }

        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&iss]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<AccessClaims>(token, &key.key, &validation)
            .map_err(|_| Rejection::Invalid)?
            .claims;

        if let Some(iat) = claims.iat {
            let iat = iat.as_f64().ok_or(Rejection::Invalid)?;
            let now = jsonwebtoken::get_current_timestamp() as f64;
            if iat > now + LEEWAY_SECS as f64 {
                return Err(Rejection::IssuedInFuture);
            }
        }
        if claims.sub.is_empty() {
            return Err(Rejection::Invalid);
        }
        let organization_id = match claims.organization_id {
            Some(org) if org.is_empty() => return Err(Rejection::Invalid),
            Some(org) => org,
            None => DEFAULT_ORGANIZATION.to_owned(),
        };
        let email_verified = match claims.email_verified {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        let session_id = if builtin { claims.sid } else { None };
        if session_id
            .as_deref()
            .is_some_and(|sid| self.revoked.contains(sid))
        {
            return Err(Rejection::Revoked);
        }
        Ok(Identity {
            organization_id,
            issuer: claims.iss,
            subject: claims.sub,
            email: claims.email,
            email_verified,
            session_id,
        })
    }
}
