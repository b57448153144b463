//! The profile-photo flow: ask for an upload URL, POST the image to it, then
//! attach the returned `storageId` to the profile.

use serde::{Deserialize, Serialize};

use crate::Customer;

/// `data` of `POST /profile/photo-upload-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoUploadUrl {
    /// Single-use URL to POST the image bytes to; no bearer token needed.
    pub upload_url: String,
    /// When the URL stops working (ISO-8601, UTC).
    pub expires_at: String,
}

/// `data` of `POST <uploadUrl>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadedObject {
    /// Opaque, URL-safe id of the stored image.
    pub storage_id: String,
}

/// Body of `POST /profile/photo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachPhoto {
    /// What the upload answered with.
    pub storage_id: String,
}

/// `data` of `POST /profile/photo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoAttached {
    /// The whole customer after the change.
    pub customer: Customer,
    /// The URL the photo is served at (also the customer's `profilePhoto`).
    pub profile_photo: String,
    /// The attached object.
    pub storage_id: String,
}
