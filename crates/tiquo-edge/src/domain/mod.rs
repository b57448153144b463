//! Validated values. Request input becomes one of these types before any I/O
//! happens ("parse, don't validate"), so code past the API edge never sees an
//! unchecked string. Each `parse` returns a message meant for a person.

mod email;
mod ids;
mod image;
mod name;
mod phone;
mod photo_url;
mod profile_patch;
mod storage_id;

pub use email::{Email, normalize as normalize_email};
pub use ids::{hex, random_id, sha256_hex};
pub use image::{ACCEPTED as ACCEPTED_IMAGE_TYPES, ImageType, MAX_IMAGE_BYTES, SNIFF_LEN};
pub use name::{DisplayName, PersonName};
pub use phone::Phone;
pub use photo_url::PhotoUrl;
pub use profile_patch::{CustomerFields, ProfilePatch};
pub use storage_id::StorageId;

/// `body` as a JSON object whose keys are all in `allowed`. Unknown fields
/// are reported before anything else, so a typo is named even when another
/// field is also wrong.
pub fn json_object<'a>(
    body: &'a serde_json::Value,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, serde_json::Value>, crate::error::ApiError> {
    use crate::error::ApiError;
    let serde_json::Value::Object(map) = body else {
        return Err(ApiError::InvalidRequest(
            "The request body must be a JSON object".to_owned(),
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::field(
            unknown.clone(),
            format!(
                "Unknown field '{unknown}'; allowed fields: {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(map)
}

/// True when `text` holds a control character (C0, DEL or C1; tab and newline included).
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}
