//! Email sign-in: users, one-time codes and their send throttle, sessions
//! and rotating refresh tokens. Codes and refresh tokens are stored only as
//! hashes; callers hash them (see `crate::domain::sha256_hex`).

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::clock;
use crate::domain::random_id;

/// A stored one-time code.
#[derive(Debug, Clone, FromRow)]
pub struct OtpRow {
    /// Hex SHA-256 of salt + code.
    pub code_hash: String,
    /// Random per code.
    pub salt: String,
    /// Unix ms.
    pub expires_at_ms: i64,
    /// Wrong codes tried so far.
    pub failed_attempts: i64,
}

/// A signed-in user.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    /// `user_…`, the tokens' `sub`.
    pub id: String,
    /// Organization.
    pub organization_id: String,
    /// Email as first signed in with.
    pub email: String,
}

/// A send-throttle key and its limits: (window in ms, sends allowed in it).
#[derive(Debug, Clone, Copy)]
pub struct Throttle<'a> {
    /// `email:<org>:<address>` or `ip:<address>`.
    pub key: &'a str,
    /// The limits.
    pub limits: &'a [(i64, i64)],
}

/// A code to store, already hashed.
#[derive(Debug, Clone, Copy)]
pub struct NewCode<'a> {
    /// Organization.
    pub organization_id: &'a str,
    /// Normalized address.
    pub email_normalized: &'a str,
    /// Hex SHA-256 of salt and code.
    pub code_hash: &'a str,
    /// Random per code.
    pub salt: &'a str,
    /// Unix ms.
    pub expires_at_ms: i64,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: it is now used; the session and user it belongs to.
    Rotated {
        /// Session id.
        session_id: String,
        /// User id.
        user_id: String,
    },
    /// Used before, more than the grace period ago: the session is revoked now.
    Reused {
        /// The revoked session.
        session_id: String,
    },
    /// Used a moment ago (a concurrent refresh): refused, session kept.
    RaceLost,
    /// Unknown, expired, or its session was revoked.
    Invalid,
}

