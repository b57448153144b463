//! Bearer-token authentication, end to end over HTTP.
//!
//! This module covers which tokens `GET /profile` accepts (RS256/ES256 only, the algorithm
//! fixed by the verifying key, never by the header; `none`, HMAC confusion and
//! header-supplied keys refused), the required and optional claims and the
//! 60 s clock leeway, the one 401 every failure answers with, the published
//! JWKS, trusted issuers (JWKS fetched from a little server started here,
//! cached, refetched on an unknown `kid` at most once a minute), and how a
//! token identity finds its customer (account link, verified email, scoped by
//! organization and issuer).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use tiquo_edge::config::DEFAULT_AUDIENCE;

use crate::helpers::*;

mod linking;
mod trusted_issuers;

crate::both_backends!(
    every_refusal_is_the_same_invalid_token_401,
    alg_none_is_refused,
    hs256_keyed_with_the_public_key_is_refused,
    header_algorithm_other_than_the_keys_is_refused,
    embedded_jwk_and_x5c_headers_are_ignored,
    jku_and_x5u_headers_are_never_fetched,
    each_required_claim_is_enforced,
    audience_must_contain_the_client_api,
    issuer_must_be_builtin_or_trusted,
    expiry_has_sixty_seconds_of_leeway,
    not_before_in_the_future_is_refused,
    issued_at_in_the_future_is_refused,
    optional_claims_may_be_absent_or_present,
    jwks_is_published_without_authentication,
    published_jwk_verifies_builtin_tokens,
    configured_audience_and_issuer_are_enforced,
);

/// The message of every authentication failure, whatever the cause.
const INVALID_TOKEN_MESSAGE: &str = "Invalid or expired access token";

/// `iss` of the trusted issuer the trusted-issuer tests configure.
const TRUSTED_ISS: &str = "https://idp.example.test";

// ---------------------------------------------------------------- helpers

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWT assembled by hand: any header, any claims, any signature.
fn forge(header: &Value, claims: &Value, signature: &str) -> String {
    let header = b64url(header.to_string().as_bytes());
    let claims = b64url(claims.to_string().as_bytes());
    format!("{header}.{claims}.{signature}")
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

/// Checks the one 401 all authentication failures share, message included.
async fn assert_invalid_token(response: reqwest::Response) -> Value {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="invalid_token""#)
    );
    let body = assert_error(response, 401, "invalid_token").await;
    assert_eq!(body["error"], json!(INVALID_TOKEN_MESSAGE), "{body}");
    body
}

/// `GET /profile` must answer 200; returns its `data`.
async fn profile_data(app: &TestApp, token: &str) -> Value {
    json_of(app.get_profile(token).await, 200).await["data"].clone()
}

/// An RSA key the server has never seen; returns its signing key and public JWK.
fn attacker_rsa_key() -> (EncodingKey, Jwk) {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = pair.as_der().unwrap();
    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
    let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("attacker".to_owned());
    (encoding, jwk)
}

/// The built-in key's public half as DER (SubjectPublicKeyInfo).
fn builtin_public_key_der(app: &TestApp) -> Vec<u8> {
    let pkcs8 = pem::parse(app.signing_key_pem()).unwrap();
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8.contents()).unwrap();
    pair.public_key().as_der().unwrap().as_ref().to_vec()
}

