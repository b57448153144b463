//! Revoked sessions, as this instance knows them: a set in memory, so
//! checking a token's `sid` costs no database query. A logout on this
//! instance adds to it at once; [`RevokedSessions::sync`], run every
//! [`SYNC_INTERVAL`], brings in revocations made by other instances.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::clock;
use crate::store::Store;

/// How often revocations are read from the database: other instances refuse
/// a logged-out session's access tokens within this (plus one query).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(30);

/// The revoked session ids whose access tokens may still be unexpired,
/// each with when this instance learnt of it.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    ids: RwLock<HashMap<String, Instant>>,
}

impl RevokedSessions {
    /// True when `sid` is revoked.
    pub fn contains(&self, sid: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(sid)
    }

    /// Records a revocation made here.
    pub fn insert(&self, sid: &str) {
        self.ids
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(sid.to_owned(), Instant::now());
    }

    /// Replaces the set with the sessions revoked within `window` (the
    /// longest an access token lives, plus clock leeway), keeping what was
    /// inserted here while the query ran (it may not be in its result).
    pub async fn sync(&self, store: &Store, window: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let since = clock::now_ms() - clock::millis(window);
        let revoked = store.revoked_since(since).await?;
        let mut ids = self
            .ids
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.retain(|_, learnt| *learnt >= started);
        for id in revoked {
            ids.entry(id).or_insert(started);
        }
        Ok(())
    }
}
