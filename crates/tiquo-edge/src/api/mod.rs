//! The HTTP surface: one module per resource, each with its own `router()`,
//! merged here, with the cross-cutting layers applied once.

mod fallback;
mod health;
mod json_body;
mod keys;
mod photos;
mod profile;
mod respond;
mod sign_in;
mod storage;
mod upload;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, header};
use axum::middleware;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::state::AppState;

/// Largest JSON request body, in bytes (enforced by [`json_body::JsonBody`]).
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Prefix of the customer-facing API.
pub const CLIENT_API: &str = "/api/client/v1";

/// The whole application.
pub fn router(state: AppState) -> Router {
    let client_api = Router::new()
        .merge(profile::router())
        .merge(photos::router())
        .merge(storage::router())
        .merge(sign_in::router());
    let routes = Router::new()
        .nest(CLIENT_API, client_api)
        .merge(keys::router())
        .merge(health::router())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    // The route template, not the raw URI: paths may one day carry
                    // capabilities, and templates group well in log queries.
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("<unmatched>", MatchedPath::as_str);
                    tracing::info_span!("request", method = %request.method(), route)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state);

    // Routing happens inside `routes`; the layers below see its final answer,
    // so router-made 404/405 responses are put in the envelope too.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(fallback::envelope_bare_errors))
        .layer(cors())
}

/// Every origin may call the API: access is decided by the bearer token, and
/// no cookies are involved, so credentials stay disallowed.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::RANGE,
        ])
        .expose_headers([
            header::ETAG,
            header::WWW_AUTHENTICATE,
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
        ])
        .max_age(Duration::from_secs(600))
}