/// A P-256 key of a trusted issuer, with its public JWK.
struct EcKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl EcKey {
    fn generate(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let encoding = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
        // Uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        assert_eq!((point.len(), point[0]), (65, 0x04));
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..]),
            "kid": kid, "alg": "ES256", "use": "sig",
        });
        Self {
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// Signs with this key but names `kid` in the header.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// Valid claims of the trusted issuer for `sub`.
fn trusted_claims(sub: &str) -> Value {
    let now = now();
    json!({"iss": TRUSTED_ISS, "aud": DEFAULT_AUDIENCE, "sub": sub, "iat": now, "exp": now + 3600})
}

/// A JWKS endpoint on a loopback port that counts its requests and whose key
/// set the test can swap.
struct JwksServer {
    url: String,
    hits: Arc<AtomicUsize>,
    keys: Arc<Mutex<Value>>,
}

type JwksState = (Arc<AtomicUsize>, Arc<Mutex<Value>>);

impl JwksServer {
    async fn start(keys: &[&Value]) -> Self {
        use axum::extract::State;
        let hits = Arc::new(AtomicUsize::new(0));
        let doc = Arc::new(Mutex::new(json!({ "keys": keys })));
        let router = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(|State((hits, doc)): State<JwksState>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let doc = doc.lock().unwrap().clone();
                    axum::Json(doc)
                }),
            )
            .with_state((hits.clone(), doc.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            url,
            hits,
            keys: doc,
        }
    }

    /// Replaces the published key set.
    fn publish(&self, keys: &[&Value]) {
        *self.keys.lock().unwrap() = json!({ "keys": keys });
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// An app trusting [`TRUSTED_ISS`], whose JWKS (served here) holds one EC key.
async fn app_with_trusted_issuer(backend: Backend) -> (TestApp, JwksServer, EcKey) {
    let key = EcKey::generate("idp-key-1");
    let jwks = JwksServer::start(&[&key.jwk]).await;
    let flag = format!("{TRUSTED_ISS}={}", jwks.url);
    let app = TestApp::spawn_with(backend, &["--trusted-issuer", &flag]).await;
    (app, jwks, key)
}

// ---------------------------------------------------------------- failures

async fn every_refusal_is_the_same_invalid_token_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let valid = app.token("user_1");
    assert_eq!(
        profile_data(&app, &valid).await["user"]["id"],
        json!("user_1")
    );

    let mut tampered: Vec<&str> = valid.split('.').collect();
    let other_payload = b64url(app.claims("user_2").to_string().as_bytes());
    tampered[1] = &other_payload;
    let tampered = tampered.join(".");
    let signed_with = |name: &str, value: Value| {
        let mut claims = app.claims("user_1");
        claims[name] = value;
        app.sign(&claims)
    };
    let no_sub = app.sign(&without(app.claims("user_1"), "sub"));
    let expired = signed_with("exp", json!(now() - 3600));
    let future_nbf = signed_with("nbf", json!(now() + 3600));
    let wrong_iss = signed_with("iss", json!("https://evil.example"));
    let wrong_aud = signed_with("aud", json!("another-api"));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("unknown-kid".to_owned());
    let unknown_kid = app.sign_with_header(&header, &app.claims("user_1"));

    let url = app.api("/profile");
    let requests = [
        ("missing header", app.client.get(&url)),
        (
            "basic scheme",
            app.client.get(&url).basic_auth("user", Some("pass")),
        ),
        (
            "bearer without token",
            app.client.get(&url).header("authorization", "Bearer"),
        ),
        ("garbage", app.client.get(&url).bearer_auth("not-a-jwt")),
        (
            "three garbage parts",
            app.client.get(&url).bearer_auth("a.b.c"),
        ),
        (
            "tampered payload",
            app.client.get(&url).bearer_auth(&tampered),
        ),
        ("no sub", app.client.get(&url).bearer_auth(&no_sub)),
        ("expired", app.client.get(&url).bearer_auth(&expired)),
        ("future nbf", app.client.get(&url).bearer_auth(&future_nbf)),
        ("wrong iss", app.client.get(&url).bearer_auth(&wrong_iss)),
        ("wrong aud", app.client.get(&url).bearer_auth(&wrong_aud)),
        (
            "unknown kid",
            app.client.get(&url).bearer_auth(&unknown_kid),
        ),
    ];
    let mut first: Option<Value> = None;
    for (cause, request) in requests {
        let mut body = assert_invalid_token(request.send().await.unwrap()).await;
        // Exactly the envelope, and the same for every cause (bar the time).
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["code", "error", "success", "timestamp"],
            "{cause}: {body}"
        );
        body.as_object_mut().unwrap().remove("timestamp");
        match &first {
            None => first = Some(body),
            Some(first) => assert_eq!(&body, first, "{cause} answers differently"),
        }
    }
    assert_eq!(
        first.unwrap(),
        json!({"success": false, "error": INVALID_TOKEN_MESSAGE, "code": "invalid_token"})
    );
}

// ---------------------------------------------------------------- algorithms

async fn alg_none_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims = app.claims("user_1");
    profile_data(&app, &app.sign(&claims)).await;

    let plain = forge(&json!({"alg": "none", "typ": "JWT"}), &claims, "");
    assert_invalid_token(app.get_profile(&plain).await).await;
    let with_kid = forge(
        &json!({"alg": "none", "typ": "JWT", "kid": app.kid()}),
        &claims,
        "",
    );
    assert_invalid_token(app.get_profile(&with_kid).await).await;
}

