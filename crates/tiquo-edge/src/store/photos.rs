//! Upload tickets, uploaded objects, the photo attached to a customer, and
//! the queue of object-store keys to delete.
//!
//! Ordering rules that keep the database and the object store consistent:
//! a key is queued in `object_cleanup` *before* its bytes are written, and
//! leaves the queue in the same transaction that records the finished object
//! in `stored_objects`; a released object leaves `stored_objects` in the
//! same transaction that queues its key. So every byte in the store is
//! either referenced by a row or queued for deletion, whatever crashes when.

use sqlx::FromRow;

use super::customers::{COLUMNS, lock_customer, release_object};
use super::{CustomerRecord, Saved, Store, StoreError};
use crate::clock;

/// A finished upload, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StoredObject {
    /// The storageId.
    pub storage_id: String,
    /// The customer whose ticket uploaded it.
    pub customer_id: String,
    /// MIME type, checked against the bytes.
    pub content_type: String,
    /// Length in bytes.
    pub size_bytes: i64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// When it became a profile photo; `None` while unattached.
    pub attached_at_ms: Option<i64>,
}

/// Why an object cannot become a customer's photo.
#[derive(Debug)]
pub enum AttachError {
    /// No finished upload of this customer has that id (or it was released).
    Unknown,
    /// The recorded object breaks a rule; the text says which.
    Unacceptable(String),
    /// The database failed.
    Store(StoreError),
}

impl From<StoreError> for AttachError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<sqlx::Error> for AttachError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

const OBJECT_COLUMNS: &str =
    "storage_id, customer_id, content_type, size_bytes, sha256, created_at_ms, attached_at_ms";

