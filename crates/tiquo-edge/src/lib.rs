//! tiquo-edge: a self-hostable server for the Tiquo Client API.
//!
//! The binary (`main.rs`) only parses the command line; everything else lives
//! in this library so tests can start the real application on a port of their
//! choosing and stop it with a future, without sleeps or global state.
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod auth;
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
        };
        Ok(Self {
            listener,
            address,
            public_url,
            issuer,
            state,
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
        let app = api::router(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        store.close().await;
        Ok(())
    }
}

/// Loads (or generates) the built-in key off the async threads: key
/// generation takes a noticeable fraction of a second.
pub async fn load_signing_key(config: &Config) -> anyhow::Result<SigningKey> {
    let path = config.jwt_signing_key.clone();
    tokio::task::spawn_blocking(move || SigningKey::load_or_generate(&path)).await?
}
