//! The public keys of a trusted issuer, fetched from its JWKS URL.
//!
//! Keys are fetched on first use and cached. A token with an unknown `kid`
//! triggers a refetch (the issuer may have rotated its keys), but at most one
//! refetch per minute per issuer, so a flood of forged `kid`s cannot turn the
//! server into a load generator against the issuer. Concurrent misses wait for
//! one fetch instead of each starting their own.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::verifier::{VerifyKey, select_key};

/// Shortest time between two fetches of one issuer's JWKS.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One trusted issuer's key cache.
#[derive(Debug)]
pub struct RemoteJwks {
    url: Url,
    http: reqwest::Client,
    keys: RwLock<Arc<Vec<VerifyKey>>>,
    fetches: Mutex<FetchState>,
}

/// Bookkeeping of fetches, held while one is in progress.
#[derive(Debug, Default)]
struct FetchState {
    /// The first fetch has been tried.
    loaded: bool,
    /// When the last fetch caused by an unknown `kid` started.
    last_refetch: Option<Instant>,
}

impl RemoteJwks {
    /// An empty cache for `url`.
    pub fn new(url: Url, http: reqwest::Client) -> Self {
        Self {
            url,
            http,
            keys: RwLock::new(Arc::new(Vec::new())),
            fetches: Mutex::new(FetchState::default()),
        }
    }

    fn cached(&self, kid: Option<&str>) -> Option<VerifyKey> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        select_key(&keys, kid)
    }

    /// The key for `kid`. A cache that was never filled is fetched at once;
    /// after that, an unknown `kid` triggers a refetch only when the last
    /// refetch is more than [`REFETCH_INTERVAL`] ago.
    pub async fn find(&self, kid: Option<&str>) -> Option<VerifyKey> {
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        let mut state = self.fetches.lock().await;
        // Another task may have fetched while we waited for the lock.
        if let Some(key) = self.cached(kid) {
            return Some(key);
        }
        if state.loaded {
            if state
                .last_refetch
                .is_some_and(|at| at.elapsed() < REFETCH_INTERVAL)
            {
                return None;
            }
            state.last_refetch = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(jwks_url = %self.url, keys = keys.len(), "fetched trusted issuer keys");
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
                state.loaded = true;
            }
            Err(error) => {
                // A failed first load counts as a refetch, so an issuer that is
                // down is not hammered either.
                state.loaded = true;
                state.last_refetch = Some(Instant::now());
                tracing::warn!(jwks_url = %self.url, error = %error, "cannot fetch trusted issuer keys");
            }
        }
        drop(state);
        self.cached(kid)
    }

    async fn fetch(&self) -> anyhow::Result<Vec<VerifyKey>> {
        let response = self
            .http
            .get(self.url.clone())
            .send()
            .await?
            .error_for_status()?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            anyhow::bail!("JWKS document is larger than {MAX_JWKS_BYTES} bytes");
        }
        let body = response.bytes().await?;
        if body.len() > MAX_JWKS_BYTES {
            anyhow::bail!("JWKS document is larger than {MAX_JWKS_BYTES} bytes");
        }
        parse_jwks(&body)
    }
}

/// The usable signature keys of a JWKS document; keys of other types, curves,
/// algorithms or uses are skipped rather than failing the whole set.
pub fn parse_jwks(body: &[u8]) -> anyhow::Result<Vec<VerifyKey>> {
    let doc: Value = serde_json::from_slice(body)?;
    let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
        anyhow::bail!("JWKS document has no \"keys\" array");
    };
    Ok(entries
        .iter()
        .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
        .filter_map(|jwk| to_verify_key(&jwk))
        .collect())
}

fn to_verify_key(jwk: &Jwk) -> Option<VerifyKey> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    let declared_ok = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
        Some(_) => false,
    };
    if !declared_ok {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key: Arc::new(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_unusable_keys() {
        let doc = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"hmac"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"ps","alg":"PS256","n":"sXch","e":"AQAB"},
            {"kty":"RSA","kid":"ok","n":"sXch","e":"AQAB"}
        ]}"#;
        let keys = parse_jwks(doc).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ok"));
        assert!(parse_jwks(b"{}").is_err());
    }
}
