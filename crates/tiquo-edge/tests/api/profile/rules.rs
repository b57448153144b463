//! The update rules field by field: trimming, lengths, control characters,
//! display-name derivation, phone and photo-URL formats, unknown fields and
//! wrong types; a refused request changes nothing.

use super::*;

crate::both_backends!(
    strings_are_trimmed,
    name_lengths_are_counted_in_characters_after_trimming,
    control_characters_are_refused_in_every_field,
    names_cannot_be_null,
    display_name_is_derived_unless_given,
    display_name_from_first_name_only,
    phone_is_checked_and_stored_compact,
    profile_photo_must_be_https_or_loopback_http,
    unknown_fields_are_named,
    wrong_types_are_refused_with_field,
    mixed_valid_and_invalid_fields_change_nothing,
);

async fn strings_are_trimmed(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let customer = patch_ok(
        &app,
        &token,
        &json!({
            "firstName": "  John  ",
            "lastName": " Smith ",
            "phone": " +1234567890 ",
            "profilePhoto": "  https://cdn.example.com/me.jpg  ",
        }),
    )
    .await
    .customer;
    assert_eq!(customer["firstName"], json!("John"));
    assert_eq!(customer["lastName"], json!("Smith"));
    assert_eq!(customer["displayName"], json!("John Smith"));
    assert_eq!(customer["phone"], json!("+1234567890"));
    assert_eq!(
        customer["profilePhoto"],
        json!("https://cdn.example.com/me.jpg")
    );

    assert_eq!(
        set_field(&app, &token, "displayName", "   J. S.   ").await,
        json!("J. S.")
    );
}

async fn name_lengths_are_counted_in_characters_after_trimming(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let mut refused = Vec::new();
    for (field, max) in [("firstName", 100), ("lastName", 100), ("displayName", 256)] {
        let longest = "é".repeat(max);
        assert_eq!(
            set_field(&app, &token, field, &longest).await,
            json!(longest),
            "{field}"
        );
        let padded = format!("  {longest}  ");
        assert_eq!(
            set_field(&app, &token, field, &padded).await,
            json!(longest),
            "{field}"
        );
        for bad in [
            "é".repeat(max + 1),
            "x".repeat(max + 1),
            String::new(),
            "   ".to_owned(),
        ] {
            refused.push((json!({ field: bad }), field));
        }
    }
    assert_all_invalid_field(&app, &token, refused).await;
}

async fn control_characters_are_refused_in_every_field(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let mut refused = Vec::new();
    let fields = [
        ("firstName", "John"),
        ("lastName", "Smith"),
        ("displayName", "John Smith"),
        ("phone", "+1234567890"),
        ("profilePhoto", "https://cdn.example.com/me.jpg"),
    ];
    for (field, valid) in fields {
        for control in ['\t', '\n', '\u{0}', '\u{7f}'] {
            let (head, tail) = valid.split_at(4);
            for bad in [
                format!("{head}{control}{tail}"),
                format!("{valid}{control}"),
                format!("{control}{valid}"),
            ] {
                refused.push((json!({ field: bad }), field));
            }
        }
    }
    assert_all_invalid_field(&app, &token, refused).await;
}

async fn names_cannot_be_null(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    patch_ok(&app, &token, &seed_patch()).await;
    let mut refused = Vec::new();
    for field in ["firstName", "lastName", "displayName"] {
        refused.push((json!({ field: null }), field));
    }
    assert_all_invalid_field(&app, &token, refused).await;
}

async fn display_name_is_derived_unless_given(backend: Backend) {
    // The CLI creates the customer without any name.
    let (app, token) = app_with_customer(backend).await;

    let customer = patch_ok(&app, &token, &json!({"lastName": "Smith"}))
        .await
        .customer;
    assert_eq!(customer["firstName"], Value::Null);
    assert_eq!(customer["displayName"], json!("Smith"));

    let customer = patch_ok(&app, &token, &json!({"firstName": "John"}))
        .await
        .customer;
    assert_eq!(customer["displayName"], json!("John Smith"));

    // An explicit display name wins over derivation.
    let customer = patch_ok(
        &app,
        &token,
        &json!({"firstName": "Jane", "displayName": "JJ"}),
    )
    .await
    .customer;
    assert_eq!(customer["firstName"], json!("Jane"));
    assert_eq!(customer["displayName"], json!("JJ"));

    // Changing only other fields leaves the display name alone.
    for body in [
        json!({"phone": "+1234567890"}),
        json!({"profilePhoto": "https://e.com/a.png"}),
    ] {
        let customer = patch_ok(&app, &token, &body).await.customer;
        assert_eq!(customer["displayName"], json!("JJ"), "after {body}");
    }

    // Setting the display name alone leaves the names alone.
    let customer = patch_ok(&app, &token, &json!({"displayName": "Janey"}))
        .await
        .customer;
    assert_eq!(customer["firstName"], json!("Jane"));
    assert_eq!(customer["lastName"], json!("Smith"));

    // A name change derives from the resulting first and last name.
    let customer = patch_ok(&app, &token, &json!({"lastName": "Doe"}))
        .await
        .customer;
    assert_eq!(customer["displayName"], json!("Jane Doe"));
}

