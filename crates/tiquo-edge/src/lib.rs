//! tiquo-edge: a self-hostable server for the Tiquo Client API.
//!
//! The binary (`main.rs`) only parses the command line; everything else lives
//! in this library so tests can start the real application on a port of their
//! choosing and stop it with a future, without sleeps or global state.
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod auth;
pub mod blob;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::{SigningKey, Verifier};
use crate::blob::BlobStore;
use crate::config::Config;
use crate::state::AppState;
use crate::store::Store;

/// A built application bound to its listener, ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    public_url: String,
    issuer: String,
    state: AppState,
    orphan_ttl: Duration,
    gc_interval: Option<Duration>,
}

impl Application {
    /// Opens the database (running migrations), loads or generates the
    /// signing key and prepares the routes for `listener`.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        let address = listener.local_addr()?;
        let public_url = config.public_url_bound(address);
        let issuer = config.issuer_for(&public_url);
        let store = Store::connect(config.database_url.expose(), config.database_kind).await?;
        store.migrate().await?;
        let blobs = BlobStore::open(&config.storage_url)?;
        blobs.check().await?;
        let signing_key = Arc::new(load_signing_key(&config).await?);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let verifier = Verifier::new(
            config.jwt_audience.clone(),
            issuer.clone(),
            &signing_key,
            &config.trusted_issuers,
            http,
        );
        let state = AppState {
            store,
            verifier: Arc::new(verifier),
            signing_key,
            blobs,
            public_url: public_url.as_str().into(),
            upload_url_ttl: config.upload_url_ttl,
        };
        Ok(Self {
            listener,
            address,
            public_url,
            issuer,
            state,
            orphan_ttl: config.orphan_ttl,
            gc_interval: config.gc_interval,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The public base URL.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Where uploads are stored.
    pub fn storage(&self) -> &blob::StorageUrl {
        self.state.blobs.url()
    }

    /// The built-in issuer's `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let (stop_gc, gc_stopped) = tokio::sync::watch::channel(false);
        let gc = self.gc_interval.map(|interval| {
            tokio::spawn(cleanup::run_periodically(
                store.clone(),
                self.state.blobs.clone(),
                self.orphan_ttl,
                interval,
                gc_stopped,
            ))
        });
        let app = api::router(self.state);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_gc.send(true);
        if let Some(gc) = gc {
            let _ = gc.await;
        }
        store.close().await;
        served?;
        Ok(())
    }
}

/// Loads (or generates) the built-in key off the async threads: key
/// generation takes a noticeable fraction of a second.
pub async fn load_signing_key(config: &Config) -> anyhow::Result<SigningKey> {
    let path = config.jwt_signing_key.clone();
    tokio::task::spawn_blocking(move || SigningKey::load_or_generate(&path)).await?
}
