//! The built-in issuer's keys as every instance sees them: kept in the
//! database (so `tiquo-edge keys rotate` reaches all instances), cached here,
//! reloaded periodically and whenever a token names an unknown `kid`.
//!
//! The newest unretired key signs. A retired key is still published, and
//! still verifies, until every token it signed has expired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;

use super::SigningKey;
use super::verifier::VerifyKey;
use crate::store::Store;

/// A token with an unknown `kid` reloads the keys at most this often.
const UNKNOWN_KID_RELOAD: Duration = Duration::from_secs(5);

/// One snapshot of the keys.
#[derive(Debug)]
pub struct Keys {
    /// Signs new tokens.
    pub signing: Arc<SigningKey>,
    /// Every published key, newest first (the signing key included).
    pub published: Vec<Arc<SigningKey>>,
    /// The same keys for the verifier.
    pub verify: Vec<VerifyKey>,
}

impl Keys {
    /// The public keys as JWKs.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.published
            .iter()
            .map(|k| k.public_jwk().clone())
            .collect()
    }
}

/// The shared, reloadable key set.
#[derive(Debug)]
pub struct KeyRing {
    store: Store,
    current: RwLock<Arc<Keys>>,
    last_unknown_reload: Mutex<Option<Instant>>,
    /// One reload at a time, so an older read never replaces a newer one.
    reloading: tokio::sync::Mutex<()>,
}

impl KeyRing {
    /// Loads the keys; `first` (the `--jwt-signing-key` file) becomes the
    /// first key when the database has none.
    pub async fn open(store: Store, first: &SigningKey) -> anyhow::Result<Self> {
        if store
            .add_first_signing_key(first.kid(), first.private_pem())
            .await?
        {
            tracing::info!(kid = first.kid(), "signing key stored in the database");
        }
        let keys = load(&store, None).await?;
        Ok(Self {
            store,
            current: RwLock::new(Arc::new(keys)),
            last_unknown_reload: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    /// The current snapshot.
    pub fn keys(&self) -> Arc<Keys> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Re-reads the keys from the database.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let previous = self.keys();
        let keys = load(&self.store, Some(&previous)).await?;
        if keys.signing.kid() != previous.signing.kid() {
            tracing::info!(kid = keys.signing.kid(), "now signing with a new key");
        }
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// Reloads because a token named a key this instance does not know
    /// (another instance may have rotated); rate-limited. `true` when a
    /// reload happened.
    pub async fn reload_for_unknown_kid(&self) -> bool {
        {
            let mut last = self
                .last_unknown_reload
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.is_some_and(|t| t.elapsed() < UNKNOWN_KID_RELOAD) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.reload().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "reloading signing keys failed");
                false
            }
        }
    }
}

async fn load(store: &Store, previous: Option<&Keys>) -> anyhow::Result<Keys> {
    let known: HashMap<&str, &Arc<SigningKey>> = previous
        .map(|p| p.published.iter().map(|k| (k.kid(), k)).collect())
        .unwrap_or_default();
    let rows = store.published_keys().await?;
    let mut published = Vec::with_capacity(rows.len());
    let mut signing = None;
    for row in rows {
        let key = match known.get(row.kid.as_str()) {
            Some(key) => Arc::clone(key),
            None => Arc::new(
                SigningKey::from_pem(row.private_pem.as_bytes())
                    .with_context(|| format!("stored signing key {} is not usable", row.kid))?,
            ),
        };
        if signing.is_none() && row.retired_at_ms.is_none() {
            signing = Some(Arc::clone(&key));
        }
        published.push(key);
    }
    let signing = signing.context("the database holds no unretired signing key")?;
    let verify = published
        .iter()
        .map(|k| VerifyKey {
            kid: Some(k.kid().to_owned()),
            algorithm: Algorithm::RS256,
            key: Arc::new(k.decoding_key().clone()),
        })
        .collect();
    Ok(Keys {
        signing,
        published,
        verify,
    })
}
