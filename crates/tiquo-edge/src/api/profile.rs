//! `GET /profile` and `PATCH /profile`: the authenticated customer's own record.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use tiquo_types::{ProfileData, UpdatedCustomer, User};

use super::json_body::JsonBody;
use super::respond::{envelope_json, etag, with_etag};
use crate::auth::Identity;
use crate::cleanup;
use crate::domain::ProfilePatch;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::CustomerRecord;

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
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let patch = ProfilePatch::parse(&body)?;
    let if_match = headers
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or_default().to_owned());

    let customer = state
        .store
        .customer_for(&identity)
        .await?
        .ok_or(ApiError::NoCustomerProfile)?;
    let precondition = |current: &CustomerRecord| match &if_match {
        Some(condition) if !if_match_allows(condition, current.version) => {
            Err(ApiError::PreconditionFailed)
        }
        _ => Ok(()),
    };
    if patch.is_empty() {
        precondition(&customer)?;
        return Ok(updated(&customer));
    }
    let saved = state
        .store
        .modify_customer(&customer.id, |current| {
            precondition(current)?;
            Ok::<_, ApiError>(patch.apply(&current.fields()))
        })
        .await?;
    if let Some(released) = &saved.released_photo {
        cleanup::delete_released(&state.store, &state.blobs, released).await;
    }
    let saved = saved.customer;
    tracing::info!(customer_id = %saved.id, version = saved.version, "profile updated");
    Ok(updated(&saved))
}

pub(super) fn updated(customer: &CustomerRecord) -> Response {
    with_etag(
        envelope_json(UpdatedCustomer {
            customer: customer.to_wire(),
        }),
        customer.version,
    )
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
