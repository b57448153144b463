//! Customer sign-in and sessions: email codes (through a real SMTP server on
//! loopback, [`smtp::SmtpSink`]), refresh-token rotation, logout, OIDC
//! discovery and key rotation. Lifetimes are shortened with the TTL flags
//! instead of sleeping.

#![allow(dead_code)]

pub mod smtp;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, json_of};
use smtp::SmtpSink;

/// An app that mails codes to a fresh sink, with extra flags.
pub async fn app_with_mail(backend: Backend, extra_flags: &[&str]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let mut flags = vec![
        "--smtp-url",
        sink.url.as_str(),
        "--mail-from",
        "Shop <no-reply@shop.test>",
    ];
    flags.extend_from_slice(extra_flags);
    let app = TestApp::spawn_with(backend, &flags).await;
    (app, sink)
}

/// `POST /auth/otp/send` with a JSON body.
pub async fn send(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(app.api("/auth/otp/send"))
        .json(body)
        .send()
        .await
        .expect("request")
}

/// `POST /auth/otp/verify` with a JSON body.
pub async fn verify(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(app.api("/auth/otp/verify"))
        .json(body)
        .send()
        .await
        .expect("request")
}

/// `POST /refresh` with a refresh token.
pub async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.client
        .post(app.api("/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .expect("request")
}

/// `POST /logout` with an access token.
pub async fn logout(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .post(app.api("/logout"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("request")
}

/// The whole sign-in: send, read the code from the mail, verify. `nth` is
/// how many codes this address will have received (1 for the first).
/// Returns the verify `data` (access_token, refresh_token, …).
pub async fn sign_in(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> Value {
    json_of(send(app, &json!({ "email": email })).await, 200).await;
    let code = sink.code_for(email, nth).await;
    let body = json_of(
        verify(app, &json!({ "email": email, "code": code })).await,
        200,
    )
    .await;
    body["data"].clone()
}

/// The claims of a JWT, unverified (for inspecting what the server signed).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The header of a JWT.
pub fn header_of(token: &str) -> Value {
    use base64::Engine;
    let header = token.split('.').next().expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    serde_json::from_slice(&bytes).expect("JSON header")
}

mod codes;
mod codes_limits;
mod flow;
mod keys;
mod log_mode;
mod sessions;
