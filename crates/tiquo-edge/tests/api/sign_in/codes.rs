//! Email codes, the happy paths and the shape of things: what sending
//! answers (the same for every address, in about the same time), the mail,
//! the tokens a code buys, the user and customer behind them, and bad input.
//! Limits, expiry, burning, races and bad input are in `codes_limits.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tiquo_edge::config::DEFAULT_AUDIENCE;

use super::{app_with_mail, claims_of, header_of, send, sign_in, verify};
use crate::helpers::{Backend, TestApp, assert_error, json_of};

crate::both_backends!(
    send_answers_the_same_for_known_and_unknown_addresses,
    send_takes_as_long_for_known_and_unknown_addresses,
    code_mail_has_text_and_html_parts_from_the_sender,
    verify_answers_tokens_with_the_specified_claims,
    access_token_ttl_flag_sets_the_token_lifetime,
    users_are_per_organization_and_email,
    existing_customer_is_linked_case_insensitively,
    auto_create_customers_creates_and_links_one_customer,
    without_a_customer_the_profile_is_empty,
);

/// Now, in Unix milliseconds.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Moves every recorded send two minutes into the past, which lifts the
/// per-minute limits (instead of waiting a minute).
pub(super) async fn age_sends(app: &TestApp) {
    crate::photos::execute(app, "UPDATE otp_sends SET sent_at_ms = sent_at_ms - 120000").await;
}

/// A six-digit code that is not `code` (`code + n`, wrapping; `n` in 1..=999_999).
pub(super) fn wrong(code: &str, n: u32) -> String {
    let value: u32 = code.parse().expect("a numeric code");
    format!("{:06}", (value + n) % 1_000_000)
}

/// `POST /auth/otp/send` with `body`, which must answer 200 `{"sent":true}`.
pub(super) async fn send_ok(app: &TestApp, body: &Value) {
    let answer = json_of(send(app, body).await, 200).await;
    assert_eq!(answer["success"], json!(true), "{answer}");
    assert_eq!(answer["data"], json!({ "sent": true }), "{answer}");
}

/// Checks a 429 `too_many_requests` with an integer `Retry-After` > 0;
/// returns the seconds.
pub(super) async fn assert_throttled(response: reqwest::Response) -> u64 {
    let header = response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on {}", response.status()))
        .to_str()
        .expect("Retry-After is ASCII")
        .to_owned();
    assert_error(response, 429, "too_many_requests").await;
    let secs: u64 = header
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not integer seconds: {header:?}"));
    assert!(secs > 0, "Retry-After: {secs}");
    secs
}

/// Checks a 401 `invalid_code`; returns its message.
pub(super) async fn assert_invalid_code(response: reqwest::Response) -> String {
    let body = assert_error(response, 401, "invalid_code").await;
    body["error"].as_str().unwrap().to_owned()
}

/// The response's headers, without `date`, for comparing two answers.
fn headers_but_date(response: &reqwest::Response) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in response.headers() {
        if name.as_str() != "date" {
            map.entry(name.as_str().to_owned())
                .or_default()
                .push(value.to_str().unwrap_or("<binary>").to_owned());
        }
    }
    map
}

/// `data` of `GET /profile`.
async fn profile(app: &TestApp, tokens: &Value) -> Value {
    let access = tokens["access_token"].as_str().expect("access_token");
    json_of(app.get_profile(access).await, 200).await["data"].clone()
}

