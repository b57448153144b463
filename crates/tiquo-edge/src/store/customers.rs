//! Customers and the account links that map a token identity to one of them.

use sqlx::{Any, Executor, FromRow, Transaction};
use tiquo_types::{Customer, CustomerStatus, Money};

use super::{Store, StoreError, is_unique_violation};
use crate::auth::Identity;
use crate::clock;
use crate::domain::{CustomerFields, normalize_email, random_id};

pub(super) const COLUMNS: &str = "id, organization_id, customer_number, email, first_name, last_name, \
     display_name, phone, profile_photo, status, total_orders, total_spent_minor, \
     lifetime_value_minor, created_at_ms, updated_at_ms, version, photo_storage_id";

/// The customer id an identity ($1 organization, $2 issuer, $3 subject) is linked to.
const LINKED_CUSTOMER_ID: &str = "SELECT customer_id FROM account_links \
     WHERE organization_id = $1 AND issuer = $2 AND subject = $3";

/// A customer row.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CustomerRecord {
    /// `cust_…`.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// `CUST-000001`.
    pub customer_number: String,
    /// Email as given.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Compact phone.
    pub phone: Option<String>,
    /// Photo URL.
    pub profile_photo: Option<String>,
    /// `active` | `inactive` | `archived`.
    pub status: String,
    /// Orders placed.
    pub total_orders: i64,
    /// Cents.
    pub total_spent_minor: i64,
    /// Cents.
    pub lifetime_value_minor: i64,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms.
    pub updated_at_ms: i64,
    /// Increments on every change; the ETag.
    pub version: i64,
    /// The uploaded object `profile_photo` points at, if it is one of ours.
    pub photo_storage_id: Option<String>,
}

impl CustomerRecord {
    /// The editable fields.
    pub fn fields(&self) -> CustomerFields {
        CustomerFields {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: self.display_name.clone(),
            phone: self.phone.clone(),
            profile_photo: self.profile_photo.clone(),
        }
    }

    /// The customer as the API shows it.
    pub fn to_wire(&self) -> Customer {
        Customer {
            id: self.id.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            display_name: self.display_name.clone(),
            customer_number: self.customer_number.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            profile_photo: self.profile_photo.clone(),
            // The CHECK constraint keeps other values out of the table.
            status: CustomerStatus::parse(&self.status).unwrap_or(CustomerStatus::Inactive),
            total_orders: self.total_orders,
            total_spent: Money::from_minor(self.total_spent_minor),
            lifetime_value: Money::from_minor(self.lifetime_value_minor),
            created_at: clock::iso_from_ms(self.created_at_ms),
            updated_at: clock::iso_from_ms(self.updated_at_ms),
        }
    }
}

/// What creating a customer needs; values are already checked.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    /// Owning organization.
    pub organization_id: String,
    /// Email as given.
    pub email: String,
    /// Case-insensitive key of the email.
    pub email_normalized: String,
    /// Editable fields.
    pub fields: CustomerFields,
    /// Order totals (zero for a new sign-up; set by imports).
    pub totals: Totals,
    /// Link this token identity (issuer, subject) at once.
    pub link: Option<(String, String)>,
}

/// A customer's order totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Orders placed.
    pub orders: i64,
    /// Total spent, cents.
    pub spent_minor: i64,
    /// Lifetime value, cents.
    pub lifetime_value_minor: i64,
}

