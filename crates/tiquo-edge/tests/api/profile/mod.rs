//! `GET /profile` and `PATCH /profile` over real HTTP, on both backends.
//!
//! Covers: the success and error envelopes; the shape of `data` and of the
//! customer object (exact keys, customer numbers, money with two decimals);
//! the seed document's example; partial updates; trimming, lengths and
//! control characters; display-name derivation; phone and photo-URL rules;
//! unknown fields, wrong types, malformed bodies and content types; that a
//! refused request changes nothing; `{}` as a no-op; tokens without a
//! customer; the 64 KiB body limit (with and without `Content-Length`);
//! `ETag`/`If-Match` (strong comparison, 412 on a stale tag); and that
//! concurrent updates are not lost.

use std::io::{Read, Write};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::helpers::{Backend, TestApp, assert_error, assert_timestamp, json_of};

mod body;
mod preconditions;
mod rules;

crate::both_backends!(
    get_returns_user_customer_and_strong_etag,
    money_is_rendered_with_two_decimals,
    order_totals_keep_two_decimals_through_a_patch,
    customer_numbers_count_per_organization,
    get_without_customer_returns_null_customer,
    seed_example_updates_and_returns_whole_customer,
    only_fields_present_change,
    empty_patch_changes_nothing_and_keeps_version,
);

/// The customer object's keys, sorted.
const CUSTOMER_KEYS: [&str; 14] = [
    "createdAt",
    "customerNumber",
    "displayName",
    "email",
    "firstName",
    "id",
    "lastName",
    "lifetimeValue",
    "phone",
    "profilePhoto",
    "status",
    "totalOrders",
    "totalSpent",
    "updatedAt",
];

/// The request body limit.
const BODY_LIMIT: usize = 64 * 1024;

const NO_CUSTOMER_MESSAGE: &str = "No customer profile linked to this account";

/// The seed document's example request.
fn seed_patch() -> Value {
    json!({"firstName": "John", "lastName": "Smith", "phone": "+1234567890"})
}

// ---------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------

/// What a GET or successful PATCH says about the customer.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    customer: Value,
    etag: String,
}

/// A fresh app with one customer (`customer@example.com`) linked to a token.
async fn app_with_customer(backend: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.customer_with_token("customer@example.com");
    (app, token)
}

/// The sorted keys of a JSON object.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// The `ETag` header, if any.
fn etag_header(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::ETAG)
        .map(|v| v.to_str().expect("ETag is ASCII").to_owned())
}

/// A strong entity tag: `"…"`, not `W/"…"`.
fn assert_strong_etag(tag: &str) {
    assert!(
        tag.len() >= 3 && tag.starts_with('"') && tag.ends_with('"'),
        "not a strong ETag: {tag}"
    );
}

/// `{"success":true,"data":…,"timestamp":…}` and nothing else.
fn assert_success_envelope(body: &Value) {
    assert_eq!(keys(body), ["data", "success", "timestamp"], "{body}");
    assert_eq!(body["success"], json!(true), "{body}");
    assert_timestamp(&body["timestamp"]);
}

/// The customer object: exactly the documented keys, well-formed values.
fn assert_customer_shape(customer: &Value) {
    assert_eq!(keys(customer), CUSTOMER_KEYS, "{customer}");
    assert!(
        customer["id"].as_str().is_some_and(|s| !s.is_empty()),
        "{customer}"
    );
    assert_eq!(customer["status"], json!("active"), "{customer}");
    for money in ["totalOrders", "totalSpent", "lifetimeValue"] {
        assert!(
            customer[money].is_number(),
            "{money} is not a number: {customer}"
        );
    }
    assert_timestamp(&customer["createdAt"]);
    assert_timestamp(&customer["updatedAt"]);
}

/// Reads a 200 response carrying a customer: envelope, shape and strong ETag.
async fn customer_response(response: reqwest::Response) -> Snapshot {
    let etag = etag_header(&response);
    let body = json_of(response, 200).await;
    assert_success_envelope(&body);
    let customer = body["data"]["customer"].clone();
    assert_customer_shape(&customer);
    let etag = etag.unwrap_or_else(|| panic!("no ETag header; body: {body}"));
    assert_strong_etag(&etag);
    Snapshot { customer, etag }
}

