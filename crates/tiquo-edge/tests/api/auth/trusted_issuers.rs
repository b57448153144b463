//! Trusted issuers: keys fetched from the issuer's JWKS (served by a little
//! server started in the test), cached, refetched on an unknown `kid` at most
//! once a minute, and each issuer verified only with its own keys.

use super::*;

crate::both_backends!(
    trusted_issuer_es256_token_is_accepted,
    token_naming_an_untrusted_issuer_is_refused,
    trusted_issuer_rs256_header_with_ec_kid_is_refused,
    issuer_selects_its_own_key_set,
    trusted_issuer_keys_are_fetched_once_and_cached,
    rotated_trusted_issuer_key_is_fetched_on_unknown_kid,
    unknown_kid_refetches_at_most_once_per_minute,
);

async fn trusted_issuer_es256_token_is_accepted(backend: Backend) {
    let (app, jwks, key) = app_with_trusted_issuer(backend).await;
    assert_eq!(
        jwks.hits(),
        0,
        "keys are fetched on first use, not at start-up"
    );
    let data = profile_data(&app, &key.sign(&trusted_claims("idp_user_1"))).await;
    assert_eq!(data["user"], json!({"id": "idp_user_1", "email": null}));
    assert_eq!(data["customer"], Value::Null);
    assert_eq!(jwks.hits(), 1);
}

async fn token_naming_an_untrusted_issuer_is_refused(backend: Backend) {
    let (app, jwks, key) = app_with_trusted_issuer(backend).await;
    let mut claims = trusted_claims("idp_user_1");
    claims["iss"] = json!("https://untrusted.example.test");
    assert_invalid_token(app.get_profile(&key.sign(&claims)).await).await;
    assert_eq!(jwks.hits(), 0);
    profile_data(&app, &key.sign(&trusted_claims("idp_user_1"))).await;
}

async fn trusted_issuer_rs256_header_with_ec_kid_is_refused(backend: Backend) {
    let (app, _jwks, key) = app_with_trusted_issuer(backend).await;
    let claims = trusted_claims("idp_user_1");
    profile_data(&app, &key.sign(&claims)).await;

    // A genuine ES256 signature under a header claiming RS256.
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
    let unsigned = forge(&header, &claims, "");
    let input = unsigned.trim_end_matches('.');
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, Algorithm::ES256).unwrap();
    let token = format!("{input}.{signature}");
    assert_invalid_token(app.get_profile(&token).await).await;

    // And a real RS256 signature by some RSA key, naming the EC key.
    let (rsa, _) = attacker_rsa_key();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &rsa).unwrap();
    assert_invalid_token(app.get_profile(&token).await).await;
}

async fn issuer_selects_its_own_key_set(backend: Backend) {
    let (app, _jwks, key) = app_with_trusted_issuer(backend).await;
    // The trusted issuer's key cannot vouch for the built-in issuer...
    let builtin_claims = app.claims("user_1");
    assert_invalid_token(app.get_profile(&key.sign(&builtin_claims)).await).await;
    // ...nor the built-in key for the trusted issuer.
    let token = app.sign(&trusted_claims("idp_user_1"));
    assert_invalid_token(app.get_profile(&token).await).await;
}

async fn trusted_issuer_keys_are_fetched_once_and_cached(backend: Backend) {
    let (app, jwks, key) = app_with_trusted_issuer(backend).await;
    for sub in ["idp_user_1", "idp_user_2", "idp_user_3"] {
        profile_data(&app, &key.sign(&trusted_claims(sub))).await;
    }
    assert_eq!(jwks.hits(), 1);
}

async fn rotated_trusted_issuer_key_is_fetched_on_unknown_kid(backend: Backend) {
    let (app, jwks, old) = app_with_trusted_issuer(backend).await;
    profile_data(&app, &old.sign(&trusted_claims("idp_user_1"))).await;
    assert_eq!(jwks.hits(), 1);

    // The issuer rotates: its tokens now carry a kid the server has not seen.
    let new = EcKey::generate("idp-key-2");
    jwks.publish(&[&old.jwk, &new.jwk]);
    profile_data(&app, &new.sign(&trusted_claims("idp_user_1"))).await;
    assert_eq!(jwks.hits(), 2, "an unknown kid triggers one refetch");

    let token = new.sign_as("never-published", &trusted_claims("idp_user_1"));
    assert_invalid_token(app.get_profile(&token).await).await;
    assert_eq!(
        jwks.hits(),
        2,
        "a second unknown kid within the minute refetched"
    );
}

async fn unknown_kid_refetches_at_most_once_per_minute(backend: Backend) {
    let (app, jwks, key) = app_with_trusted_issuer(backend).await;
    profile_data(&app, &key.sign(&trusted_claims("idp_user_1"))).await;
    let loaded = jwks.hits();

    let first = key.sign_as("ghost-1", &trusted_claims("idp_user_1"));
    assert_invalid_token(app.get_profile(&first).await).await;
    let after_first = jwks.hits();
    assert!(
        after_first <= loaded + 1,
        "{after_first} fetches for one unknown kid"
    );

    for ghost in ["ghost-2", "ghost-3", "ghost-4"] {
        let token = key.sign_as(ghost, &trusted_claims("idp_user_1"));
        assert_invalid_token(app.get_profile(&token).await).await;
    }
    assert_eq!(
        jwks.hits(),
        after_first,
        "unknown kids within a minute caused fetches"
    );
}