async fn send_answers_the_same_for_known_and_unknown_addresses(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    app.create_customer("known@example.com", None);

    let known = send(&app, &json!({ "email": "known@example.com" })).await;
    let unknown = send(&app, &json!({ "email": "stranger@example.com" })).await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(headers_but_date(&known), headers_but_date(&unknown));
    // The same body but for the time it was answered.
    let mut bodies = Vec::new();
    for response in [known, unknown] {
        let mut body = json_of(response, 200).await;
        let timestamp = body
            .as_object_mut()
            .and_then(|b| b.remove("timestamp"))
            .unwrap_or(Value::Null);
        crate::helpers::assert_timestamp(&timestamp);
        bodies.push(body);
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(
        bodies[0],
        json!({ "success": true, "data": { "sent": true } })
    );

    // Both get a code: nothing about the answer or the mail depends on an account.
    let a = sink.code_for("known@example.com", 1).await;
    let b = sink.code_for("stranger@example.com", 1).await;
    assert_eq!((a.len(), b.len()), (6, 6));
}

async fn send_takes_as_long_for_known_and_unknown_addresses(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    for i in 0..4 {
        app.create_customer(&format!("known{i}@example.com"), None);
    }
    // One unmeasured send opens the connection and warms the server up.
    send_ok(&app, &json!({ "email": "warmup@example.com" })).await;

    // 9 sends in all: under the limit of 10 per minute from one address.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..4 {
        for (prefix, times) in [("known", &mut known), ("unknown", &mut unknown)] {
            let body = json!({ "email": format!("{prefix}{i}@example.com") });
            let started = Instant::now();
            let response = send(&app, &body).await;
            times.push(started.elapsed());
            assert_eq!(response.status(), 200);
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        (times[1] + times[2]) / 2
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    let ratio = k.as_secs_f64().max(u.as_secs_f64()) / k.as_secs_f64().min(u.as_secs_f64());
    assert!(
        ratio < 3.0,
        "median send time: known addresses {k:?}, unknown {u:?} (ratio {ratio:.2})"
    );

    // Both kinds of address were mailed.
    for i in 0..4 {
        sink.wait_for(&format!("known{i}@example.com"), 1).await;
        sink.wait_for(&format!("unknown{i}@example.com"), 1).await;
    }
}

/// The part of a MIME message after the `Content-Type: <mime>` line, up to
/// the next boundary, with quoted-printable soft line breaks undone.
fn part(data: &str, mime: &str) -> String {
    let lower = data.to_ascii_lowercase();
    let start = lower
        .find(&format!("content-type: {mime}"))
        .unwrap_or_else(|| panic!("no {mime} part in: {data}"));
    let rest = &data[start..];
    let end = rest.find("\r\n--").unwrap_or(rest.len());
    rest[..end].replace("=\r\n", "").replace("=3D", "=")
}

async fn code_mail_has_text_and_html_parts_from_the_sender(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    send_ok(&app, &json!({ "email": "reader@example.com" })).await;
    let mail = sink.wait_for("reader@example.com", 1).await;
    let code = sink.code_for("reader@example.com", 1).await;

    assert_eq!(mail.from, "no-reply@shop.test", "envelope sender");
    assert_eq!(mail.to, vec!["reader@example.com".to_owned()]);
    let lower = mail.data.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: multipart/alternative"),
        "{}",
        mail.data
    );
    let from_header = mail
        .data
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("from:"))
        .unwrap_or_else(|| panic!("no From: header in {}", mail.data));
    assert!(from_header.contains("no-reply@shop.test"), "{from_header}");
    for mime in ["text/plain", "text/html"] {
        let body = part(&mail.data, mime);
        assert!(
            body.contains(&code),
            "{mime} part lacks the code {code}: {body}"
        );
        assert!(
            body.contains("10 minutes"),
            "{mime} part lacks the lifetime: {body}"
        );
    }
    // Exactly one mail: nothing else was sent to anyone.
    assert_eq!(sink.mails().len(), 1, "{:?}", sink.mails());
}

