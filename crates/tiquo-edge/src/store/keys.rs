//! The built-in issuer's signing keys, shared by every instance.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::clock;

/// A signing key row.
#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// PKCS#8 PEM.
    pub private_pem: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// When it stopped signing.
    pub retired_at_ms: Option<i64>,
    /// Published until then (a retired key only).
    pub publish_until_ms: Option<i64>,
}

impl Store {
    /// Adds the first key, when the database has none yet; `true` when it did.
    pub async fn add_first_signing_key(
        &self,
        kid: &str,
        private_pem: &str,
    ) -> Result<bool, StoreError> {
        let added = sqlx::query(
            "INSERT INTO signing_keys (kid, private_pem, created_at_ms) \
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM signing_keys) \
             ON CONFLICT (kid) DO NOTHING",
        )
        .bind(kid)
        .bind(private_pem)
        .bind(clock::now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(added == 1)
    }

    /// Keys to publish now: unretired ones and retired ones still within
    /// their publication window; newest first.
    pub async fn published_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, private_pem, created_at_ms, retired_at_ms, publish_until_ms \
             FROM signing_keys WHERE retired_at_ms IS NULL OR publish_until_ms > $1 \
             ORDER BY created_at_ms DESC, kid",
        )
        .bind(clock::now_ms())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every key, newest first (for `keys list`).
    pub async fn all_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, private_pem, created_at_ms, retired_at_ms, publish_until_ms \
             FROM signing_keys ORDER BY created_at_ms DESC, kid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Makes `kid` the signing key: every other unretired key is retired now
    /// and stays published until `publish_until_ms`. One transaction.
    pub async fn rotate_to(
        &self,
        kid: &str,
        private_pem: &str,
        publish_until_ms: i64,
    ) -> Result<(), StoreError> {
        let now = clock::now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at_ms = $1, publish_until_ms = $2 \
             WHERE retired_at_ms IS NULL",
        )
        .bind(now)
        .bind(publish_until_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_pem, created_at_ms) VALUES ($1, $2, $3)",
        )
        .bind(kid)
        .bind(private_pem)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