impl Store {
    /// Checks each throttle key against its limits and, when all allow it,
    /// records the send and stores (replacing) the code for (organization,
    /// email), in one transaction. The keys' lock rows are taken first, in a
    /// fixed order, so concurrent sends queue instead of all passing the
    /// count. `Err(seconds)` inside: refused, retry after that long.
    pub async fn record_send(
        &self,
        throttles: &[Throttle<'_>],
        code: &NewCode<'_>,
    ) -> Result<Result<(), u64>, StoreError> {
        let now = clock::now_ms();
        let mut keys: Vec<&str> = throttles.iter().map(|t| t.key).collect();
        keys.sort_unstable();
        let mut tx = self.pool.begin().await?;
        for key in &keys {
            sqlx::query(
                "INSERT INTO otp_throttle_keys (throttle_key) VALUES ($1) \
                 ON CONFLICT (throttle_key) DO UPDATE SET throttle_key = excluded.throttle_key",
            )
            .bind(*key)
            .execute(&mut *tx)
            .await?;
        }
        for throttle in throttles {
            for &(window_ms, allowed) in throttle.limits {
                let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(sent_at_ms) FROM otp_sends \
                     WHERE throttle_key = $1 AND sent_at_ms > $2",
                )
                .bind(throttle.key)
                .bind(now - window_ms)
                .fetch_one(&mut *tx)
                .await?;
                if count >= allowed {
                    let free_at = oldest.unwrap_or(now) + window_ms;
                    let wait_ms = u64::try_from((free_at - now).max(1)).unwrap_or(1);
                    return Ok(Err(wait_ms.div_ceil(1000)));
                }
            }
        }
        sqlx::query(
            "INSERT INTO otp_codes (organization_id, email_normalized, code_hash, salt, \
             expires_at_ms, failed_attempts) VALUES ($1, $2, $3, $4, $5, 0) \
             ON CONFLICT (organization_id, email_normalized) DO UPDATE SET \
             code_hash = $3, salt = $4, expires_at_ms = $5, failed_attempts = 0",
        )
        .bind(code.organization_id)
        .bind(code.email_normalized)
        .bind(code.code_hash)
        .bind(code.salt)
        .bind(code.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        for throttle in throttles {
            sqlx::query("INSERT INTO otp_sends (throttle_key, sent_at_ms) VALUES ($1, $2)")
                .bind(throttle.key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Deletes what can no longer matter: sends older than `sends_before_ms`
    /// (outside every throttle window), expired codes and expired refresh
    /// tokens. Returns how many rows went.
    pub async fn prune_sign_in(&self, sends_before_ms: i64) -> Result<u64, StoreError> {
        let now = clock::now_ms();
        let mut removed = sqlx::query("DELETE FROM otp_sends WHERE sent_at_ms < $1")
            .bind(sends_before_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        removed += sqlx::query("DELETE FROM otp_codes WHERE expires_at_ms < $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        removed += sqlx::query("DELETE FROM refresh_tokens WHERE expires_at_ms < $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed)
    }

    /// Checks a code under the row's lock: `judge` says whether the stored
    /// code matches. A match consumes the code; a miss counts, and the
    /// `max_failures`-th miss deletes it. `true` only for a live, matching code.
    pub async fn consume_code(
        &self,
        organization_id: &str,
        email_normalized: &str,
        max_failures: i64,
        judge: impl FnOnce(&OtpRow) -> bool,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A write first: it locks the row (PostgreSQL) or the database (SQLite).
        let row: Option<OtpRow> = sqlx::query_as(
            "UPDATE otp_codes SET failed_attempts = failed_attempts \
             WHERE organization_id = $1 AND email_normalized = $2 \
             RETURNING code_hash, salt, expires_at_ms, failed_attempts",
        )
        .bind(organization_id)
        .bind(email_normalized)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let live = row.expires_at_ms > clock::now_ms();
        let matches = judge(&row);
        let burn = matches || !live || row.failed_attempts + 1 >= max_failures;
        if burn {
            sqlx::query(
                "DELETE FROM otp_codes WHERE organization_id = $1 AND email_normalized = $2",
            )
            .bind(organization_id)
            .bind(email_normalized)
            .execute(&mut *tx)
            .await?;
        }
        if !matches && !burn {
            sqlx::query(
                "UPDATE otp_codes SET failed_attempts = failed_attempts + 1 \
                 WHERE organization_id = $1 AND email_normalized = $2",
            )
            .bind(organization_id)
            .bind(email_normalized)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(live && matches)
    }

    /// The user for (organization, email), created on first sign-in.
    pub async fn user_for_email(
        &self,
        organization_id: &str,
        email: &str,
        email_normalized: &str,
    ) -> Result<UserRow, StoreError> {
        sqlx::query(
            "INSERT INTO users (id, organization_id, email, email_normalized, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (organization_id, email_normalized) DO NOTHING",
        )
        .bind(random_id("user_", 16))
        .bind(organization_id)
        .bind(email)
        .bind(email_normalized)
        .bind(clock::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_as(
            "SELECT id, organization_id, email FROM users \
             WHERE organization_id = $1 AND email_normalized = $2",
        )
        .bind(organization_id)
        .bind(email_normalized)
        .fetch_one(&self.pool)
        .await?)
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<UserRow, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, organization_id, email FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Starts a session with its first refresh token (by hash).
    pub async fn create_session(
        &self,
        user_id: &str,
        refresh_hash: &str,
        refresh_expires_at_ms: i64,
    ) -> Result<String, StoreError> {
        let id = random_id("ses_", 16);
        let now = clock::now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at_ms) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_refresh(&mut tx, refresh_hash, &id, now, refresh_expires_at_ms).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Spends a refresh token and, when it was valid, stores its successor
    /// (by hash) in the same session, atomically: of two requests racing
    /// with one token, exactly one gets [`RefreshOutcome::Rotated`].
    pub async fn rotate_refresh(
        &self,
        presented_hash: &str,
        successor_hash: &str,
        successor_expires_at_ms: i64,
        reuse_grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let now = clock::now_ms();
        let mut tx = self.pool.begin().await?;
        // Only a live token is spent: an expired one stays unused, so
        // presenting it again is not mistaken for reuse.
        let spent: Option<(String,)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at_ms = $2 \
             WHERE token_hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2 \
             RETURNING session_id",
        )
        .bind(presented_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((session_id,)) = spent else {
            drop(tx);
            return self.judge_spent(presented_hash, now, reuse_grace_ms).await;
        };
        let session: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT user_id, revoked_at_ms FROM sessions WHERE id = $1")
                .bind(&session_id)
                .fetch_optional(&mut *tx)
                .await?;
        let user_id = match session {
            Some((user_id, None)) => user_id,
            // Revoked: spending it is harmless and keeps it dead.
            _ => {
                tx.commit().await?;
                return Ok(RefreshOutcome::Invalid);
            }
        };
        insert_refresh(
            &mut tx,
            successor_hash,
            &session_id,
            now,
            successor_expires_at_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated {
            session_id,
            user_id,
        })
    }

    /// A token that could not be spent: unknown, or used already.
    async fn judge_spent(
        &self,
        presented_hash: &str,
        now: i64,
        reuse_grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let used: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT session_id, used_at_ms FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(presented_hash)
        .fetch_optional(&self.pool)
        .await?;
        match used {
            Some((_, Some(used_at))) if now - used_at <= reuse_grace_ms => {
                Ok(RefreshOutcome::RaceLost)
            }
            Some((session_id, Some(_))) => {
                self.revoke_session(&session_id).await?;
                Ok(RefreshOutcome::Reused { session_id })
            }
            _ => Ok(RefreshOutcome::Invalid),
        }
    }

    /// Revokes a session (idempotent): its refresh tokens stop working.
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
        )
        .bind(session_id)
        .bind(clock::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sessions revoked after `since_ms` (their access tokens may still be alive).
    pub async fn revoked_since(&self, since_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM sessions WHERE revoked_at_ms > $1")
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

async fn insert_refresh(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token_hash: &str,
    session_id: &str,
    now: i64,
    expires_at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at_ms, expires_at_ms) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(session_id)
    .bind(now)
    .bind(expires_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
