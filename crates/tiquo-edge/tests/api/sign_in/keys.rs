//! Signed-in users' access tokens as outsiders see them: OIDC discovery, the
//! JWKS, verification with an ordinary JWT library, and key rotation with
//! `tiquo-edge keys rotate`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Value, json};

use super::{app_with_mail, claims_of, header_of, sign_in};
use crate::helpers::{Backend, TestApp, assert_error, assert_timestamp, json_of};
use crate::photos::execute;

crate::both_backends!(
    sign_in_tokens_verify_with_the_discovered_jwks,
    rotation_keeps_old_tokens_until_they_expire,
);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `2025-01-15T10:30:00.000Z` as Unix ms.
fn ms_of(iso: &Value) -> i64 {
    assert_timestamp(iso);
    let s = iso.as_str().unwrap();
    let n = |from: usize, to: usize| -> i64 { s[from..to].parse().unwrap() };
    let date = time::Date::from_calendar_date(
        n(0, 4) as i32,
        time::Month::try_from(n(5, 7) as u8).unwrap(),
        n(8, 10) as u8,
    )
    .unwrap();
    let clock = time::Time::from_hms_milli(
        n(11, 13) as u8,
        n(14, 16) as u8,
        n(17, 19) as u8,
        n(20, 23) as u16,
    )
    .unwrap();
    (time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp_nanos()
        / 1_000_000) as i64
}

fn access_of(tokens: &Value) -> String {
    tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token: {tokens}"))
        .to_owned()
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("token without kid: {token}"))
        .to_owned()
}

async fn get_json(app: &TestApp, url: &str) -> Value {
    json_of(app.client.get(url).send().await.expect("request"), 200).await
}

/// The kids the running server publishes.
async fn published_kids(app: &TestApp) -> BTreeSet<String> {
    let jwks = get_json(app, &app.url("/api/oauth2/jwks")).await;
    jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("not a JWKS: {jwks}"))
        .iter()
        .map(|k| k["kid"].as_str().expect("a kid").to_owned())
        .collect()
}

/// `keys list` (with the server's access-token TTL), newest first.
fn keys_list(app: &TestApp, ttl: &str) -> Vec<Value> {
    let listed = app.cli_json(&["keys", "list", "--access-token-ttl", ttl]);
    listed["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys: {listed}"))
        .clone()
}

fn key_entry<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter()
        .find(|k| k["kid"] == json!(kid))
        .unwrap_or_else(|| panic!("{kid} not listed: {keys:?}"))
}

async fn sign_in_tokens_verify_with_the_discovered_jwks(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    app.create_customer("verify@example.com", None);

    let discovery = get_json(&app, &app.url("/.well-known/openid-configuration")).await;
    let issuer = discovery["issuer"].as_str().expect("issuer").to_owned();
    assert_eq!(issuer, app.issuer, "{discovery}");
    let algorithms = discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap_or_else(|| panic!("no signing algorithms: {discovery}"));
    assert!(algorithms.contains(&json!("RS256")), "{discovery}");
    let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
    let jwks_value = get_json(&app, jwks_uri).await;
    let jwks: JwkSet = serde_json::from_value(jwks_value.clone()).expect("a JWKS");

    let before = now_ms() / 1000;
    let tokens = sign_in(&app, &sink, "verify@example.com", 1).await;
    let access = access_of(&tokens);
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("a kid header");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("the token's kid {kid} is not in {jwks_value}"));
    let key = DecodingKey::from_jwk(jwk).expect("a usable JWK");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["tiquo-client-api"]);
    validation.set_issuer(&[&issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(&access, &key, &validation)
        .expect("the sign-in token verifies with the published key")
        .claims;

    assert_eq!(claims["iss"], json!(issuer), "{claims}");
    assert_eq!(claims["aud"], json!("tiquo-client-api"), "{claims}");
    assert_eq!(claims["sub"], tokens["user"]["id"], "{claims}");
    assert_eq!(claims["email"], json!("verify@example.com"), "{claims}");
    assert_eq!(claims["email_verified"], json!(true), "{claims}");
    assert_eq!(
        claims["organization_id"],
        json!(tiquo_edge::auth::DEFAULT_ORGANIZATION),
        "{claims}"
    );
    assert_eq!(claims["token_source"], json!("dom"), "{claims}");
    for id in ["jti", "sid"] {
        assert!(
            claims[id].as_str().is_some_and(|v| !v.is_empty()),
            "{id}: {claims}"
        );
    }
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (before - 5..=now_ms() / 1000 + 5).contains(&iat),
        "{claims}"
    );
    assert_eq!(claims["nbf"].as_i64(), Some(iat), "{claims}");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600), "{claims}");

    // A token altered after signing does not verify.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut forged = claims.clone();
    forged["sub"] = json!("user_someone_else");
    parts[1] = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string())
    };
    assert!(jsonwebtoken::decode::<Value>(&parts.join("."), &key, &validation).is_err());
}

