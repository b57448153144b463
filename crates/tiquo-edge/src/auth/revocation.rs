//! Revoked sessions, as this instance knows them: a set in memory, so
//! checking a token's `sid` costs no database query. A logout on this
//! instance adds to it at once; [`RevokedSessions::sync`], run every
//! [`SYNC_INTERVAL`], brings in revocations made by other instances.

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use crate::clock;
use crate::store::Store;

/// How often revocations are read from the database: other instances refuse
/// a logged-out session's access tokens within this (plus one query).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(30);

/// The revoked session ids whose access tokens may still be unexpired.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    ids: RwLock<HashSet<String>>,
}

impl RevokedSessions {
    /// True when `sid` is revoked.
    pub fn contains(&self, sid: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(sid)
    }

    /// Records a revocation made here.
    pub fn insert(&self, sid: &str) {
        self.ids
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(sid.to_owned());
    }

    /// Replaces the set with the sessions revoked within `window` (the
    /// longest an access token lives, plus clock leeway).
    pub async fn sync(&self, store: &Store, window: Duration) -> anyhow::Result<()> {
        let since = clock::now_ms() - clock::millis(window);
        let ids: HashSet<String> = store.revoked_since(since).await?.into_iter().collect();
        *self
            .ids
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = ids;
        Ok(())
    }
}
