//! The body of `PATCH /profile`, parsed into checked values, and the rule that
//! turns a patch plus the current customer into the new editable fields.

use serde_json::{Map, Value};

use super::{DisplayName, PersonName, Phone, PhotoUrl};
use crate::error::ApiError;

/// The five fields a customer may edit, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFields {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Compact phone.
    pub phone: Option<String>,
    /// Photo URL.
    pub profile_photo: Option<String>,
}

/// A checked partial update: `None` leaves a field alone; for the nullable
/// fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    first_name: Option<PersonName>,
    last_name: Option<PersonName>,
    display_name: Option<DisplayName>,
    phone: Option<Option<Phone>>,
    profile_photo: Option<Option<PhotoUrl>>,
}

/// The fields PATCH accepts, in the order error messages list them.
pub const FIELDS: [&str; 5] = [
    "firstName",
    "lastName",
    "displayName",
    "phone",
    "profilePhoto",
];

impl ProfilePatch {
    /// Parses a JSON document; the first problem found is the error.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let map = super::json_object(body, &FIELDS)?;
        Ok(Self {
            first_name: required_string(map, "firstName")?
                .map(|s| PersonName::parse("firstName", s))
                .transpose()
                .map_err(|m| ApiError::field("firstName", m))?,
            last_name: required_string(map, "lastName")?
                .map(|s| PersonName::parse("lastName", s))
                .transpose()
                .map_err(|m| ApiError::field("lastName", m))?,
            display_name: required_string(map, "displayName")?
                .map(|s| DisplayName::parse("displayName", s))
                .transpose()
                .map_err(|m| ApiError::field("displayName", m))?,
            phone: nullable_string(map, "phone")?
                .map(|v| v.map(Phone::parse).transpose())
                .transpose()
                .map_err(|m| ApiError::field("phone", m))?,
            profile_photo: nullable_string(map, "profilePhoto")?
                .map(|v| v.map(PhotoUrl::parse).transpose())
                .transpose()
                .map_err(|m| ApiError::field("profilePhoto", m))?,
        })
    }

    /// True for `{}`.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The fields after applying this patch to `current`. When a name changes
    /// and no display name is given, the display name is derived from the
    /// resulting first and last name.
    pub fn apply(&self, current: &CustomerFields) -> CustomerFields {
        let first_name = self
            .first_name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .or_else(|| current.first_name.clone());
        let last_name = self
            .last_name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .or_else(|| current.last_name.clone());
        let display_name = match &self.display_name {
            Some(given) => Some(given.as_str().to_owned()),
            None if self.first_name.is_some() || self.last_name.is_some() => {
                DisplayName::from_parts(first_name.as_deref(), last_name.as_deref())
            }
            None => current.display_name.clone(),
        };
        CustomerFields {
            first_name,
            last_name,
            display_name,
            phone: match &self.phone {
                Some(new) => new.as_ref().map(|p| p.as_str().to_owned()),
                None => current.phone.clone(),
            },
            profile_photo: match &self.profile_photo {
                Some(new) => new.as_ref().map(|u| u.as_str().to_owned()),
                None => current.profile_photo.clone(),
            },
        }
    }
}

/// A field that, when present, must be a string (null is refused).
fn required_string<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Null) => Err(ApiError::field(field, format!("{field} cannot be null"))),
        Some(other) => Err(wrong_type(field, other, "a string")),
    }
}

/// A field that, when present, must be a string or null.
fn nullable_string<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<Option<&'a str>>, ApiError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s))),
        Some(other) => Err(wrong_type(field, other, "a string or null")),
    }
}

fn wrong_type(field: &str, value: &Value, expected: &str) -> ApiError {
    let got = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ApiError::field(field, format!("{field} must be {expected}, not {got}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields() -> CustomerFields {
        CustomerFields {
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            display_name: Some("Annie".into()),
            phone: Some("+1234567".into()),
            profile_photo: None,
        }
    }

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::InvalidField { field, .. } => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn seed_example_derives_display_name() {
        let patch = ProfilePatch::parse(&json!({
            "firstName": "John", "lastName": "Smith", "phone": "+1234567890"
        }))
        .unwrap();
        let out = patch.apply(&fields());
        assert_eq!(out.display_name.as_deref(), Some("John Smith"));
        assert_eq!(out.phone.as_deref(), Some("+1234567890"));
    }

    #[test]
    fn only_present_fields_change() {
        let out = ProfilePatch::parse(&json!({"phone": null}))
            .unwrap()
            .apply(&fields());
        assert_eq!(out.phone, None);
        assert_eq!(out.display_name.as_deref(), Some("Annie"));
        let out = ProfilePatch::parse(&json!({"lastName": "Ray"}))
            .unwrap()
            .apply(&fields());
        assert_eq!(out.display_name.as_deref(), Some("Ann Ray"));
        let out = ProfilePatch::parse(&json!({"lastName": "Ray", "displayName": "A.R."}))
            .unwrap()
            .apply(&fields());
        assert_eq!(out.display_name.as_deref(), Some("A.R."));
        assert!(ProfilePatch::parse(&json!({})).unwrap().is_empty());
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(
            field_of(ProfilePatch::parse(&json!({"email": "x"})).unwrap_err()),
            "email"
        );
        assert_eq!(
            field_of(ProfilePatch::parse(&json!({"firstName": null})).unwrap_err()),
            "firstName"
        );
        assert_eq!(
            field_of(ProfilePatch::parse(&json!({"phone": 5})).unwrap_err()),
            "phone"
        );
        assert_eq!(
            field_of(ProfilePatch::parse(&json!({"displayName": ""})).unwrap_err()),
            "displayName"
        );
        assert!(matches!(
            ProfilePatch::parse(&json!([1])).unwrap_err(),
            ApiError::InvalidRequest(_)
        ));
    }
}