async fn hs256_keyed_with_the_public_key_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims = app.claims("user_1");
    let der = builtin_public_key_der(&app);
    let pem_lf = pem::encode_config(
        &pem::Pem::new("PUBLIC KEY", der.clone()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    let jwks_text = app
        .client
        .get(app.url("/api/oauth2/jwks"))
        .send()
        .await
        .unwrap();
    let jwks_text = jwks_text.text().await.unwrap();
    let jwk_text = serde_json::from_str::<Value>(&jwks_text).unwrap()["keys"][0].to_string();

    let secrets: [&[u8]; 4] = [
        pem_lf.as_bytes(),
        jwks_text.as_bytes(),
        jwk_text.as_bytes(),
        &der,
    ];
    for secret in secrets {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(app.kid().to_owned());
        let key = EncodingKey::from_secret(secret).unwrap();
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert_invalid_token(app.get_profile(&token).await).await;
    }
}

async fn header_algorithm_other_than_the_keys_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims = app.claims("user_1");
    // The real key, a real signature, only the algorithm differs from RS256.
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let mut header = Header::new(alg);
        header.kid = Some(app.kid().to_owned());
        let token = app.sign_with_header(&header, &claims);
        assert_invalid_token(app.get_profile(&token).await).await;
    }
    // ES256 is allowed only for a key that is an EC key.
    let ec = EcKey::generate("unused");
    assert_invalid_token(app.get_profile(&ec.sign_as(app.kid(), &claims)).await).await;
}

async fn embedded_jwk_and_x5c_headers_are_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims = app.claims("user_1");
    let (attacker, attacker_jwk) = attacker_rsa_key();

    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(app.kid().to_owned());
    header.jwk = Some(attacker_jwk.clone());
    let token = jsonwebtoken::encode(&header, &claims, &attacker).unwrap();
    assert_invalid_token(app.get_profile(&token).await).await;

    header.kid = Some("attacker".to_owned());
    let token = jsonwebtoken::encode(&header, &claims, &attacker).unwrap();
    assert_invalid_token(app.get_profile(&token).await).await;

    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(app.kid().to_owned());
    header.x5c = Some(vec![STANDARD.encode(b"attacker certificate chain")]);
    let token = jsonwebtoken::encode(&header, &claims, &attacker).unwrap();
    assert_invalid_token(app.get_profile(&token).await).await;
}

async fn jku_and_x5u_headers_are_never_fetched(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims = app.claims("user_1");
    let (attacker, attacker_jwk) = attacker_rsa_key();
    let attacker_jwk = serde_json::to_value(&attacker_jwk).unwrap();
    let evil = JwksServer::start(&[&attacker_jwk]).await;

    for kid in [app.kid(), "attacker"] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        header.jku = Some(evil.url.clone());
        header.x5u = Some(evil.url.clone());
        let token = jsonwebtoken::encode(&header, &claims, &attacker).unwrap();
        assert_invalid_token(app.get_profile(&token).await).await;
    }
    assert_eq!(
        evil.hits(),
        0,
        "the server followed a URL from a token header"
    );
}

// ---------------------------------------------------------------- claims

async fn each_required_claim_is_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims = app.claims("user_1");
    profile_data(&app, &app.sign(&claims)).await;
    for name in ["iss", "aud", "exp", "sub"] {
        let token = app.sign(&without(claims.clone(), name));
        assert_invalid_token(app.get_profile(&token).await).await;
    }
}

async fn audience_must_contain_the_client_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut claims = app.claims("user_1");
    claims["aud"] = json!(["billing-api", DEFAULT_AUDIENCE]);
    profile_data(&app, &app.sign(&claims)).await;
    for aud in [
        json!("billing-api"),
        json!(["billing-api"]),
        json!([]),
        json!(""),
    ] {
        claims["aud"] = aud;
        assert_invalid_token(app.get_profile(&app.sign(&claims)).await).await;
    }
}

