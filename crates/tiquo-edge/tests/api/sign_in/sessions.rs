//! Sessions: refresh-token rotation, reuse detection, racing refreshes,
//! expiry, logout on one instance and on a second instance behind the same
//! database.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{app_with_mail, claims_of, logout, refresh, sign_in};
use crate::helpers::{Backend, TestApp, assert_error, json_of};
use crate::photos::{execute, query_i64};

crate::both_backends!(
    refresh_rotates_the_pair,
    reused_refresh_token_revokes_only_its_session,
    racing_refreshes_one_wins,
    expired_refresh_token_is_refused,
    refresh_rejects_bad_input,
    logout_reaches_every_instance,
    logout_needs_a_token_and_tolerates_sessionless_ones,
);

/// The server's 30-day default refresh-token lifetime, in ms.
const THIRTY_DAYS_MS: i64 = 30 * 24 * 3600 * 1000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A string field of a token pair.
fn field(pair: &Value, name: &str) -> String {
    pair[name]
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` is not a string: {pair}"))
        .to_owned()
}

/// `data` of a successful refresh.
async fn refreshed(app: &TestApp, refresh_token: &str) -> Value {
    json_of(refresh(app, refresh_token).await, 200).await["data"].clone()
}

/// Lets the same address ask for another code at once (ages the send throttle).
async fn age_send_throttle(app: &TestApp) {
    execute(app, "UPDATE otp_sends SET sent_at_ms = sent_at_ms - 120000").await;
}

/// Checks a verify/refresh `data` object: every field, with the right types.
fn assert_pair_shape(pair: &Value, user_id: &str, email: &str, ttl_secs: i64) {
    let access = field(pair, "access_token");
    let refresh_token = field(pair, "refresh_token");
    assert_eq!(access.split('.').count(), 3, "not a JWT: {pair}");
    let random = refresh_token
        .strip_prefix("rt_")
        .unwrap_or_else(|| panic!("refresh token without rt_: {pair}"));
    // 256 random bits take at least 43 base64url characters.
    assert!(
        random.len() >= 43
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "refresh token too short or not URL-safe: {refresh_token}"
    );
    assert_eq!(pair["expires_in"], json!(ttl_secs), "{pair}");
    let claims = claims_of(&access);
    assert_eq!(
        pair["expires_at"].as_i64(),
        claims["exp"].as_i64().map(|exp| exp * 1000),
        "expires_at is the token's exp in ms: {pair} {claims}"
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, ttl_secs, "{claims}");
    assert!(
        (iat * 1000 - now_ms()).abs() < 120_000,
        "iat is not now: {iat}"
    );
    assert_eq!(pair["user"]["id"], json!(user_id), "{pair}");
    assert_eq!(pair["user"]["email"], json!(email), "{pair}");
    assert_eq!(claims["sub"], json!(user_id), "{claims}");
}

async fn refresh_rotates_the_pair(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    app.create_customer("rotate@example.com", None);
    let before = now_ms();
    let first = sign_in(&app, &sink, "rotate@example.com", 1).await;
    let user_id = field(&first["user"], "id");
    assert_pair_shape(&first, &user_id, "rotate@example.com", 3600);
    let sid = claims_of(&field(&first, "access_token"))["sid"].clone();
    assert!(sid.as_str().is_some_and(|s| !s.is_empty()), "no sid: {sid}");

    // The refresh token is stored hashed, and lives 30 days.
    let rt1 = field(&first, "refresh_token");
    let random = rt1.trim_start_matches("rt_");
    assert_eq!(
        query_i64(&app, "SELECT COUNT(*) FROM refresh_tokens").await,
        1
    );
    let plain = query_i64(
        &app,
        &format!("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash LIKE '%{random}%'"),
    )
    .await;
    assert_eq!(plain, 0, "the refresh token is stored in the clear");
    let expires = query_i64(&app, "SELECT MAX(expires_at_ms) FROM refresh_tokens").await;
    assert!(
        (before + THIRTY_DAYS_MS..=now_ms() + THIRTY_DAYS_MS).contains(&expires),
        "refresh token does not live 30 days: expires {expires}, signed in at {before}"
    );

    // Refresh: a whole new pair of the same shape, same session.
    let second = refreshed(&app, &rt1).await;
    assert_pair_shape(&second, &user_id, "rotate@example.com", 3600);
    let rt2 = field(&second, "refresh_token");
    assert_ne!(rt2, rt1);
    assert_ne!(second["access_token"], first["access_token"]);
    let access2 = field(&second, "access_token");
    assert_eq!(claims_of(&access2)["sid"], sid);
    assert_ne!(
        claims_of(&access2)["jti"],
        claims_of(&field(&first, "access_token"))["jti"]
    );
    json_of(app.get_profile(&access2).await, 200).await;

    // Presenting the used token again at once (a second tab) is refused,
    // but the session lives on.
    assert_error(refresh(&app, &rt1).await, 401, "invalid_refresh_token").await;
    json_of(app.get_profile(&access2).await, 200).await;
    json_of(app.get_profile(&field(&first, "access_token")).await, 200).await;

    // The successor rotates in turn.
    let third = refreshed(&app, &rt2).await;
    assert_pair_shape(&third, &user_id, "rotate@example.com", 3600);
    assert_eq!(claims_of(&field(&third, "access_token"))["sid"], sid);
    json_of(app.get_profile(&field(&third, "access_token")).await, 200).await;
}

async fn reused_refresh_token_revokes_only_its_session(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    app.create_customer("reuse@example.com", None);
    let one = sign_in(&app, &sink, "reuse@example.com", 1).await;
    age_send_throttle(&app).await;
    let other = sign_in(&app, &sink, "reuse@example.com", 2).await;
    let access1 = field(&one, "access_token");
    let other_access = field(&other, "access_token");
    assert_eq!(one["user"]["id"], other["user"]["id"]);
    assert_ne!(
        claims_of(&access1)["sid"],
        claims_of(&other_access)["sid"],
        "two sign-ins must be two sessions"
    );

    let rt1 = field(&one, "refresh_token");
    let renewed = refreshed(&app, &rt1).await;
    let access2 = field(&renewed, "access_token");
    let rt2 = field(&renewed, "refresh_token");
    json_of(app.get_profile(&access2).await, 200).await;

    // Past the concurrent-refresh grace, a used token means theft.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_error(refresh(&app, &rt1).await, 401, "invalid_refresh_token").await;

    // The whole session is gone: its latest refresh token and every access token.
    assert_error(refresh(&app, &rt2).await, 401, "invalid_refresh_token").await;
    assert_error(app.get_profile(&access2).await, 401, "invalid_token").await;
    assert_error(app.get_profile(&access1).await, 401, "invalid_token").await;

    // The user's other session is untouched.
    json_of(app.get_profile(&other_access).await, 200).await;
    let other_next = refreshed(&app, &field(&other, "refresh_token")).await;
    json_of(
        app.get_profile(&field(&other_next, "access_token")).await,
        200,
    )
    .await;
    json_of(
        refresh(&app, &field(&other_next, "refresh_token")).await,
        200,
    )
    .await;
}

async fn racing_refreshes_one_wins(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    app.create_customer("race@example.com", None);
    let first = sign_in(&app, &sink, "race@example.com", 1).await;
    let sid = claims_of(&field(&first, "access_token"))["sid"].clone();
    let mut current = field(&first, "refresh_token");
    for round in 0..3 {
        let (a, b) = tokio::join!(refresh(&app, &current), refresh(&app, &current));
        let mut winners = Vec::new();
        for response in [a, b] {
            if response.status().as_u16() == 200 {
                winners.push(json_of(response, 200).await["data"].clone());
            } else {
                assert_error(response, 401, "invalid_refresh_token").await;
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of two racing refreshes must win: {winners:?}"
        );
        let winner = &winners[0];
        // The loser did not revoke the session: the winner's pair works.
        let access = field(winner, "access_token");
        assert_eq!(claims_of(&access)["sid"], sid);
        json_of(app.get_profile(&access).await, 200).await;
        current = field(winner, "refresh_token");
    }
    // The last winner's refresh token still rotates.
    let last = refreshed(&app, &current).await;
    json_of(app.get_profile(&field(&last, "access_token")).await, 200).await;
}

async fn expired_refresh_token_is_refused(backend: Backend) {
    // Two seconds, not one: the first refresh must land while the token is
    // fresh even on a loaded machine.
    let (app, sink) = app_with_mail(backend, &["--refresh-token-ttl", "2"]).await;
    app.create_customer("expire@example.com", None);
    let first = sign_in(&app, &sink, "expire@example.com", 1).await;
    // Fresh, it works; its successor gets the same short life.
    let second = refreshed(&app, &field(&first, "refresh_token")).await;
    json_of(app.get_profile(&field(&second, "access_token")).await, 200).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(
        refresh(&app, &field(&second, "refresh_token")).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // Presenting the expired token again, past the reuse grace, is not
    // reuse: it was never spent, so the session (and its access token,
    // which lives an hour) stays valid.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_error(
        refresh(&app, &field(&second, "refresh_token")).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    json_of(app.get_profile(&field(&second, "access_token")).await, 200).await;
}

async fn refresh_rejects_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let post = |body: Value| app.client.post(app.api("/refresh")).json(&body).send();
    let missing = assert_error(post(json!({})).await.unwrap(), 400, "invalid_field").await;
    assert_eq!(missing["field"], json!("refresh_token"), "{missing}");
    let wrong_type = assert_error(
        post(json!({ "refresh_token": 42 })).await.unwrap(),
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(wrong_type["field"], json!("refresh_token"), "{wrong_type}");
    let unknown = format!("rt_{}", "A".repeat(43));
    assert_error(refresh(&app, &unknown).await, 401, "invalid_refresh_token").await;
    assert_error(
        refresh(&app, "not-a-token").await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

async fn logout_reaches_every_instance(backend: Backend) {
    let (a, sink) = app_with_mail(backend, &[]).await;
    let b = a.spawn_peer(&[]).await;
    a.create_customer("leave@example.com", None);
    let session = sign_in(&a, &sink, "leave@example.com", 1).await;
    age_send_throttle(&a).await;
    let other = sign_in(&a, &sink, "leave@example.com", 2).await;
    let access = field(&session, "access_token");
    let other_access = field(&other, "access_token");
    for app in [&a, &b] {
        json_of(app.get_profile(&access).await, 200).await;
        json_of(app.get_profile(&other_access).await, 200).await;
    }

    let out = json_of(logout(&a, &access).await, 200).await;
    assert_eq!(out["success"], json!(true), "{out}");
    assert_eq!(out["data"]["sessionRevoked"], json!(true), "{out}");
    let logged_out = Instant::now();

    // The instance that logged out refuses at once; refresh is checked in
    // the database, so it fails at once everywhere.
    assert_error(a.get_profile(&access).await, 401, "invalid_token").await;
    assert_error(
        refresh(&b, &field(&session, "refresh_token")).await,
        401,
        "invalid_refresh_token",
    )
    .await;

    // The other instance learns of it within 60 seconds.
    loop {
        let response = b.get_profile(&access).await;
        match response.status().as_u16() {
            401 => {
                assert_error(response, 401, "invalid_token").await;
                break;
            }
            200 => {}
            other => panic!("unexpected status {other} from the peer"),
        }
        assert!(
            logged_out.elapsed() < Duration::from_secs(60),
            "the peer still accepts a logged-out session's token after 60 s"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("peer refused after {:?}", logged_out.elapsed());

    // The user's other session works on both instances.
    for app in [&a, &b] {
        json_of(app.get_profile(&other_access).await, 200).await;
    }
    let renewed = refreshed(&b, &field(&other, "refresh_token")).await;
    json_of(a.get_profile(&field(&renewed, "access_token")).await, 200).await;
}

async fn logout_needs_a_token_and_tolerates_sessionless_ones(backend: Backend) {
    let (app, sink) = app_with_mail(backend, &[]).await;
    let anonymous = app.client.post(app.api("/logout")).send().await.unwrap();
    assert_error(anonymous, 401, "invalid_token").await;
    assert_error(logout(&app, "not.a.jwt").await, 401, "invalid_token").await;

    // An admin-issued token has no session: nothing to revoke, and it keeps working.
    let (_, admin_token) = app.customer_with_token("admin@example.com");
    let out = json_of(logout(&app, &admin_token).await, 200).await;
    assert_eq!(out["data"]["sessionRevoked"], json!(false), "{out}");
    json_of(app.get_profile(&admin_token).await, 200).await;
    let bare = json_of(logout(&app, &app.token("user_x")).await, 200).await;
    assert_eq!(bare["data"]["sessionRevoked"], json!(false), "{bare}");

    // A signed-out token cannot log out again.
    app.create_customer("twice@example.com", None);
    let session = sign_in(&app, &sink, "twice@example.com", 1).await;
    let access = field(&session, "access_token");
    json_of(logout(&app, &access).await, 200).await;
    assert_error(logout(&app, &access).await, 401, "invalid_token").await;
    assert_error(
        refresh(&app, &field(&session, "refresh_token")).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}
