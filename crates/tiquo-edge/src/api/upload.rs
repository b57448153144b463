//! `POST /storage/upload/{ticket}`: the image bytes, streamed to the object
//! store. No bearer token: the single-use ticket in the URL is the
//! capability, as with a presigned URL.
//!
//! Checks happen before any byte is stored: the ticket, the declared type,
//! the declared length, then the first bytes against the declared type. The
//! rest streams through a small buffer while its length and SHA-256 are
//! counted; the object becomes visible, and the ticket used, only when the
//! whole body arrived within the limits.

use std::time::Duration;

use aws_lc_rs::digest;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use http_body_util::BodyExt;
use tiquo_types::UploadedObject;
use tokio::time::Instant;
use tracing::Instrument;

use super::respond::envelope_json;
use crate::blob::BlobWriter;
use crate::cleanup::{UPLOAD_DEADLINE, UPLOAD_GRACE};
use crate::clock;
use crate::domain::{ImageType, MAX_IMAGE_BYTES, SNIFF_LEN, StorageId, hex, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoredObject;

/// Longest pause between two pieces of the body.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A refused body is still read, and thrown away, up to this many bytes (or
/// for [`DRAIN_TIME`]) so a client that is still sending sees the answer
/// instead of a reset connection. Not when it asked `Expect: 100-continue`
/// and the body was never read: then hyper has not sent `100 Continue`, so
/// the client has sent nothing and waits for the verdict.
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

pub async fn upload(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The work runs in its own task: when a client disconnects, hyper drops
    // this handler, but the task still sees the body fail and cleans up.
    let task = tokio::spawn(receive(state, ticket, headers, body).in_current_span());
    let storage_id = task
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("upload task failed: {e}")))??;
    Ok(envelope_json(UploadedObject {
        storage_id: storage_id.to_string(),
    }))
}

async fn receive(
    state: AppState,
    ticket: String,
    headers: HeaderMap,
    body: Body,
) -> Result<StorageId, ApiError> {
    let ticket_hash = sha256_hex(ticket.as_bytes());
    let mut body = Incoming::new(body);
    let verdict = precheck(&state, &ticket_hash, &headers).await;
    let (customer_id, declared) = match verdict {
        Ok(accepted) => accepted,
        Err(refusal) => return Err(body.refuse(&headers, refusal).await),
    };

    // The first bytes must be an image of the declared type.
    let mut head: Vec<Bytes> = Vec::new();
    let mut head_len = 0;
    while head_len < SNIFF_LEN {
        match body.next().await {
            Ok(Some(chunk)) => {
                head_len += chunk.len();
                head.push(chunk);
            }
            Ok(None) => break,
            Err(refusal) => return Err(body.refuse(&headers, refusal).await),
        }
    }
    let first: Vec<u8> = head
        .iter()
        .flat_map(|c| c.iter().copied())
        .take(SNIFF_LEN)
        .collect();
    if let Err(refusal) = check_magic(declared, &first) {
        return Err(body.refuse(&headers, refusal).await);
    }

    let storage_id = StorageId::generate();
    let collectable_at = clock::now_ms() + clock::millis(UPLOAD_DEADLINE + UPLOAD_GRACE);
    state
        .store
        .begin_upload(storage_id.as_str(), collectable_at)
        .await?;
    let writer = match state.blobs.begin(&storage_id).await {
        Ok(writer) => writer,
        Err(e) => {
            forget(&state, &storage_id).await;
            return Err(ApiError::Internal(anyhow::anyhow!(
                "cannot start upload: {e}"
            )));
        }
    };
    let (writer, stored) = match copy(writer, head, &mut body).await {
        Ok(done) => done,
        Err((writer, refusal)) => {
            match writer.abort().await {
                Ok(()) => forget(&state, &storage_id).await,
                // Its queue entry stays, so gc removes whatever is left.
                Err(e) => tracing::warn!(
                    storage_id = %storage_id,
                    error = %e,
                    "aborting a refused upload failed; gc will clean up"
                ),
            }
            return Err(body.refuse(&headers, refusal).await);
        }
    };
    if let Err(e) = writer.finish().await {
        discard(&state, &storage_id).await;
        return Err(ApiError::Internal(anyhow::anyhow!(
            "cannot complete upload: {e}"
        )));
    }
    let object = StoredObject {
        storage_id: storage_id.to_string(),
        customer_id,
        content_type: declared.mime().to_owned(),
        size_bytes: stored.size as i64,
        sha256: stored.sha256,
        created_at_ms: clock::now_ms(),
        attached_at_ms: None,
    };
    match state.store.commit_upload(&ticket_hash, &object).await {
        Ok(true) => {
            tracing::info!(
                customer_id = %object.customer_id,
                storage_id = %storage_id,
                size = object.size_bytes,
                content_type = %object.content_type,
                "upload stored"
            );
            Ok(storage_id)
        }
        // Another upload with the same ticket finished first.
        Ok(false) => {
            discard(&state, &storage_id).await;
            Err(ApiError::UploadUrlInvalid)
        }
        Err(e) => {
            discard(&state, &storage_id).await;
            Err(e.into())
        }
    }
}

