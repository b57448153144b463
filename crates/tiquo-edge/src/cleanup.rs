//! Deleting bytes nobody references: a released photo at once, everything
//! else (unattached uploads past their TTL, expired tickets, interrupted
//! uploads, deletes that failed) by [`collect`], which the server runs
//! periodically and `tiquo-edge gc` runs on demand. The same pass drops
//! sign-in rows that can no longer matter (old send records, expired codes
//! and refresh tokens).
//!
//! Every step is idempotent and guarded by a conditional statement, so
//! several instances may collect at once: two may both delete the same bytes
//! (harmless), but each row is removed, and reported, by one of them only.

use std::time::Duration;

use serde::Serialize;

use crate::blob::BlobStore;
use crate::clock;
use crate::domain::StorageId;
use crate::store::Store;

/// How long an upload may take from first to last byte; after this it is cut off.
pub const UPLOAD_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// An interrupted upload's bytes become collectable this long after its
/// deadline (slack for clock differences between instances).
pub const UPLOAD_GRACE: Duration = Duration::from_secs(5 * 60);

/// Rows handled per query, so one run never holds a huge result.
const BATCH: i64 = 500;

/// What one collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    /// Upload tickets deleted after they expired.
    pub expired_tickets: u64,
    /// Uploads never attached within the orphan TTL, released.
    pub orphaned_uploads: Vec<String>,
    /// Objects deleted from storage (released photos, orphans, interrupted uploads).
    pub deleted_objects: Vec<String>,
    /// Deletes that failed this time; retried later.
    pub failed_deletes: Vec<String>,
    /// Sign-in rows past all use: old send records, expired codes and refresh tokens.
    pub expired_sign_in_records: u64,
}

impl GcReport {
    /// True when nothing was done.
    pub fn is_empty(&self) -> bool {
        self.expired_tickets == 0
            && self.orphaned_uploads.is_empty()
            && self.deleted_objects.is_empty()
            && self.failed_deletes.is_empty()
            && self.expired_sign_in_records == 0
    }
}

/// Deletes the bytes of a photo the database has just released. A failure
/// is logged and left in the queue for [`collect`].
pub async fn delete_released(store: &Store, blobs: &BlobStore, storage_id: &str) {
    let Some(id) = StorageId::parse(storage_id) else {
        return;
    };
    match blobs.delete(&id).await {
        Ok(()) => {
            if let Err(e) = store.cleanup_done(storage_id).await {
                tracing::warn!(storage_id, error = %e, "could not dequeue a deleted object");
            }
        }
        Err(e) => tracing::warn!(storage_id, error = %e, "object delete failed; gc will retry"),
    }
}

/// One full collection.
pub async fn collect(
    store: &Store,
    blobs: &BlobStore,
    orphan_ttl: Duration,
) -> anyhow::Result<GcReport> {
    let mut report = GcReport::default();
    let now = clock::now_ms();

    // Tickets live on until no upload that started in time can still finish.
    let ticket_cutoff = now - clock::millis(UPLOAD_DEADLINE + UPLOAD_GRACE);
    report.expired_tickets = store.delete_expired_tickets(ticket_cutoff).await?;
    // The longest send-throttle window is an hour.
    report.expired_sign_in_records = store.prune_sign_in(now - 3_600_000).await?;

    let orphan_cutoff = now - clock::millis(orphan_ttl);
    loop {
        let batch = store.orphaned_objects(orphan_cutoff, BATCH).await?;
        for id in &batch {
            if store.release_orphan(id, orphan_cutoff).await? {
                report.orphaned_uploads.push(id.clone());
            }
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
    }

    loop {
        let due = store.due_cleanups(BATCH).await?;
        for (storage_id, attempts) in &due {
            let deleted = match StorageId::parse(storage_id) {
                Some(id) => blobs.delete(&id).await,
                // Not an id this server could have written: nothing to delete.
                None => Ok(()),
            };
            match deleted {
                // A concurrent collector may have deleted it too; only the
                // one that dequeues it reports it.
                Ok(()) => {
                    if store.cleanup_done(storage_id).await? {
                        report.deleted_objects.push(storage_id.clone());
                    }
                }
                Err(e) => {
                    tracing::warn!(storage_id, error = %e, "object delete failed; will retry");
                    let backoff = Duration::from_secs(60 << (*attempts).clamp(0, 6));
                    store
                        .cleanup_failed(storage_id, clock::now_ms() + clock::millis(backoff))
                        .await?;
                    report.failed_deletes.push(storage_id.clone());
                }
            }
        }
        if (due.len() as i64) < BATCH {
            break;
        }
    }
    Ok(report)
}

/// Runs [`collect`] every `interval` until `shutdown` fires.
pub async fn run_periodically(
    store: Store,
    blobs: BlobStore,
    orphan_ttl: Duration,
    interval: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut shutdown = shutdown;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        match collect(&store, &blobs, orphan_ttl).await {
            Ok(report) if report.is_empty() => {}
            Ok(report) => tracing::info!(
                expired_tickets = report.expired_tickets,
                orphaned_uploads = report.orphaned_uploads.len(),
                deleted_objects = report.deleted_objects.len(),
                failed_deletes = report.failed_deletes.len(),
                "storage cleanup"
            ),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "storage cleanup failed"),
        }
    }
}
