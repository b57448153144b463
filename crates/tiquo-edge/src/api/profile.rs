//! `GET /profile` and `PATCH /profile`: the authenticated customer's own record.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::Value;
use tiquo_types::{ProfileData, UpdatedCustomer, User};

use super::respond::{envelope_json, etag, with_etag};
use crate::auth::Identity;
use crate::domain::ProfilePatch;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::CustomerRecord;

/// Attempts at an update that keeps losing the race to concurrent writers
/// before giving up (only without `If-Match`; with it, losing means 412).
/// Every round has a winner, so N simultaneous writers of one profile need at
/// most N attempts; this bound only stops a pathological livelock.
const UPDATE_ATTEMPTS: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new().route("/profile", get(get_profile).patch(patch_profile))
}

async fn get_profile(
    State(state): State<AppState>,
    identity: Identity,
) -> Result<Response, ApiError> {
    let customer = state.store.customer_for(&identity).await?;
    let version = customer.as_ref().map(|c| c.version);
    let response = envelope_json(ProfileData {
        user: User {
            id: identity.subject,
            email: identity.email,
        },
        customer: customer.as_ref().map(CustomerRecord::to_wire),
    });
    Ok(match version {
        Some(v) => with_etag(response, v),
        None => response,
    })
}

async fn patch_profile(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let patch = ProfilePatch::parse(&json_body(&headers, body)?)?;
    let if_match = headers
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default().to_owned());

    let mut customer = state
        .store
        .customer_for(&identity)
        .await?
        .ok_or(ApiError::NoCustomerProfile)?;
    for _ in 0..UPDATE_ATTEMPTS {
        if let Some(condition) = &if_match
            && !if_match_allows(condition, customer.version)
        {
            return Err(ApiError::PreconditionFailed);
        }
        if patch.is_empty() {
            return Ok(updated(&customer));
        }
        let fields = patch.apply(&customer.fields());
        match state
            .store
            .update_customer(&customer.id, customer.version, &fields)
            .await?
        {
            Some(saved) => {
                tracing::info!(customer_id = %saved.id, version = saved.version, "profile updated");
                return Ok(updated(&saved));
            }
            // Someone else wrote first: re-read and re-check the precondition.
            None => customer = state.store.customer(&customer.id).await?,
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "profile update lost {UPDATE_ATTEMPTS} races in a row"
    )))
}

fn updated(customer: &CustomerRecord) -> Response {
    with_etag(
        envelope_json(UpdatedCustomer {
            customer: customer.to_wire(),
        }),
        customer.version,
    )
}

/// The request body as JSON, refusing other content types and bad syntax.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "The request body is larger than {} bytes",
                super::JSON_BODY_LIMIT
            ))
        } else {
            ApiError::InvalidRequest("The request body could not be read".to_owned())
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::InvalidRequest(format!(
            "Content-Type must be application/json, not '{}'",
            if mime.is_empty() { "(none)" } else { mime }
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("The request body is not valid JSON: {e}")))
}

/// `If-Match` under strong comparison: `*` or a list containing the current tag.
fn if_match_allows(condition: &str, version: i64) -> bool {
    let current = etag(version);
    condition
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current)
}

#[cfg(test)]
mod tests {
    use super::if_match_allows;

    #[test]
    fn if_match_uses_strong_comparison() {
        assert!(if_match_allows("\"3\"", 3));
        assert!(if_match_allows("\"1\", \"3\"", 3));
        assert!(if_match_allows("*", 3));
        assert!(!if_match_allows("W/\"3\"", 3));
        assert!(!if_match_allows("\"2\"", 3));
        assert!(!if_match_allows("3", 3));
        assert!(!if_match_allows("", 3));
    }
}