async fn display_name_from_first_name_only(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let customer = patch_ok(&app, &token, &json!({"firstName": "John"}))
        .await
        .customer;
    assert_eq!(customer["lastName"], Value::Null);
    assert_eq!(customer["displayName"], json!("John"));
}

// ---------------------------------------------------------------------------
// Phone and profile photo
// ---------------------------------------------------------------------------

async fn phone_is_checked_and_stored_compact(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    for (given, stored) in [
        ("+1234567890", "+1234567890"),
        ("+1 (234) 567-890", "+1234567890"),
        ("+44 20.7946.0958", "+442079460958"),
        ("+1234567", "+1234567"),
        ("+123456789012345", "+123456789012345"),
    ] {
        assert_eq!(
            set_field(&app, &token, "phone", given).await,
            json!(stored),
            "{given}"
        );
    }
    let mut refused = Vec::new();
    for bad in [
        "+123456",
        "+1234567890123456",
        "+0123456789",
        "1234567890",
        "+12345abc90",
        "++1234567890",
        "+",
        "",
    ] {
        refused.push((json!({"phone": bad}), "phone"));
    }
    assert_all_invalid_field(&app, &token, refused).await;
    let customer = patch_ok(&app, &token, &json!({"phone": null}))
        .await
        .customer;
    assert_eq!(customer["phone"], Value::Null);
}

async fn profile_photo_must_be_https_or_loopback_http(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let longest = format!("https://cdn.example.com/{}", "a".repeat(2048 - 24));
    assert_eq!(longest.chars().count(), 2048);
    for ok in [
        "https://cdn.example.com/p/1.jpg",
        "http://localhost:3000/me.png",
        "http://127.0.0.1/me.png",
        "http://[::1]:8080/me.png",
        longest.as_str(),
    ] {
        assert_eq!(set_field(&app, &token, "profilePhoto", ok).await, json!(ok));
    }
    let too_long = format!("{longest}a");
    let mut refused = Vec::new();
    for bad in [
        "http://example.com/x.jpg",
        "javascript:alert(1)",
        "/relative/path.jpg",
        "images/me.jpg",
        "ftp://example.com/x.jpg",
        "http://localhost.evil.com/x.jpg",
        "",
        too_long.as_str(),
    ] {
        refused.push((json!({"profilePhoto": bad}), "profilePhoto"));
    }
    assert_all_invalid_field(&app, &token, refused).await;
    let customer = patch_ok(&app, &token, &json!({"profilePhoto": null}))
        .await
        .customer;
    assert_eq!(customer["profilePhoto"], Value::Null);
}

// ---------------------------------------------------------------------------
// Malformed requests
// ---------------------------------------------------------------------------

async fn unknown_fields_are_named(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let mut refused = Vec::new();
    for field in [
        "email",
        "status",
        "customerNumber",
        "id",
        "totalSpent",
        "FirstName",
        "first_name",
    ] {
        refused.push((json!({ field: "x" }), field));
    }
    // Mixed with a valid field, the unknown one is still refused and nothing is applied.
    let body = json!({"firstName": "Valid", "email": "new@example.com"});
    refused.push((body, "email"));
    assert_all_invalid_field(&app, &token, refused).await;
}

async fn wrong_types_are_refused_with_field(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let mut refused = Vec::new();
    for field in [
        "firstName",
        "lastName",
        "displayName",
        "phone",
        "profilePhoto",
    ] {
        for value in [
            json!(42),
            json!(true),
            json!(["John"]),
            json!({"value": "John"}),
        ] {
            refused.push((json!({ field: value }), field));
        }
    }
    assert_all_invalid_field(&app, &token, refused).await;
}

async fn mixed_valid_and_invalid_fields_change_nothing(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    patch_ok(&app, &token, &seed_patch()).await;
    let cases = [
        (json!({"firstName": "Valid", "phone": "bad"}), "phone"),
        (json!({"phone": "+1987654321", "lastName": ""}), "lastName"),
        (
            json!({"displayName": "Ok", "profilePhoto": "http://example.com/x.jpg"}),
            "profilePhoto",
        ),
        (json!({"lastName": "Fine", "firstName": null}), "firstName"),
    ];
    assert_all_invalid_field(&app, &token, cases.to_vec()).await;
}