/// `GET /profile` for a token that has a customer.
async fn snapshot(app: &TestApp, token: &str) -> Snapshot {
    customer_response(app.get_profile(token).await).await
}

/// `PATCH /profile` that must succeed.
async fn patch_ok(app: &TestApp, token: &str, body: &Value) -> Snapshot {
    customer_response(app.patch_profile(token, body).await).await
}

/// `PATCH /profile` with a raw body and the given Content-Type (none when `None`).
async fn patch_raw(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app
        .client
        .patch(app.api("/profile"))
        .bearer_auth(token)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    request.send().await.expect("request")
}

/// `PATCH /profile` with a JSON body and an `If-Match` header.
async fn patch_if_match(
    client: &reqwest::Client,
    app: &TestApp,
    token: &str,
    if_match: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .patch(app.api("/profile"))
        .bearer_auth(token)
        .header(reqwest::header::IF_MATCH, if_match)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Checks the error envelope has exactly the documented keys.
fn assert_error_keys(body: &Value, with_field: bool) {
    let expected: &[&str] = if with_field {
        &["code", "error", "field", "success", "timestamp"]
    } else {
        &["code", "error", "success", "timestamp"]
    };
    assert_eq!(keys(body), expected, "{body}");
}

/// Checks that a GET still shows `before` (same customer, same ETag).
async fn assert_unchanged(app: &TestApp, token: &str, before: &Snapshot, what: &str) {
    let after = snapshot(app, token).await;
    assert_eq!(
        &after, before,
        "a refused request changed the customer: {what}"
    );
}

/// What went wrong with a PATCH that must be refused with 400 `invalid_field`
/// naming `field` and must change nothing; `None` when all went right.
async fn invalid_field_problem(
    app: &TestApp,
    token: &str,
    body: &Value,
    field: &str,
) -> Option<String> {
    let before = snapshot(app, token).await;
    let response = app.patch_profile(token, body).await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let refused_as_expected = status == 400
        && error["success"] == json!(false)
        && error["code"] == json!("invalid_field")
        && error["field"] == json!(field)
        && error["error"].as_str().is_some_and(|m| !m.is_empty());
    let after = snapshot(app, token).await;
    if !refused_as_expected {
        return Some(format!(
            "PATCH {body}: expected 400 invalid_field/{field}, got {status} {text}"
        ));
    }
    assert_error_keys(&error, true);
    assert_timestamp(&error["timestamp"]);
    (after != before)
        .then(|| format!("PATCH {body} was refused but changed {before:?} into {after:?}"))
}

/// Every `(body, field)` must be refused as [`invalid_field_problem`] says;
/// the failure lists all cases that were not.
async fn assert_all_invalid_field(app: &TestApp, token: &str, cases: Vec<(Value, &str)>) {
    let mut problems = Vec::new();
    for (body, field) in &cases {
        if let Some(problem) = invalid_field_problem(app, token, body, field).await {
            problems.push(problem);
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} refusals went wrong:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

/// PATCH with this raw body must be refused with 400 `invalid_request`, and change nothing.
async fn assert_invalid_request(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: &str,
) {
    let before = snapshot(app, token).await;
    let response = patch_raw(app, token, content_type, body.to_owned()).await;
    let error = assert_error(response, 400, "invalid_request").await;
    assert_error_keys(&error, false);
    assert_unchanged(app, token, &before, &format!("{content_type:?} {body:?}")).await;
}

/// Sets `field` to `value` and returns what the customer now holds in it.
async fn set_field(app: &TestApp, token: &str, field: &str, value: &str) -> Value {
    patch_ok(app, token, &json!({ field: value }))
        .await
        .customer[field]
        .clone()
}

/// All keys of `after` except `changed` hold what they held in `before`.
fn assert_only_changed(before: &Value, after: &Value, changed: &[&str]) {
    for key in CUSTOMER_KEYS {
        if !changed.contains(&key) {
            assert_eq!(
                after[key], before[key],
                "{key} changed; before {before}, after {after}"
            );
        }
    }
}

/// A JSON body of exactly `len` bytes: `{"displayName":"xxx…"}`.
async fn get_returns_user_customer_and_strong_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_customer("customer@example.com", Some("user_ann"));
    let token = app.token("user_ann");

    let response = app.get_profile(&token).await;
    let etag = etag_header(&response).expect("ETag on GET with a customer");
    assert_eq!(etag, "\"1\"");
    let body = json_of(response, 200).await;
    assert_success_envelope(&body);
    assert_eq!(keys(&body["data"]), ["customer", "user"], "{body}");
    assert_eq!(
        body["data"]["user"],
        json!({"id": "user_ann", "email": null})
    );

    let customer = &body["data"]["customer"];
    assert_customer_shape(customer);
    assert_eq!(customer["id"], created["id"]);
    assert_eq!(customer["email"], json!("customer@example.com"));
    assert_eq!(customer["customerNumber"], json!("CUST-000001"));
    assert_eq!(customer["firstName"], Value::Null);
    assert_eq!(customer["lastName"], Value::Null);
    assert_eq!(customer["displayName"], Value::Null);
    assert_eq!(customer["phone"], Value::Null);
    assert_eq!(customer["profilePhoto"], Value::Null);
    assert_eq!(customer["totalOrders"], json!(0));
    assert_eq!(customer["totalSpent"].as_f64(), Some(0.0));
    assert_eq!(customer["lifetimeValue"].as_f64(), Some(0.0));
    assert_eq!(customer["createdAt"], customer["updatedAt"]);
}

async fn money_is_rendered_with_two_decimals(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let get = app.get_profile(&token).await.text().await.expect("body");
    let patch = app
        .patch_profile(&token, &seed_patch())
        .await
        .text()
        .await
        .expect("body");
    for text in [get, patch] {
        assert!(text.contains(r#""totalSpent":0.00"#), "{text}");
        assert!(text.contains(r#""lifetimeValue":0.00"#), "{text}");
        assert!(text.contains(r#""totalOrders":0"#), "{text}");
    }
}

async fn order_totals_keep_two_decimals_through_a_patch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.cli_json(&[
        "customers",
        "create",
        "--email",
        "customer@example.com",
        "--subject",
        "user_seed",
        "--total-orders",
        "5",
        "--total-spent",
        "150.00",
        "--lifetime-value",
        "200.5",
    ]);
    let token = app.token("user_seed");
    let patch = app
        .patch_profile(&token, &seed_patch())
        .await
        .text()
        .await
        .expect("body");
    let get = app.get_profile(&token).await.text().await.expect("body");
    for text in [patch, get] {
        assert!(text.contains(r#""totalOrders":5,"#), "{text}");
        assert!(text.contains(r#""totalSpent":150.00,"#), "{text}");
        assert!(text.contains(r#""lifetimeValue":200.50,"#), "{text}");
    }
}

async fn customer_numbers_count_per_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.create_customer("first@example.com", Some("user_first"));
    let second = app.create_customer("second@example.com", Some("user_second"));
    assert_eq!(first["customerNumber"], json!("CUST-000001"));
    assert_eq!(second["customerNumber"], json!("CUST-000002"));
    let seen = snapshot(&app, &app.token("user_second")).await;
    assert_eq!(seen.customer["customerNumber"], json!("CUST-000002"));

    // Another organization starts its own sequence.
    app.cli_json(&[
        "customers",
        "create",
        "--email",
        "other@example.com",
        "--organization",
        "org_other",
        "--subject",
        "user_other",
    ]);
    let mut claims = app.claims("user_other");
    claims["organization_id"] = json!("org_other");
    let other = snapshot(&app, &app.sign(&claims)).await;
    assert_eq!(other.customer["customerNumber"], json!("CUST-000001"));
}

async fn get_without_customer_returns_null_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let body = json_of(app.get_profile(&app.token("user_nobody")).await, 200).await;
    assert_success_envelope(&body);
    assert_eq!(
        body["data"],
        json!({"user": {"id": "user_nobody", "email": null}, "customer": null})
    );

    // The email claim is echoed even when no customer has that address.
    let token = app.token_with_email("user_mail", "someone@example.com", false);
    let body = json_of(app.get_profile(&token).await, 200).await;
    assert_eq!(
        body["data"],
        json!({"user": {"id": "user_mail", "email": "someone@example.com"}, "customer": null})
    );
}

// ---------------------------------------------------------------------------
// PATCH /profile: the seed example and partial updates
// ---------------------------------------------------------------------------

async fn seed_example_updates_and_returns_whole_customer(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let before = snapshot(&app, &token).await;
    assert_eq!(before.etag, "\"1\"");

    let response = app.patch_profile(&token, &seed_patch()).await;
    let etag = etag_header(&response);
    let body = json_of(response, 200).await;
    assert_success_envelope(&body);
    assert_eq!(keys(&body["data"]), ["customer"], "{body}");
    let customer = &body["data"]["customer"];
    assert_customer_shape(customer);
    assert_eq!(
        etag.as_deref(),
        Some("\"2\""),
        "ETag after the first change"
    );

    assert_eq!(customer["firstName"], json!("John"));
    assert_eq!(customer["lastName"], json!("Smith"));
    assert_eq!(customer["displayName"], json!("John Smith"));
    assert_eq!(customer["phone"], json!("+1234567890"));
    assert_eq!(customer["profilePhoto"], Value::Null);
    assert_eq!(customer["email"], json!("customer@example.com"));
    assert_eq!(customer["status"], json!("active"));
    assert_only_changed(
        &before.customer,
        customer,
        &["firstName", "lastName", "displayName", "phone", "updatedAt"],
    );

    let created_at = customer["createdAt"].as_str().unwrap();
    let updated_at = customer["updatedAt"].as_str().unwrap();
    assert_ne!(
        customer["updatedAt"], before.customer["updatedAt"],
        "updatedAt did not change"
    );
    assert!(
        updated_at >= created_at,
        "updatedAt {updated_at} < createdAt {created_at}"
    );
    assert!(updated_at > before.customer["updatedAt"].as_str().unwrap());

    // A following GET shows the same customer and ETag.
    let after = snapshot(&app, &token).await;
    assert_eq!(&after.customer, customer);
    assert_eq!(after.etag, "\"2\"");

    // Each change bumps the version by one.
    let third = patch_ok(&app, &token, &json!({"phone": "+1987654321"})).await;
    assert_eq!(third.etag, "\"3\"");
    assert_eq!(snapshot(&app, &token).await, third);
}

async fn only_fields_present_change(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    let mut current = patch_ok(&app, &token, &seed_patch()).await.customer;

    let steps: [(Value, &[&str]); 6] = [
        (json!({"phone": "+1987654321"}), &["phone"]),
        (
            json!({"profilePhoto": "https://cdn.example.com/me.jpg"}),
            &["profilePhoto"],
        ),
        (json!({"displayName": "Johnny"}), &["displayName"]),
        (json!({"firstName": "Jack"}), &["firstName", "displayName"]),
        (json!({"phone": null}), &["phone"]),
        (json!({"profilePhoto": null}), &["profilePhoto"]),
    ];
    for (body, changed) in steps {
        let next = patch_ok(&app, &token, &body).await.customer;
        let mut changed = changed.to_vec();
        changed.push("updatedAt");
        assert_only_changed(&current, &next, &changed);
        current = next;
    }
    assert_eq!(current["firstName"], json!("Jack"));
    assert_eq!(current["lastName"], json!("Smith"));
    assert_eq!(current["displayName"], json!("Jack Smith"));
    assert_eq!(current["phone"], Value::Null);
    assert_eq!(current["profilePhoto"], Value::Null);
}

async fn empty_patch_changes_nothing_and_keeps_version(backend: Backend) {
    let (app, token) = app_with_customer(backend).await;
    patch_ok(&app, &token, &seed_patch()).await;
    let before = snapshot(&app, &token).await;

    let response = patch_ok(&app, &token, &json!({})).await;
    assert_eq!(
        response, before,
        "PATCH {{}} must return the unchanged customer and ETag"
    );
    assert_eq!(
        snapshot(&app, &token).await,
        before,
        "PATCH {{}} bumped or changed something"
    );
}

// ---------------------------------------------------------------------------
// Names: trimming, lengths, control characters, null, derivation
// ---------------------------------------------------------------------------
