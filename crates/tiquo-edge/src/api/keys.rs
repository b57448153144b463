//! The built-in issuer's public keys as a standard JWKS document, so other
//! services (and the tests) can verify its tokens with ordinary libraries.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::respond::json_response;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/oauth2/jwks", get(jwks))
        .route("/.well-known/jwks.json", get(jwks))
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = json_response(
        StatusCode::OK,
        &json!({ "keys": [state.signing_key.public_jwk()] }),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
