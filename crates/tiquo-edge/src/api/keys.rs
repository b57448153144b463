//! The built-in issuer's public keys as a standard JWKS document, and the
//! OpenID discovery document pointing at it, so other services can verify
//! its tokens with ordinary libraries.

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
        .route("/.well-known/openid-configuration", get(discovery))
}

async fn discovery(State(state): State<AppState>) -> Response {
    let mut response = json_response(
        StatusCode::OK,
        &json!({
            "issuer": &*state.issuer,
            "jwks_uri": format!("{}/api/oauth2/jwks", state.public_url),
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "claims_supported": [
                "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "email",
                "email_verified", "organization_id", "token_source"
            ],
        }),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = json_response(StatusCode::OK, &json!({ "keys": state.keys.keys().jwks() }));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
