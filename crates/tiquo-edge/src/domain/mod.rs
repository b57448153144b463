//! Validated values. Request input becomes one of these types before any I/O
//! happens ("parse, don't validate"), so code past the API edge never sees an
//! unchecked string. Each `parse` returns a message meant for a person.

mod email;
mod ids;
mod name;
mod phone;
mod photo_url;
mod profile_patch;

pub use email::{Email, normalize as normalize_email};
pub use ids::random_id;
pub use name::{DisplayName, PersonName};
pub use phone::Phone;
pub use photo_url::PhotoUrl;
pub use profile_patch::{CustomerFields, ProfilePatch};

/// True when `text` holds a control character (C0, DEL or C1; tab and newline included).
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}