async fn rotation_keeps_old_tokens_until_they_expire(backend: Backend) {
    let ttl = "600";
    let ttl_ms = 600_000;
    let (app, sink) = app_with_mail(backend, &["--access-token-ttl", ttl]).await;
    app.create_customer("before@example.com", None);
    app.create_customer("after@example.com", None);
    app.create_customer("x@example.com", Some("user_x"));

    let before = sign_in(&app, &sink, "before@example.com", 1).await;
    assert_eq!(before["expires_in"], json!(600), "{before}");
    let t1 = access_of(&before);
    let k1 = kid_of(&t1);
    assert_eq!(k1, app.kid());
    let claims = claims_of(&t1);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );

    let rotate_started = now_ms();
    let rotated = app.cli_json(&["keys", "rotate", "--access-token-ttl", ttl]);
    let rotate_done = now_ms();
    let keys = rotated["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 2, "{rotated}");
    let k2 = keys[0]["kid"].as_str().expect("new kid").to_owned();
    assert_ne!(k2, k1);
    assert_eq!(keys[0]["signing"], json!(true), "{rotated}");
    assert_eq!(keys[0]["published"], json!(true), "{rotated}");
    assert_eq!(keys[0]["retiredAt"], Value::Null, "{rotated}");
    assert_eq!(keys[1]["kid"], json!(k1), "{rotated}");
    assert_eq!(keys[1]["signing"], json!(false), "{rotated}");
    assert_eq!(keys[1]["published"], json!(true), "{rotated}");
    assert_timestamp(&keys[0]["createdAt"]);

    // The old token still works on the running server.
    json_of(app.get_profile(&t1).await, 200).await;

    // A token signed with the new key (by the CLI) is accepted at once.
    let out = app.cli(&["token", "issue", "--subject", "user_x"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t2 = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(kid_of(&t2), k2, "the CLI signs with the new key");
    json_of(app.get_profile(&t2).await, 200).await;

    // Both keys are published.
    let kids = published_kids(&app).await;
    assert!(kids.contains(&k1) && kids.contains(&k2), "{kids:?}");

    // New sign-ins are signed with the new key.
    let after = sign_in(&app, &sink, "after@example.com", 1).await;
    let t3 = access_of(&after);
    assert_eq!(kid_of(&t3), k2, "a sign-in after rotation uses the new key");
    json_of(app.get_profile(&t3).await, 200).await;

    // The old key stays listed as published until its tokens have expired.
    let listed = keys_list(&app, ttl);
    let old = key_entry(&listed, &k1);
    assert_eq!(old["published"], json!(true), "{old}");
    assert_eq!(old["signing"], json!(false), "{old}");
    let retired = ms_of(&old["retiredAt"]);
    assert!(
        (rotate_started - 1000..=rotate_done + 1000).contains(&retired),
        "retiredAt {retired} is not the rotation time ({rotate_started}..{rotate_done})"
    );
    let until = ms_of(&old["publishedUntil"]);
    let margin = ttl_ms + 60_000;
    assert!(
        (rotate_started + margin - 1000..=rotate_done + margin + 1000).contains(&until),
        "publishedUntil {until} is not rotation + access TTL + 60 s \
         ({rotate_started}..{rotate_done} + {margin})"
    );
    let new = key_entry(&listed, &k2);
    assert_eq!(new["signing"], json!(true), "{new}");
    assert_eq!(listed[0]["kid"], json!(k2), "newest first: {listed:?}");

    // Once its tokens have expired, the old key is no longer published …
    execute(
        &app,
        "UPDATE signing_keys SET publish_until_ms = 1 WHERE retired_at_ms IS NOT NULL",
    )
    .await;
    let listed = keys_list(&app, ttl);
    assert_eq!(key_entry(&listed, &k1)["published"], json!(false));
    assert_eq!(key_entry(&listed, &k2)["published"], json!(true));

    // … and the server drops it (its periodic reload, or one prompted by a
    // token naming an unknown key).
    let mut probe = Header::new(Algorithm::RS256);
    probe.kid = Some("unknown-kid-probe".to_owned());
    let probe = app.sign_with_header(&probe, &app.claims("user_probe"));
    let aged = Instant::now();
    loop {
        let kids = published_kids(&app).await;
        if !kids.contains(&k1) {
            assert_eq!(kids, BTreeSet::from([k2.clone()]));
            break;
        }
        assert!(
            aged.elapsed() < Duration::from_secs(35),
            "the expired key is still published after 35 s: {kids:?}"
        );
        assert_error(app.get_profile(&probe).await, 401, "invalid_token").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("old key unpublished after {:?}", aged.elapsed());

    // Tokens signed with it are refused; the new key's still work.
    assert_error(app.get_profile(&t1).await, 401, "invalid_token").await;
    json_of(app.get_profile(&t2).await, 200).await;
    json_of(app.get_profile(&t3).await, 200).await;
}
