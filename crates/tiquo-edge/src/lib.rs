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
pub mod mail;
pub mod state;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::{KeyRing, RevokedSessions, SigningKey, Verifier};
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
    revocation_window: Duration,
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
        let first_key = load_signing_key(&config).await?;
        let keys = Arc::new(KeyRing::open(store.clone(), &first_key).await?);
        let revoked = Arc::new(RevokedSessions::default());
        revoked.sync(&store, revocation_window(&config)).await?;
        let mailer = Arc::new(mail::Mailer::new(&config.sign_in)?);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let verifier = Verifier::new(
            config.jwt_audience.clone(),
            issuer.clone(),
            Arc::clone(&keys),
            Arc::clone(&revoked),
            &config.trusted_issuers,
            http,
        );
        let state = AppState {
            store,
            verifier: Arc::new(verifier),
            keys,
            revoked,
            mailer,
            sign_in: Arc::new(config.sign_in.clone()),
            issuer: issuer.as_str().into(),
            audience: config.jwt_audience.as_str().into(),
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
            revocation_window: revocation_window(&config),
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
        let sync = tokio::spawn(sync_auth_state(
            self.state.clone(),
            self.revocation_window,
            stop_gc.subscribe(),
        ));
        let app = api::router(self.state);
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop_gc.send(true);
        if let Some(gc) = gc {
            let _ = gc.await;
        }
        let _ = sync.await;
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

/// How far back revocations matter: a revoked session's access tokens live
/// at most this long (the longest lifetime, plus the verifier's leeway).
fn revocation_window(config: &Config) -> Duration {
    config.sign_in.access_token_ttl + Duration::from_secs(auth::verifier::LEEWAY_SECS)
}

/// Every [`auth::revocation::SYNC_INTERVAL`], reads revocations and signing
/// keys from the database, so what other instances did reaches this one.
async fn sync_auth_state(
    state: AppState,
    window: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(auth::revocation::SYNC_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = state.revoked.sync(&state.store, window).await {
            tracing::warn!(error = format!("{e:#}"), "reading revoked sessions failed");
        }
        if let Err(e) = state.keys.reload().await {
            tracing::warn!(error = format!("{e:#}"), "reloading signing keys failed");
        }
    }
}