async fn issuer_must_be_builtin_or_trusted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut claims = app.claims("user_1");
    profile_data(&app, &app.sign(&claims)).await;
    let near_misses = [
        format!("{}/", app.issuer),
        "https://evil.example".to_owned(),
    ];
    for iss in near_misses {
        claims["iss"] = json!(iss);
        assert_invalid_token(app.get_profile(&app.sign(&claims)).await).await;
    }
}

async fn expiry_has_sixty_seconds_of_leeway(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut claims = app.claims("user_1");
    claims["iat"] = json!(now() - 3600);
    claims["nbf"] = json!(now() - 3600);
    claims["exp"] = json!(now() - 30);
    profile_data(&app, &app.sign(&claims)).await;
    claims["exp"] = json!(now() - 120);
    assert_invalid_token(app.get_profile(&app.sign(&claims)).await).await;
}

async fn not_before_in_the_future_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut claims = app.claims("user_1");
    claims["nbf"] = json!(now() + 30);
    profile_data(&app, &app.sign(&claims)).await;
    claims["nbf"] = json!(now() + 120);
    assert_invalid_token(app.get_profile(&app.sign(&claims)).await).await;
}

async fn issued_at_in_the_future_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut claims = without(app.claims("user_1"), "nbf");
    claims["iat"] = json!(now() + 30);
    profile_data(&app, &app.sign(&claims)).await;
    claims["iat"] = json!(now() + 120);
    assert_invalid_token(app.get_profile(&app.sign(&claims)).await).await;
}

async fn optional_claims_may_be_absent_or_present(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let minimal = json!({
        "iss": app.issuer, "aud": DEFAULT_AUDIENCE, "sub": "user_min", "exp": now() + 600,
    });
    let data = profile_data(&app, &app.sign(&minimal)).await;
    assert_eq!(data["user"], json!({"id": "user_min", "email": null}));
    assert_eq!(data["customer"], Value::Null);

    let mut full = app.claims("user_full");
    full["organization_id"] = json!("org_default");
    full["email"] = json!("full@example.com");
    full["email_verified"] = json!(true);
    full["token_source"] = json!("dom");
    full["jti"] = json!("abc123");
    let data = profile_data(&app, &app.sign(&full)).await;
    assert_eq!(
        data["user"],
        json!({"id": "user_full", "email": "full@example.com"})
    );
}

// ---------------------------------------------------------------- published keys

async fn jwks_is_published_without_authentication(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut documents = Vec::new();
    for path in ["/api/oauth2/jwks", "/.well-known/jwks.json"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        documents.push(json_of(response, 200).await);
    }
    assert_eq!(documents[0], documents[1]);
    let jwks = &documents[0];
    assert_eq!(
        jwks.as_object().unwrap().len(),
        1,
        "not a bare JWKS: {jwks}"
    );
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], json!("RSA"));
    assert_eq!(key["alg"], json!("RS256"));
    assert_eq!(key["use"], json!("sig"));
    assert_eq!(key["kid"], json!(app.kid()));
    for public in ["n", "e"] {
        assert!(key[public].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "JWKS leaks `{private}`: {key}");
    }
}

async fn published_jwk_verifies_builtin_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let jwks: JwkSet = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issued = app.cli_json(&["token", "issue", "--subject", "user_cli", "--json"]);
    let tokens = [
        app.token("user_harness"),
        issued["access_token"].as_str().unwrap().to_owned(),
    ];
    for token in tokens {
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        let jwk = jwks.find(&kid).expect("the token's kid is published");
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[DEFAULT_AUDIENCE]);
        validation.set_issuer(&[&app.issuer]);
        let verified = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert!(
            verified.claims["sub"]
                .as_str()
                .unwrap()
                .starts_with("user_")
        );
    }
}

async fn configured_audience_and_issuer_are_enforced(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            "--jwt-audience",
            "shop-api",
            "--jwt-issuer",
            "https://auth.shop.example",
        ],
    )
    .await;
    assert_eq!(app.issuer, "https://auth.shop.example");
    let mut claims = app.claims("user_1");
    // The default audience is no longer enough.
    assert_invalid_token(app.get_profile(&app.sign(&claims)).await).await;
    claims["aud"] = json!("shop-api");
    profile_data(&app, &app.sign(&claims)).await;
    // The configured issuer replaced the public URL as the built-in `iss`.
    claims["iss"] = json!(app.base);
    assert_invalid_token(app.get_profile(&app.sign(&claims)).await).await;
}
