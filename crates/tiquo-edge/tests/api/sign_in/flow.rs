//! The whole path a website takes: code by email, profile, refresh, logout.

use serde_json::json;

use super::{app_with_mail, claims_of, header_of, logout, refresh, send, sign_in};
use crate::helpers::{Backend, assert_error, json_of};
use crate::photos::{execute, query_i64};

crate::both_backends!(
    sign_in_edit_refresh_logout,
    gc_drops_sign_in_records_past_use
);

async fn sign_in_edit_refresh_logout(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let customer = app.create_customer("shopper@example.com", None);

    let tokens = sign_in(&app, &sink, "Shopper@Example.com", 1).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh_token.starts_with("rt_"), "{tokens}");
    assert_eq!(tokens["expires_in"], json!(3600));
    assert!(tokens["user"]["id"].as_str().unwrap().starts_with("user_"));
    let claims = claims_of(&access);
    assert_eq!(claims["token_source"], json!("dom"));
    assert_eq!(claims["sub"], tokens["user"]["id"]);
    assert!(claims["sid"].as_str().is_some(), "{claims}");
    assert_eq!(header_of(&access)["kid"], json!(app.kid()));
    let expires_at = tokens["expires_at"].as_i64().unwrap();
    assert_eq!(expires_at, claims["exp"].as_i64().unwrap() * 1000);

    // The mail went to the address, from the configured sender.
    let mail = sink.wait_for("Shopper@Example.com", 1).await;
    assert!(mail.from.contains("no-reply@shop.test"), "{mail:?}");

    // The customer with that email is linked; the profile can be edited.
    let profile = json_of(app.get_profile(&access).await, 200).await;
    assert_eq!(profile["data"]["customer"]["id"], customer["id"]);
    let patched = app
        .patch_profile(&access, &json!({ "firstName": "Shelly" }))
        .await;
    assert_eq!(
        json_of(patched, 200).await["data"]["customer"]["firstName"],
        json!("Shelly")
    );

    // Refresh gives a new pair; the new access token works.
    let renewed = json_of(refresh(&app, &refresh_token).await, 200).await["data"].clone();
    let access2 = renewed["access_token"].as_str().unwrap().to_owned();
    assert_ne!(renewed["refresh_token"], json!(refresh_token));
    assert_eq!(claims_of(&access2)["sid"], claims["sid"]);
    json_of(app.get_profile(&access2).await, 200).await;

    // Logout ends the session: both access tokens and the refresh token stop working.
    json_of(logout(&app, &access2).await, 200).await;
    assert_error(app.get_profile(&access2).await, 401, "invalid_token").await;
    assert_error(app.get_profile(&access).await, 401, "invalid_token").await;
    let next = renewed["refresh_token"].as_str().unwrap();
    assert_error(refresh(&app, next).await, 401, "invalid_refresh_token").await;
}

async fn gc_drops_sign_in_records_past_use(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    json_of(
        send(&app, &json!({ "email": "old@example.com" })).await,
        200,
    )
    .await;
    sink.wait_for("old@example.com", 1).await;
    let fresh = sign_in(&app, &sink, "fresh@example.com", 1).await;

    // Nothing is past use yet.
    let report = app.cli_json(&["gc"]);
    assert_eq!(report["expiredSignInRecords"], json!(0), "{report}");

    // The unused code expires, its send records leave the hour window, and
    // the refresh token expires.
    execute(&app, "UPDATE otp_codes SET expires_at_ms = 1").await;
    execute(&app, "UPDATE otp_sends SET sent_at_ms = 1").await;
    execute(&app, "UPDATE refresh_tokens SET expires_at_ms = 1").await;
    let sends = query_i64(&app, "SELECT COUNT(*) FROM otp_sends").await;
    assert_eq!(sends, 4, "two sends, each counted per address and per IP");
    let report = app.cli_json(&["gc"]);
    // 4 send records + 1 code + 1 refresh token.
    assert_eq!(report["expiredSignInRecords"], json!(6), "{report}");
    let report = app.cli_json(&["gc"]);
    assert_eq!(report["expiredSignInRecords"], json!(0), "{report}");
    let token = fresh["refresh_token"].as_str().unwrap();
    assert_error(refresh(&app, token).await, 401, "invalid_refresh_token").await;
}
