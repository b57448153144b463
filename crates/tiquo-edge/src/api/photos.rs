//! The authenticated half of the photo flow: `POST /profile/photo-upload-url`
//! hands out a single-use upload URL, `POST /profile/photo` attaches a
//! finished upload, `DELETE /profile/photo` removes the photo.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde_json::Value;
use tiquo_types::{PhotoAttached, PhotoUploadUrl};

use super::json_body::{JsonBody, OptionalJsonBody};
use super::profile::updated;
use super::respond::{envelope_json, with_etag};
use super::{CLIENT_API, storage};
use crate::auth::Identity;
use crate::cleanup;
use crate::clock;
use crate::domain::{ImageType, MAX_IMAGE_BYTES, StorageId, json_object, random_id, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{AttachError, CustomerRecord, StoredObject};

/// Random bytes in an upload ticket (256 bits).
const TICKET_BYTES: usize = 32;

/// One answer for an unknown id and another customer's, so ids cannot be probed.
const UNKNOWN_STORAGE_ID: &str =
    "No finished upload with this storageId belongs to your profile; upload the image first";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile/photo-upload-url", post(create_upload_url))
        .route("/profile/photo", post(attach).delete(detach))
}

async fn create_upload_url(
    State(state): State<AppState>,
    identity: Identity,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Response, ApiError> {
    if body.as_ref().is_some_and(|b| !b.is_object()) {
        return Err(ApiError::InvalidRequest(
            "The request body must be empty or a JSON object".to_owned(),
        ));
    }
    let customer = linked_customer(&state, &identity).await?;
    let ticket = random_id("", TICKET_BYTES);
    let expires_at_ms = clock::now_ms() + clock::millis(state.upload_url_ttl);
    // Only the hash is stored: the URL itself is the capability.
    state
        .store
        .create_upload_ticket(&sha256_hex(ticket.as_bytes()), &customer.id, expires_at_ms)
        .await?;
    tracing::info!(customer_id = %customer.id, "upload URL issued");
    Ok(envelope_json(PhotoUploadUrl {
        upload_url: format!("{}{CLIENT_API}/storage/upload/{ticket}", state.public_url),
        expires_at: clock::iso_from_ms(expires_at_ms),
    }))
}

async fn attach(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let requested = storage_id_field(&body)?;
    let customer = linked_customer(&state, &identity).await?;
    let id = StorageId::parse(&requested)
        .ok_or_else(|| ApiError::InvalidStorageId(UNKNOWN_STORAGE_ID.to_owned()))?;
    let url = storage::object_url(&state.public_url, &id);
    let saved = state
        .store
        .attach_photo(&customer.id, id.as_str(), &url, acceptable)
        .await
        .map_err(|e| match e {
            AttachError::Unknown => ApiError::InvalidStorageId(UNKNOWN_STORAGE_ID.to_owned()),
            AttachError::Unacceptable(message) => ApiError::InvalidStorageId(message),
            AttachError::Store(e) => e.into(),
        })?;
    if let Some(released) = &saved.released_photo {
        cleanup::delete_released(&state.store, &state.blobs, released).await;
    }
    let customer = saved.customer;
    tracing::info!(customer_id = %customer.id, storage_id = %id, "profile photo attached");
    Ok(with_etag(
        envelope_json(PhotoAttached {
            customer: customer.to_wire(),
            profile_photo: url,
            storage_id: id.to_string(),
        }),
        customer.version,
    ))
}

async fn detach(State(state): State<AppState>, identity: Identity) -> Result<Response, ApiError> {
    let customer = linked_customer(&state, &identity).await?;
    if customer.profile_photo.is_none() {
        return Ok(updated(&customer));
    }
    let saved = state
        .store
        .modify_customer(&customer.id, |current| {
            let mut fields = current.fields();
            fields.profile_photo = None;
            Ok::<_, ApiError>(fields)
        })
        .await?;
    if let Some(released) = &saved.released_photo {
        cleanup::delete_released(&state.store, &state.blobs, released).await;
    }
    tracing::info!(customer_id = %saved.customer.id, "profile photo removed");
    Ok(updated(&saved.customer))
}

async fn linked_customer(
    state: &AppState,
    identity: &Identity,
) -> Result<CustomerRecord, ApiError> {
    state
        .store
        .customer_for(identity)
        .await?
        .ok_or(ApiError::NoCustomerProfile)
}

/// `storageId` from `{"storageId": "…"}`; nothing else is allowed.
fn storage_id_field(body: &Value) -> Result<String, ApiError> {
    let map = json_object(body, &["storageId"])?;
    match map.get("storageId") {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(_) => Err(ApiError::field("storageId", "storageId must be a string")),
        None => Err(ApiError::field("storageId", "storageId is required")),
    }
}

/// The seed's rule for a photo: an image type, smaller than 5 MiB. Uploads
/// are checked already; this guards rows written by anything else.
fn acceptable(object: &StoredObject) -> Result<(), String> {
    if ImageType::from_mime(&object.content_type).is_none() {
        return Err(format!(
            "The upload is {}, which is not an accepted image type",
            object.content_type
        ));
    }
    if object.size_bytes < 0 || object.size_bytes as u64 >= MAX_IMAGE_BYTES {
        return Err("The upload is not smaller than 5 MiB".to_owned());
    }
    Ok(())
}
