//! The admin commands: they act on the same database and key as the server,
//! print JSON on stdout and return errors for `main` to print on stderr.

use anyhow::Context;
use serde_json::json;

use std::time::Duration;

use crate::auth::verifier::LEEWAY_SECS;
use crate::auth::{KeyRing, SigningKey, TokenRequest, generate_pem};
use crate::blob::BlobStore;
use crate::cleanup;
use crate::cli::{
    CreateCustomer, CustomersCommand, GetCustomer, IssueToken, KeysCommand, LinkCustomer,
};
use crate::clock;
use crate::config::{Config, ConfigArgs};
use crate::domain::{CustomerFields, DisplayName, Email, PersonName, Phone};
use crate::store::{NewCustomer, Store, StoreError, Totals};

/// `tiquo-edge migrate`.
pub async fn migrate(args: ConfigArgs) -> anyhow::Result<String> {
    let config = Config::resolve(args)?;
    let store = open_store(&config).await?;
    store.close().await;
    Ok(json!({ "migrated": true, "database": config.database_kind.name() }).to_string())
}

/// `tiquo-edge keys …`.
pub async fn keys(command: KeysCommand) -> anyhow::Result<String> {
    let (config, rotate) = match command {
        KeysCommand::Rotate(args) => (Config::resolve(args.config)?, true),
        KeysCommand::List(args) => (Config::resolve(args.config)?, false),
    };
    let store = open_store(&config).await?;
    // The first key comes from --jwt-signing-key, as when the server starts.
    let first = crate::load_signing_key(&config).await?;
    KeyRing::open(store.clone(), &first).await?;
    if rotate {
        let pem = tokio::task::spawn_blocking(generate_pem).await??;
        let key = SigningKey::from_pem(pem.as_bytes())?;
        // Tokens signed by the old key live at most the access-token TTL
        // (admin-issued ones may be longer: reissue them after a rotation).
        let publish_until = clock::now_ms()
            + clock::millis(config.sign_in.access_token_ttl)
            + clock::millis(Duration::from_secs(LEEWAY_SECS));
        store.rotate_to(key.kid(), &pem, publish_until).await?;
    }
    let rows = store.all_keys().await?;
    store.close().await;
    let now = clock::now_ms();
    let listed: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            json!({
                "kid": row.kid,
                "createdAt": clock::iso_from_ms(row.created_at_ms),
                "signing": i == 0 && row.retired_at_ms.is_none(),
                "retiredAt": row.retired_at_ms.map(clock::iso_from_ms),
                "publishedUntil": row.publish_until_ms.map(clock::iso_from_ms),
                "published": row.retired_at_ms.is_none()
                    || row.publish_until_ms.is_some_and(|t| t > now),
            })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&json!({ "keys": listed }))?)
}

/// `tiquo-edge gc`: one storage cleanup, reported as JSON.
pub async fn gc(args: ConfigArgs) -> anyhow::Result<String> {
    let config = Config::resolve(args)?;
    let store = open_store(&config).await?;
    let blobs = BlobStore::open(&config.storage_url)?;
    let report = cleanup::collect(&store, &blobs, config.orphan_ttl).await;
    store.close().await;
    Ok(serde_json::to_string(&report?)?)
}

/// `tiquo-edge customers …`.
pub async fn customers(command: CustomersCommand) -> anyhow::Result<String> {
    match command {
        CustomersCommand::Create(args) => create_customer(args).await,
        CustomersCommand::Link(args) => link_customer(args).await,
        CustomersCommand::Get(args) => get_customer(args).await,
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(config.database_url.expose(), config.database_kind).await?;
    store.migrate().await?;
    Ok(store)
}

fn checked_name(field: &str, value: Option<String>) -> anyhow::Result<Option<String>> {
    value
        .map(|v| PersonName::parse(field, &v).map(|n| n.as_str().to_owned()))
        .transpose()
        .map_err(anyhow::Error::msg)
}

async fn create_customer(args: CreateCustomer) -> anyhow::Result<String> {
    let config = Config::resolve(args.config)?;
    let email = Email::parse(&args.email).map_err(anyhow::Error::msg)?;
    let first_name = checked_name("--first-name", args.first_name)?;
    let last_name = checked_name("--last-name", args.last_name)?;
    let phone = args
        .phone
        .map(|p| Phone::parse(&p).map(|p| p.as_str().to_owned()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if args.organization.trim().is_empty() {
        anyhow::bail!("--organization must not be empty");
    }
    let display_name = DisplayName::from_parts(first_name.as_deref(), last_name.as_deref());
    let link = args.subject.map(|subject| {
        (
            args.issuer.unwrap_or_else(|| config.offline_issuer()),
            subject,
        )
    });
    let store = open_store(&config).await?;
    let created = store
        .create_customer(NewCustomer {
            organization_id: args.organization,
            email_normalized: email.normalized(),
            email: email.as_str().to_owned(),
            fields: CustomerFields {
                first_name,
                last_name,
                display_name,
                phone,
                profile_photo: None,
            },
            totals: Totals {
                orders: args.total_orders,
                spent_minor: args.total_spent.minor(),
                lifetime_value_minor: args.lifetime_value.minor(),
            },
            link,
        })
        .await
        .map_err(store_error)?;
    store.close().await;
    Ok(serde_json::to_string_pretty(&created.to_wire())?)
}

async fn link_customer(args: LinkCustomer) -> anyhow::Result<String> {
    let config = Config::resolve(args.config)?;
    let issuer = args.issuer.unwrap_or_else(|| config.offline_issuer());
    let store = open_store(&config).await?;
    let customer = store
        .link(&args.customer, &issuer, &args.subject)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => anyhow::anyhow!("no customer with id {}", args.customer),
            other => store_error(other),
        })?;
    store.close().await;
    Ok(serde_json::to_string_pretty(&json!({
        "customerId": customer.id,
        "organizationId": customer.organization_id,
        "issuer": issuer,
        "subject": args.subject,
    }))?)
}

async fn get_customer(args: GetCustomer) -> anyhow::Result<String> {
    let config = Config::resolve(args.config)?;
    let store = open_store(&config).await?;
    let customer = store.customer(&args.id).await.map_err(|e| match e {
        StoreError::NotFound => anyhow::anyhow!("no customer with id {}", args.id),
        other => store_error(other),
    })?;
    store.close().await;
    Ok(serde_json::to_string_pretty(&customer.to_wire())?)
}

fn store_error(error: StoreError) -> anyhow::Error {
    match error {
        StoreError::Conflict(what) => anyhow::anyhow!(what),
        other => anyhow::Error::new(other),
    }
}

/// `tiquo-edge token issue`.
pub async fn issue_token(args: IssueToken) -> anyhow::Result<String> {
    let config = Config::resolve(args.config)?;
    if args.subject.trim().is_empty() {
        anyhow::bail!("--subject must not be empty");
    }
    if args.organization.trim().is_empty() {
        anyhow::bail!("--organization must not be empty");
    }
    let store = open_store(&config).await?;
    let first = crate::load_signing_key(&config).await?;
    let keys = KeyRing::open(store.clone(), &first).await?;
    store.close().await;
    let token = keys
        .keys()
        .signing
        .issue(&TokenRequest {
            issuer: config.offline_issuer(),
            audience: config.jwt_audience.clone(),
            subject: args.subject,
            email: args.email,
            organization_id: args.organization,
            ttl_secs: args.ttl,
            token_source: "admin".to_owned(),
            session_id: None,
        })
        .context("cannot issue the token")?;
    Ok(if args.json {
        serde_json::to_string(&token)?
    } else {
        token.access_token
    })
}