impl Store {
    /// Creates a customer with the organization's next customer number, and
    /// its account link when asked, in one transaction.
    pub async fn create_customer(&self, new: NewCustomer) -> Result<CustomerRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The counter row is the first write, so concurrent creations queue on
        // its lock (PostgreSQL) or on the database write lock (SQLite) and each
        // gets a distinct number.
        let (number,): (i64,) = sqlx::query_as(
            "INSERT INTO customer_counters (organization_id, last_number) VALUES ($1, 1) \
             ON CONFLICT (organization_id) \
             DO UPDATE SET last_number = customer_counters.last_number + 1 \
             RETURNING last_number",
        )
        .bind(&new.organization_id)
        .fetch_one(&mut *tx)
        .await?;
        let now = clock::now_ms();
        let id = random_id("cust_", 16);
        let f = &new.fields;
        let inserted = sqlx::query_as::<_, CustomerRecord>(&format!(
            "INSERT INTO customers (id, organization_id, customer_number, email, email_normalized, \
             first_name, last_name, display_name, phone, profile_photo, total_orders, total_spent_minor, \
             lifetime_value_minor, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING {COLUMNS}"
        ))
        .bind(&id)
        .bind(&new.organization_id)
        .bind(format!("CUST-{number:06}"))
        .bind(&new.email)
        .bind(&new.email_normalized)
        .bind(&f.first_name)
        .bind(&f.last_name)
        .bind(&f.display_name)
        .bind(&f.phone)
        .bind(&f.profile_photo)
        .bind(new.totals.orders)
        .bind(new.totals.spent_minor)
        .bind(new.totals.lifetime_value_minor)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!(
                    "a customer with email {} already exists in organization {}",
                    new.email, new.organization_id
                ))
            } else {
                e.into()
            }
        })?;
        if let Some((issuer, subject)) = &new.link {
            insert_link(&mut *tx, &new.organization_id, issuer, subject, &id).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// One customer by id.
    pub async fn customer(&self, id: &str) -> Result<CustomerRecord, StoreError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM customers WHERE id = $1"))
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The customer linked to this token identity, if any.
    pub async fn linked_customer(
        &self,
        identity: &Identity,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM customers WHERE id = ({LINKED_CUSTOMER_ID})"
        ))
        .bind(&identity.organization_id)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The customer for a token: its linked customer, or else, for a verified
    /// email claim, the organization's customer with that email, linked now.
    pub async fn customer_for(
        &self,
        identity: &Identity,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        if let Some(customer) = self.linked_customer(identity).await? {
            return Ok(Some(customer));
        }
        match &identity.email {
            Some(email) if identity.email_verified => {
                self.link_by_email(identity, &normalize_email(email)).await
            }
            _ => Ok(None),
        }
    }

    /// Links the identity to the organization's customer with this email, if
    /// exactly one has it (the unique index guarantees at most one). Racing
    /// calls for one identity settle on the same link.
    pub async fn link_by_email(
        &self,
        identity: &Identity,
        email_normalized: &str,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM customers WHERE organization_id = $1 AND email_normalized = $2",
        )
        .bind(&identity.organization_id)
        .bind(email_normalized)
        .fetch_optional(&self.pool)
        .await?;
        let Some((customer_id,)) = found else {
            return Ok(None);
        };
        insert_link(
            &self.pool,
            &identity.organization_id,
            &identity.issuer,
            &identity.subject,
            &customer_id,
        )
        .await?;
        self.linked_customer(identity).await
    }

    /// Links an identity to a customer of the same organization (admin).
    /// Linking the same pair twice is a no-op; an identity already linked to
    /// another customer is a conflict.
    pub async fn link(
        &self,
        customer_id: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<CustomerRecord, StoreError> {
        let customer = self.customer(customer_id).await?;
        insert_link(
            &self.pool,
            &customer.organization_id,
            issuer,
            subject,
            customer_id,
        )
        .await?;
        let (linked_to,): (String,) = sqlx::query_as(LINKED_CUSTOMER_ID)
            .bind(&customer.organization_id)
            .bind(issuer)
            .bind(subject)
            .fetch_one(&self.pool)
            .await?;
        if linked_to != customer_id {
            return Err(StoreError::Conflict(format!(
                "subject {subject} of issuer {issuer} is already linked to customer {linked_to}"
            )));
        }
        Ok(customer)
    }

    /// Reads the customer under a write lock, lets `change` decide the new
    /// editable fields from the current row, and writes them, all in one
    /// transaction. Concurrent modifications of one customer queue on the
    /// lock (PostgreSQL's row lock, SQLite's write lock), so none is lost and
    /// none starves, unlike an optimistic retry loop. An error from `change`
    /// leaves the row untouched.
    ///
    /// When the photo URL changes away from an uploaded object, that object
    /// is released in the same transaction (see [`Saved::released_photo`]).
    pub async fn modify_customer<E: From<StoreError>>(
        &self,
        id: &str,
        change: impl FnOnce(&CustomerRecord) -> Result<CustomerFields, E>,
    ) -> Result<Saved, E> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let current = lock_customer(&mut tx, id).await?;
        // On error the transaction is dropped, which rolls it back.
        let fields = change(&current)?;
        let now = clock::now_ms();
        let released_photo = match &current.photo_storage_id {
            Some(old) if fields.profile_photo != current.profile_photo => {
                release_object(&mut tx, old, now).await?;
                Some(old.clone())
            }
            _ => None,
        };
        let photo_storage_id = if released_photo.is_some() {
            None
        } else {
            current.photo_storage_id.clone()
        };
        let customer: CustomerRecord = sqlx::query_as(&format!(
            "UPDATE customers SET first_name = $1, last_name = $2, display_name = $3, \
             phone = $4, profile_photo = $5, photo_storage_id = $6, updated_at_ms = $7, \
             version = version + 1 WHERE id = $8 RETURNING {COLUMNS}"
        ))
        .bind(&fields.first_name)
        .bind(&fields.last_name)
        .bind(&fields.display_name)
        .bind(&fields.phone)
        .bind(&fields.profile_photo)
        .bind(&photo_storage_id)
        .bind(now)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Saved {
            customer,
            released_photo,
        })
    }
}

/// A customer after a write.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The row as written.
    pub customer: CustomerRecord,
    /// An uploaded photo the write stopped using: its row is gone and its key
    /// is queued for deletion; the caller should delete the bytes now.
    pub released_photo: Option<String>,
}

/// Takes the write lock on a customer and returns the current row. A write
/// that changes nothing, as the first statement of the transaction, locks on
/// both databases (and avoids SQLite's deferred-transaction upgrade failure).
pub(super) async fn lock_customer(
    tx: &mut Transaction<'_, Any>,
    id: &str,
) -> Result<CustomerRecord, StoreError> {
    Ok(sqlx::query_as(&format!(
        "UPDATE customers SET version = version WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(&mut **tx)
    .await?)
}

/// Forgets an uploaded object and queues its bytes for deletion, due now.
pub(super) async fn release_object(
    tx: &mut Transaction<'_, Any>,
    storage_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM stored_objects WHERE storage_id = $1")
        .bind(storage_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO object_cleanup (storage_id, due_at_ms) VALUES ($1, $2) \
         ON CONFLICT (storage_id) DO UPDATE SET due_at_ms = $2",
    )
    .bind(storage_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_link<'e>(
    executor: impl Executor<'e, Database = Any>,
    organization_id: &str,
    issuer: &str,
    subject: &str,
    customer_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO account_links (organization_id, issuer, subject, customer_id, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organization_id, issuer, subject) DO NOTHING",
    )
    .bind(organization_id)
    .bind(issuer)
    .bind(subject)
    .bind(customer_id)
    .bind(clock::now_ms())
    .execute(executor)
    .await?;
    Ok(())
}
