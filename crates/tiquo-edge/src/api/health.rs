//! `GET /health`: for load balancers; answers 200 only when the database does.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::respond::envelope_json;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.store.ping().await?;
    Ok(envelope_json(
        json!({ "status": "ok", "database": state.store.kind().name() }),
    ))
}
