//! The customer object and the profile request and response bodies.

use serde::{Deserialize, Serialize};

use crate::Money;

/// A customer's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    /// A customer in good standing.
    Active,
    /// Not currently active.
    Inactive,
    /// Kept for the record only.
    Archived,
}

impl CustomerStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Archived => "archived",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }
}

/// The customer as the Client API shows it: exactly the documented fields.
/// Unknown fields are ignored when decoding, so clients keep working when a
/// newer server adds one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// `cust_…`.
    pub id: String,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Full display name.
    pub display_name: Option<String>,
    /// Human-readable number, `CUST-000001`.
    pub customer_number: String,
    /// Primary email.
    pub email: Option<String>,
    /// Phone in compact international form, `+1234567890`.
    pub phone: Option<String>,
    /// URL of the profile photo.
    pub profile_photo: Option<String>,
    /// Lifecycle status.
    pub status: CustomerStatus,
    /// Number of orders placed.
    pub total_orders: i64,
    /// Total spent, in major units.
    pub total_spent: Money,
    /// Lifetime value, in major units.
    pub lifetime_value: Money,
    /// Creation time, ISO-8601 UTC.
    pub created_at: String,
    /// Last change, ISO-8601 UTC.
    pub updated_at: String,
}

/// The token's user as GET /profile shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The token's `sub`.
    pub id: String,
    /// The token's `email` claim, if any.
    pub email: Option<String>,
}

/// `data` of GET /profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileData {
    /// Who the token belongs to.
    pub user: User,
    /// The linked customer, or `null` when none is linked.
    pub customer: Option<Customer>,
}

/// `data` of PATCH /profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdatedCustomer {
    /// The whole customer after the change.
    pub customer: Customer,
}

/// Body of PATCH /profile. An absent field is left alone; for `phone` and
/// `profilePhoto`, `Some(None)` (JSON `null`) clears the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileUpdate {
    /// New first name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// New last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New phone, or `Some(None)` to clear it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub phone: Option<Option<String>>,
    /// New photo URL, or `Some(None)` to remove it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub profile_photo: Option<Option<String>>,
}

/// Serde glue telling an absent field (`None`) from an explicit `null` (`Some(None)`).
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Option<String>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_tells_absent_from_null() {
        let u: ProfileUpdate = serde_json::from_str(r#"{"phone":null}"#).unwrap();
        assert_eq!(u.phone, Some(None));
        assert_eq!(u.profile_photo, None);
        assert_eq!(serde_json::to_string(&u).unwrap(), r#"{"phone":null}"#);
        assert_eq!(
            serde_json::to_string(&ProfileUpdate::default()).unwrap(),
            "{}"
        );
    }
}