/// Checks the tokens `verify` answered and the claims of its access token.
async fn check_tokens(app: &TestApp, tokens: &Value, email: &str, ttl: i64, before_ms: i64) {
    let after_ms = now_ms();
    let access = tokens["access_token"].as_str().expect("access_token");
    assert!(
        tokens["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() > 20),
        "{tokens}"
    );
    assert_eq!(tokens["expires_in"], json!(ttl), "{tokens}");
    let expires_at = tokens["expires_at"].as_i64().expect("expires_at in ms");
    assert!(
        expires_at >= before_ms - 1000 + ttl * 1000 && expires_at <= after_ms + 1000 + ttl * 1000,
        "expires_at {expires_at} is not now + {ttl} s in ms ({before_ms}..{after_ms})"
    );
    let user_id = tokens["user"]["id"].as_str().expect("user.id");
    assert!(
        user_id.starts_with("user_") && user_id.len() > 10,
        "{user_id}"
    );
    assert!(
        tokens["user"]["email"]
            .as_str()
            .is_some_and(|e| e.eq_ignore_ascii_case(email)),
        "{tokens}"
    );

    let claims = claims_of(access);
    assert_eq!(claims["iss"], json!(app.issuer), "{claims}");
    assert!(
        claims["aud"] == json!(DEFAULT_AUDIENCE)
            || claims["aud"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(DEFAULT_AUDIENCE))),
        "{claims}"
    );
    assert_eq!(claims["sub"], json!(user_id), "{claims}");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, ttl, "{claims}");
    assert_eq!(exp * 1000, expires_at, "{claims}");
    assert!(claims["nbf"].as_i64().is_some_and(|n| n <= iat), "{claims}");
    for id in ["jti", "sid"] {
        assert!(
            claims[id].as_str().is_some_and(|s| !s.is_empty()),
            "{id}: {claims}"
        );
    }
    assert!(
        claims["email"]
            .as_str()
            .is_some_and(|e| e.eq_ignore_ascii_case(email)),
        "{claims}"
    );
    assert_eq!(claims["email_verified"], json!(true), "{claims}");
    assert_eq!(claims["token_source"], json!("dom"), "{claims}");

    // RS256 with a kid the JWKS publishes, and the published key verifies it.
    let header = header_of(access);
    assert_eq!(header["alg"], json!("RS256"), "{header}");
    let kid = header["kid"].as_str().expect("kid");
    let jwks: JwkSet = app
        .client
        .get(app.url("/api/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("JWKS");
    let jwk = jwks.find(kid).expect("the token's kid is in the JWKS");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[DEFAULT_AUDIENCE]);
    validation.set_issuer(&[&app.issuer]);
    jsonwebtoken::decode::<Value>(access, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the published key verifies the token");
}

async fn verify_answers_tokens_with_the_specified_claims(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let before = now_ms();
    send_ok(&app, &json!({ "email": "claims@example.com" })).await;
    let code = sink.code_for("claims@example.com", 1).await;
    let answer = json_of(
        verify(
            &app,
            &json!({ "email": "claims@example.com", "code": code }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(answer["success"], json!(true), "{answer}");
    let tokens = &answer["data"];
    check_tokens(&app, tokens, "claims@example.com", 3600, before).await;
    assert_eq!(
        claims_of(tokens["access_token"].as_str().unwrap())["organization_id"],
        json!("org_default")
    );
    // The server accepts its own token.
    let me = profile(&app, tokens).await;
    assert_eq!(me["user"]["id"], tokens["user"]["id"], "{me}");
}

async fn access_token_ttl_flag_sets_the_token_lifetime(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &["--access-token-ttl", "120"]).await;
    let before = now_ms();
    let tokens = sign_in(&app, &sink, "brief@example.com", 1).await;
    check_tokens(&app, &tokens, "brief@example.com", 120, before).await;
}

async fn users_are_per_organization_and_email(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let first = sign_in(&app, &sink, "multi@example.com", 1).await;
    let user = first["user"]["id"].clone();

    // A later sign-in with the same email (in any case) is the same user.
    age_sends(&app).await;
    let again = sign_in(&app, &sink, "Multi@Example.COM", 2).await;
    assert_eq!(again["user"]["id"], user, "{again}");

    // Another organization: its own code and its own user.
    let other = json!({ "email": "multi@example.com", "organizationId": "org_other" });
    send_ok(&app, &other).await;
    let code = sink.code_for("multi@example.com", 3).await;
    // That code does not sign in to the default organization.
    assert_invalid_code(verify(&app, &json!({ "email": "multi@example.com", "code": code })).await)
        .await;
    let mut body = other.clone();
    body["code"] = json!(code);
    let there = json_of(verify(&app, &body).await, 200).await["data"].clone();
    let other_user = there["user"]["id"].as_str().unwrap();
    assert!(other_user.starts_with("user_"), "{there}");
    assert_ne!(json!(other_user), user, "one user across organizations");
    let claims = claims_of(there["access_token"].as_str().unwrap());
    assert_eq!(claims["organization_id"], json!("org_other"), "{claims}");
    assert_eq!(claims["sub"], json!(other_user), "{claims}");
}

async fn existing_customer_is_linked_case_insensitively(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let customer = app.create_customer("Linked.Person@Example.com", None);
    let elsewhere = app.cli_json(&[
        "customers",
        "create",
        "--email",
        "elsewhere@example.com",
        "--organization",
        "org_b",
    ]);

    let tokens = sign_in(&app, &sink, "linked.person@EXAMPLE.COM", 1).await;
    let me = profile(&app, &tokens).await;
    assert_eq!(me["customer"]["id"], customer["id"], "{me}");

    // A customer already linked to another identity is linked to this one too.
    let shared = app.create_customer("shared@example.com", Some("user_elsewhere"));
    let tokens = sign_in(&app, &sink, "shared@example.com", 1).await;
    let me = profile(&app, &tokens).await;
    assert_eq!(me["customer"]["id"], shared["id"], "{me}");

    // A customer of another organization is not linked...
    let tokens = sign_in(&app, &sink, "elsewhere@example.com", 1).await;
    let me = profile(&app, &tokens).await;
    assert!(me.get("customer").is_some_and(Value::is_null), "{me}");

    // ...but is when signing in to that organization.
    let body = json!({ "email": "elsewhere@example.com", "organizationId": "org_b" });
    send_ok(&app, &body).await;
    let mut body = body;
    body["code"] = json!(sink.code_for("elsewhere@example.com", 2).await);
    let tokens = json_of(verify(&app, &body).await, 200).await["data"].clone();
    let me = profile(&app, &tokens).await;
    assert_eq!(me["customer"]["id"], elsewhere["id"], "{me}");
}

async fn auto_create_customers_creates_and_links_one_customer(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &["--auto-create-customers"]).await;
    let existing = app.create_customer("had@example.com", None);

    let tokens = sign_in(&app, &sink, "new.person@example.com", 1).await;
    let me = profile(&app, &tokens).await;
    let created = me["customer"]["id"]
        .as_str()
        .expect("a customer was created");
    assert_ne!(json!(created), existing["id"]);
    assert!(
        me["customer"]["email"]
            .as_str()
            .is_some_and(|e| e.eq_ignore_ascii_case("new.person@example.com")),
        "{me}"
    );
    let access = tokens["access_token"].as_str().unwrap();
    let patched = json_of(
        app.patch_profile(access, &json!({ "firstName": "Nova" }))
            .await,
        200,
    )
    .await;
    assert_eq!(patched["data"]["customer"]["firstName"], json!("Nova"));

    // The next sign-in finds that customer instead of creating another.
    age_sends(&app).await;
    let tokens = sign_in(&app, &sink, "New.Person@example.com", 2).await;
    let me = profile(&app, &tokens).await;
    assert_eq!(me["customer"]["id"], json!(created), "{me}");

    // An existing customer is linked, not duplicated.
    let tokens = sign_in(&app, &sink, "had@example.com", 1).await;
    let me = profile(&app, &tokens).await;
    assert_eq!(me["customer"]["id"], existing["id"], "{me}");
}

async fn without_a_customer_the_profile_is_empty(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let tokens = sign_in(&app, &sink, "nobody@example.com", 1).await;
    let me = profile(&app, &tokens).await;
    assert!(me.get("customer").is_some_and(Value::is_null), "{me}");
    assert_eq!(me["user"]["id"], tokens["user"]["id"], "{me}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_error(
        app.patch_profile(access, &json!({ "firstName": "Ghost" }))
            .await,
        400,
        "no_customer_profile",
    )
    .await;
}