impl Store {
    /// Records a new upload ticket (by its hash) for a customer.
    pub async fn create_upload_ticket(
        &self,
        ticket_hash: &str,
        customer_id: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO upload_tickets (ticket_hash, customer_id, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(ticket_hash)
        .bind(customer_id)
        .bind(clock::now_ms())
        .bind(expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The customer a ticket uploads for, if it is unused and unexpired.
    pub async fn usable_ticket(&self, ticket_hash: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT customer_id FROM upload_tickets \
             WHERE ticket_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2",
        )
        .bind(ticket_hash)
        .bind(clock::now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(customer_id,)| customer_id))
    }

    /// Queues `storage_id` for deletion at `due_at_ms` before its bytes are
    /// written, so a crash mid-upload leaves nothing that gc cannot find.
    pub async fn begin_upload(&self, storage_id: &str, due_at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO object_cleanup (storage_id, due_at_ms) VALUES ($1, $2)")
            .bind(storage_id)
            .bind(due_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the ticket used and records the finished object, in one
    /// transaction. `false` (and no change) when the ticket was used
    /// meanwhile, or when gc already gave up on this upload.
    pub async fn commit_upload(
        &self,
        ticket_hash: &str,
        object: &StoredObject,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE upload_tickets SET used_at_ms = $2 \
             WHERE ticket_hash = $1 AND used_at_ms IS NULL",
        )
        .bind(ticket_hash)
        .bind(object.created_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            return Ok(false);
        }
        let dequeued = sqlx::query("DELETE FROM object_cleanup WHERE storage_id = $1")
            .bind(&object.storage_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if dequeued != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO stored_objects (storage_id, customer_id, content_type, size_bytes, \
             sha256, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&object.storage_id)
        .bind(&object.customer_id)
        .bind(&object.content_type)
        .bind(object.size_bytes)
        .bind(&object.sha256)
        .bind(object.created_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// An object, attached or not.
    pub async fn stored_object(
        &self,
        storage_id: &str,
    ) -> Result<Option<StoredObject>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {OBJECT_COLUMNS} FROM stored_objects WHERE storage_id = $1"
        ))
        .bind(storage_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Makes a finished upload the customer's photo, with `url` as its
    /// `profilePhoto`, releasing the previous uploaded photo. Attaching the
    /// current photo again changes nothing.
    pub async fn attach_photo(
        &self,
        customer_id: &str,
        storage_id: &str,
        url: &str,
        accept: impl FnOnce(&StoredObject) -> Result<(), String>,
    ) -> Result<Saved, AttachError> {
        let mut tx = self.pool.begin().await?;
        let current = lock_customer(&mut tx, customer_id).await?;
        if current.photo_storage_id.as_deref() == Some(storage_id) {
            return Ok(Saved {
                customer: current,
                released_photo: None,
            });
        }
        let now = clock::now_ms();
        // Claiming the row and reading it is one statement, so a concurrent
        // gc (which deletes only unattached rows) cannot slip in between.
        let object: Option<StoredObject> = sqlx::query_as(&format!(
            "UPDATE stored_objects SET attached_at_ms = $3 \
             WHERE storage_id = $1 AND customer_id = $2 RETURNING {OBJECT_COLUMNS}"
        ))
        .bind(storage_id)
        .bind(customer_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let object = object.ok_or(AttachError::Unknown)?;
        accept(&object).map_err(AttachError::Unacceptable)?;
        let released_photo = match &current.photo_storage_id {
            Some(old) => {
                release_object(&mut tx, old, now).await?;
                Some(old.clone())
            }
            None => None,
        };
        let customer: CustomerRecord = sqlx::query_as(&format!(
            "UPDATE customers SET profile_photo = $1, photo_storage_id = $2, updated_at_ms = $3, \
             version = version + 1 WHERE id = $4 RETURNING {COLUMNS}"
        ))
        .bind(url)
        .bind(storage_id)
        .bind(now)
        .bind(customer_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Saved {
            customer,
            released_photo,
        })
    }

    /// Removes a key from the deletion queue once its bytes are gone; only
    /// entries already due, so an upload still in progress keeps its entry.
    /// `false` when another collector removed it first.
    pub async fn cleanup_done(&self, storage_id: &str) -> Result<bool, StoreError> {
        let removed =
            sqlx::query("DELETE FROM object_cleanup WHERE storage_id = $1 AND due_at_ms <= $2")
                .bind(storage_id)
                .bind(clock::now_ms())
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(removed == 1)
    }

    /// Drops an upload's queue entry after it failed and its bytes were
    /// discarded.
    pub async fn forget_upload(&self, storage_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM object_cleanup WHERE storage_id = $1")
            .bind(storage_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Reschedules a deletion that failed.
    pub async fn cleanup_failed(
        &self,
        storage_id: &str,
        retry_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE object_cleanup SET attempts = attempts + 1, due_at_ms = $2 \
             WHERE storage_id = $1",
        )
        .bind(storage_id)
        .bind(retry_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` queued keys that are due, with their failed attempts so far.
    pub async fn due_cleanups(&self, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT storage_id, attempts FROM object_cleanup WHERE due_at_ms <= $1 \
             ORDER BY due_at_ms LIMIT $2",
        )
        .bind(clock::now_ms())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes tickets that expired before `cutoff_ms`; returns how many.
    pub async fn delete_expired_tickets(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM upload_tickets WHERE expires_at_ms < $1")
                .bind(cutoff_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Up to `limit` objects never attached and created before `cutoff_ms`.
    pub async fn orphaned_objects(
        &self,
        cutoff_ms: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT storage_id FROM stored_objects \
             WHERE attached_at_ms IS NULL AND created_at_ms < $1 ORDER BY created_at_ms LIMIT $2",
        )
        .bind(cutoff_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Releases an orphan unless it was attached meanwhile; `true` when released.
    pub async fn release_orphan(
        &self,
        storage_id: &str,
        cutoff_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query(
            "DELETE FROM stored_objects \
             WHERE storage_id = $1 AND attached_at_ms IS NULL AND created_at_ms < $2",
        )
        .bind(storage_id)
        .bind(cutoff_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if gone != 1 {
            return Ok(false);
        }
        release_object(&mut tx, storage_id, clock::now_ms()).await?;
        tx.commit().await?;
        Ok(true)
    }
}
