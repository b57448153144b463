//! Persistence. One [`Store`] over SQLite (embedded default) or PostgreSQL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver: the schema
//! uses only types and statements the two share (TEXT, 64-bit integers,
//! `ON CONFLICT`, `RETURNING`, `$n` parameters), so there is one query layer
//! to read and test instead of two near-copies. Each backend keeps its own
//! migration folder so a future change may diverge where it must.
//!
//! Handlers never see `sqlx::Error`: this module turns missing rows into
//! [`StoreError::NotFound`] and unique violations into [`StoreError::Conflict`].

mod customers;
mod keys;
mod photos;
mod sign_in;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection};

pub use customers::{CustomerRecord, NewCustomer, Saved, Totals};
pub use keys::KeyRow;
pub use photos::{AttachError, StoredObject};
pub use sign_in::{NewCode, OtpRow, RefreshOutcome, Throttle, UserRow};

use crate::config::{DatabaseKind, redact_url};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// What can go wrong in the store, in the API's terms.
#[derive(Debug)]
pub enum StoreError {
    /// The row asked for does not exist.
    NotFound,
    /// A uniqueness rule was broken; the text says which.
    Conflict(String),
    /// Anything else: connection, I/O, SQL.
    Database(sqlx::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("not found"),
            Self::Conflict(what) => f.write_str(what),
            Self::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Database(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => Self::NotFound,
            other => Self::Database(other),
        }
    }
}

/// True when `error` is a unique-constraint violation.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// The database handle: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    kind: DatabaseKind,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects (creating the SQLite file and switching it to WAL when needed).
    /// Errors carry a one-line, password-free explanation.
    pub async fn connect(url: &str, kind: DatabaseKind) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let shown = redact_url(url);
        if kind == DatabaseKind::Sqlite {
            prepare_sqlite(url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open SQLite database {shown}: {e}"))?;
        }
        // One direct connection first: a pool hides the cause ("timed out")
        // behind retries, while this gives "connection refused", "password
        // authentication failed" or "database does not exist" at once.
        let probe = tokio::time::timeout(Duration::from_secs(10), AnyConnection::connect(url))
            .await
            .map_err(|_| {
                anyhow::anyhow!("cannot connect to database {shown}: timed out after 10 s")
            })?
            .map_err(|e| anyhow::anyhow!("cannot connect to database {shown}: {e}"))?;
        probe.close().await.ok();
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == DatabaseKind::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to database {shown}: {e}"))?;
        Ok(Self { pool, kind })
    }

    /// Which backend this is.
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// Applies pending migrations (safe to run from several processes at once).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.kind {
            DatabaseKind::Sqlite => &SQLITE_MIGRATIONS,
            DatabaseKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))
    }

    /// A round trip to the database, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the file if needed and switches it to WAL once; the mode is
/// persistent, so pooled connections opened afterwards inherit it.
async fn prepare_sqlite(url: &str) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .disable_statement_logging();
    let conn = options.connect().await?;
    conn.close().await
}