/// The checks that need no body: the ticket's customer and the declared type.
async fn precheck(
    state: &AppState,
    ticket_hash: &str,
    headers: &HeaderMap,
) -> Result<(String, ImageType), ApiError> {
    let customer_id = state
        .store
        .usable_ticket(ticket_hash)
        .await?
        .ok_or(ApiError::UploadUrlInvalid)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let declared =
        ImageType::from_content_type(content_type).map_err(ApiError::UnsupportedMediaType)?;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n >= MAX_IMAGE_BYTES) {
        return Err(too_large());
    }
    Ok((customer_id, declared))
}

fn check_magic(declared: ImageType, first: &[u8]) -> Result<(), ApiError> {
    match ImageType::sniff(first) {
        Some(actual) if actual == declared => Ok(()),
        Some(actual) => Err(ApiError::UnsupportedMediaType(format!(
            "The file is {} but was declared as {}; send the matching Content-Type",
            actual.mime(),
            declared.mime()
        ))),
        None => Err(ApiError::UnsupportedMediaType(format!(
            "The file is not a {} image; accepted types: {}",
            declared.mime(),
            crate::domain::ACCEPTED_IMAGE_TYPES
        ))),
    }
}

/// What was written.
struct Stored {
    size: u64,
    sha256: String,
}

/// Streams the sniffed head and the rest of the body into `writer`.
async fn copy(
    mut writer: BlobWriter,
    head: Vec<Bytes>,
    body: &mut Incoming,
) -> Result<(BlobWriter, Stored), (BlobWriter, ApiError)> {
    let mut hasher = digest::Context::new(&digest::SHA256);
    let mut pending = head.into_iter();
    loop {
        let chunk = match pending.next() {
            Some(chunk) => chunk,
            None => match body.next().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(refusal) => return Err((writer, refusal)),
            },
        };
        hasher.update(&chunk);
        if let Err(e) = writer.write(chunk).await {
            let error = ApiError::Internal(anyhow::anyhow!("writing the upload failed: {e}"));
            return Err((writer, error));
        }
    }
    let stored = Stored {
        size: body.received,
        sha256: hex(hasher.finish().as_ref()),
    };
    Ok((writer, stored))
}

/// The request body, read within the size limit and the time limits.
struct Incoming {
    body: Body,
    received: u64,
    deadline: Instant,
    finished: bool,
    /// Reading the body makes hyper send `100 Continue`.
    polled: bool,
}

impl Incoming {
    fn new(body: Body) -> Self {
        Self {
            body,
            received: 0,
            deadline: Instant::now() + UPLOAD_DEADLINE,
            finished: false,
            polled: false,
        }
    }

    /// The next piece of data; an error once the body passes the size limit,
    /// stalls, runs past the deadline or breaks off.
    async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        self.polled = true;
        loop {
            let wait = IDLE_TIMEOUT.min(self.deadline.saturating_duration_since(Instant::now()));
            let frame = match tokio::time::timeout(wait, self.body.frame()).await {
                Err(_) => return Err(ApiError::RequestTimeout),
                Ok(None) => {
                    self.finished = true;
                    return Ok(None);
                }
                Ok(Some(Err(_))) => {
                    self.finished = true;
                    return Err(ApiError::InvalidRequest(
                        "The upload was interrupted".to_owned(),
                    ));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            self.received += data.len() as u64;
            if self.received >= MAX_IMAGE_BYTES {
                return Err(too_large());
            }
            return Ok(Some(data));
        }
    }

    /// Answers a refusal, first draining what the client may still be sending.
    async fn refuse(&mut self, headers: &HeaderMap, refusal: ApiError) -> ApiError {
        let waiting_for_verdict = headers
            .get(header::EXPECT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if self.finished || (waiting_for_verdict && !self.polled) {
            return refusal;
        }
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            let mut drained: u64 = 0;
            while let Some(Ok(frame)) = self.body.frame().await {
                if let Ok(data) = frame.into_data() {
                    drained += data.len() as u64;
                    if drained > DRAIN_LIMIT {
                        break;
                    }
                }
            }
        })
        .await;
        refusal
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "The image must be smaller than {MAX_IMAGE_BYTES} bytes (5 MiB)"
    ))
}

/// Drops the queue entry of an upload whose bytes were never completed.
async fn forget(state: &AppState, id: &StorageId) {
    if let Err(e) = state.store.forget_upload(id.as_str()).await {
        tracing::warn!(storage_id = %id, error = %e, "could not dequeue a failed upload; gc will");
    }
}

/// Deletes the bytes of an upload that will not be recorded, then its queue
/// entry; if the delete fails the entry stays for gc.
async fn discard(state: &AppState, id: &StorageId) {
    match state.blobs.delete(id).await {
        Ok(()) => forget(state, id).await,
        Err(e) => {
            tracing::warn!(storage_id = %id, error = %e, "deleting a failed upload failed; gc will retry")
        }
    }
}
